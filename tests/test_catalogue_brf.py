"""BRF and RF (docs/catalogue.md): the official update order transcribed here independently
(official state (u, v, q)), a trace by hand, NumPy against torch, the sub-threshold J against the
catalogue's, the generated adjoint against autograd (200 hypothesis cases per model, all
spiking), both layer backwards, verify, derive's claims, inspect at rest and the paper claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _catalogue_helpers import (
    check_adjoint_against_autograd,
    claims_hold,
    layer_backwards_agree,
    verify_passes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmlif.analysis.compare import compare_model
from lstmlif.analysis.stability import (
    classify,
    inspect_model,
    period,
    spectral_radius,
    subthreshold_jacobian,
)
from lstmlif.analysis.symbolic import derive
from lstmlif.neurons import get_model, get_surrogate, make_layer, model_names, simulate
from lstmlif.neurons.catalogue.brf import BRF, BRF_INIT, RF, divergence_boundary, lower_boundary

DT = 0.01


def _gauss(x, sigma):
    return np.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def official_brf(current, omega, b_offset, dt=DT, theta=1.0):
    """BRFCell.forward / brf_update (brf-neurons 5d45b0e), NumPy: |omega|, |b_offset|, p(omega)
    with the same dt; z = (u - theta - q > 0); q = 0.9 q + z. Returns u, v, q (official, after
    each step) and z, each (T, *batch)."""
    w, c = np.abs(omega), np.abs(b_offset)
    p = (-1 + np.sqrt(1 - np.square(dt * w))) / dt
    shape = np.broadcast_shapes(current.shape[1:], np.shape(w), np.shape(c))
    u, v, q = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    us, vs, qs, zs = [], [], [], []
    for x in current:
        b = p - c - q
        u_ = u + b * u * dt - w * v * dt + x * dt
        v = v + w * u * dt + b * v * dt
        z = (u_ - theta - q > 0).astype(float)
        q = q * 0.9 + z
        u = u_
        us.append(u)
        vs.append(v)
        qs.append(q)
        zs.append(z)
    return np.array(us), np.array(vs), np.array(qs), np.array(zs)


def official_rf(current, omega, b_offset, dt=DT, theta=1.0):
    """RFCell.forward / rf_update: b = -|b_offset|, no q, z = (u - theta > 0)."""
    w, b = np.abs(omega), -np.abs(b_offset)
    shape = np.broadcast_shapes(current.shape[1:], np.shape(w), np.shape(b))
    u, v = np.zeros(shape), np.zeros(shape)
    us, vs, zs = [], [], []
    for x in current:
        u_ = u + b * u * dt - w * v * dt + x * dt
        v = v + w * u * dt + b * v * dt
        u = u_
        us.append(u)
        vs.append(v)
        zs.append((u - theta > 0).astype(float))
    return np.array(us), np.array(vs), np.array(zs)


def _drive(omega, b_offset, T, B, seed, kick=True):
    """A current that makes a resonator spike: ~ (|omega| + |b_offset| + 5) (1 + N(0, 1)), and a
    first step that takes u over the threshold (u[1] = dt I[1] = 1.5)."""
    rng = np.random.default_rng(seed)
    scale = np.abs(omega) + np.abs(b_offset) + 5.0
    x = scale * (1.0 + rng.standard_normal((T, B)))
    if kick:
        x[0] = 1.5 / DT
    return x


# ----------------------------------------------------------------------------- records


def test_registered_with_the_pinned_names_and_defaults():
    assert {"brf", "rf"} <= set(model_names("catalogue"))
    m = get_model("BRF")
    assert tuple(m.params()) == ("omega", "b_offset", "dt", "v_th")
    assert m.dt == 0.01 and m.v_th == 1.0
    assert m.surrogate == get_surrogate("double_gaussian")
    assert get_surrogate("double_gaussian").peak == pytest.approx(0.4388, abs=5e-5)
    assert BRF.state_names == ("u", "v", "q") and RF.state_names == ("u", "v")


def test_brf_refuses_dt_omega_above_one():
    BRF(omega=100.0)  # dt |omega| = 1: p = -1/dt, allowed
    BRF(omega=-100.0)
    with pytest.raises(ValueError, match=r"dt \* \|omega\| must be <= 1"):
        BRF(omega=101.0)
    with pytest.raises(ValueError, match=r"dt \* \|omega\| must be <= 1"):
        BRF(omega=np.array([10.0, -150.0]))
    with pytest.raises(ValueError, match=r"dt \* \|omega\| must be <= 1"):
        BRF(omega=torch.tensor([20.0]), dt=0.1)
    RF(omega=150.0)  # RF has no p(omega): allowed (and grows)


# ----------------------------------------------------------------------------- forward


def test_trace_by_hand():
    # omega = 10, b_offset = 0: p = (-1 + sqrt(0.99)) / 0.01; I = 150, 0
    p = (-1 + math.sqrt(1 - 0.01)) / 0.01
    tr = simulate(BRF(omega=10.0, b_offset=0.0), np.array([[150.0], [0.0]]))
    u1, v1 = 1.5, 0.0  # u[1] = dt I = 1.5 > 1: spike; q~[1] = 0
    q2 = 1.0  # q~[2] = 0.9 * 0 + S[1]
    b2 = p - q2
    u2 = u1 + b2 * u1 * DT - 10 * v1 * DT
    v2 = v1 + 10 * u1 * DT + b2 * v1 * DT
    np.testing.assert_allclose(tr.states["u"][:, 0], [u1, u2], rtol=1e-14)
    np.testing.assert_allclose(tr.states["v"][:, 0], [v1, v2], rtol=1e-14)
    np.testing.assert_allclose(tr.states["q"][:, 0], [0.0, q2], atol=0)
    assert tr.spikes[:, 0].tolist() == [1.0, 0.0]  # u2 - 1 - q2 < 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_golden_trace_brf_against_the_official_code(seed):
    rng = np.random.default_rng(seed)
    omega = rng.uniform(-85, 85, 6)  # raw values of either sign: |omega| is used
    b_offset = rng.uniform(-3, 3, 6)
    x = _drive(omega, b_offset, 500, 6, seed)
    u, v, q, z = official_brf(x, omega, b_offset)
    tr = simulate(BRF(omega=omega, b_offset=b_offset), x)
    assert z.sum() > 100
    np.testing.assert_array_equal(tr.spikes, z)
    np.testing.assert_allclose(tr.states["u"], u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.states["v"], v, rtol=0, atol=1e-12)
    # the carried q at step t is the official q[t-1] (q[0] = 0)
    np.testing.assert_allclose(tr.states["q"][1:], q[:-1], rtol=0, atol=1e-12)
    assert np.all(tr.states["q"][0] == 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_trace_rf_against_the_official_code(seed):
    rng = np.random.default_rng(seed)
    omega, b_offset = rng.uniform(-60, 60, 5), rng.uniform(-2, 2, 5)
    x = _drive(omega, b_offset, 400, 5, seed)
    u, v, z = official_rf(x, omega, b_offset)
    tr = simulate(RF(omega=omega, b_offset=b_offset), x)
    assert z.sum() > 100
    np.testing.assert_array_equal(tr.spikes, z)
    np.testing.assert_allclose(tr.states["u"], u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.states["v"], v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [BRF, RF])
def test_numpy_and_torch_simulate_agree(cls):
    model = cls(**cls.verify_params)
    x = _drive(10.0, 0.5, 300, 5, 3)
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 20
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    for n in cls.state_names:
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- Jacobian


def _catalogue_J(omega, b, dt=DT, u=0.0, v=0.0):
    """The catalogue's BRF (c): J on the official (u, v, q)."""
    return np.array(
        [[1 + dt * b, -dt * omega, -dt * u], [dt * omega, 1 + dt * b, -dt * v], [0, 0, 0.9]]
    )


