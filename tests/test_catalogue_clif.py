"""CLIF (docs/catalogue.md): the official update order transcribed here independently (official
post-reset v and m carried), a trace by hand, NumPy against torch, the sub-threshold J against the
catalogue's, the generated adjoint against autograd (200 hypothesis cases, all spiking), both layer
backwards, verify, derive's claims and inspect at rest."""

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
from lstmlif.analysis.stability import inspect_model, spectral_radius, subthreshold_jacobian
from lstmlif.analysis.symbolic import derive
from lstmlif.neurons import get_model, get_surrogate, make_layer, model_names, simulate
from lstmlif.neurons.catalogue.clif import CLIF


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def official(current, tau=2.0, v_th=1.0):
    """ComplementaryLIFNeuron (Complementary-LIF d76af59), NumPy: H = gamma v + X;
    m = m sigmoid(H / tau); s = (H - v_th >= 0); m = m + s; v = H - s v_th; v = v - s sigmoid(m).
    Returns H (pre-reset), m before the spike is added, the post-spike m and v, and s."""
    gamma = 1 - 1 / tau
    shape = np.broadcast_shapes(current.shape[1:], np.shape(tau), np.shape(v_th))
    v, m = np.zeros(shape), np.zeros(shape)
    Hs, m_pre, ms, vs, ss = [], [], [], [], []
    for x in current:
        H = gamma * v + x
        m = m * _sigmoid(H / tau)
        m_pre.append(m)
        s = (H - v_th >= 0).astype(float)
        m = m + s
        v = H - s * v_th
        v = v - s * _sigmoid(m)
        Hs.append(H)
        ms.append(m)
        vs.append(v)
        ss.append(s)
    return np.array(Hs), np.array(m_pre), np.array(ms), np.array(vs), np.array(ss)


def test_registered_with_the_pinned_names_and_defaults():
    assert "clif" in model_names("catalogue")
    m = get_model("CLIF")
    assert tuple(m.params()) == ("tau", "v_th") and m.tau == 2.0 and m.v_th == 1.0
    assert m.surrogate == get_surrogate("rectangle", width=1.0)
    assert CLIF.detach_options == (False,)  # the official reset ignores detach_reset
    with pytest.raises(ValueError, match="'tau' must lie in"):
        CLIF(tau=1.0)
    assert make_layer("clif", 3).trained == {}  # no trainable neuron parameters by default


def test_trace_by_hand():
    # tau = 2, gamma = 1/2: X = 1.2: H1 = 1.2 (spike), m1 = 0 * sigma + 1 = 1,
    # v1 = 1.2 - 1 - sigmoid(1); X = 0.3: H2 = v1/2 + 0.3, m~2 = 1 * sigmoid(H2 / 2)
    tr = simulate(CLIF(), np.array([[1.2], [0.3]]))
    v1 = 1.2 - 1.0 - _sigmoid(1.0)
    H2 = 0.5 * v1 + 0.3
    np.testing.assert_allclose(tr.states["v"][:, 0], [1.2, H2], rtol=1e-15)
    np.testing.assert_allclose(tr.states["m"][:, 0], [0.0, _sigmoid(H2 / 2)], rtol=1e-15)
    assert tr.spikes[:, 0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("tau,v_th", [(2.0, 1.0), (3.5, 0.8), (1.3, 1.4)])
def test_golden_trace_against_the_official_code(tau, v_th):
    x = (0.6 / tau + 0.7) * v_th * (1 + np.random.default_rng(5).standard_normal((500, 6)))
    H, m_pre, m_post, v_post, s = official(x, tau, v_th)
    tr = simulate(CLIF(tau=tau, v_th=v_th), x)
    assert s.sum() > 100
    np.testing.assert_array_equal(tr.spikes, s)
    np.testing.assert_allclose(tr.states["v"], H, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.states["m"], m_pre, rtol=0, atol=1e-12)
    # the official post-spike (v, m) are the carried ones after the spike acts
    np.testing.assert_allclose(m_post, m_pre + s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v_post, H - s * v_th - s * _sigmoid(m_post), rtol=0, atol=1e-12)


def test_numpy_and_torch_simulate_agree():
    x = 0.6 + 0.6 * np.random.default_rng(2).standard_normal((300, 5))
    ref = simulate(CLIF(), x)
    got = simulate(CLIF(), torch.tensor(x))
    assert ref.spikes.sum() > 30
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    for n in ("v", "m"):
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)


def test_subthreshold_jacobian_against_the_catalogue():
    # at rest (H = 0): J = [[gamma, 0], [0, 1/2]]
    for tau in (1.5, 2.0, 7.0):
        J = subthreshold_jacobian(CLIF(tau=tau))
        np.testing.assert_allclose(J, [[1 - 1 / tau, 0.0], [0.0, 0.5]], rtol=0, atol=1e-15)
    # away from rest: the catalogue's [[gamma, 0], [gamma m sh (1 - sh)/tau, sh]], sh at H
    d = derive("clif")
    P = d.model.params()
    tau, v, m, I = 2.5, -0.4, 0.8, 0.3
    vals = {P["tau"]: tau, P["v_th"]: 1.0, d.state["v"]: v, d.state["m"]: m, d.current: I}
    J = np.array(d.J_sub.subs(vals).evalf(), dtype=float)
    gamma = 1 - 1 / tau
    sh = _sigmoid((gamma * v + I) / tau)
    expected = [[gamma, 0.0], [gamma * m * sh * (1 - sh) / tau, sh]]
    np.testing.assert_allclose(J, expected, rtol=1e-14)


