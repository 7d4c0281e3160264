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
# # Exploring stability regions
#
# Below threshold a neuron's update map is linear, and its one-step Jacobian J decides whether
# gradients vanish, rotate or explode. This notebook explores J for the two-compartment neuron
# (LSTM-LIF is alpha1 = alpha2 = 1) with the toolkit's `analysis.stability`: spectrum,
# period, transient amplification sup_k ||J^k||, memory horizon and the Jury classification.
# With `ipywidgets` installed you get sliders; without it, a static grid of the same views.

# %%
import numpy as np
import torch
from IPython.display import Markdown, display

from lstmlif.analysis.paper import PAPER_SETTINGS, quadrant_table
from lstmlif.analysis.stability import (
    classify,
    eigenvalues,
    inspect_model,
    log10_power_norms,
    subthreshold_jacobian,
)
from lstmlif.figures import fig_stability_atlas, fig_stability_map
from lstmlif.figures.style import COLORS, plt, style
from lstmlif.neurons import LSTMLIF, TwoCompartment

torch.set_num_threads(1)

try:
    import ipywidgets as widgets
except ImportError:
    widgets = None
print("ipywidgets available:", widgets is not None)

# %% [markdown]
# ## The paper's settings, inspected
#
# The same numbers as `lstmlif inspect lstmlif --param beta1=... --param beta2=...`.

# %%
rows = []
for name, setting in PAPER_SETTINGS.items():
    b1, b2 = setting["betas"]
    r = inspect_model(LSTMLIF(beta1=b1, beta2=b2), kmax=2000)
    rows.append(f"| {name} | {b1} | {b2} | {r['spectral_radius']:.6f} | {r['period']:.2f} | "
                f"{r['sup_norm_2']:.3f} | {r['class']} |")
display(Markdown("| setting | beta1 | beta2 | rho(J) | period (steps) | sup_k ‖J^k‖₂ | class |\n"
                 "|---|---|---|---|---|---|---|\n" + "\n".join(rows)))

# %% [markdown]
# ## One parameter point: eigenvalues and powers


# %%
def explore(beta1=-0.5, beta2=0.5, alpha1=1.0, alpha2=1.0, kmax=200, axes=None):
    """Draw J's eigenvalues with the unit circle and log10 ||J^k||_2 for k <= kmax."""
    model = TwoCompartment(alpha1=alpha1, alpha2=alpha2, beta1=beta1, beta2=beta2)
    lam = eigenvalues(model)
    logs = log10_power_norms(subthreshold_jacobian(model), kmax)
    label = str(classify(model))
    with style():
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        t = np.linspace(0, 2 * np.pi, 200)
        axes[0].plot(np.cos(t), np.sin(t), "k--", lw=0.8)
        axes[0].plot(lam.real, lam.imag, "o", color=COLORS[1])
        axes[0].set_aspect("equal")
        axes[0].set_xlabel("Re lambda")
        axes[0].set_ylabel("Im lambda")
        axes[0].set_title(f"({beta1:g}, {beta2:g}; {alpha1:g}, {alpha2:g}): {label}", fontsize=8)
        axes[1].plot(np.arange(kmax + 1), logs, color=COLORS[0])
        axes[1].set_xlabel("k (steps)")
        axes[1].set_ylabel("log10 ||J^k||_2")
    return label


if widgets is not None:
    slider = dict(min=-2.5, max=2.5, step=0.05)
    widgets.interact(
        explore,
        beta1=widgets.FloatSlider(value=-0.5, **slider),
        beta2=widgets.FloatSlider(value=0.5, **slider),
        alpha1=widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.01),
        alpha2=widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.01),
        kmax=widgets.IntSlider(value=200, min=10, max=2000, step=10),
        axes=widgets.fixed(None),
    )
else:
    print(explore(-0.5, 0.5))

# %% [markdown]
# ### A static grid of the same view
#
# One point per quadrant, one beyond beta1 beta2 = -4, and two leaky neurons: edit the list
# and re-run the cell.

# %%
points = [
    (-0.5, 0.5, 1.0, 1.0),
    (0.5, 0.5, 1.0, 1.0),
    (-0.5, -0.5, 1.0, 1.0),
    (0.5, -0.5, 1.0, 1.0),
    (-2.5, 2.0, 1.0, 1.0),
    (-0.5, 0.5, 0.95, 0.9),
    (0.5, 0.5, 0.6, 0.6),
]
with style():
    fig, grid = plt.subplots(len(points), 2, figsize=(8, 2.6 * len(points)))
    labels = [explore(*p, kmax=100, axes=grid[i]) for i, p in enumerate(points)]
    fig.tight_layout()
print(dict(zip(points, labels)))

# %% [markdown]
# ## Maps over parameter planes
#
# The figure modules' `compute` functions at a reduced resolution (the full figures are
# `lstmlif figures --only stability_map --only stability_atlas`).

# %%
data = fig_stability_map.compute(n=40, scale=16, sup_kmax=128)
fig_stability_map.plot(data);
inside = data["label"] == "marginal"
B1, B2 = np.meshgrid(data["beta"], data["beta"])
print("marginal region == {-4 <= beta1 beta2 <= 0}:",
      bool(np.array_equal(inside, (B1 * B2 >= -4) & (B1 * B2 <= 0))))

# %%
atlas = fig_stability_atlas.compute(n_alpha=60, n_tau=40)
fig_stability_atlas.plot(atlas);

# %% [markdown]
# ## The paper's quadrant verdicts against the true spectrum

# %%
q = quadrant_table()
bar = "\\|"  # a "|" inside a table cell (the readings write |f|) is escaped
display(Markdown(
    "| quadrant | signs | paper (from f) | f over the unit square | true J |\n|---|---|---|---|---|\n"
    + "\n".join(f"| {r['quadrant']} | {r['signs']} | {r['paper_verdict']} | "
                f"[{r['f_inf']:.3g}, {r['f_sup']:.3g}]: {r['f_reading'].replace('|', bar)} | "
                f"{r['spectrum']}, rho in [{r['rho_min']:.4g}, {r['rho_max']:.4g}] |" for r in q)))
