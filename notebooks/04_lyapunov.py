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
# # Lyapunov spectra of the backward dynamics: LSTM-LIF, step by step
#
# A gradient that travels back through time is multiplied by the transposed one-step
# Jacobians, `lambda[t-1] = J_t^T lambda[t]`. How fast the product shrinks is measured by
# its Lyapunov exponents. This notebook follows one model, LSTM-LIF (TC-LIF) at
# `(beta1, beta2) = (-0.5, 0.5)`, through `analysis.lyapunov`:
#
# 1. the spike-aware Jacobian along a trajectory, and why psi acts without spikes;
# 2. the spectrum by the QR recursion, its identities and its convergence;
# 3. the prediction from the firing statistics;
# 4. the gradient horizon, and a recurrent layer.
#
# Exponents are natural logs per step; divide by ln 10 for decades per step.

# %%
import numpy as np

from lstmlif.analysis import lyapunov as L
from lstmlif.analysis import lyapunov_predict as P
from lstmlif.analysis.flow import jacobians_along
from lstmlif.figures import fig_lyapunov_rate
from lstmlif.figures.style import COLORS, plt, style
from lstmlif.neurons import LSTMLIF, simulate

model = LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5, v_th=1.0)
mean, std = type(model).input_stats
print(model)
print("input statistics of the verification case:", mean, std)

# %% [markdown]
# ## 1. The spike-aware Jacobian
#
# `step_jacobians` evaluates `J_t = dF/dx_p + dF/dS_p psi(z[t-1]) dz/dx` from the partial
# derivatives SymPy takes of the step function. It equals autograd of `model.transition`.
# In the paper convention `det J_t = 1 - v_th psi`.

# %%
rng = np.random.default_rng(0)
current = rng.normal(mean, std, size=(400, 16))
trace = simulate(model, current)
J = L.step_jacobians(model, trace, current)
print("largest difference from autograd:", np.abs(J - jacobians_along(model, trace, current)).max())
psi = L.surrogate_slopes(model, trace.states)[:-1]
print("largest |det J_t - (1 - psi)|:", np.abs(np.linalg.det(J) - (1 - psi)).max())

# %% [markdown]
# psi is non-zero wherever the soma lies inside the surrogate window (triangle of width 1:
# `s` in (0, 2)), spike or no spike. Most of the steps that shrink the area do so without a
# spike.

# %%
S = np.asarray(trace.spikes)[:-1]
inside = psi != 0
print(f"steps with a spike: {S.mean():.3f}")
print(f"steps with psi != 0: {inside.mean():.3f}")
print(f"steps with psi != 0 and no spike: {(inside & (S == 0)).mean():.3f}")

# %% [markdown]
# ## 2. The spectrum
#
# The QR recursion runs backward from the last step (`Q_{t-1} R_t = J_t^T Q_t`) and averages
# `log|diag R_t|`. The exponents sum to the time average of `log|det J_t|` (to rounding).

# %%
sp = L.lyapunov_spectrum(model, current)
print("exponents of the first 4 neurons:\n", sp.exponents[:4])
print("largest |sum - mean log|det||:", np.abs(sp.exponents.sum(-1) - sp.log_det).max())

# %% [markdown]
# With the reset detached (or psi = 0), `J_t` is the sub-threshold `J` with `det J = 1` and
# eigenvalues on the unit circle: both exponents are 0, within `log cond(V) / T`.

# %%
detached = L.lyapunov_spectrum(model.replace(detach_reset=True), current)
psi_zero = L.lyapunov_spectrum(model, current, psi_zero=True)
print("detached, largest |exponent|:", np.abs(detached.exponents).max())
print("psi = 0,  largest |exponent|:", np.abs(psi_zero.exponents).max())

# %% [markdown]
# Finite-time estimates with 95% intervals over seeds, and how they converge as the window
# `T` grows (the estimate over the last `T` steps of one backward pass).