class _Rect(torch.autograd.Function):
    """H(z) forward (H(0) = 1), the official Rectangle (|z| <= 1/2, height 1) backward."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * (z.abs() <= 0.5).to(z.dtype)


def test_full_jacobian_against_autograd_of_the_official_map():
    """The catalogue's spike-aware entries (official (v, m)) against torch autograd of the
    official update written here, with the rectangle surrogate, inside the window."""
    tau, vth = 2.0, 1.0
    gamma = 1 - 1 / tau
    for v0, m0, x in ((0.5, 0.7, 0.85), (0.9, 1.3, 0.6), (0.2, 0.4, 0.95)):
        vm = torch.tensor([v0, m0], dtype=torch.float64, requires_grad=True)

        def f(vm, x=x):
            H = gamma * vm[0] + x
            m = vm[1] * torch.sigmoid(H / tau)
            s = _Rect.apply(H - vth)
            m = m + s
            v = H - s * vth - s * torch.sigmoid(m)
            return torch.stack([v, m])

        J = torch.autograd.functional.jacobian(f, vm).numpy()
        H = gamma * v0 + x
        s = float(H >= vth)
        g = float(abs(H - vth) <= 0.5)
        sh = _sigmoid(H / tau)
        mt = m0 * sh + s
        sm = _sigmoid(mt)
        kappa = m0 * sh * (1 - sh) / tau + g
        expected = [
            [gamma * (1 - g * (vth + sm) - s * sm * (1 - sm) * kappa), -s * sm * (1 - sm) * sh],
            [gamma * kappa, sh],
        ]
        np.testing.assert_allclose(J, expected, rtol=1e-13, atol=1e-15)


def test_derive_claims_hold():
    checks = claims_hold("clif")
    assert sum(c["section"] == "CLIF (c)" for c in checks) == 7


def test_inspect_at_rest_decays_like_lif():
    tau = np.linspace(1.05, 30.0, 50)
    gamma = 1 - 1 / tau
    np.testing.assert_allclose(spectral_radius(CLIF(tau=tau)), np.maximum(gamma, 0.5), rtol=1e-14)
    info = inspect_model(CLIF())
    assert info["class"] == "decaying" and info["spectral_radius"] == pytest.approx(0.5)
    assert info["memory_horizon"] == pytest.approx(1 / math.log(2), rel=1e-14)


@st.composite
def clif_cases(draw):
    T = draw(st.integers(50, 90))
    B = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())
    ranges = {"tau": (1.2, 6.0), "v_th": (0.6, 1.5)}
    params = {
        k: rng.uniform(lo, hi, size=B) if per_neuron else draw(st.floats(lo, hi))
        for k, (lo, hi) in ranges.items()
    }
    scale = draw(st.floats(0.6, 1.5))
    sname = draw(st.sampled_from(["rectangle", "triangle", "sigmoid"]))
    surrogate = {
        "rectangle": get_surrogate("rectangle", width=scale),
        "triangle": get_surrogate("triangle", width=scale),
        "sigmoid": get_surrogate("sigmoid", slope=4.0 / scale),
    }[sname]
    vth, tau = np.asarray(params["v_th"]), np.asarray(params["tau"])
    drive = vth * (1.0 / tau + draw(st.floats(0.0, 0.8)))
    x = drive * (1.0 + draw(st.floats(0.3, 1.0)) * rng.standard_normal((T, B)))
    x[0] = draw(st.floats(1.05, 1.6)) * vth  # H[1] = I[1] >= v_th: a spike at the first step
    return CLIF(surrogate=surrogate, **params), x, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=clif_cases())
def test_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


def test_layer_both_backwards():
    grads = layer_backwards_agree("clif")
    assert set(grads) == {"input"}
    grads = layer_backwards_agree("clif", train=("tau",))  # tau trained when asked
    assert set(grads) == {"input", "tau"}


def test_verify_command_passes(capsys):
    rows = verify_passes("clif", capsys)
    assert len(rows) == 1 and rows[0]["detach_reset"] is False


def test_sample_init_and_paper_claim():
    m = CLIF.sample_init(np.random.default_rng(0), 5)
    assert np.all(np.asarray(m.tau) == 2.0) and np.all(np.asarray(m.v_th) == 1.0)
    row = compare_model("clif", draws=10, seed=0, kmax=500)
    # the extra paths act through spikes only: below threshold CLIF's reach is LIF's
    assert [c["verdict"] for c in row["claims"]] == ["partly"]
    assert "equal to LIF's" in row["claims"][0]["evidence"]
    assert row["memory_horizon"]["median"] == pytest.approx(1 / math.log(2), rel=1e-12)
