r"""Predictions of the top Lyapunov exponent of the backward dynamics, kept apart from its
measurement (``analysis.lyapunov``, which never imports this module).

Two numbers are computed here, and they are different kinds of number:

**The prediction** (``predict_top``): lambda_1 from the input statistics (mean, std of the
i.i.d. Gaussian current) and the model's parameters, with *no forward simulation of the model
in time*. The state x of a neuron driven by i.i.d. input is a Markov chain
``x[t] = F(x[t-1], I[t])`` (the step with its spike and reset, ``model.transition``). Its
stationary density pi is computed from the transfer operator on a grid (``stationary_density``):

- one state (LIF, PLIF, the NIR LIF/LI/IF neurons): ``G`` cells; when ``F`` is affine in the
  input, row i of the transfer matrix holds the exact Gaussian mass of every cell, otherwise
  the mass of equal-probability input nodes is split linearly between the two nearest cells;
- two states (LSTM-LIF, TC-LIF, ALIF, adLIF, SE-/EF-adLIF, CLIF, RF, the NIR CubaLIF/CubaLI):
  a ``G x G`` grid, each cell centre mapped through ``F`` at equal-probability input nodes and
  its mass split bilinearly between the four nearest cell centres (a sparse matrix);
- three or more states (BRF: 3, DH-LIF: 5): *not applicable* (``G^n`` cells; no cheaper method
  is offered).

The grid's box is found without a trajectory: it starts around the rest state and its image
under one step, and widens (a flagged side moves out by three widths) while the stationary
mass at an edge exceeds ``EDGE_MASS``; a chain
whose mass still sits at an edge after ``MAX_WIDEN`` widenings has no stationary density the
grid can hold (*not applicable*). Coarse grids (two states: 40 cells per state, then 80 if
the mass will not stay inside) shrink the box to the support before the fine grid. pi is the
fixed point of ``p <- p K`` (power iteration).

From pi: one state, the products commute and the ergodic theorem makes the exponent exactly
``lambda_1 = E_{pi x N(mean, std^2)}[log|J(x, I)|]`` (Gauss-Legendre points in each cell,
Gauss-Hermite nodes in I). Two states, the Jacobians do not commute; the prediction is the top
exponent of a product of Jacobians ``J(x_k, I_k)`` drawn *independently* from pi x N(mean,
std^2) (Furstenberg's exponent of an i.i.d. random-matrix product: draws from the computed
density, not states of a simulated neuron), by the QR recursion over ``chains x draws``
matrices, reported with the 95% interval over chains. What it neglects, the temporal
correlation of successive states, is what its errors measure.

A prediction that cannot be made says so: ``Prediction.applicable`` is False and ``reason``
says why (input std 0: the chain is deterministic and has no density; 3 or more states; a state
that drifts off every grid; parameters given per neuron).

**The independent-steps estimate** (``independent_steps``): a diagnostic, not a theory. It
*simulates* the model, pools the visited states, draws them in random order (each paired with
a fresh input) and runs the same QR recursion on the same Jacobian function. It differs from the
measurement only by the temporal correlations the shuffle removes, so
``measured - independent_steps`` is reported as the effect of temporal correlations.

The pre-registered comparison of both with the measurement is ``analysis.lyapunov_table``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sps
from scipy import special

from lstmlif.analysis.lyapunov import (
    _check_states,
    _ci,
    _currents,
    _dense_chunks,
    _finite,
    _input_stats,
    _log_abs,
    _numpy_model,
    _partials,
    _positive_int,
    _same_forward,
    backward_qr,
)
from lstmlif.neurons import (
    NeuronModel,
    simulate,
)
from lstmlif.neurons.derivatives import step_partials
from lstmlif.neurons.ops import NUMPY_OPS

__all__ = [
    "EDGE_MASS",
    "MAX_WIDEN",
    "TAIL_MASS",
    "COARSE_PASSES",
    "COARSE_GRIDS",
    "NotApplicable",
    "StationaryDensity",
    "stationary_density",
    "transition_jacobians",
    "Prediction",
    "predict_top",
    "predict_tops",
    "IndependentSteps",
    "independent_steps",
    "independent_steps_many",
]

#: Stationary mass in the outermost cells of a dimension above which the box is widened.
EDGE_MASS = 1e-7
#: Stationary mass left out on each side when the coarse box is shrunk to the support.
TAIL_MASS = 1e-9
#: Cells per state of the coarse grids that find a two-state box, tried in turn (a finer one
#: diffuses less: LSTM-LIF's undamped sub-threshold rotation needs it at weak input).
COARSE_GRIDS = (40, 80)
#: At most this many coarse passes shrink the box before the fine grid.
COARSE_PASSES = 4
#: How many times the box may be widened before the prediction is "not applicable".
MAX_WIDEN = 24


class NotApplicable(ValueError):
    """A prediction method cannot take this model or input; the message says why."""


# ----------------------------------------------------------------------------- the chain


def _forward(model: NeuronModel, X: np.ndarray, current: np.ndarray) -> np.ndarray:
    """x[t] = F(x[t-1], I[t]) for states X (..., n) and currents broadcasting with X[..., 0]."""
    names = model.state_names
    prev = {nm: X[..., a] for a, nm in enumerate(names)}
    shape = np.broadcast_shapes(X.shape[:-1], np.shape(current))
    with np.errstate(all="ignore"):
        new = model.transition(prev, current, NUMPY_OPS)
    return np.stack(
        [np.broadcast_to(np.asarray(new[nm], dtype=np.float64), shape) for nm in names], axis=-1
    )


def transition_jacobians(
    model: NeuronModel, x_prev: Sequence[np.ndarray], current: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spike-aware Jacobian `J = dx[t]/dx[t-1]` of one step taken from given states.

    The same partials the measurement uses (``neurons.derivatives``), evaluated at the given
    points instead of along a trajectory.

    Parameters
    ----------
    model : NeuronModel
        The neuron.
    x_prev : sequence of ndarray
        One array per state (``model.state_names`` order), any common shape ``s`` with
        ``current``; the previous spike is recomputed as `S = H(z(x_prev))`.
    current : ndarray
        The input of the step, broadcasting with ``s``.

    Returns
    -------
    J : ndarray
        ``(*s, n, n)``, row `i` = `d x_i[t]`, column `j` = `d x_j[t-1]`.
    s_prev : ndarray
        ``(*s)``: the previous spike.
    psi_prev : ndarray
        ``(*s)``: its surrogate derivative.
    """
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
    with np.errstate(all="ignore"):
        new, s_new = model.step(p, state, np.broadcast_to(current, shape), NUMPY_OPS)
        z_new = model.spike_argument(p, new, NUMPY_OPS)
    psi_new = np.broadcast_to(model.surrogate(np.asarray(z_new, dtype=np.float64)), shape)
    A, _, _ = _partials(
        model,
        D,
        [np.broadcast_to(v, shape) for v in x_prev],
        s_prev,
        np.broadcast_to(current, shape),
        np.broadcast_to(np.asarray(s_new, np.float64), shape),
        psi_new,
        psi_prev,
    )
    return A, s_prev, psi_prev


