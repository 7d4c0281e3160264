r"""The adjoint of backpropagation through time in NumPy float64, generated from the step.

Given a NumPy trajectory (``neurons.simulate``) and the loss gradients g_S[t] = dL/dS[t] and
g_x[t] = dL/dx[t] taken *explicitly* (L = sum_t g_S[t] S[t] + sum_t g_x[t] . x[t] to first
order), ``adjoint`` runs the backward recursion with the partial derivatives that SymPy takes of
the model's own step function (``neurons.derivatives``: no formula is retyped here, so every
registered model has it) and returns dL/dI[t], the total adjoint of every state and
dL/d(parameters).

x[t] is the carried state after step t, z[t] = ``spike_argument(x[t])``, S[t] = H(z[t]) with
surrogate slope psi[t] = psi(z[t]); step t is x[t] = F(x[t-1], S[t-1], I[t]; theta) with
x[0] = 0, S[0] = 0. The *state adjoint* lambda[t] = dL/dx[t] is for a perturbation of x[t]
after step t (S[t] and all later steps recomputed from it): the adjoint of the Markov state whose
one-step Jacobian is docs/theory.md's J_t. With Sbar[t] = dL/dS[t] through the explicit spike paths,
for t = T..1 (lambda[T+1] = 0):

    Sbar[t]   = g_S[t] + (dF_{t+1}/dS[t])^T lambda[t+1]
    lambda[t] = g_x[t] + (dF_{t+1}/dx[t])^T lambda[t+1] + (dz/dx)^T psi[t] Sbar[t]
    dL/dI[t]  = (dF_t/dI[t])^T lambda[t]
    dL/dtheta = sum_t (dF_t/dtheta)^T lambda[t] + sum_t (dz[t]/dtheta) psi[t] Sbar[t]

A step that reads its own new spike (S[t] inside F_t) has those paths inside its partials
(SymPy differentiates through the spike). ``psi_zero=True`` sets psi = 0: the exact derivative
of L with the spike pattern held fixed (what finite differences measure).

theta are the model's parameters as stored (``model.params()``: ``tau_m`` rather than the decay
it makes). ``raw_gradients`` chains them on to a layer's raw trainable values (logits, log time
constants) through the model's declared parameterisations; ``logit_gradients`` is the LSTM-LIF
case. The paper's hand-derived recursions for LIF, ALIF and the two-compartment models are kept
as objects of study in ``analysis.hand_adjoint``; the tests tie the two to each other and to
autograd.

Usage (current, g, h: NumPy arrays (T, *batch))::

    trace = simulate(LSTMLIF(), current)
    res = adjoint(trace, current, grad_spikes=g, grad_states={"s": h})
    res.current, res.states["d"], res.params["beta1"]      # dL/dI, lambda_d, dL/dbeta1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lstmlif.neurons import LSTMLIF, NUMPY_OPS, NeuronModel, Trace, TwoCompartment, simulate
from lstmlif.neurons.derivatives import step_partials
from lstmlif.neurons.mathspace import NUMPY_MATH
from lstmlif.neurons.simulate import batch_shape

__all__ = [
    "AdjointResult",
    "Prepared",
    "adjoint",
    "prepare",
    "surrogate_slopes",
    "logit_gradients",
    "raw_gradients",
    "reduce_to_shape",
]


@dataclass(frozen=True)
class AdjointResult:
    """The gradients of one backward pass.

    current: (T, *batch) dL/dI[t]; states: name -> (T, *batch) state adjoint lambda[t] =
    dL/dx[t] (total); spikes: (T, *batch) total dL/dS[t]; params: name -> gradient with the
    parameter's shape (keys as ``model.params()``); psi: (T, *batch) the surrogate slopes used
    (all 0 with ``psi_zero``); model: the model the pass was run for.

    lambda is the adjoint of the carried state (perturbation after the step). The adjoint of an
    intermediate that also feeds a later quantity of the same step differs: for two compartments
    the d[t] that enters s[t] has lambda_d + beta2 lambda_s = dL/dI[t]; for paper-convention,
    subtract-reset ALIF the a[t] inside u[t]'s reset has lambda_a - beta_a S[t-1] lambda_u.
    """

    current: np.ndarray
    states: dict[str, np.ndarray]
    spikes: np.ndarray
    params: dict[str, np.ndarray]
    psi: np.ndarray
    model: NeuronModel


# ----------------------------------------------------------------------------- helpers


def reduce_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes along which an array of ``shape`` was broadcast.

    grad: (*lead, *batch) with ``shape`` broadcasting to ``batch``; returns an array of ``shape``.
    """
    grad = np.asarray(grad, dtype=np.float64)
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"reduce_to_shape: gradient of shape {grad.shape} is smaller than {shape}")
    out = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if axes:
        out = out.sum(axis=axes, keepdims=True)
    if out.shape != tuple(shape):
        raise ValueError(f"reduce_to_shape: cannot reduce {grad.shape} to {shape}")
    return out


