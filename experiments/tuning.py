"""Per-model tuning: the grid of (learning rate, budget) pairs, and the choice on validation.

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

__all__ = ["budget_accuracy", "grid_rows", "tuned_rows", "setting_of", "BUDGET_UNIT"]

BUDGET_UNIT = {"recall": "updates", "digits": "epochs"}


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
                    "val_accuracy": val,
                    "test_accuracy": test,
                    "status": r["result"]["status"],
                    "log10_cue_gradient": _log10(r["result"]["init"]["log10_cue_norm"]),
                    "n_params": r["result"]["n_params"],
                    "wall_time_s": r["wall_time_s"],
                }
            )
    return rows


def tuned_rows(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chosen (learning rate, budget) per model and setting, with the mean validation
    accuracy that chose it and the test accuracy over the seeds (mean, sd, min, max), the
    number of seeds, the mean log10 cue gradient at initialisation (over the seeds where it
    is finite and non-zero), and how many grid points were compared."""
    unit = BUDGET_UNIT[name]
    setting = "task" if name == "digits" else "delay"
    grid = grid_rows(name, records)
    groups: dict[tuple[str, Any], dict[tuple[int, float], list[dict[str, Any]]]] = {}
    for row in grid:
        point = (row[unit], row["lr"])
        groups.setdefault((row["model"], row[setting]), {}).setdefault(point, []).append(row)
    out = []
    for (model, where), points in groups.items():

        def score(item: tuple[tuple[int, float], list[dict[str, Any]]]) -> tuple[float, ...]:
            (budget, lr), rows = item
            vals = [r["val_accuracy"] for r in rows]
            mean = float(np.mean(vals)) if all(math.isfinite(v) for v in vals) else -math.inf
            return (-mean, budget, lr)

        (budget, lr), rows = min(points.items(), key=score)
        tests = np.array([r["test_accuracy"] for r in rows], dtype=np.float64)
        grads = [r["log10_cue_gradient"] for r in rows if math.isfinite(r["log10_cue_gradient"])]
        out.append(
            {
                "model": model,
                setting: where,
                "lr": lr,
                unit: budget,
                "seeds": len(rows),
                "val_accuracy": float(np.mean([r["val_accuracy"] for r in rows])),
                "test_accuracy": float(tests.mean()),
                "test_sd": float(tests.std()),
                "test_min": float(tests.min()),
                "test_max": float(tests.max()),
                "log10_cue_gradient": float(np.mean(grads)) if grads else math.nan,
                "grid_points": len(points),
            }
        )
    order = {name: i for i, name in enumerate(model_names())}
    out.sort(key=lambda r: (order.get(r["model"], len(order)), str(r[setting]).zfill(8)))
    return out
