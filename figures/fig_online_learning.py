"""Learning with the online rules: delayed-recall test accuracy against delay, per model and
rule, from the records of the pre-registered plan (``experiments.online_learning``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmlif.experiments.online_learning import PLAN_PATH, cells, load_plan
from lstmlif.neurons import model_class, model_names

from .files import save_all
from .style import model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "online_learning"
ORDER = 62
RULE_STYLE = {"bptt": ("-", "o"), "eprop": ("--", "s"), "ostl": ("-.", "D"), "ottt": (":", "^")}
CAPTION = (
    "Delayed recall learned with online rules against BPTT (one recurrent layer of 16 neurons, "
    "batch 32, at most 100 Adam updates; the plan results/online_learning/plan.json, committed "
    "before its results). One panel per model: mean test accuracy over 5 seeds at the grid "
    "point chosen on validation, with its 95% percentile bootstrap interval, against the delay; "
    "BPTT solid, e-prop dashed, OSTL dash-dotted, the trace rule (OTTT-style) dotted. Dashed "
    "grey: the learned threshold 0.625; dotted: chance 0.25. A missing point was not run (the "
    "stopping rule: no seed reached the threshold in validation at the previous delay) or did "
    "not finish. Numbers in online_learning.npz."
)


def _folder(results_dir: str | Path | None) -> Path:
    """The plan's folder: ``online_learning`` under ``results_dir`` ($LSTMLIF_RESULTS, else
    the plan's own folder's parent, ``results``)."""
    root = results_dir if results_dir is not None else os.environ.get("LSTMLIF_RESULTS")
    return Path(root) / PLAN_PATH.parent.name if root else PLAN_PATH.parent


def compute(results_dir: str | Path | None = None) -> dict[str, Any]:
    """``models``, ``rules``, ``delays``; ``{model}/mean``, ``/low``, ``/high`` (rules,
    delays) test accuracy (NaN: not run), ``{model}/aborted`` (rules, delays) aborted runs at
    the chosen point; ``threshold``, ``chance``. Empty when no runs exist."""
    folder = _folder(results_dir)
    plan = load_plan(folder / "plan.json")
    rows = cells(plan, folder)
    if not rows:
        return {}
    models = [m for m in plan["models"] if any(r["model"] == m for r in rows)]
    registry = model_names()
    order = sorted(models, key=lambda m: registry.index(model_class(m).name))
    rules, delays = plan["rules"], plan["delays"]
    data: dict[str, Any] = {
        "models": np.array([model_class(m).name for m in order], dtype=str),
        "rules": np.array(rules, dtype=str),
        "delays": np.array(delays),
        "threshold": np.array(plan["threshold"]),
        "chance": np.array(1.0 / plan["sizes"]["n_classes"]),
    }
    for m in order:
        shape = (len(rules), len(delays))
        arrays = {k: np.full(shape, np.nan) for k in ("mean", "low", "high", "aborted")}
        for r in rows:
            if r["model"] != m:
                continue
            i, j = rules.index(r["rule"]), delays.index(r["delay"])
            arrays["mean"][i, j] = r["test_accuracy"]
            arrays["low"][i, j] = r["test_ci_low"]
            arrays["high"][i, j] = r["test_ci_high"]
            arrays["aborted"][i, j] = r["aborted"]
        for k, v in arrays.items():
            data[f"{model_class(m).name}/{k}"] = v
    return data


def plot(data: dict[str, Any]) -> Figure:
    """One panel per model: accuracy against delay, one line per rule with its interval."""
    models = list(data["models"])
    delays = data["delays"]
    with style():
        fig, axes = plt.subplots(
            1, len(models), figsize=(2.2 * len(models), 2.6), sharey=True, squeeze=False
        )
        for k, (ax, m) in enumerate(zip(axes[0], models, strict=True)):
            for i, rule in enumerate(data["rules"]):
                ls, mk = RULE_STYLE.get(str(rule), ("-", "o"))
                mean = data[f"{m}/mean"][i]
                low, high = data[f"{m}/low"][i], data[f"{m}/high"][i]
                ok = np.isfinite(mean)
                x = delays[ok] * (1.0 + 0.04 * (i - 1.5))
                ax.errorbar(
                    x,
                    mean[ok],
                    yerr=[mean[ok] - low[ok], high[ok] - mean[ok]],
                    ls=ls,
                    marker=mk,
                    ms=3,
                    capsize=1.5,
                    lw=1.0,
                    label=str(rule),
                )
            ax.axhline(float(data["threshold"]), color="0.5", ls="--", lw=0.7)
            ax.axhline(float(data["chance"]), color="0.5", ls=":", lw=0.7)
            ax.set_xscale("log")
            ax.set_xticks(delays, [str(d) for d in delays])
            ax.minorticks_off()
            ax.set_ylim(0.0, 1.05)
            ax.set_title(model_label(m))
            ax.set_xlabel("delay (steps)")
            panel_label(ax, "abcdefgh"[k])
        axes[0][0].set_ylabel("test accuracy")
        full = max(axes[0], key=lambda ax: len(ax.get_legend_handles_labels()[1]))
        axes[0][-1].legend(*full.get_legend_handles_labels(), loc="lower left", fontsize=6.5)
        fig.tight_layout()
    return fig


def make(out_dir: Path, results_dir: str | Path | None = None) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ). With no runs it writes nothing and returns
    ``{"paths": [], "data": {}, "note": ...}``; ``results_dir``: the results root."""
    try:
        data = compute(results_dir)
    except ValueError as err:
        data, why = {}, str(err)
    else:
        why = f"no online-learning runs under {_folder(results_dir)}"
    if not data:
        warnings.warn(f"{NAME}: {why}", stacklevel=2)
        return {"paths": [], "data": {}, "note": why}
    return save_all(plot(data), out_dir, NAME, data)
