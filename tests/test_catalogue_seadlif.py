"""SE-adLIF and EF-adLIF (docs/catalogue.md): the official forward transcribed here
independently (post-reset u carried, as the code does), traces by hand, the sub-threshold J
typed from the catalogue, the generated adjoint against autograd, both layer backwards and the
after-step clamps, verify, derive's claims, and inspect at rest against the SE and EF bounds on
A = q a and Fig. 3b's r = 0.972."""

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
from lstmlif.neurons.catalogue.seadlif import SE_INIT, EFAdLIF, SEAdLIF


def official(current: np.ndarray, tau_u, tau_w, a, b, q, theta=1.0, kind="se"):
    """SEAdLIF / EFAdLIF forward (e980397) from zero state, carrying the post-reset u as the
    code does; returns the pre-reset u~, w and z per step."""
    alpha, beta = np.exp(-1 / np.asarray(tau_u)), np.exp(-1 / np.asarray(tau_w))
    shape = np.broadcast_shapes(current.shape[1:], np.shape(alpha))
    u = w = z = np.zeros(shape)
    rec = {"u": [], "w": [], "z": []}
    for I_t in current:
        u_tilde = alpha * u + (1 - alpha) * (I_t - w)
        z_new = (u_tilde - theta > 0).astype(float)
        u_new = u_tilde * (1 - z_new)
        if kind == "se":
            w = beta * w + (1 - beta) * q * (a * u_new + b * z_new)
        else:
            w = beta * w + (1 - beta) * q * (a * u + b * z)
        u, z = u_new, z_new
        rec["u"].append(u_tilde)
        rec["w"].append(w)
        rec["z"].append(z)
    return {k: np.array(v) for k, v in rec.items()}


CLASSES = {"se": SEAdLIF, "ef": EFAdLIF}


def test_registered_with_the_pinned_names():
    assert {"se-adlif", "ef-adlif"} <= set(model_names("catalogue"))
    for name, cls in (("SE-adLIF", SEAdLIF), ("EF_adLIF", EFAdLIF)):
        m = get_model(name)
        assert type(m) is cls and m.reset == "zero" and m.detach_reset
        assert m.surrogate == get_surrogate("exponential", alpha=5.0, c=0.4)
        assert m.surrogate.peak == 1.0
        assert tuple(m.params()) == ("tau_u", "tau_w", "a", "b", "q", "v_th")
    with pytest.raises(ValueError, match="unknown reset"):
        get_model("se-adlif", reset="subtract")


