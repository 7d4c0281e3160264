"""Gradient reach of every registered model on one axis: log10 ||d x[T] / d x[T-k]||_2 against
the temporal distance k, below threshold and along spiking trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.analysis.flow import trajectory_flow
from lstmlif.analysis.stability import log10_power_norms, subthreshold_jacobian
from lstmlif.neurons import model_class, model_names

from .files import save_all
from .style import model_color, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "catalogue_reach"
ORDER = 20
CAPTION = (
    "Gradient reach of every registered model (the paper's and the catalogue's), each at its "
    "verification parameters (verify_params). (a) Below threshold: log10 ||J^k||_2 against the "
    "temporal distance k (steps), J the one-step Jacobian at rest taken from the step function. "
    "(b) Along spiking trajectories: the median (nearest rank) over 32 neurons driven by "
    "Gaussian currents (each model's input_stats) of log10 ||d x[T-1] / d x[T-1-k]||_2, the "
    "product of the spike-aware one-step Jacobians (surrogate slopes and resets as in each "
    "step); a curve ends where the median product is exactly 0 (a detached hard reset cuts "
    "the path at a spike). Models that share a colour are told apart by the line style."
)

STYLES = ("-", "--", ":", "-.")


def _current(name: str, T: int, batch: int, seed: int) -> np.ndarray:
    """The Gaussian input current of ``name`` (its class's input_stats), its own stream."""
    cls = model_class(name)
    mean, std = cls.input_stats
    rng = np.random.default_rng([seed, model_names().index(cls.name)])
    return mean + std * rng.standard_normal((T, batch))


def compute(T: int = 400, batch: int = 32, kmax: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    """Per model ``name``: ``name/sub`` (kmax,) log10 ||J^k||_2 for k = 1..kmax at rest;
    ``name/spiking_median``, ``/spiking_q10``, ``/spiking_q90`` (kmax,) over the neurons;
    ``name/rate`` spikes per step and neuron. ``k`` (kmax,), ``models``."""
    if not (isinstance(T, int) and isinstance(kmax, int) and 1 <= kmax < T):
        raise ValueError(f"catalogue_reach: need integers 1 <= kmax < T, got {kmax}, {T}")
    data: dict[str, np.ndarray] = {"k": np.arange(1, kmax + 1)}
    names = model_names()
    for name in names:
        cls = model_class(name)
        model = cls(**cls.verify_params)
        J = subthreshold_jacobian(model)
        data[f"{name}/sub"] = log10_power_norms(J, kmax, ord=2)[1:]
        flow = trajectory_flow(model, _current(name, T, batch, seed), kmax=kmax)
        logs = flow.log10_norms  # -inf where a product is exactly 0: no interpolation
        data[f"{name}/spiking_median"] = np.quantile(logs, 0.5, axis=1, method="nearest")
        data[f"{name}/spiking_q10"] = np.quantile(logs, 0.1, axis=1, method="nearest")
        data[f"{name}/spiking_q90"] = np.quantile(logs, 0.9, axis=1, method="nearest")
        data[f"{name}/rate"] = np.asarray(float(np.mean(flow.rate)))
    data["models"] = np.array(names)
    data["params"] = np.array([T, batch, kmax, seed])
    return data


def _line_styles(names: list[str]) -> dict[str, str]:
    """A line style per model so that models sharing a colour differ."""
    seen: dict[str, int] = {}
    out = {}
    for n in names:
        c = model_color(n)
        out[n] = STYLES[seen.get(c, 0) % len(STYLES)]
        seen[c] = seen.get(c, 0) + 1
    return out


def plot(data: dict[str, np.ndarray]) -> Figure:
    names = [str(n) for n in data["models"]]
    ls = _line_styles(names)
    k = data["k"]
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.6), sharey=True)
        for name in names:
            kw = dict(color=model_color(name), ls=ls[name], lw=1.3)
            axes[0].plot(k, data[f"{name}/sub"], label=model_label(name), **kw)
            med = np.where(
                np.isfinite(data[f"{name}/spiking_median"]), data[f"{name}/spiking_median"], np.nan
            )
            axes[1].plot(k, med, **kw)
        axes[0].set_title("below threshold (at rest)")
        axes[1].set_title("along spiking trajectories (median over neurons)")
        for ax, letter in zip(axes, "ab", strict=True):
            ax.set_xlabel("temporal distance k (steps)")
            ax.set_xlim(0, k[-1])
            ax.set_ylim(-40, 3)
            panel_label(ax, letter)
        axes[0].set_ylabel(r"$\log_{10} \|\partial x[T] / \partial x[T-k]\|_2$")
        fig.tight_layout(rect=(0, 0.12, 1, 1))
        fig.legend(
            *axes[0].get_legend_handles_labels(), loc="lower center", ncol=min(7, len(names))
        )
    return fig


def make(out_dir: Path, T: int = 400, batch: int = 32, kmax: int = 300, seed: int = 0) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(T, batch, kmax, seed)
    return save_all(plot(data), out_dir, NAME, data)
