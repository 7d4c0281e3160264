"""adLIF (docs/catalogue.md): the update order of sparch's ``_adlif_cell`` transcribed here
independently, a trace by hand, the sub-threshold J typed from the catalogue, the generated
adjoint against autograd on random spiking cases, both layer backwards, verify, derive's claims
and inspect at rest against a < beta - 1."""

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

from lstmlif.analysis.stability import classify, inspect_model, spectral_radius
from lstmlif.analysis.symbolic import derive
from lstmlif.neurons import get_model, get_surrogate, make_layer, model_names, simulate
from lstmlif.neurons.catalogue.adlif import ADLIF_INIT, AdLIF


def sparch_adlif(current: np.ndarray, alpha, beta, a, b, theta: float = 1.0):
    """sparch's adLIF cell (f875625) from zero state, as the official code orders it: w from the
    old u, u from the new w, the reset s[t-1] inside the leak, spike u > theta."""
    u = w = s = np.zeros(current.shape[1:])
    us, ws, ss = [], [], []
    for I_t in current:
        w = beta * w + a * u + b * s
        u = alpha * (u - s) + (1 - alpha) * (I_t - w)
        s = (u - theta > 0).astype(float)
        us.append(u)
        ws.append(w)
        ss.append(s)
    return np.array(us), np.array(ws), np.array(ss)


def test_registered_with_the_pinned_names():
    assert "adlif" in model_names("catalogue")
    m = get_model("adLIF")
    assert isinstance(m, AdLIF) and m.convention == "code" and m.reset == "subtract"
    assert m.surrogate == get_surrogate("rectangle", width=1.0)
    assert tuple(m.params()) == ("alpha", "beta", "a", "b", "v_th")
    with pytest.raises(ValueError, match="unknown convention"):
        get_model("adlif", convention="paper")
    with pytest.raises(ValueError, match="'alpha' must lie in"):
        get_model("adlif", alpha=1.5)


def test_trace_by_hand():
    # alpha = beta = a = 0.5, b = 1, I = 4, 0, 0:
    # t1: w = 0, u = 0.5 * 4 = 2 (spike); t2: w = 0.5 * 2 + 1 = 2, u = 0.5 (2 - 1) + 0.5 (0 - 2)
    # = -0.5; t3: w = 0.5 * 2 + 0.5 * (-0.5) = 0.75, u = 0.5 (-0.5) + 0.5 (-0.75) = -0.625
    tr = simulate(AdLIF(alpha=0.5, beta=0.5, a=0.5, b=1.0), np.array([[4.0], [0.0], [0.0]]))
    np.testing.assert_allclose(tr.states["u"][:, 0], [2.0, -0.5, -0.625], rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.states["w"][:, 0], [0.0, 2.0, 0.75], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(tr.spikes[:, 0], [1.0, 0.0, 0.0])


def test_golden_trace_against_the_official_order():
    rng = np.random.default_rng(11)
    n = 6
    params = {k: rng.uniform(lo, hi, size=n) for k, (lo, hi) in ADLIF_INIT.items()}
    current = 2.0 + 2.0 * rng.standard_normal((300, n))
    u, w, s = sparch_adlif(current, **params)
    tr = simulate(AdLIF(**params), current)
    assert s.sum() > 50
    np.testing.assert_array_equal(tr.spikes, s)
    np.testing.assert_allclose(tr.states["u"], u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr.states["w"], w, rtol=1e-12, atol=1e-12)


def test_numpy_and_torch_simulate_agree():
    rng = np.random.default_rng(1)
    model = AdLIF(**AdLIF.verify_params)
    x = 3.0 + 3.0 * rng.standard_normal((200, 5))
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 20
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    for n in ("u", "w"):
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)


def test_subthreshold_jacobian_is_the_catalogues():
    d = derive("adlif")
    al, be = sp.Symbol("alpha", positive=True), sp.Symbol("beta", positive=True)
    a = sp.Symbol("a", real=True)
    J = sp.Matrix([[al - (1 - al) * a, -(1 - al) * be], [a, be]])
    assert sp.simplify(d.J_sub - J) == sp.zeros(2, 2)
    assert sp.simplify(d.det_sub - al * be) == 0


@pytest.mark.parametrize("detach_reset", [False, True])
def test_derive_claims_hold(detach_reset):
    checks = claims_hold("adlif", detach_reset=detach_reset)
    own = [c for c in checks if c["section"] == "adLIF (c)"]
    assert len(own) == (12 if not detach_reset else 11)


