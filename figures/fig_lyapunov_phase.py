"""Where gradients vanish: a phase diagram over the input statistics (mean x standard
deviation of an i.i.d. Gaussian current) of the gradient horizon set by the top Lyapunov
exponent of the backward dynamics, for every registered model with its own switches."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.analysis.lyapunov import learnable_delay, lyapunov_spectra
from lstmlif.neurons import model_class, model_names

from .files import save_all
from .style import SEQUENTIAL, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "lyapunov_phase"
ORDER = 31
CAPTION = (
    "Phase diagram of gradient vanishing over the input statistics, one panel per registered "
    "model (verification parameters, the model's own convention, reset, detach and surrogate). "
    "Each neuron receives i.i.d. Gaussian currents I ~ N(mean, std^2), the mean from -2 to +3 "
    "and the std from 0.1 to 2.5 times the model's input standard deviation (around its input "
    "mean). Colour: log10 of the gradient horizon D* = 3 / (-lambda_1 / ln 10), the number of "
    "steps over which a gradient falls by 3 decades, from the top Lyapunov exponent lambda_1 "
    "of the backward dynamics (QR recursion over the spike-aware Jacobians, 500 counted steps, "
    "4 neurons per point); clipped at 10^4 steps (lambda_1 >= 0 included: no vanishing). White "
    "line: D* = 100 steps (below it, gradients vanish within 100 steps); dashed black line: "
    "0.01 spikes per step (to its left and below, the neuron is nearly silent). Numbers in "
    "lyapunov_phase.npz."
)

STEPS = 500
WARMUP = 100
BURN = 50
BATCH = 4
N_MEAN = 9
N_STD = 8
MAX_LOG10_HORIZON = 4.0


def grid(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(means (N_MEAN,), stds (N_STD,)) of one model, from its ``input_stats``."""
    mean, std = model_class(name).input_stats
    return mean + std * np.linspace(-2.0, 3.0, N_MEAN), std * np.linspace(0.1, 2.5, N_STD)


def compute(
    steps: int = STEPS, batch: int = BATCH, seed: int = 0, models: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Per model ``{name}/top`` (N_STD, N_MEAN) lambda_1 in nats per step and ``{name}/rate``
    spikes per step (means over neurons), ``{name}/means`` and ``{name}/stds``."""
    names = model_names() if models is None else models
    data: dict[str, np.ndarray] = {"models": np.array([model_class(n).name for n in names])}
    for name in names:
        cls = model_class(name)
        model = cls(**cls.verify_params)
        means, stds = grid(name)
        rng = np.random.default_rng(seed)
        T = steps + WARMUP + BURN + 1
        noise = rng.standard_normal((T, N_STD, N_MEAN, batch))
        current = means[None, None, :, None] + stds[None, :, None, None] * noise
        (sp,) = lyapunov_spectra([model], current, k=1, burn=BURN, warmup=WARMUP)
        key = cls.name
        data[f"{key}/top"] = sp.top.mean(axis=-1)
        data[f"{key}/rate"] = sp.rate.mean(axis=-1)
        data[f"{key}/means"] = means
        data[f"{key}/stds"] = stds
    return data


def log10_horizon(top: np.ndarray) -> np.ndarray:
    """log10 D* (3 decades) clipped to [0, MAX_LOG10_HORIZON]; lambda_1 >= 0 gives the top."""
    D = learnable_delay(top, 3.0)
    with np.errstate(divide="ignore"):
        return np.clip(np.log10(D), 0.0, MAX_LOG10_HORIZON)


def plot(data: dict[str, np.ndarray]) -> Figure:
    """One heat map per model (see the caption)."""
    names = list(data["models"])
    cols = 4
    rows = max(1, math.ceil(len(names) / cols))
    with style():
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False)
        image = None
        for i, name in enumerate(names):
            ax = axes.flat[i]
            means, stds = data[f"{name}/means"], data[f"{name}/stds"]
            H = log10_horizon(data[f"{name}/top"])
            image = ax.pcolormesh(
                means, stds, H, cmap=SEQUENTIAL, vmin=0.0, vmax=MAX_LOG10_HORIZON, shading="nearest"
            )
            if np.nanmin(H) < 2.0 < np.nanmax(H):
                ax.contour(means, stds, H, levels=[2.0], colors="white", linewidths=1.2)
            rate = data[f"{name}/rate"]
            if np.nanmin(rate) < 0.01 < np.nanmax(rate):
                ax.contour(
                    means, stds, rate, levels=[0.01], colors="k", linestyles="--", linewidths=0.8
                )
            ax.set_title(model_label(name))
            ax.set_xlabel("input mean")
            ax.set_ylabel(r"input std $\sigma_I$")
            ax.grid(False)
            panel_label(ax, chr(ord("a") + i) if i < 26 else "")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.tight_layout()
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes.flat), shrink=0.6, pad=0.01)
            bar.set_label(r"$\log_{10} D^*$, $D^* = 3\ln 10/(-\lambda_1)$ steps")
    return fig


def make(out_dir: Path, steps: int = STEPS, batch: int = BATCH) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(steps, batch)
    return save_all(plot(data), out_dir, NAME, data)
