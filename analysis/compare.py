"""Every registered model at its paper's initialisation, side by side (``lstmlif compare``).

For each model, N parameter draws from the class's own initialisation distribution
(``NeuronModel.sample_init``: the official uniform ranges for adLIF and SE-/EF-adLIF, the fixed
defaults where the paper fixes them) are analysed below threshold (``analysis.stability``, the
Jacobian at rest taken from the step function):

- the share of draws that grow below threshold (an eigenvalue outside the unit circle), as an
  estimate from the N draws with its 95% Wilson interval, and beside it the population value
  where the class states one (``NeuronModel.init_population``: a closed form or a numerical
  integral over the initialisation distribution) or where every draw is the same setting;
- the memory horizon `-1/ln rho(J)` (steps; inf where `rho >= 1`) over the N draws: median,
  min and max;
- `log10 sup_(k <= kmax) ||J^k||_2` (the transient amplification; for a growing map it grows
  with kmax) over the first ``norm_draws`` of them: median, min and max;
- each claim the class declares (``NeuronModel.paper_claims``) with the verdict its ``judge``
  reaches on these draws ("holds", "fails", "partly" or "not testable"): each paper's own
  claims, and apart from them the toolkit's own statements tested at the draws (a source that
  starts with ``TOOLKIT_SOURCE``).

Each model gets its own random stream (seed, position in the registry), so the draws of a model
do not depend on which other models are compared.

Cost. The eigenvalue statistics are vectorised over the draws (about 2-3 us per draw for the
two-state models). The power sweep is the expensive part: at most kmax steps of `M = J M`
over the distinct Jacobians among the first ``norm_draws`` draws; a draw leaves the sweep as
soon as `||J^k||_F <= 1`, because then no later power exceeds the maximum found so far
(`||J^(qk + r)|| <= ||J^k||^q ||J^r||`). ``estimate`` bounds time and memory before the work
starts (no early exit assumed); a run above ``MAX_SECONDS`` or ``MAX_BYTES`` is refused, and a
run estimated above ``PROGRESS_SECONDS`` shows a progress bar.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from lstmlif.fileio import jsonable
from lstmlif.neurons import NeuronModel, model_class, model_names
from lstmlif.neurons.base import VERDICTS

from .stability import classify, memory_horizon, spectral_radius, subthreshold_jacobian

__all__ = [
    "Context",
    "Share",
    "Estimate",
    "analyse",
    "wilson_interval",
    "log10_sup_norms",
    "estimate",
    "compare_model",
    "compare_table",
    "add_arguments",
    "run",
    "DEFAULT_DRAWS",
    "DEFAULT_NORM_DRAWS",
    "MAX_SECONDS",
    "MAX_BYTES",
    "PROGRESS_SECONDS",
    "TOOLKIT_SOURCE",
]

DEFAULT_DRAWS = 100_000
"""Draws per model for the shares and the eigenvalue statistics."""
DEFAULT_NORM_DRAWS = 1000
"""Of those, the first ones that also get the power sweep (log10 sup_k ||J^k||_2)."""

MAX_SECONDS = 600.0
"""Ceiling on the estimated time of one ``compare`` call (refused above, exit 2 on the CLI)."""
MAX_BYTES = 4 * 2**30
"""Ceiling on the estimated peak memory of one model's analysis."""
PROGRESS_SECONDS = 10.0
"""A call estimated above this shows a progress bar (tqdm, on standard error)."""

#: Measured costs (the 2-core reference machine, NumPy 2, float64, worst case: every draw
#: growing): a power-sweep step costs SWEEP_STEP_S plus SWEEP_DRAW_STEP_S[n] per swept Jacobian
#: of n states (n > 3: the n = 3 value times (n/3)^2; 5.2e-6 s measured at n = 5); the
#: eigenvalue statistics EIG_DRAW_S per draw and state; the analysis holds at most about
#: BYTES_PER_DRAW + BYTES_PER_DRAW_N2 n^2 bytes per draw at its peak.
SWEEP_STEP_S = 4e-4
SWEEP_DRAW_STEP_S = {1: 1e-8, 2: 3e-7, 3: 3.5e-6}
EIG_DRAW_S = 4e-6
BYTES_PER_DRAW = 400
BYTES_PER_DRAW_N2 = 60

