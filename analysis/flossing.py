r"""Surrogate gradient flossing: a differentiable estimate of the leading Lyapunov exponents of a
spiking layer's backward dynamics, and a regulariser that pushes them toward a target.

The estimate is the one of ``analysis.lyapunov`` written in torch, so that autograd reaches the
recurrent weights and the model's parameters. Along the trajectory the layer runs
(``I[t] = c[t] + W S[t-1]``, c the feed-forward drive, then the model's own step), the one-step
Jacobian of the whole layer state is read off the partial derivatives SymPy generates from the
step (``neurons.derivatives``; the reset path and the surrogate as the model's switches set
them):

    J_t[(i,a), (j,b)] = delta_ij A_i[a,b] + dF_i/dI[a] W_ij psi_j dz_j/dx[b],

``A_i = dF/dx_p + dF/dS_p psi(z[t-1]) dz/dx`` the single-neuron Jacobian. The backward QR
(Benettin) recursion ``Q_{t-1} R_t = J_t^T Q_t`` starts at the last step with the first k
columns of the identity; its first ``burn`` steps only align Q, and the exponents are the sums
of ``log|diag R_t|`` over the counted steps divided by their number (nats per step), sorted
largest first. ``qr_every = m`` multiplies m steps before each re-orthonormalisation: in exact
arithmetic the diagonal of the product of the R factors is the same, so m changes only the
rounding (columns collapse onto the leading direction as ``exp(m (lambda_1 - lambda_k))``),
and it saves m - 1 of every m QR factorisations.

Without recurrent weights (a feed-forward layer) J_t is block-diagonal and every neuron has its
own spectrum of n exponents (what ``lstmlif lyapunov`` estimates), so the estimate is one
spectrum per sequence and neuron.

The trajectory enters the gradient in one of three ways (``trajectory``):

- ``"surrogate"``: the spikes of the run carry the surrogate derivative, as the layer trains
  (what the published flossing code differentiates);
- ``"exact"``: the spikes of the run carry no derivative (the hard threshold's own derivative,
  0 almost everywhere): the gradient is the true derivative of the estimate, which finite
  differences check;
- ``"detached"``: the trajectory is a constant; only the Jacobian entries' explicit dependence
  on W and the parameters is differentiated.

Flossing (Engelken, NeurIPS 2023; its surrogate-gradient version for spiking networks) adds
``sum_i (lambda_i - target_i)^2`` over the leading k exponents (here the means over the
batch) to the loss: before training (``prefloss``) and/or every n updates during it
(``FlossingRegularizer``). Both find the recurrent layers of a network by their attributes
(``neuron``, ``w_in``, ``w_rec``, ``input_gain``: the experiments' ``RecurrentSpikingLayer``)
and capture each layer's input with a forward pre-hook, so any network built of such layers
works without change.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lstmlif.neurons import TORCH_OPS, NeuronModel, Ops
from lstmlif.neurons.derivatives import step_partials
from lstmlif.neurons.mathspace import TORCH_MATH

__all__ = [
    "TRAJECTORIES",
    "LayerRun",
    "run_layer",
    "jacobian_parts",
    "layer_exponents",
    "exponents",
    "flossing_layers",
    "layer_inputs",
    "network_exponents",
    "flossing_loss",
    "FlossingRegularizer",
    "prefloss",
]

TRAJECTORIES = ("surrogate", "exact", "detached")


# ----------------------------------------------------------------------------- validation


def _int(name: str, value: Any, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return value


def _finite(name: str, value: Any, lo: float = 0.0, strict: bool = False) -> float:
    """``value`` as a float when it is a finite real number ``> lo`` (``strict``) or ``>= lo``;
    else a ValueError naming ``name``."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value > lo if strict else value >= lo)
    )
    if not ok:
        raise ValueError(
            f"{name} must be a finite number {'>' if strict else '>='} {lo:g}, got {value!r}"
        )
    return float(value)


def _trajectory(who: str, trajectory: Any) -> str:
    """``trajectory`` when it is one of ``TRAJECTORIES``; else a ValueError naming it."""
    if trajectory not in TRAJECTORIES:
        raise ValueError(f"{who}: unknown trajectory {trajectory!r}; choose one of {TRAJECTORIES}")
    return trajectory


