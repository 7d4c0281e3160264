r"""Lyapunov spectra of the backward (adjoint) dynamics along spiking trajectories.

The gradient of a loss with respect to an earlier state runs the adjoint recursion
``lambda[t-1] = J_t^T lambda[t]`` (``analysis.adjoint``), with the spike-aware one-step Jacobian
of the carried state (docs/theory.md section 4)

    J_t = dx[t]/dx[t-1] = dF/dx_p + dF/dS_p psi(z[t-1]) (dz/dx)(x[t-1])^T,

read off the partial derivatives that SymPy takes of the model's own step function
(``neurons.derivatives``; no formula is retyped, so every registered model and every switch set
has it). How fast ``||J_1^T ... J_T^T||`` shrinks or grows is measured by the Lyapunov
exponents of that product: the QR (Benettin) method runs the recursion backward from the last
step, ``Q_{t-1} R_t = J_t^T Q_t``, and averages ``log|diag R_t|`` (natural log per step), so
nothing under- or overflows however long the product.

In a recurrent layer (``I_i[t] = c_i[t] + sum_j W_ij S_j[t-1]``) the state is every neuron's
state and the spike path couples them:

    J_t[(i,a), (j,b)] = delta_ij A_i[a,b] + dF_i/dI[a] W_ij psi_j (dz/dx_j)[b],

A_i the single-neuron Jacobian above. A detached reset removes the psi-terms of the reset only;
the recurrent spike path keeps psi.

Identities (tested to rounding): the exponents sum to the time average of log|det J_t|; a LIF
neuron with a detached subtractive reset has exponent ln(alpha), spikes or not; with psi = 0 the
exponents are the logs of the moduli of J's eigenvalues (LSTM-LIF in the second quadrant: 0, 0;
finite-time estimates approach them as O(log cond(V) / T), V the eigenvectors of J).

Prediction from the firing statistics (``predict_top``): for a one-state model J_t is a scalar
function of the previous potential, products commute, and the ergodic theorem makes the
exponent *exactly* E_pi[log|J(x)|] over the stationary distribution pi of the potential (for LIF
in the code convention E[log|alpha (1 - v_th psi(v - v_th))|], in the paper convention
E[log|alpha - v_th psi|]); pi is computed without any Jacobian, from the input statistics alone
(``stationary_density``: the transfer operator of the driven neuron on a grid). For models with
more states the matrices do not commute and the order matters; the prediction replaces the
driven sequence by independent draws of the state from its stationary distribution (a
random-matrix product, Furstenberg's exponent), which neglects the temporal correlation of
successive visits to the surrogate window. Two closed forms come with it: the lower bound
lambda_1 >= (1/n) E[log|det J|] (the mean of the exponents; for LSTM-LIF
(1/2) E[log|1 - v_th psi|]) and the frozen estimate E[log rho(J_t)].

``lstmlif lyapunov MODEL --param NAME=VALUE ...`` prints the spectrum with 95% confidence
intervals over seeds and the predictions.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from scipy import special, stats

from lstmlif.fileio import jsonable
from lstmlif.neurons import (
    SURROGATES,
    NeuronModel,
    Trace,
    get_model,
    get_surrogate,
    model_class,
    model_names,
    simulate,
)
from lstmlif.neurons.derivatives import StepPartials, step_partials
from lstmlif.neurons.ops import NUMPY_OPS
from lstmlif.neurons.simulate import subthreshold_spectral_radius

__all__ = [
    "LN10",
    "LIMITS",
    "surrogate_slopes",
    "step_jacobians",
    "backward_qr",
    "QRResult",
    "Spectrum",
    "lyapunov_spectrum",
    "lyapunov_spectra",
    "SpectrumEstimate",
    "estimate_spectrum",
    "estimate_spectra",
    "RecurrentTrace",
    "simulate_recurrent",
    "network_jacobians",
    "network_spectrum",
    "stationary_density",
    "StationaryDensity",
    "Prediction",
    "predict_top",
    "predict_tops",
    "default_configurations",
    "prediction_table",
    "learnable_delay",
    "check_budget",
    "add_arguments",
    "run",
]

LN10 = math.log(10.0)

#: Upper bounds of one estimate (CLI and ``check_budget``): steps per trajectory, number of
#: seeds, neurons per seed, Jacobian entries evaluated in all (steps x batch x seeds x n^2), and
#: the bytes of the stored trajectory and of one chunk of Jacobians.
LIMITS: dict[str, float] = {
    "steps": 200_000,
    "seeds": 64,
    "batch": 4096,
    "work": 2.0e8,
    "memory": 1.0 * 2**30,
}


# ----------------------------------------------------------------------------- validation


def _positive_int(name: str, value: Any, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _numpy_model(model: NeuronModel, who: str) -> NeuronModel:
    """``model`` with tensor parameters as float64 NumPy values (ValueError for SymPy ones)."""
    if not isinstance(model, NeuronModel):
        raise ValueError(f"{who}: expected a neuron model, got {type(model).__name__}")
    changes: dict[str, Any] = {}
    for name, value in model.params().items():
        if isinstance(value, torch.Tensor):
            value = value.detach().to("cpu", torch.float64).numpy()
            changes[name] = float(value) if value.ndim == 0 else value
        elif not isinstance(value, (int, float, np.ndarray, np.floating, np.integer)):
            raise ValueError(f"{who}: parameter '{name}' must be numeric, got {value!r}")
    return model.replace(**changes) if changes else model


def check_budget(
    steps: int, batch: int, seeds: int, n_states: int, extra: int = 0
) -> dict[str, float]:
    """Refuse an estimate that is too large before it starts.

    The work is ``(steps + extra) * batch * seeds * n^2`` Jacobian entries (the QR recursion
    costs a few times that; ``extra`` counts the warm-up and alignment steps), the memory the
    stored trajectory (``(steps + extra) * batch * n`` floats, several arrays). Returns the
    estimate (``work``, ``bytes``, ``seconds`` at about 1e7 entries per second); raises
    ValueError naming the option and its limit.
    """
    steps = _positive_int("steps", steps)
    batch = _positive_int("batch", batch)
    seeds = _positive_int("seeds", seeds)
    for name, value in (("steps", steps), ("seeds", seeds), ("batch", batch)):
        if value > LIMITS[name]:
            raise ValueError(f"--{name} {value} exceeds the limit {int(LIMITS[name])}")
    total = steps + _positive_int("extra", extra, 0)
    work = float(total) * batch * seeds * n_states * n_states
    memory = 8.0 * total * batch * (3 * n_states + 4)
    if work > LIMITS["work"]:
        raise ValueError(
            f"--steps {steps} x --batch {batch} x {seeds} seeds x {n_states}^2 states = "
            f"{work:.3g} Jacobian entries exceeds the limit {LIMITS['work']:.3g}; lower --steps, "
            "--batch or the number of --seeds"
        )
    if memory > LIMITS["memory"]:
        raise ValueError(
            f"--steps {steps} x --batch {batch}: the trajectory needs {memory / 2**20:.0f} MiB, "
            f"over the limit {LIMITS['memory'] / 2**20:.0f} MiB; lower --steps or --batch"
        )
    return {"work": work, "bytes": memory, "seconds": work / 1e7}


# ----------------------------------------------------------------------------- Jacobians


def surrogate_slopes(model: NeuronModel, states: dict[str, Any]) -> np.ndarray:
    """psi(z) of the carried states (any common shape): the surrogate slope at the spike
    argument z = ``spike_argument(x)``, broadcast to the states' shape."""
    p = model.coefficients(NUMPY_OPS)
    z = np.asarray(model.spike_argument(p, states, NUMPY_OPS), dtype=np.float64)
    shape = np.broadcast_shapes(*(np.shape(v) for v in states.values()), z.shape)
    return np.broadcast_to(model.surrogate(z), shape)


