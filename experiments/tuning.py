"""Per-model tuning: the grid of (learning rate, budget) pairs, and the choice on validation.

A grid point is (budget, learning rate, gradient clip, model-specific values such as ALIF's
``tau_a``); the clip and the model values are part of a point only where a run sets them.
A run that stopped early (non-finite or huge gradient: ``aborted``) stays in every point it
belongs to, with the accuracy of its last good parameters, and every row counts it: the
``aborted`` column of a grid row says whether that run had stopped by that budget, and of a
tuned row how many of its seeds had. Test accuracies over the seeds carry a 95% percentile
bootstrap interval of the mean (``bootstrap_mean``: 10,000 resamples of the seeds, NumPy
``default_rng(0)``).

A tuning run (a config with ``budgets``) trains one model at one learning rate for the largest
budget and records the validation and test accuracy at every budget (the first k updates of a
run are exactly a run of k updates). For each model and setting (recall delay, digits task)
``tuned_rows`` picks the pair whose validation accuracy, averaged over the seeds, is highest
(ties go to the smaller budget, then the smaller learning rate), and reports the test
accuracy of that pair: mean and standard deviation (ddof = 0) over the seeds. The test data
play no part in the choice.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lstmlif.neurons import model_names

__all__ = [
    "budget_accuracy",
    "bootstrap_mean",
    "aborted_by",
    "grid_rows",
    "tuned_rows",
    "setting_of",
    "BUDGET_UNIT",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
]

BUDGET_UNIT = {"recall": "updates", "digits": "epochs"}
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def bootstrap_mean(
    values: Any,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(mean, low, high): the sample mean of ``values`` (n,) and its percentile bootstrap
    interval: ``resamples`` means of n values drawn with replacement (``default_rng(seed)``),
    their ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles. NaN values are an error;
    one value gives a zero-width interval."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_mean: no values")
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_mean: the values must be finite")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_mean: level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(x.mean()), float(low), float(high)


def aborted_by(record: dict[str, Any], budget: int, name: str = "recall") -> bool:
    """Whether the run stopped (non-finite or huge gradient) at or before ``budget`` updates
    (recall) or epochs (digits). Records written before ``aborted_at`` existed give it as one
    more than their completed updates."""
    res = record["result"]
    if res["status"] == "done":
        return False
    at = res.get("aborted_at", len(res["losses"]) + 1)
    if name == "digits":
        per_epoch = max(1, math.ceil(res["n_train"] / record["config"]["batch"]))
        return bool(at <= budget * per_epoch)
    return bool(at <= budget)


def _extras(config: dict[str, Any]) -> dict[str, Any]:
    """The grid coordinates besides budget and learning rate that a run sets: ``clip`` (None:
    unclipped) and ``tau_a`` (None: the model's default or no such constant)."""
    return {"clip": config.get("clip"), "tau_a": config.get("network", {}).get("tau_a")}


def setting_of(name: str, config: dict[str, Any]) -> Any:
    """What a tuned budget is chosen for besides the model: the delay (recall) or the task
    (digits), with the task variant when it is not the default."""
    if name == "digits":
        return config["task"]
    return config["delay"]


def budget_accuracy(name: str, record: dict[str, Any], budget: int) -> tuple[float, float]:
    """(validation, test) accuracy of ``record`` after ``budget`` updates (recall) or epochs
    (digits): the last curve point at or before the budget. A run that stopped (non-finite or
    huge gradient) keeps the parameters of its last good update, so later budgets read the
    last point it reached; NaN when it reached none."""
    unit = "epoch" if name == "digits" else "step"
    points = [p for p in record["result"]["curve"] if p.get(unit, math.inf) <= budget]
    if not points:
        return math.nan, math.nan
    last = points[-1]
    return float(last["val_accuracy"]), float(last["accuracy"])


def _log10(value: Any) -> float:
    return math.nan if value is None else float(value)


def grid_rows(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (tuning run, budget): the whole grid with its validation and test
    accuracy (the columns of a tuning folder's ``summary.csv``)."""
    unit = BUDGET_UNIT[name]
    setting = "task" if name == "digits" else "delay"
    rows = []
    for r in records:
        c = r["config"]
        for budget in c["budgets"]:
            val, test = budget_accuracy(name, r, budget)
            rows.append(
                {
                    "key": r["key"],
                    "model": c["model"],
                    setting: setting_of(name, c),
                    "seed": c["seed"],
                    "lr": c["lr"],
                    unit: budget,
                    **_extras(c),
                    "val_accuracy": val,
                    "test_accuracy": test,
                    "status": r["result"]["status"],
                    "aborted": aborted_by(r, budget, name),
                    "log10_cue_gradient": _log10(r["result"]["init"]["log10_cue_norm"]),
                    "n_params": r["result"]["n_params"],
                    "wall_time_s": r["wall_time_s"],
                    "cpu_time_s": r.get("cpu_time_s", math.nan),
                }
            )
    return rows


def tuned_rows(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chosen grid point (learning rate, budget, and clip and ``tau_a`` where runs set
    them) per model and setting, with the mean validation accuracy that chose it and the test
    accuracy over the seeds (mean, sd, min, max, 95% bootstrap interval of the mean), the
    number of seeds and how many of them had aborted by the budget (their last good
    parameters are measured, never dropped), the aborted runs of the whole grid, the mean
    log10 cue gradient at initialisation (over the seeds where it is finite and non-zero),
    and how many grid points were compared."""
    unit = BUDGET_UNIT[name]
    setting = "task" if name == "digits" else "delay"
    grid = grid_rows(name, records)
    groups: dict[tuple[str, Any], dict[tuple[int, float], list[dict[str, Any]]]] = {}
    for row in grid:
        point = (row[unit], row["lr"], row["clip"], row["tau_a"])
        groups.setdefault((row["model"], row[setting]), {}).setdefault(point, []).append(row)
    out = []
    for (model, where), points in groups.items():

        def score(item: tuple[tuple[Any, ...], list[dict[str, Any]]]) -> tuple[float, ...]:
            (budget, lr, clip, tau), rows = item
            vals = [r["val_accuracy"] for r in rows]
            mean = float(np.mean(vals)) if all(math.isfinite(v) for v in vals) else -math.inf
            unclipped = -math.inf if clip is None else clip
            return (-mean, budget, lr, -unclipped, -1.0 if tau is None else tau)

        (budget, lr, clip, tau), rows = min(points.items(), key=score)
        tests = np.array([r["test_accuracy"] for r in rows], dtype=np.float64)
        finite = tests[np.isfinite(tests)]
        mean, low, high = bootstrap_mean(finite) if finite.size else (math.nan,) * 3
        runs = {r["key"]: r["status"] for rows_ in points.values() for r in rows_}
        grads = [r["log10_cue_gradient"] for r in rows if math.isfinite(r["log10_cue_gradient"])]
        out.append(
            {
                "model": model,
                setting: where,
                "lr": lr,
                unit: budget,
                "clip": clip,
                "tau_a": tau,
                "seeds": len(rows),
                "aborted": sum(bool(r["aborted"]) for r in rows),
                "val_accuracy": float(np.mean([r["val_accuracy"] for r in rows])),
                "test_accuracy": mean,
                "test_sd": float(tests.std()),
                "test_min": float(tests.min()),
                "test_max": float(tests.max()),
                "test_ci_low": low,
                "test_ci_high": high,
                "grid_runs": len(runs),
                "grid_runs_aborted": sum(status != "done" for status in runs.values()),
                "log10_cue_gradient": float(np.mean(grads)) if grads else math.nan,
                "grid_points": len(points),
            }
        )
    order = {name: i for i, name in enumerate(model_names())}
    out.sort(key=lambda r: (order.get(r["model"], len(order)), str(r[setting]).zfill(8)))
    return out