def _tensor_model(model: NeuronModel, like: torch.Tensor, who: str) -> NeuronModel:
    """``model`` with every parameter a tensor of ``like``'s dtype and device (gradients kept)."""
    if not isinstance(model, NeuronModel):
        raise ValueError(f"{who}: expected a neuron model, got {type(model).__name__}")
    changes = {}
    for name, value in model.params().items():
        if isinstance(value, torch.Tensor):
            changes[name] = value.to(device=like.device, dtype=like.dtype)
        else:
            try:
                changes[name] = torch.as_tensor(value, dtype=like.dtype, device=like.device)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(
                    f"{who}: parameter '{name}' must be numeric, got {value!r}"
                ) from None
    return model.replace(**changes)


def _exact_spike(x: torch.Tensor, surrogate: Any) -> torch.Tensor:
    return (x >= 0).to(x.dtype)


#: Torch ops whose spike has no derivative (the hard threshold's own, 0 almost everywhere).
_EXACT_OPS = Ops("torch-exact", TORCH_MATH, _exact_spike, lambda x: x.detach(), torch.zeros_like)


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class LayerRun:
    """A layer's trajectory in torch.

    Attributes
    ----------
    model : NeuronModel
        The neuron model with tensor parameters (the run's dtype).
    states : dict of str to torch.Tensor
        Name -> (T, B, H) the carried (pre-reset) states.
    spikes : torch.Tensor
        (T, B, H).
    current : torch.Tensor
        (T, B, H) the total input ``I[t] = c[t] + S[t-1] W^T`` each neuron received.
    w_rec : torch.Tensor or None
        (H, H), or None (feed-forward).
    """

    model: NeuronModel
    states: dict[str, torch.Tensor]
    spikes: torch.Tensor
    current: torch.Tensor
    w_rec: torch.Tensor | None


def run_layer(
    model: NeuronModel,
    drive: torch.Tensor,
    w_rec: torch.Tensor | None = None,
    trajectory: str = "surrogate",
) -> LayerRun:
    """Run one layer: ``I[t] = drive[t] + S[t-1] W^T``, then ``model.step`` (the loop of the
    experiments' recurrent layer); states start at 0.

    Parameters
    ----------
    model : NeuronModel
        Any registered model; its parameters become tensors of ``drive``'s dtype (gradients kept).
    drive : torch.Tensor
        (T, B, H), the feed-forward current ``c[t]`` (input weights, bias and gain applied).
    w_rec : torch.Tensor or None
        (H, H) recurrent weights ``W``; None: a feed-forward layer.
    trajectory : str
        One of ``TRAJECTORIES``: how the run enters the gradient (module docstring).

    Returns
    -------
    LayerRun
        States, spikes and total currents (T, B, H).
    """
    who = "run_layer"
    _trajectory(who, trajectory)
    if not isinstance(drive, torch.Tensor) or drive.dim() != 3 or not drive.is_floating_point():
        shape = tuple(drive.shape) if isinstance(drive, torch.Tensor) else type(drive).__name__
        raise ValueError(f"{who}: drive must be a float tensor of shape (T, B, H), got {shape}")
    T, B, H = drive.shape
    if T < 2:
        raise ValueError(f"{who}: need at least 2 steps, got T = {T}")
    if w_rec is not None:
        if not isinstance(w_rec, torch.Tensor) or tuple(w_rec.shape) != (H, H):
            shape = tuple(w_rec.shape) if isinstance(w_rec, torch.Tensor) else type(w_rec)
            raise ValueError(f"{who}: w_rec must be a tensor of shape ({H}, {H}), got {shape}")
        w_rec = w_rec.to(drive.dtype)
        if not bool(torch.isfinite(w_rec.detach()).all()):
            raise ValueError(f"{who}: w_rec contains NaN or infinite values")
    if not bool(torch.isfinite(drive.detach()).all()):
        raise ValueError(f"{who}: drive contains NaN or infinite values")
    model = _tensor_model(model, drive, who)
    ops = TORCH_OPS if trajectory == "surrogate" else _EXACT_OPS
    with torch.set_grad_enabled(torch.is_grad_enabled() and trajectory != "detached"):
        p = model.coefficients(ops).on(drive)
        zeros = drive.new_zeros((B, H))
        state: dict[str, Any] = {n: zeros for n in model.state_names}
        state["S"] = zeros
        recs: dict[str, list[torch.Tensor]] = {n: [] for n in model.state_names}
        spikes, currents = [], []
        for c_t in drive.unbind(0):
            I_t = c_t if w_rec is None else c_t + state["S"] @ w_rec.T
            state, S = model.step(p, state, I_t, ops)
            for n in model.state_names:
                recs[n].append(state[n])
            spikes.append(S)
            currents.append(I_t)
        states = {n: torch.stack(v) for n, v in recs.items()}
        out = LayerRun(model, states, torch.stack(spikes), torch.stack(currents), w_rec)
    bad = [n for n, x in out.states.items() if not bool(torch.isfinite(x.detach()).all())]
    if bad:
        raise ValueError(
            f"{who}: the trajectory overflows (state(s) {bad} not finite); the backward "
            "dynamics along it are not defined"
        )
    return out


