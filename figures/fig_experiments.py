"""The learning experiments (``lstmlif experiment``): delayed recall, sequential digits and the
quadrant grid, drawn from the per-run result files. Makes nothing when no results exist."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.experiments.runner import (
    FLOAT32_TINY,
    RESULTS_DIR,
    load_results,
    paper_prediction,
    summary_rows,
)
from lstmlif.experiments.store import Damaged
from lstmlif.experiments.tuning import tuned_rows
from lstmlif.neurons import model_names

from .files import save_csv, save_figure, save_npz
from .style import OKABE_ITO, SEQUENTIAL, model_color, model_label, panel_label, plt, style

NAME = "experiments"
ORDER = 50
CAPTION = (
    "Does the gradient theory predict learning? Results of `lstmlif experiment all` read from "
    "results/ (or $LSTMLIF_RESULTS); rows appear only for experiments that have results, and "
    "nothing is made when none exist. Top: delayed cue recall (4 classes, chance 0.25, dotted), "
    "one recurrent layer of 64 neurons per model; (a) final test accuracy against the delay D "
    "(mean over seeds, bars = min to max; x: some seeds aborted, a non-finite or > 1e6 "
    "gradient norm stopped them, and their last good accuracy counts); (b) log10 of the "
    "gradient norm ||dL/dI[t]|| that "
    "reaches the 5 cue steps at initialisation (mean of log10 over the seeds where it is not "
    "exactly zero, bars = min to max; circled: below float32's smallest normal number "
    "1.18e-38, dotted line, so every element is subnormal: that says the float32 gradient "
    "underflowed, not that a gradient reached the cue); "
    "(c) log10 ||dL/dI[t]|| against the step t at initialisation for the longest delay that "
    "every model finished (seed 0). "
    "Middle: scikit-learn's 8x8 digits read pixel by pixel (64 steps), plain (d) and with the "
    "saved pixel permutation (e): test accuracy per epoch, mean and min-max band over seeds; "
    "(f) the final table (mean +- standard deviation). Bottom: LSTM-LIF with trainable, "
    "unconstrained (beta1, beta2) initialised on a grid, trained on the recall task: (g) final "
    "accuracy (mean over the seeds whose training finished; grey '-' where none did) with the "
    "failure diagnosis of the failed runs (final accuracy below 0.625, halfway from chance to "
    "1; E exploding: a non-finite or > 1e6 gradient norm; S silent: under 1e-4 spikes per "
    "neuron and step; V vanishing: under 1e-3 of the largest per-step gradient reaches the cue; "
    "O other; a dot where every seed learned) and g, the mean over seeds "
    "where it is not zero of log10 ||dL/dI|| at the cue steps at initialisation (g = 0: "
    "exactly zero in every seed); "
    "(h) the spectral radius of the sub-threshold Jacobian "
    "J = [[1, beta1], [beta2, 1 + beta1 beta2]]; (i) the paper's eq. 15 criterion "
    "f = beta1 beta2^2 + beta1 beta2 + 2 beta2 + 1 with the paper's quadrant "
    "verdict (T trainable, E exploding, V vanishing). Further rows: the same grid at other delays "
    "where it was run (`--delays`), with fewer points. When tuning grids exist "
    "(`lstmlif experiment recall|digits --tune`), a row shows the test accuracy at the learning "
    "rate and budget chosen per model and delay (or digits task) on a validation split, and "
    "the choices. Damaged result files are skipped with a warning that names them. The numbers "
    "are in experiments.csv (tuned rows: experiment recall_tuned / digits_tuned, with lr and "
    "budget) and experiments.npz."
)

DIAGNOSIS_LETTER = {"exploding": "E", "silent": "S", "vanishing": "V", "other": "O"}
PAPER_LETTER = {"trainable": "T", "exploding": "E", "vanishing": "V"}


def _results_dir(results_dir: str | Path | None) -> Path:
    if results_dir is not None:
        return Path(results_dir)
    return Path(os.environ.get("LSTMLIF_RESULTS", str(RESULTS_DIR)))


def _load(
    results_dir: Path, name: str, damaged: list[Damaged], tune: bool = False
) -> tuple[list[dict[str, Any]], bool]:
    """The full-size results if any, else the quick ones; (records, quick). Damaged files are
    left out and appended to ``damaged``."""
    records = load_results(results_dir, name, quick=False, tune=tune, damaged=damaged)
    if records:
        return records, False
    return load_results(results_dir, name, quick=True, tune=tune, damaged=damaged), True


# Config fields that a table varies within one setting; every other field (budget, sizes,
# task variant) defines the setting.
_VARIED = {"model", "network", "seed", "delay", "task", "beta1", "beta2"}


def _main_setting(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The records of the setting with the most runs (the others, e.g. runs made with another
    ``--updates`` or ``--lr`` in the same folder, would mix budgets in one mean); a warning
    names how many were left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        setting = {k: v for k, v in r["config"].items() if k not in _VARIED}
        groups.setdefault(repr(sorted(setting.items())), []).append(r)
    best = max(groups.values(), key=len)
    left = len(records) - len(best)
    if left:
        c = best[0]["config"]
        warnings.warn(
            f"experiments figure: {name} shows the {len(best)} runs at lr {c['lr']:g} and "
            f"the most common budget; {left} run(s) with other settings are left out",
            stacklevel=3,
        )
    return best


def _num(value: Any) -> float:
    if value is None:
        return math.nan
    return float(value)


def _stats(values: list[float]) -> tuple[float, float, float, float]:
    """(mean, std, min, max) of the finite values (NaN when there are none)."""
    v = np.array([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return (math.nan,) * 4
    return float(v.mean()), float(v.std()), float(v.min()), float(v.max())


# ----------------------------------------------------------------------------- gather


def _recall_data(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    rows = summary_rows("recall", records)
    models = [m for m in model_names() if any(r["model"] == m for r in rows)]
    delays = sorted({r["delay"] for r in rows})
    shape = (len(models), len(delays))
    acc = np.full(shape + (4,), np.nan)
    grad = np.full(shape + (4,), np.nan)
    seeds = np.zeros(shape, dtype=int)
    aborted = np.zeros(shape, dtype=int)
    subnormal = np.zeros(shape, dtype=bool)
    for i, m in enumerate(models):
        for j, d in enumerate(delays):
            sel = [r for r in rows if r["model"] == m and r["delay"] == d]
            seeds[i, j] = len(sel)
            aborted[i, j] = sum(r["status"] != "done" for r in sel)
            acc[i, j] = _stats([_num(r["final_accuracy"]) for r in sel])
            grad[i, j] = _stats([_num(r["log10_cue_gradient"]) for r in sel])
            subnormal[i, j] = any(r["cue_gradient_subnormal"] for r in sel)
    # The profile panel shows the longest delay that every model has finished.
    complete = [
        d
        for d in delays
        if all(any(r["model"] == m and r["delay"] == d for r in rows) for m in models)
    ]
    longest = complete[-1] if complete else delays[-1]
    profiles = []
    for m in models:
        sel = [r for r in records if r["config"]["model"] == m and r["config"]["delay"] == longest]
        sel.sort(key=lambda r: r["config"]["seed"])
        prof = sel[0]["result"]["init"]["log10_step_norms"] if sel else []
        profiles.append([_num(v) for v in prof])
    length = max((len(p) for p in profiles), default=0)
    prof_arr = np.full((len(models), length), np.nan)
    for i, p in enumerate(profiles):
        prof_arr[i, : len(p)] = p
    n_params = {m: sorted({r["n_params"] for r in rows if r["model"] == m}) for m in models}
    return {
        "recall_models": np.array(models),
        "recall_delays": np.array(delays),
        "recall_accuracy": acc,
        "recall_log10_cue_gradient": grad,
        "recall_cue_subnormal": subnormal,
        "recall_seeds": seeds,
        "recall_aborted": aborted,
        "recall_profile_delay": np.array(longest),
        "recall_log10_step_norms": prof_arr,
        "recall_n_params": np.array([n_params[m][0] for m in models]),
        "recall_chance": np.array(records[0]["result"]["chance"]),
    }


def _digits_data(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    tasks = [
        t for t in ("sequential", "permuted") if any(r["config"]["task"] == t for r in records)
    ]
    models = [m for m in model_names() if any(r["config"]["model"] == m for r in records)]
    epochs = max(len(r["result"]["curve"]) for r in records)
    curves = np.full((len(tasks), len(models), 3, epochs), np.nan)
    final = np.full((len(tasks), len(models), 4), np.nan)
    n_params = np.zeros(len(models), dtype=int)
    for i, t in enumerate(tasks):
        for j, m in enumerate(models):
            sel = [r for r in records if r["config"]["task"] == t and r["config"]["model"] == m]
            if not sel:
                continue
            n_params[j] = sel[0]["result"]["n_params"]
            c = np.full((len(sel), epochs), np.nan)
            for k, r in enumerate(sel):
                accs = [p["accuracy"] for p in r["result"]["curve"]]
                c[k, : len(accs)] = accs
            with np.errstate(all="ignore"):
                curves[i, j] = [np.nanmean(c, 0), np.nanmin(c, 0), np.nanmax(c, 0)]
            final[i, j] = _stats([_num(r["final_accuracy"]) for r in sel])
    return {
        "digits_tasks": np.array(tasks),
        "digits_models": np.array(models),
        "digits_curves": curves,
        "digits_final": final,
        "digits_n_params": n_params,
        "digits_seeds": np.array(len({r["config"]["seed"] for r in records})),
    }


def _quadrant_data(
    records: list[dict[str, Any]], prefix: str = "quadrant"
) -> dict[str, np.ndarray]:
    """The grid of one delay; keys ``{prefix}_betas``, ``{prefix}_accuracy``, ..."""
    rows = summary_rows("quadrants", records)
    betas = sorted({r["beta1"] for r in rows} | {r["beta2"] for r in rows})
    n = len(betas)
    acc = np.full((n, n), np.nan)  # [beta2 index, beta1 index]
    rho = np.full((n, n), np.nan)
    f = np.full((n, n), np.nan)
    diag = np.full((n, n), "", dtype=object)
    cue = np.full((n, n), np.nan)
    for i, b2 in enumerate(betas):
        for j, b1 in enumerate(betas):
            sel = [r for r in rows if r["beta1"] == b1 and r["beta2"] == b2]
            if not sel:
                continue
            acc[i, j] = _stats([_num(r["final_accuracy"]) for r in sel])[0]
            rho[i, j] = sel[0]["spectral_radius"]
            f[i, j] = sel[0]["paper_f"]
            # Mean of log10 ||dL/dI|| at the cue over the seeds where it is not exactly 0;
            # -inf when it is exactly 0 in every seed.
            logs = [_num(r["log10_cue_gradient"]) for r in sel]
            finite = [v for v in logs if math.isfinite(v)]
            cue[i, j] = float(np.mean(finite)) if finite else -math.inf
            letters = sorted(
                {DIAGNOSIS_LETTER[r["diagnosis"]] for r in sel if r["diagnosis"] != "ok"}
            )
            diag[i, j] = "".join(letters)
    out = {
        "betas": np.array(betas),
        "accuracy": acc,
        "spectral_radius": rho,
        "paper_f": f,
        "diagnosis": diag.astype(str),
        "log10_cue_gradient": cue,
        "seeds": np.array(len({r["seed"] for r in rows})),
        "delay": np.array(records[0]["config"]["delay"]),
    }
    return {f"{prefix}_{k}": v for k, v in out.items()}


def _split_by_delay(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Quadrant records grouped by delay, the delay with the most runs first."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(int(r["config"]["delay"]), []).append(r)
    order = sorted(groups, key=lambda d: (-len(groups[d]), d))
    return [groups[d] for d in order]


def _tuned_data(
    recall: list[dict[str, Any]], digits: list[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """The tuned tables (``experiments.tuning.tuned_rows``): per model and delay (recall) or
    task (digits) the test accuracy (mean, sd, min, max over seeds) at the (learning rate,
    budget) chosen on the validation split, and that choice."""
    out: dict[str, np.ndarray] = {}
    if recall:
        rows = tuned_rows("recall", recall)
        models = [m for m in model_names() if any(r["model"] == m for r in rows)]
        delays = sorted({r["delay"] for r in rows})
        shape = (len(models), len(delays))
        acc, choice = np.full(shape + (4,), np.nan), np.full(shape + (2,), np.nan)
        seeds = np.zeros(shape, dtype=int)
        for r in rows:
            i, j = models.index(r["model"]), delays.index(r["delay"])
            acc[i, j] = [r["test_accuracy"], r["test_sd"], r["test_min"], r["test_max"]]
            choice[i, j] = [r["lr"], r["updates"]]
            seeds[i, j] = r["seeds"]
        out.update(
            tuned_recall_models=np.array(models),
            tuned_recall_delays=np.array(delays),
            tuned_recall_accuracy=acc,
            tuned_recall_choice=choice,
            tuned_recall_seeds=seeds,
        )
    if digits:
        rows = tuned_rows("digits", digits)
        models = [m for m in model_names() if any(r["model"] == m for r in rows)]
        tasks = [t for t in ("sequential", "permuted") if any(r["task"] == t for r in rows)]
        shape = (len(tasks), len(models))
        acc, choice = np.full(shape + (2,), np.nan), np.full(shape + (2,), np.nan)
        seeds = np.zeros(shape, dtype=int)
        for r in rows:
            i, j = tasks.index(r["task"]), models.index(r["model"])
            acc[i, j] = [r["test_accuracy"], r["test_sd"]]
            choice[i, j] = [r["lr"], r["epochs"]]
            seeds[i, j] = r["seeds"]
        out.update(
            tuned_digits_tasks=np.array(tasks),
            tuned_digits_models=np.array(models),
            tuned_digits_accuracy=acc,
            tuned_digits_choice=choice,
            tuned_digits_seeds=seeds,
        )
    return out


# ----------------------------------------------------------------------------- plot


def _plot_recall(axes: list[Any], d: dict[str, np.ndarray], tag: str) -> None:
    ax_a, ax_b, ax_c = axes
    delays = d["recall_delays"]
    for i, m in enumerate(d["recall_models"]):
        color = model_color(str(m))
        label = f"{model_label(str(m))} ({int(d['recall_n_params'][i])} params)"
        for ax, key in ((ax_a, "recall_accuracy"), (ax_b, "recall_log10_cue_gradient")):
            mean, _, lo, hi = np.moveaxis(d[key][i], -1, 0)
            ax.errorbar(
                delays,
                mean,
                yerr=[mean - lo, hi - mean],
                color=color,
                marker="o",
                ms=3.5,
                capsize=2,
                label=label,
            )
        ax_c.plot(d["recall_log10_step_norms"][i], color=color, label=model_label(str(m)))
        stopped = d["recall_aborted"][i] > 0 if "recall_aborted" in d else np.zeros(0, bool)
        if stopped.any():
            ax_a.plot(
                delays[stopped],
                d["recall_accuracy"][i, stopped, 0],
                ls="none",
                marker="x",
                ms=8,
                color=OKABE_ITO["black"],
            )
        flagged = d["recall_cue_subnormal"][i]
        if flagged.any():
            ax_b.plot(
                delays[flagged],
                d["recall_log10_cue_gradient"][i, flagged, 0],
                ls="none",
                marker="o",
                ms=9,
                mfc="none",
                color=OKABE_ITO["black"],
            )
    if d["recall_cue_subnormal"].any():
        tiny = math.log10(FLOAT32_TINY)
        ax_b.axhline(tiny, color=OKABE_ITO["black"], ls=":", lw=1)
        ax_b.annotate(
            "float32 underflow (circled: subnormal)",
            (float(delays[0]), tiny),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=7,
        )
    ax_a.axhline(float(d["recall_chance"]), color=OKABE_ITO["black"], ls=":", lw=1)
    for ax in (ax_a, ax_b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(delays, [str(int(v)) for v in delays])
        ax.set_xlabel("delay D (steps)")
    ax_a.set_ylim(0, 1.02)
    ax_a.set_ylabel("final test accuracy")
    ax_a.set_title(f"delayed recall{tag}")
    ax_a.legend(loc="lower left")
    ax_b.set_ylabel("log10 ||dL/dI|| over the cue steps")
    ax_b.set_title("gradient reaching the cue, at init")
    ax_c.set_xlabel("step t")
    ax_c.set_ylabel("log10 ||dL/dI[t]||")
    ax_c.set_title(f"gradient per step at init, D = {int(d['recall_profile_delay'])}")
    ax_c.legend(loc="lower right")


def _plot_digits(axes: list[Any], d: dict[str, np.ndarray], tag: str) -> None:
    tasks = [str(t) for t in d["digits_tasks"]]
    models = [str(m) for m in d["digits_models"]]
    for k, task in enumerate(("sequential", "permuted")):
        ax = axes[k]
        if task not in tasks:
            ax.set_axis_off()
            continue
        i = tasks.index(task)
        for j, m in enumerate(models):
            mean, lo, hi = d["digits_curves"][i, j]
            epochs = np.arange(1, mean.size + 1)
            ax.plot(epochs, mean, color=model_color(m), label=model_label(m))
            ax.fill_between(epochs, lo, hi, color=model_color(m), alpha=0.2, lw=0)
        ax.axhline(0.1, color=OKABE_ITO["black"], ls=":", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{task} 8x8 digits (64 steps){tag}")
        ax.legend(loc="upper left")
    ax = axes[2]
    ax.set_axis_off()
    cells = []
    for j, m in enumerate(models):
        row = [model_label(m), str(int(d["digits_n_params"][j]))]
        for task in ("sequential", "permuted"):
            if task in tasks:
                mean, std, _, _ = d["digits_final"][tasks.index(task), j]
                row.append(f"{mean:.3f} ± {std:.3f}")
            else:
                row.append("-")
        cells.append(row)
    table = ax.table(
        cellText=cells,
        colLabels=["model", "params", "sequential", "permuted"],
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.auto_set_column_width(list(range(4)))
    table.scale(1.0, 1.6)
    ax.set_title(f"final test accuracy ({int(d['digits_seeds'])} seeds)")


def _table(ax: Any, cells: list[list[str]], header: list[str], title: str) -> None:
    ax.set_axis_off()
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(list(range(len(header))))
    table.scale(1.0, 1.4)
    ax.set_title(title)


def _plot_tuned(axes: list[Any], d: dict[str, np.ndarray], tag: str) -> None:
    """Tuned recall accuracy against the delay, the chosen budgets, the tuned digits table."""
    ax_a, ax_b, ax_c = axes
    if "tuned_recall_models" in d:
        delays = d["tuned_recall_delays"]
        models = [str(m) for m in d["tuned_recall_models"]]
        for i, m in enumerate(models):
            mean, _, lo, hi = np.moveaxis(d["tuned_recall_accuracy"][i], -1, 0)
            ax_a.errorbar(
                delays,
                mean,
                yerr=[mean - lo, hi - mean],
                color=model_color(m),
                marker="o",
                ms=3.5,
                capsize=2,
                label=model_label(m),
            )
        ax_a.axhline(0.25, color=OKABE_ITO["black"], ls=":", lw=1)
        ax_a.set_xscale("log", base=2)
        ax_a.set_xticks(delays, [str(int(v)) for v in delays])
        ax_a.set_ylim(0, 1.02)
        ax_a.set_xlabel("delay D (steps)")
        ax_a.set_ylabel("test accuracy at the chosen budget")
        ax_a.set_title(f"delayed recall, tuned per model and delay{tag}")
        ax_a.legend(loc="lower left")
        cells = []
        for i, m in enumerate(models):
            row = [model_label(m)]
            for j in range(delays.size):
                lr, updates = d["tuned_recall_choice"][i, j]
                row.append("-" if not np.isfinite(lr) else f"{lr:g} / {int(updates)}")
            cells.append(row)
        header = ["model", *[f"D={int(v)}" for v in delays]]
        _table(ax_b, cells, header, "chosen learning rate / updates (on validation)")
    else:
        ax_a.set_axis_off()
        ax_b.set_axis_off()
    if "tuned_digits_models" in d:
        cells = []
        tasks = [str(t) for t in d["tuned_digits_tasks"]]
        for j, m in enumerate(str(m) for m in d["tuned_digits_models"]):
            row = [model_label(m)]
            for i in range(len(tasks)):
                (mean, sd), (lr, epochs) = (
                    d["tuned_digits_accuracy"][i, j],
                    d["tuned_digits_choice"][i, j],
                )
                row.append(f"{mean:.3f} ± {sd:.3f} ({lr:g}, {int(epochs)} ep)")
            cells.append(row)
        _table(ax_c, cells, ["model", *tasks], f"8x8 digits, tuned: test accuracy{tag}")
    else:
        ax_c.set_axis_off()


def _grid_panel(ax: Any, values: np.ndarray, betas: np.ndarray, cmap: str, text: Any) -> Any:
    n = betas.size
    colormap = plt.get_cmap(cmap).with_extremes(bad="0.85")  # grey: no finished run
    im = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap=colormap, aspect="equal")
    ax.set_xticks(range(n), [f"{b:g}" for b in betas])
    ax.set_yticks(range(n), [f"{b:g}" for b in betas])
    ax.set_xlabel("beta1 at init")
    ax.set_ylabel("beta2 at init")
    ax.grid(False)
    # The axes beta1 = 0 and beta2 = 0 fall between the last negative and the first positive.
    zero = int(np.sum(betas < 0)) - 0.5
    if 0 < zero < n - 1:
        ax.axvline(zero, color="w", lw=1)
        ax.axhline(zero, color="w", lw=1)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for i in range(n):
        for j in range(n):
            # Light cells (upper part of viridis / cividis) get black text, dark ones white.
            level = (values[i, j] - lo) / (hi - lo) if hi > lo else 0.0
            color = "k" if np.isfinite(level) and level > 0.6 else "w"
            ax.text(j, i, text(i, j), ha="center", va="center", fontsize=6.5, color=color)
    return im


def _accuracy_grid(fig: Any, ax: Any, d: dict[str, np.ndarray], prefix: str, tag: str) -> None:
    """Final accuracy on the (beta1, beta2) grid with failure letters and the cue gradient."""
    betas = d[f"{prefix}_betas"]
    acc, diag = d[f"{prefix}_accuracy"], d[f"{prefix}_diagnosis"]
    cue = d[f"{prefix}_log10_cue_gradient"]

    def acc_text(i: int, j: int) -> str:
        mark = diag[i, j] or "."
        if not math.isfinite(acc[i, j]):
            return f"- {mark}" if diag[i, j] else ""
        grad = "g = 0" if cue[i, j] == -math.inf else f"g {cue[i, j]:.1f}"
        return f"{acc[i, j]:.2f} {mark}\n{grad}"

    im = _grid_panel(ax, acc, betas, SEQUENTIAL, acc_text)
    im.set_clim(0, 1)
    for t in ax.texts:
        t.set_color("w")
    for (i, j), value in np.ndenumerate(acc):
        if not math.isfinite(value) or value > 0.6:
            ax.texts[i * betas.size + j].set_color("k")
    fig.colorbar(im, ax=ax, shrink=0.8, label="final accuracy")
    seeds = int(d[f"{prefix}_seeds"])
    ax.set_title(f"LSTM-LIF grid, recall D = {int(d[f'{prefix}_delay'])}, {seeds} seed(s){tag}")


def _plot_quadrant_extra(
    fig: Any, axes: list[Any], d: dict[str, np.ndarray], prefix: str, tag: str
) -> None:
    _accuracy_grid(fig, axes[0], d, prefix, tag)
    for ax in axes[1:]:
        ax.set_axis_off()


def _plot_quadrants(fig: Any, axes: list[Any], d: dict[str, np.ndarray], tag: str) -> None:
    _accuracy_grid(fig, axes[0], d, "quadrant", tag)
    betas = d["quadrant_betas"]
    rho, f = d["quadrant_spectral_radius"], d["quadrant_paper_f"]
    im = _grid_panel(axes[1], rho, betas, "cividis", lambda i, j: f"{rho[i, j]:.2f}")
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="spectral radius of J")
    axes[1].set_title("true sub-threshold Jacobian")

    def f_text(i: int, j: int) -> str:
        verdict = PAPER_LETTER[paper_prediction(float(betas[j]), float(betas[i]))]
        return f"{f[i, j]:.2f}\n{verdict}"

    im = _grid_panel(axes[2], f, betas, "cividis", f_text)
    fig.colorbar(im, ax=axes[2], shrink=0.8, label="paper eq. 15: f(beta1, beta2)")
    axes[2].set_title("the paper's criterion")


TABLE_HEADER = [
    "experiment",
    "model",
    "task",
    "delay",
    "beta1",
    "beta2",
    "seeds",
    "mean_accuracy",
    "std_accuracy",
    "mean_log10_cue_gradient",
    "spectral_radius",
    "paper_f",
    "paper_prediction",
    "failures",
    "lr",
    "budget",
]


def _table_rows(data: dict[str, np.ndarray]) -> list[list[Any]]:
    """One row per (experiment, model, setting); empty cells where a column does not apply."""
    rows: list[list[Any]] = []
    if "recall_models" in data:
        for i, m in enumerate(data["recall_models"]):
            for j, delay in enumerate(data["recall_delays"]):
                mean, std, _, _ = data["recall_accuracy"][i, j]
                grad = data["recall_log10_cue_gradient"][i, j, 0]
                seeds = int(data["recall_seeds"][i, j])
                rows.append(["recall", str(m), "", int(delay), "", "", seeds, mean, std, grad])
    if "digits_models" in data:
        seeds = int(data["digits_seeds"])
        for i, task in enumerate(data["digits_tasks"]):
            for j, m in enumerate(data["digits_models"]):
                mean, std, _, _ = data["digits_final"][i, j]
                rows.append(["digits", str(m), str(task), "", "", "", seeds, mean, std, ""])
    blank = [""] * 7  # beta1 .. failures
    if "tuned_recall_models" in data:
        for i, m in enumerate(data["tuned_recall_models"]):
            for j, delay in enumerate(data["tuned_recall_delays"]):
                mean, std, _, _ = data["tuned_recall_accuracy"][i, j]
                lr, updates = data["tuned_recall_choice"][i, j]
                seeds = int(data["tuned_recall_seeds"][i, j])
                head = ["recall_tuned", str(m), "", int(delay), "", "", seeds, mean, std]
                rows.append(head + blank[2:] + [lr, updates])
    if "tuned_digits_models" in data:
        for i, task in enumerate(data["tuned_digits_tasks"]):
            for j, m in enumerate(data["tuned_digits_models"]):
                mean, std = data["tuned_digits_accuracy"][i, j]
                lr, epochs = data["tuned_digits_choice"][i, j]
                seeds = int(data["tuned_digits_seeds"][i, j])
                head = ["digits_tuned", str(m), str(task), "", "", "", seeds, mean, std]
                rows.append(head + blank[2:] + [lr, epochs])
    prefixes = sorted(
        k[: -len("_betas")] for k in data if k.startswith("quadrant") and k.endswith("_betas")
    )
    for prefix in prefixes:
        q = {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix + "_")}
        betas = q["betas"]
        seeds = int(q["seeds"])
        for i, b2 in enumerate(betas):
            for j, b1 in enumerate(betas):
                rows.append(
                    [
                        "quadrants",
                        "lstmlif_free",
                        "recall",
                        int(q["delay"]),
                        float(b1),
                        float(b2),
                        seeds,
                        float(q["accuracy"][i, j]),
                        "",
                        "",
                        float(q["spectral_radius"][i, j]),
                        float(q["paper_f"][i, j]),
                        paper_prediction(float(b1), float(b2)),
                        q["diagnosis"][i, j] or "-",
                    ]
                )
    width = len(TABLE_HEADER)
    return [row + [""] * (width - len(row)) for row in rows]


def make(out_dir: Path, results_dir: str | Path | None = None) -> dict:
    """Draw every experiment that has results under ``results_dir`` (default ``results/`` or
    ``$LSTMLIF_RESULTS``) into ``out_dir/experiments.{png,pdf,npz,csv}``. With no results it
    writes nothing and returns ``{"paths": [], "data": {}, "note": ...}``."""
    root = _results_dir(results_dir)
    damaged: list[Damaged] = []
    recall, recall_quick = _load(root, "recall", damaged)
    digits, digits_quick = _load(root, "digits", damaged)
    quads, quads_quick = _load(root, "quadrants", damaged)
    recall_tuned, recall_tuned_quick = _load(root, "recall", damaged, tune=True)
    digits_tuned, digits_tuned_quick = _load(root, "digits", damaged, tune=True)
    for d in damaged:
        warnings.warn(f"experiments figure: skipped damaged result file {d}", stacklevel=2)
    skipped = [str(d.path) for d in damaged]
    if not (recall or digits or quads or recall_tuned or digits_tuned):
        note = f"no experiment results under {root}/; run `lstmlif experiment all` first"
        return {"paths": [], "data": {}, "note": note, "skipped": skipped}
    data: dict[str, np.ndarray] = {}
    rows = []
    if recall:
        data.update(_recall_data(_main_setting(recall, "recall")))
        rows.append(("recall", recall_quick))
    if digits:
        data.update(_digits_data(_main_setting(digits, "digits")))
        rows.append(("digits", digits_quick))
    if recall_tuned or digits_tuned:
        data.update(_tuned_data(recall_tuned, digits_tuned))
        rows.append(("tuned", recall_tuned_quick and digits_tuned_quick))
    if quads:
        groups = _split_by_delay(quads)
        data.update(_quadrant_data(groups[0]))
        rows.append(("quadrants", quads_quick))
        for group in groups[1:]:
            prefix = f"quadrant_D{int(group[0]['config']['delay'])}"
            data.update(_quadrant_data(group, prefix))
            rows.append((prefix, quads_quick))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    with style():
        fig, axes = plt.subplots(
            len(rows), 3, figsize=(12.5, 3.9 * len(rows)), squeeze=False, layout="constrained"
        )
        for k, (name, quick) in enumerate(rows):
            tag = " [quick sizes]" if quick else ""
            row = list(axes[k])
            if name == "recall":
                _plot_recall(row, data, tag)
            elif name == "digits":
                _plot_digits(row, data, tag)
            elif name == "tuned":
                _plot_tuned(row, data, tag)
            elif name == "quadrants":
                _plot_quadrants(fig, row, data, tag)
            else:
                _plot_quadrant_extra(fig, row, data, name, tag)
            for ax in row:
                if ax.axison or ax.tables:
                    panel_label(ax, next(letters))
        paths = save_figure(fig, out_dir, NAME)
    paths.append(save_npz(out_dir, NAME, data))
    paths.append(
        save_csv(
            out_dir,
            NAME,
            TABLE_HEADER,
            _table_rows(data),
        )
    )
    out: dict[str, Any] = {"paths": paths, "data": data, "skipped": skipped}
    if skipped:
        out["note"] = f"skipped {len(skipped)} damaged result file(s): {', '.join(skipped)}"
    return out