# %%
est = L.estimate_spectrum(
    model, steps=2000, seeds=(0, 1, 2, 3), batch=16, checkpoints=(50, 100, 200, 500, 1000, 2000)
)
for T, (m, h) in est.convergence.items():
    print(f"T = {T:5d}: lambda_1 = {m[0]:+.4f} +- {h[0]:.4f}, lambda_2 = {m[1]:+.4f} +- {h[1]:.4f}")
with style():
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    Ts = np.array(sorted(est.convergence))
    for i, color in zip(range(2), COLORS, strict=False):
        m = np.array([est.convergence[T][0][i] for T in Ts])
        h = np.array([est.convergence[T][1][i] for T in Ts])
        ax.errorbar(Ts, m, yerr=h, color=color, marker="o", capsize=3, label=f"lambda_{i + 1}")
    ax.set_xscale("log")
    ax.set_xlabel("window T (steps)")
    ax.set_ylabel("exponent (nats/step)")
    ax.legend()

# %% [markdown]
# ## 3. Prediction from the input statistics, and the independent-steps estimate
#
# `analysis.lyapunov_predict.predict_top` predicts lambda_1 without simulating the neuron: the
# stationary density of the state from the transfer operator on a grid (two states: a
# 100 x 100 grid), then the exponent of a product of Jacobians drawn independently from that
# density. `independent_steps` is a diagnostic, not a prediction: it simulates the neuron and
# shuffles its states in time, so `measured - independent` is the effect of temporal
# correlations. `lower_bound = (1/2) E log|1 - v_th psi|` bounds lambda_1 from below.

# %%
pred = P.predict_top(model)
ind = P.independent_steps(model)
print(f"measured           lambda_1 = {est.top:+.4f} +- {est.ci95[0]:.4f}")
print(f"predicted          lambda_1 = {pred.top:+.4f} +- {pred.ci95:.4f} ({pred.method})")
print(f"independent steps  lambda_1 = {ind.top:+.4f} +- {ind.ci95:.4f} (shuffled simulation)")
print(f"temporal correlations: measured - independent = {est.top - ind.top:+.4f}")
print(f"frozen E log rho(J) = {ind.frozen:+.4f}; lower bound = {ind.lower_bound:+.4f}")

# %% [markdown]
# **Change a parameter:** the surrogate. A fast sigmoid of slope 25 is non-zero everywhere but
# tiny away from threshold, so the area shrinks far less per step.

# %%
for name in ("triangle", "fast_sigmoid", "sigmoid"):
    variant = model.replace(surrogate=name)
    e = L.estimate_spectrum(variant, steps=800, seeds=(0, 1), batch=8, k=1)
    p = P.predict_top(variant, draws=1000, chains=8)
    print(f"{name:12s} measured {e.top:+.4f}  predicted {p.top:+.4f}  in window {e.in_window:.2f}")

# %% [markdown]
# The exponent against the firing rate (the `lyapunov_rate` figure, one panel, small size):

# %%
data = fig_lyapunov_rate.compute(steps=300, batch=4, models=("lstmlif",))
fig_lyapunov_rate.plot(data);

# %% [markdown]
# ## 4. Gradient horizon and a recurrent layer
#
# The number of steps over which a gradient falls by 3 decades is `D* = 3 ln 10 / (-lambda_1)`.
# In a recurrent layer (`I = c + W S[t-1]`) the state is every neuron's state and the spike
# path couples them through `W psi`; the detached reset leaves that path in place. With the
# random weights below (seed 1) the detached layer's top exponent comes out positive: the spike
# path through `W` amplifies what the reset gradient, kept, damps.

# %%
print("horizon of the single neuron:", float(L.learnable_delay(est.top)), "steps")
H = 16
W = np.random.default_rng(1).normal(0.0, 0.3, (H, H))
drive = np.random.default_rng(2).normal(mean, std, (300, 4, H))
for detach in (False, True):
    layer = L.simulate_recurrent(model.replace(detach_reset=detach), drive, W)
    net = L.network_spectrum(layer, W, start=50, k=4, burn=20)
    print(
        f"detach_reset={detach}: lambda_1 = {net.top.mean():+.4f} "
        f"(rate {net.rate.mean():.3f}, horizon {float(L.learnable_delay(net.top.mean())):.0f})"
    )
