"""The adjoints against independent references: the one generated from each step function
(analysis.adjoint) and the paper's hand-derived recursions (analysis.hand_adjoint), tied three
ways (generated = hand = autograd) wherever a hand recursion exists.

- PyTorch autograd through ``neurons.simulate`` (dL/dI, dL/dtheta) and through
  ``model.transition`` with zero perturbations (state adjoints), float64, relative 1e-10;
- central finite differences of the NumPy simulation against the psi = 0 adjoint, with the spike
  pattern checked to be unchanged by every perturbation, relative 1e-6;
- tiny LIF and LSTM-LIF cases worked out by hand.
Every check through spikes asserts that spikes occurred and that the gradient is finite and
non-zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lstmlif.analysis.adjoint import (
    AdjointResult,
    adjoint,
    logit_gradients,
    raw_gradients,
    reduce_to_shape,
)
from lstmlif.analysis.hand_adjoint import hand_adjoint
from lstmlif.neurons import (
    ALIF,
    LIF,
    LSTMLIF,
    TORCH_OPS,
    Trace,
    TwoCompartment,
    get_model,
    get_surrogate,
    simulate,
)

MODEL_NAMES = ("lif", "alif", "two_compartment", "lstmlif")
SURROGATE_PARAMS = {
    "triangle": ("width", 0.5, 2.0),
    "rectangle": ("width", 0.5, 2.0),
    "fast_sigmoid": ("slope", 1.0, 25.0),
    "sigmoid": ("slope", 1.0, 8.0),
    "arctan": ("alpha", 1.0, 4.0),
    "multi_gaussian": ("sigma", 0.3, 0.8),
}
# Parameter ranges of the random cases (lo, hi); beta2 is drawn as sign * [0.1, 1].
RANGES = {
    "alpha": (0.3, 1.0),
    "tau_m": (2.0, 50.0),
    "v_th": (0.5, 2.0),
    "tau_a": (10.0, 700.0),
    "beta_a": (0.0, 3.0),
    "b0": (0.05, 1.0),
    "alpha1": (0.3, 1.0),
    "alpha2": (0.3, 1.0),
    "beta1": (-1.0, 1.0),
    "beta2": (0.1, 1.0),
    "gamma": (-0.5, 1.0),
}
# Narrower ranges for finite differences: every +-h perturbation stays valid, growth is moderate.
INTERIOR = {
    "alpha": (0.3, 0.99),
    "alpha1": (0.3, 0.99),
    "alpha2": (0.3, 0.99),
    "beta_a": (0.01, 3.0),
    "beta1": (-0.8, 0.8),
    "beta2": (0.1, 0.8),
}
PARAMS = {
    "lif": ("alpha", "v_th"),
    "lif_tau": ("tau_m", "v_th"),
    "alif": ("tau_m", "tau_a", "beta_a", "b0"),
    "two_compartment": ("alpha1", "alpha2", "beta1", "beta2", "gamma", "v_th"),
    "lstmlif": ("beta1", "beta2", "gamma", "v_th"),
}
AUTOGRAD_RTOL = 1e-10
IMPLS = (adjoint, hand_adjoint)
FD_RTOL = 1e-6


# ----------------------------------------------------------------------------- random cases


@st.composite
def spiking_cases(draw, name: str, steps=(100, 110), batch=(1, 3), interior: bool = False):
    """(model, current (T, *batch) or (T, 1), g_S, g_x): random switches, surrogate, parameters
    (scalars, or per-neuron arrays), and a current whose first step makes every neuron spike.
    ``interior``: parameters kept off the edges of their allowed ranges (finite differences) and
    |beta| <= 0.8."""
    conv = draw(st.sampled_from(["paper", "code"]))
    reset = draw(st.sampled_from(["subtract", "zero"]))
    detach = draw(st.booleans())
    sname = draw(st.sampled_from(sorted(SURROGATE_PARAMS)))
    key, lo, hi = SURROGATE_PARAMS[sname]
    surrogate = get_surrogate(sname, **{key: draw(st.floats(lo, hi))})
    T = draw(st.integers(*steps))
    B = draw(st.integers(*batch))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    per_neuron = draw(st.booleans())
    shared_current = per_neuron and draw(st.booleans())
    kind = "lif_tau" if name == "lif" and draw(st.booleans()) else name
    sign2 = draw(st.sampled_from([-1.0, 1.0]))
    params = {}
    for p in PARAMS[kind]:
        lo, hi = INTERIOR.get(p, RANGES[p]) if interior else RANGES[p]
        if per_neuron:
            value = rng.uniform(lo, hi, size=B)
        else:
            value = draw(st.floats(lo, hi))
        params[p] = sign2 * value if p == "beta2" else value
    model = get_model(
        name, convention=conv, reset=reset, detach_reset=detach, surrogate=surrogate, **params
    )
    # the first step's current that puts every neuron above threshold by a factor kick
    kick = draw(st.floats(1.1, 1.9))
    if name == "lif":
        alpha = np.exp(-1.0 / params["tau_m"]) if kind == "lif_tau" else params["alpha"]
        unit = params["v_th"] * (1.0 - alpha) + 0.1 * params["v_th"]
        first = kick * np.asarray(params["v_th"])
    elif name == "alif":
        alpha = np.exp(-1.0 / params["tau_m"])
        unit = 1.5 * params["b0"] + 0.3 * params["beta_a"]
        first = kick * np.asarray(params["b0"]) / (1.0 - alpha)
    else:
        leak = 1.0 - np.asarray(params.get("alpha1", 1.0)) * np.asarray(params.get("alpha2", 1.0))
        unit = params["v_th"] * (0.15 + 0.5 * leak) / np.asarray(params["beta2"])
        first = kick * np.asarray(params["v_th"]) / np.asarray(params["beta2"])
    width = 1 if shared_current else B
    mean = draw(st.floats(-0.3, 1.0) if name == "lstmlif" else st.floats(0.3, 2.0))
    std = draw(st.floats(0.3, 1.5))
    unit = np.broadcast_to(unit, (B,))[:width] if not shared_current else np.mean(unit)
    current = unit * (mean + std * rng.standard_normal((T, width)))
    first = np.broadcast_to(first, (B,))
    current[0] = first[:width] if not shared_current else first[np.argmax(np.abs(first))]
    g_s = rng.standard_normal((T, B))
    g_x = {n: rng.standard_normal((T, B)) for n in model.state_names}
    return model, current, g_s, g_x


def torch_model(model, dtype=torch.float64):
    """The same model with every parameter a float64 leaf tensor requiring grad."""
    leaves = {
        k: torch.tensor(np.asarray(v, dtype=np.float64), dtype=dtype, requires_grad=True)
        for k, v in model.params().items()
    }
    return model.replace(**leaves), leaves


def autograd_reference(model, current, g_s, g_x):
    """dL/dI (shape of current) and dL/dtheta by autograd through neurons.simulate."""
    t_model, leaves = torch_model(model)
    cur = torch.tensor(current, requires_grad=True)
    trace = simulate(t_model, cur)
    loss = (torch.tensor(g_s) * trace.spikes).sum()
    for n, g in g_x.items():
        loss = loss + (torch.tensor(g) * trace.states[n]).sum()
    names = list(leaves)
    grads = torch.autograd.grad(loss, [cur, *(leaves[k] for k in names)])
    return grads[0].numpy(), {k: g.numpy() for k, g in zip(names, grads[1:], strict=True)}


def state_reference(model, current, g_s, g_x):
    """dL/dx[t] by autograd: a zero perturbation eps[t] is added to the state after each step
    (``model.transition``), S[t] recomputed from the perturbed state; dL/deps = dL/dx[t]."""
    t_model, _ = torch_model(model)
    p = t_model.coefficients(TORCH_OPS)
    T = current.shape[0]
    B = g_s.shape[1:]
    cur = torch.tensor(np.broadcast_to(current, (T, *B)).copy())
    eps = {n: torch.zeros((T, *B), dtype=torch.float64, requires_grad=True) for n in g_x}
    x = {n: torch.zeros(B, dtype=torch.float64) for n in g_x}
    loss = torch.zeros((), dtype=torch.float64)
    for t in range(T):
        x = t_model.transition(x, cur[t], TORCH_OPS)
        x = {n: x[n] + eps[n][t] for n in x}
        S = TORCH_OPS.spike(t_model.spike_argument(p, x, TORCH_OPS), t_model.surrogate)
        loss = loss + (torch.tensor(g_s[t]) * S).sum()
        loss = loss + sum((torch.tensor(g_x[n][t]) * x[n]).sum() for n in x)
    names = list(eps)
    grads = torch.autograd.grad(loss, [eps[n] for n in names])
    return {n: g.numpy() for n, g in zip(names, grads, strict=True)}


def rel_err(ours, ref) -> float:
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    scale = np.max(np.abs(ref))
    assert np.isfinite(scale) and scale > 0, "reference gradient is zero or not finite"
    return float(np.max(np.abs(ours - ref)) / scale)


def assert_not_vacuous(model, current, result: AdjointResult) -> Trace:
    trace = simulate(model, current)
    assert trace.spikes.sum() >= 1, "no spike: the check would be vacuous"
    assert np.any(result.psi != 0), "psi = 0 at every step: the surrogate path is not exercised"
    assert np.all(np.isfinite(result.current)) and np.linalg.norm(result.current) > 0
    for k, g in result.params.items():
        assert np.all(np.isfinite(g)), k
    assert any(np.any(g != 0) for g in result.params.values())
    return trace


# ----------------------------------------------------------------------------- (1) autograd


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_adjoint_matches_autograd(name, data):
    model, current, g_s, g_x = data.draw(spiking_cases(name))
    ours = adjoint(model, current, g_s, g_x)
    assume(np.any(ours.psi != 0))  # a narrow surrogate may miss every step: not a psi check
    assert_not_vacuous(model, current, ours)
    hand = hand_adjoint(model, current, g_s, g_x)
    ref_current, ref_params = autograd_reference(model, current, g_s, g_x)
    for res in (ours, hand):  # generated = autograd and hand = autograd
        assert rel_err(reduce_to_shape(res.current, current.shape), ref_current) < AUTOGRAD_RTOL
        for k, g in ref_params.items():
            assert np.shape(res.params[k]) == np.shape(model.params()[k])
            if np.any(g != 0):
                assert rel_err(res.params[k], g) < AUTOGRAD_RTOL, k
            else:
                assert np.all(res.params[k] == 0), k
    # generated = hand, every quantity (the total spike adjoints too)
    assert rel_err(ours.current, hand.current) < AUTOGRAD_RTOL
    assert rel_err(ours.spikes, hand.spikes) < AUTOGRAD_RTOL
    for n in model.state_names:
        assert rel_err(ours.states[n], hand.states[n]) < AUTOGRAD_RTOL, n


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_state_adjoints_match_autograd(name, data):
    model, current, g_s, g_x = data.draw(spiking_cases(name, steps=(100, 105), batch=(1, 2)))
    ours = adjoint(model, current, g_s, g_x)
    assume(np.any(ours.psi != 0))  # a narrow surrogate may miss every step: not a psi check
    assert_not_vacuous(model, current, ours)
    hand = hand_adjoint(model, current, g_s, g_x)
    ref = state_reference(model, current, g_s, g_x)
    for n in model.state_names:
        assert rel_err(ours.states[n], ref[n]) < AUTOGRAD_RTOL, n
        assert rel_err(hand.states[n], ref[n]) < AUTOGRAD_RTOL, n


def test_surrogate_path_matters():
    """The psi-terms are exercised: without them the gradient differs from autograd's."""
    rng = np.random.default_rng(3)
    model = LSTMLIF(beta1=-0.6, beta2=0.7, gamma=0.5, v_th=1.0)
    current = 0.1 + 0.5 * rng.standard_normal((100, 3))
    g_s, g_x = rng.standard_normal((100, 3)), {"d": np.zeros((100, 3)), "s": np.zeros((100, 3))}
    full = adjoint(model, current, g_s, g_x)
    fixed = adjoint(model, current, g_s, g_x, psi_zero=True)
    ref_current, _ = autograd_reference(model, current, g_s, g_x)
    assert simulate(model, current).spikes.sum() > 10
    assert rel_err(full.current, ref_current) < AUTOGRAD_RTOL
    assert rel_err(fixed.current, ref_current) > 1e-2
    assert np.all(fixed.psi == 0) and np.any(full.psi > 0)