def _prev(x: np.ndarray) -> np.ndarray:
    """x[t-1] for t = 1..T with x[0] = 0: shift along time by one, zero first."""
    out = np.zeros_like(x)
    out[1:] = x[:-1]
    return out


def _loss_grad(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    if value is None:
        return np.zeros(shape)
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"adjoint: {name} must be a numeric array of shape {shape}") from None
    try:
        arr = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"adjoint: {name} has shape {arr.shape}, which does not broadcast to (T, *batch) = "
            f"{shape}"
        ) from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"adjoint: {name} contains NaN or infinite values")
    return arr


def _numpy_model(model: NeuronModel) -> None:
    for name, value in model.params().items():
        if isinstance(value, torch.Tensor):
            raise ValueError(
                f"adjoint: parameter '{name}' is a torch tensor; the adjoint runs in NumPy, "
                "build the model with NumPy values"
            )
        if not isinstance(value, (float, int, np.ndarray, np.floating)):
            raise ValueError(f"adjoint: parameter '{name}' must be numeric, got {value!r}")


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Prepared:
    """A validated backward problem: the NumPy model, its trajectory and the loss gradients,
    every array (T, *batch) float64; ``current`` is None when it was not given."""

    model: NeuronModel
    spikes: np.ndarray
    states: dict[str, np.ndarray]
    current: np.ndarray | None
    grad_spikes: np.ndarray
    grad_states: dict[str, np.ndarray]


def prepare(
    source: Trace | NeuronModel,
    current: Any = None,
    grad_spikes: Any = None,
    grad_states: dict[str, Any] | None = None,
) -> Prepared:
    """Check and convert the arguments of ``adjoint`` (ValueErrors name what is wrong)."""
    if isinstance(source, Trace):
        trace = source
        model = trace.model
        if isinstance(trace.spikes, torch.Tensor):
            raise ValueError("adjoint: the trace holds torch tensors; simulate NumPy input")
    elif isinstance(source, NeuronModel):
        model = source
        if current is None:
            raise ValueError("adjoint: with a model, give the input current (T, *batch)")
        _numpy_model(model)
        if isinstance(current, torch.Tensor):
            raise ValueError("adjoint: current must be a NumPy array (float64), not a tensor")
        trace = simulate(model, np.asarray(current, dtype=np.float64))
    else:
        raise ValueError(
            f"adjoint: expected a neurons.Trace or a neuron model, got {type(source).__name__}"
        )
    _numpy_model(model)
    spikes = np.asarray(trace.spikes, dtype=np.float64)
    if spikes.ndim < 1:
        raise ValueError("adjoint: the trace's spikes must have shape (T, *batch)")
    shape = tuple(spikes.shape)
    if tuple(batch_shape(model, shape)) != shape[1:]:
        raise ValueError(
            f"adjoint: the model's parameters do not fit the trace's batch shape {shape[1:]}"
        )
    states = {}
    for n in model.state_names:
        if n not in trace.states:
            raise ValueError(f"adjoint: the trace lacks state '{n}'")
        states[n] = np.asarray(trace.states[n], dtype=np.float64)
        if states[n].shape != shape:
            raise ValueError(f"adjoint: state '{n}' has shape {states[n].shape}, expected {shape}")
    if current is not None:
        if isinstance(current, torch.Tensor):
            raise ValueError("adjoint: current must be a NumPy array (float64), not a tensor")
        current = _loss_grad("current", current, shape)
    gS = _loss_grad("grad_spikes", grad_spikes, shape)
    grad_states = dict(grad_states or {})
    unknown = set(grad_states) - set(model.state_names)
    if unknown:
        raise ValueError(
            f"adjoint: unknown state name(s) {sorted(unknown)} for {type(model).__name__}; "
            f"states are {list(model.state_names)}"
        )
    gX = {n: _loss_grad(f"grad_states['{n}']", grad_states.get(n), shape) for n in states}
    return Prepared(model, spikes, states, current, gS, gX)