@pytest.mark.parametrize(
    "kind, u_tilde, w",
    [
        # alpha = beta = 1/2, q = 2, a = 1/2, b = 1, I = 4, 0. t1: u~ = 2 (spike, u = 0).
        # SE: w1 = 1/2 * 2 * (0 + 1) = 1; t2: u~ = 1/2 (0 - 1) = -1/2, w2 = 1/2 + (-1/4) = 1/4.
        # EF: w1 = 0 (old u, z are 0); t2: u~ = 0, w2 = 0 + 1 * (1/2 * 0 + 1) = 1.
        ("se", [2.0, -0.5], [1.0, 0.25]),
        ("ef", [2.0, 0.0], [0.0, 1.0]),
    ],
)
def test_trace_by_hand(kind, u_tilde, w):
    tau = 1 / math.log(2)  # exp(-1/tau) = 1/2
    model = CLASSES[kind](tau_u=tau, tau_w=tau, a=0.5, b=1.0, q=2.0)
    tr = simulate(model, np.array([[4.0], [0.0]]))
    np.testing.assert_allclose(tr.states["u"][:, 0], u_tilde, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.states["w"][:, 0], w, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(tr.spikes[:, 0], [1.0, 0.0])


@pytest.mark.parametrize("kind", ["se", "ef"])
def test_golden_trace_against_the_official_order(kind):
    rng = np.random.default_rng(3)
    n = 6
    params = {k: rng.uniform(lo, hi, size=n) for k, (lo, hi) in SE_INIT.items()}
    current = 6.0 + 6.0 * rng.standard_normal((300, n))
    ref = official(current, q=120.0, kind=kind, **params)
    tr = simulate(CLASSES[kind](q=120.0, **params), current)
    assert ref["z"].sum() > 50
    np.testing.assert_array_equal(tr.spikes, ref["z"])
    np.testing.assert_allclose(tr.states["u"], ref["u"], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(tr.states["w"], ref["w"], rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("kind", ["se", "ef"])
def test_numpy_and_torch_simulate_agree(kind):
    cls = CLASSES[kind]
    model = cls(**cls.verify_params)
    x = 3.0 + 3.0 * np.random.default_rng(2).standard_normal((200, 5))
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 20
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    for n in ("u", "w"):
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)


def test_subthreshold_jacobians_are_the_catalogues():
    tu, tw = sp.Symbol("tau_u", positive=True), sp.Symbol("tau_w", positive=True)
    a, q = sp.Symbol("a", real=True), sp.Symbol("q", positive=True)
    al, be, A = sp.exp(-1 / tu), sp.exp(-1 / tw), q * a
    D = (1 - al) * (1 - be)
    se = sp.Matrix([[al, -(1 - al)], [(1 - be) * A * al, be - D * A]])
    ef = sp.Matrix([[al, -(1 - al)], [(1 - be) * A, be]])
    assert sp.simplify(derive("se-adlif").J_sub - se) == sp.zeros(2, 2)
    assert sp.simplify(derive("ef-adlif").J_sub - ef) == sp.zeros(2, 2)
    assert sp.simplify(derive("se-adlif").det_sub - al * be) == 0
    assert sp.simplify(derive("ef-adlif").det_sub - (al * be + D * A)) == 0


@pytest.mark.parametrize("detach_reset", [True, False])
def test_derive_keeps_the_new_spike_apart(detach_reset):
    """SE's w[t] reads S[t]: derive shows it as S_new / psi_new, apart from S[t-1], psi[t-1].
    By hand, J_t = [[alpha r, -(1-alpha)], [k alpha r, beta - k (1-alpha)]] with r = du/du~ of
    the reset, 1 - S (detached) or 1 - S - u psi, so det J_t = alpha beta r whatever k is."""
    d = derive("se-adlif", detach_reset=detach_reset)
    tu, tw = sp.Symbol("tau_u", positive=True), sp.Symbol("tau_w", positive=True)
    S, psi, u = sp.Symbol("S", real=True), sp.Symbol("psi", real=True), sp.Symbol("u", real=True)
    r = 1 - S if detach_reset else 1 - S - u * psi
    assert sp.simplify(d.det - sp.exp(-1 / tu) * sp.exp(-1 / tw) * r) == 0
    names = {str(x) for x in d.J_psi.free_symbols}
    assert {"S_new", "psi_new", "S"} <= names
    assert sp.Poly(d.J_psi[1, 1], sp.Symbol("psi_new", real=True)).degree() == 1


def test_derive_claims_hold():
    se = claims_hold("se-adlif", detach_reset=True)
    assert sum(c["section"].startswith("SE-adLIF") for c in se) == 13
    ef = claims_hold("ef-adlif", detach_reset=True)
    assert sum(c["section"] == "EF-adLIF (c)" for c in ef) == 7


@st.composite
def se_cases(draw, kind: str):
    """A spiking SE / EF case: random detach switch, surrogate, parameters (scalars or per
    neuron; A up to 30, a of either sign) and a current whose first step fires."""
    detach = draw(st.booleans())
    sname = draw(st.sampled_from(["exponential", "rectangle", "triangle", "double_gaussian"]))
    width = draw(st.floats(0.8, 2.0))
    surrogate = {
        "exponential": get_surrogate("exponential", alpha=5.0 / width),
        "rectangle": get_surrogate("rectangle", width=width),
        "triangle": get_surrogate("triangle", width=width),
        "double_gaussian": get_surrogate("double_gaussian", sigma1=0.5 * width),
    }[sname]
    T = draw(st.integers(60, 90))
    B = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())
    ranges = {
        "tau_u": (3.0, 25.0),
        "tau_w": (20.0, 300.0),
        "a": (-0.05, 1.0),
        "b": (0.0, 2.0),
        "q": (1.0, 30.0),
        "v_th": (0.5, 1.5),
    }
    params = {
        k: rng.uniform(lo, hi, size=B) if per_neuron else draw(st.floats(lo, hi))
        for k, (lo, hi) in ranges.items()
    }
    model = get_model(kind, detach_reset=detach, surrogate=surrogate, **params)
    scale = np.asarray(params["v_th"]) / (1 - np.exp(-1 / np.asarray(params["tau_u"])))
    scale = np.broadcast_to(scale, (B,))
    current = scale * (
        draw(st.floats(0.3, 1.2)) + draw(st.floats(0.3, 1.0)) * rng.standard_normal((T, B))
    )
    current[0] = draw(st.floats(1.1, 1.6)) * scale
    return model, current, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=se_cases("se-adlif"))
def test_se_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=se_cases("ef-adlif"))
def test_ef_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