@pytest.mark.parametrize("omega,b_offset", [(10.0, 0.5), (-50.0, -0.1), (85.0, 2.0), (3.0, 0.0)])
def test_subthreshold_jacobian_at_rest_is_the_catalogue_one(omega, b_offset):
    b = divergence_boundary(omega) - abs(b_offset)
    J = subthreshold_jacobian(BRF(omega=omega, b_offset=b_offset))
    np.testing.assert_allclose(J, _catalogue_J(abs(omega), b), rtol=0, atol=1e-15)
    Jr = subthreshold_jacobian(RF(omega=omega, b_offset=b_offset))
    np.testing.assert_allclose(Jr, _catalogue_J(abs(omega), -abs(b_offset))[:2, :2], atol=1e-15)


def test_symbolic_jacobian_against_the_catalogue_away_from_rest():
    """Below threshold the carried q~ = q[t-1] is 0.9 q[t-2]: J = D^-1 J_cat D, D = diag(1,
    1, 0.9), with the catalogue's J at the same state (q[t-1] = 0.9 q~)."""
    d = derive("brf")
    P = d.model.params()
    vals = {P["omega"]: 30.0, P["b_offset"]: -0.4, P["dt"]: 0.01}
    u, v, q = 0.3, -0.2, 0.7
    J = np.array(d.J_sub.subs(vals).subs({d.state["u"]: u, d.state["v"]: v, d.state["q"]: q}),
                 dtype=float)  # fmt: skip
    b = divergence_boundary(30.0) - 0.4 - 0.9 * q
    D = np.diag([1.0, 1.0, 0.9])
    np.testing.assert_allclose(J, np.linalg.inv(D) @ _catalogue_J(30.0, b, u=u, v=v) @ D,
                               atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("name", ["brf", "rf"])
def test_derive_claims_hold(name):
    checks = claims_hold(name)
    own = [c for c in checks if c["section"] == ("BRF (c)" if name == "brf" else "RF (c)")]
    assert len(own) == (13 if name == "brf" else 4)


# ----------------------------------------------------------------------------- inspect


def test_inspect_at_rest_brf_is_marginal_at_b_offset_zero():
    for omega in (3.0, 10.0, 50.0, 85.0):
        info = inspect_model(BRF(omega=omega, b_offset=0.0), kmax=500)
        assert info["spectral_radius"] == pytest.approx(1.0, abs=1e-14)
        assert info["class"] == "marginal" and math.isinf(info["memory_horizon"])
        theta = math.atan2(DT * omega, math.sqrt(1 - (DT * omega) ** 2))
        assert info["period"] == pytest.approx(2 * math.pi / theta, rel=1e-12)
        # a root on the unit circle: a Schur-Cohn margin 1 - |k_m| is 0 (to rounding)
        assert min(abs(m) for m in info["schur_cohn"]["margins"]) < 1e-12


def test_inspect_at_rest_brf_decays_for_b_offset_in_the_window():
    omega = np.linspace(1.0, 99.0, 40)[:, None]
    c = np.linspace(0.0, 400.0, 81)[None, :]  # |b_offset| up to beyond 2 sqrt(1 - (dt w)^2)/dt
    model = BRF(omega=omega, b_offset=c)
    s = np.sqrt(1 - (DT * omega) ** 2)
    closed = np.sqrt((s - DT * c) ** 2 + (DT * omega) ** 2)
    rho = spectral_radius(model)
    np.testing.assert_allclose(rho, np.maximum(closed, 0.9), rtol=1e-12)
    cls = classify(model)
    window = (c > 0) & (c < 2 * s / DT)
    outside = c > 2 * s / DT
    assert np.all(np.isin(cls[window], ["decaying", "oscillating-decaying"]))
    assert np.all(cls[outside] == "growing")
    assert np.all(cls[np.broadcast_to(c == 0, cls.shape)] == "marginal")
    # the lower boundary p^- is the |lambda| = 1 root on the other side
    pm = lower_boundary(omega)
    b = divergence_boundary(omega) - c
    below = b < pm
    assert np.array_equal(below, outside)


def test_inspect_rf_grows_iff_the_catalogue_condition():
    omega = np.linspace(0.5, 60.0, 60)[:, None]
    c = np.linspace(0.0, 3.0, 61)[None, :]
    cls = classify(RF(omega=omega, b_offset=c))
    grows = DT * omega**2 > c * (2 - DT * c)
    margin = np.abs(DT * omega**2 - c * (2 - DT * c))
    clear = margin > 1e-9
    assert np.all((cls == "growing")[clear] == grows[clear])
    np.testing.assert_allclose(
        period(RF(omega=omega, b_offset=c)),
        2 * np.pi / np.arctan2(DT * omega, 1 - DT * c) + 0 * c,
        rtol=1e-12,
    )


# ----------------------------------------------------------------------------- gradients


@st.composite
def resonator_cases(draw, cls):
    T = draw(st.integers(50, 90))
    B = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())
    sign = draw(st.sampled_from([-1.0, 1.0]))  # raw values of either sign
    ranges = {"omega": (3.0, 85.0), "b_offset": (0.0, 3.0), "v_th": (0.7, 1.3)}
    params = {
        k: sign * rng.uniform(lo, hi, size=B) if per_neuron else sign * draw(st.floats(lo, hi))
        for k, (lo, hi) in ranges.items()
    }
    params["v_th"] = np.abs(params["v_th"])
    params["dt"] = draw(st.sampled_from([0.01, 0.005, 0.008]))
    sname = draw(st.sampled_from(["double_gaussian", "multi_gaussian", "sigmoid"]))
    model = cls(surrogate=sname, **params)
    x = _drive(params["omega"], params["b_offset"], T, B, int(rng.integers(2**31)), kick=False)
    x[0] = draw(st.floats(1.2, 2.0)) * np.max(params["v_th"]) / params["dt"]
    return model, x, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=resonator_cases(BRF))
