"""Gradient reach along real spiking trajectories: spike-aware Jacobian products of many neurons
driven by random currents, for both conventions, with and without a detached reset, and for
several surrogate shapes and widths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from lstmlif.analysis.flow import log10_product_norms, quantile_band, trajectory_flow
from lstmlif.analysis.stability import subthreshold_jacobian
from lstmlif.neurons import ALIF, LIF, LSTMLIF, NeuronModel, get_surrogate

from .files import save_all
from .style import COLORS, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "spiking_flow"
ORDER = 2
CAPTION = (
    "Gradient reach along real spiking trajectories: log10 ||d x[T] / d x[T-k]||_2 of the "
    "spike-aware one-step Jacobians (autograd of the step function, psi included) multiplied "
    "in log space, for 256 neurons driven by i.i.d. Gaussian currents I ~ N(0.2, 0.5^2) over "
    "1,100 steps; lines are medians over neurons, bands the 10-90% range, the dotted black line "
    "the sub-threshold product. Top: paper and code conventions, reset gradient kept or detached "
    "(triangle surrogate, width 1). Bottom: the paper convention with triangle surrogates of "
    "width 1 and 0.5, fast-sigmoid surrogates of slope 25 and 5, and a hard (zero) reset. "
    "Detaching the reset restores the sub-threshold curve exactly for LIF and LSTM-LIF (for ALIF "
    "the spike still feeds the adaptive threshold); with the reset gradient kept, every step "
    "whose potential lies inside the surrogate window shrinks the product (det J_t = "
    "1 - v_th psi for LSTM-LIF), spike or no spike: psi is non-zero wherever the potential is "
    "in the window (the triangle of width 1: any soma potential in (0, 2)), not only at spikes, "
    "so the products decay faster than below threshold by an amount set by the surrogate's "
    "shape and width and by how often the potential visits its window (the Lyapunov figures "
    "lyapunov_rate and lyapunov_prediction). Rates in the legends are spikes per neuron per "
    "step."
)

MODELS: dict[str, NeuronModel] = {
    "lif": LIF(alpha=0.8),
    "alif": ALIF(tau_m=20.0, tau_a=200.0),
    "lstmlif": LSTMLIF(beta1=-0.5, beta2=0.5),
}
TITLES = {"lif": "LIF (alpha = 0.8)", "alif": "ALIF (tau_a = 200)", "lstmlif": "LSTM-LIF"}

CONVENTION_VARIANTS: dict[str, dict] = {
    "paper": {"convention": "paper"},
    "paper, detached": {"convention": "paper", "detach_reset": True},
    "code": {"convention": "code"},
    "code, detached": {"convention": "code", "detach_reset": True},
}
SURROGATE_VARIANTS: dict[str, dict] = {
    "triangle, width 1": {"surrogate": get_surrogate("triangle", width=1.0)},
    "triangle, width 0.5": {"surrogate": get_surrogate("triangle", width=0.5)},
    "fast sigmoid, slope 25": {"surrogate": get_surrogate("fast_sigmoid", slope=25.0)},
    "fast sigmoid, slope 5": {"surrogate": get_surrogate("fast_sigmoid", slope=5.0)},
    "hard reset (zero)": {"reset": "zero"},
}
GROUPS = {"conventions": CONVENTION_VARIANTS, "surrogates": SURROGATE_VARIANTS}


def currents(T: int = 1100, batch: int = 256, seed: int = 1) -> np.ndarray:
    """The common random input, (T, batch): I ~ N(0.2, 0.5^2), i.i.d. (same for every model)."""
    if not (isinstance(T, int) and isinstance(batch, int) and T >= 3 and batch >= 1):
        raise ValueError(f"spiking_flow: need int T >= 3 and batch >= 1, got {T!r}, {batch!r}")
    return np.random.default_rng(seed).normal(0.2, 0.5, size=(T, batch))


def compute(
    T: int = 1100, batch: int = 256, kmax: int = 1000, seed: int = 1
) -> dict[str, np.ndarray]:
    """For every model and variant: ``{model}/{group}/{variant}/band`` (3, kmax) with the 10%,
    50% and 90% quantiles over neurons of log10 ||d x[T-1] / d x[T-1-k]||_2 (k = 1..kmax),
    ``.../rate`` (mean spikes per step) and ``.../vanished`` (fraction of exactly zero
    products at k = kmax); ``{model}/subthreshold`` (kmax,)."""
    if not isinstance(kmax, int) or not 1 <= kmax < T:
        raise ValueError(f"spiking_flow: kmax must be an int in [1, T-1], got {kmax!r}")
    current = currents(T, batch, seed)
    data: dict[str, np.ndarray] = {"k": np.arange(1, kmax + 1)}
    jobs = [(m, g, v) for m in MODELS for g, vs in GROUPS.items() for v in vs]
    for mname, group, variant in tqdm(jobs, desc=NAME, leave=False, disable=None):
        model = MODELS[mname].replace(**GROUPS[group][variant])
        flow = trajectory_flow(model, current, kmax=kmax, ord=2)
        key = f"{mname}/{group}/{variant}"
        data[f"{key}/band"] = quantile_band(flow.log10_norms)
        data[f"{key}/rate"] = np.asarray(flow.rate.mean())
        data[f"{key}/vanished"] = np.asarray(np.isneginf(flow.log10_norms[-1]).mean())
    for mname, model in MODELS.items():
        J = subthreshold_jacobian(model)
        data[f"{mname}/subthreshold"] = log10_product_norms(np.broadcast_to(J, (kmax, *J.shape)))
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Rows: conventions / surrogates; columns: LIF, ALIF, LSTM-LIF."""
    k = data["k"]
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(12.5, 7.2))
        for r, (group, variants) in enumerate(GROUPS.items()):
            for c, mname in enumerate(MODELS):
                ax = axes[r, c]
                for i, variant in enumerate(variants):
                    key = f"{mname}/{group}/{variant}"
                    lo, med, hi = data[f"{key}/band"]
                    rate = float(data[f"{key}/rate"])
                    ls = "--" if "detached" in variant else "-"
                    color = COLORS[i]
                    finite = np.isfinite(lo)
                    ax.fill_between(
                        k[finite], lo[finite], hi[finite], color=color, alpha=0.13, lw=0
                    )
                    ax.plot(k, med, ls=ls, color=color, label=f"{variant} (rate {rate:.3f})")
                ax.plot(
                    k, data[f"{mname}/subthreshold"], ":", color="k", lw=1.2, label="sub-threshold"
                )
                ax.set_title(f"{TITLES[mname]}: {group}")
                ax.set_xlabel("temporal distance k (steps)")
                ax.set_ylabel("log10 ||d x[T] / d x[T-k]||_2")
                ax.legend(loc="lower left", fontsize=6.5)
                panel_label(ax, "abcdef"[3 * r + c])
        fig.tight_layout()
    return fig


def make(out_dir: Path, T: int = 1100, batch: int = 256, kmax: int = 1000, seed: int = 1) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(T, batch, kmax, seed)
    return save_all(plot(data), out_dir, NAME, data)