Z95 = 1.959963984540054
"""The standard normal's 97.5% quantile (two-sided 95% intervals)."""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion `k / n`.

    `(p + z^2/2n -+ z sqrt(p (1 - p)/n + z^2/4n^2)) / (1 + z^2/n)` with `p = k / n`; the ends
    are exactly 0 at `k = 0` and 1 at `k = n`.

    Parameters
    ----------
    k, n : int
        Successes and trials, `0 <= k <= n`, `n >= 1`.
    z : float
        The normal quantile (default: 95% two-sided).

    Returns
    -------
    tuple of float
        (low, high).
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, n >= 1; got k={k}, n={n}")
    p = k / n
    zz = z * z / n
    centre = (p + zz / 2) / (1 + zz)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n)) / (1 + zz)
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: no rounding residue
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _pct(x: float) -> str:
    """A share in percent: 0% and 100% exact, otherwise enough digits to tell it from both."""
    if x in (0.0, 1.0):
        return f"{100 * x:.0f}%"
    if x < 1e-3:
        return f"{100 * x:.3g}%"
    if x > 1 - 1e-3:
        return f"{100 - 100 * (1 - x):.{max(2, 1 - math.floor(math.log10(100 * (1 - x))))}f}%"
    return f"{100 * x:.2f}%"


@dataclass(frozen=True)
class Share:
    """A share of N draws: k of n, its 95% Wilson interval and, where known, the population
    value with how it is computed (closed form, numerical integral, or a point mass)."""

    k: int
    n: int
    population: float | None = None
    method: str | None = None

    @property
    def estimate(self) -> float:
        return self.k / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)

    def text(self) -> str:
        """``49.06% of 100000 draws (95% CI 48.75-49.37%); population 48.97% (closed form)``."""
        lo, hi = self.interval
        out = f"{_pct(self.estimate)} of {self.n} draws (95% CI {_pct(lo)}-{_pct(hi)})"
        if self.population is not None:
            out += f"; population {_pct(self.population)} ({self.method})"
        return out

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {
            "k": self.k,
            "n": self.n,
            "estimate": self.estimate,
            "ci95": [lo, hi],
            "population": self.population,
            "method": self.method,
        }


# ----------------------------------------------------------------------------- power sweep


def _norm2(M: np.ndarray) -> np.ndarray:
    """Largest singular value of each matrix of a stack stored as (n, n, m) (matrix index
    first, stack last), shape (m,); closed form for n <= 2, an SVD beyond."""
    n = M.shape[0]
    if n == 1:
        return np.abs(M[0, 0])
    if n == 2:
        a, b, c, d = M[0, 0], M[0, 1], M[1, 0], M[1, 1]
        fro2 = a * a + b * b + c * c + d * d
        det = a * d - b * c
        return np.sqrt(0.5 * (fro2 + np.sqrt(np.maximum(fro2 * fro2 - 4 * det * det, 0.0))))
    return np.linalg.norm(np.moveaxis(M, -1, 0), ord=2, axis=(-2, -1))