@dataclass(frozen=True)
class StationaryDensity:
    """The stationary distribution of a neuron's state under i.i.d. Gaussian input, on a grid.

    edges: one array (G_d + 1,) per state; points (M, n) the cell centres (first state slowest);
    p (M,) cell probabilities (sum 1); iterations: of the power iteration; widened: how often
    the box grew.
    """

    edges: tuple[np.ndarray, ...]
    points: np.ndarray
    p: np.ndarray
    iterations: int
    widened: int

    @property
    def x(self) -> np.ndarray:
        """(M,) the cell centres of a one-state density."""
        if self.points.shape[1] != 1:
            raise ValueError("StationaryDensity.x: the density has more than one state")
        return self.points[:, 0]

    @property
    def widths(self) -> np.ndarray:
        """(n,) the cell width in each state."""
        return np.array([e[1] - e[0] for e in self.edges])


def _input_nodes(mean: float, std: float, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-probability nodes of N(mean, std^2): the midpoints of ``nodes`` quantile bins."""
    q = (np.arange(nodes) + 0.5) / nodes
    return mean + std * special.ndtri(q), np.full(nodes, 1.0 / nodes)


def _affine_1d(model: NeuronModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(G(x), b(x)) with F(x, I) = G(x) + b(x) I, or None where F is not affine in I."""
    F = [_forward(model, x[:, None], np.full(x.shape, i))[:, 0] for i in (0.0, 1.0, 2.0, -3.0)]
    G, b = F[0], F[1] - F[0]
    if not (
        np.allclose(F[2] - F[0], 2 * b, rtol=1e-9, atol=1e-12)
        and np.allclose(F[3] - F[0], -3 * b, rtol=1e-9, atol=1e-12)
    ):
        return None
    return G, b


def _kernel(
    model: NeuronModel,
    edges: Sequence[np.ndarray],
    mean: float,
    std: float,
    nodes: int,
) -> tuple[sps.csr_matrix, np.ndarray]:
    """The transfer matrix K (M, M), rows the cells of the box (mass leaving the box is put in
    its edge cells), and the cell centres (M, n)."""
    n = len(edges)
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    sizes = [len(c) for c in centres]
    mesh = np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1).reshape(-1, n)
    M = mesh.shape[0]
    if n == 1:
        affine = _affine_1d(model, mesh[:, 0])
        if affine is not None:
            G, b = affine
            mu, sd = G + b * mean, np.abs(b) * std
            if np.all(np.isfinite(mu)) and np.all(sd > 0):
                inner = edges[0][1:-1]
                cdf = special.ndtr((inner[None, :] - mu[:, None]) / sd[:, None])
                cdf = np.concatenate([np.zeros((M, 1)), cdf, np.ones((M, 1))], axis=1)
                return sps.csr_matrix(np.diff(cdf, axis=1)), mesh
    I, w = _input_nodes(mean, std, nodes)
    Y = _forward(model, mesh[:, None, :], I[None, :]).reshape(-1, n)
    if not np.all(np.isfinite(Y)):
        raise NotApplicable("the state overflows in one step from inside the grid's box")
    rows = np.repeat(np.arange(M), len(I))
    weight = np.tile(w, M)
    idx, frac = [], []
    for d in range(n):
        h = (edges[d][-1] - edges[d][0]) / sizes[d]
        f = np.clip((Y[:, d] - centres[d][0]) / h, 0.0, sizes[d] - 1.0)
        i0 = np.minimum(np.floor(f).astype(np.int64), sizes[d] - 2)
        idx.append(i0)
        frac.append(f - i0)
    R, C, V = [], [], []
    for corner in range(2**n):
        lin = np.zeros_like(idx[0])
        wt = weight.copy()
        for d in range(n):
            bit = (corner >> d) & 1
            wt = wt * (frac[d] if bit else 1.0 - frac[d])
            lin = lin * sizes[d] + idx[d] + bit
        R.append(rows)
        C.append(lin)
        V.append(wt)
    K = sps.csr_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(M, M))
    return K, mesh


