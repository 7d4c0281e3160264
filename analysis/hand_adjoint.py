r"""The paper's hand-derived adjoints of BPTT (LIF, ALIF, two compartments), in NumPy float64.

These recursions are objects of study: they are what the paper and this project derived by hand
from the step functions. ``analysis.adjoint`` generates the same recursion for any model from
its step function; the tests tie the two to each other and to autograd (1e-10 in float64).

Given a NumPy trajectory (``neurons.simulate``) and the loss gradients g_S[t] = dL/dS[t] and
g_x[t] = dL/dx[t] taken *explicitly* (L = sum_t g_S[t] S[t] + sum_t g_x[t] . x[t] to first
order), this module runs the backward recursion derived below by hand from the step functions in
``neurons/models.py`` (no autograd, no SymPy at run time) and returns dL/dI[t], the total
adjoint of every state and dL/d(parameters).

Notation and what is computed
-----------------------------
x[t] is the carried state after step t (pre-reset potentials: v; u, a; d, s), z[t] the spike
argument (``model.spike_argument``), S[t] = H(z[t]) with surrogate slope psi[t] = psi(z[t]).
Step t is a map F_t: (x[t-1], S[t-1], I[t]) -> x[t]; x[0] = 0, S[0] = 0. The reset spike is
S^r = S (gradient flows) or stop_gradient(S) (``detach_reset``); k = 1, or k = 0 if detached.
The *state adjoint* is lambda[t] = dL/dx[t] for a perturbation of x[t] after step t (S[t] and
all later steps recomputed from it): the adjoint of the Markov state whose one-step Jacobian is
the J_t of docs/theory.md. With Sbar[t] = dL/dS[t] (total), for t = T..1 (lambda[T+1] = 0):

    Sbar[t]   = g_S[t] + (dF_{t+1}/dS[t])^T lambda[t+1]
    lambda[t] = g_x[t] + (dF_{t+1}/dx[t])^T lambda[t+1] + (dz/dx)^T psi[t] Sbar[t]
    dL/dI[t]  = (dF_t/dI[t])^T lambda[t]
    dL/dtheta = sum_t (dF_t/dtheta)^T lambda[t] + sum_t (dz[t]/dtheta) psi[t] Sbar[t]

dF/dS holds only the explicit S-paths; k multiplies those through the reset. ``psi_zero=True``
sets psi = 0: the exact derivative of L with the spike pattern held fixed (finite differences).
Below, subscript p means the previous step (v_p = v[t-1], S_p = S[t-1]); [sub], [zero] select
the reset; c = 1 (paper) or alpha (code) is the factor in front of the reset. A hard reset
brings the potential the next step leaks from to 0 in both conventions (the paper form
subtracts leak * potential * S outside the leak), so for LIF and ALIF [zero] is the code form.

LIF.  v = alpha v_p - c r + I,  r = v_th S^r_p [sub] | v_p S^r_p [zero, c = alpha];
    z = v - v_th.  dv/dv_p = alpha - c S_p [zero];  dv/dS_p = -c k (v_th [sub] | v_p [zero]);
    dv/dI = 1;  dv/dalpha = v_p (paper, sub) | v_p - r_p (code or zero);
    dv/dv_th = -c S_p [sub];  dz/dv_th = -1;
    alpha = exp(-dt/tau_m)  =>  dalpha/dtau_m = alpha dt / tau_m^2.

ALIF.  a = rho a_p + (1 - rho) S_p (S not detached);  A = b0 + beta_a a;  z = u - A;
    paper: u = alpha u_p + (1-alpha) I - A S^r_p [sub] | - alpha u_p S^r_p [zero];
    code:  u = alpha (u_p - r) + (1-alpha) I,  r = A_p S^r_p [sub] | u_p S^r_p [zero].
    da/da_p = rho, da/dS_p = 1 - rho, da/drho = a_p - S_p;
    du/du_p = alpha (1 - S_p) [zero] | alpha [sub];
    du/da_p = -beta_a rho S_p [paper, sub] | -alpha beta_a S_p [code, sub] | 0 [zero];
    du/dS_p = -k A - beta_a (1-rho) S_p [paper, sub] (A itself holds S_p)
              | -alpha k A_p [code, sub] | -alpha k u_p [zero];
    du/dI = 1 - alpha;  du/dalpha = u_p - I (paper, sub) | u_p - r_p - I (code or zero);
    du/drho = -beta_a (a_p - S_p) S_p [paper, sub];
    du/dbeta_a = -a S_p [paper, sub] | -alpha a_p S_p [code, sub];  du/db0 = -S_p | -alpha S_p;
    dz/du = 1, dz/da = -beta_a, dz/dbeta_a = -a, dz/db0 = -1;  dalpha/dtau_m = alpha dt/tau_m^2,
    drho/dtau_a = rho dt/tau_a^2.

Two compartments (LSTM-LIF: alpha1 = alpha2 = 1).  z = s - v_th.
    paper: d = a1 d_p + b1 s_p + I - gamma S^r_p;  s = a2 s_p + b2 d - r_s [sub] | - a2 r_s [zero];
    code:  d = a1 d' + b1 s' + I,  s = a2 s' + b2 d,  d' = d_p - gamma S^r_p,  s' = s_p - r_s;
    r_s = v_th S^r_p [sub] | s_p S^r_p [zero].
    s depends on the *new* d, so with mu[t] = lambda_d[t] + b2 lambda_s[t] (the adjoint of the
    intermediate d[t], which also feeds s[t]) the step's transposed Jacobian reads
    paper: lambda_d[t-1] <- a1 mu,  lambda_s[t-1] <- b1 mu + a2 (1 - S_p [zero]) lambda_s,
           Sbar[t-1] <- -k (gamma mu + (v_th [sub] | a2 s_p [zero]) lambda_s);
    code:  d'bar = a1 mu, s'bar = b1 mu + a2 lambda_s;  lambda_d[t-1] <- d'bar,
           lambda_s[t-1] <- (1 - S_p [zero]) s'bar,
           Sbar[t-1] <- -k (gamma d'bar + (v_th [sub] | s_p [zero]) s'bar);
    dL/dI[t] = mu[t];  dF/dtheta: a1 -> mu d_p | mu d';  b1 -> mu s_p | mu s';  a2 -> lambda_s s_p
    (s_p (1 - S_p) [zero]) | lambda_s s';  b2 -> lambda_s d;  gamma -> -mu S_p | -a1 mu S_p;
    v_th [sub] -> -lambda_s S_p | -s'bar S_p;  plus dz/dv_th = -1.
    Logits: beta1 = -sigmoid(c1), beta2 = sigmoid(c2), so
    dL/dc1 = dL/dbeta1 * beta1 (1 + beta1) and dL/dc2 = dL/dbeta2 * beta2 (1 - beta2).

Parameter gradients are summed over time and over the batch axes a parameter was broadcast
along, so each has its parameter's shape.

Usage (current, g, h: NumPy arrays (T, *batch))::

    trace = simulate(LSTMLIF(), current)
    res = hand_adjoint(trace, current, grad_spikes=g, grad_states={"s": h})
    res.current, res.states["d"], res.params["beta1"]      # dL/dI, lambda_d, dL/dbeta1
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmlif.neurons import ALIF, LIF, NUMPY_OPS, RESETS, NeuronModel, Trace, TwoCompartment

from .adjoint import AdjointResult, _prev, prepare, reduce_to_shape, surrogate_slopes

__all__ = ["hand_adjoint", "has_hand_recursion", "HAND_MODELS"]

HAND_MODELS = (LIF, ALIF, TwoCompartment)
"""The model classes with a hand-derived recursion (subclasses included when they keep the step)."""


def _hand_kind(model: NeuronModel) -> type | None:
    if model.reset not in RESETS:  # e.g. the two-compartment "soma" reset: not derived by hand
        return None
    return next(
        (c for c in HAND_MODELS if isinstance(model, c) and type(model).step is c.step), None
    )


def has_hand_recursion(model: NeuronModel) -> bool:
    """True when ``model`` runs the step of LIF, ALIF or the two-compartment model with a reset
    derived by hand ("subtract" or "zero"; not the two-compartment "soma" reset)."""
    return _hand_kind(model) is not None


def hand_adjoint(
    source: Trace | NeuronModel,
    current: Any = None,
    grad_spikes: Any = None,
    grad_states: dict[str, Any] | None = None,
    *,
    psi_zero: bool = False,
) -> AdjointResult:
    """The hand-derived recursion of LIF, ALIF or a two-compartment model (arguments and result
    as ``analysis.adjoint.adjoint``). Raises ValueError for any other model."""
    prep = prepare(source, current, grad_spikes, grad_states)
    model = prep.model
    kind = _hand_kind(model)
    if kind is None:
        raise ValueError(
            f"hand_adjoint: no recursion is derived by hand for {type(model).__name__} with "
            f"reset={model.reset!r}; use analysis.adjoint.adjoint (generated from the step)"
        )
    psi = surrogate_slopes(prep, psi_zero)
    p = model.coefficients(NUMPY_OPS)
    states, spikes, gS, gX = prep.states, prep.spikes, prep.grad_spikes, prep.grad_states
    rr = 0.0 if model.detach_reset else 1.0
    if kind is LIF:
        out = _lif(model, p, states, spikes, psi, gS, gX, rr)
    elif kind is ALIF:
        if prep.current is None:
            raise ValueError("adjoint: ALIF needs the input current (its tau_m gradient uses I)")
        out = _alif(model, p, states, spikes, prep.current, psi, gS, gX, rr)
    else:
        out = _two_compartment(model, p, states, spikes, psi, gS, gX, rr)
    dI, lam, Sbar, raw = out
    params = {}
    for name, value in model.params().items():
        params[name] = reduce_to_shape(raw[name], np.shape(value))
    return AdjointResult(dI, lam, Sbar, params, psi, model)


# ----------------------------------------------------------------------------- the recursions


def _lif(model: LIF, p: Any, x: dict, S: np.ndarray, psi, gS, gX, rr: float):
    v = x["v"]
    T = v.shape[0]
    zero = p.reset == "zero"
    # a hard reset is written identically in both conventions: v = alpha v_p (1 - S^r_p) + I
    code = p.convention == "code" or zero
    alpha = p.alpha
    c = alpha if code else 1.0
    lam = np.zeros_like(v)
    Sbar = np.zeros_like(v)
    for t in range(T - 1, -1, -1):
        sb = gS[t]
        acc = gX["v"][t]
        if t + 1 < T:
            ln = lam[t + 1]
            dr_dS = v[t] if zero else p.v_th
            sb = sb - rr * c * dr_dS * ln
            acc = acc + ((alpha - c * S[t]) if zero else alpha) * ln
        Sbar[t] = sb
        lam[t] = acc + psi[t] * sb
    v_p, S_p = _prev(v), _prev(S)
    r_p = (v_p if zero else p.v_th) * S_p
    dalpha = lam * (v_p - r_p if code else v_p)
    dvth = -psi * Sbar
    if not zero:
        dvth = dvth - c * S_p * lam
    raw = {"v_th": dvth}
    if model.tau_m is not None:
        raw["tau_m"] = dalpha * (alpha * model.dt / model.tau_m**2)
    else:
        raw["alpha"] = dalpha
    return lam, {"v": lam}, Sbar, raw


def _alif(model: ALIF, p, x: dict, S, current, psi, gS, gX, rr: float):
    u, a = x["u"], x["a"]
    T = u.shape[0]
    zero = p.reset == "zero"
    # a hard reset is written identically in both conventions: u = alpha u_p (1 - S^r_p) + ...
    code = p.convention == "code" or zero
    alpha, rho, beta_a, b0 = p.alpha, p.rho, p.beta_a, p.b0
    A = b0 + beta_a * a
    lu = np.zeros_like(u)
    la = np.zeros_like(u)
    Sbar = np.zeros_like(u)
    for t in range(T - 1, -1, -1):
        sb = gS[t]
        acc_u = gX["u"][t]
        acc_a = gX["a"][t]
        if t + 1 < T:
            nu, na = lu[t + 1], la[t + 1]
            # the explicit derivatives of step t+1 with respect to u[t], a[t], S[t]
            if code:
                du_du = alpha * (1.0 - S[t]) if zero else alpha
                du_da = 0.0 if zero else -alpha * beta_a * S[t]
                du_dS = -alpha * rr * (u[t] if zero else A[t])
            else:
                du_du = alpha - S[t] if zero else alpha
                du_da = 0.0 if zero else -beta_a * rho * S[t]
                if zero:
                    du_dS = -rr * u[t]
                else:
                    du_dS = -rr * A[t + 1] - beta_a * (1.0 - rho) * S[t]
            sb = sb + (1.0 - rho) * na + du_dS * nu
            acc_u = acc_u + du_du * nu
            acc_a = acc_a + rho * na + du_da * nu
        Sbar[t] = sb
        zbar = psi[t] * sb
        lu[t] = acc_u + zbar
        la[t] = acc_a - beta_a * zbar
    zbar = psi * Sbar
    u_p, a_p, S_p = _prev(u), _prev(a), _prev(S)
    if code:
        r_p = (u_p if zero else b0 + beta_a * a_p) * S_p
        dalpha = lu * (u_p - r_p - current)
    else:
        dalpha = lu * (u_p - current)
    drho = la * (a_p - S_p)
    dbeta = -zbar * a
    db0 = -zbar
    if not zero:
        if code:
            dbeta = dbeta - lu * alpha * a_p * S_p
            db0 = db0 - lu * alpha * S_p
        else:
            drho = drho - lu * beta_a * (a_p - S_p) * S_p
            dbeta = dbeta - lu * a * S_p
            db0 = db0 - lu * S_p
    raw = {
        "tau_m": dalpha * (alpha * model.dt / model.tau_m**2),
        "tau_a": drho * (rho * model.dt / model.tau_a**2),
        "beta_a": dbeta,
        "b0": db0,
    }
    return (1.0 - alpha) * lu, {"u": lu, "a": la}, Sbar, raw


def _two_compartment(model: TwoCompartment, p, x: dict, S, psi, gS, gX, rr: float):
    d, s = x["d"], x["s"]
    T = d.shape[0]
    zero = p.reset == "zero"
    code = p.convention == "code"
    a1, a2, b1, b2, gamma, v_th = p.alpha1, p.alpha2, p.beta1, p.beta2, p.gamma, p.v_th
    ld = np.zeros_like(d)
    ls = np.zeros_like(d)
    Sbar = np.zeros_like(d)
    for t in range(T - 1, -1, -1):
        sb = gS[t]
        acc_d = gX["d"][t]
        acc_s = gX["s"][t]
        if t + 1 < T:
            ns = ls[t + 1]
            mu = ld[t + 1] + b2 * ns
            rs_dS = s[t] if zero else v_th
            if code:
                dbar = a1 * mu
                sbar = b1 * mu + a2 * ns
                acc_d = acc_d + dbar
                acc_s = acc_s + ((1.0 - S[t]) * sbar if zero else sbar)
                sb = sb - rr * (gamma * dbar + rs_dS * sbar)
            else:
                acc_d = acc_d + a1 * mu
                acc_s = acc_s + b1 * mu + (a2 * (1.0 - S[t]) if zero else a2) * ns
                sb = sb - rr * (gamma * mu + (a2 * rs_dS if zero else rs_dS) * ns)
        Sbar[t] = sb
        ls[t] = acc_s + psi[t] * sb
        ld[t] = acc_d
    mu = ld + b2 * ls
    d_p, s_p, S_p = _prev(d), _prev(s), _prev(S)
    if code:
        d_post = d_p - gamma * S_p
        s_post = s_p - (s_p if zero else v_th) * S_p
        raw = {
            "alpha1": mu * d_post,
            "beta1": mu * s_post,
            "alpha2": ls * s_post,
            "gamma": -a1 * mu * S_p,
        }
        dvth = -(b1 * mu + a2 * ls) * S_p
    else:
        raw = {
            "alpha1": mu * d_p,
            "beta1": mu * s_p,
            "alpha2": ls * (s_p * (1.0 - S_p) if zero else s_p),
            "gamma": -mu * S_p,
        }
        dvth = -ls * S_p
    raw["beta2"] = ls * d
    raw["v_th"] = -psi * Sbar + (0.0 if zero else dvth)
    return mu, {"d": ld, "s": ls}, Sbar, raw
