"""Learnability predicted from the untrained network's top Lyapunov exponent, against the
committed recall sweeps: each run's network is rebuilt exactly as it was before training (same
seed, same calibrated input gain), driven by the task's distractor input, and the top exponent
of its backward dynamics (the whole layer's state; the recurrent spike path W_rec psi included)
gives the rate at which a gradient decays going back in time."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lstmlif.analysis.lyapunov import LN10, learnable_delay
from lstmlif.experiments.learnability import untrained_exponent
from lstmlif.experiments.networks import RecallNetwork
from lstmlif.experiments.runner import (
    FAILURE_MARGIN,
    FLOAT32_TINY,
    RESULTS_DIR,
    VANISHING_LOG10,
    load_results,
    recall_network,
)
from lstmlif.experiments.tasks import RecallTask
from lstmlif.neurons import model_class

from .files import save_all, save_csv
from .style import OKABE_ITO, model_color, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "lyapunov_learnability"
ORDER = 52
FLOOR_DECADES = -VANISHING_LOG10
CAPTION = (
    "Which delays can the recall task learn? The untrained network of every committed run "
    "(results/ or $LSTMLIF_RESULTS; experiments recall and quadrants) is rebuilt with its seed "
    "and calibrated input gain and driven by 250 steps of the task's distractor input; the top "
    "Lyapunov exponent lambda_1 of its backward dynamics (all 64 neurons' states, the recurrent "
    "spike path W_rec psi included; QR over 4 directions, mean over 6 sequences) is the rate at "
    "which a gradient decays going back in time. (a) Predicted decay rate -lambda_1 / ln 10 "
    "against the measured one: the least-squares slope of log10 ||dL/dI[t]|| over the delay at "
    "initialisation (runs with D >= 50; symmetric log axes, negative: the gradient grows going "
    "back). The top exponent is the asymptotic rate: where the input current sees the slowest "
    "mode only through the spike path (ALIF's adaptation), the slope measured over a finite "
    "delay is steeper and approaches it as D grows. (b) Fraction of seeds that learned (final "
    "accuracy at "
    "least halfway from chance to 1) against the delay, with the predicted longest learnable "
    "delay D* = 3 ln 10 / (-lambda_1) (the gradient falls by 3 decades, the experiments' own "
    "vanishing criterion; vertical lines, mean over runs). (c) Predicted D* against the "
    "measured bracket [longest delay a majority of seeds learned, next delay tested]. "
    "(d) The quadrant grid of LSTM-LIF couplings: lambda_1 (decades per step) against the final "
    "accuracy, per tested delay; a run is predicted learnable when lambda_1 / ln 10 >= -3 / D "
    "(dotted lines) and predicted to grow when lambda_1 > 0. A gradient that reaches the cue is "
    "necessary, not sufficient: a model whose measured bracket lies below its D* fails for "
    "another reason. (e) The pre-registered learnability plan (results/learnability/plan.json, "
    "5 seeds, delays 10-400, the grid point chosen on validation): the largest delay learned "
    "(mean test accuracy >= 0.625; bar: 95% bootstrap interval over seeds) against the largest "
    "tested delay predicted by D* from lambda_1 (circles) and by the per-window cue-gradient "
    "decay (squares); filled: a hit, open: a miss; an arrow: the largest tested delay was "
    "learned; faded: a model whose larger delays are still to run (its value is a lower bound). "
    "Numbers in lyapunov_learnability.csv and .npz."
)

WINDOW = 250
WARMUP = 30
BURN = 30
BATCH = 6
DIRECTIONS = 4
MIN_DELAY_FOR_SLOPE = 50
_VARIED = {"model", "seed", "delay", "task", "beta1", "beta2"}


def _results_dir(results_dir: str | Path | None) -> Path:
    if results_dir is not None:
        return Path(results_dir)
    return Path(os.environ.get("LSTMLIF_RESULTS", str(RESULTS_DIR)))


def _main_setting(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the most common setting (budget, sizes, task variant)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        setting = {k: v for k, v in r["config"].items() if k not in _VARIED}
        groups.setdefault(repr(sorted(setting.items())), []).append(r)
    return max(groups.values(), key=len) if groups else []


def rebuild_network(record: dict[str, Any]) -> tuple[RecallNetwork, RecallTask]:
    """The untrained network of a recall or quadrant run, as its run built it
    (``experiments.runner.recall_network``), with the stored calibrated input gain and, for
    the quadrant grid, the couplings set after calibration. Returns (network, the run's task)."""
    c = record["config"]
    net, task = recall_network(c)
    if c["experiment"] == "quadrants":
        with torch.no_grad():
            net.hidden.neuron.beta1.fill_(c["beta1"])
            net.hidden.neuron.beta2.fill_(c["beta2"])
    net.hidden.input_gain = float(record["result"]["input_gain"][0])
    return net, task


def network_exponent(
    record: dict[str, Any], window: int = WINDOW, batch: int = BATCH, k: int = DIRECTIONS
) -> tuple[np.ndarray, float]:
    """Top Lyapunov exponents (nats per step) of the run's untrained network over ``window``
    steps of distractor input (after the cue and ``WARMUP`` steps; ``BURN`` alignment steps),
    one per sequence (batch,), and the spike rate there. Float64 NumPy throughout."""
    net, run_task = rebuild_network(record)
    seed = record["config"]["seed"]
    return untrained_exponent(net, run_task, seed, window, WARMUP, BURN, batch, k)


def measured_decay(record: dict[str, Any]) -> float:
    """The measured decay rate of the gradient going back in time, decades per step: the
    least-squares slope of log10 ||dL/dI[t]|| over the delay steps at initialisation. Steps whose
    norm is below float32's smallest normal number are left out: there every element is
    subnormal, an underflow residue rather than a measured gradient. NaN when the delay is
    shorter than ``MIN_DELAY_FOR_SLOPE`` or fewer than 10 steps remain."""
    c, res = record["config"], record["result"]
    if c["delay"] < MIN_DELAY_FOR_SLOPE:
        return math.nan
    logs = np.array([math.nan if v is None else float(v) for v in res["init"]["log10_step_norms"]])
    cue = res["task"]["cue_steps"]
    t = np.arange(cue + 5, cue + c["delay"] - 5)
    y = logs[t]
    ok = np.isfinite(y) & (y >= math.log10(FLOAT32_TINY))
    if ok.sum() < 10:
        return math.nan
    return float(np.polyfit(t[ok], y[ok], 1)[0])


def _learned(record: dict[str, Any]) -> bool:
    chance = record["result"]["chance"]
    acc = record["final_accuracy"]
    return acc is not None and acc >= chance + FAILURE_MARGIN * (1 - chance)


def compute(results_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Per run: model index, seed, delay, predicted top exponent (mean over sequences), spike
    rate, measured decay slope, learned or not, final accuracy (and betas for the quadrant
    grid). Empty dict when no results exist."""
    root = _results_dir(results_dir)
    recall = _main_setting(load_results(root, "recall"))
    quads = _main_setting(load_results(root, "quadrants"))
    if not recall and not quads:
        return {}
    models = sorted({r["config"]["model"] for r in recall}, key=_registry_order)
    data: dict[str, Any] = {"models": np.array(models, dtype=str)}
    cols: dict[str, list[float]] = {
        k: [] for k in ("model", "seed", "delay", "lam", "rate", "slope", "learned", "accuracy")
    }
    for rec in recall:
        lam, rate = network_exponent(rec)
        c = rec["config"]
        cols["model"].append(models.index(c["model"]))
        cols["seed"].append(c["seed"])
        cols["delay"].append(c["delay"])
        cols["lam"].append(float(lam.mean()))
        cols["rate"].append(rate)
        cols["slope"].append(measured_decay(rec))
        cols["learned"].append(float(_learned(rec)))
        cols["accuracy"].append(_num(rec["final_accuracy"]))
    for key, values in cols.items():
        data[f"recall/{key}"] = np.asarray(values, dtype=np.float64)
    qcols: dict[str, list[float]] = {
        k: [] for k in ("beta1", "beta2", "seed", "delay", "lam", "slope", "accuracy", "learned")
    }
    for rec in quads:
        c = rec["config"]
        lam, _ = network_exponent(rec)
        qcols["beta1"].append(c["beta1"])
        qcols["beta2"].append(c["beta2"])
        qcols["seed"].append(c["seed"])
        qcols["delay"].append(c["delay"])
        qcols["lam"].append(float(np.mean(lam)))
        qcols["slope"].append(measured_decay(rec))
        qcols["accuracy"].append(_num(rec["final_accuracy"]))
        qcols["learned"].append(float(_learned(rec)))
    for key, values in qcols.items():
        data[f"quadrants/{key}"] = np.asarray(values, dtype=np.float64)
    data["floor_decades"] = np.asarray(FLOOR_DECADES)
    data.update(plan_data(root))
    return data


def plan_data(root: Path) -> dict[str, np.ndarray]:
    """The pre-registered learnability plan's table as arrays (``plan/...``): per model the
    observed largest delay learned (NaN: none tested, 0: none learned) with its interval, the
    two predictions (NaN: not computed; 0: below the smallest delay), the hits (1, 0, NaN)
    and whether the largest tested delay was learned. Empty when the plan has no file."""
    from lstmlif.experiments import learnability as plan_module

    path = root / "learnability" / "plan.json"
    if not path.is_file():
        return {}
    plan = plan_module.load_plan(path)
    pred_path = root / "learnability" / "predictors.json"
    predictors = json.loads(pred_path.read_text()) if pred_path.is_file() else None
    rows = plan_module.learnability_rows(plan, plan_module.records_in(root), predictors)

    def num(value: Any, none: float = 0.0) -> float:
        return none if value is None else float(value)

    out: dict[str, Any] = {"plan/models": np.array([r["model"] for r in rows], dtype=str)}
    tested = [bool(r["tested"]) for r in rows]
    out["plan/largest"] = np.array(
        [num(r["largest"]) if t else math.nan for r, t in zip(rows, tested, strict=True)]
    )
    out["plan/low"] = np.array([r["interval"][0] if r["tested"] else math.nan for r in rows])
    out["plan/high"] = np.array([r["interval"][1] if r["tested"] else math.nan for r in rows])
    out["plan/censored"] = np.array([float(r["censored"]) for r in rows])
    out["plan/finished"] = np.array([float(r["finished"]) for r in rows])
    out["plan/max_tested"] = np.array([max(r["tested"]) if r["tested"] else math.nan for r in rows])
    for name in ("lambda", "window"):
        out[f"plan/pred_{name}"] = np.array(
            [num(r[f"pred_{name}"]) if f"pred_{name}" in r else math.nan for r in rows]
        )
        out[f"plan/hit_{name}"] = np.array(
            [float(r[f"hit_{name}"]) if f"hit_{name}" in r else math.nan for r in rows]
        )
    out["plan/d_star_lambda"] = np.array([r.get("d_star_lambda", math.nan) for r in rows])
    out["plan/delays"] = np.array(plan["delays"], dtype=np.float64)
    return out


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _registry_order(name: str) -> tuple[int, str]:
    from lstmlif.neurons import model_names

    names = model_names()
    key = model_class(name).name
    return (names.index(key) if key in names else len(names), key)


def summary(data: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per model: predicted D* (mean and range over runs), the measured bracket [longest delay a
    majority of seeds learned, next delay tested] and the mean predicted and measured decay
    rates (decades per step)."""
    rows = []
    if "recall/model" not in data:
        return rows
    m = data["recall/model"]
    delays = data["recall/delay"]
    floor = float(data["floor_decades"])
    tested = np.unique(delays)
    for i, name in enumerate(data["models"]):
        sel = m == i
        lam = data["recall/lam"][sel]
        dstar = learnable_delay(lam, floor)
        learned_at = [
            float(np.mean(data["recall/learned"][sel & (delays == d)]))
            for d in tested
            if np.any(sel & (delays == d))
        ]
        ds = [d for d in tested if np.any(sel & (delays == d))]
        ok = [d for d, f in zip(ds, learned_at, strict=True) if f > 0.5]
        longest = max(ok) if ok else 0.0
        above = [d for d in ds if d > longest]
        first_fail = min(above) if above else math.inf
        slope = data["recall/slope"][sel]
        rows.append(
            dict(
                model=str(name),
                predicted_delay=float(np.mean(dstar)),
                predicted_min=float(np.min(dstar)),
                predicted_max=float(np.max(dstar)),
                longest_learned=float(longest),
                first_failed=float(first_fail),
                predicted_decay=float(-np.mean(lam) / LN10),
                measured_decay=float(np.nanmean(slope)) if np.any(np.isfinite(slope)) else math.nan,
            )
        )
    return rows


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Four panels (see the caption)."""
    floor = float(data["floor_decades"])
    rows = summary(data)
    with style():
        fig, axes = plt.subplots(1, 5, figsize=(19.5, 3.8))
        ax = axes[0]
        m = data["recall/model"]
        for i, name in enumerate(data["models"]):
            sel = (m == i) & np.isfinite(data["recall/slope"])
            ax.scatter(
                data["recall/slope"][sel],
                -data["recall/lam"][sel] / LN10,
                color=model_color(name),
                label=model_label(name),
                s=18,
            )
        qsel = np.isfinite(data.get("quadrants/slope", np.array([])))
        if np.any(qsel):
            ax.scatter(
                data["quadrants/slope"][qsel],
                -data["quadrants/lam"][qsel] / LN10,
                marker="x",
                color=OKABE_ITO["black"],
                s=14,
                lw=0.8,
                label="quadrant grid",
            )
        lim = 0.3
        ax.plot([-lim, lim], [-lim, lim], ":", color="k", lw=1, label="equal")
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.axvline(0.0, color="0.6", lw=0.6)
        for axis in (ax.set_xscale, ax.set_yscale):
            axis("symlog", linthresh=1e-3, linscale=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel(r"measured decay: slope of $\log_{10}\|dL/dI[t]\|$ (decades/step)")
        ax.set_ylabel(r"predicted $-\lambda_1/\ln 10$ (decades/step)")
        ax.legend(loc="upper left", fontsize=6.5)
        panel_label(ax, "a")

        ax = axes[1]
        delays = data["recall/delay"]
        for i, name in enumerate(data["models"]):
            sel = m == i
            ds = np.unique(delays[sel])
            frac = [np.mean(data["recall/learned"][sel & (delays == d)]) for d in ds]
            color = model_color(name)
            ax.plot(ds, frac, "o-", color=color, label=model_label(name))
            dstar = rows[i]["predicted_delay"]
            if np.isfinite(dstar):
                ax.axvline(dstar, color=color, ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("delay $D$ (steps)")
        ax.set_ylabel("fraction of seeds that learned")
        ax.set_title(rf"dashed: predicted $D^*$ ({floor:g} decades)")
        ax.legend(loc="center left", fontsize=6.5)
        panel_label(ax, "b")

        ax = axes[2]
        for row in rows:
            color = model_color(row["model"])
            x_lo = max(row["longest_learned"], 1.0)
            x_hi = row["first_failed"] if np.isfinite(row["first_failed"]) else 2 * x_lo
            x = math.sqrt(x_lo * x_hi)
            y = row["predicted_delay"]
            yerr = [[y - row["predicted_min"]], [row["predicted_max"] - y]]
            ax.errorbar(
                x,
                y,
                xerr=[[x - x_lo], [x_hi - x]],
                yerr=yerr,
                fmt="o",
                color=color,
                capsize=3,
                label=model_label(row["model"]),
            )
        lims = [5.0, 1e5]
        ax.plot(lims, lims, ":", color="k", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(5.0, 3000.0)
        ax.set_ylim(5.0, 1e5)
        ax.set_xlabel("measured longest learnable delay (bracket, steps)")
        ax.set_ylabel(r"predicted $D^* = 3\ln 10/(-\lambda_1)$")
        ax.legend(loc="upper left", fontsize=6.5)
        panel_label(ax, "c")

        ax = axes[3]
        if "quadrants/lam" in data and data["quadrants/lam"].size:
            qd = data["quadrants/delay"]
            for j, d in enumerate(np.unique(qd)):
                sel = qd == d
                color = [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"]][j % 3]
                ax.scatter(
                    data["quadrants/lam"][sel] / LN10,
                    data["quadrants/accuracy"][sel],
                    color=color,
                    s=16,
                    label=f"D = {int(d)}",
                )
                ax.axvline(-floor / d, color=color, ls=":", lw=1)
            ax.axvline(0.0, color="k", lw=0.8)
            ax.set_xscale("symlog", linthresh=1e-3, linscale=0.5)
            ax.legend(loc="lower left", fontsize=6.5)
        ax.set_xlabel(r"$\lambda_1/\ln 10$ of the untrained network (decades/step)")
        ax.set_ylabel("final test accuracy")
        ax.set_title("LSTM-LIF quadrant grid")
        panel_label(ax, "d")
        _plan_panel(axes[4], data)
        panel_label(axes[4], "e")
        fig.tight_layout()
    return fig


def _plan_panel(ax: Any, data: dict[str, np.ndarray]) -> None:
    """Panel (e): the plan's predicted against observed largest delays, misses open."""
    if "plan/models" not in data or not np.any(np.isfinite(data["plan/largest"])):
        ax.text(0.5, 0.5, "learnability plan: no runs yet", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    delays = data["plan/delays"]
    floor_x = delays[0] / 2  # "no tested delay": drawn half a step below the smallest
    lims = [floor_x / 1.3, delays[-1] * 1.5]

    def where(value: float) -> float:
        return floor_x if value == 0 else value

    for i, name in enumerate(data["plan/models"]):
        largest = data["plan/largest"][i]
        if not np.isfinite(largest):
            continue
        color = model_color(name)
        x = where(largest)
        lo, hi = where(data["plan/low"][i]), where(data["plan/high"][i])
        for j, (key, marker) in enumerate((("lambda", "o"), ("window", "s"))):
            y = data[f"plan/pred_{key}"][i]
            if not np.isfinite(y):
                continue
            hit = data[f"plan/hit_{key}"][i] == 1.0
            done = data["plan/finished"][i] == 1.0
            xj = x * (1.0 + 0.06 * (j - 0.5))
            ax.errorbar(
                xj,
                where(y),
                xerr=[[max(xj - lo, 0.0)], [max(hi - xj, 0.0)]],
                fmt=marker,
                color=color,
                mfc=color if hit else "white",
                alpha=1.0 if done else 0.35,
                capsize=2,
                label=model_label(name) if j == 0 else None,
            )
        if data["plan/censored"][i] == 1.0:
            ax.annotate(
                "",
                (
                    x * 1.4,
                    where(data["plan/pred_lambda"][i])
                    if np.isfinite(data["plan/pred_lambda"][i])
                    else x,
                ),
                (x, x),
                arrowprops=dict(arrowstyle="->", color=color),
            )
    ax.plot(lims, lims, ":", color="k", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*lims)
    ax.set_ylim(*lims)
    ticks = [floor_x, *delays]
    labels = ["none", *[f"{d:g}" for d in delays]]
    ax.set_xticks(ticks, labels, fontsize=6.5)
    ax.set_yticks(ticks, labels, fontsize=6.5)
    ax.minorticks_off()
    ran = int(np.nanmax(data["plan/max_tested"]))
    ax.set_title(f"pre-registered plan: delays run up to {ran} (faded: more to run)", fontsize=8)
    ax.set_xlabel("largest delay learned (95% CI over seeds)")
    ax.set_ylabel("predicted: o lambda_1, s window (open: miss)")
    ax.legend(loc="upper left", fontsize=6.0)


def make(out_dir: Path, results_dir: str | Path | None = None) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ, CSV). With no results it writes nothing and
    returns ``{"paths": [], "data": {}, "note": ...}``."""
    data = compute(results_dir)
    if not data:
        note = f"no recall or quadrant results under {_results_dir(results_dir)}"
        warnings.warn(f"{NAME}: {note}", stacklevel=2)
        return {"paths": [], "data": {}, "note": note}
    result = save_all(plot(data), out_dir, NAME, data)
    rows = summary(data)
    if rows:
        header = list(rows[0])
        result["paths"].append(save_csv(out_dir, NAME, header, [list(r.values()) for r in rows]))
    return result
