"""The top Lyapunov exponent predicted from the firing statistics against the measured one,
for every registered model x surrogate x detach setting x input statistics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmlif.analysis.lyapunov import (
    LN10,
    TABLE_SURROGATES,
    default_configurations,
    prediction_table,
)

from .files import save_csv, save_figure, save_npz
from .style import model_color, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "lyapunov_prediction"
ORDER = 32
CAPTION = (
    "Predicted against measured top Lyapunov exponent of the backward dynamics (decades per "
    "step), one point per configuration: every registered model at its verification "
    "parameters x the triangle, fast-sigmoid and sigmoid surrogates x each detach setting the "
    "model supports x two input statistics (the model's input mean and std, and both halved). "
    "Measured: QR recursion over the spike-aware Jacobians, 600 counted steps x 8 neurons x "
    "3 seeds (mean; the 95% intervals are in the CSV). Predicted from the distribution of the "
    "state alone: one-state models E_pi[log|J(x)|] with pi the stationary density of the "
    "driven neuron on a grid (exact by the ergodic theorem; LIF code convention "
    "E[log|alpha (1 - v_th psi)|]); models with more states the exponent of a product of "
    "independent draws of J from the stationary distribution of a forward simulation "
    "(Furstenberg; neglects the temporal correlation of visits to the surrogate window). "
    "Where one step can zero J exactly (a hard reset from above the window: S = 1 and psi = 0, "
    "probability p_zero per step under Gaussian input) the asymptotic exponent is -inf; the "
    "points then show E[log|J| | J != 0], what a window that met no such step measures "
    "(p_zero in the CSV). "
    "(a) predicted against measured (symmetric log axes; filled: reset gradient kept, open: "
    "detached; points at the lower left edge are exactly zero products, lambda_1 = -inf, "
    "measured and predicted); (b) relative error |pred - meas| / |meas| per configuration "
    "(configurations whose measured exponent is 0 within 1e-3 nats are left out: LSTM-LIF "
    "with a detached reset rotates without decay). The table is lyapunov_prediction.csv."
)

STEPS = 600
BATCH = 8
SEEDS = (0, 1, 2)
SAMPLES = 1500
EDGE = -3.0  # decades per step: where exact zeros (-inf) are drawn
MARKERS = {"triangle": "o", "fast_sigmoid": "s", "sigmoid": "^"}

COLUMNS = (
    "model",
    "surrogate",
    "detach_reset",
    "input_mean",
    "input_std",
    "rate",
    "in_window",
    "measured",
    "ci95",
    "predicted",
    "p_zero",
    "predicted_finite",
    "frozen",
    "lower_bound",
    "source",
    "abs_error",
    "rel_error",
)


def compute(
    models: tuple[str, ...] | None = None,
    steps: int = STEPS,
    batch: int = BATCH,
    seeds: tuple[int, ...] = SEEDS,
    samples: int = SAMPLES,
) -> list[dict[str, Any]]:
    """The prediction table (``analysis.lyapunov.prediction_table``) over
    ``default_configurations(models)``."""
    configs = default_configurations(models=models, surrogates=TABLE_SURROGATES)
    return prediction_table(configs, steps=steps, seeds=seeds, batch=batch, samples=samples)


def arrays(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The table as arrays (strings for the text columns, NaN for a missing relative error)."""
    out = {}
    for col in COLUMNS:
        values = [r[col] for r in rows]
        if isinstance(values[0], str):
            out[col] = np.array(values, dtype=str)
        else:
            out[col] = np.array([math.nan if v is None else float(v) for v in values])
    return out


def _shown(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64) / LN10
    return np.where(np.isfinite(v), np.maximum(v, EDGE), EDGE)


def plot(rows: list[dict[str, Any]]) -> Figure:
    """(a) predicted vs measured, (b) relative errors by model (see the caption)."""
    data = arrays(rows)
    models = list(dict.fromkeys(data["model"]))
    with style():
        fig, axes = plt.subplots(
            1, 2, figsize=(12.5, 4.8), gridspec_kw={"width_ratios": [1.0, 1.35]}
        )
        ax = axes[0]
        for name in models:
            for sur, marker in MARKERS.items():
                for detach in (False, True):
                    sel = (
                        (data["model"] == name)
                        & (data["surrogate"] == sur)
                        & (data["detach_reset"] == float(detach))
                    )
                    if not np.any(sel):
                        continue
                    color = model_color(name)
                    ax.scatter(
                        _shown(data["measured"][sel]),
                        _shown(data["predicted_finite"][sel]),
                        marker=marker,
                        s=22,
                        facecolors="none" if detach else color,
                        edgecolors=color,
                        linewidths=0.9,
                        label=model_label(name) if sur == "triangle" and not detach else None,
                    )
        ax.plot([EDGE, 0.0], [EDGE, 0.0], ":", color="k", lw=1)
        for axis in (ax.set_xscale, ax.set_yscale):
            axis("symlog", linthresh=1e-3, linscale=0.5)
        ax.set_xlim(EDGE * 1.3, 1e-3)
        ax.set_ylim(EDGE * 1.3, 1e-3)
        ax.set_xlabel(r"measured $\lambda_1/\ln 10$ (decades/step)")
        ax.set_ylabel(r"predicted $\lambda_1/\ln 10$ (decades/step)")
        ax.legend(loc="upper left", fontsize=6, ncol=2)
        ax.set_title("o triangle, s fast sigmoid, ^ sigmoid")
        panel_label(ax, "a")

        ax = axes[1]
        for i, name in enumerate(models):
            sel = (data["model"] == name) & np.isfinite(data["rel_error"])
            rel = np.maximum(data["rel_error"][sel], 1e-16)
            jitter = np.linspace(-0.25, 0.25, max(1, sel.sum()))
            ax.scatter(
                i + jitter,
                rel,
                s=14,
                color=model_color(name),
                marker="o",
            )
            if sel.any():
                ax.plot([i - 0.35, i + 0.35], [np.median(rel)] * 2, color="k", lw=1.2)
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([model_label(m) for m in models], rotation=45, ha="right")
        ax.set_ylabel(r"relative error $|\hat\lambda_1 - \lambda_1| / |\lambda_1|$")
        ax.set_title("bars: median per model")
        panel_label(ax, "b")
        fig.tight_layout()
    return fig


def make(out_dir: Path, models: tuple[str, ...] | None = None) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ, CSV)."""
    rows = compute(models)
    data = arrays(rows)
    paths = save_figure(plot(rows), out_dir, NAME)
    paths.append(save_npz(out_dir, NAME, data))
    paths.append(save_csv(out_dir, NAME, list(COLUMNS), [[r[c] for c in COLUMNS] for r in rows]))
    return {"paths": paths, "data": data}
