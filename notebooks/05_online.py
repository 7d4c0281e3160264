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
# # Online learning: RTRL, OSTL, e-prop and a trace rule, derived from the step
#
# BPTT stores the whole trajectory. The rules of `lstmlif.online` compute a gradient forward
# in time instead, from the same SymPy partials of the model's step as the adjoint
# (d x[t]/d x[t-1], d x[t]/d S[t-1], d x[t]/d I[t], d x[t]/d theta and the surrogate psi):
#
# 1. RTRL, the exact rule, equals BPTT (autograd through the step) for a recurrent layer;
# 2. what OSTL and e-prop drop, and where they are exact;
# 3. how large their bias is as the recurrent weights grow, and its prediction from the
#    layer's Jacobians;
# 4. memory that does not grow with T.

# %%
import numpy as np

from lstmlif.figures.style import plt, style
from lstmlif.neurons import get_model
from lstmlif.online.bptt import bptt
from lstmlif.online.core import LinearLoss, ReadoutLoss, held_paths, make_inputs, make_layer
from lstmlif.online.measure import agreement
from lstmlif.online.predict import predicted_bias
from lstmlif.online.rules import run_rule

# %% [markdown]
# ## 1. RTRL = BPTT
#
# A recurrent ALIF layer of 4 neurons (3 inputs, input 0 the bias), its time constants trained
# through `tau = exp(log_tau)`, 500 steps, fixed random loss weights on every spike and state.

# %%
layer = make_layer("alif", 4, 3, recurrent_scale=0.5, seed=0)
u = make_inputs(layer, 500, 1, seed=1)
loss = LinearLoss.random(layer, 500, 1, seed=2)
ref = bptt(layer, u, loss)
rtrl = run_rule("rtrl", layer, u, loss)
a = agreement(rtrl.gradients, ref.gradients)
print("spikes:", ref.spikes, " tensors:", list(ref.gradients))
print(f"RTRL against BPTT: relative error {a['relative_error']:.2e}, cosine {a['cosine']:.15f}")

# %% [markdown]
# ## 2. What the approximate rules drop
#
# OSTL keeps each neuron's own Jacobian (its spike and reset included) and drops every path
# through the recurrent weights. e-prop also holds the spike inside the reset: its traces run on
# the partials of the model with `detach_reset=True`. Which partials that changes is read off
# the two generated sets:

# %%
for name in ("lif", "alif", "lstmlif", "se-adlif", "brf"):
    print(f"{name:9s} e-prop holds: {held_paths(get_model(name)) or 'nothing (no detachable reset)'}")

# %% [markdown]
# Without recurrent weights OSTL is BPTT, and e-prop is the BPTT of the model with its reset
# detached. With them, neither is:

# %%
ff = make_layer("alif", 4, 3, recurrent=False, seed=0)
ref_ff = bptt(ff, u, loss)
ref_held = bptt(ff, u, loss, detach_reset=True)
for rule, reference in (("ostl", ref_ff), ("eprop", ref_held)):
    res = run_rule(rule, ff, u, loss)
    print(f"{rule:5s} feed-forward: {agreement(res.gradients, reference.gradients)['relative_error']:.1e}")
for rule in ("ostl", "eprop", "ottt"):
    res = run_rule(rule, layer, u, loss)
    ag = agreement(res.gradients, ref.gradients)
    print(f"{rule:5s} recurrent: relative error {ag['relative_error']:.3f}, cosine {ag['cosine']:.3f}")

# %% [markdown]
# ## 3. The bias against the recurrent scale, and its prediction
#
# The prediction d is the norm of the one-step Jacobian a rule drops over the norm of the part
# it keeps, summed along the forward trajectory (no gradient computed). Two seeds per scale, a
# random readout with squared error, 200 steps.

# %%
scales = (0.125, 0.25, 0.5, 1.0)
rows = []
for g in scales:
    for seed in (0, 1):
        lay = make_layer("alif", 4, 3, recurrent_scale=g, seed=seed)
        uu = make_inputs(lay, 200, 1, seed=seed + 1)
        lo = ReadoutLoss.random(lay, 200, 1, seed=seed + 2)
        r0 = bptt(lay, uu, lo)
        for rule in ("ostl", "eprop"):
            res = run_rule(rule, lay, uu, lo)
            err = agreement(res.gradients, r0.gradients)["relative_error"]
            rows.append((g, seed, rule, err, predicted_bias(lay, uu, rule)))
with style():
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for rule, marker in (("ostl", "o"), ("eprop", "s")):
        pts = np.array([(r[4], r[3]) for r in rows if r[2] == rule])
        ax.loglog(pts[:, 0], pts[:, 1], marker, label=rule)
    ax.set_xlabel("predicted d")
    ax.set_ylabel("relative error vs BPTT")
    ax.legend()
    plt.show()

# %% [markdown]
# ## 4. Memory
#
# Each rule carries the same arrays whatever T is; BPTT's saved tensors grow with T.

# %%
for T in (200, 800):
    uu = make_inputs(layer, T, 1, seed=1)
    lo = LinearLoss.random(layer, T, 1, seed=2)
    mem = {r: run_rule(r, layer, uu, lo).memory_bytes for r in ("rtrl", "ostl", "eprop", "ottt")}
    mem["bptt"] = bptt(layer, uu, lo).memory_bytes
    print(T, mem)
