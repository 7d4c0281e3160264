"""Exact, fast training backward: BPTT written out as the adjoint recursion.

The forward runs the model's own ``step`` without a graph; the backward is the adjoint
recursion over the whole sequence, one ``torch.autograd.Function``. Every registered model has
it: the generic kernel evaluates the partial derivatives that SymPy generates from the step
function (``neurons.derivatives``); LIF, ALIF and the two-compartment models also have a
hand-written kernel (a measured speed-up, tied to the generic one by the tests), used by
default for them (``kernel="auto"``).
For state x[t] (pre-reset potentials), spike S[t] = H(z[t]) and step
x[t] = F(x[t-1], S[t-1], I[t]), it runs t = T..1:

    gS[t] = dL/dS[t] + (dF_{t+1}/dS[t])^T gx[t+1],
    gx[t] = (dF_{t+1}/dx[t])^T gx[t+1] + dL/dx[t] + psi(z[t]) gS[t] dz[t]/dx[t],
    dL/dI[t] = (dF_t/dI[t])^T gx[t],

and each coefficient theta collects sum_t (dF_t/dtheta)^T gx[t] + psi(z[t]) gS[t] dz/dtheta.
The hand kernels' partial derivatives are those of ``lif_step``, ``alif_step`` and
``two_compartment_step`` for both conventions, both resets and ``detach_reset`` (which cuts only
the spike inside the reset; ALIF's adaptation a[t] still sees S[t-1]).

A hand kernel's inputs are the tensors of ``model.coefficients`` (alpha, or beta1 =
-sigmoid(c1)...); the generic kernel's are the model's parameters (``model.params()``). Either
way autograd carries their gradients on to the raw trainable tensors (logits, log tau).

Storage (what the forward keeps for backward):
- ``exact_simulate``: returns (and keeps) the pre-reset states, differentiable like
  ``simulate``'s; memory: spikes + states, (1 + n_states) * T * B * N numbers.
- ``exact_spikes`` (the layers' ``backward="exact"``): returns the spikes only and keeps the
  states internally, the first one in a (T, *batch) buffer that backward overwrites with
  dL/dI block by block (so it can run once), the others in blocks of 16 steps;
  memory: the same numbers, one fewer buffer at the backward peak.
- ``exact_spikes(..., checkpoint=K)``: keeps the spikes, the input current and the states every
  K steps, and recomputes each segment with the same ``step`` in backward (bit-identical: the
  same operations on the same numbers); memory: spikes + current + O(T / K + K) states.

The forward runs ``model.step`` with ``FORWARD_OPS``, the torch view without the surrogate's
autograd node (values identical to ``TORCH_OPS``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .base import RESETS, SWITCHES, Coefficients, NeuronModel, require_step
from .derivatives import StepPartials, step_partials
from .models import ALIF, LIF, TwoCompartment
from .ops import TORCH_MATH, TORCH_OPS
from .simulate import LOW_PRECISION, OverflowWatch, Trace, batch_shape, check_layout

__all__ = ["exact_simulate", "exact_spikes", "one_thread", "BACKWARDS"]

BACKWARDS = ("autograd", "exact", "fused")

KERNELS = ("auto", "hand", "generic")
_BLOCK = 16  # time steps whose surrogate derivatives and parameter sums are vectorised


def _heaviside(x: torch.Tensor, surrogate: Any) -> torch.Tensor:
    """H(x) with H(0) = 1 in x's dtype, written in one pass (no boolean temporary)."""
    return torch.ge(x, 0, out=torch.empty_like(x))


# The forward-only torch view of a step: TORCH_OPS with the spike's value alone. The graph
# machinery of ``SpikeFunction`` (and its bool -> float conversion) is half the cost of a
# no-grad step; the values are the same (tests compare spikes and states bit for bit).
FORWARD_OPS = dataclasses.replace(TORCH_OPS, name="torch-forward", spike=_heaviside)


