"""The top Lyapunov exponent of the backward dynamics against the firing rate, for every
registered model and several surrogates: how fast a gradient decays along a spiking trajectory
as the neuron fires more, and how much of it the surrogate's window decides."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.analysis.lyapunov import LN10, lyapunov_spectra
from lstmlif.analysis.lyapunov_table import TABLE_SURROGATES
from lstmlif.neurons import model_class, model_names

from .files import save_all
from .style import COLORS, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "lyapunov_rate"
ORDER = 30
CAPTION = (
    "Top Lyapunov exponent lambda_1 of the backward (adjoint) dynamics, in decades per step, "
    "against the spike rate, one panel per registered model at its verification parameters. "
    "Each neuron is driven by i.i.d. Gaussian currents with the model's input standard "
    "deviation and means from -1.5 to +2.5 standard deviations around its input mean; "
    "lambda_1 comes from the QR recursion over the spike-aware one-step Jacobians (700 counted "
    "steps, 8 neurons, after 100 steps of transient and before 50 of alignment). Solid lines: "
    "the reset gradient as the model keeps it by default, for the triangle (width 1), fast "
    "sigmoid (slope 25) and sigmoid (slope 4) surrogates and the model's own; dashed: the "
    "model's own surrogate with the other detach setting. Symmetric log axes (linear within "
    "1e-3 of 0). Triangles at the bottom edge: the "
    "product is exactly zero (lambda_1 = -inf: a hard reset whose spike carries no gradient, "
    "or a rectangle-like window where v_th psi = 1). The psi-terms act wherever the potential "
    "is inside the surrogate window, spike or not; with a detached subtractive reset LIF's "
    "exponent is log10 alpha at every rate. Numbers in lyapunov_rate.npz."
)

STEPS = 700
WARMUP = 100
BURN = 50
BATCH = 8
OFFSETS = np.linspace(-1.5, 2.5, 9)
FLOOR = -1.0  # decades per step: the lower edge of every panel


def variants(name: str) -> list[tuple[str, dict]]:
    """(label, switches) of one model: each surrogate with the model's own detach setting,
    then the model's own surrogate with the other detach setting (where supported)."""
    cls = model_class(name)
    base = cls(**cls.verify_params)
    own = base.surrogate.name
    out = []
    for sur in dict.fromkeys([*TABLE_SURROGATES, own]):
        label = sur + (" (own)" if sur == own else "")
        out.append((label, {"surrogate": sur, "detach_reset": base.detach_reset}))
    other = not base.detach_reset
    if other in cls.detach_options:
        word = "detached" if other else "reset gradient kept"
        out.append((f"{own}, {word}", {"surrogate": own, "detach_reset": other}))
    return out


def compute(
    steps: int = STEPS, batch: int = BATCH, seed: int = 0, models: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Per model ``{name}/rate`` (len(OFFSETS),) spikes per step, ``{name}/top`` (variants,
    len(OFFSETS)) lambda_1 in nats per step (mean over neurons), ``{name}/labels``."""
    data: dict[str, np.ndarray] = {"offsets": OFFSETS}
    names = model_names() if models is None else models
    data["models"] = np.array([model_class(n).name for n in names], dtype=str)
    for name in names:
        cls = model_class(name)
        mean, std = cls.input_stats
        vs = variants(name)
        models_v = [cls(**cls.verify_params, **sw) for _, sw in vs]
        rng = np.random.default_rng(seed)
        T = steps + WARMUP + BURN + 1
        current = rng.normal(mean + std * OFFSETS[:, None], std, size=(T, len(OFFSETS), batch))
        spectra = lyapunov_spectra(models_v, current, k=1, burn=BURN, warmup=WARMUP)
        key = cls.name
        data[f"{key}/rate"] = spectra[0].rate.mean(axis=-1)
        data[f"{key}/top"] = np.stack([sp.top.mean(axis=-1) for sp in spectra])
        data[f"{key}/labels"] = np.array([label for label, _ in vs], dtype=str)
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """One panel per model: lambda_1 / ln 10 against the spike rate, one line per variant."""
    names = list(data["models"])
    cols = 4
    rows = max(1, math.ceil(len(names) / cols))
    with style():
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.7 * rows), squeeze=False)
        for i, name in enumerate(names):
            ax = axes.flat[i]
            rate = data[f"{name}/rate"]
            order = np.argsort(rate)
            for j, label in enumerate(data[f"{name}/labels"]):
                y = data[f"{name}/top"][j][order] / LN10
                ls = "--" if ("detached" in label or "kept" in label) else "-"
                color = COLORS[j % len(COLORS)]
                shown = np.maximum(y, FLOOR)
                ax.plot(rate[order], shown, ls=ls, marker="o", ms=2.5, color=color, label=label)
                zero = ~np.isfinite(y) | (y < FLOOR)
                if np.any(zero):
                    ax.plot(rate[order][zero], np.full(zero.sum(), FLOOR), "v", color=color, ms=5)
            ax.set_xscale("symlog", linthresh=1e-3)
            ax.set_yscale("symlog", linthresh=1e-3, linscale=0.5)
            ax.set_ylim(FLOOR * 1.3, 1e-3)
            ax.set_title(model_label(name))
            ax.set_xlabel("spikes per step")
            ax.set_ylabel(r"$\lambda_1/\ln 10$ (decades/step)")
            ax.legend(loc="lower left", fontsize=5.5)
            panel_label(ax, chr(ord("a") + i) if i < 26 else "")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.tight_layout()
    return fig


def make(out_dir: Path, steps: int = STEPS, batch: int = BATCH) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(steps, batch)
    return save_all(plot(data), out_dir, NAME, data)