def surrogate_slopes(prep: Prepared, psi_zero: bool = False) -> np.ndarray:
    """psi(z[t]) along the trajectory (T, *batch), or zeros with ``psi_zero``."""
    shape = prep.spikes.shape
    if psi_zero:
        return np.zeros(shape)
    model = prep.model
    z = model.spike_argument(model.coefficients(NUMPY_OPS), prep.states, NUMPY_OPS)
    return np.broadcast_to(model.surrogate(z), shape).copy()


# ----------------------------------------------------------------------------- the recursion


def adjoint(
    source: Trace | NeuronModel,
    current: Any = None,
    grad_spikes: Any = None,
    grad_states: dict[str, Any] | None = None,
    *,
    psi_zero: bool = False,
) -> AdjointResult:
    """Backpropagate the explicit loss gradients through a trajectory by the adjoint recursion
    generated from the model's step function.

    source: a NumPy ``Trace`` (then ``current``, the input it was run on, is optional, unless the
    step's partial derivatives read the input, as ALIF's do) or a model (then ``current``
    (T, *batch) is required and simulated here).
    grad_spikes: dL/dS[t] (T, *batch) or None (zero); grad_states: {state name: dL/dx[t]} with
    arrays broadcasting to (T, *batch), missing names or None meaning zero. ``psi_zero``: psi = 0
    everywhere (spike pattern held fixed). Returns an ``AdjointResult``; see the module docstring
    for the recursion lambda[t] = g_x[t] + J^T lambda[t+1] + (dz/dx) psi[t] Sbar[t].
    """
    prep = prepare(source, current, grad_spikes, grad_states)
    model = prep.model
    D = step_partials(model)
    if "I" in D.depends and prep.current is None:
        raise ValueError(
            f"adjoint: {type(model).__name__} needs the input current (its step's partial "
            "derivatives read I)"
        )
    psi = surrogate_slopes(prep, psi_zero)
    names, n = D.state_names, D.n
    S = prep.spikes
    T = S.shape[0]
    theta = [np.asarray(v, dtype=np.float64) for v in model.params().values()]
    x = [prep.states[nm] for nm in names]
    x_prev = [_prev(v) for v in x]
    I = prep.current if prep.current is not None else np.zeros_like(S)
    flat = D.numpy["partials"](*x_prev, _prev(S), I, S, psi, *theta)
    dx, dS, dI, dth = D.split(
        [np.broadcast_to(np.asarray(e, dtype=np.float64), S.shape) for e in flat]
    )
    zflat = D.numpy["z"](*x, *theta)
    zflat = [np.broadcast_to(np.asarray(e, dtype=np.float64), S.shape) for e in zflat]
    zx, zth = zflat[:n], zflat[n:]
    lam = [np.zeros_like(S) for _ in names]
    Sbar = np.zeros_like(S)
    for t in range(T - 1, -1, -1):
        sb = prep.grad_spikes[t]
        acc = [prep.grad_states[nm][t] for nm in names]
        if t + 1 < T:
            nxt = [lam[i][t + 1] for i in range(n)]
            sb = sb + sum(dS[i][t + 1] * nxt[i] for i in range(n))
            acc = [acc[j] + sum(dx[i][j][t + 1] * nxt[i] for i in range(n)) for j in range(n)]
        Sbar[t] = sb
        zbar = psi[t] * sb
        for j in range(n):
            lam[j][t] = acc[j] + zx[j][t] * zbar
    dL_dI = sum(dI[i] * lam[i] for i in range(n))
    zbar = psi * Sbar
    params = {}
    for q, (name, value) in enumerate(model.params().items()):
        raw = sum(dth[i][q] * lam[i] for i in range(n)) + zth[q] * zbar
        params[name] = reduce_to_shape(raw, np.shape(value))
    return AdjointResult(dL_dI, dict(zip(names, lam, strict=True)), Sbar, params, psi, model)