@dataclass(frozen=True, eq=False)
class _Plan:
    """What the autograd Function needs besides tensors: the model, the kernel ("generic", or
    the class of a hand kernel), the batch shape, the tensor inputs' names (in ``apply`` order:
    step coefficients for a hand kernel, model parameters for the generic one), the fixed
    values, the storage policy, the checkpoint interval and the generated partials (generic)."""

    model: NeuronModel
    kind: Any
    shape: tuple[int, ...]
    tensor_names: tuple[str, ...]
    fixed: dict[str, Any]
    storage: str
    checkpoint: int
    partials: StepPartials | None = None
    keep_current: bool = False
    coefficient_type: type[Coefficients] | None = None
    who: str = "exact_spikes"

    def coefficients(self, tensors: dict[str, torch.Tensor], like: torch.Tensor) -> Coefficients:
        """The step's coefficient record from the (detached) tensor inputs."""
        if self.partials is None:
            return self.coefficient_type(**self.fixed, **tensors)
        with torch.no_grad():
            return self.model.replace(**tensors).coefficients(TORCH_OPS).on(like)


def _hand_kernel(model: NeuronModel) -> Any:
    """The class whose hand-written adjoint applies to ``model``: the nearest of LIF, ALIF,
    TwoCompartment in its MRO, provided the model runs that class's own step function with a
    reset the hand kernels know (``RESETS``: not the two-compartment "soma" reset)."""
    if model.reset not in RESETS:
        return None
    for cls in type(model).__mro__:
        if cls in _BACKWARD:
            return cls if type(model).step is cls.step else None
    return None


