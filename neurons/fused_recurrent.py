"""Fused kernels for a recurrent layer: I[t] = C[t] + W S[t-1], generated from the step function.

``fused_recurrent_spikes(model, C, W)`` runs the neurons of any registered model over the
input current C (T, B, N) (the feed-forward part ``W_in x + b``, computed by the caller over
all T steps at once) plus the recurrent input ``S[t-1] W^T`` (``W`` (N, N), as ``nn.Linear``
applies it: neuron i of a row receives ``sum_k W[i, k] S[t-1, k]``), and differentiates the
spikes by the fused adjoint. The kernels are the ``backward="fused"`` ones
(``neurons.fused_kernels``: the same printed step, partials, surrogate, switches and storage),
with two additions in their time loops (``_Spec.recurrent``):

- forward, before each step's lane loop: ``cur[t, b] += S[t-1, b] W^T`` for every batch row b
  (the product summed over the row's spiking neurons: S is 0 or 1). The current buffer thus
  ends as the whole input I (T, B, N) each step saw, which the backward reads (or recovers
  from the states) as it does for a feed-forward layer.
- backward, after step t's lane loop: ``cS[b] += dL/dI[t, b] W``, the recurrent path of
  dL/dS[t-1], added to the carried spike adjoint before step t - 1 reads it
  (``Sbar[t-1] = dL/dS[t-1] + cS``).

After the backward kernel, in torch: ``dL/dC = dL/dI`` and
``dL/dW = sum_t dL/dI[t]^T S[t-1]``, one (N, T*B) x (T*B, N) product. The coefficient
gradients come from the kernel's per-lane accumulators as in ``neurons.fused``.

Lanes are coupled at every step through W, so the lane split across threads of the
feed-forward kernels does not apply: the kernels run one lane range on the calling thread;
the lanes (B*N) are padded to whole chunks of ``CHUNK`` (the padding lanes receive no
recurrent input and carry no gradient). CPU only, float32 and float64.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import NeuronModel
from .fused import _make_plan, _warn_overflow
from .fused_kernels import (
    _DTYPES,
    CHUNK,
    STORES,
    _buffer,
    _coef_arrays,
    _finite,
    _input_grads,
    _kernel,
    _np,
    _Plan,
    _spec,
)

__all__ = ["fused_recurrent_spikes"]


def _padded(a: np.ndarray, width: int) -> np.ndarray:
    """A lane array (..., M) padded to (..., width) with copies of lane 0 (coefficients: the
    padding lanes then divide by nothing that lane 0 does not)."""
    M = a.shape[-1]
    if M == width:
        return a
    out = np.empty((*a.shape[:-1], width), dtype=a.dtype)
    out[..., :M] = a
    out[..., M:] = a[..., :1]
    return out


class _FusedRecurrent(torch.autograd.Function):
    """(C (T, B, N), W (N, N), *coefficient tensors) -> spikes (T, B, N); backward runs the
    generated recurrent backward kernel."""

    @staticmethod
    def forward(ctx, plan: _Plan, current: torch.Tensor, w: torch.Tensor, *coefs: torch.Tensor):
        T, B, N = current.shape
        M = B * N
        Mp = -(-M // CHUNK) * CHUNK
        n = len(plan.K.state_names)
        dtype = _DTYPES[current.dtype]
        values = {**plan.fixed, **dict(zip(plan.names, coefs, strict=True))}
        cs, cv = _coef_arrays(plan, values, current)
        cv = tuple(_padded(c, Mp) for c in cv)
        cur_t = _buffer(T, Mp, current)
        cur = _np(cur_t)
        cur[:, :M] = _np(current.reshape(T, M))
        cur[:, M:] = 0
        spikes_t = _buffer(T, Mp, current)
        stored = () if plan.store == "none" else plan.stored
        keep_t = tuple(_buffer(T, Mp, current) for _ in stored)
        x0 = np.zeros((n, Mp), dtype=cur.dtype)
        S0 = np.zeros(Mp, dtype=cur.dtype)
        x_end = np.empty((n, Mp), dtype=cur.dtype)
        chk = np.zeros(Mp, dtype=cur.dtype)
        wT = np.ascontiguousarray(_np(w).T)
        fwd = _kernel("forward", _spec(plan, stored, (), "none", recurrent=True), dtype, plan.who)
        keep = tuple(_np(k) for k in keep_t)
        fwd(
            np.uint64(0), np.uint64(Mp), cur, cs, cv, x0, S0, _np(spikes_t), keep, x_end, chk, wT, M
        )
        _finite(chk, plan)
        if not np.isfinite(x_end[:, :M]).all():
            # the forward of the whole input I that each step saw (now in cur) gives the states
            _, cv_flat = _coef_arrays(plan, values, current)
            warn_cur = np.ascontiguousarray(cur[:, :M])
            _warn_overflow(plan, warn_cur, cs, cv_flat, M, dtype, T)
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.cs, ctx.cv, ctx.current_shape = plan, cs, cv, current.shape
        ctx.x_end, ctx.kept = x_end, keep_t
        ctx.save_for_backward(spikes_t, cur_t if plan.current == "read" else None, w, *coefs)
        return spikes_t[:, :M].reshape(T, B, N)

    @staticmethod
    def backward(ctx, go: torch.Tensor | None):
        plan: _Plan = ctx.plan
        if go is None:
            return (None, None, None, *([None] * len(plan.names)))
        S_t, cur_t, w, *coefs = ctx.saved_tensors
        keep_t = ctx.kept
        if keep_t is None:
            raise RuntimeError(
                "fused_recurrent_spikes: this sequence was already differentiated and its states "
                "were reused for the input gradient; backpropagate through it once (or use "
                "backward='autograd')"
            )
        ctx.kept = None
        T, B, N = ctx.current_shape
        M = B * N
        Mp = S_t.shape[1]
        n = len(plan.K.state_names)
        dt = np.float32 if S_t.dtype == torch.float32 else np.float64
        grads = tuple(nm for i, nm in enumerate(plan.names) if ctx.needs_input_grad[3 + i])
        gS = np.zeros((T, Mp), dtype=dt)
        gS[:, :M] = _np(go.reshape(T, M))
        cur = _np(cur_t) if cur_t is not None else np.zeros((1, 1), dtype=dt)
        acc = np.zeros((len(grads), Mp), dtype=dt)
        carry_x = np.zeros((n, Mp), dtype=dt)
        carry_S = np.zeros(Mp, dtype=dt)
        x0 = np.zeros((n, Mp), dtype=dt)
        S0 = np.zeros(Mp, dtype=dt)
        gI_t = keep_t[0] if keep_t else S_t.new_empty((T, Mp))  # rows rewritten once read
        spec = _spec(plan, plan.stored, plan.recovery, plan.current, grads, True, (), True)
        bwd = _kernel("backward", spec, _DTYPES[S_t.dtype], plan.who)
        bwd(
            np.uint64(0),
            np.uint64(Mp),
            cur,
            ctx.cs,
            ctx.cv,
            _np(S_t),
            S0,
            x0,
            tuple(_np(k) for k in keep_t),
            ctx.x_end,
            gS,
            (),
            carry_x,
            carry_S,
            _np(gI_t),
            acc,
            np.ascontiguousarray(_np(w)),
            M,
        )
        gI = gI_t[:, :M]
        g_w = None
        if ctx.needs_input_grad[2]:
            g_rows = gI[1:].reshape((T - 1) * B, N)
            s_rows = S_t[:-1, :M].reshape((T - 1) * B, N)
            g_w = g_rows.T @ s_rows
        _, g_current, *g_coefs = _input_grads(ctx, coefs, grads, torch.from_numpy(acc[:, :M]), gI)
        return (None, g_current, g_w, *g_coefs)


def fused_recurrent_spikes(
    model: NeuronModel, current: torch.Tensor, w_rec: torch.Tensor, store: str = "min"
) -> torch.Tensor:
    """The spikes S (T, B, N) of ``model`` driven by ``I[t] = current[t] + S[t-1] @ w_rec.T``
    (S[-1] = 0), differentiable by the generated fused adjoint with respect to ``current``
    (T, B, N), ``w_rec`` (N, N) and the model's tensor parameters that require grad.

    CPU tensors of one dtype, float32 or float64. ``store``: "min" or "all", as
    ``neurons.fused.fused_spikes``; the backward reuses a stored state's buffer for dL/dI, so
    it can run once per forward (a second backward raises).
    """
    who = "fused_recurrent_spikes"
    if not isinstance(current, torch.Tensor) or current.dim() != 3:
        shape = tuple(current.shape) if isinstance(current, torch.Tensor) else type(current)
        raise ValueError(f"{who}: current must be a tensor of shape (T, B, N), got {shape}")
    T, B, N = current.shape
    if min(T, B, N) < 1:
        raise ValueError(f"{who}: current must have T, B, N >= 1, got {tuple(current.shape)}")
    if not isinstance(w_rec, torch.Tensor) or tuple(w_rec.shape) != (N, N):
        shape = tuple(w_rec.shape) if isinstance(w_rec, torch.Tensor) else type(w_rec).__name__
        raise ValueError(f"{who}: w_rec must be a tensor of shape ({N}, {N}), got {shape}")
    if current.device.type != "cpu" or w_rec.device.type != "cpu":
        raise ValueError(
            f"{who}: the recurrent fused kernels run on CPU (got current on {current.device}, "
            f"w_rec on {w_rec.device}); use backward='autograd'"
        )
    if w_rec.dtype != current.dtype:
        raise ValueError(
            f"{who}: w_rec ({w_rec.dtype}) and current ({current.dtype}) must have one dtype"
        )
    if store not in STORES:
        raise ValueError(f"{who}: unknown store {store!r}; choose one of {list(STORES)}")
    if not bool(torch.isfinite(w_rec.detach()).all()):
        raise ValueError(f"{who}: w_rec contains NaN or infinite values")
    grad_w = torch.is_grad_enabled() and w_rec.requires_grad
    plan, coefs, _ = _make_plan(model, current, store, None, False, who, "cpu", grad_w)
    if plan.shape != (B, N):
        raise ValueError(
            f"{who}: the model's parameters broadcast the batch to {plan.shape}; a recurrent "
            f"layer needs (B, N) = {(B, N)} (per-neuron parameters of shape ({N},) or scalars)"
        )
    return _FusedRecurrent.apply(plan, current, w_rec, *coefs)