def _theta(model: NeuronModel) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in model.params().values()]


def _partials(
    model: NeuronModel,
    D: StepPartials,
    x_prev: list[np.ndarray],
    s_prev: np.ndarray,
    current: np.ndarray,
    s_new: np.ndarray,
    psi_new: np.ndarray,
    psi_prev: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, dI, c) of one stretch of steps, every array over the shape of ``s_prev`` (*lead):
    A (*lead, n, n) the single-neuron spike-aware Jacobian, dI (*lead, n) = dF/dI and
    c (*lead, n) = psi(z[t-1]) dz/dx[t-1] (the spike path out of the neuron)."""
    n = D.n
    theta = _theta(model)
    shape = s_prev.shape
    flat = D.numpy["partials"](*x_prev, s_prev, current, s_new, psi_new, *theta)
    dx, dS, dI, _ = D.split([np.broadcast_to(np.asarray(e, np.float64), shape) for e in flat])
    zx = [np.broadcast_to(np.asarray(e, np.float64), shape) for e in D.numpy["z"](*x_prev, *theta)]
    c = np.stack([psi_prev * zx[j] for j in range(n)], axis=-1)
    A = np.empty((*shape, n, n))
    for i in range(n):
        for j in range(n):
            A[..., i, j] = dx[i][j] + dS[i] * c[..., j]
    return A, np.stack(list(dI), axis=-1), c


def _check_states(
    model: NeuronModel, states: dict[str, Any], spikes: Any, current: Any, who: str
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    S = np.asarray(spikes, dtype=np.float64)
    if S.ndim < 1 or S.shape[0] < 2:
        raise ValueError(f"{who}: need a trajectory of at least 2 steps, shape (T, *batch)")
    xs = []
    for name in model.state_names:
        if name not in states:
            raise ValueError(f"{who}: the trajectory lacks state '{name}'")
        x = np.asarray(states[name], dtype=np.float64)
        if x.shape != S.shape:
            raise ValueError(f"{who}: state '{name}' has shape {x.shape}, the spikes {S.shape}")
        xs.append(x)
    bad = [n for n, x in zip(model.state_names, xs, strict=True) if not np.all(np.isfinite(x))]
    if bad:
        first = min(
            int(np.flatnonzero(~np.all(np.isfinite(x.reshape(len(x), -1)), axis=1))[0])
            for n, x in zip(model.state_names, xs, strict=True)
            if n in bad
        )
        try:
            radius = subthreshold_spectral_radius(model)
            rho = f" (the sub-threshold map's spectral radius is {radius:.6g})"
        except (ValueError, TypeError, np.linalg.LinAlgError):
            rho = ""
        raise ValueError(
            f"{who}: the trajectory overflows: state(s) {bad} are not finite from step {first} "
            f"on{rho}; the backward dynamics along it are not defined (fewer steps, a smaller "
            "input, or parameters whose map does not grow)"
        )
    I = np.asarray(current, dtype=np.float64)
    try:
        I = np.broadcast_to(I, S.shape)
    except ValueError:
        raise ValueError(
            f"{who}: current of shape {I.shape} does not fit the trajectory {S.shape}"
        ) from None
    return xs, S, I


def _window(start: Any, stop: Any, T: int, who: str) -> tuple[int, int]:
    start = 1 if start is None else _positive_int(f"{who}: start", start)
    stop = T if stop is None else _positive_int(f"{who}: stop", stop)
    if not 1 <= start < stop <= T:
        raise ValueError(f"{who}: need 1 <= start < stop <= T = {T}, got {start}, {stop}")
    return start, stop


def step_jacobians(
    model: NeuronModel,
    trace: Trace,
    current: Any,
    start: int | None = None,
    stop: int | None = None,
    psi_zero: bool = False,
) -> np.ndarray:
    """Spike-aware one-step Jacobians of a NumPy trajectory from the generated partials.

    trace: ``simulate(model, current)``; current: (T, *batch). Returns (stop - start, *batch,
    n, n) with ``out[t - start] = d x[t] / d x[t-1]`` (states in ``model.state_names`` order)
    for t = start..stop-1 (default 1..T-1). ``psi_zero``: every surrogate slope set to 0 (the
    spike pattern held fixed). Equals autograd of ``model.transition`` (``flow.jacobians_along``).
    """
    who = "step_jacobians"
    model = _numpy_model(model, who)
    xs, S, I = _check_states(model, trace.states, trace.spikes, current, who)
    start, stop = _window(start, stop, S.shape[0], who)
    D = step_partials(model)
    psi = np.zeros(S.shape) if psi_zero else surrogate_slopes(model, dict(trace.states))
    now, prev = slice(start, stop), slice(start - 1, stop - 1)
    A, _, _ = _partials(
        model, D, [x[prev] for x in xs], S[prev], I[now], S[now], psi[now], psi[prev]
    )
    return A


# ----------------------------------------------------------------------------- QR recursion


@dataclass(frozen=True)
class QRResult:
    """Sums of log|diag R_t| of the backward QR recursion.

    log_r: (*batch, k) the sums over the counted steps, column by column (Benettin order,
    not sorted); steps: how many steps were counted; log_det: (*batch,) the sum of
    log|det J_t| over the same steps (only when every column is tracked, else None);
    checkpoints: {m: (*batch, k)} the sums after the first m counted steps (backward in time).
    """

    log_r: np.ndarray
    steps: int
    log_det: np.ndarray | None
    checkpoints: dict[int, np.ndarray]

    @property
    def exponents(self) -> np.ndarray:
        """(*batch, k) finite-time exponents sorted largest first (nats per step)."""
        return -np.sort(-self.log_r / self.steps, axis=-1)


def _log_abs(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.abs(values))


def _qr(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched reduced QR of Z (..., N, k): Q (..., N, k) and log|diag R| (..., k)."""
    if Z.shape[-1] == 1:
        norm = np.sqrt((Z * Z).sum(axis=-2))
        zero = norm == 0
        if np.any(zero):
            Z = np.where(zero[..., None, :], np.eye(Z.shape[-2])[:, :1], Z)
            norm = np.where(zero, 1.0, norm)
        with np.errstate(divide="ignore"):
            return Z / norm[..., None, :], np.where(zero, -np.inf, np.log(norm))
    Q, R = np.linalg.qr(Z)
    return Q, _log_abs(np.diagonal(R, axis1=-2, axis2=-1))


Operator = Callable[[int, np.ndarray], np.ndarray]