def log10_sup_norms(
    J: np.ndarray, kmax: int, tick: Callable[[int], Any] | None = None
) -> np.ndarray:
    """`log10 max_(0 <= k <= kmax) ||J^k||_2` of each matrix of a stack.

    Exact up to rounding, and usually far cheaper than kmax products: repeated matrices are
    swept once; the 2-norm is computed only where the Frobenius norm (an upper bound) could
    raise the running maximum; a matrix leaves the sweep once `||J^k||_F <= 1`, since then
    `||J^(qk + r)|| <= ||J^r||` for every later power. `M = J^k / c_k` is renormalised every
    step (`log10 c_k` accumulated), so nothing over- or underflows.

    Parameters
    ----------
    J : numpy.ndarray
        (m, n, n), the stack.
    kmax : int
        The largest power.
    tick : callable, optional
        ``tick(steps)`` reports progress.

    Returns
    -------
    numpy.ndarray
        (m,).
    """
    J = np.asarray(J, dtype=np.float64)
    m, n = J.shape[0], J.shape[-1]
    uniq, inverse = _unique_rows(J.reshape(m, n * n))
    # matrix index first, stack last: a product is one broadcast multiply-and-sum
    Ja = np.ascontiguousarray(uniq.reshape(-1, n, n).transpose(1, 2, 0))
    out = np.zeros(Ja.shape[-1])
    idx = np.arange(Ja.shape[-1])
    M = np.repeat(np.eye(n)[:, :, None], Ja.shape[-1], axis=2)
    log_c = np.zeros(Ja.shape[-1])
    steps = 0
    while steps < kmax and idx.size:
        M = np.einsum("ijk,jlk->ilk", Ja, M) if n > 2 else _product_2x2(Ja, M)
        fro = np.sqrt(np.sum(M * M, axis=(0, 1)))
        scale = np.where(fro > 0, fro, 1.0)
        with np.errstate(divide="ignore"):
            lf = log_c + np.log10(fro)
        cand = lf > out[idx]
        with np.errstate(divide="ignore"):
            if np.all(cand):
                out[idx] = np.maximum(out[idx], lf + np.log10(_norm2(M) / scale))
            elif np.any(cand):
                l2 = lf[cand] + np.log10(_norm2(M[:, :, cand]) / scale[cand])
                out[idx[cand]] = np.maximum(out[idx[cand]], l2)
        keep = lf > 0.0  # ||J^k||_2 <= ||J^k||_F <= 1: no later power exceeds the maximum
        if np.all(keep):
            M /= scale
            log_c = lf
        else:
            M = M[:, :, keep] / scale[keep]
            log_c, idx, Ja = lf[keep], idx[keep], Ja[:, :, keep]
        steps += 1
        if tick is not None:
            tick(1)
    if tick is not None and steps < kmax:
        tick(kmax - steps)
    return out[inverse.ravel()]


