"""Gradient flow: how far back a gradient reaches.

Two views of the same question.

- **Single neurons.** The one-step Jacobian ``J_t = d x[t] / d x[t-1]`` of a model's update map
  (``model.transition``, spike-aware through the surrogate psi) is taken by autograd along a
  real trajectory; products ``d x[T] / d x[T-k] = J_T J_{T-1} ... J_{T-k+1}`` are accumulated
  with renormalisation at every step and reported as log10 norms, so that ``0.8**10000`` is
  ``-969.1`` and never a silent 0.
- **Networks.** The feed-forward S-MNIST network of docs/models.md (``Linear(1,64) -> neuron ->
  Linear(64,256) -> neuron -> Linear(256,256) -> neuron -> Linear(256,10)``, readout summed over
  time, cross-entropy) is run on a batch; hooks on the autograd nodes that produce each step's
  tensors collect the *total* derivative ``dL/dx[t]`` of every neuron at every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmlif.neurons import NeuronModel, Trace, make_layer, model_class, simulate
from lstmlif.neurons.ops import TORCH_OPS

__all__ = [
    "NORM_ORDERS",
    "soma",
    "jacobians_along",
    "log10_product_norms",
    "log10_matrix_norm",
    "trajectory_flow",
    "TrajectoryFlow",
    "quantile_band",
    "digits_sequences",
    "FeedForwardSNN",
    "GradientMaps",
    "network_gradient_maps",
]

NORM_ORDERS = (1, 2, np.inf, "fro")


def soma(model: str | NeuronModel) -> str:
    """The state whose gradient the network maps report: the potential compared with the
    threshold (the registered ``threshold_state``: the membrane for LIF and ALIF, the soma for
    the two-compartment neurons)."""
    return model_class(model).threshold_state


# ----------------------------------------------------------------------------- norms


def _check_ord(ord: Any) -> Any:
    if isinstance(ord, bool) or ord not in NORM_ORDERS:
        raise ValueError(f"unknown matrix norm order {ord!r}; choose one of [1, 2, inf, 'fro']")
    return ord


def _matrix_norm(M: np.ndarray, ord: Any) -> np.ndarray:
    """Norms of a stack of matrices (..., n, n): 1 (max abs column sum), 2 (largest singular
    value), inf (max abs row sum) or 'fro'."""
    if ord == 1:
        return np.abs(M).sum(axis=-2).max(axis=-1)
    if ord == "fro":
        return np.sqrt((M * M).sum(axis=(-2, -1)))
    if ord == 2:
        return np.linalg.svd(M, compute_uv=False)[..., 0]
    return np.abs(M).sum(axis=-1).max(axis=-1)


def log10_matrix_norm(M: np.ndarray, ord: Any = 2) -> np.ndarray:
    """log10 ||M|| for a stack of matrices M of shape (..., n, n); -inf where M = 0."""
    _check_ord(ord)
    M = np.asarray(M, dtype=np.float64)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"log10_matrix_norm: expected square matrices (..., n, n), got {M.shape}")
    with np.errstate(divide="ignore"):
        return np.log10(_matrix_norm(M, ord))


def log10_product_norms(jacobians: np.ndarray, ord: Any = 2) -> np.ndarray:
    """log10 || J_K J_{K-1} ... J_{K-k+1} || for k = 1..K: the reach of a gradient k steps back.

    jacobians: (K, *batch, n, n), ``jacobians[i]`` the one-step Jacobian of step i (time runs
    forward along axis 0). Returns (K, *batch); row k-1 is the product of the last k Jacobians.
    The running product is divided by its largest absolute entry at every step and the log10 of
    that scale accumulated, so no product under- or overflows; an exactly zero product gives
    -inf (and stays -inf), never a silent 0.
    """
    _check_ord(ord)
    J = np.asarray(jacobians, dtype=np.float64)
    if J.ndim < 3 or J.shape[-1] != J.shape[-2]:
        raise ValueError(
            f"log10_product_norms: jacobians must have shape (K, *batch, n, n), got {J.shape}"
        )
    if not np.all(np.isfinite(J)):
        raise ValueError("log10_product_norms: jacobians contain NaN or infinite values")
    K = J.shape[0]
    batch = J.shape[1:-2]
    n = J.shape[-1]
    M = np.broadcast_to(np.eye(n), (*batch, n, n)).copy()
    log_scale = np.zeros(batch)
    normed = np.empty((K, *batch, n, n))
    scales = np.empty((K, *batch))
    for k in range(K):
        M = M @ J[K - 1 - k]
        c = np.abs(M).max(axis=(-2, -1))
        zero = c == 0
        safe = np.where(zero, 1.0, c)
        M = M / safe[..., None, None]
        with np.errstate(divide="ignore"):
            log_scale = log_scale + np.where(zero, -np.inf, np.log10(safe))
        normed[k] = M
        scales[k] = log_scale
    with np.errstate(divide="ignore", invalid="ignore"):
        out = scales + np.log10(_matrix_norm(normed, ord))
    return np.where(np.isneginf(scales), -np.inf, out)


# ----------------------------------------------------------------------------- jacobians


def _torch_params(model: NeuronModel) -> NeuronModel:
    """The same model with array parameters as float64 tensors (for autograd)."""
    changes = {
        k: torch.as_tensor(v, dtype=torch.float64)
        for k, v in model.params().items()
        if isinstance(v, np.ndarray)
    }
    return model.replace(**changes) if changes else model


def jacobians_along(model: NeuronModel, trace: Trace, current: Any) -> np.ndarray:
    """Spike-aware one-step Jacobians along a simulated trajectory.

    trace: ``simulate(model, current)`` (NumPy); current: (T, *batch). Returns (T-1, *batch, n, n)
    with ``out[t-1] = d x[t] / d x[t-1]`` for t = 1..T-1, x the pre-reset potentials in the
    order ``model.state_names``. Computed by autograd of ``model.transition`` in float64, so
    psi, the reset and ``detach_reset`` enter exactly as in the step function.
    """
    current = np.asarray(current, dtype=np.float64)
    names = model.state_names
    for name in names:
        if np.shape(trace.states[name]) != np.shape(trace.spikes):
            raise ValueError(f"jacobians_along: state '{name}' does not match the spikes' shape")
    if current.shape[0] != np.shape(trace.spikes)[0]:
        raise ValueError(
            f"jacobians_along: current has {current.shape[0]} steps, the trace "
            f"{np.shape(trace.spikes)[0]}"
        )
    if current.shape[0] < 2:
        raise ValueError("jacobians_along: need at least 2 steps")
    tmodel = _torch_params(model)
    prev = {
        n: torch.tensor(np.asarray(trace.states[n])[:-1], dtype=torch.float64, requires_grad=True)
        for n in names
    }
    I = torch.as_tensor(current[1:], dtype=torch.float64)
    I = I.expand(prev[names[0]].shape)
    new = tmodel.transition(prev, I, ops=TORCH_OPS)
    n = len(names)
    out = np.empty((*prev[names[0]].shape, n, n))
    inputs = [prev[m] for m in names]
    for i, name in enumerate(names):
        grads = torch.autograd.grad(
            new[name].sum(), inputs, retain_graph=i < n - 1, allow_unused=True
        )
        for j, g in enumerate(grads):
            out[..., i, j] = 0.0 if g is None else g.numpy()
    return out


@dataclass(frozen=True)
class TrajectoryFlow:
    """Gradient reach along one batch of trajectories.

    log10_norms: ``(kmax, *batch)``, row k-1 = log10 ||d x[T-1] / d x[T-1-k]||; rate: spikes
    per step per neuron, ``(*batch)``; jacobians: ``(T-1, *batch, n, n)``; trace: the
    simulation.
    """

    log10_norms: np.ndarray
    rate: np.ndarray
    jacobians: np.ndarray
    trace: Trace


def trajectory_flow(
    model: NeuronModel, current: Any, kmax: int | None = None, ord: Any = 2
) -> TrajectoryFlow:
    """Simulate ``model`` on ``current`` (T, *batch) and measure how the gradient of the final
    state reaches back: log10 ||d x[T-1] / d x[T-1-k]|| for k = 1..kmax (default T-1), spike-aware
    Jacobians, log-space products. Returns a ``TrajectoryFlow``."""
    current = np.asarray(current, dtype=np.float64)
    if current.ndim < 1:
        raise ValueError("trajectory_flow: current must have shape (T, *batch)")
    T = current.shape[0]
    kmax = T - 1 if kmax is None else int(kmax)
    if not 1 <= kmax <= T - 1:
        raise ValueError(f"trajectory_flow: kmax must lie in [1, T-1] = [1, {T - 1}], got {kmax}")
    trace = simulate(model, current)
    J = jacobians_along(model, trace, current)
    logs = log10_product_norms(J[T - 1 - kmax :], ord=ord)
    return TrajectoryFlow(logs, np.asarray(trace.spikes).mean(axis=0), J, trace)


def quantile_band(values: np.ndarray, q: Sequence[float] = (0.1, 0.5, 0.9)) -> np.ndarray:
    """Quantiles over axis 1 of ``values`` (k, samples) -> (len(q), k), taken as order statistics
    (no interpolation), so that -inf entries (exactly vanished products) are ranked, not NaN."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    q = np.asarray(q, dtype=np.float64)
    if np.any((q < 0) | (q > 1)) or np.any(np.isnan(q)):
        raise ValueError(f"quantile_band: quantiles must lie in [0, 1], got {q}")
    if np.any(np.isnan(values)):
        raise ValueError("quantile_band: values contain NaN")
    return np.quantile(values, q, axis=1, method="inverted_cdf")


