"""Flossing as a remedy: recall accuracy against the delay with and without the flossing
regulariser, per model, and the top exponent before and after training
(``experiments.flossing``, the pre-registered plan ``results/flossing/plan.json``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import NullLocator

from lstmlif.experiments import flossing as fx
from lstmlif.experiments.runner import RESULTS_DIR

from .files import save_all
from .style import OKABE_ITO, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "flossing"
ORDER = 54
ARM_STYLE = {
    "off": dict(color=OKABE_ITO["black"], marker="o", label="no flossing"),
    "floss": dict(color=OKABE_ITO["vermillion"], marker="s", label="flossing"),
}
CAPTION = (
    "Does flossing extend the delays a model learns? The recall task of the pre-registered "
    "flossing plan (results/flossing/plan.json: 64 recurrent neurons, 5 seeds, nested budgets "
    "50/100/200 updates, the learning rate and the flossing weight chosen on a validation "
    "split per arm). Flossing: 25 pre-flossing Adam updates on (lambda_1 - 0)^2 alone, then the "
    "term added every 10 updates; lambda_1 the top Lyapunov exponent of the hidden layer's "
    "backward dynamics (analysis.flossing). (a-e) Mean test accuracy over the seeds at the "
    "chosen grid point against the delay (log axis), black circles without flossing, "
    "vermillion squares with it; bars: 95% percentile bootstrap intervals over seeds; dotted: "
    "the learned threshold 0.625; a model's curve ends where the plan's stopping rule ended it "
    "or where the runs stopped. (f) lambda_1 (nats per step) of the untrained, calibrated "
    "network (open) and after training (filled), per arm, at the smallest delay, mean over "
    "the seeds with its bootstrap interval. Numbers in flossing.npz."
)


def _results_dir(results_dir: str | Path | None) -> Path:
    if results_dir is not None:
        return Path(results_dir)
    return Path(os.environ.get("LSTMLIF_RESULTS", str(RESULTS_DIR)))


def compute(results_dir: str | Path | None = None) -> dict[str, Any]:
    """Per model and arm, the tested delays with the mean test accuracy and its interval, and
    lambda_1 before and after at the smallest tested delay; an empty dict without runs."""
    root = _results_dir(results_dir)
    plan_path = root / "flossing" / "plan.json"
    if not plan_path.is_file():
        return {}
    plan = fx.load_plan(plan_path)
    records = fx.records_in(root)
    if not records:
        return {}
    obs = fx.observed(plan, records, fx.stages_run(plan, records))
    data: dict[str, Any] = {
        "models": np.array(plan["models"]),
        "threshold": np.array(plan["threshold"]),
        "delays": np.array(plan["delays"], dtype=np.float64),
    }
    for model in plan["models"]:
        for arm in fx.ARMS:
            rows = obs[(model, arm)]["per_delay"]
            key = f"{model}_{arm}"
            data[f"{key}_delay"] = np.array([p["delay"] for p in rows], dtype=np.float64)
            data[f"{key}_acc"] = np.array(
                [[p["mean"], p["low"], p["high"]] for p in rows], dtype=np.float64
            ).reshape(-1, 3)
            first = rows[0] if rows else None
            nan3 = (np.nan, np.nan, np.nan)
            data[f"{key}_before"] = np.array(first["before"] if first else nan3)
            data[f"{key}_after"] = np.array(first["after"] if first else nan3)
    return data


def plot(data: dict[str, Any]) -> Figure:
    """Five accuracy panels and the exponent panel."""
    models = [str(m) for m in data["models"]]
    delays = [float(d) for d in data["delays"]]
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(9.0, 5.6))
        flat = axes.ravel()
        for i, model in enumerate(models[:5]):
            ax = flat[i]
            for j, arm in enumerate(fx.ARMS):
                d = data[f"{model}_{arm}_delay"]
                acc = data[f"{model}_{arm}_acc"]
                if d.size == 0:
                    continue
                shift = 1.0 + 0.04 * (j - 0.5)
                ax.errorbar(
                    d * shift,
                    acc[:, 0],
                    yerr=[acc[:, 0] - acc[:, 1], acc[:, 2] - acc[:, 0]],
                    capsize=2,
                    markersize=4,
                    **ARM_STYLE[arm],
                )
            ax.axhline(float(data["threshold"]), color="0.5", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xticks(delays, [f"{d:g}" for d in delays])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlim(delays[0] / 1.3, delays[-1] * 1.3)
            ax.set_ylim(0.0, 1.05)
            ax.set_title(model_label(model))
            ax.set_xlabel("delay $D$ (steps)")
            ax.set_ylabel("test accuracy")
            panel_label(ax, "abcde"[i])
            if i == 0:
                ax.legend(loc="lower left")
        for ax in flat[len(models) : 5]:
            ax.set_visible(False)
        ax = flat[5]
        x = np.arange(len(models))
        for j, arm in enumerate(fx.ARMS):
            st = ARM_STYLE[arm]
            for which, fill in (("before", "none"), ("after", st["color"])):
                v = np.array([data[f"{m}_{arm}_{which}"] for m in models])
                off = (j - 0.5) * 0.3 + (0.08 if which == "after" else -0.08)
                ax.errorbar(
                    x + off,
                    v[:, 0],
                    yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]],
                    color=st["color"],
                    marker=st["marker"],
                    markerfacecolor=fill,
                    linestyle="none",
                    capsize=2,
                    markersize=4,
                )
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_xticks(x, [model_label(m) for m in models], rotation=30)
        ax.set_ylabel(r"$\lambda_1$ (nats per step)")
        ax.set_title(r"$\lambda_1$ before (open) and after (filled)")
        panel_label(ax, "f")
        fig.tight_layout()
    return fig


def make(out_dir: Path, results_dir: str | Path | None = None) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ). With no runs of the plan it writes nothing and
    returns ``{"paths": [], "data": {}, "note": ...}``."""
    data = compute(results_dir)
    if not data:
        note = f"no runs of the flossing plan under {_results_dir(results_dir)}"
        warnings.warn(f"{NAME}: {note}", stacklevel=2)
        return {"paths": [], "data": {}, "note": note}
    return save_all(plot(data), out_dir, NAME, data)