def _unique_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of X (m, p) in lexicographic order and, per row, the index of its
    distinct row (``np.unique(X, axis=0, return_inverse=True)``, by one lexsort)."""
    if X.shape[0] == 0:
        return X, np.zeros(0, dtype=np.intp)
    order = np.lexsort(X.T[::-1])
    xs = X[order]
    new = np.ones(len(xs), dtype=bool)
    new[1:] = np.any(xs[1:] != xs[:-1], axis=1)
    inverse = np.empty(len(xs), dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return xs[new], inverse


def _product_2x2(J: np.ndarray, M: np.ndarray) -> np.ndarray:
    """J M for stacks stored as (n, n, m) with n <= 2, written on the entries."""
    if J.shape[0] == 1:
        return J * M
    out = np.empty_like(M)
    out[0, 0] = J[0, 0] * M[0, 0] + J[0, 1] * M[1, 0]
    out[0, 1] = J[0, 0] * M[0, 1] + J[0, 1] * M[1, 1]
    out[1, 0] = J[1, 0] * M[0, 0] + J[1, 1] * M[1, 0]
    out[1, 1] = J[1, 0] * M[0, 1] + J[1, 1] * M[1, 1]
    return out


def analyse(
    model: NeuronModel,
    kmax: int = 10000,
    norm_draws: int | None = None,
    tick: Callable[[int], Any] | None = None,
    *,
    sweep: bool = True,
) -> dict[str, np.ndarray]:
    """The sub-threshold statistics of a model whose parameters have the broadcast shape P:
    ``spectral_radius``, ``memory_horizon`` and ``class`` (see ``stability.classify``), each of
    shape P, and with ``sweep`` ``log10_sup_norm`` (2-norm, k <= kmax) of the first
    ``norm_draws`` points of P (flattened; all of them for None), shape
    (min(norm_draws, size),)."""
    out = {
        "spectral_radius": np.asarray(spectral_radius(model)),
        "memory_horizon": np.asarray(memory_horizon(model)),
        "class": np.asarray(classify(model)),
    }
    if sweep:
        J = subthreshold_jacobian(model)
        n = J.shape[-1]
        flat = J.reshape(-1, n, n)
        if norm_draws is not None:
            flat = flat[:norm_draws]
        out["log10_sup_norm"] = log10_sup_norms(flat, kmax, tick)
    return out


@dataclass(frozen=True)
class Context:
    """What a ``PaperClaim.judge`` receives: the model's name, its draws (one model with array
    parameters of shape (N,)), their statistics (``analyse``: ``log10_sup_norm`` over the first
    ``norm_draws`` draws), ``analyse`` for any other model (e.g. the same draws under another
    discretisation; the power sweep only on request) at the same kmax and norm_draws, the
    class's population values (``NeuronModel.init_population``) and ``share``, which words a
    share of the draws."""

    name: str
    draws: NeuronModel
    stats: dict[str, np.ndarray]
    kmax: int
    norm_draws: int | None = None
    population: dict[str, tuple[float, str]] = field(default_factory=dict)

    def analyse(self, model: NeuronModel, sweep: bool = False) -> dict[str, np.ndarray]:
        """``analyse`` of another model: its spectral radius, memory horizon and class, and with
        ``sweep`` its ``log10_sup_norm`` too (the power sweep over the first ``norm_draws``,
        which ``estimate`` does not count)."""
        return analyse(model, self.kmax, self.norm_draws, sweep=sweep)

    def share(
        self,
        mask: Any,
        key: str | None = None,
        population: tuple[float, str] | None = None,
    ) -> str:
        """A boolean array over draws worded as "x% of N draws (95% CI lo-hi%)", followed by
        the population value of ``self.population[key]`` (or ``population``) where given."""
        mask = np.asarray(mask, dtype=bool).ravel()
        pop = population if population is not None else self.population.get(key or "")
        p, how = pop if pop is not None else (None, None)
        return Share(int(mask.sum()), mask.size, p, how).text()


# ----------------------------------------------------------------------------- limits


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"compare: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _states(name: str) -> int:
    return max(1, len(model_class(name).state_names))


@dataclass(frozen=True)
class Estimate:
    """Upper bounds, before the work starts, of one ``compare`` call: seconds (the eigenvalue
    statistics plus kmax sweep steps over every distinct swept Jacobian, no early exit) and
    the peak bytes of the largest model's analysis (beyond the about 270 MiB the interpreter
    holds with the toolkit loaded)."""

    seconds: float
    bytes: int
    models: int
    swept: int
    states: int

    def text(self) -> str:
        """``about 10.1 min and 46 MiB``."""
        s, b = self.seconds, self.bytes
        when = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"
        size = f"{b / 2**20:.0f} MiB" if b < 2**30 else f"{b / 2**30:.1f} GiB"
        return f"about {when} and {size}"


def _sweep_cost(n: int) -> float:
    if n in SWEEP_DRAW_STEP_S:
        return SWEEP_DRAW_STEP_S[n]
    return SWEEP_DRAW_STEP_S[3] * (n / 3) ** 2


def _settings(model: NeuronModel, m: int) -> int:
    """Distinct parameter settings among a model's m draws (parameters of shape () or (m,))."""
    cols = [np.broadcast_to(np.asarray(v, dtype=float), (m,)) for v in model.params().values()]
    if not cols:
        return 1
    return len(_unique_rows(np.stack(cols, axis=1))[0])