def _power(K: sps.csr_matrix, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """The fixed point of p <- p K (lazy p <- (p + p K) / 2 if the plain one does not settle)."""
    KT = K.T.tocsr()
    M = K.shape[0]
    for lazy in (False, True):
        p = np.full(M, 1.0 / M)
        for it in range(1, max_iter + 1):
            q = KT @ p
            if lazy:
                q = 0.5 * (q + p)
            q /= q.sum()
            if np.abs(q - p).sum() < tol:
                return q, it
            p = q
    raise NotApplicable(
        f"the transfer operator's power iteration did not settle in {max_iter} steps"
    )


def _edge_mass(p: np.ndarray, sizes: Sequence[int], d: int) -> tuple[float, float]:
    marg = p.reshape(sizes).sum(axis=tuple(a for a in range(len(sizes)) if a != d))
    return float(marg[0]), float(marg[-1])


def _initial_box(model: NeuronModel, mean: float, std: float) -> list[tuple[float, float]]:
    """A box around the rest state and its images under one step (input at mean +- 4 std)."""
    n = len(model.state_names)
    X = np.zeros((1, n))
    Y = _forward(model, X, np.array([mean - 4 * std, mean, mean + 4 * std]))
    pts = np.concatenate([X, Y.reshape(-1, n)])
    if not np.all(np.isfinite(pts)):
        raise NotApplicable("the state overflows in one step from rest")
    box = []
    for d in range(n):
        lo, hi = float(pts[:, d].min()), float(pts[:, d].max())
        pad = max(hi - lo, 1e-3 * max(1.0, abs(lo), abs(hi)))
        box.append((lo - pad, hi + pad))
    return box


def stationary_density(
    model: NeuronModel,
    input_mean: float,
    input_std: float,
    grid: int | None = None,
    nodes: int = 64,
    tol: float = 1e-12,
    max_iter: int = 20000,
    coarse: int | None = None,
) -> StationaryDensity:
    """Stationary distribution of a one- or two-state model driven by `I ~ N(mean, std^2)`
    i.i.d., from the transfer operator on a grid (see the module docstring); no trajectory, no
    Jacobian.

    Parameters
    ----------
    model : NeuronModel
        A one- or two-state model with scalar parameters.
    input_mean, input_std : float
        The input's mean and standard deviation (`std > 0`).
    grid : int, optional
        Cells per state (default 1200 for one state, 100 for two).
    nodes : int
        Input nodes per cell where the update is not affine in `I` (or has two states).
    tol, max_iter : float, int
        The power iteration's tolerance and its most iterations.
    coarse : int, optional
        Cells per state of the passes that find the box (default 200 for one state; for two,
        ``COARSE_GRIDS`` in turn until one holds the mass).

    Returns
    -------
    StationaryDensity
        The cell edges, centres ``(M, n)`` and probabilities ``(M,)``.

    Raises
    ------
    NotApplicable
        (a ValueError) for `std = 0`, three or more states, per-neuron parameters, or a state
        that drifts off every box.
    """
    model = _numpy_model(model, "stationary_density")
    n = len(model.state_names)
    if n > 2:
        raise NotApplicable(
            f"{type(model).__name__} has {n} states; the transfer operator on a grid needs "
            f"G^{n} cells and is computed for one or two states only"
        )
    if any(np.ndim(v) for v in model.params().values()):
        raise NotApplicable("parameters are given per neuron; give scalar parameters")
    mean = _finite("input mean", input_mean)
    std = _finite("input std", input_std)
    if std < 0:
        raise ValueError(f"stationary_density: input std must be >= 0, got {std}")
    if std == 0:
        raise NotApplicable(
            "input std is 0: the driven neuron is deterministic and its state has no "
            "stationary density"
        )
    grid = _positive_int("grid", grid if grid is not None else (1200 if n == 1 else 100), 16)
    nodes = _positive_int("nodes", nodes, 4)
    box = _initial_box(model, mean, std)
    scale = max(max(abs(lo), abs(hi)) for lo, hi in box)
    if not math.isfinite(scale) or std < 1e-8 * scale:
        raise NotApplicable(
            f"the input std {std:g} is below the float64 resolution of a grid for states of "
            f"magnitude {scale:.3g} (input mean {mean:g}): the noise is lost to rounding"
        )
    if coarse is not None:
        return _settled_density(model, mean, std, grid, nodes, tol, max_iter, box, n, coarse)
    sizes = (200,) if n == 1 else COARSE_GRIDS
    for i, size in enumerate(sizes):
        try:
            return _settled_density(model, mean, std, grid, nodes, tol, max_iter, box, n, size)
        except NotApplicable as err:
            if i == len(sizes) - 1 or "power iteration" in str(err):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _settled_density(
    model: NeuronModel,
    mean: float,
    std: float,
    grid: int,
    nodes: int,
    tol: float,
    max_iter: int,
    box: list[tuple[float, float]],
    n: int,
    coarse: int,
) -> StationaryDensity:
    """``stationary_density`` with one size of the coarse grid that finds the box."""
    coarse = _positive_int("coarse", coarse, 8)
    widened = 0

    def settle(box: list[tuple[float, float]], size: int, tol: float) -> tuple:
        """The density on ``box``, widened until no edge holds more than EDGE_MASS."""
        nonlocal widened
        while True:
            edges = [np.linspace(lo, hi, size + 1) for lo, hi in box]
            K, mesh = _kernel(model, edges, mean, std, nodes)
            p, iters = _power(K, tol, max_iter)
            grow = [tuple(m > EDGE_MASS for m in _edge_mass(p, [size] * n, d)) for d in range(n)]
            if not any(a or b for a, b in grow):
                return box, edges, mesh, p, iters
            if widened >= MAX_WIDEN:
                raise NotApplicable(
                    f"the stationary mass stays at the edge of the grid after {MAX_WIDEN} "
                    "widenings of its box (the state drifts, or the grid's numerical diffusion "
                    "outruns the dynamics' contraction)"
                )
            widened += 1
            box = [
                (lo - 3 * (hi - lo) if g_lo else lo, hi + 3 * (hi - lo) if g_hi else hi)
                for (lo, hi), (g_lo, g_hi) in zip(box, grow, strict=True)
            ]

    for _ in range(COARSE_PASSES):
        # shrink the box to the coarse support (all but TAIL_MASS of the mass on each side,
        # one cell of margin) until it stops shrinking: a finer coarse grid diffuses less
        box, edges, mesh, p, iters = settle(box, coarse, 1e-9)
        shaped = p.reshape([coarse] * n)
        new = []
        for d, (lo, hi) in enumerate(box):
            cum = np.cumsum(shaped.sum(axis=tuple(a for a in range(n) if a != d)))
            first = int(np.searchsorted(cum, TAIL_MASS))
            last = int(np.searchsorted(cum, 1.0 - TAIL_MASS))
            h = (hi - lo) / coarse
            new.append((lo + h * max(first - 1, 0), lo + h * min(last + 2, coarse)))
        shrunk = any(b - a < 0.8 * (hi - lo) for (a, b), (lo, hi) in zip(new, box, strict=True))
        box = new
        if not shrunk:
            break
    box, edges, mesh, p, iters = settle(box, grid, tol)
    return StationaryDensity(tuple(edges), mesh, p, iters, widened)


# ----------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class Prediction:
    """The predicted top exponent (nats per step) from the input statistics and parameters.

    Attributes
    ----------
    applicable : bool
        False where the method cannot take the model or input (then ``top`` is NaN and
        ``reason`` says why).
    method : str
        ``"density-1d"`` (`E_pi[log|J|]`, exact for an ergodic one-state neuron) or
        ``"density-2d"`` (i.i.d. product of Jacobians drawn from `pi`).
    top : float
        The prediction.
    reason : str
        Why it is not applicable (empty where it is).
    ci95 : float
        The half-width of its Monte Carlo interval over chains (0 for the quadrature).
    frozen : float
        `E[log rho(J)]`.
    lower_bound : float
        `(1/n) E[log|det J|]` (`lambda_1 >= lower_bound`).
    rate : float
        Spikes per step under `pi`.
    in_window : float
        The fraction of steps with `psi != 0` under `pi`.
    p_zero : float
        The probability per step that `J = 0` exactly (one state), which makes the asymptotic
        exponent -inf.
    top_nonzero : float
        `E[log|J| given J != 0]`, what a window of `T << 1 / p_zero` steps measures.
    """

    applicable: bool
    method: str
    top: float
    reason: str = ""
    ci95: float = math.nan
    frozen: float = math.nan
    lower_bound: float = math.nan
    rate: float = math.nan
    in_window: float = math.nan
    p_zero: float = 0.0
    top_nonzero: float = math.nan

    def finite_time(self) -> float:
        """``top`` if no step can zero J, else ``top_nonzero``."""
        return self.top if self.p_zero == 0 else self.top_nonzero

    def as_dict(self) -> dict[str, Any]:
        """The JSON record: the value, or ``"not applicable"`` with the reason."""
        if not self.applicable:
            return {"method": self.method, "top": "not applicable", "reason": self.reason}
        return {
            "method": self.method,
            "top": self.top,
            "ci95": self.ci95,
            "p_zero": self.p_zero,
            "top_nonzero": self.top_nonzero,
            "frozen": self.frozen,
            "lower_bound": self.lower_bound,
            "rate": self.rate,
            "in_window": self.in_window,
        }


def _log_rho(J: np.ndarray) -> np.ndarray:
    if J.shape[-1] == 1:
        return _log_abs(J[..., 0, 0])
    return _log_abs(np.abs(np.linalg.eigvals(J)).max(axis=-1))


def _log_det(J: np.ndarray) -> np.ndarray:
    if J.shape[-1] == 1:
        return _log_abs(J[..., 0, 0])
    return np.linalg.slogdet(J)[1]


def _product_top(
    model: NeuronModel, x_prev: list[np.ndarray], current: np.ndarray
) -> dict[str, float]:
    """The top exponent of ``chains`` products of Jacobians at independent draws.

    Parameters
    ----------
    model : NeuronModel
        The neuron (one variant: surrogate and ``detach_reset`` as given).
    x_prev : list of ndarray
        One ``(steps, chains)`` array per state: the state before each step.
    current : ndarray
        ``(steps, chains)``: the input of each step.

    Returns
    -------
    dict
        ``top`` (mean over chains of each product's top exponent, backward QR) and ``ci95``
        (its 95% Student-t half-width; NaN where a chain's exponent is not finite), ``frozen``
        (`E[log rho(J)]`), ``lower_bound`` (`E[log|det J|] / n`), ``rate`` and ``in_window``
        (spikes per step and the share of steps with `psi != 0`) over the draws: the fields
        ``Prediction`` and ``IndependentSteps`` share.
    """
    steps, chains = current.shape
    n = len(x_prev)
    J, s_prev, psi_prev = transition_jacobians(model, x_prev, current)
    res = backward_qr(_dense_chunks(J, steps, False), n, (chains,), 1, min(100, steps // 4))
    tops = res.exponents[:, 0]
    top, half = _ci(tops)
    return {
        "top": float(top),
        "ci95": float(half) if np.all(np.isfinite(tops)) else math.nan,
        "frozen": float(_log_rho(J).mean()),
        "lower_bound": float(_log_det(J).mean() / n),
        "rate": float(s_prev.mean()),
        "in_window": float((psi_prev != 0).mean()),
    }


def _predict_1d(
    models: Sequence[NeuronModel], dens: StationaryDensity, mean: float, std: float, nodes: int
) -> list[Prediction]:
    h = np.diff(dens.edges[0])
    gl, glw = np.polynomial.legendre.leggauss(4)
    xs = (dens.x[:, None] + 0.5 * h[:, None] * gl[None, :]).ravel()
    wx = (dens.p[:, None] * 0.5 * glw[None, :]).ravel()
    gh, ghw = np.polynomial.hermite_e.hermegauss(nodes)
    w = wx[:, None] * (ghw / ghw.sum())[None, :]
    out = []
    for m in models:
        J, s_prev, psi_prev = transition_jacobians(m, [xs[:, None]], (mean + std * gh)[None, :])
        logj = _log_abs(J[..., 0, 0])
        zero = np.isneginf(logj) & (w > 0)
        p_zero = float(np.sum(w[zero]))
        safe = np.where(np.isneginf(logj), 0.0, logj)
        nonzero = float(np.sum(w * safe) / (1.0 - p_zero)) if p_zero < 1 else -math.inf
        val = -math.inf if p_zero > 0 else float(np.sum(w * safe))
        out.append(
            Prediction(
                True,
                "density-1d",
                val,
                ci95=0.0,
                frozen=val,
                lower_bound=val,
                rate=float(np.sum(w * s_prev)),
                in_window=float(np.sum(w * (psi_prev != 0))),
                p_zero=p_zero,
                top_nonzero=nonzero,
            )
        )
    return out


def _predict_2d(
    models: Sequence[NeuronModel],
    dens: StationaryDensity,
    mean: float,
    std: float,
    draws: int,
    chains: int,
    seed: int,
) -> list[Prediction]:
    rng = np.random.default_rng(seed)
    n = dens.points.shape[1]
    pick = rng.choice(len(dens.p), size=(draws, chains), p=dens.p)
    X = dens.points[pick] + (rng.random((draws, chains, n)) - 0.5) * dens.widths
    current = rng.normal(mean, std, size=(draws, chains))
    out = []
    for m in models:
        est = _product_top(m, [X[..., a] for a in range(n)], current)
        out.append(Prediction(True, "density-2d", **est, p_zero=0.0, top_nonzero=est["top"]))
    return out


def predict_tops(
    models: Sequence[NeuronModel],
    input_mean: float | None = None,
    input_std: float | None = None,
    grid: int | None = None,
    nodes: int = 64,
    draws: int = 2000,
    chains: int = 32,
    seed: int = 20_000,
) -> list[Prediction]:
    """``predict_top`` for several variants of one model (surrogate and ``detach_reset`` may
    differ): the stationary density is computed once and serves every variant."""
    variants = _same_forward(models, "predict_top")
    mean, std = _input_stats(variants[0], input_mean, input_std)
    n = len(variants[0].state_names)
    method = f"density-{n}d" if n <= 2 else "density"
    draws = _positive_int("draws", draws, 8)
    chains = _positive_int("chains", chains, 2)
    try:
        dens = stationary_density(variants[0], mean, std, grid, nodes)
    except NotApplicable as exc:
        return [Prediction(False, method, math.nan, reason=str(exc)) for _ in variants]
    if n == 1:
        return _predict_1d(variants, dens, mean, std, min(nodes, 48))
    return _predict_2d(variants, dens, mean, std, draws, chains, seed)


def predict_top(
    model: NeuronModel,
    input_mean: float | None = None,
    input_std: float | None = None,
    grid: int | None = None,
    nodes: int = 64,
    draws: int = 2000,
    chains: int = 32,
    seed: int = 20_000,
) -> Prediction:
    """Predict the top Lyapunov exponent of ``model``'s backward dynamics under
    `I ~ N(input_mean, input_std^2)` i.i.d. from the stationary density of the state
    (``stationary_density``), with no simulation in time.

    One state: `E_pi[log|J|]` by quadrature (``nodes`` Gauss-Hermite nodes, at most 48, and 4
    Gauss-Legendre points per cell). Two states: the top exponent of ``chains`` products of
    ``draws`` Jacobians drawn i.i.d. from `pi x N(mean, std^2)`, mean and 95% interval over
    chains.

    Parameters
    ----------
    model : NeuronModel
        The neuron.
    input_mean, input_std : float, optional
        The input statistics (default: the class's ``input_stats``).
    grid, nodes : int
        Cells per state (``stationary_density``) and input quadrature nodes.
    draws, chains, seed : int
        Two states: the product's length, how many products, and the random seed.

    Returns
    -------
    Prediction
        ``applicable`` False with the reason where the method cannot take the model or input
        (never raises for that).
    """
    return predict_tops([model], input_mean, input_std, grid, nodes, draws, chains, seed)[0]


# ----------------------------------------------------------------------------- independent steps


@dataclass(frozen=True)
class IndependentSteps:
    """The independent-steps estimate (a simulation, shuffled in time; not a prediction).

    Attributes
    ----------
    top : float
        The top exponent of the product of Jacobians at states drawn at random from a
        simulated trajectory, each with a fresh input (mean over chains).
    ci95 : float
        Half-width of the 95% Student-t interval over chains.
    frozen : float
        `E[log rho(J)]`.
    lower_bound : float
        `(1/n) E[log|det J|]`.
    rate : float
        Spikes per step of the drawn states.
    in_window : float
        The fraction of the drawn states with `psi != 0`.
    samples : int
        The product's length.
    chains : int
        How many products.
    """

    top: float
    ci95: float
    frozen: float
    lower_bound: float
    rate: float
    in_window: float
    samples: int
    chains: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON record."""
        return {
            "top": self.top,
            "ci95": self.ci95,
            "frozen": self.frozen,
            "lower_bound": self.lower_bound,
            "samples": self.samples,
            "chains": self.chains,
        }


def independent_steps_many(
    models: Sequence[NeuronModel],
    input_mean: float | None = None,
    input_std: float | None = None,
    samples: int = 4000,
    chains: int = 8,
    seed: int = 10_000,
) -> list[IndependentSteps]:
    """``independent_steps`` for several variants of one model sharing one simulation."""
    who = "independent_steps"
    variants = _same_forward(models, who)
    model = variants[0]
    mean, std = _input_stats(model, input_mean, input_std)
    samples = _positive_int("samples", samples, 8)
    chains = _positive_int("chains", chains, 2)
    warm = 200
    with warnings.catch_warnings():  # an overflow is refused below, with its step
        warnings.simplefilter("ignore", RuntimeWarning)
        trace = simulate(model, _currents(mean, std, warm + samples, chains, seed))
    _check_states(model, trace.states, trace.spikes, 0.0, who)
    rng = np.random.default_rng(seed + 1)
    flat = {nm: np.asarray(trace.states[nm])[warm:].ravel() for nm in model.state_names}
    pick = rng.integers(0, samples * chains, size=(samples, chains))
    x_prev = [flat[nm][pick] for nm in model.state_names]
    currents = rng.normal(mean, std, size=(samples, chains))
    return [
        IndependentSteps(**_product_top(m, x_prev, currents), samples=samples, chains=chains)
        for m in variants
    ]


def independent_steps(
    model: NeuronModel,
    input_mean: float | None = None,
    input_std: float | None = None,
    samples: int = 4000,
    chains: int = 8,
    seed: int = 10_000,
) -> IndependentSteps:
    """The independent-steps estimate of the top exponent (a diagnostic, not a prediction: it
    needs the simulation).

    Simulates ``chains`` neurons for ``samples`` steps (after 200 of transient), draws their
    states at random, pairs each with a fresh input and takes the top exponent of the product
    of those independent Jacobians (backward QR). The measurement minus this is the effect of
    temporal correlations between steps.

    Parameters
    ----------
    model : NeuronModel
        The neuron.
    input_mean, input_std : float, optional
        The input statistics (default: the class's ``input_stats``).
    samples, chains, seed : int
        The product's length, how many products, and the random seed.

    Returns
    -------
    IndependentSteps
        The estimate with its 95% interval over chains.
    """
    return independent_steps_many([model], input_mean, input_std, samples, chains, seed)[0]
