r"""The layer, its losses and the forward pass every online rule shares.

A layer of H neurons of one registered model reads D inputs u[t] (B, D) and, when recurrent,
its own spikes of the previous step:

    I_j[t] = sum_k W_in[j, k] u_k[t] + sum_i W_rec[j, i] S_i[t-1]
    x_j[t] = F(x_j[t-1], S_j[t-1], I_j[t]; theta_j),   S_j[t] = H(z(x_j[t]; theta_j))

with x_j the neuron's n carried states. The trainable tensors are ``w_in`` (H, D), ``w_rec``
(H, H) when recurrent, and one raw tensor (H,) per trained model parameter, theta = form(raw)
through the parameterisation the model class declares (``trainable``). ``presyn`` is the
vector a weight row multiplies: ``pre[t] = [u[t], S[t-1]]`` (B, K), K = D (+ H); the weights
are one matrix W = [W_in | W_rec] (H, K) inside the rules.

The losses are explicit in the spikes and states, L = sum_t l_t(S[t], x[t]): ``LinearLoss``
(fixed weights g_S, g_x, as ``analysis.gradcheck`` uses) and ``ReadoutLoss`` (a linear readout
y[t] = W_out S[t] against a target, squared error). Their gradient at step t, the learning
signal, is known at step t, which is what makes a rule online.

``Sweep`` runs the forward pass step by step and hands each rule, at each step, the generated
partials of ``neurons.derivatives`` evaluated there (``StepTerms``): one loop, no per-model code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lstmlif.neurons import NUMPY_OPS, NeuronModel, get_model, model_class
from lstmlif.neurons.base import SWITCHES
from lstmlif.neurons.derivatives import StepPartials, step_partials
from lstmlif.neurons.mathspace import NUMPY_MATH, TORCH_MATH
from lstmlif.neurons.parameterisations import Identity, Trainable

__all__ = [
    "OnlineLayer",
    "LinearLoss",
    "ReadoutLoss",
    "StepTerms",
    "ForwardStep",
    "Sweep",
    "make_layer",
    "make_inputs",
    "held_partials",
    "held_paths",
]


# ----------------------------------------------------------------------------- the layer


@dataclass(frozen=True, eq=False)
class OnlineLayer:
    """One layer of ``model`` neurons (see the module docstring).

    model: the NumPy model record with the fixed parameter values and the switches (the
    trained parameters are replaced by ``form(raw)`` in ``numpy_model``); w_in: (H, D);
    w_rec: (H, H) or None (feed-forward); trained: {parameter name: ``Trainable``};
    raw: {parameter name: (H,) raw values}.
    """

    model: NeuronModel
    w_in: np.ndarray
    w_rec: np.ndarray | None
    trained: dict[str, Trainable] = field(default_factory=dict)
    raw: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        who = "OnlineLayer"
        w_in = np.asarray(self.w_in, dtype=np.float64)
        if w_in.ndim != 2 or 0 in w_in.shape:
            raise ValueError(f"{who}: w_in must have shape (H, D) with H, D >= 1, got {w_in.shape}")
        H = w_in.shape[0]
        if not np.all(np.isfinite(w_in)):
            raise ValueError(f"{who}: w_in must be finite")
        object.__setattr__(self, "w_in", w_in)
        if self.w_rec is not None:
            w_rec = np.asarray(self.w_rec, dtype=np.float64)
            if w_rec.shape != (H, H):
                raise ValueError(f"{who}: w_rec must have shape ({H}, {H}), got {w_rec.shape}")
            if not np.all(np.isfinite(w_rec)):
                raise ValueError(f"{who}: w_rec must be finite")
            object.__setattr__(self, "w_rec", w_rec)
        if set(self.trained) != set(self.raw):
            raise ValueError(f"{who}: trained {sorted(self.trained)} and raw {sorted(self.raw)}")
        for name in self.trained:
            if name not in self.model.params():
                raise ValueError(f"{who}: {type(self.model).__name__} has no parameter {name!r}")
            r = np.asarray(self.raw[name], dtype=np.float64)
            if r.shape != (H,) or not np.all(np.isfinite(r)):
                raise ValueError(f"{who}: raw value of {name!r} must be finite of shape ({H},)")
            self.raw[name] = r

    @property
    def hidden(self) -> int:
        """H, the number of neurons."""
        return self.w_in.shape[0]

    @property
    def inputs(self) -> int:
        """D, the number of inputs."""
        return self.w_in.shape[1]

    @property
    def presyn(self) -> int:
        """K = D (+ H when recurrent): the length of a weight row."""
        return self.inputs + (self.hidden if self.w_rec is not None else 0)

    @property
    def weights(self) -> np.ndarray:
        """W = [W_in | W_rec] (H, K)."""
        if self.w_rec is None:
            return self.w_in
        return np.concatenate([self.w_in, self.w_rec], axis=1)

    def tensor_names(self) -> tuple[str, ...]:
        """The trainable tensors in order: ``w_in``, ``w_rec`` (if any), the raw names."""
        rec = ("w_rec",) if self.w_rec is not None else ()
        return ("w_in", *rec, *(t.raw for t in self.trained.values()))

    def values(self) -> dict[str, np.ndarray]:
        """The parameter values theta = form(raw) (H,) of the trained parameters."""
        return {
            n: np.asarray(t.form.forward(self.raw[n], NUMPY_MATH), dtype=np.float64)
            for n, t in self.trained.items()
        }

    def numpy_model(self) -> NeuronModel:
        """The model record with the trained parameters as (H,) arrays."""
        return self.model.replace(**self.values())

    def slopes(self) -> dict[str, np.ndarray]:
        """d theta / d raw (H,) of each trained parameter, by autograd of its form."""
        out = {}
        for n, t in self.trained.items():
            r = torch.tensor(self.raw[n], dtype=torch.float64, requires_grad=True)
            (g,) = torch.autograd.grad(t.form.forward(r, TORCH_MATH).sum(), r)
            out[n] = g.numpy()
        return out

    def n_params(self) -> int:
        """P, the number of trainable scalars."""
        return self.hidden * (self.presyn + len(self.trained))


def make_layer(
    model: str | NeuronModel,
    hidden: int = 4,
    inputs: int = 3,
    *,
    recurrent: bool = True,
    recurrent_scale: float = 0.5,
    input_mean: float | None = None,
    input_std: float | None = None,
    train: tuple[str, ...] | None = None,
    seed: int = 0,
    **switches: Any,
) -> OnlineLayer:
    """A random layer of ``model`` (a registered name at its class's ``verify_params``, or a
    record) with ``hidden`` neurons and ``inputs`` inputs, input 0 a constant 1 (its weight
    column is the bias).

    W_in[:, 0] = input_mean, W_in[:, 1:] ~ N(0, input_std^2 / (D - 1)), so that with inputs of
    ``make_inputs`` (unit normal) the feed-forward current has mean ``input_mean`` and standard
    deviation about ``input_std`` (defaults: the class's ``input_stats``); W_rec ~
    N(0, recurrent_scale^2 / H), every entry (the diagonal too) drawn; ``recurrent=False``
    gives a feed-forward layer (no W_rec).
    ``train``: the parameters trained (default: the class's ``layer_defaults["train"]``), each
    per neuron through the class's declared form (identity when it declares none).
    """
    who = "online"
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"{who}: hidden must be a positive integer, got {hidden!r}")
    if isinstance(inputs, bool) or not isinstance(inputs, int) or inputs < 2:
        raise ValueError(f"{who}: inputs must be an integer >= 2 (input 0 is the bias)")
    cls = model_class(model)
    if isinstance(model, NeuronModel):
        record = model.replace(**switches) if switches else model
    else:
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise ValueError(f"{who}: unknown switch(es) {sorted(unknown)}; allowed {SWITCHES}")
        record = get_model(cls.name, **{**cls.verify_params, **switches})
    mean, std = cls.input_stats
    mean = float(mean if input_mean is None else input_mean)
    std = float(std if input_std is None else input_std)
    for label, value in (
        ("input_mean", mean),
        ("input_std", std),
        ("recurrent_scale", recurrent_scale),
    ):
        if not np.isfinite(value):
            raise ValueError(f"{who}: {label} must be finite, got {value!r}")
    if std < 0 or recurrent_scale < 0:
        raise ValueError(f"{who}: input_std and recurrent_scale must be >= 0")
    rng = np.random.default_rng(seed)
    w_in = np.empty((hidden, inputs))
    w_in[:, 0] = mean
    w_in[:, 1:] = rng.standard_normal((hidden, inputs - 1)) * std / np.sqrt(inputs - 1)
    w_rec = rng.standard_normal((hidden, hidden)) * recurrent_scale / np.sqrt(hidden)
    names = cls.layer_defaults.get("train", ()) if train is None else train
    trained: dict[str, Trainable] = {}
    raw: dict[str, np.ndarray] = {}
    for name in names:
        if name not in cls.param_specs:
            raise ValueError(
                f"{who}: {cls.__name__} has no parameter {name!r}; parameters "
                f"{list(cls.param_specs)}"
            )
        spec = cls.trainable.get(name, Trainable(name, Identity()))
        value = np.asarray(record.params()[name], dtype=np.float64)
        if value.ndim:
            raise ValueError(f"{who}: the record's {name!r} must be a scalar")
        trained[name] = spec
        raw[name] = np.full(hidden, spec.form.inverse(float(value)))
    return OnlineLayer(record, w_in, w_rec if recurrent else None, trained, raw)


def make_inputs(layer: OnlineLayer, steps: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    """Inputs u (T, B, D): u[:, :, 0] = 1 (the bias input), the others unit normal."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"online: steps must be a positive integer, got {steps!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"online: batch must be a positive integer, got {batch!r}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((steps, batch, layer.inputs))
    u[:, :, 0] = 1.0
    return u


# ----------------------------------------------------------------------------- losses


@dataclass(frozen=True, eq=False)
class LinearLoss:
    """A loss linear in the layer's outputs, with fixed weights.

    `L = sum_t g_S[t] . S[t] + sum_t sum_a g_x[a][t] . x_a[t]`: `grad_spikes` (T, B, H),
    `grad_states` `{state: (T, B, H)}` (missing states: zero)."""

    grad_spikes: np.ndarray
    grad_states: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def random(cls, layer: OnlineLayer, steps: int, batch: int = 1, seed: int = 0) -> LinearLoss:
        """Unit normal weights on the spikes and on every state."""
        rng = np.random.default_rng(seed)
        shape = (steps, batch, layer.hidden)
        return cls(
            rng.standard_normal(shape),
            {n: rng.standard_normal(shape) for n in layer.model.state_names},
        )

    def signal(
        self,
        t: int,
        S: np.ndarray,
        states: list[np.ndarray],
        names: tuple[str, ...],
        *,
        random: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(dL/dS[t] (B, H), dL/dx[t] (B, H, n) or None), explicit, at step t."""
        if random:
            raise ValueError("online: random feedback needs a ReadoutLoss (a readout to replace)")
        gx = None
        if self.grad_states:
            gx = np.stack(
                [
                    self.grad_states[n][t] if n in self.grad_states else np.zeros_like(S)
                    for n in names
                ],
                axis=-1,
            )
        return self.grad_spikes[t], gx

    def torch_value(self, spikes: torch.Tensor, states: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of a torch trajectory (T, B, H)."""
        out = (spikes * torch.as_tensor(self.grad_spikes, dtype=spikes.dtype)).sum()
        for n, g in self.grad_states.items():
            out = out + (states[n] * torch.as_tensor(g, dtype=spikes.dtype)).sum()
        return out


@dataclass(frozen=True, eq=False)
class ReadoutLoss:
    """L = 1/2 sum_t ||W_out S[t] - y[t]||^2: w_out (K, H), target (T, B, K); ``feedback``
    (H, K) is the fixed random matrix that random-feedback e-prop uses in place of W_out^T."""

    w_out: np.ndarray
    target: np.ndarray
    feedback: np.ndarray

    @classmethod
    def random(
        cls, layer: OnlineLayer, steps: int, batch: int = 1, outputs: int = 2, seed: int = 0
    ) -> ReadoutLoss:
        """W_out, feedback ~ N(0, 1/H), target ~ N(0, 1)."""
        rng = np.random.default_rng(seed)
        H = layer.hidden
        return cls(
            rng.standard_normal((outputs, H)) / np.sqrt(H),
            rng.standard_normal((steps, batch, outputs)),
            rng.standard_normal((H, outputs)) / np.sqrt(H),
        )

    def signal(
        self,
        t: int,
        S: np.ndarray,
        states: list[np.ndarray],
        names: tuple[str, ...],
        *,
        random: bool = False,
    ) -> tuple[np.ndarray, None]:
        """(dL/dS[t] (B, H), None): W_out^T (W_out S[t] - y[t]), or ``feedback`` in place of
        W_out^T with ``random``."""
        err = S @ self.w_out.T - self.target[t]
        back = self.feedback if random else self.w_out.T
        return err @ back.T, None

    def torch_value(self, spikes: torch.Tensor, states: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of a torch trajectory (T, B, H)."""
        w = torch.as_tensor(self.w_out, dtype=spikes.dtype)
        y = torch.as_tensor(self.target, dtype=spikes.dtype)
        return 0.5 * ((spikes @ w.T - y) ** 2).sum()


Loss = LinearLoss | ReadoutLoss


# ----------------------------------------------------------------------------- one sweep


def held_partials(model: NeuronModel) -> tuple[StepPartials, bool]:
    """The partials e-prop's eligibility traces use: those of ``model`` with the spike inside
    the reset held (``detach_reset=True``: the spikes the step passes through ``reset_spike``),
    and whether that cut anything (False when the class offers no detached reset, or the model
    already detaches it: then they are the model's own partials)."""
    if model.detach_reset or True not in type(model).detach_options:
        return step_partials(model), False
    return step_partials(model.replace(detach_reset=True)), True


def held_paths(model: NeuronModel) -> list[str]:
    """The partials e-prop's held reset changes, by name: ``"dF_a/dx_b"``, ``"dF_a/dS[t-1]"``,
    ``"dF_a/dI"`` or ``"dF_a/d<param>"`` for state a (a SymPy comparison of the two generated
    sets); empty when nothing is held (see ``held_partials``)."""
    import sympy as sp

    D = step_partials(model)
    Dh, cut = held_partials(model)
    if not cut:
        return []
    names, out = D.state_names, []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if sp.simplify(D.dx[i, j] - Dh.dx[i, j]) != 0:
                out.append(f"dF_{a}/d{b}")
        if sp.simplify(D.dS[i] - Dh.dS[i]) != 0:
            out.append(f"dF_{a}/dS[t-1]")
        if sp.simplify(D.dI[i] - Dh.dI[i]) != 0:
            out.append(f"dF_{a}/dI")
        for k, p in enumerate(D.param_names):
            if sp.simplify(D.dtheta[i, k] - Dh.dtheta[i, k]) != 0:
                out.append(f"dF_{a}/d{p}")
    return out


@dataclass
class ForwardStep:
    """One step of the forward pass (``Sweep.forward``), float64 except the learning signal:
    x_prev (n arrays (B, H)) = x[t-1], S_prev = S[t-1], I = I[t], pre (B, K) = [u[t], S[t-1]],
    x (n arrays) = x[t], S = S[t], psi = psi(z[t]) (each (B, H)); gS (B, H) and gx (B, H, n)
    or None the learning signal at t, in the sweep's dtype."""

    t: int
    x_prev: list[np.ndarray]
    S_prev: np.ndarray
    I: np.ndarray
    pre: np.ndarray
    x: list[np.ndarray]
    S: np.ndarray
    psi: np.ndarray
    gS: np.ndarray
    gx: np.ndarray | None


@dataclass
class StepTerms:
    """The generated partials at one step t, every array with leading (B, H) axes.

    dx (n, n) = dF/dx[t-1], dS (n) = dF/dS[t-1], dI (n) = dF/dI[t], dth (n, m) = dF/dtheta
    times d theta / d raw (m trained parameters); zx (n), zth (m) = dz[t]/dx[t], dz[t]/d raw;
    psi = psi(z[t]); pre (B, K) = [u[t], S[t-1]]; S = S[t], S_prev = S[t-1]; gS (B, H) and gx
    (B, H, n) or None the learning signal at t. ``held`` holds the same (dx, dS, dI, dth) with
    the reset spike held (e-prop's partials) when a rule asked for them.
    """

    t: int
    dx: np.ndarray
    dS: np.ndarray
    dI: np.ndarray
    dth: np.ndarray
    zx: np.ndarray
    zth: np.ndarray
    psi: np.ndarray
    pre: np.ndarray
    S: np.ndarray
    S_prev: np.ndarray
    gS: np.ndarray
    gx: np.ndarray | None
    held: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None


def _stack(flat: list[Any], shape: tuple[int, ...], dtype: Any) -> list[np.ndarray]:
    return [np.broadcast_to(np.asarray(e, dtype=dtype), shape) for e in flat]


class Sweep:
    """The forward pass of a layer over inputs u (T, B, D), one step at a time, with the
    generated partials at each step (``StepTerms``). ``held``: also evaluate e-prop's held
    partials; ``random``: the learning signal with random feedback (``ReadoutLoss``).
    ``dtype``: the dtype the partials are evaluated and handed on in (the forward itself runs
    in float64, so every dtype sees the same spikes)."""

    def __init__(
        self,
        layer: OnlineLayer,
        inputs: Any,
        loss: Loss,
        *,
        held: bool = False,
        random: bool = False,
        dtype: Any = np.float64,
    ) -> None:
        u = np.asarray(inputs, dtype=np.float64)
        if u.ndim != 3 or u.shape[2] != layer.inputs:
            raise ValueError(
                f"online: inputs must have shape (T, B, {layer.inputs}), got {u.shape}"
            )
        # min and max see every NaN and infinity without a mask of the inputs' size
        if u.size and not (np.isfinite(u.min()) and np.isfinite(u.max())):
            raise ValueError("online: inputs must be finite")
        self.layer = layer
        self.u = u
        self.loss = loss
        self.random = random
        self.dtype = np.dtype(dtype)
        self.model = layer.numpy_model()
        self.D = step_partials(self.model)
        self.Dh = held_partials(self.model)[0] if held else None
        names = tuple(self.model.params())
        self.cols = [names.index(n) for n in layer.trained]
        self.theta = [np.asarray(v, dtype=np.float64) for v in self.model.params().values()]
        slopes = layer.slopes()
        self.slope = np.stack([slopes[n] for n in layer.trained], axis=-1) if slopes else None

    @property
    def shape(self) -> tuple[int, int]:
        """(B, H)."""
        return (self.u.shape[1], self.layer.hidden)

    def carried_bytes(self) -> int:
        """Bytes of what the forward itself carries from step to step: the n states, S[t-1]."""
        B, H = self.shape
        return (self.D.n + 1) * B * H * 8

    def _theta_terms(self, D: StepPartials, dth_full: list[list[np.ndarray]]) -> np.ndarray:
        B, H = self.shape
        m = len(self.cols)
        out = np.zeros((B, H, D.n, m), dtype=self.dtype)
        for a in range(D.n):
            for k, q in enumerate(self.cols):
                out[:, :, a, k] = dth_full[a][q]
        if m:
            out *= self.slope[None, :, None, :]
        return out

    def _parts(
        self, Dp: StepPartials, args: tuple[Any, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """dx (B, H, n, n), dS, dI (B, H, n), dth (B, H, n, m) of ``Dp`` at ``args``."""
        flat = Dp.numpy["partials"](*args)
        dx_, dS_, dI_, dth_ = Dp.split(_stack(flat, self.shape, self.dtype))
        dx = np.stack([np.stack(row, axis=-1) for row in dx_], axis=-2)
        dS, dI = np.stack(dS_, axis=-1), np.stack(dI_, axis=-1)
        return dx, dS, dI, self._theta_terms(Dp, dth_)

    def forward(self) -> Iterator[ForwardStep]:
        """The forward pass alone, one ``ForwardStep`` per step (float64, NumPy: the model's
        own step with ``NUMPY_OPS``), with the learning signal in the sweep's dtype."""
        layer, model = self.layer, self.model
        shape = self.shape
        dt = self.dtype
        p = model.coefficients(NUMPY_OPS)
        state: dict[str, Any] = {nm: np.zeros(shape) for nm in model.state_names}
        state["S"] = np.zeros(shape)
        W = layer.weights
        names = tuple(model.state_names)
        for t in range(self.u.shape[0]):
            S_prev = state["S"]
            x_prev = [state[nm] for nm in names]
            pre = (
                np.concatenate([self.u[t], S_prev], axis=1)
                if layer.w_rec is not None
                else self.u[t]
            )
            I = pre @ W.T
            new, S = model.step(p, state, I, NUMPY_OPS)
            S = np.broadcast_to(np.asarray(S, dtype=np.float64), shape)
            x = [np.broadcast_to(np.asarray(new[nm], dtype=np.float64), shape) for nm in names]
            z = model.spike_argument(p, dict(zip(names, x, strict=True)), NUMPY_OPS)
            psi = np.broadcast_to(np.asarray(model.surrogate(z), dtype=np.float64), shape)
            gS, gx = self.loss.signal(t, S, x, names, random=self.random)
            yield ForwardStep(
                t,
                x_prev,
                S_prev,
                I,
                pre,
                x,
                S,
                psi,
                np.asarray(gS, dtype=dt),
                None if gx is None else np.asarray(gx, dtype=dt),
            )
            state = dict(zip(names, x, strict=True))
            state["S"] = S

    def __iter__(self) -> Iterator[StepTerms]:
        D = self.D
        B, H = self.shape
        n = D.n
        shape = (B, H)
        dt = self.dtype
        for f in self.forward():
            args = (*f.x_prev, f.S_prev, f.I, f.S, f.psi, *self.theta)
            dx, dS, dI, dth = self._parts(D, args)
            held = None
            if self.Dh is not None:
                held = self._parts(self.Dh, args)
            zflat = _stack(D.numpy["z"](*f.x, *self.theta), shape, dt)
            zx = np.stack(zflat[:n], axis=-1)
            zth = np.zeros((B, H, len(self.cols)), dtype=dt)
            for k, q in enumerate(self.cols):
                zth[:, :, k] = zflat[n + q] * self.slope[:, k]
            yield StepTerms(
                f.t,
                dx,
                dS,
                dI,
                dth,
                zx,
                zth,
                f.psi.astype(dt),
                f.pre.astype(dt),
                f.S,
                f.S_prev,
                f.gS,
                f.gx,
                held,
            )
