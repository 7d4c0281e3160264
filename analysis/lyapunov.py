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

Exactly singular steps: where det J_t = 0 exactly (a hard or soma reset multiplies a row by
1 - S = 0; a zero row or column, or an exactly zero pivot), the product has rank at most that
of J_t, so every exponent below the smallest such rank is -inf. The QR leaves rounding residues
there (R_ii of 1e-17, a finite "exponent"); they are reported as -inf, and the sum identity
then reads -inf = -inf.

Predictions of lambda_1 (from the input statistics, without simulating) and the
independent-steps estimate live in ``analysis.lyapunov_predict``; this module only measures and
never imports it. ``lstmlif lyapunov MODEL`` (``analysis.lyapunov_cli``) prints both.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from scipy import stats

from lstmlif.neurons import NeuronModel, Trace, simulate
from lstmlif.neurons.derivatives import StepPartials, step_partials
from lstmlif.neurons.ops import NUMPY_OPS
from lstmlif.neurons.simulate import subthreshold_spectral_radius

__all__ = [
    "LN10",
    "LIMITS",
    "surrogate_slopes",
    "step_jacobians",
    "backward_qr",
    "step_rank",
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
    "learnable_delay",
    "check_budget",
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

    log_r: ``(*batch, k)`` the sums over the counted steps, column by column (Benettin order,
    not sorted); steps: how many steps were counted; log_det: ``(*batch,)`` the sum of
    log|det J_t| over the same steps (only when every column is tracked, else None);
    checkpoints: ``{m: (*batch, k)}`` the sums after the first m counted steps (backward in
    time); rank: ``(*batch,)`` an upper bound on the rank of the product (the smallest rank
    bound of a counted step: n less its exactly zero rows or columns, at most n - 1 where
    det J_t = 0 exactly), or None where the steps gave none.
    """

    log_r: np.ndarray
    steps: int
    log_det: np.ndarray | None
    checkpoints: dict[int, np.ndarray]
    rank: np.ndarray | None = None

    @property
    def exponents(self) -> np.ndarray:
        """``(*batch, k)`` finite-time exponents sorted largest first (nats per step); those at
        positions >= ``rank`` are -inf (the product is exactly singular there; the QR's finite
        value is a rounding residue)."""
        out = -np.sort(-self.log_r / self.steps, axis=-1)
        if self.rank is not None:
            index = np.arange(out.shape[-1])
            out = np.where(index >= self.rank[..., None], -np.inf, out)
        return out


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

    chunks: yields ``(apply, length, logdet)`` or ``(apply, length, logdet, rank)`` from the
    last stretch of steps to the first: ``apply(i, Q)`` = J^T Q for step i of the stretch
    (i = length-1 down to 0, time order within the stretch), Q of shape ``(*batch, n, k)``;
    ``logdet`` None or (length, *batch) log|det J|; ``rank`` (length, *batch) an upper bound on
    each step's rank (``step_rank``; the result's ``rank`` is None if a chunk gives none).
    The first ``burn`` steps processed (the latest in time) only align Q; the rest are counted.
    Q starts as the first k columns of the identity. Returns a ``QRResult``.
    """
    k = n if k is None else _positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be at most the state dimension {n}, got {k}")
    Q = np.broadcast_to(np.eye(n)[:, :k], (*batch, n, k)).copy()
    acc = np.zeros((*batch, k))
    det_acc: np.ndarray | None = np.zeros(batch)
    rank_min: np.ndarray | None = np.full(batch, n)
    marks = sorted({_positive_int("checkpoint", m) for m in checkpoints})
    saved: dict[int, np.ndarray] = {}
    seen = 0
    counted = 0
    for apply, length, logdet, *more in chunks:
        ranks = more[0] if more else None
        for i in range(length - 1, -1, -1):
            Q, lr = _qr(apply(i, Q))
            seen += 1
            if seen <= burn:
                continue
            acc = acc + lr
            if det_acc is not None:
                det_acc = None if logdet is None else det_acc + logdet[i]
            if rank_min is not None:
                rank_min = None if ranks is None else np.minimum(rank_min, ranks[i])
            counted += 1
            if marks and counted == marks[0]:
                saved[marks.pop(0)] = acc.copy()
    if counted == 0:
        raise ValueError(f"backward_qr: no step left to count (burn = {burn} of {seen} steps)")
    if k < n:
        det_acc = None
    return QRResult(acc, counted, det_acc, saved, rank_min)


def step_rank(jacobians: np.ndarray, sign: np.ndarray | None = None) -> np.ndarray:
    """An upper bound on the rank of each J (..., n, n), exact where it is below n: n less the
    larger of its numbers of exactly zero rows and columns, and at most n - 1 where det J = 0
    exactly (an exactly zero pivot of the LU factorisation). ``sign``: the sign part of
    ``np.linalg.slogdet(J)`` where the caller has it already (so J is factorised once)."""
    J = np.asarray(jacobians, dtype=np.float64)
    n = J.shape[-1]
    zero = J == 0
    deficit = np.maximum(zero.all(axis=-1).sum(axis=-1), zero.all(axis=-2).sum(axis=-1))
    if n > 1:
        singular = (np.linalg.slogdet(J)[0] if sign is None else np.asarray(sign)) == 0
    else:
        singular = zero[..., 0, 0]
    return n - np.maximum(deficit, singular.astype(np.int64))


def _dense_chunks(
    jacobians: np.ndarray, chunk: int, with_det: bool
) -> Iterator[tuple[Operator, int, Any, Any]]:
    K = jacobians.shape[0]
    for hi in range(K, 0, -chunk):
        lo = max(0, hi - chunk)
        J = jacobians[lo:hi]
        JT = np.swapaxes(J, -1, -2)
        sign, logdet = np.linalg.slogdet(J) if with_det else (None, None)
        yield (lambda i, Q, JT=JT: JT[i] @ Q), hi - lo, logdet, step_rank(J, sign)


# ----------------------------------------------------------------------------- single neurons


@dataclass(frozen=True)
class Spectrum:
    """Finite-time Lyapunov spectrum of the backward dynamics along a batch of trajectories.

    exponents: ``(*batch, k)`` largest first, nats per step (divide by ln 10 for decades);
    log_det: ``(*batch,)`` time average of log|det J_t| (None unless k = n); steps: counted
    steps; rate: ``(*batch,)`` spikes per step; in_window: ``(*batch,)`` fraction of steps with
    psi != 0; checkpoints: ``{m: (*batch, k)}`` the estimates (sorted) over the last m counted
    steps; rank: ``(*batch,)`` the bound on the product's rank (``QRResult.rank``; exponents
    past it are -inf), None where unknown.
    """

    exponents: np.ndarray
    log_det: np.ndarray | None
    steps: int
    rate: np.ndarray
    in_window: np.ndarray
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    rank: np.ndarray | None = None

    @property
    def top(self) -> np.ndarray:
        """``(*batch,)`` the largest exponent."""
        return self.exponents[..., 0]


def _spectrum(res: QRResult, rate: np.ndarray, in_window: np.ndarray) -> Spectrum:
    log_det = None if res.log_det is None else res.log_det / res.steps
    marks = {m: -np.sort(-v / m, axis=-1) for m, v in res.checkpoints.items()}
    return Spectrum(res.exponents, log_det, res.steps, rate, in_window, marks, res.rank)


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
            None if res.rank is None else res.rank[v],
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
    window; convergence: {T: (mean (k,), ci95 (k,))} the estimate over the last T steps;
    rank: the smallest bound on the product's rank over every trajectory (exponents past it are
    -inf: det J_t = 0 exactly at some step), None where unknown.
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
    rank: int | None = None

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
                rank=None
                if any(sp.rank is None for sp in spectra)
                else int(min(int(np.min(sp.rank)) for sp in spectra)),
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
    """Dense Jacobians of the whole layer's state, ``(stop - start, B, H*n, H*n)``, index
    (neuron i, state a) -> ``i*n + a``: ``J[(i,a),(j,b)] = delta_ij A_i[a,b] + dI_i[a] W_ij psi_j
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

    J^T Q is applied without forming J: ``(J^T Q)_(j,b) = sum_a A_j[a,b] Q_(j,a) +
    c_j[b] sum_i W_ij sum_a dI_i[a] Q_(i,a)``. ``with_det`` (``k = H*n`` only) also sums
    log|det J_t| from the dense matrices (the identity check) and bounds the product's rank
    (``step_rank``: exponents past it are -inf)."""
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

    logdet = ranks = None
    if with_det:
        if k != N:
            raise ValueError("network_spectrum: with_det needs every exponent (k = H * n)")
        dense = network_jacobians(trace, W, start, stop, psi_zero)
        sign, logdet = np.linalg.slogdet(dense)
        ranks = step_rank(dense, sign)

    res = backward_qr(iter([(apply, stop - start, logdet, ranks)]), N, (B,), k, burn)
    psi = surrogate_slopes(trace.model, trace.states)[start:stop]
    rate = trace.spikes[start:stop].mean(axis=(0, 2))
    return _spectrum(res, rate, (psi != 0).mean(axis=(0, 2)))


# ----------------------------------------------------------------------------- horizons


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