# ----------------------------------------------------------------------------- network maps


def digits_sequences(
    batch: int = 256, seed: int = 0, side: int = 28
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8x8 digits that scikit-learn ships (no download), upsampled bilinearly to
    ``side`` x ``side``, scaled to [0, 1] and read pixel by pixel.

    Returns (x, y): x of shape (side*side, batch, 1) float32, y labels of shape (batch,) int64;
    the ``batch`` images are drawn without replacement with ``seed``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = len(digits.target)
    if not isinstance(batch, int) or not 1 <= batch <= n:
        raise ValueError(f"digits_sequences: batch must be an int in [1, {n}], got {batch!r}")
    if not isinstance(side, int) or side < 2:
        raise ValueError(f"digits_sequences: side must be an int >= 2, got {side!r}")
    idx = np.random.default_rng(seed).permutation(n)[:batch]
    img = torch.as_tensor(digits.images[idx] / 16.0, dtype=torch.float32)[:, None]
    big = nn.functional.interpolate(img, size=(side, side), mode="bilinear", align_corners=False)
    x = big.clamp(0.0, 1.0).reshape(batch, side * side).T.unsqueeze(-1).contiguous()
    return x, torch.as_tensor(digits.target[idx], dtype=torch.int64)


class FeedForwardSNN(nn.Module):
    """The feed-forward S-MNIST network: Linear -> neuron layer, repeated, then a Linear readout
    summed over time (``readout="sum"``, docs/models.md) or taken at the last step only
    (``readout="last"``). ``sizes`` = (1, 64, 256, 256, 10) by default; ``model`` is any
    registered model name; ``layer_kwargs`` go to every neuron layer (defaults: the model's
    layer defaults, for the paper's models the paper's initialisation). Parameters are
    initialised with PyTorch's defaults under ``seed``.
    """

    def __init__(
        self,
        model: str,
        sizes: Sequence[int] = (1, 64, 256, 256, 10),
        seed: int = 0,
        readout: str = "sum",
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        if readout not in ("sum", "last"):
            raise ValueError(f"FeedForwardSNN: readout must be 'sum' or 'last', got {readout!r}")
        self.readout = readout
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 3 or min(sizes) < 1:
            raise ValueError(f"FeedForwardSNN: sizes need >= 3 positive entries, got {sizes}")
        try:
            key = model_class(model).name
        except ValueError as err:
            raise ValueError(f"FeedForwardSNN: {err}") from None
        self.kind = key
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            self.linears = nn.ModuleList(
                nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False)
            )
            self.neurons = nn.ModuleList(make_layer(key, s, **layer_kwargs) for s in sizes[1:-1])
        finally:
            torch.random.set_rng_state(gen_state)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[Trace]]:
        """x: (T, B, sizes[0]) -> (logits (B, sizes[-1]), input currents per layer (T, B, N),
        traces per layer)."""
        currents, traces = [], []
        h = x
        for lin, layer in zip(self.linears[:-1], self.neurons, strict=True):
            current = lin(h)
            trace = layer.run(current)
            currents.append(current)
            traces.append(trace)
            h = trace.spikes
        out = self.linears[-1](h)
        logits = out.sum(dim=0) if self.readout == "sum" else out[-1]
        return logits, currents, traces


