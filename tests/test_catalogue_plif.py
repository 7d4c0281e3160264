"""PLIF (docs/catalogue.md): spikingjelly's charge / fire / reset transcribed here
independently (post-reset v carried), a trace by hand, the sub-threshold J = 1 - sigmoid(w),
the generated adjoint against autograd, both layer backwards, verify, derive's claims and inspect
at rest."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from _catalogue_helpers import (
    check_adjoint_against_autograd,
    claims_hold,
    layer_backwards_agree,
    verify_passes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmlif.analysis.stability import inspect_model, memory_horizon, spectral_radius
from lstmlif.analysis.symbolic import derive
from lstmlif.neurons import get_model, get_surrogate, make_layer, model_names, simulate
from lstmlif.neurons.catalogue.plif import PLIF


def official(current, w, v_th=1.0, v_reset=0.0, decay_input=True, detach=True, v0=None):
    """ParametricLIFNode (spikingjelly afb1322): neuronal_charge, fire (>=), reset; v_reset None
    is the soft reset (charge towards 0). v starts at v0 (the code: v_reset, 0 in soft mode).
    Returns the pre-reset H and the spikes."""
    k = 1 / (1 + np.exp(-w))
    soft = v_reset is None
    vr = 0.0 if soft else v_reset
    v = np.full(current.shape[1:], vr if v0 is None else v0)
    hs, ss = [], []
    for x in current:
        h = v + k * (x - (v - vr)) if decay_input else v - k * (v - vr) + x
        s = (h - v_th >= 0).astype(float)
        v = h - s * v_th if soft else s * vr + (1 - s) * h
        hs.append(h)
        ss.append(s)
    return np.array(hs), np.array(ss)


def test_registered_with_the_pinned_names():
    assert "plif" in model_names("catalogue")
    m = get_model("PLIF")
    assert m.reset == "zero" and m.detach_reset and m.decay_input
    assert m.surrogate == get_surrogate("arctan", alpha=2.0)
    assert tuple(m.params()) == ("w", "v_th", "v_reset")
    assert tuple(m.replace(reset="subtract").params()) == ("w", "v_th")
    with pytest.raises(ValueError, match="decay_input"):
        get_model("plif", decay_input=1.0)


def test_trace_by_hand():
    # w = 0: k = 1/2. X = 3, 1: H1 = 1/2 * 3 = 1.5 (spike, v = 0); H2 = 1/2 * 1 = 0.5.
    tr = simulate(PLIF(w=0.0), np.array([[3.0], [1.0]]))
    np.testing.assert_allclose(tr.states["v"][:, 0], [1.5, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(tr.spikes[:, 0], [1.0, 0.0])
    # soft reset, no input decay: H1 = 0 + 3 = 3 (spike, v = 2); H2 = 2 - 1 + 1 = 2
    soft = PLIF(w=0.0, reset="subtract", decay_input=False)
    tr = simulate(soft, np.array([[3.0], [1.0]]))
    np.testing.assert_allclose(tr.states["v"][:, 0], [3.0, 2.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_golden_trace_against_the_official_code(reset, decay_input):
    rng = np.random.default_rng(7)
    w = -1.2
    current = (1.0 if decay_input else 0.3) * (1.5 + 1.5 * rng.standard_normal((400, 5)))
    v_reset = -0.3 if reset == "zero" else None
    H, s = official(current, w, v_reset=v_reset, decay_input=decay_input, v0=0.0)
    kw = {"v_reset": v_reset} if reset == "zero" else {}
    tr = simulate(PLIF(w=w, reset=reset, decay_input=decay_input, **kw), current)
    assert s.sum() > 50
    np.testing.assert_array_equal(tr.spikes, s)
    np.testing.assert_allclose(tr.states["v"], H, rtol=1e-12, atol=1e-12)


def test_initial_state_deviation_is_only_v_reset():
    """The official v starts at v_reset, ours at 0: identical for v_reset = 0 (the paper)."""
    x = 1.2 + np.random.default_rng(1).standard_normal((200, 3))
    H, s = official(x, 0.3, v_reset=0.0)
    tr = simulate(PLIF(w=0.3), x)
    np.testing.assert_array_equal(tr.spikes, s)
    np.testing.assert_allclose(tr.states["v"], H, rtol=1e-12, atol=1e-12)
    H2, _ = official(x, 0.3, v_reset=-0.5)
    first = simulate(PLIF(w=0.3, v_reset=-0.5), x).states["v"][0]
    k = 1 / (1 + math.exp(-0.3))
    np.testing.assert_allclose(H2[0] - first, (1 - k) * -0.5, rtol=1e-12)


def test_numpy_and_torch_simulate_agree():
    model = PLIF(**PLIF.verify_params, detach_reset=False)
    x = 1.5 + 1.5 * np.random.default_rng(2).standard_normal((200, 5))
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 20
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    np.testing.assert_allclose(got.states["v"].numpy(), ref.states["v"], rtol=0, atol=1e-12)


def test_subthreshold_jacobian_is_one_minus_sigmoid_w():
    w = sp.Symbol("w", real=True)
    for reset in ("zero", "subtract"):
        J = derive("plif", reset=reset).J_sub
        assert J.shape == (1, 1)
        assert sp.simplify(J[0, 0] - (1 - 1 / (1 + sp.exp(-w)))) == 0


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_derive_claims_hold(reset, detach_reset):
    checks = claims_hold("plif", reset=reset, detach_reset=detach_reset)
    assert sum(c["section"] == "PLIF (c)" for c in checks) == 3


@st.composite
def plif_cases(draw):
    reset = draw(st.sampled_from(["zero", "subtract"]))
    detach = draw(st.booleans())
    decay_input = draw(st.booleans())
    sname = draw(st.sampled_from(["arctan", "sigmoid", "rectangle", "triangle"]))
    scale = draw(st.floats(0.7, 2.0))
    surrogate = {
        "arctan": get_surrogate("arctan", alpha=2.0 * scale),
        "sigmoid": get_surrogate("sigmoid", slope=4.0 * scale),
        "rectangle": get_surrogate("rectangle", width=scale),
        "triangle": get_surrogate("triangle", width=scale),
    }[sname]
    T = draw(st.integers(60, 100))
    B = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())
    ranges = {"w": (-3.0, 2.0), "v_th": (0.5, 1.5), "v_reset": (-0.5, 0.3)}
    params = {
        k: rng.uniform(lo, hi, size=B) if per_neuron else draw(st.floats(lo, hi))
        for k, (lo, hi) in ranges.items()
    }
    if reset == "subtract":
        del params["v_reset"]
    model = get_model(
        "plif",
        reset=reset,
        detach_reset=detach,
        decay_input=decay_input,
        surrogate=surrogate,
        **params,
    )
    k = 1 / (1 + np.exp(-np.asarray(params["w"])))
    vth = np.asarray(params["v_th"])
    unit = np.broadcast_to(vth / k if decay_input else vth, (B,))
    current = unit * (
        draw(st.floats(0.2, 1.0)) + draw(st.floats(0.3, 1.0)) * rng.standard_normal((T, B))
    )
    current[0] = draw(st.floats(1.1, 1.6)) * unit + (np.abs(params.get("v_reset", 0.0)))
    return model, current, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=plif_cases())
def test_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_layer_both_backwards_one_w_per_layer(reset):
    kw = {k: v for k, v in PLIF.verify_params.items() if reset == "zero" or k != "v_reset"}
    grads = layer_backwards_agree("plif", reset=reset, detach_reset=False, **kw)
    assert set(grads) == {"input", "w"} and grads["w"].shape == ()
    layer = make_layer("plif", 4, dtype=torch.float64)
    assert not layer.per_neuron and layer.w.shape == ()


def test_verify_command_passes(capsys):
    rows = verify_passes("plif", capsys)
    assert {(r["reset"], r["detach_reset"]) for r in rows} == {
        ("zero", True),
        ("zero", False),
        ("subtract", True),
        ("subtract", False),
    }


def test_inspect_at_rest_decays_for_every_w():
    w = np.linspace(-12.0, 6.0, 73)  # beyond, 1 - k loses digits to rounding
    lam = 1 / (1 + np.exp(w))  # 1 - sigmoid(w)
    model = PLIF(w=w)
    np.testing.assert_allclose(spectral_radius(model), lam, rtol=1e-12)
    assert np.all((lam > 0) & (lam < 1))
    # -1/ln(lambda) near lambda = 1 magnifies rounding by 1/(1 - lambda) (1.6e5 at w = -12)
    np.testing.assert_allclose(memory_horizon(model), -1 / np.log(lam), rtol=1e-9)
    info = inspect_model(PLIF(w=-math.log(2.0 - 1.0)))  # tau_0 = 2: lambda = 1/2
    assert info["spectral_radius"] == pytest.approx(0.5, rel=1e-14)
    assert info["class"] == "decaying"
