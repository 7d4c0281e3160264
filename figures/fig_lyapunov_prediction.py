"""The top Lyapunov exponent predicted from the input statistics (no simulation) against the
measured one, with the independent-steps estimate (a shuffled simulation) beside it, over the
pre-registered configurations; drawn from the committed results file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmlif.analysis.lyapunov import LN10
from lstmlif.analysis.lyapunov_table import RESULT_COLUMNS, RESULTS_FILE, read_results

from .files import save_csv, save_figure, save_npz
from .style import model_color, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "lyapunov_prediction"
ORDER = 32
CAPTION = (
    "Top Lyapunov exponent of the backward dynamics, predicted against measured (decades per "
    "step), one point per pre-registered configuration (analysis/data/"
    "lyapunov_prediction_configs.json: distinct dynamics, exponent dependent on the input, "
    "committed before the results). Measured: QR recursion over the spike-aware Jacobians "
    "along simulated trajectories, 2000 steps x 16 neurons x 5 seeds (95% intervals in the "
    "CSV). Predicted (filled circles): from the input statistics and parameters with no "
    "simulation: the stationary density of the state by the transfer operator on a grid, then "
    "E_pi[log|J|] (one state, exact by the ergodic theorem) or the exponent of a product of "
    "Jacobians drawn independently from the density (two states); not applicable to three or "
    "more states (BRF; marked at the top edge). Independent steps (crosses): a simulated "
    "trajectory shuffled in time, the same QR on the same Jacobians (a diagnostic, not a "
    "prediction; measured - independent is the effect of temporal correlations). "
    "(a) predicted against measured, symmetric log axes, dotted: equality, shaded: within 10%; "
    "(b) relative errors |x - measured| / |measured| per model (filled: prediction, crosses: "
    "independent steps; bars: medians; the dashed line is 10%). The table is "
    "lyapunov_prediction.csv."
)

EDGE = -1e-4  # decades per step: where a prediction that is not applicable is drawn


def compute(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The committed results (``analysis.lyapunov_predict.RESULTS_FILE`` unless ``path``)."""
    return read_results(RESULTS_FILE if path is None else path)


def arrays(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The table as arrays (strings for the text columns, NaN for an empty cell)."""
    out = {}
    for col in RESULT_COLUMNS:
        values = [r[col] for r in rows]
        if any(isinstance(v, str) for v in values):
            out[col] = np.array(["" if v is None else v for v in values], dtype=str)
        else:
            out[col] = np.array([math.nan if v is None else float(v) for v in values])
    return out


def plot(rows: list[dict[str, Any]]) -> Figure:
    """(a) predicted and independent-steps against measured, (b) relative errors by model."""
    data = arrays(rows)
    models = list(dict.fromkeys(data["model"]))
    meas = data["measured"] / LN10
    pred = data["predicted"] / LN10
    ind = data["independent"] / LN10
    with style():
        fig, axes = plt.subplots(
            1, 2, figsize=(12.5, 4.8), gridspec_kw={"width_ratios": [1.0, 1.35]}
        )
        ax = axes[0]
        lo = float(np.nanmin(np.concatenate([meas, pred, ind]))) * 1.4
        grid = -np.logspace(math.log10(-lo), -5, 200)
        ax.fill_between(grid, grid * 1.1, grid * 0.9, color="0.88", lw=0)
        ax.plot([lo, 1e-3], [lo, 1e-3], ":", color="k", lw=1)
        for name in models:
            sel = data["model"] == name
            color = model_color(name)
            ok = sel & np.isfinite(pred)
            ax.scatter(meas[ok], pred[ok], s=16, color=color, label=model_label(name))
            ax.scatter(meas[sel], ind[sel], s=16, marker="x", color=color, linewidths=0.8)
            na = sel & ~np.isfinite(pred)
            if na.any():
                ax.scatter(meas[na], np.full(na.sum(), EDGE), s=16, marker="^", color=color)
        for axis in (ax.set_xscale, ax.set_yscale):
            axis("symlog", linthresh=1e-3, linscale=0.5)
        ax.set_xlim(lo, 1e-3)
        ax.set_ylim(lo, 1e-3)
        ax.set_xlabel(r"measured $\lambda_1/\ln 10$ (decades/step)")
        ax.set_ylabel(r"predicted $\hat\lambda_1/\ln 10$ (decades/step)")
        ax.legend(loc="upper left", fontsize=6, ncol=2)
        ax.set_title("o predicted (no simulation), x independent steps, ^ not applicable")
        panel_label(ax, "a")

        ax = axes[1]
        for i, name in enumerate(models):
            sel = data["model"] == name
            color = model_color(name)
            for key, marker, shift in (
                ("rel_error_predicted", "o", -0.18),
                ("rel_error_independent", "x", 0.18),
            ):
                rel = data[key][sel]
                rel = np.maximum(rel[np.isfinite(rel)], 1e-7)
                if not rel.size:
                    continue
                jitter = np.linspace(-0.12, 0.12, rel.size) + shift
                ax.scatter(i + jitter, rel, s=12, marker=marker, color=color, linewidths=0.8)
                med = float(np.median(rel))
                ax.plot([i + shift - 0.15, i + shift + 0.15], [med] * 2, color="k", lw=1.2)
        ax.axhline(0.1, ls="--", color="0.4", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([model_label(m) for m in models], rotation=45, ha="right")
        ax.set_ylabel(r"relative error $|\hat\lambda_1 - \lambda_1| / |\lambda_1|$")
        ax.set_title("left o: predicted, right x: independent steps; bars: medians")
        panel_label(ax, "b")
        fig.tight_layout()
    return fig


def make(out_dir: Path, path: str | Path | None = None) -> dict:
    """Read the results, plot and save (PNG, PDF, NPZ, CSV)."""
    rows = compute(path)
    data = arrays(rows)
    paths = save_figure(plot(rows), out_dir, NAME)
    paths.append(save_npz(out_dir, NAME, data))
    paths.append(
        save_csv(
            out_dir,
            NAME,
            list(RESULT_COLUMNS),
            [["" if r[c] is None else r[c] for c in RESULT_COLUMNS] for r in rows],
        )
    )
    return {"paths": paths, "data": data}