def _distinct(name: str, seed: int, m: int) -> int:
    """Distinct parameter settings among m draws (what the sweep runs once each)."""
    return _settings(_draws(name, m, seed), m)


def _bytes(draws: int, n: int) -> int:
    return int(draws * (BYTES_PER_DRAW + BYTES_PER_DRAW_N2 * n * n))


def estimate(models: Iterable[str], draws: int, seed: int, kmax: int, norm_draws: int) -> Estimate:
    """Bound the time and memory of ``compare_table(models, draws, seed, kmax, norm_draws)``
    from the measured costs (``SWEEP_STEP_S``, ``SWEEP_DRAW_STEP_S``, ``EIG_DRAW_S``,
    ``BYTES_PER_DRAW``, ``BYTES_PER_DRAW_N2``). The memory bound needs no draws; the time bound
    counts the distinct settings among ``norm_draws`` draws of each model (cheap), and only
    when the memory bound is within ``MAX_BYTES`` (otherwise the time is not estimated: inf)."""
    names = list(models)
    n_of = {name: _states(name) for name in names}
    peak = max((_bytes(draws, n) for n in n_of.values()), default=0)
    n_max = max(n_of.values(), default=1)
    if peak > MAX_BYTES:
        return Estimate(math.inf, peak, len(names), min(norm_draws, draws), n_max)
    seconds = 0.0
    swept = 0
    for name, n in n_of.items():
        m = _distinct(name, seed, min(norm_draws, draws))
        swept = max(swept, m)
        seconds += kmax * (SWEEP_STEP_S + m * _sweep_cost(n)) + draws * n * EIG_DRAW_S
    return Estimate(seconds, peak, len(names), swept, n_max)


def _check_limits(est: Estimate, draws: int, norm_draws: int, kmax: int) -> None:
    if est.bytes > MAX_BYTES:
        raise ValueError(
            f"compare: --draws {draws} needs about {est.bytes / 2**30:.1f} GiB for a model of "
            f"{est.states} states (about {_bytes(1, est.states)} bytes per draw); the limit is "
            f"{MAX_BYTES / 2**30:.0f} GiB: lower --draws"
        )
    if est.seconds > MAX_SECONDS:
        raise ValueError(
            f"compare: --draws {draws} --norm-draws {norm_draws} --kmax {kmax} over "
            f"{est.models} model(s) would take at most {est.text()} ({kmax} sweep steps over up "
            f"to {est.swept} distinct draws of a model, none leaving early); the limit is "
            f"{MAX_SECONDS / 60:.0f} min: lower --norm-draws or --kmax"
        )


# ----------------------------------------------------------------------------- rows


def _summary(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=np.float64).ravel()
    return {"median": float(np.median(x)), "min": float(np.min(x)), "max": float(np.max(x))}


def _draws(name: str, draws: int, seed: int) -> NeuronModel:
    cls = model_class(name)
    # a stream per model name: the same draws whichever models are registered or selected
    rng = np.random.default_rng([seed, zlib.crc32(cls.name.encode())])
    model = cls.sample_init(rng, draws)
    shapes = {k: np.shape(v) for k, v in model.params().items()}
    if any(s not in ((), (draws,)) for s in shapes.values()):
        raise ValueError(
            f"compare: {cls.__name__}.sample_init returned parameter shapes {shapes}, expected "
            f"scalars or ({draws},)"
        )
    return model


TOOLKIT_SOURCE = "this toolkit"
"""The source prefix of a ``PaperClaim`` that states the toolkit's own derivation (tested at the
draws), printed apart from the papers' own claims."""


def _judge(fn: Callable[[Context], tuple[str, str]] | None, ctx: Context) -> tuple[str, str]:
    if fn is None:
        return "not testable", "nothing here tests this statement"
    verdict, evidence = fn(ctx)
    if verdict not in VERDICTS:
        raise ValueError(f"compare: a claim of {ctx.name} gave the verdict {verdict!r}")
    return verdict, evidence


