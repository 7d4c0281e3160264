r"""The online rules' per-step updates as generated numba kernels (``engine="fused"``).

For a rule and a layer, the partials ``online.core.Sweep`` evaluates with NumPy at each step
(``neurons.derivatives.step_partials``: dF/dx[t-1], dF/dS[t-1], dF/dI[t], dF/dtheta, dz/dx,
dz/dtheta) are printed into one kernel together with the rule's trace update, by the printer,
compiler and cache of the fused BPTT kernels (``neurons.fused_kernels``: ``emit_expressions``,
``kernel_header``, ``compile_kernel``; the source is written to ``cache_dir()`` and numba keeps
its machine code beside it). No per-model code: any registered model's partials print.

The forward step stays the NumPy one of ``Sweep.forward`` (float64, the same spikes as the
NumPy rules); the kernel then walks the lanes (sequence b, neuron j), evaluates the partials of
lane (b, j) in float64 and runs, in the rules' dtype, the update of ``online.rules`` for that
lane with the presynaptic index k innermost (a loop of constant coefficients over contiguous
rows, which LLVM vectorises):

    E_j[a, k] <- sum_c dx_j[a, c] E_j[c, k] + dS_j[a] qE_j[k] + dI_j[a] pre[k]
    qE_j[k]   <- psi_j sum_a zx_j[a] E_j[a, k]
    dL/dW_jk  += g_S_j qE_j[k] + sum_a g_x_j[a] E_j[a, k]

(``ostl``; ``eprop`` the same on the partials with the reset spike held), the same for the
model's own parameters (m columns, unrolled), and for ``ottt`` the per-lane factor
delta_j = g_S_j psi_j zx_j . dI_j + g_x_j . dI_j of its weight gradient dL/dW += delta^T a[t]
(the trace a and the product stay NumPy). The weight traces' kernel has the sequences in the
outer loop, the trace rule's the neurons (its parameter terms then computed once per neuron):
the faster order for each, measured; either way every gradient entry sums over the sequences in
order. The gradient rows of neuron j are written for neuron j only, so the neurons split into
ranges run on threads (``torch.get_num_threads()``) with every sum in the same order: results are
bit-identical for every thread count. ``rtrl``
has no kernel: its update is dominated by the product of W_rec with the influence tensor,
O(B H^3 (K + m)) per step, between neurons rather than per lane; it runs the NumPy update under
every engine.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import sympy as sp
import torch

from lstmlif.neurons.derivatives import CURRENT, PSI_NEW, S_NEW, S_PREV, StepPartials
from lstmlif.neurons.fused_kernels import compile_kernel, emit_expressions, kernel_header

from .core import Loss, OnlineLayer, Sweep
from .rules import OTTT, RULES, Rule, RuleResult

__all__ = ["FUSED_RULES", "trace_source", "run_fused", "trace_threads"]

FUSED_RULES = ("ostl", "eprop", "ottt")
"""The rules with a generated kernel (``rtrl`` runs its NumPy update under every engine)."""

MIN_THREAD_WORK = 1 << 17
"""Multiply-adds of a step's update below which a thread is not given a range of neurons."""