def backward_qr(
    chunks: Iterator[tuple[Operator, int, Any]],
    n: int,
    batch: tuple[int, ...],
    k: int | None = None,
    burn: int = 0,
    checkpoints: Sequence[int] = (),
) -> QRResult:
    """The Benettin recursion ``Q_{t-1} R_t = J_t^T Q_t`` run backward in time.

    chunks: yields ``(apply, length, logdet)`` from the last stretch of steps to the first:
    ``apply(i, Q)`` = J^T Q for step i of the stretch (i = length-1 down to 0, time order within
    the stretch), Q of shape (*batch, n, k); ``logdet`` None or (length, *batch) log|det J|.
    The first ``burn`` steps processed (the latest in time) only align Q; the rest are counted.
    Q starts as the first k columns of the identity. Returns a ``QRResult``.
    """
    k = n if k is None else _positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be at most the state dimension {n}, got {k}")
    Q = np.broadcast_to(np.eye(n)[:, :k], (*batch, n, k)).copy()
    acc = np.zeros((*batch, k))
    det_acc: np.ndarray | None = np.zeros(batch)
    marks = sorted({_positive_int("checkpoint", m) for m in checkpoints})
    saved: dict[int, np.ndarray] = {}
    seen = 0
    counted = 0
    for apply, length, logdet in chunks:
        for i in range(length - 1, -1, -1):
            Q, lr = _qr(apply(i, Q))
            seen += 1
            if seen <= burn:
                continue
            acc = acc + lr
            if det_acc is not None:
                det_acc = None if logdet is None else det_acc + logdet[i]
            counted += 1
            if marks and counted == marks[0]:
                saved[marks.pop(0)] = acc.copy()
    if counted == 0:
        raise ValueError(f"backward_qr: no step left to count (burn = {burn} of {seen} steps)")
    if k < n:
        det_acc = None
    return QRResult(acc, counted, det_acc, saved)


def _dense_chunks(
    jacobians: np.ndarray, chunk: int, with_det: bool
) -> Iterator[tuple[Operator, int, Any]]:
    K = jacobians.shape[0]
    for hi in range(K, 0, -chunk):
        lo = max(0, hi - chunk)
        J = jacobians[lo:hi]
        JT = np.swapaxes(J, -1, -2)
        logdet = np.linalg.slogdet(J)[1] if with_det else None
        yield (lambda i, Q, JT=JT: JT[i] @ Q), hi - lo, logdet


# ----------------------------------------------------------------------------- single neurons


@dataclass(frozen=True)
class Spectrum:
    """Finite-time Lyapunov spectrum of the backward dynamics along a batch of trajectories.

    exponents: (*batch, k) largest first, nats per step (divide by ln 10 for decades);
    log_det: (*batch,) time average of log|det J_t| (None unless k = n); steps: counted steps;
    rate: (*batch,) spikes per step; in_window: (*batch,) fraction of steps with psi != 0;
    checkpoints: {m: (*batch, k)} the estimates (sorted) over the last m counted steps.
    """

    exponents: np.ndarray
    log_det: np.ndarray | None
    steps: int
    rate: np.ndarray
    in_window: np.ndarray
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def top(self) -> np.ndarray:
        """(*batch,) the largest exponent."""
        return self.exponents[..., 0]


def _spectrum(res: QRResult, rate: np.ndarray, in_window: np.ndarray) -> Spectrum:
    log_det = None if res.log_det is None else res.log_det / res.steps
    marks = {m: -np.sort(-v / m, axis=-1) for m, v in res.checkpoints.items()}
    return Spectrum(res.exponents, log_det, res.steps, rate, in_window, marks)


def _same_forward(models: Sequence[NeuronModel], who: str) -> list[NeuronModel]:
    """The models as NumPy records, checked to share one forward run: the same class and every
    field equal except the two switches that change only the backward (surrogate, detach)."""
    if not models:
        raise ValueError(f"{who}: give at least one model")
    out = [_numpy_model(m, who) for m in models]
    base = out[0]
    for m in out[1:]:
        if type(m) is not type(base):
            raise ValueError(f"{who}: variants must share one model class")
        for f in fields(base):
            if not f.init or f.name in ("surrogate", "detach_reset"):
                continue
            a, b = getattr(base, f.name), getattr(m, f.name)
            if not np.array_equal(np.asarray(a), np.asarray(b)):
                raise ValueError(
                    f"{who}: variants differ in '{f.name}'; only the surrogate and "
                    "detach_reset may differ (they leave the forward run unchanged)"
                )
    return out


def lyapunov_spectra(
    models: Sequence[NeuronModel],
    current: Any,
    k: int | None = None,
    burn: int = 0,
    warmup: int = 0,
    psi_zero: bool = False,
    chunk: int = 1024,
    checkpoints: Sequence[int] = (),
) -> list[Spectrum]:
    """The Lyapunov spectra of the backward dynamics of several variants of one model (differing
    only in surrogate and ``detach_reset``, which leave the forward run unchanged) driven by
    ``current`` (T, *batch): one simulation, one QR recursion over every variant's Jacobians.

    The neuron starts at rest; the Jacobians of steps 1..warmup are dropped (the transient of
    the state); the recursion starts at the last step with Q = I, its first ``burn`` steps only
    align Q, and the exponents average log|diag R_t| over the T - 1 - warmup - burn steps left.
    ``k``: how many exponents (default all n); ``psi_zero``: psi = 0 everywhere. Jacobians are
    evaluated ``chunk`` steps at a time (memory O(chunk * variants * batch * n^2)).
    """
    who = "lyapunov_spectrum"
    variants = _same_forward(models, who)
    model = variants[0]
    current = np.asarray(current, dtype=np.float64)
    if current.ndim < 1 or current.shape[0] < 2:
        raise ValueError(f"{who}: current must have shape (T, *batch) with T >= 2")
    warmup = _positive_int(f"{who}: warmup", warmup, 0)
    burn = _positive_int(f"{who}: burn", burn, 0)
    chunk = _positive_int(f"{who}: chunk", chunk)
    T = current.shape[0]
    if warmup + burn >= T - 1:
        raise ValueError(
            f"{who}: warmup + burn = {warmup + burn} leaves no step of T - 1 = {T - 1}"
        )
    with warnings.catch_warnings():  # an overflow is refused below, with its step
        warnings.simplefilter("ignore", RuntimeWarning)
        trace = simulate(model, current)
    xs, S, I = _check_states(model, trace.states, trace.spikes, current, who)
    parts = [step_partials(m) for m in variants]
    psis = [
        np.zeros(S.shape) if psi_zero else surrogate_slopes(m, dict(trace.states)) for m in variants
    ]
    n = parts[0].n
    full = k is None or k == n

    def chunks() -> Iterator[tuple[Operator, int, Any]]:
        first = warmup + 1
        for hi in range(T, first, -chunk):
            lo = max(first, hi - chunk)
            now, prev = slice(lo, hi), slice(lo - 1, hi - 1)
            A = np.stack(
                [
                    _partials(
                        m, D, [x[prev] for x in xs], S[prev], I[now], S[now], psi[now], psi[prev]
                    )[0]
                    for m, D, psi in zip(variants, parts, psis, strict=True)
                ],
                axis=1,
            )
            yield from _dense_chunks(A, hi - lo, full)

    res = backward_qr(chunks(), n, (len(variants), *S.shape[1:]), k, burn, checkpoints)
    window = slice(warmup, T - 1 - burn)
    rate = S[window].mean(axis=0)
    out = []
    for v, psi in enumerate(psis):
        part = QRResult(
            res.log_r[v],
            res.steps,
            None if res.log_det is None else res.log_det[v],
            {m: c[v] for m, c in res.checkpoints.items()},
        )
        out.append(_spectrum(part, rate, (np.asarray(psi)[window] != 0).mean(axis=0)))
    return out