@pytest.mark.parametrize("name", ["se-adlif", "ef-adlif"])
def test_layer_both_backwards_and_after_step_clamps(name):
    cls = model_class_of(name)
    grads = layer_backwards_agree(name, **cls.verify_params)
    assert set(grads) == {"input", "rho_u", "rho_w", "a", "b"}
    layer = make_layer(name, 3, dtype=torch.float64)
    assert layer.per_neuron and layer.rho_u.shape == (3,)
    torch.testing.assert_close(layer.model().tau_u, torch.full((3,), 15.0, dtype=torch.float64))
    with torch.no_grad():
        layer.rho_u.copy_(torch.tensor([-0.1, 0.25, 1.5], dtype=torch.float64))
        layer.a.copy_(torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64))
        layer.b.copy_(torch.tensor([-1.0, 1.0, 3.0], dtype=torch.float64))
    # the forward does not clamp (the official code clamps after each training batch) ...
    torch.testing.assert_close(
        layer.model().tau_u, torch.tensor([3.0, 10.0, 35.0], dtype=torch.float64)
    )
    layer.clamp_()  # ... clamp_() does: rho to [0, 1], a to [0, 1], b to [0, 2]
    torch.testing.assert_close(layer.rho_u, torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64))
    torch.testing.assert_close(layer.a, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(layer.b, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(layer.model().tau_u, torch.tensor([5.0, 10.0, 25.0]).double())
    with pytest.raises(ValueError, match="clamped to"):
        make_layer(name, 3, a=1.5)


def model_class_of(name: str):
    return type(get_model(name))


@pytest.mark.parametrize("name", ["se-adlif", "ef-adlif"])
def test_verify_command_passes(name, capsys):
    rows = verify_passes(name, capsys)
    assert {r["detach_reset"] for r in rows} == {True, False}


# ----------------------------------------------------------------------------- inspect at rest


def _grid(n: int = 3000, seed: int = 4):
    rng = np.random.default_rng(seed)
    tau_u = rng.uniform(2.0, 40.0, size=n)
    tau_w = rng.uniform(10.0, 400.0, size=n)
    al, be = np.exp(-1 / tau_u), np.exp(-1 / tau_w)
    D = (1 - al) * (1 - be)
    return tau_u, tau_w, al, be, D, rng


def test_inspect_se_stable_iff_A_between_its_bounds():
    tau_u, tau_w, al, be, D, rng = _grid()
    upper = (1 + al) * (1 + be) / D
    # A spread over [-3, 1.5 x upper]: below -1, inside, above the upper bound
    A = np.where(rng.random(al.shape) < 0.2, rng.uniform(-3, -1, al.shape), 1.5 * upper)
    A = np.where(rng.random(al.shape) < 0.5, rng.uniform(-1, 1, al.shape) * upper, A)
    keep = (np.abs(A + 1) > 1e-6) & (np.abs(A - upper) > 1e-6 * upper)
    model = SEAdLIF(tau_u=tau_u[keep], tau_w=tau_w[keep], a=A[keep] / 120.0, q=120.0)
    stable = (A[keep] > -1) & (A[keep] < upper[keep])
    assert 0.2 < stable.mean() < 0.8
    np.testing.assert_array_equal(classify(model) != "growing", stable)
    # complex pairs: |lambda| = sqrt(alpha beta), whatever A
    tr = al + be - D * A
    cplx = (tr * tr < 4 * al * be)[keep]
    assert cplx.sum() > 100
    rho = spectral_radius(model)
    np.testing.assert_allclose(rho[cplx], np.sqrt(al * be)[keep][cplx], rtol=1e-10)


def test_inspect_ef_stable_iff_A_below_its_bound():
    tau_u, tau_w, al, be, D, rng = _grid(seed=6)
    upper = (1 - al * be) / D
    A = rng.uniform(-2.0, 2.0, size=al.shape) * upper
    A = np.where(rng.random(al.shape) < 0.15, rng.uniform(-3, -1, al.shape), A)
    keep = (np.abs(A + 1) > 1e-6) & (np.abs(A - upper) > 1e-6 * upper)
    model = EFAdLIF(tau_u=tau_u[keep], tau_w=tau_w[keep], a=A[keep] / 120.0, q=120.0)
    stable = (A[keep] > -1) & (A[keep] < upper[keep])
    assert 0.2 < stable.mean() < 0.8
    np.testing.assert_array_equal(classify(model) != "growing", stable)
    above = A[keep] > upper[keep]  # above the bound: |lambda| = sqrt(alpha beta + D A) > 1
    rho = spectral_radius(model)
    expect = np.sqrt((al * be + D * A)[keep][above])
    np.testing.assert_allclose(rho[above], expect, rtol=1e-10)
    assert np.all(rho[above] > 1)


def test_inspect_at_the_bounds_is_marginal():
    al, be = math.exp(-1 / 10), math.exp(-1 / 100)
    D = (1 - al) * (1 - be)
    for cls, A in (
        (SEAdLIF, -1.0),
        (SEAdLIF, (1 + al) * (1 + be) / D),
        (EFAdLIF, -1.0),
        (EFAdLIF, (1 - al * be) / D),
    ):
        info = inspect_model(cls(tau_u=10.0, tau_w=100.0, a=A / 120.0, q=120.0))
        assert info["spectral_radius"] == pytest.approx(1.0, abs=1e-9), (cls.name, A)


def test_fig3b_decay_rate():
    """Fig. 3b: tau_u = 25, tau_w = 60, a = 120 gives r = 0.972, exp(-(1/25 + 1/60)/2)."""
    info = inspect_model(SEAdLIF(tau_u=25.0, tau_w=60.0, a=1.0, q=120.0))
    r = math.exp(-(1 / 25 + 1 / 60) / 2)
    assert info["spectral_radius"] == pytest.approx(r, rel=1e-12)
    assert round(r, 3) == 0.972 and info["class"] == "oscillating-decaying"