def test_generated_adjoint_matches_autograd_brf(case):
    check_adjoint_against_autograd(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=resonator_cases(RF))
def test_generated_adjoint_matches_autograd_rf(case):
    check_adjoint_against_autograd(*case)


@pytest.mark.parametrize("name", ["brf", "rf"])
def test_layer_both_backwards_per_neuron(name):
    grads = layer_backwards_agree(name)
    assert set(grads) == {"input", "omega", "b_offset"}
    assert grads["omega"].shape == (4,)
    layer = make_layer(name, 4, dtype=torch.float64)
    assert layer.per_neuron and layer.omega.shape == (4,)


@pytest.mark.parametrize("name", ["brf", "rf"])
def test_verify_command_passes(name, capsys):
    rows = verify_passes(name, capsys)
    assert len(rows) == 1


# ----------------------------------------------------------------------------- paper claims


def test_sample_init_and_paper_claims():
    model = BRF.sample_init(np.random.default_rng(0), 300)
    w, c = np.asarray(model.omega), np.asarray(model.b_offset)
    in_some = np.zeros(300, dtype=bool)
    for r in BRF_INIT.values():
        (lo, hi), (clo, chi) = r["omega"], r["b_offset"]
        in_some |= (w >= lo) & (w <= hi) & (c >= clo) & (c <= chi)
    assert in_some.all()
    row = compare_model("brf", draws=200, seed=0, kmax=2000)
    verdicts = [c["verdict"] for c in row["claims"]]
    assert verdicts == ["holds", "not testable", "partly"]
    assert row["growing"] == 0.0