def _init_text(cls: type[NeuronModel]) -> str:
    """How the class draws its initialisation, in words (its ``sample_init`` docstring)."""
    if cls.sample_init.__func__ is NeuronModel.sample_init.__func__:  # type: ignore[attr-defined]
        return "the class defaults in every draw (the paper fixes them)"
    doc = " ".join((cls.sample_init.__doc__ or "").split())
    return doc.replace("``", "") or "the class's sample_init"


def _check_args(draws: Any, seed: Any, kmax: Any, norm_draws: Any) -> tuple[int, int, int, int]:
    draws = _check_int("draws", draws, 1)
    seed = _check_int("seed", seed, 0)
    kmax = _check_int("kmax", kmax, 1)
    norm_draws = _check_int("norm_draws", norm_draws, 1)
    return draws, seed, kmax, min(norm_draws, draws)


def compare_model(
    name: str,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    kmax: int = 10000,
    norm_draws: int = DEFAULT_NORM_DRAWS,
    *,
    _checked: bool = False,
    _tick: Callable[[int], Any] | None = None,
) -> dict:
    """One model's row (plain data): the draws' statistics (median, min, max), the growing
    share (``growing``: the estimate; ``growing_share``: k, n, 95% interval, population value
    and its method), how the class draws its initialisation, the parameter ranges drawn and
    every paper claim with its verdict. Refused (ValueError) above ``MAX_SECONDS`` /
    ``MAX_BYTES`` (see ``estimate``)."""
    draws, seed, kmax, norm_draws = _check_args(draws, seed, kmax, norm_draws)
    cls = model_class(name)
    if not _checked:
        _check_limits(estimate((cls.name,), draws, seed, kmax, norm_draws), draws, norm_draws, kmax)
    model = _draws(cls.name, draws, seed)
    stats = analyse(model, kmax, norm_draws, _tick)
    grows = np.broadcast_to(stats["class"] == "growing", (draws,))
    population = dict(cls.init_population())
    if "growing" not in population and _settings(model, draws) == 1:
        # every draw is the same setting (the class fixes it): the share is the population's
        population["growing"] = (float(grows[0]), "every draw is the same setting")
    ctx = Context(cls.name, model, stats, kmax, norm_draws, population)
    claims = []
    for c in cls.paper_claims():
        verdict, evidence = _judge(c.judge, ctx)
        claims.append(
            {
                "kind": "toolkit" if c.source.startswith(TOOLKIT_SOURCE) else "paper",
                "source": c.source,
                "quote": c.quote,
                "check": c.check,
                "verdict": verdict,
                "evidence": evidence,
            }
        )
    pop = population.get("growing")
    share = Share(int(grows.sum()), draws, *(pop if pop is not None else (None, None)))
    return {
        "model": cls.name,
        "label": cls.label or cls.name,
        "group": cls.group,
        "draws": draws,
        "norm_draws": norm_draws,
        "initialisation": _init_text(cls),
        "params": {k: _summary(v) for k, v in model.params().items()},
        "memory_horizon": _summary(np.broadcast_to(stats["memory_horizon"], (draws,))),
        "log10_sup_norm": _summary(stats["log10_sup_norm"]),
        "spectral_radius": _summary(np.broadcast_to(stats["spectral_radius"], (draws,))),
        "growing": share.estimate,
        "growing_share": share.as_dict(),
        "kmax": kmax,
        "claims": claims,
    }


