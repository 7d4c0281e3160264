"""The paper's gradient-evolution figure recomputed: per-neuron, per-step |dL/ds[t]| in the
feed-forward S-MNIST network (1-64-256-256-10) for LIF, ALIF and LSTM-LIF, untrained."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from lstmlif.analysis.flow import FeedForwardSNN, digits_sequences, network_gradient_maps, soma
from lstmlif.neurons import model_names

from .files import save_all
from .style import COLORS, SEQUENTIAL, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "gradient_maps"
ORDER = 3
CAPTION = (
    "Gradient evolution in the feed-forward S-MNIST network of MODELS.md (Linear(1,64) -> "
    "neuron -> Linear(64,256) -> neuron -> Linear(256,256) -> neuron -> Linear(256,10), readout "
    "summed over the 784 steps, cross-entropy), untrained at the paper's initialisation (PyTorch "
    "default Linear init, seed 0; LIF alpha = 0.8; ALIF tau_m = 20, tau_a = 200; LSTM-LIF "
    "(beta1, beta2) = (-0.5, 0.5), gamma = 0.5; v_th = 1; triangle surrogate; paper convention). "
    "Input: a batch of 256 of the 8x8 digits that scikit-learn ships (no download), upsampled "
    "bilinearly to 28x28 and read pixel by pixel (784 steps). Heat maps: log10 of G[n, t] / "
    "sum_(n,t) G, with G[n, t] the batch mean of the total derivative |dL/dx[t]| of neuron n's "
    "threshold-compared potential (membrane v for LIF, u for ALIF, soma s for LSTM-LIF) "
    "collected by hooks on each step's autograd node; each map sums to 1; colours are clipped 10 "
    "decades below the maximum and light grey marks exactly zero gradient (a neuron never "
    "within the surrogate's support). Rates are spikes per neuron per step. Right: the share per "
    "step summed over neurons, with each layer's share in the first half of the sequence. With "
    "the time-summed readout every step also receives gradient directly from the loss, so "
    "the maps are close to uniform in t; compute(readout='last') isolates what travels back "
    "through time (notebook 01)."
)

ZERO_COLOR = "0.8"


def _models() -> tuple[str, ...]:
    """The paper's models (registry group "paper"): LIF, ALIF, LSTM-LIF."""
    return model_names(group="paper")


def compute(
    batch: int = 256,
    side: int = 28,
    sizes: Sequence[int] = (1, 64, 256, 256, 10),
    seed: int = 0,
    readout: str = "sum",
) -> dict[str, np.ndarray]:
    """Per model and layer l (1-based): ``{model}/layer{l}/map`` (T, N) normalised to sum 1
    (float32), ``.../first_half`` (share of the layer's gradient in steps < T/2), ``.../rate``;
    ``{model}/loss``; ``labels`` of the batch. ``readout="last"`` scores only the last step
    (then every gradient has to travel back through time)."""
    x, y = digits_sequences(batch=batch, seed=seed, side=side)
    data: dict[str, np.ndarray] = {"labels": y.numpy(), "sizes": np.asarray(sizes)}
    data["readout"] = np.asarray(readout)
    for mname in tqdm(_models(), desc=NAME, leave=False, disable=None):
        net = FeedForwardSNN(mname, sizes=sizes, seed=seed, readout=readout)
        dtype = next(net.parameters()).dtype
        maps = network_gradient_maps(net, x.to(dtype), y, state=soma(mname))
        data[f"{mname}/loss"] = np.asarray(maps.loss)
        for layer in range(len(maps.maps)):
            key = f"{mname}/layer{layer + 1}"
            data[f"{key}/map"] = maps.normalised(layer).astype(np.float32)
            data[f"{key}/first_half"] = np.asarray(maps.first_half_share(layer))
            data[f"{key}/rate"] = np.asarray(maps.rates[layer])
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Rows: models; columns: the three hidden layers' heat maps, then the per-step shares."""
    n_layers = len(data["sizes"]) - 2
    with style():
        models = [m for m in _models() if f"{m}/loss" in data]
        fig, axes = plt.subplots(
            len(models),
            n_layers + 1,
            figsize=(3.1 * (n_layers + 1), 7.6 * len(models) / 3),
            squeeze=False,
            gridspec_kw={"width_ratios": [1] * n_layers + [1.15]},
        )
        letters = iter("abcdefghijklmnop")
        for r, mname in enumerate(models):
            title = model_label(mname)
            logs = []
            for layer in range(n_layers):
                G = data[f"{mname}/layer{layer + 1}/map"].astype(np.float64)
                with np.errstate(divide="ignore"):
                    logs.append(np.log10(G))
            top = max(float(np.max(L)) for L in logs)
            vmin = top - 10.0
            for layer, L in enumerate(logs):
                ax = axes[r, layer]
                shown = np.where(np.isfinite(L), np.maximum(L, vmin), vmin - 1.0).T
                cmap = plt.get_cmap(SEQUENTIAL).with_extremes(under=ZERO_COLOR)
                im = ax.imshow(
                    shown,
                    aspect="auto",
                    origin="lower",
                    cmap=cmap,
                    vmin=vmin,
                    vmax=top,
                    interpolation="nearest",
                )
                rate = float(data[f"{mname}/layer{layer + 1}/rate"])
                ax.set_title(f"{title}, layer {layer + 1} (rate {rate:.2g})")
                ax.set_xlabel("time step t (steps)")
                ax.set_ylabel("neuron n")
                ax.grid(False)
                panel_label(ax, next(letters))
            cbar = fig.colorbar(im, ax=axes[r, n_layers - 1], fraction=0.06, pad=0.02)
            cbar.set_label("log10 share of layer total")
            ax = axes[r, n_layers]
            for layer in range(n_layers):
                G = data[f"{mname}/layer{layer + 1}/map"].astype(np.float64)
                per_step = G.sum(axis=1)
                share = float(data[f"{mname}/layer{layer + 1}/first_half"])
                with np.errstate(divide="ignore"):
                    ax.plot(
                        np.log10(per_step),
                        color=COLORS[layer],
                        lw=1.0,
                        label=f"layer {layer + 1}: {100 * share:.3g}% in 1st half",
                    )
            ax.axvline(len(per_step) / 2, color="0.5", ls=":", lw=1)
            ax.set_title(f"{title}: share per step")
            ax.set_xlabel("time step t (steps)")
            ax.set_ylabel("log10 sum_n G[n, t] / total")
            ax.legend(loc="lower right", fontsize=6.5)
            panel_label(ax, next(letters))
        fig.tight_layout()
    return fig


def make(
    out_dir: Path,
    batch: int = 256,
    side: int = 28,
    sizes: Sequence[int] = (1, 64, 256, 256, 10),
    seed: int = 0,
    readout: str = "sum",
) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ). Full size takes ~40 s on one CPU thread."""
    data = compute(batch, side, sizes, seed, readout)
    return save_all(plot(data), out_dir, NAME, data)
