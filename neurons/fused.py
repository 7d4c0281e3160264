"""Fused forward and backward kernels, generated from the step function and compiled by numba.

``backward="fused"`` of the layers: ``fused_spikes`` and ``fused_simulate`` and their CPU autograd
Function; the kernels' sources and the parts shared with the CUDA path live in
``neurons.fused_kernels`` (which imports neither this module nor ``neurons.fused_cuda``).

How the kernels are generated, their loop order, the lane split across threads and the
forward and backward maths are described there.

Storage (what the forward keeps for backward):

- ``store="min"`` (default): the spikes and the fewest states from which the others can be
  recovered (``KernelExpressions.recovery``: LSTM-LIF keeps s alone and recovers
  d[t] = (s[t] - s_post[t-1]) / beta2); the current only when a partial reads it and it cannot
  be recovered from the states (LSTM-LIF recovers I[t] = d[t] - d[t-1] - ...). A recovery
  divides by a coefficient: when one is 0 the kernel keeps every state instead.
- ``store="all"``: the spikes and every state (recovery divides by small coefficients, e.g.
  a beta2 near 0, and loses float32 digits; this keeps them exact).
- ``checkpoint=K``: the spikes, the current and the states every K steps; backward recomputes
  each segment with the forward kernel.

``fused_spikes`` reuses the first stored state's buffer for dL/dI, so its backward runs once;
``fused_simulate`` returns (and keeps) every state.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from . import fused_cuda
from .base import NeuronModel, require_step
from .derivatives import KernelExpressions, kernel_expressions
from .fused_kernels import (
    _BUILT,
    _DTYPES,
    CHUNK,
    STORES,
    _buffer,
    _call,
    _coef_arrays,
    _compile,
    _finite,
    _flat_current,
    _input_grads,
    _kernel,
    _lanes,
    _min_storage,
    _nonzero,
    _np,
    _outputs,
    _Plan,
    _psi,
    _saved,
    _spec,
    backward_source,
    cache_dir,
    forward_source,
    vector_exp,
)
from .ops import TORCH_OPS
from .simulate import Trace, batch_shape, check_layout, first_nonfinite, warn_overflow

__all__ = [
    "CHUNK",
    "STORES",
    "fused_simulate",
    "fused_spikes",
    "cache_dir",
    "storage_summary",
    "vector_exp",
    "vector_report",
    "kernel_sources",
    "exponentials_per_step",
]


def _warn_overflow(plan: _Plan, cur: np.ndarray, cs: Any, cv: Any, M: int, dtype: str, T: int):
    """The run's final states are not finite (inf and NaN persist through the step): find the
    first non-finite step by running the forward again with every state kept, in blocks of
    rows (memory bounded, only in this case), and give ``simulate``'s overflow warning."""
    names = plan.K.state_names
    n = len(names)
    fwd = _kernel("forward", _spec(plan, names, (), "none"), dtype, plan.who)
    rows = max(1, min(T, (1 << 22) // max(M * n, 1)))
    state = np.zeros((n, M), dtype=cur.dtype)
    S_prev = np.zeros(M, dtype=cur.dtype)
    spikes = np.empty((rows, M), dtype=cur.dtype)
    bufs = tuple(np.empty((rows, M), dtype=cur.dtype) for _ in names)
    x_end = np.empty((n, M), dtype=cur.dtype)
    chk = np.zeros(M, dtype=cur.dtype)
    for t0 in range(0, T, rows):
        m = min(T, t0 + rows) - t0
        seg = tuple(b[:m] for b in bufs)
        _call(fwd, M, cur[t0 : t0 + m], cs, cv, state, S_prev, spikes[:m], seg, x_end, chk)
        bad, first = first_nonfinite(dict(zip(names, seg, strict=True)))
        if bad:
            warn_overflow(plan.model, plan.caller, bad, t0 + first, T)
            return
        state, S_prev = x_end.copy(), spikes[m - 1].copy()
    warn_overflow(plan.model, plan.caller, list(names), T - 1, T)  # only the end: say so


class _FusedSequence(torch.autograd.Function):
    """(current (T, *c), *coefficient tensors) -> spikes (T, *batch) [, states]; backward runs
    the generated backward kernel."""

    @staticmethod
    def forward(ctx, plan: _Plan, current: torch.Tensor, *coefs: torch.Tensor):
        K, shape = plan.K, plan.shape
        n = len(K.state_names)
        T = current.shape[0]
        M = _lanes(shape)
        dtype = _DTYPES[current.dtype]
        values = {**plan.fixed, **dict(zip(plan.names, coefs, strict=True))}
        cs, cv = _coef_arrays(plan, values, current)
        cur = _flat_current(current, shape)
        spikes = _buffer(T, M, current)
        x0 = np.zeros((n, M), dtype=cur.dtype)
        S0 = np.zeros(M, dtype=cur.dtype)
        x_end = np.empty((n, M), dtype=cur.dtype)
        chk = np.zeros(M, dtype=cur.dtype)
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.cs, ctx.cv, ctx.current_shape = plan, cs, cv, current.shape
        if plan.store in ("checkpoint", "none"):
            fwd = _kernel("forward", _spec(plan, (), (), "none"), dtype, plan.who)
            Kc = plan.checkpoint if plan.store == "checkpoint" else max(T, 1)
            marks = []
            state = x0
            for t0 in range(0, T, Kc):
                t1 = min(T, t0 + Kc)
                S_before = _np(spikes[t0 - 1]) if t0 > 0 else S0
                _call(
                    fwd, M, cur[t0:t1], cs, cv, state, S_before, _np(spikes[t0:t1]), (), x_end, chk
                )
                state = x_end.copy()
                marks.append(state)
            _finite(chk, plan)
            if not all(np.isfinite(m).all() for m in marks[-1:]):
                _warn_overflow(plan, cur, cs, cv, M, dtype, T)
            ctx.marks = marks
            ctx.save_for_backward(spikes, current, *coefs)
            ctx.kept = None
            return spikes.reshape((T, *shape))
        keep = tuple(_buffer(T, M, current) for _ in plan.stored)
        fwd = _kernel("forward", _spec(plan, plan.stored, (), "none"), dtype, plan.who)
        _call(fwd, M, cur, cs, cv, x0, S0, _np(spikes), tuple(_np(k) for k in keep), x_end, chk)
        _finite(chk, plan)
        if not np.isfinite(x_end).all():
            _warn_overflow(plan, cur, cs, cv, M, dtype, T)
        ctx.x_end = x_end
        return _outputs(ctx, spikes, keep, current, coefs)

    @staticmethod
    def backward(ctx, go: torch.Tensor | None, *gstates: torch.Tensor | None):
        plan: _Plan = ctx.plan
        K, shape = plan.K, plan.shape
        n = len(K.state_names)
        S, keep, current, coefs = _saved(ctx)
        gx_names = tuple(nm for nm, g in zip(K.state_names, gstates, strict=False) if g is not None)
        if go is None and not gx_names:
            return (None, None, *([None] * len(plan.names)))
        T, M = S.shape[0], _lanes(shape)
        grads = tuple(nm for i, nm in enumerate(plan.names) if ctx.needs_input_grad[2 + i])
        dt = S.dtype
        dtype = _DTYPES[dt]
        Sf = _np(S.reshape(T, M))
        # dL/dS of a sum (an expanded scalar: every stride 0) is passed as one number, not made
        # into a T*B*N array (LIF, loss = the spikes' sum: 28 -> 17 ms a forward + backward)
        one_gS = go is not None and go.numel() > 1 and not any(go.stride())
        has_gS = "scalar" if one_gS else go is not None
        gS = (
            np.full((1, 1), go.reshape(-1)[0].item(), _np(S).dtype)
            if one_gS
            else np.ascontiguousarray(_np(go.reshape(T, M)))
            if go is not None
            else np.zeros((1, 1), _np(S).dtype)
        )
        gx = tuple(np.ascontiguousarray(_np(g.reshape(T, M))) for g in gstates if g is not None)
        cur = _flat_current(current, shape) if current is not None else np.zeros((1, 1), Sf.dtype)
        acc = np.zeros((len(grads), M), dtype=Sf.dtype)
        carry_x = np.zeros((n, M), dtype=Sf.dtype)
        carry_S = np.zeros(M, dtype=Sf.dtype)
        x0 = np.zeros((n, M), dtype=Sf.dtype)
        S0 = np.zeros(M, dtype=Sf.dtype)
        if plan.store == "checkpoint" or plan.store == "none":
            gI_t = S.new_empty((T, M))
            gI = _np(gI_t)
            Kc = plan.checkpoint
            all_states = plan.K.state_names
            fwd = _kernel("forward", _spec(plan, all_states, (), "none"), dtype, plan.who)
            bwd = _kernel(
                "backward",
                _spec(
                    plan,
                    all_states,
                    (),
                    "read" if plan.current != "none" else "none",
                    grads,
                    has_gS,
                    gx_names,
                ),
                dtype,
                plan.who,
            )
            buf = tuple(np.empty((Kc, M), dtype=Sf.dtype) for _ in all_states)
            x_end = np.empty((n, M), dtype=Sf.dtype)
            junk = np.empty((Kc, M), dtype=Sf.dtype)
            chk = np.zeros(M, dtype=Sf.dtype)  # the current was checked in the forward
            starts = list(range(0, T, Kc))
            for idx in range(len(starts) - 1, -1, -1):
                t0 = starts[idx]
                t1 = min(T, t0 + Kc)
                m = t1 - t0
                xs = ctx.marks[idx - 1] if idx > 0 else x0
                Sb = Sf[t0 - 1] if t0 > 0 else S0
                seg = tuple(b[:m] for b in buf)
                _call(fwd, M, cur[t0:t1], ctx.cs, ctx.cv, xs, Sb, junk[:m], seg, x_end, chk)
                _call(
                    bwd,
                    M,
                    cur[t0:t1],
                    ctx.cs,
                    ctx.cv,
                    Sf[t0:t1],
                    Sb,
                    xs,
                    seg,
                    x_end,
                    gS[t0:t1] if go is not None and not one_gS else gS,
                    tuple(g[t0:t1] for g in gx),
                    carry_x,
                    carry_S,
                    gI[t0:t1],
                    acc,
                )
        else:
            stored_np = tuple(_np(k.reshape(T, M)) for k in keep)
            if plan.outputs or not stored_np:
                gI_t = S.new_empty((T, M))
            else:
                gI_t = keep[0].reshape(T, M)  # rows are rewritten once read for the last time
            bwd = _kernel(
                "backward",
                _spec(plan, plan.stored, plan.recovery, plan.current, grads, has_gS, gx_names),
                dtype,
                plan.who,
            )
            _call(
                bwd,
                M,
                cur,
                ctx.cs,
                ctx.cv,
                Sf,
                S0,
                x0,
                stored_np,
                ctx.x_end,
                gS,
                gx,
                carry_x,
                carry_S,
                _np(gI_t),
                acc,
            )
        return _input_grads(ctx, coefs, grads, torch.from_numpy(acc), gI_t)


def _apply(
    model: NeuronModel,
    current: torch.Tensor,
    store: str,
    checkpoint: int | None,
    outputs: bool,
    who: str,
    target: str = "auto",
):
    """Plan and run the fused kernels; ``target="cuda"`` takes the CUDA path for CPU tensors
    too (only meaningful under numba's CUDA simulator: the tests)."""
    plan, coefs, on_cuda = _make_plan(model, current, store, checkpoint, outputs, who, target)
    if on_cuda:
        return fused_cuda.FusedCudaSequence.apply(plan, current, *coefs)
    return _FusedSequence.apply(plan, current, *coefs)


def _make_plan(
    model: NeuronModel,
    current: torch.Tensor,
    store: str,
    checkpoint: int | None,
    outputs: bool,
    who: str,
    target: str = "auto",
    other_grad: bool = False,
) -> tuple[_Plan, list[torch.Tensor], bool]:
    """(plan, coefficient tensors that require grad, on CUDA) of a fused run of ``model``
    over ``current`` (T, *batch), its input checked; ``other_grad``: another input of the
    caller's Function (the recurrent weights) requires grad, so the forward keeps states."""
    require_step(model, who)
    if not isinstance(current, torch.Tensor):
        raise ValueError(
            f"{who}: current must be a torch tensor (T, *batch), got {type(current).__name__}"
        )
    check_layout(current, who)
    if current.dim() < 1:
        raise ValueError(f"{who}: current must have shape (T, *batch), got a scalar")
    if current.dtype not in _DTYPES:
        raise ValueError(f"{who}: current must be float32 or float64, got {current.dtype}")
    on_cuda = current.device.type == "cuda" or target == "cuda"
    if current.device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"{who}: the fused kernels run on CPU and CUDA (got a tensor on {current.device}); "
            "use backward='exact' or 'autograd'"
        )
    if on_cuda:
        if checkpoint is not None:
            raise ValueError(f"{who}: checkpoint is CPU only; on CUDA use store='min' or 'all'")
        if not fused_cuda.cuda_ready():
            raise ValueError(
                f"{who}: numba.cuda cannot launch kernels here (no CUDA driver or numba's CUDA "
                "target); use backward='exact' on CUDA"
            )
    if store not in STORES:
        raise ValueError(f"{who}: unknown store {store!r}; choose one of {list(STORES)}")
    shape = tuple(batch_shape(model, tuple(current.shape)))
    record = model.coefficients(TORCH_OPS)
    K = kernel_expressions(model, record)
    values = record.numbers()
    names, coefs, fixed, lane = [], [], {}, []
    for k in K.coef_names:
        v = values[k]
        if isinstance(v, np.ndarray):
            v = torch.as_tensor(v, dtype=current.dtype)
        if isinstance(v, torch.Tensor):
            v = v.to(dtype=current.dtype) if v.dtype != current.dtype else v
            lane.append(v.numel() > 1)
            if v.requires_grad:
                names.append(k)
                coefs.append(v)
            else:
                fixed[k] = v
        else:
            fixed[k] = float(v)
            lane.append(False)
    grad_on = torch.is_grad_enabled() and (
        other_grad or current.requires_grad or any(c.requires_grad for c in coefs)
    )
    stored, rec = K.state_names, {}
    if outputs:
        mode = "all"
    elif not grad_on:
        mode = "none"
    elif checkpoint is not None:
        mode = "checkpoint"
    else:
        mode = store
    if mode == "min":
        stored, rec, cur_mode = _minimal(K, values)
    else:
        cur_mode = "read" if "I" in K.depends else "none"
    psi = _psi(model.surrogate) if grad_on else None
    plan = _Plan(
        model=model,
        K=K,
        shape=shape,
        names=tuple(names),
        fixed=fixed,
        lane=tuple(lane),
        store=mode,
        checkpoint=int(checkpoint) if mode == "checkpoint" else max(int(current.shape[0]), 1),
        outputs=outputs,
        stored=tuple(stored),
        recovery=tuple(rec.items()),
        current=cur_mode,
        psi=psi,
        who=type(model).__name__,
        caller=who,
    )
    return plan, coefs, on_cuda


def _minimal(K: KernelExpressions, values: dict[str, Any]):
    """(stored states, recovery formulas, current mode) of the "min" storage for these
    coefficient values: every state when a recovery would divide by 0 here."""
    st = _min_storage(K)
    stored, rec = K.state_names, {}
    if all(_nonzero(d, values) for d in st.denominators):
        stored, rec = st.stored, dict(st.recovery)
    cur_mode = "none"
    if "I" in K.depends:
        cur_mode = "read"
        if st.current is not None and _nonzero(st.current_denominator, values):
            cur_mode = "formula"
    return tuple(stored), rec, cur_mode


def storage_summary(model: NeuronModel) -> dict[str, Any]:
    """What ``fused_spikes(model, x)`` (store="min") keeps and what its backward reads:
    {"stored": states kept (T, *batch) each, "recovered": states recomputed from them,
    "reads_current": whether the backward reads the input current, "reads_spikes": whether it
    reads the spikes (False when they are recomputed bit for bit from the stored states)}."""
    require_step(model, "storage_summary")
    record = model.coefficients(TORCH_OPS)
    K = kernel_expressions(model, record)
    stored, rec, cur_mode = _minimal(K, record.numbers())
    zs = {s.name for s in K.z_written.free_symbols} & set(K.state_names)
    return {
        "stored": stored,
        "recovered": tuple(rec),
        "reads_current": cur_mode == "read",
        "reads_spikes": not (K.spike_from_state and zs <= set(stored)),
    }


def fused_spikes(
    model: NeuronModel,
    current: torch.Tensor,
    checkpoint: int | None = None,
    store: str = "min",
) -> torch.Tensor:
    """The spikes (T, *batch) of ``model`` over ``current`` (T, *batch) (CPU, float32 or
    float64), differentiable by the generated fused backward; what ``backward="fused"`` runs.

    ``store``: "min" (the spikes and the fewest states, the others recovered) or "all" (every
    state). ``checkpoint=K``: keep the spikes, the current and the states every K steps and
    recompute each segment in backward. Without checkpointing the backward reuses a stored
    state's buffer for dL/dI, so it can run once per forward (a second backward raises).
    """
    if checkpoint is not None and (
        isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 1
    ):
        raise ValueError(
            f"fused_spikes: checkpoint must be None or an int >= 1, got {checkpoint!r}"
        )
    out = _apply(model, current, store, checkpoint, False, "fused_spikes")
    return out


def fused_simulate(model: NeuronModel, current: torch.Tensor) -> Trace:
    """Like ``neurons.simulate`` on a torch current (T, *batch): spikes and pre-reset states
    (T, *batch), differentiable through the fused kernels from spikes and states alike; keeps
    every state (backward may run more than once)."""
    outs = _apply(model, current, "all", None, True, "fused_simulate")
    return Trace(outs[0], dict(zip(model.state_names, outs[1:], strict=True)), model)


# ----------------------------------------------------------------------------- vectorisation


def kernel_sources(model: NeuronModel, dtype: torch.dtype = torch.float32) -> dict[str, str]:
    """The generated sources of the kernels ``fused_spikes`` runs for ``model`` as given (its
    tensor parameters that require grad get gradients): kind ("forward", "backward") ->
    source. Runs a forward and backward of two steps of one lane to build them."""
    x = torch.full((2, 1), 0.5, dtype=dtype, requires_grad=True)
    _BUILT.clear()
    fused_spikes(model, x).sum().backward()
    return {
        kind: (forward_source if kind == "forward" else backward_source)(spec, dt, "inspection")
        for kind, spec, dt, _ in _BUILT
    }


def exponentials_per_step(source: str) -> float:
    """Exponentials a generated CPU kernel evaluates per lane and time step: the ``vexp`` calls
    in its lane loop (the loop is printed twice when the first steps are peeled; the copies
    are averaged)."""
    body = source.split("def kernel(", 1)[-1]
    copies = max(1, body.count("for jj in range(CHU):"))
    return body.count("vexp(") / copies


def vector_report(model: NeuronModel, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Count packed SIMD arithmetic in the machine code of ``model``'s fused kernels.

    Runs a small forward and backward (so the kernels the layers use are built), compiles each
    generated source once more without numba's disk cache (cached code cannot be inspected) and
    reads its assembly. Returns kind ("forward", "backward") -> {"packed": the number of packed
    vector instructions (vmulps, vaddpd, vfmadd...ps, ...), "width": the widest vector register
    they use ("zmm" 512, "ymm" 256 or "xmm" 128 bits)}.
    """
    T, B = 4, CHUNK + 3
    leaves = {
        k: torch.as_tensor(v, dtype=dtype).clone().requires_grad_()
        for k, v in model.params().items()
    }
    x = torch.full((T, B), 0.5, dtype=dtype, requires_grad=True)
    _BUILT.clear()
    fused_spikes(model.replace(**leaves), x).sum().backward()
    out: dict[str, Any] = {}
    for kind, spec, dt, fn in list(_BUILT):
        src = (forward_source if kind == "forward" else backward_source)(spec, dt, "inspection")
        fresh = _compile(src.replace("cache=True", "cache=False"))
        asm = ""
        for sig in fn.signatures:
            fresh.compile(sig)
            asm += fresh.inspect_asm(sig)
        ops = _PACKED.findall(asm)
        width = next((w for w in ("zmm", "ymm", "xmm") if any(w in o for o in ops)), "none")
        out[kind] = {"packed": len(ops), "width": width}
    return out


_PACKED = re.compile(r"\bv(?:mul|add|sub|div|fmadd\w*|fmsub\w*|fnmadd\w*|max|min)p[sd]\s+[^\n]*")
