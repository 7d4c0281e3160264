"""Exact, fast training backward: BPTT written out as the adjoint recursion.

The forward runs the model's own ``step`` (``neurons.models``) under ``torch.no_grad``, so no
per-step graph is built; the backward is a hand-derived adjoint recursion over the whole
sequence, one ``torch.autograd.Function``. For state x[t] (pre-reset potentials), spike
S[t] = H(z[t]) and step x[t] = F(x[t-1], S[t-1], I[t]), it runs t = T..1:

    gS[t] = dL/dS[t] + (dF_{t+1}/dS[t])^T gx[t+1],
    gx[t] = (dF_{t+1}/dx[t])^T gx[t+1] + dL/dx[t] + psi(z[t]) gS[t] dz[t]/dx[t],
    dL/dI[t] = (dF_t/dI[t])^T gx[t],

and each coefficient theta collects sum_t (dF_t/dtheta)^T gx[t] + psi(z[t]) gS[t] dz/dtheta.
The partial derivatives are those of ``lif_step``, ``alif_step`` and ``two_compartment_step``
for both conventions, both resets and ``detach_reset`` (which cuts only the spike inside the
reset; ALIF's adaptation a[t] still sees S[t-1]).

Coefficients enter as the tensors of ``model.coefficients`` (alpha, or beta1 = -sigmoid(c1)...),
so autograd carries their gradients on to the raw trainable tensors (logits, log tau).

Two storage policies:
- ``exact_simulate``: returns (and keeps) the pre-reset states, differentiable like
  ``simulate``'s; memory: spikes + states, (1 + n_states) * T * B * N numbers.
- ``exact_spikes`` (the layers' ``backward="exact"``): keeps the spikes, the input current and
  the states every ``checkpoint`` steps, and recomputes each segment's states with the same
  ``step`` in backward (bit-identical, same operations on the same numbers); memory:
  spikes + current + O(T / checkpoint + checkpoint) states.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .models import ALIF, LIF, NeuronModel, TwoCompartment
from .ops import TORCH_MATH, TORCH_OPS
from .simulate import Trace, batch_shape

__all__ = ["exact_simulate", "exact_spikes", "BACKWARDS"]

BACKWARDS = ("autograd", "exact")

_SWITCHES = ("convention", "reset", "detach_reset", "surrogate")
_BLOCK = 32  # time steps whose surrogate derivatives and parameter sums are vectorised


def _heaviside(x: torch.Tensor, surrogate: Any) -> torch.Tensor:
    """H(x) with H(0) = 1 in x's dtype, written in one pass (no boolean temporary)."""
    return torch.ge(x, 0, out=torch.empty_like(x))


# The forward-only torch view of a step: TORCH_OPS with the spike's value alone. The graph
# machinery of ``SpikeFunction`` (and its bool -> float conversion) is half the cost of a
# no-grad step; the values are the same (tests compare spikes and states bit for bit).
FORWARD_OPS = dataclasses.replace(TORCH_OPS, name="torch-forward", spike=_heaviside)


@dataclass(frozen=True, eq=False)
class _Plan:
    """What the autograd Function needs besides tensors: the model, its family, the batch
    shape, the tensor coefficients' names (in ``apply`` order), the fixed coefficients and the
    checkpoint interval (None: keep every state)."""

    model: NeuronModel
    kind: str
    shape: tuple[int, ...]
    tensor_names: tuple[str, ...]
    fixed: dict[str, Any]
    checkpoint: int | None


def _kind(model: NeuronModel) -> str:
    if isinstance(model, LIF):
        return "lif"
    if isinstance(model, ALIF):
        return "alif"
    if isinstance(model, TwoCompartment):
        return "tc"
    raise ValueError(
        f"exact backward: no adjoint recursion for {type(model).__name__}; "
        "supported: LIF, ALIF, TwoCompartment, LSTMLIF"
    )


