"""The bias of the approximate online rules (OSTL, e-prop, the OTTT-style trace rule) against
BPTT as the recurrent weights grow, and the prediction of that bias from the layer's Jacobians."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.neurons import model_class, model_names
from lstmlif.online.bias import build, measure
from lstmlif.online.predict import predicted_bias

from .files import save_all
from .style import model_color, model_label, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "online_bias"
ORDER = 60
MODELS = model_names(group="paper")  # the paper's models, from the registry
RULES = ("ostl", "eprop", "ottt")
SCALES = (0.25, 0.5, 1.0)
SEEDS = (0, 1)
STEPS = 150
HIDDEN = 4
CAPTION = (
    "Online rules against BPTT for a recurrent layer of 4 neurons (3 inputs, a random readout "
    "with squared error, 150 steps, the models' verification parameters and input statistics). "
    "(a) Relative error ||g - g_BPTT|| / ||g_BPTT|| over every trainable tensor (input and "
    "recurrent weights, the model's trained parameters) against the recurrent scale G "
    "(W_rec ~ N(0, G^2/H)), median of 2 seeds; solid OSTL, dashed e-prop, dotted the trace "
    "rule (for LIF it coincides with e-prop: with the reset held, LIF's eligibility trace is "
    "the presynaptic trace with lambda = alpha). RTRL, the exact rule, is not drawn: it "
    "equals BPTT to 4e-14 or better for every model and switch set (docs: Online learning). "
    "(b) The "
    "prediction d = sum_t ||J_t - K_t|| / sum_t ||K_t|| (the part of the layer's one-step "
    "Jacobian the rule drops over the part it keeps, from the forward trajectory alone) against "
    "the measured relative error, every run. Numbers in online_bias.npz."
)


def compute(
    steps: int = STEPS, seeds: tuple[int, ...] = SEEDS, models: tuple[str, ...] = MODELS
) -> dict[str, np.ndarray]:
    """``{model}/error`` and ``{model}/predicted``: (rules, scales, seeds); ``{model}/rate``
    (scales, seeds) spikes per neuron-step."""
    data: dict[str, np.ndarray] = {
        "models": np.array([model_class(m).name for m in models], dtype=str),
        "rules": np.array(RULES, dtype=str),
        "scales": np.array(SCALES),
    }
    for name in models:
        err = np.empty((len(RULES), len(SCALES), len(seeds)))
        pred = np.empty_like(err)
        rate = np.empty((len(SCALES), len(seeds)))
        for i, g in enumerate(SCALES):
            config = {
                "model": name,
                "recurrent_scale": g,
                "input_mean_factor": 1.0,
                "steps": steps,
                "surrogate": None,
            }
            for s, seed in enumerate(seeds):
                m = measure(config, RULES, HIDDEN, seed)
                layer, u, _ = build(config, HIDDEN, seed)
                rate[i, s] = m["rate"]
                for r, rule in enumerate(RULES):
                    err[r, i, s] = m[rule]["relative_error"]
                    pred[r, i, s] = predicted_bias(layer, u, rule)
        key = model_class(name).name
        data[f"{key}/error"], data[f"{key}/predicted"], data[f"{key}/rate"] = err, pred, rate
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """(a) error against G per model and rule; (b) predicted against measured."""
    styles = {"ostl": "-", "eprop": "--", "ottt": ":"}
    markers = {"ostl": "o", "eprop": "s", "ottt": "^"}
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.2, 3.6))
        for name in data["models"]:
            color = model_color(name)
            for r, rule in enumerate(data["rules"]):
                y = np.median(data[f"{name}/error"][r], axis=-1)
                a.plot(
                    data["scales"],
                    y,
                    styles[rule],
                    marker=markers[rule],
                    ms=3,
                    color=color,
                    label=f"{model_label(name)}, {rule}",
                )
                b.scatter(
                    data[f"{name}/predicted"][r].ravel(),
                    data[f"{name}/error"][r].ravel(),
                    marker=markers[rule],
                    s=10,
                    color=color,
                    alpha=0.8,
                )
        a.set_yscale("log")
        a.set_xticks(data["scales"], [f"{g:g}" for g in data["scales"]])
        a.minorticks_off()
        a.set_xlabel("recurrent scale G")
        a.set_ylabel("relative error vs BPTT")
        handles, labels = a.get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=5.5, ncol=len(data["models"]), loc="lower center")
        b.set_xscale("log")
        b.set_yscale("log")
        b.set_xlabel("predicted d (dropped / kept Jacobian)")
        b.set_ylabel("measured relative error")
        panel_label(a, "a")
        panel_label(b, "b")
        fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def make(out_dir: Path, steps: int = STEPS) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(steps)
    return save_all(plot(data), out_dir, NAME, data)