def _reduce(g: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a batch-shaped gradient down to the shape of the coefficient it belongs to."""
    if g.dim() == 0:
        return g.reshape(like.shape).to(device=like.device, dtype=like.dtype)
    return g.sum_to_size(like.shape).to(device=like.device, dtype=like.dtype)


class _Acc(dict):
    """Gradient accumulators, one per coefficient that needs a gradient: a number for a
    one-element coefficient, else of batch shape (summed to the coefficient's shape at the end).
    """

    def __init__(self, wanted: dict[str, torch.Tensor], shape: torch.Size, like: torch.Tensor):
        super().__init__(
            {n: like.new_zeros(() if c.numel() == 1 else shape) for n, c in wanted.items()}
        )

    def add(self, name: str, *factors: Any, scale: float = 1.0) -> None:
        """acc[name] += scale * sum over the block (axis 0) of the product of ``factors``."""
        if name not in self:
            return
        target = self[name]
        a = factors[0]
        if target.dim() == 0 and len(factors) == 2 and factors[1].shape == a.shape:
            target.add_(torch.dot(a.reshape(-1), factors[1].reshape(-1)), alpha=scale)
            return
        for f in factors[1:]:
            a = a * f
        target.add_(a.sum() if target.dim() == 0 else a.sum(0), alpha=scale)


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


class _Work(dict):
    """Block work buffers (rows, *batch), allocated once per backward and reused by every block
    (fresh block-sized temporaries would cost page faults on each block)."""

    def __init__(self, like: torch.Tensor) -> None:
        super().__init__()
        self.like = like

    def take(self, name: str, m: int) -> torch.Tensor:
        if name not in self or self[name].shape[0] < m:
            self[name] = self.like.new_empty((max(m, _BLOCK), *self.like.shape[1:]))
        return self[name][:m]


def _spike_grads(p, work: _Work, x, threshold, go, t0: int, t1: int):
    """(psi(z), dL/dS * psi(z)) on a block with z = x - threshold, the second to be completed
    step by step."""
    m = t1 - t0
    psi = p.surrogate.psi(torch.sub(x, threshold, out=work.take("z", m)), TORCH_MATH)
    gz = work.take("gz", m)
    if go is not None:
        torch.mul(go[t0:t1], psi, out=gz)
    else:
        gz.zero_()
    return psi, gz


def _lif_backward(p, S, blocks, gst, go, acc, current, gI):
    """Adjoint of ``lif_step``: writes dL/dI (T, *batch) into ``gI`` and fills ``acc``.
    ``blocks`` yields (t0, t1, states on [t0, t1), states on [t0 - 1, t1 - 1)), last block
    first; each block's rows of ``gI`` are written when the block is done (they may share
    memory with that block's states).

    Carries gv = dL/dv[t] and gSn = -dL/dS[t] through the reset of step t+1.
    """
    shape = S.shape[1:]
    work = _Work(S)
    sub, cut = p.reset == "subtract", p.detach_reset
    paper = p.convention == "paper" and sub  # a hard reset reads the same in both conventions
    alpha, v_th = p.alpha, p.v_th
    gv_c, gSn = S.new_zeros(shape), S.new_zeros(shape)
    gvs = gst.get("v")
    for t0, t1, cur, prev in blocks:
        psi, gz = _spike_grads(p, work, cur["v"], v_th, go, t0, t1)
        S_prev, v_prev = _prev(S, t0, t1), prev["v"]
        if paper:
            carry = None if sub else alpha - S_prev  # dv[t]/dv[t-1]
            back = None if sub else v_prev  # -dv[t]/dS[t-1]
        else:
            keep = 1.0 - S_prev
            carry = None if sub else keep * alpha
            back = None if sub else v_prev * alpha
        g_in = work.take("g_in", t1 - t0)
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            if not cut:
                gz[k].addcmul_(gSn, psi[k], value=-1.0)
            gv = torch.add(gv_c, gz[k], out=g_in[k])
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
        gv = g_in
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
        gI[t0:t1].copy_(g_in)


def _alif_backward(p, S, blocks, gst, go, acc, current, gI):
    """Adjoint of ``alif_step``: writes dL/dI into ``gI`` and fills ``acc`` (as ``_lif_backward``).

    Carries gu = dL/du[t], ga = dL/da[t] and gSn = -dL/dS[t] from step t+1.
    """
    shape = S.shape[1:]
    work = _Work(S)
    sub, cut = p.reset == "subtract", p.detach_reset
    paper = p.convention == "paper" and sub  # a hard reset reads the same in both conventions
    alpha, rho, oma, beta_a, b0 = p.alpha, p.rho, p.one_minus_alpha, p.beta_a, p.b0
    neg_omr = -p.one_minus_rho
    neg_beta = -beta_a
    gu_c, ga_c, gSn = S.new_zeros(shape), S.new_zeros(shape), S.new_zeros(shape)
    gus, gas = gst.get("u"), gst.get("a")
    for t0, t1, cur, prev in blocks:
        a_cur = cur["a"]
        A = b0 + beta_a * a_cur
        psi, gz = _spike_grads(p, work, cur["u"], A, go, t0, t1)
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
        gu_b, ga_b, g_in = (work.take(n, t1 - t0) for n in ("gu", "ga", "g_in"))
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
            torch.mul(gu, oma, out=g_in[k])
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
        gI[t0:t1].copy_(g_in)


def _tc_backward(p, S, blocks, gst, go, acc, current, gI):
    """Adjoint of ``two_compartment_step`` (LSTM-LIF: alpha1 = alpha2 = 1): writes dL/dI into
    ``gI`` and fills ``acc`` (as ``_lif_backward``).

    Carries gd = dL/dd[t], gs = dL/ds[t] and gSn = -dL/dS[t] from step t+1.
    """
    shape = S.shape[1:]
    work = _Work(S)
    paper, sub, cut = p.convention == "paper", p.reset == "subtract", p.detach_reset
    a1, a2, b1, b2, gamma, v_th = p.alpha1, p.alpha2, p.beta1, p.beta2, p.gamma, p.v_th
    unit1 = isinstance(a1, float) and a1 == 1.0
    unit2 = isinstance(a2, float) and a2 == 1.0
    gd_c, gs_c, gSn = S.new_zeros(shape), S.new_zeros(shape), S.new_zeros(shape)
    g_dpost, g_spost = S.new_zeros(shape), S.new_zeros(shape)
    gds, gss = gst.get("d"), gst.get("s")
    for t0, t1, cur, prev in blocks:
        psi, gz = _spike_grads(p, work, cur["s"], v_th, go, t0, t1)
        S_prev, d_prev, s_prev = _prev(S, t0, t1), prev["d"], prev["s"]
        keep = None if paper and sub else 1.0 - S_prev
        # paper hard reset: s[t] = a2 s[t-1] (1 - S[t-1]) + b2 d[t]
        S_a2 = S_prev if unit2 or sub or not paper else S_prev * a2
        s_a2 = s_prev if unit2 or sub or not paper else s_prev * a2
        gs_b, g_in = work.take("gs", t1 - t0), work.take("g_in", t1 - t0)
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            gzk = gz[k]
            if not cut:
                gzk.addcmul_(gSn, psi[k], value=-1.0)
            gs = torch.add(gs_c, gzk, out=gs_b[k])
            if gss is not None:
                gs.add_(gss[t])
            gd = _axpy(gd_c, gs, b2, out=g_in[k])  # s[t] = ... + b2 d[t]
            if gds is not None:
                gd.add_(gds[t])
            if t == 0:
                break
            # the adjoints of what step t reads: paper d[t-1], s[t-1]; code d', s' (post-reset)
            gd_new = gd if unit1 else torch.mul(gd, a1, out=g_dpost)
            gs_new = _axpy(gs if unit2 else torch.mul(gs, a2, out=g_spost), gd, b1, out=g_spost)
            if paper:
                if not sub:
                    gs_new.addcmul_(gs, S_a2[k], value=-1.0)
                if not cut:
                    torch.mul(gs, v_th if sub else s_a2[k], out=gSn)
                    _axpy(gSn, gd, gamma, out=gSn)
            else:
                if not cut:
                    torch.mul(gs_new, v_th if sub else s_prev[k], out=gSn)
                    _axpy(gSn, gd_new, gamma, out=gSn)
                if not sub:
                    gs_new.mul_(keep[k])
            gd_c, gs_c = gd_new, gs_new  # read by step t-1 before these buffers are rewritten
        gd, gs = g_in, gs_b
        acc.add("beta2", gs, cur["d"])
        acc.add("v_th", gz, scale=-1.0)
        if paper:
            acc.add("alpha1", gd, d_prev)
            acc.add("alpha2", gs, s_prev if sub else s_prev * keep)
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
        gI[t0:t1].copy_(g_in)


_BACKWARD = {LIF: _lif_backward, ALIF: _alif_backward, TwoCompartment: _tc_backward}


def _kinds(D: StepPartials) -> tuple[list[str], list[str]]:
    """How each generated entry varies: "zero", "one", "const", "fixed" (parameters only) or
    "varying" (reads a state, a spike, psi or the input, so it has a time axis)."""
    params = set(D.param_names)

    def kind(e: Any) -> str:
        if e.free_symbols:
            return "fixed" if {s.name for s in e.free_symbols} <= params else "varying"
        if e == 0:
            return "zero"
        return "one" if e == 1 else "const"

    flat = [*D.dx, *D.dS, *D.dI, *D.dtheta]
    return [kind(e) for e in flat], [kind(e) for e in [*D.zx, *D.ztheta]]


def _entry(value: Any, kind: str, k: int) -> Any:
    """An entry at block row k: its row for a varying entry, else the value itself."""
    return value[k] if kind == "varying" else value


def _mac(out: torch.Tensor, terms: list[tuple[Any, str, torch.Tensor]]) -> torch.Tensor:
    """out = sum of coefficient * vector over ``terms`` (coefficient, kind, vector), zero terms
    already dropped; out is zeroed when there is no term."""
    if not terms:
        return out.zero_()
    first = True
    for c, kind, v in terms:
        if first:
            if kind == "one":
                out.copy_(v)
            elif isinstance(c, torch.Tensor):
                torch.mul(v, c, out=out)
            else:
                torch.mul(v, float(c), out=out)
            first = False
        elif kind == "one":
            out.add_(v)
        elif isinstance(c, torch.Tensor):
            out.addcmul_(v, c)
        else:
            out.add_(v, alpha=float(c))
    return out


def _accumulate(acc: _Acc, name: str, vec: torch.Tensor, c: Any, kind: str) -> None:
    """acc[name] += sum over the block of c * vec for an entry c of the given kind."""
    if kind == "zero":
        return
    if kind == "one":
        acc.add(name, vec)
    elif isinstance(c, torch.Tensor):
        acc.add(name, vec, c)
    else:
        acc.add(name, vec, scale=float(c))


def _generic_backward(plan: _Plan, params, p, S, blocks, gst, go, acc, current, gI):
    """The adjoint of any step from its generated partials (``neurons.derivatives``), in blocks
    of time: for t = T..1,

        Sbar[t] = dL/dS[t] + dF_{t+1}/dS_prev . lambda[t+1],
        lambda[t] = dL/dx[t] + (dF_{t+1}/dx_p)^T lambda[t+1] + dz/dx psi[t] Sbar[t],
        dL/dI[t] = dF_t/dI . lambda[t],  dL/dtheta += dF_t/dtheta . lambda[t] + dz/dtheta psi Sbar.

    The partials of a block are evaluated at once (vectorised over its rows); the sequence runs
    only the matrix-vector products. Writes dL/dI into ``gI`` and fills ``acc``.
    """
    D = plan.partials
    names, n = D.state_names, D.n
    kinds, zkinds = _kinds(D)
    dx_k, dS_k, dI_k, dth_k = D.split(kinds)
    zx_k, zth_k = zkinds[:n], zkinds[n:]
    fn, zfn = D.torch["partials"], D.torch["z"]
    pvals = [params[k] for k in D.param_names]
    shape = S.shape[1:]
    work = _Work(S)
    carry_x = [S.new_zeros(shape) for _ in names]
    carry_S = S.new_zeros(shape)
    zs = S.new_empty(shape)
    model = plan.model
    for t0, t1, cur, prev in blocks:
        m = t1 - t0
        S_rows, S_prev = S[t0:t1], _prev(S, t0, t1)
        I_rows = current[t0:t1] if current is not None else 0.0
        psi = p.surrogate.psi(model.spike_argument(p, cur, TORCH_OPS), TORCH_MATH)
        psi = psi.expand(m, *shape)
        flat = fn(*[prev[nm] for nm in names], S_prev, I_rows, S_rows, psi, *pvals)
        dx, dS, dI, dth = D.split(flat)
        zflat = zfn(*[cur[nm] for nm in names], *pvals)
        zx, zth = zflat[:n], zflat[n:]
        lam = [work.take(f"lam{i}", m) for i in range(n)]
        sbar, g_in = work.take("sbar", m), work.take("g_in", m)
        for t in range(t1 - 1, t0 - 1, -1):
            k = t - t0
            sb = sbar[k]
            if go is not None:
                torch.add(go[t], carry_S, out=sb)
            else:
                sb.copy_(carry_S)
            torch.mul(psi[k], sb, out=zs)
            for i, nm in enumerate(names):
                li = lam[i][k]
                li.copy_(carry_x[i])
                g = gst.get(nm)
                if g is not None:
                    li.add_(g[t])
                if zx_k[i] != "zero":
                    c = _entry(zx[i], zx_k[i], k)
                    li.add_(zs) if zx_k[i] == "one" else li.add_(zs * c)
            rows = [lam[i][k] for i in range(n)]
            _mac(
                g_in[k],
                [
                    (_entry(dI[i], dI_k[i], k), dI_k[i], rows[i])
                    for i in range(n)
                    if dI_k[i] != "zero"
                ],
            )
            if t == 0:
                break
            for j in range(n):
                _mac(
                    carry_x[j],
                    [
                        (_entry(dx[i][j], dx_k[i][j], k), dx_k[i][j], rows[i])
                        for i in range(n)
                        if dx_k[i][j] != "zero"
                    ],
                )
            _mac(
                carry_S,
                [
                    (_entry(dS[i], dS_k[i], k), dS_k[i], rows[i])
                    for i in range(n)
                    if dS_k[i] != "zero"
                ],
            )
        zbar = None
        for q, name in enumerate(D.param_names):
            if name not in acc:
                continue
            for i in range(n):
                _accumulate(acc, name, lam[i], dth[i][q], dth_k[i][q])
            if zth_k[q] != "zero":
                zbar = torch.mul(sbar, psi) if zbar is None else zbar
                _accumulate(acc, name, zbar, zth[q], zth_k[q])
        gI[t0:t1].copy_(g_in)


def _aligned(current_shape: torch.Size, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The current's shape (T, *c) with leading 1s inserted so that c aligns with the batch."""
    T, rest = current_shape[0], tuple(current_shape[1:])
    return (T, *([1] * (len(shape) - len(rest))), *rest)


def _steps(model: NeuronModel, p: Coefficients, inputs, t0: int, t1: int, state: dict):
    """Steps t0..t1-1 of ``model.step`` (no graph) from ``state`` (the states and spike after
    step t0 - 1); returns the list of each step's new states and spike."""
    out = []
    with torch.no_grad():
        for t in range(t0, t1):
            state, _ = model.step(p, state, inputs[t], FORWARD_OPS)
            out.append(state)
    return out


def _watch(watch: OverflowWatch, t0: int, out: list[dict], names: tuple[str, ...]) -> None:
    """Show a run of steps from step ``t0`` to the overflow watch: the last step's states
    first (non-finite values persist through the affine steps), every step only when one is
    not finite."""
    if watch.first is not None or not out:
        return
    last = out[-1]
    if all(bool(torch.isfinite(last[n].sum())) for n in names):
        return
    watch.see(t0, {n: torch.stack([o[n] for o in out]) for n in names})


def _stack(out: list[dict], name: str, into: torch.Tensor) -> None:
    """Write one quantity of a run of steps into consecutive rows of a buffer (one copy)."""
    torch.stack([o[name] for o in out], out=into)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op thread count (``torch.get_num_threads``) set to 1 inside the block and
    restored after it (a switch costs about a microsecond).

    The exact path's time loops run under it: each step's operations on (B, N) tensors are too
    small to gain from a second thread, and a parallel region per operation made the loop up
    to 30x slower on a loaded machine (every region waits for its slowest thread)."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _serial(fn: Any) -> Any:
    """``fn`` run under ``one_thread``."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return fn(*args, **kwargs)

    return run


class _ExactSequence(torch.autograd.Function):
    """(current (T, *c), *tensor coefficients) -> (spikes, *pre-reset states) (T, *batch), or
    spikes alone; backward is the adjoint recursion of the model's step. ``plan.storage``:

    - "outputs": the states are returned (and saved as outputs);
    - "consume": the states are kept internally and the first one's buffer becomes dL/dI
      (so backward may run once);
    - "checkpoint": the states every ``plan.checkpoint`` steps, segments recomputed.
    """

    @staticmethod
    @_serial
    def forward(ctx, plan: _Plan, current: torch.Tensor, *coefs: torch.Tensor):
        model, shape, K = plan.model, plan.shape, plan.checkpoint
        names = model.state_names
        T = current.shape[0]
        tensors = {
            name: c.detach().to(device=current.device, dtype=current.dtype)
            for name, c in zip(plan.tensor_names, coefs, strict=True)
        }
        p = plan.coefficients(tensors, current)
        inputs = current.reshape(_aligned(current.shape, shape)).expand((T, *shape))
        spikes = current.new_empty((T, *shape))
        zeros = current.new_zeros(shape)
        state = {n: zeros for n in (*names, "S")}
        keep_current = plan.keep_current
        ctx.plan, ctx.p, ctx.current_shape = plan, p, current.shape
        ctx.params = {**plan.fixed, **tensors} if plan.partials is not None else None
        ctx.set_materialize_grads(False)
        watch = OverflowWatch()
        if plan.storage == "checkpoint":
            # the states after steps K-1, 2K-1, ...: the starts of the segments after the first
            marks = {n: current.new_empty((max(T - 1, 0) // K, *shape)) for n in names}
            for t0 in range(0, T, K):
                t1 = min(T, t0 + K)
                out = _steps(model, p, inputs, t0, t1, state)
                _watch(watch, t0, out, names)
                _stack(out, "S", spikes[t0:t1])
                state = out[-1]
                if t1 < T:
                    for n in names:
                        marks[n][t0 // K].copy_(state[n])
            ctx.save_for_backward(spikes, current, *coefs)
            ctx.kept = marks
            watch.report(model, plan.who, T)
            return (spikes,)
        # whole tensors for returned states and for the buffer that becomes dL/dI; the others
        # in blocks of rows [t0 - 1, t1) (small allocations that the allocator recycles)
        whole = names if plan.storage == "outputs" else names[:1]
        kept: dict[str, Any] = {n: current.new_empty((T, *shape)) for n in whole}
        kept.update({n: [] for n in names if n not in whole})
        for t0 in range(0, T, _BLOCK):
            t1 = min(T, t0 + _BLOCK)
            out = _steps(model, p, inputs, t0, t1, state)
            _watch(watch, t0, out, names)
            _stack(out, "S", spikes[t0:t1])
            for n in names:
                if n in whole:
                    _stack(out, n, kept[n][t0:t1])
                else:
                    rows = current.new_empty((t1 - t0 + 1, *shape))
                    rows[0].copy_(state[n])
                    _stack(out, n, rows[1:])
                    kept[n].append(rows)
            state = out[-1]
        watch.report(model, plan.who, T)
        if plan.storage == "outputs":
            outs = (spikes, *(kept[n] for n in names))
            ctx.save_for_backward(*outs, current if keep_current else None, *coefs)
            return outs
        ctx.save_for_backward(spikes, current if keep_current else None, *coefs)
        ctx.kept = kept
        return (spikes,)

    @staticmethod
    @_serial
    def backward(ctx, go: torch.Tensor | None, *gstates: torch.Tensor | None):
        plan: _Plan = ctx.plan
        p, model, names = ctx.p, plan.model, plan.model.state_names
        n_coef = len(plan.tensor_names)
        if plan.storage == "outputs":
            S, *rest = ctx.saved_tensors
            kept = dict(zip(names, rest[: len(names)], strict=True))
            current, coefs = rest[len(names)], rest[len(names) + 1 :]
        else:
            S, current, *coefs = ctx.saved_tensors
            kept = ctx.kept
            if kept is None:
                raise RuntimeError(
                    "exact backward: this sequence was already differentiated and its states "
                    "were reused for the input gradient; to backpropagate through it twice "
                    "use exact_simulate or backward='autograd'"
                )
        gst = {n: g for n, g in zip(names, gstates, strict=False) if g is not None}
        if go is None and not gst:
            return (None, None, *([None] * n_coef))
        T = S.shape[0]
        if current is not None:
            current = current.reshape(_aligned(current.shape, plan.shape)).expand(S.shape)
        if plan.storage == "checkpoint":
            blocks = _recomputed_blocks(model, p, current, S, kept, plan.checkpoint)
        else:
            blocks = _stored_blocks(names, kept, T)
        if plan.storage == "consume":
            gI = kept[names[0]]  # each block's rows are overwritten once the block is done
            ctx.kept = None
        else:
            gI = torch.empty_like(S)
        wanted = {
            n: c
            for i, (n, c) in enumerate(zip(plan.tensor_names, coefs, strict=True))
            if ctx.needs_input_grad[2 + i]
        }
        acc = _Acc(wanted, S.shape[1:], S)
        if plan.partials is not None:
            _generic_backward(plan, ctx.params, p, S, blocks, gst, go, acc, current, gI)
        else:
            _BACKWARD[plan.kind](p, S, blocks, gst, go, acc, current, gI)
        grads = [
            _reduce(acc[n], c) if n in acc else None
            for n, c in zip(plan.tensor_names, coefs, strict=True)
        ]
        g_current = None
        if ctx.needs_input_grad[1]:
            g_current = gI.sum_to_size(_aligned(ctx.current_shape, plan.shape))
            g_current = g_current.reshape(ctx.current_shape)
        return (None, g_current, *grads)


def _stored_blocks(names: tuple[str, ...], kept: dict[str, Any], T: int):
    """Blocks of ``_BLOCK`` steps, last first, from stored states: whole (T, *batch) tensors or
    lists of per-block rows [t0 - 1, t1)."""
    for t0, t1 in _blocks(T, _BLOCK):
        cur, prev = {}, {}
        for n in names:
            x = kept[n]
            if isinstance(x, list):
                rows = x[t0 // _BLOCK]
                cur[n], prev[n] = rows[1:], rows[:-1]
            else:
                cur[n], prev[n] = x[t0:t1], _prev(x, t0, t1)
        yield t0, t1, cur, prev


def _recomputed_blocks(model, p, inputs, S, marks, K):
    """The segments [jK, (j+1)K), last first, with their states recomputed by ``model.step``
    from the checkpoint before each (the same operations on the same numbers as the forward);
    yields (t0, t1, states on [t0, t1), states on [t0 - 1, t1 - 1))."""
    names = model.state_names
    T = S.shape[0]
    ext = {n: S.new_empty((K + 1, *S.shape[1:])) for n in names}
    for t0, t1 in _blocks(T, K):
        m = t1 - t0
        for n in names:
            if t0 == 0:
                ext[n][0].zero_()
            else:
                ext[n][0].copy_(marks[n][t0 // K - 1])
        state = {n: ext[n][0] for n in names}
        state["S"] = S[t0 - 1] if t0 > 0 else torch.zeros_like(S[0])
        out = _steps(model, p, inputs, t0, t1, state)
        for n in names:
            _stack(out, n, ext[n][1 : m + 1])
        yield t0, t1, {n: ext[n][1 : m + 1] for n in names}, {n: ext[n][:m] for n in names}


def _coefficient_tensor(value: Any, like: torch.Tensor) -> Any:
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=like.device, dtype=like.dtype)
    return value


def _apply(
    model: NeuronModel,
    current: torch.Tensor,
    storage: str,
    checkpoint: int,
    who: str,
    kernel: str = "auto",
):
    require_step(model, who)
    if kernel not in KERNELS:
        raise ValueError(f"{who}: unknown kernel {kernel!r}; choose one of {list(KERNELS)}")
    hand = _hand_kernel(model) if kernel != "generic" else None
    if kernel == "hand" and hand is None:
        raise ValueError(
            f"{who}: {type(model).__name__} (reset={model.reset!r}) has no hand-written adjoint "
            "kernel; use kernel='auto' or 'generic'"
        )
    if not isinstance(current, torch.Tensor):
        raise ValueError(
            f"{who}: current must be a torch tensor (T, *batch), got {type(current).__name__}"
        )
    check_layout(current, who)
    if current.dim() < 1:
        raise ValueError(f"{who}: current must have shape (T, *batch), got a scalar")
    if not current.is_floating_point():
        raise ValueError(f"{who}: current must be a floating tensor, got {current.dtype}")
    if current.dtype in LOW_PRECISION:
        raise ValueError(
            f"{who}: current has dtype {current.dtype}, too coarse for spiking dynamics; use "
            "float32 or float64"
        )
    # one reduction first (no temporaries); the element-wise test only when the sum is not
    # finite, so a sum that merely overflows is not taken for a NaN
    if not bool(torch.isfinite(current.sum())) and not bool(torch.isfinite(current).all()):
        raise ValueError(f"{who}: current contains NaN or infinite values")
    shape = batch_shape(model, tuple(current.shape))
    partials, coefficient_type = None, None
    if hand is not None:
        # a hand kernel differentiates the step's coefficients (autograd chains them further)
        record = model.coefficients(TORCH_OPS)
        values, coefficient_type = record.as_dict(), type(record)
    else:
        partials = step_partials(model)
        values = {**model.params()}
    fixed: dict[str, Any] = {}
    tensor_names: list[str] = []
    coefs: list[torch.Tensor] = []
    for name, value in values.items():
        value = _coefficient_tensor(value, current)
        if name in SWITCHES or not isinstance(value, torch.Tensor):
            fixed[name] = value
        else:
            tensor_names.append(name)
            coefs.append(value)
    if storage != "outputs" and not (
        torch.is_grad_enabled() and (current.requires_grad or any(c.requires_grad for c in coefs))
    ):
        # nothing to differentiate (inference): keep no states at all
        storage, checkpoint = "checkpoint", max(int(current.shape[0]), 1)
    if partials is not None:
        keep_current = "I" in partials.depends
    else:
        keep_current = hand is ALIF and "one_minus_alpha" in tensor_names
    plan = _Plan(
        model,
        hand if hand is not None else "generic",
        tuple(shape),
        tuple(tensor_names),
        fixed,
        storage,
        checkpoint,
        partials,
        keep_current,
        coefficient_type,
        who,
    )
    return _ExactSequence.apply(plan, current, *coefs)


def exact_simulate(model: NeuronModel, current: torch.Tensor, kernel: str = "auto") -> Trace:
    """Run ``model`` over ``current`` (T, *batch) like ``neurons.simulate``, differentiable by the
    exact adjoint recursion instead of a per-step autograd graph.

    Returns a ``Trace``: spikes (T, *batch) and pre-reset states (T, *batch), in the current's
    dtype and device. Gradients reach the current, every tensor parameter of the model
    (through ``model.coefficients``) and flow from spikes and states alike; they equal the
    autograd path of ``simulate`` up to rounding. Keeps every state for backward.

    ``kernel``: "auto" (the hand-written adjoint where the model has one, else the generic
    adjoint generated from the step), "hand" or "generic".
    """
    outs = _apply(model, current, "outputs", 0, "exact_simulate", kernel)
    # an overflow was reported by the forward (the one warning of every path)
    return Trace(outs[0], dict(zip(model.state_names, outs[1:], strict=True)), model)


def exact_spikes(
    model: NeuronModel,
    current: torch.Tensor,
    checkpoint: int | None = None,
    kernel: str = "auto",
) -> torch.Tensor:
    """The spikes (T, *batch) of ``model`` over ``current`` (T, *batch), differentiable by the
    exact adjoint recursion; what the layers' ``backward="exact"`` runs.

    ``checkpoint=None`` (fastest): the states are kept internally and backward reuses the
    first state's buffer for dL/dI, so it can run once per forward (a second backward raises).
    ``checkpoint=K``: only the spikes, the current and the states every K steps are kept;
    backward recomputes each segment of K steps with the model's step (least memory, slower).
    ``kernel`` as for ``exact_simulate``.
    """
    if checkpoint is None:
        (spikes,) = _apply(model, current, "consume", 0, "exact_spikes", kernel)
        return spikes
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 1:
        raise ValueError(
            f"exact_spikes: checkpoint must be None or an int >= 1, got {checkpoint!r}"
        )
    (spikes,) = _apply(model, current, "checkpoint", checkpoint, "exact_spikes", kernel)
    return spikes