@st.composite
def adlif_cases(draw):
    """A spiking adLIF case: random switch, surrogate, parameters (scalars or per neuron, a of
    either sign, so growing maps are included) and a current whose first step fires."""
    detach = draw(st.booleans())
    sname = draw(st.sampled_from(["rectangle", "triangle", "exponential", "double_gaussian"]))
    width = draw(st.floats(0.8, 2.0))
    surrogate = {
        "rectangle": get_surrogate("rectangle", width=width),
        "triangle": get_surrogate("triangle", width=width),
        "exponential": get_surrogate("exponential", alpha=5.0 / width),
        "double_gaussian": get_surrogate("double_gaussian", sigma1=0.5 * width),
    }[sname]
    T = draw(st.integers(60, 90))
    B = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())
    ranges = {"alpha": (0.5, 0.97), "beta": (0.8, 0.99), "a": (-1.0, 1.0), "b": (0.0, 2.0)}
    ranges["v_th"] = (0.5, 1.5)
    params = {
        k: rng.uniform(lo, hi, size=B) if per_neuron else draw(st.floats(lo, hi))
        for k, (lo, hi) in ranges.items()
    }
    model = get_model("adlif", detach_reset=detach, surrogate=surrogate, **params)
    kick = draw(st.floats(1.1, 1.6))
    scale = np.asarray(params["v_th"]) / (1 - np.asarray(params["alpha"]))
    current = np.broadcast_to(scale, (B,)) * (
        draw(st.floats(0.3, 1.2)) + draw(st.floats(0.3, 1.0)) * rng.standard_normal((T, B))
    )
    current[0] = kick * np.broadcast_to(scale, (B,))
    return model, current, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=adlif_cases())
def test_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


def test_layer_both_backwards_and_clamped_forms():
    grads = layer_backwards_agree("adlif", **AdLIF.verify_params)
    assert set(grads) == {"input", "alpha", "beta", "a", "b"}
    layer = make_layer("adlif", 3, dtype=torch.float64)
    assert layer.per_neuron and layer.alpha.shape == (3,)
    with torch.no_grad():
        layer.a.copy_(torch.tensor([-3.0, 0.2, 3.0], dtype=torch.float64))
    a = layer.model().a
    torch.testing.assert_close(a, torch.tensor([-1.0, 0.2, 1.0], dtype=torch.float64))
    x = 3.0 + torch.zeros(20, 2, 3, dtype=torch.float64)
    (layer(x) + layer.run(x).states["u"]).sum().backward()
    assert layer.a.grad[0] == 0 and layer.a.grad[2] == 0 and layer.a.grad[1] != 0
    with pytest.raises(ValueError, match="clip"):
        make_layer("adlif", 3, alpha=0.5)  # outside the official clamp range


def test_verify_command_passes(capsys):
    rows = verify_passes("adlif", capsys)
    assert {r["detach_reset"] for r in rows} == {False, True}


# ----------------------------------------------------------------------------- inspect at rest


def test_inspect_grows_iff_a_below_beta_minus_one():
    rng = np.random.default_rng(5)
    n = 4000
    al = rng.uniform(*ADLIF_INIT["alpha"], size=n)
    be = rng.uniform(*ADLIF_INIT["beta"], size=n)
    a = rng.uniform(-1.0, 1.0, size=n)
    keep = np.abs(a - (be - 1)) > 1e-6
    model = AdLIF(alpha=al[keep], beta=be[keep], a=a[keep], b=np.ones(keep.sum()))
    labels = classify(model)
    grows = a[keep] < be[keep] - 1
    assert 0.3 < grows.mean() < 0.7
    np.testing.assert_array_equal(labels == "growing", grows)
    # complex pairs have |lambda| = sqrt(alpha beta); growing pairs are real with lambda > 1
    rho = spectral_radius(model)
    tr = al[keep] + be[keep] - (1 - al[keep]) * a[keep]
    cplx = tr * tr < 4 * al[keep] * be[keep]
    assert cplx.sum() > 100
    np.testing.assert_allclose(rho[cplx], np.sqrt(al * be)[keep][cplx], rtol=1e-12)
    assert not np.any(cplx & grows)


def test_inspect_marginal_at_a_equal_beta_minus_one():
    info = inspect_model(AdLIF(alpha=0.9, beta=0.98, a=0.98 - 1.0))
    assert info["class"] == "marginal"
    lam = sorted(z[0] for z in info["eigenvalues"])
    assert lam == pytest.approx([0.9 * 0.98, 1.0], abs=1e-12)
    assert info["det"] == pytest.approx(0.9 * 0.98, rel=1e-14)
    below = inspect_model(AdLIF(alpha=0.9, beta=0.98, a=-0.5))
    p1 = (1 - 0.9) * (1 - 0.98 - 0.5)  # p(1) < 0: a real root above 1
    assert below["class"] == "growing" and p1 < 0
    top = max(z[0] for z in below["eigenvalues"])
    tr, det = 0.9 + 0.98 + 0.1 * 0.5, 0.9 * 0.98
    assert top == pytest.approx((tr + math.sqrt(tr * tr - 4 * det)) / 2, rel=1e-12)