def lyapunov_spectrum(
    model: NeuronModel,
    current: Any,
    k: int | None = None,
    burn: int = 0,
    warmup: int = 0,
    psi_zero: bool = False,
    chunk: int = 1024,
    checkpoints: Sequence[int] = (),
) -> Spectrum:
    """The Lyapunov spectrum of ``model``'s backward dynamics driven by ``current`` (T, *batch):
    ``lyapunov_spectra([model], ...)[0]`` (see there for ``k``, ``burn``, ``warmup``...)."""
    return lyapunov_spectra([model], current, k, burn, warmup, psi_zero, chunk, checkpoints)[0]


# ----------------------------------------------------------------------------- estimates


def _ci(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and the half-width of its Student-t confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    s = values.shape[0]
    mean = values.mean(axis=0)
    if s < 2:
        return mean, np.full(mean.shape, np.nan)
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf(0.5 + level / 2, s - 1) * values.std(axis=0, ddof=1) / math.sqrt(s)
    return mean, half


@dataclass(frozen=True)
class SpectrumEstimate:
    """Finite-time estimates over seeds.

    per_seed: (seeds, k) the spectrum of each seed (mean over its ``batch`` neurons, largest
    first); exponents, ci95: (k,) mean over seeds and the half-width of the 95% Student-t
    interval; log_det: mean time average of log|det J_t| (None unless every exponent was
    tracked); rate, in_window: mean spikes per step and fraction of steps inside the surrogate
    window; convergence: {T: (mean (k,), ci95 (k,))} the estimate over the last T steps.
    """

    model: NeuronModel
    input_mean: float
    input_std: float
    steps: int
    seeds: tuple[int, ...]
    batch: int
    per_seed: np.ndarray
    exponents: np.ndarray
    ci95: np.ndarray
    log_det: float | None
    rate: float
    in_window: float
    convergence: dict[int, tuple[np.ndarray, np.ndarray]]
    seconds: float

    @property
    def top(self) -> float:
        return float(self.exponents[0])


def _currents(mean: float, std: float, T: int, batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, std, size=(T, batch))


def _input_stats(model: NeuronModel, mean: Any, std: Any) -> tuple[float, float]:
    mean0, std0 = type(model).input_stats
    mean = _finite("input mean", mean0 if mean is None else mean)
    std = _finite("input std", std0 if std is None else std)
    if std < 0:
        raise ValueError(f"input std must be >= 0, got {std}")
    return mean, std


def estimate_spectra(
    models: Sequence[NeuronModel],
    input_mean: float | None = None,
    input_std: float | None = None,
    steps: int = 2000,
    seeds: Sequence[int] = (0, 1, 2),
    batch: int = 64,
    warmup: int = 100,
    burn: int = 100,
    k: int | None = None,
    psi_zero: bool = False,
    checkpoints: Sequence[int] = (),
) -> list[SpectrumEstimate]:
    """``estimate_spectrum`` for several variants of one model (surrogate and detach_reset may
    differ), sharing the forward runs: one estimate per variant, same inputs."""
    variants = _same_forward(models, "estimate_spectrum")
    mean, std = _input_stats(variants[0], input_mean, input_std)
    seeds = tuple(_positive_int("seed", s, 0) for s in seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    steps = _positive_int("steps", steps)
    warmup = _positive_int("warmup", warmup, 0)
    burn = _positive_int("burn", burn, 0)
    n = len(variants[0].state_names)
    check_budget(steps, batch * len(variants), len(seeds), n, warmup + burn + 1)
    marks = sorted({_positive_int("checkpoint", m) for m in checkpoints if m <= steps})
    start = time.perf_counter()
    runs = []
    for seed in seeds:
        current = _currents(mean, std, steps + warmup + burn + 1, batch, seed)
        runs.append(
            lyapunov_spectra(variants, current, k, burn, warmup, psi_zero, checkpoints=marks)
        )
    seconds = (time.perf_counter() - start) / len(variants)
    out = []
    for v, model in enumerate(variants):
        spectra = [r[v] for r in runs]
        per_seed = np.stack([sp.exponents.mean(axis=0) for sp in spectra])
        mean_exp, half = _ci(per_seed)
        log_det = None
        if spectra[0].log_det is not None:
            log_det = float(np.mean([sp.log_det.mean() for sp in spectra]))
        conv = {m: _ci(np.stack([sp.checkpoints[m].mean(axis=0) for sp in spectra])) for m in marks}
        out.append(
            SpectrumEstimate(
                model=model,
                input_mean=mean,
                input_std=std,
                steps=spectra[0].steps,
                seeds=seeds,
                batch=batch,
                per_seed=per_seed,
                exponents=mean_exp,
                ci95=half,
                log_det=log_det,
                rate=float(np.mean([sp.rate.mean() for sp in spectra])),
                in_window=float(np.mean([sp.in_window.mean() for sp in spectra])),
                convergence=conv,
                seconds=seconds,
            )
        )
    return out


def estimate_spectrum(
    model: NeuronModel,
    input_mean: float | None = None,
    input_std: float | None = None,
    steps: int = 2000,
    seeds: Sequence[int] = (0, 1, 2),
    batch: int = 64,
    warmup: int = 100,
    burn: int = 100,
    k: int | None = None,
    psi_zero: bool = False,
    checkpoints: Sequence[int] = (),
) -> SpectrumEstimate:
    """Finite-time Lyapunov spectra of ``model`` under i.i.d. Gaussian input
    I ~ N(input_mean, input_std^2) (default: the model class's ``input_stats``), one batch of
    ``batch`` independent neurons per seed, ``steps`` counted steps each (after ``warmup`` steps
    of transient and before ``burn`` steps of alignment). Checks the budget first
    (``check_budget``). Returns a ``SpectrumEstimate`` with 95% intervals over seeds;
    ``checkpoints`` (<= steps) add the estimates over the last m steps (``convergence``)."""
    return estimate_spectra(
        [model], input_mean, input_std, steps, seeds, batch, warmup, burn, k, psi_zero, checkpoints
    )[0]


# ----------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class RecurrentTrace:
    """A recurrent layer's trajectory: states name -> (T, B, H), spikes (T, B, H) and the total
    input current I[t] = c[t] + S[t-1] W^T (T, B, H) each neuron received."""

    states: dict[str, np.ndarray]
    spikes: np.ndarray
    current: np.ndarray
    model: NeuronModel


def simulate_recurrent(model: NeuronModel, drive: Any, w_rec: Any) -> RecurrentTrace:
    """Run one recurrent layer in NumPy float64: I[t] = drive[t] + W S[t-1], then the model's
    step (the loop of ``experiments.networks.RecurrentSpikingLayer``). drive: (T, B, H) the
    feed-forward current (input weights, bias and gain applied); w_rec: (H, H). States start at
    0. Parameters may be scalars or per-neuron arrays (H,)."""
    who = "simulate_recurrent"
    model = _numpy_model(model, who)
    C = np.asarray(drive, dtype=np.float64)
    W = np.asarray(w_rec, dtype=np.float64)
    if C.ndim != 3:
        raise ValueError(f"{who}: drive must have shape (T, B, H), got {C.shape}")
    T, B, H = C.shape
    if W.shape != (H, H):
        raise ValueError(f"{who}: w_rec must have shape ({H}, {H}), got {W.shape}")
    if not (np.all(np.isfinite(C)) and np.all(np.isfinite(W))):
        raise ValueError(f"{who}: drive and w_rec must be finite")
    p = model.coefficients(NUMPY_OPS)
    state: dict[str, Any] = {nm: np.zeros((B, H)) for nm in model.state_names}
    state["S"] = np.zeros((B, H))
    out = {nm: np.empty((T, B, H)) for nm in model.state_names}
    spikes = np.empty((T, B, H))
    total = np.empty((T, B, H))
    for t in range(T):
        I_t = C[t] + state["S"] @ W.T
        state, S = model.step(p, state, I_t, NUMPY_OPS)
        for nm in model.state_names:
            out[nm][t] = state[nm]
        spikes[t] = S
        total[t] = I_t
    return RecurrentTrace(out, spikes, total, model)


def _network_parts(
    trace: RecurrentTrace, start: int, stop: int, psi_zero: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model = trace.model
    D = step_partials(model)
    xs, S, I = _check_states(model, trace.states, trace.spikes, trace.current, "network")
    psi = np.zeros(S.shape) if psi_zero else surrogate_slopes(model, trace.states)
    now, prev = slice(start, stop), slice(start - 1, stop - 1)
    return _partials(model, D, [x[prev] for x in xs], S[prev], I[now], S[now], psi[now], psi[prev])


def network_jacobians(
    trace: RecurrentTrace,
    w_rec: Any,
    start: int | None = None,
    stop: int | None = None,
    psi_zero: bool = False,
) -> np.ndarray:
    """Dense Jacobians of the whole layer's state, (stop - start, B, H*n, H*n), index
    (neuron i, state a) -> i*n + a: ``J[(i,a),(j,b)] = delta_ij A_i[a,b] + dI_i[a] W_ij psi_j
    dz_j/dx[b]`` for steps t = start..stop-1 (default 1..T-1). For tests and small layers;
    ``network_spectrum`` applies the same operator without forming it."""
    W = np.asarray(w_rec, dtype=np.float64)
    T, B, H = trace.spikes.shape
    start, stop = _window(start, stop, T, "network_jacobians")
    A, dI, c = _network_parts(trace, start, stop, psi_zero)
    n = A.shape[-1]
    K = stop - start
    J = np.zeros((K, B, H, n, H, n))
    idx = np.arange(H)
    J[:, :, idx, :, idx, :] = np.moveaxis(A, 2, 0)
    J += dI[:, :, :, :, None, None] * W[None, None, :, None, :, None] * c[:, :, None, None, :, :]
    return J.reshape(K, B, H * n, H * n)


def network_spectrum(
    trace: RecurrentTrace,
    w_rec: Any,
    start: int | None = None,
    stop: int | None = None,
    k: int = 8,
    burn: int = 0,
    psi_zero: bool = False,
    with_det: bool = False,
) -> Spectrum:
    """The top ``k`` Lyapunov exponents of a recurrent layer's backward dynamics over steps
    start..stop-1, one spectrum per sequence of the batch: (B, k), largest first.

    J^T Q is applied without forming J: (J^T Q)_(j,b) = sum_a A_j[a,b] Q_(j,a) +
    c_j[b] sum_i W_ij sum_a dI_i[a] Q_(i,a). ``with_det`` (k = H*n only) also sums
    log|det J_t| from the dense matrices (the identity check)."""
    W = np.asarray(w_rec, dtype=np.float64)
    T, B, H = trace.spikes.shape
    start, stop = _window(start, stop, T, "network_spectrum")
    A, dI, c = _network_parts(trace, start, stop, psi_zero)
    n = A.shape[-1]
    N = H * n
    AT = np.swapaxes(A, -1, -2)
    WT = np.ascontiguousarray(W.T)

    def apply(i: int, Q: np.ndarray) -> np.ndarray:
        q = Q.reshape(B, H, n, -1)
        own = AT[i] @ q
        u = (dI[i][..., None] * q).sum(axis=-2)
        v = WT @ u
        return (own + c[i][..., None] * v[:, :, None, :]).reshape(B, N, -1)

    logdet = None
    if with_det:
        if k != N:
            raise ValueError("network_spectrum: with_det needs every exponent (k = H * n)")
        dense = network_jacobians(trace, W, start, stop, psi_zero)
        logdet = np.linalg.slogdet(dense)[1]

    res = backward_qr(iter([(apply, stop - start, logdet)]), N, (B,), k, burn)
    psi = surrogate_slopes(trace.model, trace.states)[start:stop]
    rate = trace.spikes[start:stop].mean(axis=(0, 2))
    return _spectrum(res, rate, (psi != 0).mean(axis=(0, 2)))


# ----------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class StationaryDensity:
    """The stationary distribution of a one-state neuron under i.i.d. Gaussian input, on a grid:
    x (G,) cell centres, p (G,) cell probabilities (sum 1), edges (G+1,), iterations used."""

    x: np.ndarray
    p: np.ndarray
    edges: np.ndarray
    iterations: int


def _affine_input(model: NeuronModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G(x), b(x)) with F(x, I) = G(x) + b(x) I, checked on I = 0, 1, 2 (ValueError if the
    update is not affine in the input)."""
    name = model.state_names[0]
    F = [
        np.asarray(model.transition({name: x}, np.full_like(x, i), NUMPY_OPS)[name])
        for i in (0, 1, 2)
    ]
    G, b = F[0], F[1] - F[0]
    if not np.allclose(F[2] - F[0], 2 * b, rtol=1e-9, atol=1e-12):
        raise ValueError(f"{type(model).__name__}: the update is not affine in the input current")
    return G, b


def stationary_density(
    model: NeuronModel,
    input_mean: float,
    input_std: float,
    grid: int = 1200,
    tol: float = 1e-13,
    max_iter: int = 20000,
) -> StationaryDensity:
    """Stationary distribution of a one-state model driven by I ~ N(mean, std^2) i.i.d.

    The Markov chain x[t] = G(x[t-1]) + b(x[t-1]) I[t] (the step, spike and reset included,
    read off ``model.transition``) is discretised on ``grid`` cells: row i of the transfer matrix
    holds the exact Gaussian mass of each cell, renormalised to the grid. The grid spans the
    range of a short pilot run padded by 6 b std; the density is the fixed point of p <- p K
    (power iteration to ``tol`` in the 1-norm). No Jacobian is used.
    """
    who = "stationary_density"
    model = _numpy_model(model, who)
    if len(model.state_names) != 1:
        raise ValueError(f"{who}: {type(model).__name__} has {len(model.state_names)} states")
    if any(np.ndim(v) for v in model.params().values()):
        raise ValueError(f"{who}: give scalar parameters")
    mean = _finite("input mean", input_mean)
    std = _finite("input std", input_std)
    if std <= 0:
        raise ValueError(f"{who}: input std must be > 0, got {std}")
    grid = _positive_int("grid", grid, 16)
    pilot = simulate(model, _currents(mean, std, 3000, 32, 12345))
    v = np.asarray(pilot.states[model.state_names[0]])[200:]
    _, b_pilot = _affine_input(model, v.ravel())
    pad = 6.0 * std * float(np.max(np.abs(b_pilot)))
    edges = np.linspace(v.min() - pad, v.max() + pad, grid + 1)
    x = 0.5 * (edges[1:] + edges[:-1])
    G, b = _affine_input(model, x)
    mu = G + b * mean
    sd = np.abs(b) * std
    if np.any(sd == 0):
        raise ValueError(f"{who}: the input does not reach the state")
    cdf = special.ndtr((edges[None, :] - mu[:, None]) / sd[:, None])
    K = np.diff(cdf, axis=1)
    mass = K.sum(axis=1, keepdims=True)
    K = K / np.where(mass > 0, mass, 1.0)
    p = np.full(grid, 1.0 / grid)
    for it in range(1, max_iter + 1):
        q = p @ K
        q /= q.sum()
        if np.abs(q - p).sum() < tol:
            return StationaryDensity(x, q, edges, it)
        p = q
    raise ValueError(f"{who}: the power iteration did not converge in {max_iter} steps")


@dataclass(frozen=True)
class Prediction:
    """Predicted top exponent (nats per step) from the firing statistics.

    top: the main prediction (one state: E_pi[log|J|], exact for a stationary ergodic neuron;
    more states: the exponent of the product of independent draws, Furstenberg's);
    frozen: E[log rho(J)] (the spectral radius of each step's J averaged in log);
    lower_bound: (1/n) E[log|det J|], a bound lambda_1 >= it; source: "density" (grid, from the
    input statistics alone) or "samples" (states of a forward simulation); rate and in_window:
    spikes per step and fraction of steps with psi != 0 under that distribution; p_zero: the
    probability per step that J = 0 exactly (one state: a hard reset from above the surrogate
    window, S = 1 and psi = 0), which makes the asymptotic exponent -inf; top_nonzero: the
    exponent of a trajectory that has not met such a step, E[log|J| | J != 0] (equal to
    ``top`` when p_zero = 0), what a finite window of T << 1 / p_zero steps measures.
    """

    top: float
    frozen: float
    lower_bound: float
    source: str
    rate: float
    in_window: float
    p_zero: float = 0.0
    top_nonzero: float = math.nan

    def finite_time(self) -> float:
        """``top`` if no step can zero J, else ``top_nonzero``."""
        return self.top if self.p_zero == 0 else self.top_nonzero


def _transition_jacobians(
    model: NeuronModel, x_prev: list[np.ndarray], current: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """J for given previous states and currents (any common shape): one step from x_prev (its
    spike recomputed from the threshold argument) with input ``current``. Returns (J (..., n,
    n), S_prev, psi_prev)."""
    names = model.state_names
    D = step_partials(model)
    prev = dict(zip(names, x_prev, strict=True))
    p = model.coefficients(NUMPY_OPS)
    z = np.asarray(model.spike_argument(p, prev, NUMPY_OPS), dtype=np.float64)
    shape = np.broadcast_shapes(z.shape, np.shape(current))
    s_prev = np.broadcast_to((z >= 0).astype(np.float64), shape)
    psi_prev = np.broadcast_to(model.surrogate(z), shape)
    state = {nm: np.broadcast_to(v, shape) for nm, v in prev.items()}
    state["S"] = s_prev
    new, s_new = model.step(p, state, np.broadcast_to(current, shape), NUMPY_OPS)
    z_new = model.spike_argument(p, new, NUMPY_OPS)
    psi_new = np.broadcast_to(model.surrogate(np.asarray(z_new, dtype=np.float64)), shape)
    xb = [np.broadcast_to(v, shape) for v in x_prev]
    A, _, _ = _partials(
        model,
        D,
        xb,
        s_prev,
        np.broadcast_to(current, shape),
        np.broadcast_to(np.asarray(s_new, np.float64), shape),
        psi_new,
        psi_prev,
    )
    return A, s_prev, psi_prev


def _log_spectral_radius(J: np.ndarray) -> np.ndarray:
    if J.shape[-1] == 1:
        return _log_abs(J[..., 0, 0])
    return _log_abs(np.abs(np.linalg.eigvals(J)).max(axis=-1))


def _log_abs_det(J: np.ndarray) -> np.ndarray:
    if J.shape[-1] == 1:
        return _log_abs(J[..., 0, 0])
    return np.linalg.slogdet(J)[1]


def predict_tops(
    models: Sequence[NeuronModel],
    input_mean: float | None = None,
    input_std: float | None = None,
    source: str | None = None,
    samples: int = 4000,
    chains: int = 8,
    seed: int = 10_000,
    grid: int = 1200,
    nodes: int = 24,
) -> list[Prediction]:
    """``predict_top`` for several variants of one model (surrogate and detach_reset may
    differ): the stationary distribution is computed once and serves every variant."""
    who = "predict_top"
    variants = _same_forward(models, who)
    model = variants[0]
    mean, std = _input_stats(model, input_mean, input_std)
    n = len(model.state_names)
    if source is None:
        source = "density" if n == 1 else "samples"
    if source not in ("density", "samples"):
        raise ValueError(f"{who}: source must be 'density' or 'samples', got {source!r}")
    if source == "density":
        dens = stationary_density(model, mean, std, grid)
        h = np.diff(dens.edges)
        gl, glw = np.polynomial.legendre.leggauss(4)
        xs = (dens.x[:, None] + 0.5 * h[:, None] * gl[None, :]).ravel()
        wx = (dens.p[:, None] * 0.5 * glw[None, :]).ravel()
        gh, ghw = np.polynomial.hermite_e.hermegauss(_positive_int("nodes", nodes, 2))
        w = wx[:, None] * (ghw / ghw.sum())[None, :]
        out = []
        for m in variants:
            J, s_prev, psi_prev = _transition_jacobians(
                m, [xs[:, None]], (mean + std * gh)[None, :]
            )
            logj = _log_abs(J[..., 0, 0])
            zero = np.isneginf(logj) & (w > 0)
            p_zero = float(np.sum(w[zero]))
            safe = np.where(np.isneginf(logj), 0.0, logj)
            nonzero = float(np.sum(w * safe) / (1.0 - p_zero)) if p_zero < 1 else -math.inf
            val = -math.inf if p_zero > 0 else float(np.sum(w * safe))
            rate = float(np.sum(w * s_prev))
            in_window = float(np.sum(w * (psi_prev != 0)))
            out.append(Prediction(val, val, val, "density", rate, in_window, p_zero, nonzero))
        return out
    samples = _positive_int("samples", samples, 8)
    chains = _positive_int("chains", chains)
    warm = 200
    with warnings.catch_warnings():  # an overflow is refused below, with its step
        warnings.simplefilter("ignore", RuntimeWarning)
        trace = simulate(model, _currents(mean, std, warm + samples, chains, seed))
    _check_states(model, trace.states, trace.spikes, 0.0, "predict_top")
    rng = np.random.default_rng(seed + 1)
    flat = {nm: np.asarray(trace.states[nm])[warm:].ravel() for nm in model.state_names}
    pick = rng.integers(0, samples * chains, size=(samples, chains))
    x_prev = [flat[nm][pick] for nm in model.state_names]
    currents = rng.normal(mean, std, size=(samples, chains))
    Js, stats_ = [], []
    for m in variants:
        J, s_prev, psi_prev = _transition_jacobians(m, x_prev, currents)
        Js.append(J)
        stats_.append((float(s_prev.mean()), float((psi_prev != 0).mean())))
    J = np.stack(Js, axis=1)
    res = backward_qr(
        _dense_chunks(J, samples, False), n, (len(variants), chains), 1, min(100, samples // 4)
    )
    tops = res.exponents[..., 0].mean(axis=-1)
    frozen = _log_spectral_radius(J).mean(axis=(0, 2))
    bound = _log_abs_det(J).mean(axis=(0, 2)) / n
    return [
        Prediction(
            float(tops[v]),
            float(frozen[v]),
            float(bound[v]),
            "samples",
            *stats_[v],
            0.0,
            float(tops[v]),
        )
        for v in range(len(variants))
    ]


def predict_top(
    model: NeuronModel,
    input_mean: float | None = None,
    input_std: float | None = None,
    source: str | None = None,
    samples: int = 4000,
    chains: int = 8,
    seed: int = 10_000,
    grid: int = 1200,
    nodes: int = 24,
) -> Prediction:
    """Predict the top Lyapunov exponent of the backward dynamics from the distribution of the
    state (the firing statistics: where the potential sits relative to the surrogate window).

    ``source="density"`` (the default for one-state models): pi from ``stationary_density`` (the
    input statistics alone), E over pi and over I ~ N(mean, std^2) (Gauss-Hermite, ``nodes``
    points; 4 Gauss-Legendre points per cell for the log singularities of J).
    ``source="samples"`` (the default otherwise): ``chains`` x ``samples`` states of a forward
    simulation (its own ``seed``, no Jacobian product), drawn independently of each other and
    paired with fresh inputs; the top exponent of the product of those independent Jacobians
    (backward QR), averaged over the chains.
    """
    return predict_tops([model], input_mean, input_std, source, samples, chains, seed, grid, nodes)[
        0
    ]


# ----------------------------------------------------------------------------- the table


#: The surrogates of the prediction table (names of ``neurons.SURROGATES``, default shapes).
TABLE_SURROGATES = ("triangle", "fast_sigmoid", "sigmoid")
#: The input statistics of the table: the model's ``input_stats`` scaled by these factors.
TABLE_INPUT_SCALES = (1.0, 0.5)


def default_configurations(
    models: Sequence[str] | None = None,
    surrogates: Sequence[str] = TABLE_SURROGATES,
    scales: Sequence[float] = TABLE_INPUT_SCALES,
) -> list[dict[str, Any]]:
    """Configurations of the prediction table, from the registry: every registered model (or
    ``models``) at its ``verify_params`` (a case that spikes), each surrogate, each detach
    option the model supports, and the model's ``input_stats`` (mean, std) times each scale."""
    names = tuple(models) if models is not None else model_names()
    out = []
    for name in names:
        cls = model_class(name)
        mean, std = cls.input_stats
        for surrogate in surrogates:
            get_surrogate(surrogate)
            for detach in cls.detach_options:
                for scale in scales:
                    out.append(
                        dict(
                            model=cls.name,
                            params=dict(cls.verify_params),
                            surrogate=surrogate,
                            detach_reset=bool(detach),
                            input_mean=float(mean) * scale,
                            input_std=float(std) * scale,
                        )
                    )
    return out


def _config_model(config: dict[str, Any]) -> NeuronModel:
    return get_model(
        config["model"],
        **config.get("params", {}),
        surrogate=config["surrogate"],
        detach_reset=config["detach_reset"],
    )


def prediction_table(
    configs: Sequence[dict[str, Any]] | None = None,
    steps: int = 1500,
    seeds: Sequence[int] = (0, 1, 2),
    batch: int = 16,
    samples: int = 3000,
) -> list[dict[str, Any]]:
    """Measured against predicted top exponents, one row per configuration (default
    ``default_configurations()``): the measured mean and 95% half-width over seeds, the
    prediction (``predict_top``: asymptotic, probability of an exactly zero step, finite-time),
    its frozen and lower-bound variants, the absolute error and the relative error
    |pred - meas| / |meas| of the finite-time prediction (None where |meas| < 1e-3: the
    exponent is 0 within its finite-time error), the spike rate and the fraction of steps in
    the window."""
    configs = default_configurations() if configs is None else list(configs)
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        key = json.dumps(
            [config["model"], config.get("params", {}), config["input_mean"], config["input_std"]],
            sort_keys=True,
        )
        groups.setdefault(key, []).append(i)
    rows: list[dict[str, Any] | None] = [None] * len(configs)
    for members in groups.values():
        first = configs[members[0]]
        models = [_config_model(configs[i]) for i in members]
        mean, std = first["input_mean"], first["input_std"]
        ests = estimate_spectra(models, mean, std, steps, seeds, batch, k=1)
        preds = predict_tops(models, mean, std, samples=samples)
        for i, est, pred in zip(members, ests, preds, strict=True):
            config = configs[i]
            meas = est.top
            # a finite measurement is compared with the exponent of trajectories that met no
            # exactly-zero step (p_zero > 0: the asymptotic exponent is -inf)
            ref = pred.top if not math.isfinite(meas) else pred.finite_time()
            if meas == ref == -math.inf:
                err, rel = 0.0, 0.0  # both exactly zero gradients
            else:
                err = abs(ref - meas) if math.isfinite(meas) else math.inf
                rel = err / abs(meas) if math.isfinite(meas) and abs(meas) >= 1e-3 else None
            rows[i] = dict(
                model=config["model"],
                surrogate=config["surrogate"],
                detach_reset=config["detach_reset"],
                input_mean=mean,
                input_std=std,
                rate=est.rate,
                in_window=est.in_window,
                measured=meas,
                ci95=float(est.ci95[0]),
                predicted=pred.top,
                p_zero=pred.p_zero,
                predicted_finite=pred.finite_time(),
                frozen=pred.frozen,
                lower_bound=pred.lower_bound,
                source=pred.source,
                abs_error=err,
                rel_error=rel,
            )
    return [r for r in rows if r is not None]


def learnable_delay(top_exponent: Any, floor_decades: float = 3.0) -> np.ndarray:
    """The longest delay over which a gradient stays above a floor: D* = floor ln 10 / (-lambda_1)
    steps for lambda_1 < 0 (the gradient falls by ``floor_decades`` decades over D*), inf for
    lambda_1 >= 0 (no vanishing; lambda_1 > 0 is growth). ``top_exponent`` in nats per step."""
    lam = np.asarray(top_exponent, dtype=np.float64)
    floor = _finite("floor_decades", floor_decades)
    if floor <= 0:
        raise ValueError(f"floor_decades must be > 0, got {floor}")
    with np.errstate(divide="ignore"):
        return np.where(lam < 0, floor * LN10 / np.where(lam < 0, -lam, 1.0), np.inf)


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif lyapunov MODEL --param NAME=VALUE ... [options]``."""
    parser.add_argument("model", help="a registered model name (see lstmlif inspect)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a model parameter"
    )
    parser.add_argument("--input-mean", type=float, default=None, help="default: the model's")
    parser.add_argument("--input-std", type=float, default=None, help="default: the model's")
    parser.add_argument("--steps", type=int, default=2000, help="counted steps per trajectory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED")
    parser.add_argument("--batch", type=int, default=64, help="neurons per seed")
    parser.add_argument("--warmup", type=int, default=100, help="transient steps dropped")
    parser.add_argument("--burn", type=int, default=100, help="alignment steps of the QR")
    parser.add_argument(
        "--detach-reset",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="no gradient through the spike in the reset (default: the model's own)",
    )
    parser.add_argument(
        "--surrogate", default=None, help=f"one of {sorted(SURROGATES)} (default triangle)"
    )
    parser.add_argument("--convention", default=None, help="paper or code (default: model's)")
    parser.add_argument("--reset", default=None, help="subtract or zero (default: model's)")
    parser.add_argument("--psi-zero", action="store_true", help="psi = 0 everywhere")
    parser.add_argument("--no-predict", action="store_true", help="skip the prediction")


def _report(est: SpectrumEstimate, pred: Prediction | None) -> dict[str, Any]:
    model = est.model
    exps = [float(v) for v in est.exponents]
    rep: dict[str, Any] = {
        "model": model_class(model).name,
        "params": {k: float(np.asarray(v)) for k, v in model.params().items()},
        "convention": model.convention,
        "reset": model.reset,
        "detach_reset": bool(model.detach_reset),
        "surrogate": model.surrogate.name,
        "input_mean": est.input_mean,
        "input_std": est.input_std,
        "steps": est.steps,
        "seeds": list(est.seeds),
        "batch": est.batch,
        "exponents": exps,
        "ci95": [float(v) for v in est.ci95],
        "decades_per_step": [v / LN10 for v in exps],
        "per_seed": est.per_seed.tolist(),
        "sum_of_exponents": float(np.sum(est.exponents)),
        "mean_log_abs_det": est.log_det,
        "rate": est.rate,
        "in_window": est.in_window,
        "learnable_delay_3_decades": float(learnable_delay(exps[0])),
        "seconds": est.seconds,
    }
    if pred is not None:
        rep["prediction"] = {
            "top": pred.top,
            "frozen": pred.frozen,
            "lower_bound": pred.lower_bound,
            "source": pred.source,
        }
    return rep


def run(args: argparse.Namespace) -> int:
    """Estimate and print the spectrum (text, or JSON with ``--json``; the spectrum under
    ``exponents``, largest first)."""
    from lstmlif.analysis.stability import _parse_param

    params = dict(_parse_param(p) for p in args.param)
    cls = model_class(args.model)
    switches: dict[str, Any] = {}
    if args.detach_reset is not None:
        if args.detach_reset not in cls.detach_options:
            raise ValueError(
                f"--{'' if args.detach_reset else 'no-'}detach-reset: {cls.__name__} supports "
                f"detach_reset in {list(cls.detach_options)} only"
            )
        switches["detach_reset"] = args.detach_reset
    if args.surrogate is not None:
        if args.surrogate not in SURROGATES:
            raise ValueError(
                f"--surrogate: unknown name {args.surrogate!r}; choose one of {sorted(SURROGATES)}"
            )
        switches["surrogate"] = args.surrogate
    for opt in ("convention", "reset"):
        value = getattr(args, opt)
        if value is not None:
            allowed = getattr(cls, f"{opt}s")
            if value not in allowed:
                raise ValueError(f"--{opt}: {value!r} is not one of {list(allowed)}")
            switches[opt] = value
    model = get_model(cls.name, **params, **switches)
    for name in ("input_mean", "input_std"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"--{name.replace('_', '-')} must be finite, got {value}")
    if args.input_std is not None and args.input_std < 0:
        raise ValueError(f"--input-std must be >= 0, got {args.input_std}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be integers >= 0, got {args.seeds}")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds repeats a seed: {args.seeds}")
    for name in ("batch", "warmup", "burn"):
        if getattr(args, name) < (1 if name == "batch" else 0):
            raise ValueError(f"--{name} must be >= {1 if name == 'batch' else 0}")
    if len(args.seeds) > LIMITS["seeds"]:
        raise ValueError(f"--seeds: {len(args.seeds)} seeds exceed the limit {LIMITS['seeds']}")
    est = estimate_spectrum(
        model,
        args.input_mean,
        args.input_std,
        args.steps,
        args.seeds,
        args.batch,
        args.warmup,
        args.burn,
        psi_zero=args.psi_zero,
    )
    pred = None
    if not args.no_predict and not args.psi_zero:
        pred = predict_top(model, est.input_mean, est.input_std)
    rep = _report(est, pred)
    if args.json:
        print(json.dumps(jsonable(rep), indent=2))
        return 0
    lines = [
        f"{type(model).__name__} ({model.convention} convention, {model.reset} reset"
        f"{', detached' if model.detach_reset else ''}, {model.surrogate.name} surrogate)",
        "parameters: " + ", ".join(f"{k}={v:.6g}" for k, v in rep["params"].items()),
        f"input I ~ N({est.input_mean:.4g}, {est.input_std:.4g}^2); {est.steps} steps x "
        f"{est.batch} neurons x {len(est.seeds)} seeds ({est.seconds:.1f} s)",
        f"spike rate {est.rate:.4f} per step; in the surrogate window {est.in_window:.4f}",
        "Lyapunov exponents of the backward dynamics (per step, mean +- 95% CI over seeds):",
    ]
    for i, (v, h) in enumerate(zip(est.exponents, est.ci95, strict=True)):
        lines.append(f"  lambda_{i + 1} = {v:+.6f} +- {h:.6f} nats  ({v / LN10:+.6f} decades)")
    if est.log_det is not None:
        lines.append(
            f"sum of exponents {np.sum(est.exponents):+.10f}; mean log|det J_t| {est.log_det:+.10f}"
        )
    lines.append(f"gradient falls 3 decades in {rep['learnable_delay_3_decades']:.4g} steps")
    if pred is not None:
        lines.append(
            f"predicted top ({pred.source}): {pred.top:+.6f}; frozen E log rho(J) "
            f"{pred.frozen:+.6f}; lower bound (1/n) E log|det J| {pred.lower_bound:+.6f}"
        )
    print("\n".join(lines))
    return 0