def _collect_step_grads(stacked: torch.Tensor) -> list[list[torch.Tensor | None]]:
    """Register hooks that capture, for each step tensor that ``stacked`` was stacked from, the
    total gradient reaching it (all its uses summed), i.e. the autograd node's grad_output."""
    node = stacked.grad_fn
    if node is None or type(node).__name__ != "StackBackward0":
        raise ValueError(
            "cannot hook the per-step tensors: the trace was not stacked from a per-step "
            "autograd graph (per-step gradients need the layers' backward='autograd')"
        )
    store: list[list[torch.Tensor | None]] = [[None] for _ in node.next_functions]
    for t, (fn, idx) in enumerate(node.next_functions):
        if fn is None:
            continue

        def hook(grad_outputs, slot=store[t], idx=idx):
            slot[0] = grad_outputs[idx]

        fn.register_prehook(hook)
    return store


@dataclass(frozen=True)
class GradientMaps:
    """Per-layer gradient maps of one backward pass.

    maps[l]: (T, N_l) mean over the batch of |dL/dx[t]| for the chosen state x (NumPy float64,
    not normalised); normalised(l) divides by the layer's total so the map sums to 1;
    rates[l]: spikes per step per neuron; loss: the cross-entropy; state: the state's name;
    extra: the same maps for the other requested names; raw: signed (T, B, N) gradients by name
    (when asked for).
    """

    maps: list[np.ndarray]
    rates: list[float]
    loss: float
    state: str
    extra: dict[str, list[np.ndarray]]
    raw: dict[str, list[np.ndarray]]

    def normalised(self, layer: int) -> np.ndarray:
        """G[n, t] / sum_{n,t} G for layer ``layer`` (T, N); raises if the layer got no gradient."""
        G = self.maps[layer]
        total = G.sum()
        if not total > 0:
            raise ValueError(f"layer {layer} received no gradient (all spikes silent?)")
        return G / total

    def first_half_share(self, layer: int) -> float:
        """The share of the layer's total gradient that falls in the first half of the steps."""
        G = self.normalised(layer)
        return float(G[: G.shape[0] // 2].sum())


def network_gradient_maps(
    net: FeedForwardSNN,
    x: torch.Tensor,
    y: torch.Tensor,
    state: str | None = None,
    keep: Sequence[str] = (),
    raw: bool = False,
) -> GradientMaps:
    """One forward and backward pass of ``net`` on (x (T, B, 1), y (B,)) with cross-entropy.

    Collects the total derivative dL/dx[t] of every neuron at every step for ``state`` (default:
    the soma, ``soma(net.kind)``; any of the model's state names or ``"S"`` for the spikes), and
    for each name in ``keep`` too (returned in ``extra``, mean |.| over the batch); ``"I"``
    stands for the layer's input current (its gradient is collected with ``retain_grad``).
    With ``raw`` the signed per-sample gradients (T, B, N) are kept too, in ``raw[name]``.
    """
    if x.dim() != 3 or y.shape != (x.shape[1],):
        raise ValueError(
            f"network_gradient_maps: expected x (T, B, n_in) and y (B,), got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    n_out = net.linears[-1].out_features
    if y.dtype.is_floating_point or y.dtype.is_complex or bool(((y < 0) | (y >= n_out)).any()):
        raise ValueError(
            f"network_gradient_maps: labels y must be integers in [0, {n_out}), got {y.tolist()}"
        )
    state = soma(net.kind) if state is None else state
    names = [state, *keep]
    logits, currents, traces = net(x)
    stores: dict[str, list] = {}
    for name in names:
        if name == "I":
            for c in currents:
                c.retain_grad()
            continue
        if name != "S" and name not in traces[0].states:
            raise ValueError(
                f"network_gradient_maps: unknown state {name!r}; choose one of "
                f"{[*traces[0].states, 'S', 'I']}"
            )
        stores[name] = [_collect_step_grads(tr[name]) for tr in traces]
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()

    def collect(name: str, mean_abs: bool) -> list[np.ndarray]:
        """Per layer: (T, N) batch means of |grad| (mean_abs) or the signed (T, B, N) grads."""

        def fold(g: torch.Tensor, batch_dim: int) -> np.ndarray:
            g = g.detach()
            return (g.abs().mean(dim=batch_dim) if mean_abs else g).double().numpy()

        out = []
        for layer, tr in enumerate(traces):
            if name == "I":
                out.append(fold(currents[layer].grad, 1))
                continue
            T, B, N = tr.spikes.shape
            G = np.zeros((T, N) if mean_abs else (T, B, N))
            for t, slot in enumerate(stores[name][layer]):
                if slot[0] is not None:
                    G[t] = fold(slot[0], 0)
            out.append(G)
        return out

    rates = [float(tr.spikes.detach().mean()) for tr in traces]
    return GradientMaps(
        maps=collect(state, True),
        rates=rates,
        loss=float(loss.detach()),
        state=state,
        extra={name: collect(name, True) for name in keep},
        raw={name: collect(name, False) for name in dict.fromkeys(names)} if raw else {},
    )
