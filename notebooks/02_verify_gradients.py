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
# # Verifying the analytic gradients
#
# 1. **The derivation**, rendered: SymPy runs the model's own step function on symbols
#    (`analysis.symbolic`), differentiates it and checks each statement of docs/theory.md.
# 2. **Adjoint vs autograd vs finite differences**, in tables: the hand-derived backward
#    recursion (`analysis.adjoint`, NumPy float64) against PyTorch autograd and against
#    Richardson-extrapolated finite differences (`analysis.gradcheck`, the Python API of
#    `lstmlif verify`).
#
# Nothing is re-derived in this notebook; it only calls the package and shows the results.

# %%
import numpy as np
import torch
from IPython.display import Markdown, Math, display

from lstmlif.analysis.adjoint import adjoint
from lstmlif.analysis.gradcheck import (
    check_case,
    finite_difference_check,
    make_case,
    verify_table,
)
from lstmlif.analysis.symbolic import derive_report
from lstmlif.neurons import LSTMLIF, simulate

torch.set_num_threads(1)


def md(text):
    """Text for a Markdown table cell: a "|" in it (as in |lambda|) escaped."""
    return str(text).replace("|", r"\|")


def table(rows, columns):
    """A Markdown table of dict rows (floats in short scientific notation)."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.2e}"
        if isinstance(v, (list, tuple)):
            return md("; ".join(map(str, v)) or "-")
        return md(v)

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return Markdown(head + "\n".join("| " + " | ".join(cell(r[c]) for c in columns) + " |"
                                     for r in rows))


# %% [markdown]
# ## 1. The derivation (LSTM-LIF, paper convention, subtractive reset)
#
# psi is the surrogate slope at the previous step's threshold argument, S the previous spike.

# %%
rep = derive_report("lstmlif", latex=True, convention="paper")
for name, expr in rep["update_map"].items():
    display(Math(f"{name}[t] = {expr}"))
display(Math(r"J_t = \frac{\partial x[t]}{\partial x[t-1]} = " + rep["jacobian"]))
display(Math(r"\det J_t = " + rep["det"]))
display(Math(r"J\big|_{\psi=0} = " + rep["jacobian_subthreshold"]
             + r",\quad \det J = " + rep["det_subthreshold"]
             + r",\quad \operatorname{tr} J = " + rep["trace_subthreshold"]))
display(Math(r"\chi(\lambda) = " + rep["charpoly"]))
display(Math(r"\lambda_{\pm} = " + r",\ ".join(rep["eigenvalues"])))

# %% [markdown]
# Every statement of docs/theory.md that applies to this model, derived and compared by SymPy:

# %%
display(Markdown("| section | claim | holds |\n|---|---|---|\n" + "\n".join(
    f"| {c['section']} | {md(c['claim'])} | {'yes' if c['holds'] else '**NO**'} |"
    for c in rep["checks"])))
assert all(c["holds"] for c in rep["checks"]), "a statement of the theory failed"

# %% [markdown]
# The code convention changes only the spike terms: its spike-aware determinant is

# %%
code = derive_report("lstmlif", latex=True, convention="code")
display(Math(r"\det J_t^{\text{code}} = " + code["det"]))

# %% [markdown]
# ## 2. Adjoint vs autograd vs finite differences
#
# One row per model x convention x reset x detached reset, on random currents that make the
# neurons spike, with a random linear loss. `autograd_rel_err`: max |adjoint - autograd| /
# max |autograd| over dL/dI, the state adjoints and the parameter gradients (float64).
# `fd_rel_err`: finite differences (spike pattern held fixed) against the psi = 0 adjoint.
# A row with no spike or a zero gradient counts as a failure.

# %%
rows = verify_table(steps=80, batch=3, seed=0)
display(table(rows, ["model", "convention", "reset", "detach_reset", "spikes", "grad_norm",
                     "autograd_rel_err", "fd_rel_err", "ok"]))
print(f"{sum(r['ok'] for r in rows)} of {len(rows)} cases pass")
assert all(r["ok"] for r in rows), [r["problems"] for r in rows if not r["ok"]]

# %% [markdown]
# ### One case by hand
#
# The adjoint's dL/dI[t] for LSTM-LIF next to autograd's, on one trajectory; the loss is
# L = sum_t g[t] S[t] with random g.

# %%
rng = np.random.default_rng(1)
model = LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5)
current = rng.normal(0.1, 0.5, size=(60, 2))
g = rng.standard_normal(current.shape)

ours = adjoint(simulate(model, current), current, grad_spikes=g)
I = torch.tensor(current, requires_grad=True)
S = simulate(model, I).spikes
(S * torch.as_tensor(g)).sum().backward()
theirs = I.grad.numpy()
print("spikes:", int(S.sum()), "| max |dL/dI|:", float(np.abs(theirs).max()))
print("max |adjoint - autograd| / max |autograd| =",
      float(np.abs(ours.current - theirs).max() / np.abs(theirs).max()))
display(table([{"t": t, "adjoint": ours.current[t, 0], "autograd": theirs[t, 0]}
               for t in range(0, 60, 6)], ["t", "adjoint", "autograd"]))

# %% [markdown]
# ### Finite differences for one case
#
# With the spike pattern held fixed the loss is smooth in the input and the parameters, so
# central differences must agree with the adjoint run with psi = 0.

# %%
case = make_case("lstmlif", "code", "subtract", False, np.random.default_rng(3), 80, 3)
fd = finite_difference_check(case, np.random.default_rng(4))
display(table([{"direction": k, "rel_err": v} for k, v in fd["errors"].items()],
              ["direction", "rel_err"]))
print("step h =", fd["h"], "| spike pattern kept:", fd["pattern_kept"])

# %% [markdown]
# **Try it:** another surrogate (`verify_table(surrogate="fast_sigmoid")`), silent inputs
# (`input_scale=0`: every row becomes vacuous and fails), or a single case with
# `check_case(make_case(...), rng)`.

# %%
row = check_case(make_case("alif", "paper", "zero", True, np.random.default_rng(5), 80, 3),
                 np.random.default_rng(6))
display(table([row], ["model", "convention", "reset", "detach_reset", "spikes",
                      "autograd_rel_err", "fd_rel_err", "ok", "problems"]))