def logit_gradients(result: AdjointResult, c1: Any, c2: Any) -> dict[str, np.ndarray]:
    """dL/dc1, dL/dc2 for beta1 = -sigmoid(c1), beta2 = sigmoid(c2) (``LSTMLIF.from_logits``),
    of any two-compartment model: ``raw_gradients`` with LSTM-LIF's logit forms
    (dbeta1/dc1 = beta1 (1 + beta1), dbeta2/dc2 = beta2 (1 - beta2)). Each result has the shape
    of its logit; raises ValueError if the model's betas are not the sigmoids of the logits."""
    if not isinstance(result.model, TwoCompartment):
        raise ValueError("logit_gradients: only two-compartment models have (c1, c2) logits")
    return raw_gradients(result, {"c1": c1, "c2": c2}, forms=LSTMLIF.trainable)


def raw_gradients(
    result: AdjointResult, raw: dict[str, Any], forms: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """dL/d(raw value) for parameters trained through a parameterisation value = form(raw).

    ``raw``: {raw name: value} (e.g. ``{"c1": 0.4}`` or ``{"log_tau_m": ...}``); ``forms``:
    {parameter: ``Trainable``} (default: the model class's ``trainable``). The chain factor
    d form / d raw is SymPy's derivative of the form, evaluated in NumPy. Each result has its
    raw value's shape; a raw value whose form does not reproduce the model's parameter is a
    ValueError.
    """
    import sympy as sp

    from lstmlif.neurons.mathspace import SYMPY_MATH

    model = result.model
    forms = type(model).trainable if forms is None else forms
    by_raw = {t.raw: (p, t.form) for p, t in forms.items()}
    out = {}
    for key, value in raw.items():
        if key not in by_raw:
            raise ValueError(
                f"raw_gradients: {key!r} is not a raw name of {type(model).__name__}; "
                f"known {sorted(by_raw)}"
            )
        pname, form = by_raw[key]
        r = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            raise ValueError(f"raw_gradients: {key} must be finite")
        param = np.asarray(model.params()[pname], dtype=np.float64)
        got = np.asarray(form.forward(r, NUMPY_MATH), dtype=np.float64)
        try:
            same = np.allclose(
                np.broadcast_to(got, np.broadcast_shapes(got.shape, param.shape)),
                param,
                rtol=1e-12,
                atol=1e-15,
            )
        except ValueError:
            same = False
        if not same:
            formula = form.describe(pname, key).split(" = ", 1)[1]
            raise ValueError(
                f"raw_gradients: the model's {pname} is not {formula} for the given {key}"
            )
        sym = sp.Symbol("r", real=True)
        slope = sp.lambdify(sym, sp.diff(form.forward(sym, SYMPY_MATH), sym), "numpy")(r)
        g = result.params[pname] * np.asarray(slope, dtype=np.float64)
        out[key] = reduce_to_shape(
            np.broadcast_to(g, np.broadcast_shapes(g.shape, r.shape)), r.shape
        )
    return out