def trace_threads(hidden: int, work: int) -> int:
    """Threads one step's kernel call uses: ``torch.get_num_threads()``, at most one per
    neuron and per ``MIN_THREAD_WORK`` multiply-adds of the step (``work``), at least one."""
    return max(1, min(torch.get_num_threads(), hidden, work // MIN_THREAD_WORK))


def _c(i: int, k: int | None = None) -> str:
    return f"{i}" if k is None else f"{i}_{k}"


def trace_source(
    D: StepPartials,
    Z: StepPartials,
    cols: tuple[int, ...],
    *,
    delta: bool,
    dtype: str,
    who: str,
) -> str:
    """The kernel of one rule's step (see the module docstring) in ``dtype``:
    ``kernel(j0, j1, has_gx, lane, th, slope, pre, gS, gx, E, qE, Eth, qth, gW, gth, delta)``
    over the neurons j0 <= j < j1.

    D: the partials the traces run on (the held ones for e-prop); Z: those whose dz/dx, dz/dtheta
    are read; cols: the trained parameters' columns of ``D.param_names``. ``delta`` False: the
    weight traces E, qE (``ostl``, ``eprop``), the sequences b in the outer loop; True: delta
    (B, H) written instead (``ottt``), the neurons in the outer loop (the faster order for each,
    measured). ``has_gx``: the loss has a gradient on the states (gx holds zeros
    otherwise). Arrays: lane (2n + 4, B, H) float64 = [x[t-1] (n rows), S[t-1], I[t], S[t],
    psi[t], x[t] (n rows)]; th (P, H) float64 every parameter's value; slope (m, H) float64
    d theta / d raw; the others in ``dtype``: pre (B, K), gS (B, H), gx (B, H, n),
    E (B, H, n, K), qE (B, H, K), Eth (B, H, n, m), qth (B, H, m), gW (H, K), gth (H, m)
    (updated in place), delta (B, H). Every gradient entry sums over b in ascending order in
    both loop orders."""
    n, m = D.n, len(cols)
    head = kernel_header(who, "online traces", "float64")
    args = "j0, j1, has_gx, lane, th, slope, pre, gS, gx, E, qE, Eth, qth, gW, gth, delta"
    out = [head.rstrip("\n"), f"def kernel({args}):"]
    out += [
        f"    TT = np.{dtype}",
        "    B = pre.shape[0]",
        "    K = pre.shape[1]",
        "    zero = DT(0.0)",
        "    one = DT(1.0)",
    ]
    names: dict[sp.Symbol, str] = {}
    per_neuron: list[str] = []  # neuron j's parameters, at indent 0
    for q, p in enumerate(D.param_names):
        per_neuron.append(f"th_{q} = th[{q}, j]")
        names[sp.Symbol(p, real=True)] = f"th_{q}"
    per_neuron += [f"sl_{k} = slope[{k}, j]" for k in range(m)]
    body: list[str] = []  # one lane (b, j), at indent 0
    pn = dict(names)
    zn = dict(names)
    for i, st in enumerate(D.state_names):
        body.append(f"x_{i} = lane[{i}, b, j]")
        body.append(f"y_{i} = lane[{n + 4 + i}, b, j]")
        pn[sp.Symbol(st, real=True)] = f"x_{i}"
        zn[sp.Symbol(st, real=True)] = f"y_{i}"
    for row, (sym, code) in enumerate(
        ((S_PREV, "s_prev"), (CURRENT, "i_t"), (S_NEW, "s_new"), (PSI_NEW, "psi_t"))
    ):
        body.append(f"{code} = lane[{n + row}, b, j]")
        pn[sym] = code
    counter = itertools.count()
    # every partial the update reads, zero ones left out (structural zeros of the step)
    entries: list[tuple[str, Any]] = []
    for a in range(n):
        entries += [(f"dx{a}_{c}", D.dx[a, c]) for c in range(n)]
        entries += [(f"dS{a}", D.dS[a]), (f"dI{a}", D.dI[a])]
        entries += [(f"dth{a}_{k}", D.dtheta[a, q]) for k, q in enumerate(cols)]
    live = [(tag, e) for tag, e in entries if sp.sympify(e) != 0]
    lines, codes = emit_expressions([e for _, e in live], pn, "", counter)
    body += lines
    part = dict(zip([t for t, _ in live], codes, strict=True))
    zent = [(f"zx{a}", Z.zx[a]) for a in range(n)]
    zent += [(f"zth{k}", Z.ztheta[q]) for k, q in enumerate(cols)]
    zlive = [(tag, e) for tag, e in zent if sp.sympify(e) != 0]
    lines, codes = emit_expressions([e for _, e in zlive], zn, "", counter)
    body += lines
    part.update(zip([t for t, _ in zlive], codes, strict=True))
    for tag, code in part.items():
        scale = ""
        if tag.startswith("dth"):
            scale = f" * sl_{tag.rsplit('_', 1)[-1]}"
        elif tag.startswith("zth"):
            scale = f" * sl_{tag[3:]}"
        body.append(f"{tag} = TT({code}{scale})")
    body.append("ps = TT(psi_t)")
    body.append("g = gS[b, j]")
    body += [f"gx{a} = gx[b, j, {a}]" for a in range(n)]

    def lin(terms: list[tuple[str, str]]) -> str:
        """The sum of coefficient * value over the live coefficients."""
        live_terms = [f"{c} * {v}" for c, v in terms if c in part]
        return " + ".join(live_terms) if live_terms else "TT(0.0)"

    def zdot(values: list[str]) -> str:
        return lin([(f"zx{a}", values[a]) for a in range(n)])

    def gdot(values: list[str]) -> list[str]:
        return [f"gx{a} * {values[a]}" for a in range(n)]

    # the model's own parameters (every rule), one column at a time
    theta: list[str] = []
    for k in range(m):
        old = [f"eth_{a}_{k}" for a in range(n)]
        theta += [f"{old[a]} = Eth[b, j, {a}, {k}]" for a in range(n)]
        theta.append(f"oqt = qth[b, j, {k}]")
        newt = [f"nt_{a}" for a in range(n)]
        for a in range(n):
            terms = [(f"dx{a}_{c}", old[c]) for c in range(n)] + [(f"dS{a}", "oqt")]
            rest = lin(terms)
            own = f"dth{a}_{k}"
            theta.append(f"nt_{a} = {f'{rest} + {own}' if own in part else rest}")
            theta.append(f"Eth[b, j, {a}, {k}] = nt_{a}")
        zt = f" + zth{k}" if f"zth{k}" in part else ""
        theta.append(f"qt = ps * ({zdot(newt)}{zt})")
        theta.append(f"qth[b, j, {k}] = qt")
        theta.append(f"gth[j, {k}] += {' + '.join(['g * qt', *gdot(newt)])}")
    # ottt: the factor of its weight gradient
    zi = lin([(f"zx{a}", f"dI{a}") for a in range(n) if f"dI{a}" in part])
    extra = [f"gx{a} * dI{a}" for a in range(n) if f"dI{a}" in part]
    ottt = [f"delta[b, j] = {' + '.join([f'g * ps * ({zi})', *extra])}"]
    # ostl, eprop: the weight traces, k innermost (with and without the state gradient)
    traces = [f"e_{a} = E[b, j, {a}]" for a in range(n)]
    traces += ["q = qE[b, j]", "pr = pre[b]", "gw = gW[j]"]
    new = [f"n_{a}" for a in range(n)]
    for label, with_gx in (("if has_gx:", True), ("else:", False)):
        traces.append(label)
        traces.append("    for k in range(K):")
        loop = [f"o_{c} = e_{c}[k]" for c in range(n)] + ["oq = q[k]", "p = pr[k]"]
        for a in range(n):
            terms = [(f"dx{a}_{c}", f"o_{c}") for c in range(n)]
            terms += [(f"dS{a}", "oq"), (f"dI{a}", "p")]
            loop.append(f"n_{a} = {lin(terms)}")
            loop.append(f"e_{a}[k] = n_{a}")
        loop.append(f"qk = ps * ({zdot(new)})")
        loop.append("q[k] = qk")
        loop.append(f"gw[k] += {' + '.join(['g * qk', *(gdot(new) if with_gx else [])])}")
        traces += ["        " + x for x in loop]
    if delta:  # the parameters' loads (and what LLVM hoists with them) once per neuron
        out.append("    for j in range(j0, j1):")
        out += ["        " + x for x in per_neuron]
        out.append("        for b in range(B):")
        out += ["            " + x for x in (*body, *ottt, *theta)]
    else:
        out += ["    for b in range(B):", "        for j in range(j0, j1):"]
        out += ["            " + x for x in (*per_neuron, *body, *traces, *theta)]
    return "\n".join(out) + "\n"


_KERNELS: dict[tuple, Any] = {}


def _kernel(
    D: StepPartials, Z: StepPartials, cols: tuple[int, ...], delta: bool, dtype: str, who: str
) -> Any:
    key = (D, Z, cols, delta, dtype)
    hit = _KERNELS.get(key)
    if hit is None:
        src = trace_source(D, Z, cols, delta=delta, dtype=dtype, who=who)
        hit = _KERNELS[key] = compile_kernel(src)
    return hit


def run_fused(
    rule: str,
    layer: OnlineLayer,
    inputs: Any,
    loss: Loss,
    *,
    feedback: str = "symmetric",
    dtype: Any = np.float64,
    **options: Any,
) -> RuleResult:
    """``run_rule`` with the rule's per-step update in a generated kernel (``ostl``, ``eprop``,
    ``ottt``; see the module docstring): the same gradients as the NumPy update to rounding, the
    same carried arrays (``memory_bytes``). Arguments as ``run_rule``'s."""
    if rule not in FUSED_RULES:
        raise ValueError(f"online: rule {rule!r} has no fused kernel; fused rules {FUSED_RULES}")
    cls = RULES[rule]
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"online: dtype must be float32 or float64, got {dt}")
    start = time.perf_counter()
    sweep = Sweep(layer, inputs, loss, held=cls.held, random=feedback == "random", dtype=dt)
    r: Rule = cls(layer, sweep.shape[0], sweep.D.n, dt, **options)
    B, H = sweep.shape
    n, m, K = sweep.D.n, r.m, r.K
    D = sweep.Dh if cls.held else sweep.D
    assert D is not None
    delta_mode = rule == "ottt"
    who = type(sweep.model).__name__
    kernel = _kernel(D, sweep.D, tuple(sweep.cols), delta_mode, dt.name, who)
    th = np.stack([np.broadcast_to(v, (H,)) for v in sweep.theta]).astype(np.float64)
    slope = (
        np.ascontiguousarray(sweep.slope.T, dtype=np.float64)
        if m
        else np.zeros((0, H), dtype=np.float64)
    )
    lane = np.empty((2 * n + 4, B, H), dtype=np.float64)
    delta = np.empty((B, H) if delta_mode else (1, 1), dtype=dt)
    if delta_mode:
        E, qE = np.zeros((1, 1, n, 1), dtype=dt), np.zeros((1, 1, 1), dtype=dt)
    else:
        E, qE = r.E, r.qE
    no_gx = np.zeros((B, H, n), dtype=dt)
    work = B * H * n * ((n + 2) * (1 if delta_mode else K) + (n + 1) * m)
    parts = trace_threads(H, work)
    cut = [H * k // parts for k in range(parts + 1)]
    spikes = 0.0
    for f in sweep.forward():
        for i in range(n):
            lane[i] = f.x_prev[i]
            lane[n + 4 + i] = f.x[i]
        lane[n] = f.S_prev
        lane[n + 1] = f.I
        lane[n + 2] = f.S
        lane[n + 3] = f.psi
        pre = np.ascontiguousarray(f.pre, dtype=dt)
        gS = np.ascontiguousarray(f.gS, dtype=dt)
        has_gx = f.gx is not None
        gx = np.ascontiguousarray(f.gx, dtype=dt) if has_gx else no_gx
        args = (lane, th, slope, pre, gS, gx, E, qE, r.Eth, r.qth, r.gW, r.gth, delta)
        _run(kernel, cut, (has_gx, *args))
        if delta_mode:
            assert isinstance(r, OTTT)
            r.a = r.lam * r.a + pre
            r.gW += delta.T @ r.a
        spikes += float(f.S.sum())
    seconds = time.perf_counter() - start
    return RuleResult(
        rule,
        r.gradients(),
        seconds,
        r.state_bytes() + sweep.carried_bytes(),
        int(spikes),
        engine="fused",
    )


def _run(kernel: Any, cut: list[int], args: tuple) -> None:
    """``kernel(cut[k], cut[k + 1], *args)`` for every range of neurons, the first on the
    calling thread, the others on the fused kernels' worker threads."""
    if len(cut) == 2:
        kernel(cut[0], cut[1], *args)
        return
    from lstmlif.neurons.fused_kernels import _pool

    pool = _pool(len(cut) - 2)
    jobs = [pool.submit(kernel, cut[k], cut[k + 1], *args) for k in range(1, len(cut) - 1)]
    try:
        kernel(cut[0], cut[1], *args)
    finally:
        for job in jobs:
            job.result()
