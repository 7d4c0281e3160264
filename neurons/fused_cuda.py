"""The fused kernels on CUDA: the same generated step and partials, compiled by numba.cuda.

``backward="fused"`` on a CUDA tensor lands here (``neurons.fused`` dispatches). The kernel
sources come from ``forward_source`` / ``backward_source`` with the CUDA target: one thread per
lane (B*N lanes, 128 threads a block), the time loop inside the thread, every value that lives
across steps (states, adjoints, parameter accumulators) in registers; reads and writes of a
(T, M) row are coalesced (neighbouring threads, neighbouring lanes). Exponentials are libdevice's
``exp``. Storage is the CPU path's (``store="min"``: spikes and the fewest states; "all"), and
the input gradient reuses the first stored state's buffer as on CPU; ``checkpoint`` is CPU only.

Why numba.cuda and not Triton: the kernels are printed from SymPy as scalar Python statements
per lane, which numba.cuda compiles as they are (the CPU kernels' body, the lane arrays
becoming registers), and its simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the same kernels on a
machine without a GPU, so the CUDA sources are tested in CI (tests/test_fused_cuda.py, in a
subprocess). Triton works on blocks of lanes (``tl.where`` for each choice, masked loads) and
would need its own printer.

Tensors pass to the kernels by ``__cuda_array_interface__`` (no copy) and the kernels run on
torch's current stream. They compile with NVVM's defaults, which contract a * b + c into one
fused multiply-add, so a float32 run may round an ulp differently from the CPU forward (as
torch's own CUDA kernels do); the float32 GPU test allows two flipped spikes, as on CPU.
Under the simulator (no CUDA tensors exist) the same code takes CPU tensors through NumPy:
that is what the tests run.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .fused_kernels import (
    _DTYPES,
    _coef_tensors,
    _flat_tensor,
    _input_grads,
    _kernel,
    _lanes,
    _outputs,
    _Plan,
    _saved,
    _spec,
    _Target,
)
from .simulate import first_nonfinite, warn_overflow

__all__ = ["THREADS", "FusedCudaSequence", "cuda_ready"]

THREADS = 128
"""Threads per block (one lane each)."""

_CUDA = _Target("cuda")


def _cuda() -> Any:
    from numba import cuda

    return cuda


def cuda_ready() -> bool:
    """Whether numba.cuda can launch kernels here: a GPU with a working driver, or the CUDA
    simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        cuda = _cuda()
    except ImportError:
        return False
    return bool(cuda.is_available())


def _arr(t: torch.Tensor) -> Any:
    """A kernel argument: the tensor's device memory (no copy), or under the simulator its
    NumPy view."""
    t = t.detach()
    if t.is_cuda:
        return _cuda().as_cuda_array(t)
    return t.numpy()


def _launch(kernel: Any, M: int, like: torch.Tensor, *args: Any) -> None:
    blocks = max(1, math.ceil(M / THREADS))
    flat: list[Any] = []
    for a in args:
        if isinstance(a, tuple):
            flat += [_arr(b) for b in a]
        elif isinstance(a, torch.Tensor):
            flat.append(_arr(a))
        else:
            flat.append(a)
    if like.is_cuda:
        stream = _cuda().external_stream(torch.cuda.current_stream(like.device).cuda_stream)
        kernel[blocks, THREADS, stream](M, *flat)
    else:
        kernel[blocks, THREADS](M, *flat)


class FusedCudaSequence(torch.autograd.Function):
    """(current (T, *c), *coefficient tensors) -> spikes (T, *batch) [, states] on CUDA (or
    under the simulator); backward runs the generated CUDA backward kernel."""

    @staticmethod
    def forward(ctx, plan: _Plan, current: torch.Tensor, *coefs: torch.Tensor):
        K, shape = plan.K, plan.shape
        n = len(K.state_names)
        T = current.shape[0]
        M = _lanes(shape)
        dtype = _DTYPES[current.dtype]
        values = {**plan.fixed, **dict(zip(plan.names, coefs, strict=True))}
        cs, cv = _coef_tensors(plan, values, current)
        cur = _flat_tensor(current, shape)
        new = dict(dtype=current.dtype, device=current.device)
        spikes = torch.empty((T, M), **new)
        stored = () if plan.store == "none" else plan.stored
        keep = tuple(torch.empty((T, M), **new) for _ in stored)
        x0 = torch.zeros((n, M), **new)
        S0 = torch.zeros(M, **new)
        x_end = torch.empty((n, M), **new)
        chk = torch.zeros(M, **new)
        fwd = _kernel("forward", _spec(plan, stored, (), "none"), dtype, plan.who, _CUDA)
        _launch(fwd, M, current, cur, cs, cv, x0, S0, spikes, keep, x_end, chk)
        if not bool(torch.isfinite(chk).all()):
            raise ValueError(f"{plan.caller}: current contains NaN or infinite values")
        if not bool(torch.isfinite(x_end).all()):
            # the states overflowed (inf and NaN persist): the first step from every state
            names = K.state_names
            every = keep if tuple(stored) == tuple(names) else None
            if every is None:
                every = tuple(torch.empty((T, M), **new) for _ in names)
                spec = _spec(plan, names, (), "none")
                again = _kernel("forward", spec, dtype, plan.who, _CUDA)
                spare = (torch.empty((T, M), **new), torch.empty((n, M), **new))
                _launch(again, M, current, cur, cs, cv, x0, S0, spare[0], every, spare[1], chk)
            bad, first = first_nonfinite(dict(zip(names, every, strict=True)))
            warn_overflow(
                plan.model, plan.caller, bad or list(names), T - 1 if first is None else first, T
            )
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.cs, ctx.cv, ctx.current_shape = plan, cs, cv, current.shape
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
        dtype = _DTYPES[S.dtype]
        new = dict(dtype=S.dtype, device=S.device)
        Sf = S.reshape(T, M)
        gS = go.reshape(T, M).contiguous() if go is not None else torch.zeros((1, 1), **new)
        gx = tuple(g.reshape(T, M).contiguous() for g in gstates if g is not None)
        cur = _flat_tensor(current, shape) if current is not None else torch.zeros((1, 1), **new)
        acc = torch.zeros((len(grads), M), **new)
        carry_x = torch.zeros((n, M), **new)
        carry_S = torch.zeros(M, **new)
        x0 = torch.zeros((n, M), **new)
        S0 = torch.zeros(M, **new)
        stored = tuple(k.reshape(T, M) for k in keep)
        gI = torch.empty((T, M), **new) if plan.outputs or not stored else stored[0]
        spec = _spec(
            plan, plan.stored, plan.recovery, plan.current, grads, go is not None, gx_names
        )
        bwd = _kernel("backward", spec, dtype, plan.who, _CUDA)
        _launch(
            bwd,
            M,
            S,
            cur,
            ctx.cs,
            ctx.cv,
            Sf,
            S0,
            x0,
            stored,
            ctx.x_end,
            gS,
            gx,
            carry_x,
            carry_S,
            gI,
            acc,
        )
        return _input_grads(ctx, coefs, grads, acc, gI)
