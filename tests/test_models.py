"""The models' equations (docs/models.md) and one-step Jacobians (docs/theory.md sections 1 and 4).

Golden traces are worked out by hand from the printed equations, with numbers chosen so that
every value is exact in binary floating point (ALIF's exponentials excepted). Jacobians come
from ``torch.autograd.functional.jacobian`` of ``model.transition`` and are compared with the
matrices of docs/theory.md written out here, psi being the surrogate evaluated by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers import autograd_jacobian

from lstmlif.neurons import ALIF, LIF, LSTMLIF, TCLIF, TwoCompartment, get_model, simulate

F64 = torch.float64
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def assert_trace(model, current, expected_states, expected_spikes):
    """NumPy and torch float64 runs both reproduce the hand-computed trace."""
    current = np.asarray(current, dtype=np.float64)
    for trace, to_np in (
        (simulate(model, current), np.asarray),
        (simulate(model, torch.tensor(current, dtype=F64)), lambda t: t.numpy()),
    ):
        assert to_np(trace.spikes).tolist() == expected_spikes
        for name, values in expected_states.items():
            np.testing.assert_allclose(to_np(trace.states[name]), values, rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- golden traces

LIF_INPUT = [0.75, 0.75, 0.5, 0.25, 1.0, 0.0]
LIF_SPIKES = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
# alpha = 0.5, v_th = 1. Steps 1-2 are common to all cases: v1 = 0.75, v2 = 0.5*0.75 + 0.75.
LIF_GOLDEN = {
    # paper: v[t] = alpha v[t-1] + I[t] - r,  r = v_th S[t-1] or alpha v[t-1] S[t-1]
    ("paper", "subtract"): [
        0.75,
        1.125,
        0.5 * 1.125 + 0.5 - 1.0,  # 0.0625
        0.5 * 0.0625 + 0.25,  # 0.28125
        0.5 * 0.28125 + 1.0,  # 1.140625 (spike)
        0.5 * 1.140625 + 0.0 - 1.0,
    ],
    ("paper", "zero"): [
        0.75,
        1.125,
        0.5 * 1.125 + 0.5 - 0.5 * 1.125,  # 0.5: the leak starts from 0 after the spike
        0.5 * 0.5 + 0.25,  # 0.5
        0.5 * 0.5 + 1.0,  # 1.25 (spike)
        0.5 * 1.25 + 0.0 - 0.5 * 1.25,
    ],
    # code: v[t] = alpha (v[t-1] - r) + I[t]
    ("code", "subtract"): [
        0.75,
        1.125,
        0.5 * (1.125 - 1.0) + 0.5,  # 0.5625
        0.5 * 0.5625 + 0.25,  # 0.53125
        0.5 * 0.53125 + 1.0,  # 1.265625 (spike)
        0.5 * (1.265625 - 1.0) + 0.0,
    ],
    ("code", "zero"): [
        0.75,
        1.125,
        0.5 * (1.125 - 1.125) + 0.5,  # 0.5
        0.5 * 0.5 + 0.25,  # 0.5
        0.5 * 0.5 + 1.0,  # 1.25 (spike)
        0.5 * (1.25 - 1.25) + 0.0,
    ],
}


@pytest.mark.parametrize("convention, reset", sorted(LIF_GOLDEN))
def test_lif_golden_trace(convention, reset):
    model = LIF(alpha=0.5, v_th=1.0, convention=convention, reset=reset)
    assert_trace(model, LIF_INPUT, {"v": LIF_GOLDEN[convention, reset]}, LIF_SPIKES)


def test_lif_from_time_constant():
    alpha = math.exp(-0.5 / 4.0)
    model = LIF(tau_m=4.0, dt=0.5, v_th=1.0)
    v1 = 0.7
    v2 = alpha * v1 + 0.6  # 1.2537..., spike
    v3 = alpha * v2 + 0.1 - 1.0
    assert_trace(model, [0.7, 0.6, 0.1], {"v": [v1, v2, v3]}, [0.0, 1.0, 0.0])


def alif_golden(convention: str, reset: str) -> tuple[dict, list]:
    """ALIF, tau_m = 2, tau_a = 4, beta_a = 2, b0 = 1, dt = 1, I = (3, 1, 4, 0), by hand."""
    al, rho = math.exp(-1 / 2), math.exp(-1 / 4)
    a1, a2 = 0.0, (1 - rho) * 1.0  # S1 = 1
    a3 = rho * a2  # S2 = 0
    a4 = rho * a3 + (1 - rho)  # S3 = 1
    A1, A2, A3, A4 = (1.0 + 2.0 * a for a in (a1, a2, a3, a4))
    u1 = (1 - al) * 3.0  # 1.180 >= A1 = 1: spike
    if (convention, reset) == ("paper", "subtract"):
        u2 = al * u1 + (1 - al) * 1.0 - A2 * 1.0
        u3 = al * u2 + (1 - al) * 4.0
        u4 = al * u3 - A4 * 1.0
    elif (convention, reset) == ("paper", "zero"):
        u2 = al * u1 + (1 - al) * 1.0 - al * u1
        u3 = al * u2 + (1 - al) * 4.0
        u4 = al * u3 - al * u3
    elif (convention, reset) == ("code", "subtract"):
        u2 = al * (u1 - A1) + (1 - al) * 1.0
        u3 = al * u2 + (1 - al) * 4.0
        u4 = al * (u3 - A3)
    else:
        u2 = al * (u1 - u1) + (1 - al) * 1.0
        u3 = al * u2 + (1 - al) * 4.0
        u4 = al * (u3 - u3)
    assert u1 >= A1 and u2 < A2 and u3 >= A3 and u4 < A4  # the hand-made spike pattern
    return {"u": [u1, u2, u3, u4], "a": [a1, a2, a3, a4]}, [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_alif_golden_trace(convention, reset):
    model = ALIF(tau_m=2.0, tau_a=4.0, beta_a=2.0, b0=1.0, convention=convention, reset=reset)
    states, spikes = alif_golden(convention, reset)
    assert_trace(model, [3.0, 1.0, 4.0, 0.0], states, spikes)


# alpha1 = 0.75, alpha2 = 0.5, beta1 = -0.25, beta2 = 0.5, gamma = 0.25, v_th = 1,
# I = (2.5, 1, 0.5, 0). Step 1: d = 2.5, s = 0.5*2.5 = 1.25 (spike).
TWO_COMPARTMENT_GOLDEN = {
    # paper: d = a1 d + b1 s + I - gamma S;  s = a2 s + b2 d_new - r
    ("paper", "subtract"): (
        [2.5, 0.75 * 2.5 - 0.25 * 1.25 + 1.0 - 0.25, 2.0390625, 0.9267578125],
        [1.25, 0.625 + 0.5 * 2.3125 - 1.0, 1.41015625, 0.16845703125],
        [1.0, 0.0, 1.0, 0.0],
    ),
    # paper, hard reset: s = a2 s (1 - S) + b2 d_new (the dendrite reads the pre-reset soma)
    ("paper", "zero"): (
        [2.5, 2.3125, 0.75 * 2.3125 - 0.25 * 1.15625 + 0.5 - 0.25, 1.0595703125],
        [1.25, 0.0 + 0.5 * 2.3125, 0.0 + 0.5 * 1.6953125, 0.423828125 + 0.52978515625],
        [1.0, 1.0, 0.0, 0.0],
    ),
    # code: d_post = d - gamma S, s_post = s - r;  d = a1 d_post + b1 s_post + I;
    #       s = a2 s_post + b2 d_new
    ("code", "subtract"): (
        [2.5, 0.75 * 2.25 - 0.25 * 0.25 + 1.0, 0.75 * 2.375 - 0.25 * 0.4375 + 0.5, 1.365234375],
        [1.25, 0.5 * 0.25 + 0.5 * 2.625, 0.5 * 0.4375 + 0.5 * 2.171875, 0.8349609375],
        [1.0, 1.0, 1.0, 0.0],
    ),
    ("code", "zero"): (
        [2.5, 0.75 * 2.25 + 1.0, 0.75 * 2.4375 + 0.5, 0.75 * 2.078125],
        [1.25, 0.5 * 2.6875, 0.5 * 2.328125, 0.5 * 1.55859375],
        [1.0, 1.0, 1.0, 0.0],
    ),
}
# The remaining literals, step by step:
# paper/subtract t3: d = 0.75*2.3125 - 0.25*0.78125 + 0.5, s = 0.390625 + 1.01953125
#                t4: d = 0.75*2.0390625 - 0.25*1.41015625 - 0.25,
#                    s = 0.705078125 + 0.46337890625 - 1
# paper/zero     t4: d = 0.75*1.6953125 - 0.25*0.84765625, s = 0.5*0.84765625 + 0.5*d
# code/subtract  t4: d = 0.75*1.921875 - 0.25*0.3046875, s = 0.15234375 + 0.6826171875


@pytest.mark.parametrize("convention, reset", sorted(TWO_COMPARTMENT_GOLDEN))
def test_two_compartment_golden_trace(convention, reset):
    model = TwoCompartment(
        alpha1=0.75,
        alpha2=0.5,
        beta1=-0.25,
        beta2=0.5,
        gamma=0.25,
        v_th=1.0,
        convention=convention,
        reset=reset,
    )
    d, s, spikes = TWO_COMPARTMENT_GOLDEN[convention, reset]
    assert_trace(model, [2.5, 1.0, 0.5, 0.0], {"d": d, "s": s}, spikes)


# beta1 = -0.5, beta2 = 0.5, gamma = 0.5, v_th = 1, I = (1.5, 1, 0.25, 0).
# t1: d = 1.5, s = 0.75;  t2: d = 1.5 - 0.375 + 1 = 2.125, s = 0.75 + 1.0625 = 1.8125 (spike).
LSTMLIF_GOLDEN = {
    ("paper", "subtract"): (
        [1.5, 2.125, 2.125 - 0.90625 + 0.25 - 0.5, 0.96875 - 0.6484375 - 0.5],
        [0.75, 1.8125, 1.8125 + 0.484375 - 1.0, 1.296875 - 0.08984375 - 1.0],
        [0.0, 1.0, 1.0, 0.0],
    ),
    ("paper", "zero"): (
        [1.5, 2.125, 2.125 - 0.90625 + 0.25 - 0.5, 0.96875 - 0.2421875],
        [0.75, 1.8125, 1.8125 + 0.484375 - 1.8125, 0.484375 + 0.36328125],
        [0.0, 1.0, 0.0, 0.0],
    ),
    ("code", "subtract"): (
        [1.5, 2.125, 1.625 - 0.5 * 0.8125 + 0.25, 0.96875 - 0.5 * 0.546875],
        [0.75, 1.8125, 0.8125 + 0.5 * 1.46875, 0.546875 + 0.5 * 0.6953125],
        [0.0, 1.0, 1.0, 0.0],
    ),
    ("code", "zero"): (
        [1.5, 2.125, 1.625 + 0.25, 1.875 - 0.5 * 0.9375],
        [0.75, 1.8125, 0.0 + 0.5 * 1.875, 0.9375 + 0.5 * 1.40625],
        [0.0, 1.0, 0.0, 1.0],
    ),
}


@pytest.mark.parametrize("convention, reset", sorted(LSTMLIF_GOLDEN))
def test_lstmlif_golden_trace(convention, reset):
    model = LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5, v_th=1.0, convention=convention, reset=reset)
    d, s, spikes = LSTMLIF_GOLDEN[convention, reset]
    assert_trace(model, [1.5, 1.0, 0.25, 0.0], {"d": d, "s": s}, spikes)


def test_lstmlif_defaults_alias_and_logits():
    m = LSTMLIF()
    assert (m.alpha1, m.alpha2, m.beta1, m.beta2, m.gamma, m.v_th) == (1, 1, -0.5, 0.5, 0.5, 1)
    assert TCLIF is LSTMLIF and type(get_model("TC-LIF")) is LSTMLIF
    m = LSTMLIF.from_logits(1.5, -0.5, gamma=0.7)
    assert m.beta1 == pytest.approx(-1 / (1 + math.exp(-1.5)), rel=1e-15)
    assert m.beta2 == pytest.approx(1 / (1 + math.exp(0.5)), rel=1e-15)
    assert (round(m.beta1, 4), round(m.beta2, 4), m.gamma) == (-0.8176, 0.3775, 0.7)
    c = torch.tensor([-1.4, 1.4], dtype=F64, requires_grad=True)
    mt = LSTMLIF.from_logits(c[0], c[1])
    (mt.beta1 + mt.beta2).backward()
    s = 1 / (1 + math.exp(-1.4))
    np.testing.assert_allclose(c.grad.numpy(), [-s * (1 - s), s * (1 - s)], rtol=1e-14)


# ----------------------------------------------------------------------------- Jacobians


def triangle_psi(x: float) -> float:
    """The default surrogate, written out: max(0, 1 - |x|)."""
    return max(0.0, 1.0 - abs(x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_subthreshold_jacobians(device, convention, reset):
    sw = dict(convention=convention, reset=reset)
    # psi = 0: every potential more than one surrogate width below its threshold.
    J = autograd_jacobian(LIF(alpha=0.8, v_th=1.3, **sw), {"v": -0.4}, device=device)
    np.testing.assert_allclose(J, [[0.8]], rtol=1e-15)

    alpha, rho = math.exp(-1 / 20), math.exp(-1 / 200)
    J = autograd_jacobian(ALIF(**sw), {"u": -1.5, "a": 0.2}, device=device)
    np.testing.assert_allclose(J, [[alpha, 0.0], [0.0, rho]], rtol=1e-15, atol=1e-300)

    a1, a2, b1, b2 = 0.9, 0.7, -0.6, 0.4
    model = TwoCompartment(alpha1=a1, alpha2=a2, beta1=b1, beta2=b2, gamma=0.3, v_th=1.2, **sw)
    J = autograd_jacobian(model, {"d": 0.5, "s": -0.2}, device=device)
    np.testing.assert_allclose(J, [[a1, b1], [a1 * b2, a2 + b1 * b2]], rtol=1e-15)
    assert np.linalg.det(J) == pytest.approx(a1 * a2, rel=1e-14)

    for b1, b2 in [(-0.5, 0.5), (-0.8176, 0.3775), (0.5, 0.5), (-1.7, -2.9)]:
        model = LSTMLIF(beta1=b1, beta2=b2, **sw)
        J = autograd_jacobian(model, {"d": 0.3, "s": -0.1}, 1.0, device=device)
        np.testing.assert_allclose(J, [[1.0, b1], [b2, 1.0 + b1 * b2]], rtol=1e-15)
        assert np.linalg.det(J) == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("v, S", [(1.3 + 0.25, 1.0), (1.3 - 0.4, 0.0)])
def test_lif_jacobian_with_spikes(device, v, S):
    alpha, v_th = 0.8, 1.3
    psi = triangle_psi(v - v_th)
    assert psi > 0
    expected = {
        ("paper", "subtract", False): alpha - v_th * psi,
        ("code", "subtract", False): alpha * (1 - v_th * psi),
        ("paper", "subtract", True): alpha,
        ("code", "subtract", True): alpha,
        # hard reset: the membrane path is multiplied by (1 - S) in both conventions; without
        # detach the spike's psi adds -alpha v psi.
        ("code", "zero", True): alpha * (1 - S),
        ("paper", "zero", True): alpha * (1 - S),
        ("code", "zero", False): alpha * (1 - S - v * psi),
        ("paper", "zero", False): alpha * (1 - S - v * psi),
    }
    for (convention, reset, detach), value in expected.items():
        model = LIF(alpha=alpha, v_th=v_th, convention=convention, reset=reset, detach_reset=detach)
        J = autograd_jacobian(model, {"v": v}, device=device)
        assert J[0, 0] == pytest.approx(value, rel=1e-14, abs=1e-15), (convention, reset, detach)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("s_offset", [0.3, -0.2])
def test_two_compartment_jacobian_with_spikes(device, s_offset):
    a1, a2, b1, b2, g, v_th = 0.9, 0.7, -0.6, 0.4, 0.35, 1.2
    s = v_th + s_offset
    S = 1.0 if s_offset >= 0 else 0.0
    psi = triangle_psi(s_offset)
    state = {"d": 0.5, "s": s}
    kw = dict(alpha1=a1, alpha2=a2, beta1=b1, beta2=b2, gamma=g, v_th=v_th)

    J = autograd_jacobian(TwoCompartment(convention="paper", **kw), state, device=device)
    paper = [[a1, b1 - g * psi], [a1 * b2, a2 + b2 * (b1 - g * psi) - v_th * psi]]
    np.testing.assert_allclose(J, paper, rtol=1e-14)
    assert np.linalg.det(J) == pytest.approx(a1 * (a2 - v_th * psi), rel=1e-13)

    J = autograd_jacobian(TwoCompartment(convention="code", **kw), state, device=device)
    dd_ds = -a1 * g * psi + b1 * (1 - v_th * psi)
    code = [[a1, dd_ds], [a1 * b2, a2 * (1 - v_th * psi) + b2 * dd_ds]]
    np.testing.assert_allclose(J, code, rtol=1e-14)
    assert np.linalg.det(J) == pytest.approx(a1 * a2 * (1 - v_th * psi), rel=1e-13)

    subthreshold = [[a1, b1], [a1 * b2, a2 + b1 * b2]]
    for convention in ("paper", "code"):
        model = TwoCompartment(convention=convention, detach_reset=True, **kw)
        J = autograd_jacobian(model, state, device=device)
        np.testing.assert_allclose(J, subthreshold, rtol=1e-14)

    hard = dict(reset="zero", detach_reset=True, **kw)
    J = autograd_jacobian(TwoCompartment(convention="code", **hard), state, device=device)
    np.testing.assert_allclose(
        J, [[a1, b1 * (1 - S)], [a1 * b2, (a2 + b1 * b2) * (1 - S)]], rtol=1e-14, atol=1e-16
    )
    J = autograd_jacobian(TwoCompartment(convention="paper", **hard), state, device=device)
    np.testing.assert_allclose(J, [[a1, b1], [a1 * b2, a2 * (1 - S) + b1 * b2]], rtol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
def test_lstmlif_jacobian_determinant_with_spikes(device):
    for b1, b2, g, v_th, s_offset in [(-0.5, 0.5, 0.5, 1.0, 0.1), (-0.8, 0.4, 0.7, 1.8, -0.45)]:
        psi = triangle_psi(s_offset)
        for convention in ("paper", "code"):
            model = LSTMLIF(beta1=b1, beta2=b2, gamma=g, v_th=v_th, convention=convention)
            J = autograd_jacobian(model, {"d": 0.2, "s": v_th + s_offset}, device=device)
            assert np.linalg.det(J) == pytest.approx(1 - v_th * psi, rel=1e-13)
        # v_th psi > 1 flips the orientation: the determinant turns negative.
        model = LSTMLIF(beta1=b1, beta2=b2, gamma=g, v_th=v_th, surrogate="triangle")
        if v_th * psi > 1:
            assert np.linalg.det(autograd_jacobian(model, {"d": 0.2, "s": v_th + s_offset})) < 0


@pytest.mark.parametrize("device", DEVICES)
def test_alif_jacobian_with_spikes(device):
    alpha, rho, beta, b0 = math.exp(-1 / 20), math.exp(-1 / 200), 1.8, 0.01
    a = 0.1
    A = b0 + beta * a
    u = A + 0.4  # spike, psi = 0.6
    psi, S = triangle_psi(0.4), 1.0
    da_du = (1 - rho) * psi
    da_da = rho - (1 - rho) * beta * psi
    A_new = b0 + beta * (rho * a + (1 - rho) * S)
    paper = [
        [alpha - beta * da_du * S - A_new * psi, -beta * da_da * S + A_new * beta * psi],
        [da_du, da_da],
    ]
    code = [[alpha * (1 - A * psi), alpha * beta * (A * psi - S)], [da_du, da_da]]
    for convention, expected in (("paper", paper), ("code", code)):
        J = autograd_jacobian(ALIF(convention=convention), {"u": u, "a": a}, device=device)
        np.testing.assert_allclose(J, expected, rtol=1e-13)


def test_jacobian_uses_the_chosen_surrogate():
    # sigmoid(slope=4): psi(x) = 4 sigma(4x)(1 - sigma(4x)); LIF paper: alpha - v_th psi.
    x = 0.35
    sig = 1 / (1 + math.exp(-4 * x))
    psi = 4 * sig * (1 - sig)
    model = LIF(alpha=0.9, v_th=1.1, surrogate="sigmoid")
    J = autograd_jacobian(model, {"v": 1.1 + x})
    assert J[0, 0] == pytest.approx(0.9 - 1.1 * psi, rel=1e-14)


# ----------------------------------------------------------------------------- code vs paper


@pytest.mark.parametrize(
    "c1, c2, gamma, v_th", [(0.0, 0.0, 0.5, 1.0), (1.5, -0.5, 0.5, 1.0), (-1.4, 1.4, 0.7, 1.8)]
)
def test_code_convention_is_paper_with_shifted_dendritic_reset(c1, c2, gamma, v_th):
    """code(gamma) == paper(gamma + beta1 v_th): traces and d loss / d current (autograd)."""
    rng = np.random.default_rng(11)
    current = rng.uniform(-0.5, 1.5, size=(60, 32))
    w = torch.tensor(rng.normal(size=(3, 60, 32)), dtype=F64)
    beta1 = -1 / (1 + math.exp(-c1))
    code = LSTMLIF.from_logits(c1, c2, gamma=gamma, v_th=v_th, convention="code")
    paper = LSTMLIF.from_logits(c1, c2, gamma=gamma + beta1 * v_th, v_th=v_th, convention="paper")
    results = []
    for model in (code, paper):
        I = torch.tensor(current, dtype=F64, requires_grad=True)
        tr = simulate(model, I)
        loss = (w[0] * tr.spikes).sum() + (w[1] * tr.states["d"]).sum()
        loss = loss + (w[2] * tr.states["s"]).sum()
        (grad,) = torch.autograd.grad(loss, I)
        results.append((tr, grad))
    (tc, gc), (tp, gp) = results
    assert 0.05 < float(tc.spikes.detach().mean()) < 0.95
    assert torch.equal(tc.spikes, tp.spikes)
    for n in ("d", "s"):
        torch.testing.assert_close(tc.states[n], tp.states[n], rtol=0, atol=1e-12)
    assert torch.isfinite(gc).all() and float(gc.abs().max()) > 0
    torch.testing.assert_close(gc, gp, rtol=1e-10, atol=1e-12)