# ----------------------------------------------------------------------------- Jacobians


def jacobian_parts(
    run: LayerRun, start: int | None = None, stop: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pieces of the layer Jacobians of steps ``t = start..stop-1``, differentiable.

    ``J_t = blockdiag(A) + dI W c^T`` (module docstring), from the generated partials.

    Parameters
    ----------
    run : LayerRun
        The trajectory (``run_layer``).
    start, stop : int, optional
        The window, ``1 <= start < stop <= T`` (default 1 and T).

    Returns
    -------
    tuple of torch.Tensor
        ``A`` (K, B, H, n, n) the single-neuron spike-aware Jacobians, ``dI`` (K, B, H, n)
        ``= dF/dI`` and ``c`` (K, B, H, n) ``= psi(z[t-1]) dz/dx[t-1]``, K = stop - start.
    """
    model = run.model
    S, I = run.spikes, run.current
    T = S.shape[0]
    start = 1 if start is None else _int("start", start)
    stop = T if stop is None else _int("stop", stop)
    if not 1 <= start < stop <= T:
        raise ValueError(f"jacobian_parts: need 1 <= start < stop <= T = {T}, got {start}, {stop}")
    D = step_partials(model)
    n = D.n
    theta = list(model.params().values())
    xs = [run.states[name] for name in model.state_names]
    p = model.coefficients(TORCH_OPS).on(S)
    z = model.spike_argument(p, run.states, TORCH_OPS)
    psi = model.surrogate.psi(z, TORCH_MATH)
    now, prev = slice(start, stop), slice(start - 1, stop - 1)
    shape = S[now].shape

    def full(e: Any) -> torch.Tensor:
        return torch.as_tensor(e, dtype=S.dtype, device=S.device).expand(shape)

    x_prev = [x[prev] for x in xs]
    flat = D.torch["partials"](*x_prev, S[prev], I[now], S[now], psi[now], *theta)
    dx, dS, dI, _ = D.split([full(e) for e in flat])
    zx = [full(e) for e in D.torch["z"](*x_prev, *theta)[:n]]
    c = torch.stack([psi[prev] * zx[j] for j in range(n)], dim=-1)
    rows = [torch.stack([dx[i][j] + dS[i] * c[..., j] for j in range(n)], -1) for i in range(n)]
    return torch.stack(rows, dim=-2), torch.stack(list(dI), dim=-1), c


# ----------------------------------------------------------------------------- QR recursion


def layer_exponents(
    run: LayerRun,
    k: int = 1,
    qr_every: int = 1,
    burn: int = 0,
    start: int | None = None,
    stop: int | None = None,
) -> torch.Tensor:
    """The leading ``k`` Lyapunov exponents of the layer's backward dynamics, differentiable.

    The backward QR recursion ``Q_{t-1} R_t = J_t^T Q_t`` over steps start..stop-1 starts at
    the last step with the first k columns of the identity; ``J^T Q`` is applied without
    forming J: ``(J^T Q)_(j,b) = sum_a A_j[a,b] Q_(j,a) + c_j[b] sum_i W_ij sum_a dI_i[a]
    Q_(i,a)``.

    Parameters
    ----------
    run : LayerRun
        The trajectory (``run_layer``).
    k : int
        How many exponents: ``k <= H n`` (recurrent) or ``k <= n`` (feed-forward).
    qr_every : int
        Steps multiplied between QR factorisations (the same exponents up to rounding).
    burn : int
        The first ``burn`` steps processed (the latest in time) only align Q.
    start, stop : int, optional
        The window of steps (default 1 and T).

    Returns
    -------
    torch.Tensor
        Nats per step, largest first: (B, k) for a recurrent layer (one spectrum per
        sequence), (B, H, k) for a feed-forward one (per sequence and neuron).
    """
    who = "layer_exponents"
    k = _int(f"{who}: k", k)
    qr_every = _int(f"{who}: qr_every", qr_every)
    burn = _int(f"{who}: burn", burn, 0)
    A, dI, c = jacobian_parts(run, start, stop)
    K, B, H, n = dI.shape
    W = run.w_rec
    N = H * n if W is not None else n
    if k > N:
        raise ValueError(f"{who}: k must be at most the state dimension {N}, got {k}")
    if burn >= K:
        raise ValueError(f"{who}: burn = {burn} leaves no step of the {K} in the window")
    # one unbind per piece (a single backward node each; indexing step by step would make
    # every step's backward allocate a gradient of the whole window)
    A_ = A.unsqueeze(-1).unbind(0)  # (B, H, n, n, 1) each: A^T q as a broadcast sum
    dI_, c_ = dI.unsqueeze(-1).unbind(0), c.unsqueeze(-1).unbind(0)

    def own(i: int, q: torch.Tensor) -> torch.Tensor:
        return (A_[i] * q.unsqueeze(-2)).sum(dim=-3)

    eye = torch.eye(N, k, dtype=A.dtype, device=A.device)
    if W is not None:
        WT = W.T

        def apply(i: int, Q: torch.Tensor) -> torch.Tensor:
            q = Q.reshape(B, H, n, k)
            mine = own(i, q)
            v = WT @ (dI_[i] * q).sum(dim=-2)
            return (mine + c_[i] * v.unsqueeze(-2)).reshape(B, N, k)

        Q = eye.expand(B, N, k)
    else:

        def apply(i: int, Q: torch.Tensor) -> torch.Tensor:
            return own(i, Q)

        Q = eye.expand(B, H, N, k)
    acc = None
    pending = 0
    for done, i in enumerate(range(K - 1, -1, -1), start=1):
        Q = apply(i, Q)
        pending += 1
        if pending < qr_every and done != burn and i != 0:
            continue
        if k == 1:  # the QR of one column is its normalisation
            norm = torch.linalg.vector_norm(Q, dim=-2)
            lr = torch.log(norm)
            zero = (norm == 0).unsqueeze(-2)
            if bool(zero.any()):  # J^T Q = 0 exactly: -inf, and Q restarts at e_1
                Q = torch.where(zero, eye[:, :1], Q)
                norm = torch.where(norm == 0, torch.ones_like(norm), norm)
            Q = Q / norm.unsqueeze(-2)
        else:
            Q, R = torch.linalg.qr(Q)
            lr = torch.log(torch.abs(torch.diagonal(R, dim1=-2, dim2=-1)))
        pending = 0
        if done > burn:
            acc = lr if acc is None else acc + lr
    assert acc is not None  # burn < K: at least one counted block
    return torch.sort(acc / (K - burn), dim=-1, descending=True).values


def exponents(
    model: NeuronModel,
    drive: torch.Tensor,
    w_rec: torch.Tensor | None = None,
    k: int = 1,
    qr_every: int = 1,
    burn: int = 0,
    warmup: int = 0,
    trajectory: str = "surrogate",
) -> torch.Tensor:
    """The leading ``k`` exponents of a layer run on ``drive``, differentiable.

    ``layer_exponents(run_layer(model, drive, w_rec, trajectory), k, qr_every, burn,
    start=warmup + 1)``: the Jacobians of the first ``warmup`` steps (the transient from rest)
    are dropped.

    Parameters
    ----------
    model : NeuronModel
        Any registered model.
    drive : torch.Tensor
        (T, B, H) feed-forward current.
    w_rec : torch.Tensor or None
        (H, H), or None for a feed-forward layer.
    k, qr_every, burn : int
        As in ``layer_exponents``.
    warmup : int
        Steps dropped at the start.
    trajectory : str
        One of ``TRAJECTORIES``.

    Returns
    -------
    torch.Tensor
        (B, k) recurrent or (B, H, k) feed-forward, nats per step, largest first.
    """
    warmup = _int("exponents: warmup", warmup, 0)
    run = run_layer(model, drive, w_rec, trajectory)
    return layer_exponents(run, k, qr_every, burn, start=warmup + 1)


# ----------------------------------------------------------------------------- networks


def _is_recurrent_layer(m: nn.Module) -> bool:
    return all(hasattr(m, a) for a in ("neuron", "w_in", "w_rec", "input_gain"))


def _is_neuron_layer(m: nn.Module) -> bool:
    return callable(getattr(m, "model", None)) and isinstance(getattr(m, "size", None), int)


def flossing_layers(net: nn.Module) -> list[nn.Module]:
    """The layers flossing acts on: every recurrent layer of ``net`` (a module with ``neuron``,
    ``w_in``, ``w_rec`` and ``input_gain``, as the experiments' ``RecurrentSpikingLayer``) that
    has recurrent weights, in module order; ``[net]`` for such a layer itself or for a bare
    neuron layer (``neurons.SpikingLayer``: feed-forward exponents, per neuron)."""
    if not isinstance(net, nn.Module):
        raise ValueError(f"flossing_layers: expected a torch module, got {type(net).__name__}")
    if _is_recurrent_layer(net) or _is_neuron_layer(net):
        return [net]
    found = [m for m in net.modules() if _is_recurrent_layer(m) and m.w_rec is not None]
    if not found:
        raise ValueError(
            f"flossing_layers: {type(net).__name__} has no recurrent spiking layer (a module "
            "with neuron, w_in, w_rec and input_gain) and is no neuron layer"
        )
    return found


def layer_inputs(net: nn.Module, x: torch.Tensor, layers: Sequence[nn.Module]) -> list[Any]:
    """What each of ``layers`` receives when ``net(x)`` runs (captured by forward pre-hooks,
    without a graph): the input (T, B, n_in) of a recurrent layer, the current (T, B, H) of a
    neuron layer. ``x`` itself when ``layers == [net]``."""
    if len(layers) == 1 and layers[0] is net:
        return [x]
    seen: dict[int, Any] = {}
    handles = []
    for i, layer in enumerate(layers):

        def hook(module: nn.Module, args: tuple, i: int = i) -> None:
            seen.setdefault(i, args[0].detach())

        handles.append(layer.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    missing = [i for i in range(len(layers)) if i not in seen]
    if missing:
        raise ValueError(f"layer_inputs: layers {missing} did not run in net(x)")
    return [seen[i] for i in range(len(layers))]


def _layer_run(layer: nn.Module, inp: torch.Tensor, trajectory: str) -> LayerRun:
    if _is_recurrent_layer(layer):
        drive = layer.w_in(inp) * layer.input_gain
        w = layer.w_rec.weight if layer.w_rec is not None else None
        return run_layer(layer.neuron.model(), drive, w, trajectory)
    return run_layer(layer.model(), inp, None, trajectory)


def _chosen_layers(net: nn.Module, layers: Sequence[int] | None, who: str) -> list[nn.Module]:
    found = flossing_layers(net)
    if layers is None:
        return found
    bad = [i for i in layers if not (isinstance(i, int) and 0 <= i < len(found))]
    if bad or not layers:
        raise ValueError(f"{who}: layers must be indices in [0, {len(found)}), got {layers!r}")
    return [found[i] for i in layers]


def network_exponents(
    net: nn.Module,
    x: torch.Tensor,
    k: int = 1,
    qr_every: int = 1,
    burn: int = 0,
    warmup: int = 0,
    trajectory: str = "surrogate",
    layers: Sequence[int] | None = None,
) -> list[torch.Tensor]:
    """The leading ``k`` exponents of each flossing layer of ``net`` on input ``x``.

    Each layer (``flossing_layers``) is rerun, differentiably, on the input it receives in
    ``net(x)`` (``layer_inputs``).

    Parameters
    ----------
    net : torch.nn.Module
        A network of recurrent spiking layers, one such layer, or a neuron layer.
    x : torch.Tensor
        (T, B, C) the network's input.
    k, qr_every, burn, warmup, trajectory
        As in ``exponents``.
    layers : sequence of int, optional
        Indices into ``flossing_layers(net)`` (default: all).

    Returns
    -------
    list of torch.Tensor
        One per layer: (B, k) recurrent or (B, H, k) feed-forward.
    """
    found = _chosen_layers(net, layers, "network_exponents")
    warmup = _int("network_exponents: warmup", warmup, 0)
    inputs = layer_inputs(net, x, found)
    return [
        layer_exponents(_layer_run(layer, inp, trajectory), k, qr_every, burn, start=warmup + 1)
        for layer, inp in zip(found, inputs, strict=True)
    ]


def _targets(target: float | Sequence[float], k: int) -> list[float]:
    values = [target] * k if isinstance(target, (int, float)) else list(target)
    if len(values) != k:
        raise ValueError(f"flossing: give one target or k = {k} targets, got {len(values)}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"flossing: targets must be finite numbers, got {v!r}")
        out.append(float(v))
    return out


def flossing_loss(spectra: Sequence[torch.Tensor], target: float | Sequence[float]) -> torch.Tensor:
    """The flossing loss ``sum over layers sum_i (mean lambda_i - target_i)^2``.

    Parameters
    ----------
    spectra : sequence of torch.Tensor
        Exponents (..., k) per layer (``network_exponents``), averaged over every axis but
        the last.
    target : float or sequence of float
        One target for all k exponents, or one per exponent.

    Returns
    -------
    torch.Tensor
        A differentiable scalar.

    Raises
    ------
    ValueError
        For a non-finite exponent (a step with ``J = 0``, e.g. a hard reset from outside the
        surrogate window, makes it -inf) or a wrong number of targets.
    """
    total = None
    for lam in spectra:
        mean = lam.reshape(-1, lam.shape[-1]).mean(dim=0)
        if not bool(torch.isfinite(mean.detach()).all()):
            raise ValueError(
                f"flossing: a non-finite exponent {mean.detach().tolist()} (a step with J = 0 "
                "zeroes the gradient exactly); flossing needs finite exponents"
            )
        tgt = torch.tensor(_targets(target, lam.shape[-1]), dtype=mean.dtype, device=mean.device)
        term = ((mean - tgt) ** 2).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("flossing_loss: no exponents given")
    return total


# ----------------------------------------------------------------------------- the regulariser


@dataclass
class FlossingRegularizer:
    """Flossing during training: ``weight * sum_i (lambda_i - target_i)^2`` over the leading
    ``k`` exponents of each flossing layer (``flossing_loss``), added to the task loss every
    ``every`` updates.

    Use ``if reg.due(i): loss = loss + reg(net, x)`` before ``loss.backward()`` at update i
    (0-based: due at 0, every, 2 every...).

    Parameters
    ----------
    k : int
        How many leading exponents.
    target : float or sequence of float
        One target for all, or k targets (nats per step).
    every : int
        The term is due every ``every`` updates.
    weight : float
        Its weight (>= 0).
    qr_every, burn, warmup, trajectory, layers
        As in ``network_exponents``.
    batch : int, optional
        Estimate on the first ``batch`` sequences of x (T, B, C) only (None: all; the cost
        grows with it).

    Attributes
    ----------
    last : list of list of float
        The batch-mean exponents of the last evaluation, one list per layer.
    seconds : float
        The time the last evaluation took (its backward not included).
    """

    k: int = 1
    target: float | Sequence[float] = 0.0
    every: int = 1
    weight: float = 1.0
    qr_every: int = 1
    burn: int = 0
    warmup: int = 0
    trajectory: str = "surrogate"
    layers: Sequence[int] | None = None
    batch: int | None = None
    last: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        who = "FlossingRegularizer"
        _int(f"{who}: k", self.k)
        _int(f"{who}: every", self.every)
        _int(f"{who}: qr_every", self.qr_every)
        _int(f"{who}: burn", self.burn, 0)
        _int(f"{who}: warmup", self.warmup, 0)
        if self.batch is not None:
            _int(f"{who}: batch", self.batch)
        _targets(self.target, self.k)
        _finite(f"{who}: weight", self.weight)
        _trajectory(who, self.trajectory)

    def due(self, update: int) -> bool:
        """Whether update ``update`` (0-based) carries the flossing term."""
        return _int("FlossingRegularizer.due: update", update, 0) % self.every == 0

    def exponents(self, net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """``network_exponents`` with this regulariser's settings."""
        if self.batch is not None:
            x = x[:, : self.batch]
        return network_exponents(
            net, x, self.k, self.qr_every, self.burn, self.warmup, self.trajectory, self.layers
        )

    def __call__(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The weighted flossing term (a differentiable scalar) on input ``x``."""
        t0 = time.perf_counter()
        spectra = self.exponents(net, x)
        loss = self.weight * flossing_loss(spectra, self.target)
        self.last = [lam.detach().reshape(-1, self.k).mean(0).tolist() for lam in spectra]
        self.seconds = time.perf_counter() - t0
        return loss


def _batch(inputs: torch.Tensor | Callable[[int], Any], i: int) -> torch.Tensor:
    x = inputs(i) if callable(inputs) else inputs
    if isinstance(x, (tuple, list)):
        x = x[0]
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"prefloss: inputs must give tensors, got {type(x).__name__}")
    return x


def prefloss(
    net: nn.Module,
    inputs: torch.Tensor | Callable[[int], Any],
    k: int = 1,
    target: float | Sequence[float] = 0.0,
    updates: int = 100,
    lr: float = 1e-3,
    params: Sequence[nn.Parameter] | None = None,
    qr_every: int = 1,
    burn: int = 0,
    warmup: int = 0,
    trajectory: str = "surrogate",
    layers: Sequence[int] | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """Pre-flossing: Adam steps on the flossing loss alone (weight 1) before training.

    Parameters
    ----------
    net : torch.nn.Module
        As in ``network_exponents``.
    inputs : torch.Tensor or callable
        A tensor (T, B, C) used at every update, or ``inputs(i)`` giving the input of update i
        (or a tuple whose first entry is it, as the runner's ``batches``).
    k, target
        As in ``flossing_loss``.
    updates : int
        Number of Adam steps.
    lr : float
        Learning rate.
    params : sequence of torch.nn.Parameter, optional
        What is updated (default: every parameter of the flossing layers: input and recurrent
        weights and the trained neuron parameters).
    qr_every, burn, warmup, trajectory, layers
        As in ``network_exponents``.
    batch : int, optional
        Estimate on the first ``batch`` sequences of each input only.

    Returns
    -------
    dict
        ``before`` and ``after`` (batch-mean exponents per layer, on update 0's input),
        ``losses`` (one per update) and ``seconds``. Modules with ``clamp_`` are projected
        after each step.
    """
    updates = _int("prefloss: updates", updates)
    _finite("prefloss: lr", lr, strict=True)
    reg = FlossingRegularizer(k, target, 1, 1.0, qr_every, burn, warmup, trajectory, layers, batch)
    if params is None:
        chosen = _chosen_layers(net, layers, "prefloss")
        params = [p for layer in chosen for p in layer.parameters() if p.requires_grad]
    params = list(params)
    if not params:
        raise ValueError("prefloss: nothing to update (no parameter requires a gradient)")
    opt = torch.optim.Adam(params, lr=lr)
    x0 = _batch(inputs, 0)

    def measure() -> list[list[float]]:
        with torch.no_grad():
            return [lam.reshape(-1, k).mean(0).tolist() for lam in reg.exponents(net, x0)]

    before = measure()
    losses = []
    t0 = time.perf_counter()
    for i in range(updates):
        loss = reg(net, _batch(inputs, i))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for m in net.modules():
            if callable(getattr(m, "clamp_", None)):
                m.clamp_()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - t0
    return {"before": before, "after": measure(), "losses": losses, "seconds": seconds}