def _reduce(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a batch-shaped gradient down to the shape of the coefficient it belongs to."""
    if like.dim() == 0:
        return g.sum().to(device=like.device, dtype=like.dtype)
    return g.sum_to_size(like.shape).to(device=like.device, dtype=like.dtype)


class _Acc(dict):
    """Gradient accumulators of batch shape, one per coefficient that needs a gradient."""

    def __init__(self, wanted: dict[str, bool], shape: torch.Size, like: torch.Tensor) -> None:
        super().__init__({n: like.new_zeros(shape) for n, w in wanted.items() if w})

    def add(self, name: str, *factors: Any, scale: float = 1.0) -> None:
        """acc[name] += scale * sum over the block (axis 0) of the product of ``factors``."""
        if name not in self:
            return
        prod = factors[0]
        for f in factors[1:]:
            prod = prod * f
        self[name].add_(prod.sum(0), alpha=scale)


def _blocks(T: int, size: int):
    """Blocks [t0, t1) of at most ``size`` steps aligned at 0, last block first."""
    for t0 in range(((T - 1) // size) * size, -1, -size):
        yield t0, min(T, t0 + size)


def _prev(x: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
    """x[t-1] for t in [t0, t1), with x[-1] = 0 (every state starts at 0)."""
    if t0 > 0:
        return x[t0 - 1 : t1 - 1]
    return torch.cat((torch.zeros_like(x[:1]), x[: t1 - 1]))


def _axpy(y: torch.Tensor, x: torch.Tensor, c: Any, out: torch.Tensor) -> torch.Tensor:
    """out = y + c * x for a number or a (broadcasting) tensor c."""
    if isinstance(c, torch.Tensor):
        return torch.addcmul(y, x, c, out=out)
    return torch.add(y, x, alpha=c, out=out)


def _spike_grads(p: SimpleNamespace, z: torch.Tensor, go: torch.Tensor | None, t0: int, t1: int):
    """(psi(z), dL/dS * psi(z)) on a block, the second to be completed step by step."""
    psi = p.surrogate.psi(z, TORCH_MATH)
    gz = go[t0:t1] * psi if go is not None else torch.zeros_like(psi)
    return psi, gz


def _lif_backward(p, S, blocks, gst, go, acc, current):
    """Adjoint of ``lif_step``; returns dL/dI (T, *batch) and fills ``acc``. ``blocks`` yields
    (t0, t1, states on [t0, t1), states on [t0 - 1, t1 - 1)), last block first.

    Carries gv = dL/dv[t] and gSn = -dL/dS[t] through the reset of step t+1.
    """
    shape = S.shape[1:]
    paper, sub, cut = p.convention == "paper", p.reset == "subtract", p.detach_reset
    alpha, v_th = p.alpha, p.v_th
    gI = torch.empty_like(S)
    gv_c, gSn = S.new_zeros(shape), S.new_zeros(shape)
    gvs = gst.get("v")
    for t0, t1, cur, prev in blocks:
        psi, gz = _spike_grads(p, cur["v"] - v_th, go, t0, t1)
        S_prev, v_prev = _prev(S, t0, t1), prev["v"]
        if paper:
            carry = None if sub else alpha - S_prev  # dv[t]/dv[t-1]
            back = None if sub else v_prev  # -dv[t]/dS[t-1]
        else:
            keep = 1.0 - S_prev
            carry = None if sub else keep * alpha
            back = None if sub else v_prev * alpha
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            if not cut:
                gz[k].addcmul_(gSn, psi[k], value=-1.0)
            gv = torch.add(gv_c, gz[k], out=gI[t])
            if gvs is not None:
                gv.add_(gvs[t])
            if t == 0:
                break
            if sub:
                torch.mul(gv, alpha, out=gv_c)
                if not cut:
                    torch.mul(gv if paper else gv_c, v_th, out=gSn)
            else:
                torch.mul(gv, carry[k], out=gv_c)
                if not cut:
                    torch.mul(gv, back[k], out=gSn)
        gv = gI[t0:t1]
        acc.add("v_th", gz, scale=-1.0)
        if paper:
            acc.add("alpha", gv, v_prev)
            if sub:
                acc.add("v_th", gv, S_prev, scale=-1.0)
        elif sub:
            acc.add("alpha", gv, v_prev - v_th * S_prev)
            acc.add("v_th", gv, S_prev, alpha, scale=-1.0)
        else:
            acc.add("alpha", gv, v_prev, keep)
    return gI


def _alif_backward(p, S, blocks, gst, go, acc, current):
    """Adjoint of ``alif_step``; returns dL/dI (T, *batch) and fills ``acc``.

    Carries gu = dL/du[t], ga = dL/da[t] and gSn = -dL/dS[t] from step t+1.
    """
    shape = S.shape[1:]
    paper, sub, cut = p.convention == "paper", p.reset == "subtract", p.detach_reset
    alpha, rho, oma, beta_a, b0 = p.alpha, p.rho, p.one_minus_alpha, p.beta_a, p.b0
    neg_omr = -p.one_minus_rho
    neg_beta = -beta_a
    gI = torch.empty_like(S)
    gu_c, ga_c, gSn = S.new_zeros(shape), S.new_zeros(shape), S.new_zeros(shape)
    gus, gas = gst.get("u"), gst.get("a")
    for t0, t1, cur, prev in blocks:
        a_cur = cur["a"]
        A = b0 + beta_a * a_cur
        psi, gz = _spike_grads(p, cur["u"] - A, go, t0, t1)
        S_prev, u_prev, a_prev = _prev(S, t0, t1), prev["u"], prev["a"]
        SbA = S_prev * neg_beta  # d(reset)/da, the reset's threshold term A * S[t-1]
        A_prev = b0 + beta_a * a_prev
        if paper:
            carry = None if sub else alpha - S_prev
            back = A if sub else u_prev
        else:
            keep = 1.0 - S_prev
            carry = None if sub else keep * alpha
            back = A_prev if sub else u_prev * alpha
        gu_b, ga_b = torch.empty_like(psi), torch.empty_like(psi)
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            gzk = gz[k]
            gzk.addcmul_(gSn, psi[k], value=-1.0)
            gu = torch.add(gu_c, gzk, out=gu_b[k])
            if gus is not None:
                gu.add_(gus[t])
            ga = _axpy(ga_c, gzk, neg_beta, out=ga_b[k])
            if gas is not None:
                ga.add_(gas[t])
            if paper and sub:
                ga.addcmul_(gu, SbA[k])
            torch.mul(gu, oma, out=gI[t])
            if t == 0:
                break
            torch.mul(ga, rho, out=ga_c)
            torch.mul(ga, neg_omr, out=gSn)
            if sub:
                torch.mul(gu, alpha, out=gu_c)
                if not paper:
                    ga_c.addcmul_(gu_c, SbA[k])
                if not cut:
                    gSn.addcmul_(gu if paper else gu_c, back[k])
            else:
                torch.mul(gu, carry[k], out=gu_c)
                if not cut:
                    gSn.addcmul_(gu, back[k])
        gu, ga = gu_b[: t1 - t0], ga_b[: t1 - t0]
        acc.add("one_minus_alpha", gu, current[t0:t1])
        acc.add("rho", ga, a_prev)
        acc.add("one_minus_rho", ga, S_prev)
        acc.add("b0", gz, scale=-1.0)
        acc.add("beta_a", gz, a_cur, scale=-1.0)
        if paper:
            acc.add("alpha", gu, u_prev)
            if sub:
                acc.add("b0", gu, S_prev, scale=-1.0)
                acc.add("beta_a", gu, S_prev, a_cur, scale=-1.0)
        elif sub:
            acc.add("alpha", gu, u_prev - A_prev * S_prev)
            acc.add("b0", gu, S_prev, alpha, scale=-1.0)
            acc.add("beta_a", gu, S_prev, a_prev, alpha, scale=-1.0)
        else:
            acc.add("alpha", gu, u_prev, keep)
    return gI


def _tc_backward(p, S, blocks, gst, go, acc, current):
    """Adjoint of ``two_compartment_step`` (LSTM-LIF: alpha1 = alpha2 = 1); returns dL/dI
    (T, *batch) and fills ``acc``.

    Carries gd = dL/dd[t], gs = dL/ds[t] and gSn = -dL/dS[t] from step t+1.
    """
    shape = S.shape[1:]
    paper, sub, cut = p.convention == "paper", p.reset == "subtract", p.detach_reset
    a1, a2, b1, b2, gamma, v_th = p.alpha1, p.alpha2, p.beta1, p.beta2, p.gamma, p.v_th
    unit1 = isinstance(a1, float) and a1 == 1.0
    unit2 = isinstance(a2, float) and a2 == 1.0
    gI = torch.empty_like(S)
    gd_c, gs_c, gSn = S.new_zeros(shape), S.new_zeros(shape), S.new_zeros(shape)
    g_dpost, g_spost = S.new_zeros(shape), S.new_zeros(shape)
    gds, gss = gst.get("d"), gst.get("s")
    for t0, t1, cur, prev in blocks:
        psi, gz = _spike_grads(p, cur["s"] - v_th, go, t0, t1)
        S_prev, d_prev, s_prev = _prev(S, t0, t1), prev["d"], prev["s"]
        keep = 1.0 - S_prev
        gs_b = torch.empty_like(psi)
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            gzk = gz[k]
            if not cut:
                gzk.addcmul_(gSn, psi[k], value=-1.0)
            gs = torch.add(gs_c, gzk, out=gs_b[k])
            if gss is not None:
                gs.add_(gss[t])
            gd = _axpy(gd_c, gs, b2, out=gI[t])  # s[t] = ... + b2 d[t]
            if gds is not None:
                gd.add_(gds[t])
            if t == 0:
                break
            # the adjoints of what step t reads: paper d[t-1], s[t-1]; code d', s' (post-reset)
            gd_new = gd if unit1 else torch.mul(gd, a1, out=g_dpost)
            gs_new = _axpy(gs if unit2 else torch.mul(gs, a2, out=g_spost), gd, b1, out=g_spost)
            if paper:
                if not sub:
                    gs_new.addcmul_(gs, S_prev[k], value=-1.0)
                if not cut:
                    torch.mul(gs, v_th if sub else s_prev[k], out=gSn)
                    _axpy(gSn, gd, gamma, out=gSn)
            else:
                if not cut:
                    torch.mul(gs_new, v_th if sub else s_prev[k], out=gSn)
                    _axpy(gSn, gd_new, gamma, out=gSn)
                if not sub:
                    gs_new.mul_(keep[k])
            gd_c, gs_c = gd_new, gs_new  # read by step t-1 before these buffers are rewritten
        gd, gs = gI[t0:t1], gs_b[: t1 - t0]
        acc.add("beta2", gs, cur["d"])
        acc.add("v_th", gz, scale=-1.0)
        if paper:
            acc.add("alpha1", gd, d_prev)
            acc.add("alpha2", gs, s_prev)
            acc.add("beta1", gd, s_prev)
            acc.add("gamma", gd, S_prev, scale=-1.0)
            if sub:
                acc.add("v_th", gs, S_prev, scale=-1.0)
        else:
            s_post = s_prev - v_th * S_prev if sub else s_prev * keep
            acc.add("alpha1", gd, d_prev - gamma * S_prev)
            acc.add("alpha2", gs, s_post)
            acc.add("beta1", gd, s_post)
            acc.add("gamma", gd, S_prev, a1, scale=-1.0)
            if sub:
                acc.add("v_th", gs * a2 + gd * b1, S_prev, scale=-1.0)
    return gI


_BACKWARD = {"lif": _lif_backward, "alif": _alif_backward, "tc": _tc_backward}


def _aligned(current_shape: torch.Size, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The current's shape (T, *c) with leading 1s inserted so that c aligns with the batch."""
    T, rest = current_shape[0], tuple(current_shape[1:])
    return (T, *([1] * (len(shape) - len(rest))), *rest)


def _run(model, p, inputs, spikes, t0, t1, start, record):
    """Steps t0..t1-1 of ``model`` (no graph) from ``start``, the states after step t0 - 1, whose
    spike is ``spikes[t0 - 1]``; ``record(t, new)`` stores step t's output and returns the
    states to carry on from."""
    state = dict(start)
    state["S"] = spikes[t0 - 1] if t0 > 0 else inputs.new_zeros(inputs.shape[1:])
    with torch.no_grad():
        for t in range(t0, t1):
            new, S = model.step(p, state, inputs[t], FORWARD_OPS)
            state = record(t, new)
            state["S"] = S


class _ExactSequence(torch.autograd.Function):
    """(current (T, *c), *tensor coefficients) -> (spikes, *pre-reset states) (T, *batch),
    or spikes alone with checkpoints; backward is the adjoint recursion of the model's step."""

    @staticmethod
    def forward(ctx, plan: _Plan, current: torch.Tensor, *coefs: torch.Tensor):
        model, shape, K = plan.model, plan.shape, plan.checkpoint
        names = model.state_names
        T = current.shape[0]
        p = SimpleNamespace(**plan.fixed)
        for name, c in zip(plan.tensor_names, coefs, strict=True):
            setattr(p, name, c.detach().to(device=current.device, dtype=current.dtype))
        inputs = current.reshape(_aligned(current.shape, shape)).expand((T, *shape))
        spikes = current.new_empty((T, *shape))
        zeros = current.new_zeros(shape)
        start = {n: zeros for n in names}
        spike_rows = spikes.unbind(0)
        if K is None:
            states = {n: current.new_empty((T, *shape)) for n in names}
            rows = {n: states[n].unbind(0) for n in names}

            def record(t, new):
                for n in names:
                    rows[n][t].copy_(new[n])
                spike_rows[t].copy_(new["S"])
                return {n: rows[n][t] for n in names}

            _run(model, p, inputs, spikes, 0, T, start, record)
            outs = (spikes, *(states[n] for n in names))
            keep_current = plan.kind == "alif" and "one_minus_alpha" in plan.tensor_names
            ctx.save_for_backward(*outs, current if keep_current else None, *coefs)
        else:
            marks = {n: current.new_empty(((T - 1) // K if T else 0, *shape)) for n in names}

            def record(t, new):
                spike_rows[t].copy_(new["S"])
                if (t + 1) % K == 0 and t + 1 < T:
                    for n in names:
                        marks[n][t // K].copy_(new[n])
                return new

            _run(model, p, inputs, spikes, 0, T, start, record)
            outs = (spikes,)
            ctx.save_for_backward(spikes, *(marks[n] for n in names), current, *coefs)
        ctx.plan, ctx.p, ctx.current_shape = plan, p, current.shape
        ctx.set_materialize_grads(False)
        return outs

    @staticmethod
    def backward(ctx, go: torch.Tensor | None, *gstates: torch.Tensor | None):
        plan: _Plan = ctx.plan
        p, model, K = ctx.p, plan.model, plan.checkpoint
        names = model.state_names
        n_coef = len(plan.tensor_names)
        saved = ctx.saved_tensors
        S = saved[0]
        kept = dict(zip(names, saved[1 : 1 + len(names)], strict=True))
        current = saved[1 + len(names)]
        coefs = saved[2 + len(names) :]
        gst = {n: g for n, g in zip(names, gstates, strict=False) if g is not None}
        if go is None and not gst:
            return (None, None, *([None] * n_coef))
        T = S.shape[0]
        if current is not None:
            current = current.reshape(_aligned(current.shape, plan.shape)).expand(S.shape)
        if K is None:
            blocks = (
                (
                    t0,
                    t1,
                    {n: kept[n][t0:t1] for n in names},
                    {n: _prev(kept[n], t0, t1) for n in names},
                )
                for t0, t1 in _blocks(T, _BLOCK)
            )
        else:
            blocks = _recomputed_blocks(model, p, current, S, kept, K)
        wanted = {n: bool(ctx.needs_input_grad[2 + i]) for i, n in enumerate(plan.tensor_names)}
        acc = _Acc(wanted, S.shape[1:], S)
        gI = _BACKWARD[plan.kind](p, S, blocks, gst, go, acc, current)
        grads = [
            _reduce(acc[n], c) if n in acc else None
            for n, c in zip(plan.tensor_names, coefs, strict=True)
        ]
        g_current = None
        if ctx.needs_input_grad[1]:
            g_current = gI.sum_to_size(_aligned(ctx.current_shape, plan.shape))
            g_current = g_current.reshape(ctx.current_shape)
        return (None, g_current, *grads)


def _recomputed_blocks(model, p, inputs, S, marks, K):
    """The segments [jK, (j+1)K), last first, with their states recomputed by ``model.step``
    from the checkpoint before each; yields (t0, t1, states on [t0, t1), states on
    [t0 - 1, t1 - 1))."""
    names = model.state_names
    T = S.shape[0]
    ext = {n: S.new_empty((K + 1, *S.shape[1:])) for n in names}
    rows = {n: ext[n].unbind(0) for n in names}
    for t0, t1 in _blocks(T, K):
        for n in names:
            if t0 == 0:
                rows[n][0].zero_()
            else:
                rows[n][0].copy_(marks[n][t0 // K - 1])

        def record(t, new, t0=t0):
            for n in names:
                rows[n][t - t0 + 1].copy_(new[n])
            return {n: rows[n][t - t0 + 1] for n in names}

        _run(model, p, inputs, S, t0, t1, {n: rows[n][0] for n in names}, record)
        m = t1 - t0
        yield t0, t1, {n: ext[n][1 : m + 1] for n in names}, {n: ext[n][:m] for n in names}


def _coefficient_tensor(value: Any, like: torch.Tensor) -> Any:
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=like.device, dtype=like.dtype)
    return value


def _apply(model: NeuronModel, current: torch.Tensor, checkpoint: int | None, who: str):
    if not isinstance(model, NeuronModel):
        raise ValueError(f"{who}: expected a neuron model, got {type(model).__name__}")
    kind = _kind(model)
    if not isinstance(current, torch.Tensor):
        raise ValueError(
            f"{who}: current must be a torch tensor (T, *batch), got {type(current).__name__}"
        )
    if current.dim() < 1:
        raise ValueError(f"{who}: current must have shape (T, *batch), got a scalar")
    if not current.is_floating_point():
        raise ValueError(f"{who}: current must be a floating tensor, got {current.dtype}")
    if not bool(torch.isfinite(current).all()):
        raise ValueError(f"{who}: current contains NaN or infinite values")
    shape = batch_shape(model, tuple(current.shape))
    p = model.coefficients(TORCH_OPS)
    fixed: dict[str, Any] = {}
    tensor_names: list[str] = []
    coefs: list[torch.Tensor] = []
    for name, value in vars(p).items():
        value = _coefficient_tensor(value, current)
        if name in _SWITCHES or not isinstance(value, torch.Tensor):
            fixed[name] = value
        else:
            tensor_names.append(name)
            coefs.append(value)
    plan = _Plan(model, kind, tuple(shape), tuple(tensor_names), fixed, checkpoint)
    return _ExactSequence.apply(plan, current, *coefs)


def exact_simulate(model: NeuronModel, current: torch.Tensor) -> Trace:
    """Run ``model`` over ``current`` (T, *batch) like ``neurons.simulate``, differentiable by the
    exact adjoint recursion instead of a per-step autograd graph.

    Returns a ``Trace``: spikes (T, *batch) and pre-reset states (T, *batch), in the current's
    dtype and device. Gradients reach the current, every tensor parameter of the model
    (through ``model.coefficients``) and flow from spikes and states alike; they equal the
    autograd path of ``simulate`` up to rounding. Keeps all states for backward.
    """
    outs = _apply(model, current, None, "exact_simulate")
    return Trace(outs[0], dict(zip(model.state_names, outs[1:], strict=True)), model)


def exact_spikes(model: NeuronModel, current: torch.Tensor, checkpoint: int = 32) -> torch.Tensor:
    """The spikes (T, *batch) of ``model`` over ``current`` (T, *batch), differentiable by the
    exact adjoint recursion, with the least memory: only the spikes, the current and the
    states every ``checkpoint`` steps are kept; backward recomputes each segment's states.
    """
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 1:
        raise ValueError(f"exact_spikes: checkpoint must be an int >= 1, got {checkpoint!r}")
    (spikes,) = _apply(model, current, checkpoint, "exact_spikes")
    return spikes
