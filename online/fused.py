r"""The online rules' per-step updates as generated numba kernels (``engine="fused"``).

For a rule and a layer, the partials ``online.core.Sweep`` evaluates with NumPy at each step
(``neurons.derivatives.step_partials``: dF/dx[t-1], dF/dS[t-1], dF/dI[t], dF/dtheta, dz/dx,
dz/dtheta) are printed into one kernel together with the rule's trace update, by the printer,
compiler and cache of the fused BPTT kernels (``neurons.fused_kernels``: ``emit_expressions``,
``kernel_header``, ``compile_kernel``; the source is written to ``cache_dir()`` and numba keeps
its machine code beside it). No per-model code: any registered model's partials print.

The forward step stays the NumPy one of ``Sweep.forward`` (float64, the same spikes as the
NumPy rules); the kernel then walks the neurons j (outer loop) and the sequences b, evaluates
the partials of lane (b, j) in float64 and runs, in the rules' dtype, the update of
``online.rules`` for that lane with the presynaptic index k innermost (a loop of constant
coefficients over contiguous rows, which LLVM vectorises):

    E_j[a, k] <- sum_c dx_j[a, c] E_j[c, k] + dS_j[a] qE_j[k] + dI_j[a] pre[k]
    qE_j[k]   <- psi_j sum_a zx_j[a] E_j[a, k]
    dL/dW_jk  += g_S_j qE_j[k] + sum_a g_x_j[a] E_j[a, k]

(``ostl``; ``eprop`` the same on the partials with the reset spike held), the same for the
model's own parameters (m columns, unrolled), and for ``ottt`` the per-lane factor
delta_j = g_S_j psi_j zx_j . dI_j + g_x_j . dI_j of its weight gradient dL/dW += delta^T a[t]
(the trace a and the product stay NumPy). The gradient rows of neuron j are written by the
neuron's own loop, so the neurons split into ranges run on threads (``torch.get_num_threads()``)
with every sum in the same order: results are bit-identical for every thread count. ``rtrl``
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
    D: StepPartials, Z: StepPartials, cols: tuple[int, ...], *, dtype: str, who: str
) -> str:
    """The kernel of one rule's step (see the module docstring) in ``dtype``:
    ``kernel(j0, j1, delta_mode, has_gx, lane, th, slope, pre, gS, gx, E, qE, Eth, qth, gW, gth,
    delta)`` over the neurons j0 <= j < j1.

    D: the partials the traces run on (the held ones for e-prop); Z: those whose dz/dx, dz/dtheta
    are read; cols: the trained parameters' columns of ``D.param_names``. ``delta_mode`` False:
    the weight traces E, qE (``ostl``, ``eprop``); True: delta (B, H) written instead (``ottt``).
    ``has_gx``: the loss has a gradient on the states (gx holds zeros otherwise). Arrays: lane
    (2n + 4, B, H) float64 = [x[t-1] (n rows), S[t-1], I[t], S[t], psi[t], x[t] (n rows)];
    th (P, H) float64 every parameter's value; slope (m, H) float64 d theta / d raw; the others
    in ``dtype``: pre (B, K), gS (B, H), gx (B, H, n), E (B, H, n, K), qE (B, H, K),
    Eth (B, H, n, m), qth (B, H, m), gW (H, K), gth (H, m) (updated in place), delta (B, H)."""
    n, m = D.n, len(cols)
    head = kernel_header(who, "online traces", "float64")
    args = (
        "j0, j1, delta_mode, has_gx, lane, th, slope, pre, gS, gx, E, qE, Eth, qth, gW, gth, delta"
    )
    out = [head.rstrip("\n"), f"def kernel({args}):"]
    i1, i2, i3, i4, i5 = (" " * (4 * k) for k in range(1, 6))
    out += [
        f"{i1}TT = np.{dtype}",
        f"{i1}B = pre.shape[0]",
        f"{i1}K = pre.shape[1]",
        f"{i1}zero = DT(0.0)",
        f"{i1}one = DT(1.0)",
        f"{i1}for j in range(j0, j1):",
    ]
    names: dict[sp.Symbol, str] = {}
    for q, p in enumerate(D.param_names):
        out.append(f"{i2}th_{q} = th[{q}, j]")
        names[sp.Symbol(p, real=True)] = f"th_{q}"
    for k in range(m):
        out.append(f"{i2}sl_{k} = slope[{k}, j]")
    out.append(f"{i2}for b in range(B):")
    pn = dict(names)
    zn = dict(names)
    for i, s in enumerate(D.state_names):
        out.append(f"{i3}x_{i} = lane[{i}, b, j]")
        out.append(f"{i3}y_{i} = lane[{n + 4 + i}, b, j]")
        pn[sp.Symbol(s, real=True)] = f"x_{i}"
        zn[sp.Symbol(s, real=True)] = f"y_{i}"
    for row, (sym, code) in enumerate(
        ((S_PREV, "s_prev"), (CURRENT, "i_t"), (S_NEW, "s_new"), (PSI_NEW, "psi_t"))
    ):
        out.append(f"{i3}{code} = lane[{n + row}, b, j]")
        pn[sym] = code
    counter = itertools.count()
    # every partial the update reads, zero ones left out (structural zeros of the step)
    entries: list[tuple[str, Any]] = []
    for a in range(n):
        entries += [(f"dx{a}_{c}", D.dx[a, c]) for c in range(n)]
        entries += [(f"dS{a}", D.dS[a]), (f"dI{a}", D.dI[a])]
        entries += [(f"dth{a}_{k}", D.dtheta[a, q]) for k, q in enumerate(cols)]
    live = [(tag, e) for tag, e in entries if sp.sympify(e) != 0]
    lines, codes = emit_expressions([e for _, e in live], pn, i3, counter)
    out += lines
    part = dict(zip([t for t, _ in live], codes, strict=True))
    zent = [(f"zx{a}", Z.zx[a]) for a in range(n)]
    zent += [(f"zth{k}", Z.ztheta[q]) for k, q in enumerate(cols)]
    zlive = [(tag, e) for tag, e in zent if sp.sympify(e) != 0]
    lines, codes = emit_expressions([e for _, e in zlive], zn, i3, counter)
    out += lines
    part.update(zip([t for t, _ in zlive], codes, strict=True))
    for tag, code in part.items():
        scale = ""
        if tag.startswith("dth"):
            scale = f" * sl_{tag.rsplit('_', 1)[-1]}"
        elif tag.startswith("zth"):
            scale = f" * sl_{tag[3:]}"
        out.append(f"{i3}{tag} = TT({code}{scale})")
    out.append(f"{i3}ps = TT(psi_t)")
    out.append(f"{i3}g = gS[b, j]")
    out += [f"{i3}gx{a} = gx[b, j, {a}]" for a in range(n)]

    def lin(terms: list[tuple[str, str]]) -> str:
        """The sum of coefficient * value over the live coefficients."""
        live_terms = [f"{c} * {v}" for c, v in terms if c in part]
        return " + ".join(live_terms) if live_terms else "TT(0.0)"

    def zdot(values: list[str]) -> str:
        return lin([(f"zx{a}", values[a]) for a in range(n)])

    def gdot(values: list[str]) -> list[str]:
        return [f"gx{a} * {values[a]}" for a in range(n)]

    # ottt: the factor of its weight gradient
    zi = lin([(f"zx{a}", f"dI{a}") for a in range(n) if f"dI{a}" in part])
    extra = [f"gx{a} * dI{a}" for a in range(n) if f"dI{a}" in part]
    out.append(f"{i3}if delta_mode:")
    out.append(f"{i4}delta[b, j] = {' + '.join([f'g * ps * ({zi})', *extra])}")
    # ostl, eprop: the weight traces, k innermost (with and without the state gradient)
    new = [f"n_{a}" for a in range(n)]
    for label, with_gx in (("elif has_gx:", True), ("else:", False)):
        out.append(f"{i3}{label}")
        out += [f"{i4}e_{a} = E[b, j, {a}]" for a in range(n)]
        out += [f"{i4}q = qE[b, j]", f"{i4}pr = pre[b]", f"{i4}gw = gW[j]"]
        out.append(f"{i4}for k in range(K):")
        out += [f"{i5}o_{c} = e_{c}[k]" for c in range(n)]
        out += [f"{i5}oq = q[k]", f"{i5}p = pr[k]"]
        for a in range(n):
            terms = [(f"dx{a}_{c}", f"o_{c}") for c in range(n)]
            terms += [(f"dS{a}", "oq"), (f"dI{a}", "p")]
            out.append(f"{i5}n_{a} = {lin(terms)}")
            out.append(f"{i5}e_{a}[k] = n_{a}")
        out.append(f"{i5}qk = ps * ({zdot(new)})")
        out.append(f"{i5}q[k] = qk")
        out.append(f"{i5}gw[k] += {' + '.join(['g * qk', *(gdot(new) if with_gx else [])])}")
    # the model's own parameters (every rule), one column at a time
    for k in range(m):
        old = [f"eth_{a}_{k}" for a in range(n)]
        out += [f"{i3}{old[a]} = Eth[b, j, {a}, {k}]" for a in range(n)]
        out.append(f"{i3}oqt = qth[b, j, {k}]")
        newt = [f"nt_{a}" for a in range(n)]
        for a in range(n):
            terms = [(f"dx{a}_{c}", old[c]) for c in range(n)] + [(f"dS{a}", "oqt")]
            rest = lin(terms)
            own = f"dth{a}_{k}"
            out.append(f"{i3}nt_{a} = {f'{rest} + {own}' if own in part else rest}")
            out.append(f"{i3}Eth[b, j, {a}, {k}] = nt_{a}")
        zt = f" + zth{k}" if f"zth{k}" in part else ""
        out.append(f"{i3}qt = ps * ({zdot(newt)}{zt})")
        out.append(f"{i3}qth[b, j, {k}] = qt")
        out.append(f"{i3}gth[j, {k}] += {' + '.join(['g * qt', *gdot(newt)])}")
    return "\n".join(out) + "\n"


_KERNELS: dict[tuple, Any] = {}


def _kernel(D: StepPartials, Z: StepPartials, cols: tuple[int, ...], dtype: str, who: str) -> Any:
    key = (D, Z, cols, dtype)
    hit = _KERNELS.get(key)
    if hit is None:
        hit = _KERNELS[key] = compile_kernel(trace_source(D, Z, cols, dtype=dtype, who=who))
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
    kernel = _kernel(D, sweep.D, tuple(sweep.cols), dt.name, type(sweep.model).__name__)
    th = np.stack([np.broadcast_to(v, (H,)) for v in sweep.theta]).astype(np.float64)
    slope = (
        np.ascontiguousarray(sweep.slope.T, dtype=np.float64)
        if m
        else np.zeros((0, H), dtype=np.float64)
    )
    lane = np.empty((2 * n + 4, B, H), dtype=np.float64)
    delta_mode = rule == "ottt"
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
        _run(kernel, cut, (delta_mode, has_gx, *args))
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