@settings(max_examples=30)
@given(
    c1=st.floats(-3.0, 3.0),
    c2=st.floats(-3.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
    conv=st.sampled_from(["paper", "code"]),
)
def test_logit_gradients_match_autograd(c1, c2, seed, conv):
    rng = np.random.default_rng(seed)
    T, B = 100, 2
    current = 0.3 * (0.3 + rng.standard_normal((T, B)))
    current[0] = 2.0 * (1.0 + math.exp(-c2))  # s[1] = beta2 I[1] = 2 v_th: a spike
    g_s, g_x = rng.standard_normal((T, B)), {"s": rng.standard_normal((T, B))}
    ours = adjoint(LSTMLIF.from_logits(c1, c2, convention=conv), current, g_s, g_x)
    assert_not_vacuous(LSTMLIF.from_logits(c1, c2, convention=conv), current, ours)
    tc1 = torch.tensor(c1, dtype=torch.float64, requires_grad=True)
    tc2 = torch.tensor(c2, dtype=torch.float64, requires_grad=True)
    trace = simulate(LSTMLIF.from_logits(tc1, tc2, convention=conv), torch.tensor(current))
    loss = (torch.tensor(g_s) * trace.spikes).sum() + (torch.tensor(g_x["s"]) * trace["s"]).sum()
    ref1, ref2 = (g.item() for g in torch.autograd.grad(loss, [tc1, tc2]))
    assert ref1 != 0 and ref2 != 0
    ours_c = logit_gradients(ours, c1, c2)
    assert abs(ours_c["c1"] - ref1) <= AUTOGRAD_RTOL * abs(ref1)
    assert abs(ours_c["c2"] - ref2) <= AUTOGRAD_RTOL * abs(ref2)
    # the same chain through the model's declared parameterisation (SymPy's d form / d raw)
    raw = raw_gradients(ours, {"c1": c1, "c2": c2})
    assert abs(raw["c1"] - ref1) <= AUTOGRAD_RTOL * abs(ref1)
    assert abs(raw["c2"] - ref2) <= AUTOGRAD_RTOL * abs(ref2)


def test_parameter_grids_reduce_to_their_shapes():
    """Parameters (3, 1) and (4,) against a current (T, 1, 4): batch (3, 4)."""
    rng = np.random.default_rng(7)
    model = TwoCompartment(
        alpha1=np.array([[0.9], [0.95], [1.0]]),
        beta1=np.array([-0.5, -0.3, 0.2, -0.8]),
        beta2=0.6,
        v_th=np.array([[1.0], [1.2], [0.8]]),
    )
    current = 0.3 + 0.6 * rng.standard_normal((100, 1, 4))
    g_s = rng.standard_normal((100, 3, 4))
    g_x = {"s": rng.standard_normal((100, 3, 4))}
    ours = adjoint(model, current, g_s, g_x)
    assert ours.current.shape == (100, 3, 4)
    assert ours.params["alpha1"].shape == (3, 1) and ours.params["beta1"].shape == (4,)
    assert np.shape(ours.params["beta2"]) == () and ours.params["v_th"].shape == (3, 1)
    assert np.shape(ours.params["alpha2"]) == ()
    assert_not_vacuous(model, current, ours)
    ref_current, ref_params = autograd_reference(model, current, g_s, g_x)
    assert rel_err(reduce_to_shape(ours.current, (100, 1, 4)), ref_current) < AUTOGRAD_RTOL
    for k, g in ref_params.items():
        assert rel_err(ours.params[k], g) < AUTOGRAD_RTOL, k


# ----------------------------------------------------------------------------- (2) finite diffs


def numpy_loss(model, current, g_s, g_x):
    """Spikes and L = sum g_S S + sum g_x x of a NumPy run."""
    trace = simulate(model, current)
    value = (g_s * trace.spikes).sum() + sum((g * trace.states[n]).sum() for n, g in g_x.items())
    return trace.spikes, float(value)


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_finite_differences_match_psi_zero_adjoint(name, data):
    """Central differences along random directions in I and in each parameter, each perturbed
    run checked to keep the spike pattern, against the adjoint with psi = 0.

    The differences at h and h/2 must agree to a tenth of the tolerance before they judge the
    adjoint: where they do not (a map that grows below threshold, beta1 beta2 > 0, reaches 1e13
    within 110 steps and leaves no digits for a difference quotient), or where no step keeps the
    spike pattern (the derivative with the pattern held fixed does not exist), the draw is
    discarded, not passed."""
    model, current, g_s, g_x = data.draw(
        spiking_cases(name, steps=(100, 110), batch=(1, 2), interior=True)
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    base, _ = numpy_loss(model, current, g_s, g_x)
    assert base.sum() >= 1
    ours = adjoint(model, current, g_s, g_x, psi_zero=True)
    assert np.all(ours.psi == 0)
    directions = [("current", rng.standard_normal(current.shape))]
    directions += [(k, rng.standard_normal(np.shape(v))) for k, v in model.params().items()]
    analytic = {
        k: float(
            np.sum(
                (reduce_to_shape(ours.current, current.shape) if k == "current" else ours.params[k])
                * d
            )
        )
        for k, d in directions
    }
    scale = max(abs(a) for a in analytic.values())
    assert math.isfinite(scale) and scale > 0
    for k, d in directions:
        size = 1.0 if k == "current" else max(1.0, float(np.max(np.abs(model.params()[k]))))
        tol = FD_RTOL * max(abs(analytic[k]), 1e-3 * scale)
        for h in (1e-6 * size, 1e-7 * size, 1e-8 * size, 1e-9 * size):
            runs = []
            for step in (h, -h, h / 2, -h / 2):
                if k == "current":
                    runs.append(numpy_loss(model, current + step * d, g_s, g_x))
                else:
                    moved = model.replace(**{k: model.params()[k] + step * d})
                    runs.append(numpy_loss(moved, current, g_s, g_x))
            if all(np.array_equal(spikes, base) for spikes, _ in runs):
                break
        assume(all(np.array_equal(spikes, base) for spikes, _ in runs))
        fd_h = (runs[0][1] - runs[1][1]) / (2 * h)
        fd = (runs[2][1] - runs[3][1]) / h
        assume(abs(fd - fd_h) <= 0.1 * tol)  # the differences resolve the derivative
        assert abs(fd - analytic[k]) <= tol, k


# ----------------------------------------------------------------------------- (3) by hand


@pytest.mark.parametrize("impl", IMPLS, ids=["generated", "hand"])
def test_lif_by_hand_paper_subtract(impl):
    """alpha = 0.5, v_th = 1, triangle(1); I = (0.8, 0.9, 0.3); L = S1 + S2 + S3 + v3.

    Forward: v1 = 0.8 (S=0, psi=0.8); v2 = 0.4 + 0.9 = 1.3 (S=1, psi=0.7);
    v3 = 0.65 + 0.3 - 1 = -0.05 (S=0, psi=0).
    dL/dv3 = 1 + psi3 = 1.  dL/dv2 = alpha*1 + psi2*(1 - v_th*dL/dv3) = 0.5 + 0.7*0 = 0.5.
    dL/dv1 = alpha*0.5 + psi1*(1 - v_th*dL/dv2) = 0.25 + 0.8*0.5 = 0.65.
    dL/dalpha = dL/dv2*v1 + dL/dv3*v2 = 0.4 + 1.3 = 1.7.
    dL/dv_th = -S2*dL/dv3 - sum psi*dL/dS = -1 - (0.8*0.5 + 0.7*0 + 0*1) = -1.4.
    """
    model = LIF(alpha=0.5, v_th=1.0)
    current = np.array([[0.8], [0.9], [0.3]])
    res = impl(model, current, np.ones((3, 1)), {"v": np.array([[0.0], [0.0], [1.0]])})
    np.testing.assert_allclose(res.current[:, 0], [0.65, 0.5, 1.0], rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.spikes[:, 0], [0.5, 0.0, 1.0], rtol=0, atol=1e-14)
    assert res.params["alpha"] == pytest.approx(1.7, abs=1e-14)
    assert res.params["v_th"] == pytest.approx(-1.4, abs=1e-14)
    # spike pattern held fixed: v3 = alpha^2 I1 + alpha I2 + I3 - v_th S2, so dv3/dI = (.25, .5, 1)
    fixed = impl(
        model, current, np.ones((3, 1)), {"v": np.array([[0.0], [0.0], [1.0]])}, psi_zero=True
    )
    np.testing.assert_allclose(fixed.current[:, 0], [0.25, 0.5, 1.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("impl", IMPLS, ids=["generated", "hand"])
def test_lif_by_hand_code_zero(impl):
    """Code convention, hard reset: v[t] = alpha (v[t-1] - v[t-1] S[t-1]) + I[t]. Same inputs.

    Forward: v1 = 0.8 (psi 0.8); v2 = 0.4 + 0.9 = 1.3 (S=1, psi 0.7); v3 = 0 + 0.3 (psi 0.3).
    dL/dv3 = 1 + 0.3 = 1.3.  dL/dS2 = 1 - alpha*v2*1.3 = 1 - 0.845 = 0.155;
    dL/dv2 = alpha*(1 - S2)*1.3 + 0.7*0.155 = 0.1085.
    dL/dS1 = 1 - alpha*v1*0.1085 = 0.9566;  dL/dv1 = 0.5*0.1085 + 0.8*0.9566 = 0.81953.
    dL/dalpha = 0.1085*(v1 - 0) + 1.3*(v2 - v2) = 0.0868.
    dL/dv_th = -(0.8*0.9566 + 0.7*0.155 + 0.3*1) = -1.17378.
    """
    model = LIF(alpha=0.5, v_th=1.0, convention="code", reset="zero")
    current = np.array([[0.8], [0.9], [0.3]])
    res = impl(model, current, np.ones((3, 1)), {"v": np.array([[0.0], [0.0], [1.0]])})
    np.testing.assert_allclose(res.current[:, 0], [0.81953, 0.1085, 1.3], rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.spikes[:, 0], [0.9566, 0.155, 1.0], rtol=0, atol=1e-14)
    assert res.params["alpha"] == pytest.approx(0.0868, abs=1e-14)
    assert res.params["v_th"] == pytest.approx(-1.17378, abs=1e-14)


@pytest.mark.parametrize("impl", IMPLS, ids=["generated", "hand"])
def test_lstmlif_by_hand(impl):
    """beta1 = -0.5, beta2 = 0.5, gamma = 0.5, v_th = 1, paper, subtract, triangle(1);
    I = (1.2, 0.4, 0.2); L = S1 + S2 + S3 + s3.

    Forward: d1 = 1.2, s1 = 0.6 (psi 0.6, S=0); d2 = 1.2 - 0.3 + 0.4 = 1.3,
    s2 = 0.6 + 0.65 = 1.25 (psi 0.75, S=1); d3 = 1.3 - 0.625 + 0.2 - 0.5 = 0.375,
    s3 = 1.25 + 0.1875 - 1 = 0.4375 (psi 0.4375, S=0).
    Step 3: dL/dS3 = 1, lambda_s3 = 1 + 0.4375 = 1.4375, lambda_d3 = 0,
            mu3 = lambda_d3 + beta2 lambda_s3 = 0.71875 (= dL/dI3: I3 -> d3 -> s3).
    Step 2: dL/dS2 = 1 - (gamma mu3 + v_th lambda_s3) = 1 - 0.359375 - 1.4375 = -0.796875;
            lambda_s2 = beta1 mu3 + lambda_s3 + psi2 dL/dS2 = -0.359375 + 1.4375 - 0.59765625
            = 0.48046875; lambda_d2 = mu3 = 0.71875; mu2 = 0.71875 + 0.240234375 = 0.958984375.
    Step 1: dL/dS1 = 1 - (0.4794921875 + 0.48046875) = 0.0400390625;
            lambda_s1 = -0.4794921875 + 0.48046875 + 0.6 * 0.0400390625 = 0.025;
            lambda_d1 = mu2 = 0.958984375; mu1 = 0.958984375 + 0.0125 = 0.971484375.
    dL/dbeta1 = mu2 s1 + mu3 s2 = 0.575390625 + 0.8984375 = 1.473828125;
    dL/dbeta2 = sum lambda_s d = 0.03 + 0.624609375 + 0.5390625 = 1.193671875;
    dL/dgamma = -mu3 S2 = -0.71875;
    dL/dv_th = -lambda_s3 S2 - sum psi dL/dS = -1.4375 - (0.0240234375 - 0.59765625 + 0.4375)
             = -1.3013671875.
    """
    model = LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5, v_th=1.0)
    current = np.array([[1.2], [0.4], [0.2]])
    res = impl(model, current, np.ones((3, 1)), {"s": np.array([[0.0], [0.0], [1.0]])})
    np.testing.assert_allclose(simulate(model, current).spikes[:, 0], [0, 1, 0])
    np.testing.assert_allclose(
        res.current[:, 0], [0.971484375, 0.958984375, 0.71875], rtol=0, atol=1e-14
    )
    np.testing.assert_allclose(res.states["d"][:, 0], [0.958984375, 0.71875, 0], atol=1e-14)
    np.testing.assert_allclose(res.states["s"][:, 0], [0.025, 0.48046875, 1.4375], atol=1e-14)
    np.testing.assert_allclose(res.spikes[:, 0], [0.0400390625, -0.796875, 1.0], atol=1e-14)
    expected = {
        "beta1": 1.473828125,
        "beta2": 1.193671875,
        "gamma": -0.71875,
        "v_th": -1.3013671875,
    }
    for k, v in expected.items():
        assert res.params[k] == pytest.approx(v, abs=1e-14), k


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_value_error():
    model = LIF()
    current = np.full((5, 2), 0.5)
    trace = simulate(model, current)
    with pytest.raises(ValueError, match="unknown state name"):
        adjoint(trace, current, None, {"u": np.ones((5, 2))})
    with pytest.raises(ValueError, match="does not broadcast"):
        adjoint(trace, current, np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        adjoint(trace, current, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="give the input current"):
        adjoint(model)
    with pytest.raises(ValueError, match="ALIF needs the input current"):
        adjoint(simulate(ALIF(), current))
    with pytest.raises(ValueError, match="torch"):
        adjoint(simulate(model, torch.tensor(current)))
    with pytest.raises(ValueError, match="torch tensor"):
        adjoint(LIF(alpha=torch.tensor(0.8)), current)
    with pytest.raises(ValueError, match="expected a neurons.Trace"):
        adjoint("lif", current)
    with pytest.raises(ValueError, match="not -sigmoid"):
        logit_gradients(adjoint(LSTMLIF(), current), 0.3, 0.0)
    with pytest.raises(ValueError, match="two-compartment"):
        logit_gradients(adjoint(trace, current), 0.0, 0.0)
    with pytest.raises(ValueError, match="cannot reduce"):
        reduce_to_shape(np.ones((5, 3)), (2,))
