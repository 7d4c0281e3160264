"""The paper's gradient-evolution figure recomputed: per-neuron, per-step |dL/ds[t]| in the
feed-forward S-MNIST network (1-64-256-256-10) for LIF, ALIF and LSTM-LIF, untrained, with the
readout summed over time (as the paper) beside the readout of the last step only."""

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
    "Gradient evolution in the feed-forward S-MNIST network (Linear(1,64) -> "
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
    "step summed over neurons, with each layer's share in the first half of the sequence. Rows "
    "come in pairs: the readout summed over the 784 steps (as the paper trains), then the "
    "readout of the last step only. With the summed readout every step also receives gradient "
    "directly from the loss, so the maps are close to uniform in t and hide LIF's vanishing; "
    "with the last-step readout every gradient has to travel back through time, and LIF's "
    "share falls by decades towards early steps while LSTM-LIF's does not (the network runs in "
    "float32, so LIF's last-step gradient reaches float32's subnormal floor near 1e-45, the flat "
    "stretch of its share curve, or exactly 0, grey)."
)

ZERO_COLOR = "0.8"
READOUTS = ("sum", "last")
READOUT_TITLES = {"sum": "summed readout", "last": "last-step readout"}
READOUT_SHORT = {"sum": "summed", "last": "last step"}


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


def compute_both(
    batch: int = 256,
    side: int = 28,
    sizes: Sequence[int] = (1, 64, 256, 256, 10),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """``compute`` for the summed readout (keys as ``compute`` names them) and for the
    last-step readout (the same keys prefixed ``last/``), on the same batch and weights."""
    data = compute(batch, side, sizes, seed, readout="sum")
    last = compute(batch, side, sizes, seed, readout="last")
    data.update({f"last/{k}": v for k, v in last.items() if k not in ("labels", "sizes")})
    data["readouts"] = np.asarray(READOUTS)
    return data


def _panels(data: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """(model, readout, key prefix) for each row: both readouts where ``last/`` keys exist."""
    single = str(data.get("readout", "sum"))
    rows = []
    for mname in _models():
        if f"{mname}/loss" in data:
            rows.append((mname, single, ""))
        if f"last/{mname}/loss" in data:
            rows.append((mname, "last", "last/"))
    return rows


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Rows: (model, readout); columns: the three hidden layers' heat maps, then the per-step
    shares."""
    n_layers = len(data["sizes"]) - 2
    with style():
        rows = _panels(data)
        fig, axes = plt.subplots(
            len(rows),
            n_layers + 1,
            figsize=(3.1 * (n_layers + 1), 2.55 * len(rows)),
            squeeze=False,
            gridspec_kw={"width_ratios": [1] * n_layers + [1.15]},
        )
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        for r, (mname, readout, pre) in enumerate(rows):
            title = f"{model_label(mname)} ({READOUT_SHORT[readout]})"
            logs = []
            for layer in range(n_layers):
                G = data[f"{pre}{mname}/layer{layer + 1}/map"].astype(np.float64)
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
                rate = float(data[f"{pre}{mname}/layer{layer + 1}/rate"])
                ax.set_title(f"{model_label(mname)}, layer {layer + 1} (rate {rate:.2g})")
                ax.set_xlabel(r"time step $t$ (steps)")
                ax.set_ylabel(f"neuron $n$\n({READOUT_TITLES[readout]})")
                ax.grid(False)
                panel_label(ax, next(letters))
            cbar = fig.colorbar(im, ax=axes[r, n_layers - 1], fraction=0.06, pad=0.02)
            cbar.set_label(r"$\log_{10}$ share of the layer total")
            ax = axes[r, n_layers]
            for layer in range(n_layers):
                G = data[f"{pre}{mname}/layer{layer + 1}/map"].astype(np.float64)
                per_step = G.sum(axis=1)
                share = float(data[f"{pre}{mname}/layer{layer + 1}/first_half"])
                with np.errstate(divide="ignore"):
                    ax.plot(
                        np.log10(per_step),
                        color=COLORS[layer],
                        lw=1.0,
                        label=f"layer {layer + 1}: {100 * share:.3g}% in 1st half",
                    )
            ax.axvline(len(per_step) / 2, color="0.5", ls=":", lw=1)
            ax.set_title(f"{title}: share per step")
            ax.set_xlabel(r"time step $t$ (steps)")
            ax.set_ylabel(r"$\log_{10} \sum_n G[n, t]\,/\,$total")
            ax.legend(loc="best", fontsize=6.5)
            panel_label(ax, next(letters))
        fig.tight_layout()
    return fig


def make(
    out_dir: Path,
    batch: int = 256,
    side: int = 28,
    sizes: Sequence[int] = (1, 64, 256, 256, 10),
    seed: int = 0,
    readout: str | None = None,
) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ): both readouts (``readout=None``, the default;
    ~80 s at full size on one CPU thread) or one ("sum" or "last")."""
    if readout is None:
        data = compute_both(batch, side, sizes, seed)
    else:
        data = compute(batch, side, sizes, seed, readout)
    return save_all(plot(data), out_dir, NAME, data)