def compare_table(
    models: tuple[str, ...] | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    kmax: int = 10000,
    norm_draws: int = DEFAULT_NORM_DRAWS,
    progress: bool | None = None,
) -> list[dict]:
    """``compare_model`` for every registered model (or those named), registry order. The
    whole call is estimated first and refused above the limits; ``progress`` None shows a bar
    (standard error) where the estimate exceeds ``PROGRESS_SECONDS``."""
    draws, seed, kmax, norm_draws = _check_args(draws, seed, kmax, norm_draws)
    names = model_names() if models is None else tuple(model_class(m).name for m in models)
    names = tuple(dict.fromkeys(names))
    est = estimate(names, draws, seed, kmax, norm_draws)
    _check_limits(est, draws, norm_draws, kmax)
    show = est.seconds > PROGRESS_SECONDS if progress is None else progress
    with tqdm(
        total=len(names) * kmax,
        desc="compare",
        unit="step",
        disable=not show,
        file=sys.stderr,
        leave=False,
    ) as bar:
        return [
            compare_model(n, draws, seed, kmax, norm_draws, _checked=True, _tick=bar.update)
            for n in names
        ]


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif compare [--models M ...] [--draws N] [--norm-draws M] [--seed S] [--kmax K]
    [--json]``."""
    parser.add_argument(
        "--models", nargs="+", default=None, metavar="MODEL", help="default: every model"
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=DEFAULT_DRAWS,
        help=f"initial draws per model for the shares and horizons (default {DEFAULT_DRAWS})",
    )
    parser.add_argument(
        "--norm-draws",
        type=int,
        default=DEFAULT_NORM_DRAWS,
        help=f"of those, how many get the power sweep sup_k ||J^k|| (default {DEFAULT_NORM_DRAWS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--kmax", type=int, default=10000, help="horizon of sup_k ||J^k||")


def _num(x: float, digits: int = 3) -> str:
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def _span(s: dict[str, float]) -> str:
    if s["min"] == s["max"]:
        return _num(s["median"])
    return f"{_num(s['median'])} [{_num(s['min'])}, {_num(s['max'])}]"


def _growing_cell(g: dict[str, Any]) -> str:
    lo, hi = g["ci95"]
    cell = f"{_pct(g['estimate'])} [{_pct(lo)}, {_pct(hi)}]"
    if g["population"] is not None:
        cell += f"; population {_pct(g['population'])}"
    return cell


def run(args: argparse.Namespace) -> int:
    """Print the table, how each model is drawn and the claims (or JSON with ``--json``; inf
    as the string "inf")."""
    rows = compare_table(
        None if args.models is None else tuple(args.models),
        args.draws,
        args.seed,
        args.kmax,
        args.norm_draws,
    )
    if args.json:
        print(json.dumps(jsonable(rows), indent=2))
        return 0
    nd = rows[0]["norm_draws"] if rows else args.norm_draws
    head = (
        "model",
        "growing below threshold [95% CI]",
        "memory horizon (steps)",
        f"log10 sup_(k<={args.kmax}) ||J^k||_2",
    )
    cells = [head]
    for r in rows:
        cells.append(
            (
                r["label"],
                _growing_cell(r["growing_share"]),
                _span(r["memory_horizon"]),
                _span(r["log10_sup_norm"]),
            )
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    print(
        f"Sub-threshold analysis at each paper's initialisation ({args.draws} draws per model, "
        f"seed {args.seed}; the power norm over the first {nd}); median [min, max]. Growing: "
        "the share of the draws with its 95% Wilson interval, and the population value where "
        "it is known (how, below)."
    )
    for i, c in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nInitialisation drawn, and how each population value is computed:")
    for r in rows:
        g = r["growing_share"]
        init = r["initialisation"].rstrip(".") + "."
        how = f" Population: {g['method']}." if g["population"] is not None else ""
        print(f"  {r['label']}: {init}{how}")
    for kind, title in (
        ("paper", "Each paper's own claims, with the verdict the computation gives"),
        ("toolkit", "The toolkit's own statements (derived here), tested at the same draws"),
    ):
        print(f"\n{title}:")
        for r in rows:
            for c in r["claims"]:
                if c["kind"] != kind:
                    continue
                print(f'  {r["label"]}: [{c["verdict"]}] {c["source"]}: "{c["quote"]}"')
                print(f"      check: {c['check']}; {c['evidence']}")
    return 0
