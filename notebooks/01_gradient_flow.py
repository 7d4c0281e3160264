# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Gradient flow: change a parameter, regenerate a figure
#
# How far back in time does a gradient reach in a LIF, an ALIF and an LSTM-LIF (TC-LIF)
# neuron? This notebook calls the toolkit only (`analysis.flow`, `analysis.stability`, the
# `figures` modules); nothing is re-implemented here. Each section computes a figure's numbers
# at a small size, draws it, then changes one parameter and draws it again.
#
# Every norm is reported as **log10**: products of Jacobians are accumulated in log space
# with renormalisation, so `0.8**10000` appears as `-969.1`, never as a silent 0.

# %%
import tempfile
from pathlib import Path

import numpy as np
import torch

from lstmlif.analysis.flow import (
    FeedForwardSNN,
    digits_sequences,
    log10_product_norms,
    network_gradient_maps,
    quantile_band,
    trajectory_flow,
)
from lstmlif.analysis.stability import subthreshold_jacobian
from lstmlif.figures import fig_gradient_distance, fig_gradient_maps, fig_spiking_flow
from lstmlif.figures.registry import make_figures
from lstmlif.figures.style import COLORS, plt, style
from lstmlif.neurons import LIF, LSTMLIF, get_surrogate, model_names

torch.set_num_threads(1)
OUT = Path(tempfile.mkdtemp(prefix="lstmlif-notebook-"))
print("figures of this notebook go to", OUT)

# %% [markdown]
# ## 1. Sub-threshold reach of single neurons
#
# `fig_gradient_distance.compute` multiplies the one-step Jacobian taken from the step
# function; `plot` draws the computed points with the closed forms of docs/theory.md over them.

# %%
data = fig_gradient_distance.compute(kmax=2000)
fig_gradient_distance.plot(data);

# %% [markdown]
# **Change a parameter.** Any model record works: here a slower LIF (alpha = 0.95) and an
# LSTM-LIF with a weaker coupling (beta1, beta2) = (-0.1, 0.3), whose rotation is slower
# (period 2 pi / theta with cos theta = 1 + beta1 beta2 / 2).

# %%
kmax = 400
models = {
    "LIF, alpha = 0.95": LIF(alpha=0.95),
    "LIF, alpha = 0.8": LIF(alpha=0.8),
    "LSTM-LIF (-0.1, 0.3)": LSTMLIF(beta1=-0.1, beta2=0.3),
    "LSTM-LIF (-0.5, 0.5)": LSTMLIF(beta1=-0.5, beta2=0.5),
}
with style():
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for (label, model), color in zip(models.items(), COLORS):
        J = subthreshold_jacobian(model)
        logs = log10_product_norms(np.broadcast_to(J, (kmax, *J.shape)))
        ax.plot(np.arange(1, kmax + 1), logs, color=color, label=label)
    ax.set_xlabel("temporal distance k (steps)")
    ax.set_ylabel("log10 ||d x[T] / d x[T-k]||_2")
    ax.legend()
print("LIF alpha = 0.95 after 400 steps: log10 =", 400 * np.log10(0.95))

# %% [markdown]
# ## 2. Along real spiking trajectories
#
# With spikes, each step's Jacobian contains the surrogate slope psi. The figure module
# shows median and 10-90% bands over neurons; here at a reduced size.

# %%
data = fig_spiking_flow.compute(T=160, batch=32, kmax=120)
fig_spiking_flow.plot(data);

# %% [markdown]
# **Change a parameter:** the surrogate's width. A wider triangle touches more steps; a
# narrower, taller one multiplies fewer steps by larger factors.

# %%
rng = np.random.default_rng(0)
current = rng.normal(0.2, 0.5, size=(200, 64))
with style():
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for width, color in zip((0.25, 0.5, 1.0, 2.0), COLORS):
        model = LSTMLIF(surrogate=get_surrogate("triangle", width=width))
        flow = trajectory_flow(model, current, kmax=150)
        lo, med, hi = quantile_band(flow.log10_norms)
        k = np.arange(1, 151)
        ax.fill_between(k, lo, hi, color=color, alpha=0.15, lw=0)
        ax.plot(k, med, color=color, label=f"width {width} (rate {flow.rate.mean():.3f})")
    ax.set_xlabel("temporal distance k (steps)")
    ax.set_ylabel("log10 ||d x[T] / d x[T-k]||_2")
    ax.set_title("LSTM-LIF (-0.5, 0.5), triangle surrogates")
    ax.legend(fontsize=7)

# %% [markdown]
# ## 3. Gradient maps in the feed-forward network
#
# The paper's gradient-evolution figure at a reduced size (10x10 digits, 100 steps, a batch
# of 16; the full size is `fig_gradient_maps.compute()`, about 30 s of CPU). With the readout summed over time (docs/models.md), every step receives gradient
# directly from the loss; scoring only the last step shows what travels back through time.

# %%
small = dict(batch=16, side=10, sizes=(1, 64, 256, 256, 10), seed=0)
maps_sum = fig_gradient_maps.compute(**small)
fig_gradient_maps.plot(maps_sum);

# %% [markdown]
# **Change a parameter:** score only the last step (`readout="last"`).

# %%
maps_last = fig_gradient_maps.compute(readout="last", **small)
fig_gradient_maps.plot(maps_last)
for name, data in (("sum", maps_sum), ("last", maps_last)):
    shares = {
        kind: [round(float(data[f"{kind}/layer{l}/first_half"]), 3) for l in (1, 2, 3)]
        for kind in model_names(group="paper")  # the models the figure draws
    }
    print(f"readout={name}: share of each layer's gradient in the first half:", shares)

# %% [markdown]
# The same maps by hand, for one model and any state (here the LSTM-LIF dendrite `d`):

# %%
x, y = digits_sequences(batch=16, side=10, seed=0)
maps = network_gradient_maps(FeedForwardSNN("lstmlif", seed=0), x, y, state="d")
print("state:", maps.state, "| spike rates per layer:", [round(r, 4) for r in maps.rates])

# %% [markdown]
# ## 4. Regenerate figure files
#
# `make` writes PNG, PDF and the numbers (NPZ) atomically; `make_figures` does the same for
# named figures and refreshes `index.md`. From a shell: `lstmlif figures --only NAME`.

# %%
result = fig_gradient_distance.make(OUT, kmax=1000)
print([p.name for p in result["paths"]])
made = make_figures(only=["membrane_traces"], out_dir=OUT, progress=False)
print({name: round(r["seconds"], 2) for name, r in made.items()})
print((OUT / "index.md").read_text())
