"""Sub-threshold stability: J from the step function vs autograd and the theory's section 1 by hand,
spectrum, Jury classification, log-space power norms and the LSTM-LIF closed forms."""

import math

import mpmath
import numpy as np
import pytest
import torch
from _helpers import autograd_jacobian

from lstmlif.analysis.stability import (
    classify,
    eigenvalues,
    input_vector,
    jury_conditions,
    log10_power_norms,
    log10_sup_power_norm,
    lstmlif_impulse_closed_form,
    lstmlif_power_closed_form,
    memory_horizon,
    period,
    spectral_radius,
    subthreshold_jacobian,
    sup_power_norm,
)
from lstmlif.neurons import ALIF, LIF, LSTMLIF, TwoCompartment, simulate

PAPER_POINTS = [(-0.5, 0.5), (-0.8, 0.4), (-0.2, 0.8), (-0.8, 0.8)]


SUB_MODELS = [
    (LIF(alpha=0.8), {"v": -0.3}),
    (LIF(alpha=0.95, convention="code", reset="zero"), {"v": -0.1}),
    (ALIF(tau_m=20.0, tau_a=200.0), {"u": -1.5, "a": 0.1}),
    (ALIF(tau_m=5.0, tau_a=700.0, convention="code"), {"u": -1.2, "a": 0.3}),
    (TwoCompartment(alpha1=0.9, alpha2=0.7, beta1=-0.4, beta2=0.6), {"d": 0.3, "s": -0.5}),
    (
        TwoCompartment(alpha1=0.5, alpha2=1.0, beta1=0.3, beta2=-1.2, convention="code"),
        {"d": 1.0, "s": -0.2},
    ),
    (LSTMLIF(beta1=-0.8176, beta2=0.3775), {"d": 0.5, "s": -1.0}),
    (LSTMLIF(beta1=0.5, beta2=0.5, reset="zero", detach_reset=True), {"d": -2.0, "s": -0.1}),
]


@pytest.mark.parametrize("model,point", SUB_MODELS)
def test_jacobian_matches_autograd_below_threshold(model, point):
    # |threshold argument| > 1 = triangle width: psi = 0 there, so autograd sees sub-threshold J
    J = subthreshold_jacobian(model)
    J_auto = autograd_jacobian(model, point, current=0.05)
    np.testing.assert_allclose(J, J_auto, rtol=0, atol=1e-14)


def test_jacobian_matches_theory_section1_by_hand():
    np.testing.assert_allclose(subthreshold_jacobian(LIF(alpha=0.8)), [[0.8]], atol=0)
    np.testing.assert_allclose(
        subthreshold_jacobian(LIF(tau_m=10.0, dt=0.5)), [[math.exp(-0.05)]], rtol=1e-15
    )
    np.testing.assert_allclose(
        subthreshold_jacobian(ALIF(tau_m=20.0, tau_a=700.0)),
        [[math.exp(-1 / 20), 0.0], [0.0, math.exp(-1 / 700)]],
        rtol=1e-15,
        atol=0,
    )
    a1, a2, b1, b2 = 0.9, 0.7, -0.4, 0.6
    np.testing.assert_allclose(
        subthreshold_jacobian(TwoCompartment(alpha1=a1, alpha2=a2, beta1=b1, beta2=b2)),
        [[a1, b1], [a1 * b2, a2 + b1 * b2]],
        rtol=1e-15,
    )
    for conv in ("paper", "code"):
        J = subthreshold_jacobian(LSTMLIF(beta1=-0.5, beta2=0.5, convention=conv))
        np.testing.assert_allclose(J, [[1.0, -0.5], [0.5, 0.75]], atol=1e-16)
        assert np.linalg.det(J) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(input_vector(LSTMLIF(beta1=-0.3, beta2=0.7)), [1.0, 0.7])


def test_broadcasting_over_parameter_grids():
    b1 = np.linspace(-1.0, 1.0, 5)[:, None]
    b2 = np.linspace(-0.9, 0.9, 4)[None, :]
    model = LSTMLIF(beta1=b1, beta2=b2)
    J = subthreshold_jacobian(model)
    assert J.shape == (5, 4, 2, 2)
    for i in range(5):
        for j in range(4):
            expected = [[1.0, b1[i, 0]], [b2[0, j], 1.0 + b1[i, 0] * b2[0, j]]]
            np.testing.assert_allclose(J[i, j], expected, atol=1e-15)
    assert eigenvalues(model).shape == (5, 4, 2)
    for f in (spectral_radius, period, memory_horizon, classify):
        assert f(model).shape == (5, 4)
    assert sup_power_norm(model, ord=1, kmax=20).shape == (5, 4)
    torch_model = LSTMLIF(beta1=torch.tensor([-0.5, -0.2]), beta2=torch.tensor(0.5))
    assert subthreshold_jacobian(torch_model).shape == (2, 2, 2)


def test_eigenvalues_and_periods_of_the_paper_settings():
    for b1, b2 in PAPER_POINTS:
        model = LSTMLIF(beta1=b1, beta2=b2)
        lam = eigenvalues(model)
        np.testing.assert_allclose(np.abs(lam), 1.0, atol=1e-15)
        theta = math.acos(1 + b1 * b2 / 2)  # docs/theory.md section 2, independent of the code path
        assert lam[0].imag > 0 and lam[0] == pytest.approx(
            complex(math.cos(theta), math.sin(theta))
        )
        assert float(period(model)) == pytest.approx(2 * math.pi / theta, rel=1e-12)
    printed = {(-0.5, 0.5): 12.43, (-0.8, 0.4): 10.96, (-0.2, 0.8): 15.60, (-0.8, 0.8): 7.63}
    for (b1, b2), value in printed.items():
        assert round(float(period(LSTMLIF(beta1=b1, beta2=b2))), 2) == value
    for b1, b2 in ((0.5, 0.5), (-0.5, -0.5)):
        lam = eigenvalues(LSTMLIF(beta1=b1, beta2=b2))
        # roots of lambda^2 - 2.25 lambda + 1 by the quadratic formula
        r = math.sqrt(2.25**2 - 4)
        np.testing.assert_allclose(lam.real, [(2.25 + r) / 2, (2.25 - r) / 2], rtol=1e-14)
        assert np.all(lam.imag == 0)
        assert [round(x, 4) for x in lam.real] == [1.6404, 0.6096]
        assert math.isnan(float(period(LSTMLIF(beta1=b1, beta2=b2))))
    assert math.isnan(float(period(LIF(alpha=0.8))))


def test_classification_of_the_four_quadrants_and_leaky_models():
    cases = {
        (0.5, 0.5): "growing",
        (-0.5, -0.5): "growing",
        (-0.5, 0.5): "marginal",
        (0.5, -0.5): "marginal",
        (-3.0, 2.0): "growing",  # beta1 beta2 < -4: real root below -1
        (0.0, 0.5): "marginal",  # double root 1
    }
    for (b1, b2), label in cases.items():
        assert classify(LSTMLIF(beta1=b1, beta2=b2)) == label, (b1, b2)
    assert classify(LIF(alpha=0.8)) == "decaying"
    assert classify(LIF(alpha=1.0)) == "marginal"
    assert classify(ALIF()) == "decaying"
    # det = 0.81, tr = 1.55, tr^2 < 4 det: a complex pair of modulus 0.9
    leaky = TwoCompartment(alpha1=0.9, alpha2=0.9, beta1=-0.5, beta2=0.5)
    assert classify(leaky) == "oscillating-decaying"
    assert float(spectral_radius(leaky)) == pytest.approx(0.9, rel=1e-14)
    assert classify(TwoCompartment(alpha1=0.9, alpha2=0.9, beta1=1.0, beta2=1.0)) == "growing"
    # theory, section 2: a complex pair of the general model has |lambda| = sqrt(alpha1 alpha2)
    rng = np.random.default_rng(4)
    a1, a2 = rng.uniform(0.2, 1.0, 200), rng.uniform(0.2, 1.0, 200)
    b1, b2 = rng.uniform(-2, 2, 200), rng.uniform(-2, 2, 200)
    model = TwoCompartment(alpha1=a1, alpha2=a2, beta1=b1, beta2=b2)
    lam = eigenvalues(model)
    pair = lam[:, 0].imag != 0
    assert 20 < pair.sum() < 180
    mod = np.sqrt(a1 * a2)[pair][:, None] * np.ones((1, 2))
    np.testing.assert_allclose(np.abs(lam[pair]), mod, rtol=1e-13)
    assert np.all(np.isnan(period(model)[~pair])) and np.all(period(model)[pair] > 2)


def test_jury_conditions_agree_with_eigenvalues_on_random_maps():
    rng = np.random.default_rng(3)
    M = rng.uniform(-1.5, 1.5, size=(4000, 2, 2))
    rho = np.max(np.abs(np.linalg.eigvals(M)), axis=-1)
    keep = np.abs(rho - 1) > 1e-6
    jc = jury_conditions(np.linalg.det(M), np.trace(M, axis1=-2, axis2=-1))
    assert np.array_equal(jc["stable"][keep], (rho < 1)[keep])
    assert 500 < np.sum(jc["stable"][keep]) < 3500  # both outcomes occur
    with pytest.raises(ValueError, match="finite"):
        jury_conditions(np.nan, 1.0)


def test_log_space_power_norms_do_not_underflow():
    out = log10_power_norms(subthreshold_jacobian(LIF(alpha=0.8)), 10000, ord=1)
    assert out.shape == (10001,)
    assert np.all(np.isfinite(out))
    expected = np.arange(10001) * math.log10(0.8)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert 0.8**5000 == 0.0  # the plain product underflows
    # growing: the slope over the last 1000 steps is 1000 log10(lambda_max), no overflow
    J = subthreshold_jacobian(LSTMLIF(beta1=0.5, beta2=0.5))
    for ord_ in (1, 2):
        out = log10_power_norms(J, 10000, ord=ord_)
        assert np.all(np.isfinite(out))
        lam = (2.25 + math.sqrt(2.25**2 - 4)) / 2
        assert out[-1] - out[-1001] == pytest.approx(1000 * math.log10(lam), rel=1e-10)


def test_power_norms_match_direct_powers():
    rng = np.random.default_rng(7)
    J = rng.normal(size=(3, 2, 2)) * 0.8
    for ord_ in (1, 2, np.inf):
        out = log10_power_norms(J, 40, ord=ord_)
        for k in range(41):
            direct = [np.linalg.norm(np.linalg.matrix_power(J[i], k), ord_) for i in range(3)]
            np.testing.assert_allclose(out[:, k], np.log10(direct), rtol=1e-11, atol=1e-11)
    J3 = rng.normal(size=(3, 3)) * 0.6  # the general (non-2x2) path
    for ord_ in (1, 2):
        out = log10_power_norms(J3, 30, ord=ord_)
        direct = [np.linalg.norm(np.linalg.matrix_power(J3, k), ord_) for k in range(31)]
        np.testing.assert_allclose(out, np.log10(direct), rtol=1e-11, atol=1e-11)
    for bad in ((J, -1, 1), (J, 2.5, 1), (J, 5, 3), (np.full((2, 2), np.nan), 5, 1)):
        with pytest.raises(ValueError):
            log10_power_norms(*bad)
    with pytest.raises(ValueError, match="shape"):
        log10_power_norms(np.ones((2, 3)), 5, 1)


def test_sup_power_norm_and_memory_horizon():
    model = LSTMLIF(beta1=-0.5, beta2=0.5)
    J = subthreshold_jacobian(model)
    for ord_ in (1, 2):
        direct = max(np.linalg.norm(np.linalg.matrix_power(J, k), ord_) for k in range(301))
        assert float(sup_power_norm(model, ord=ord_, kmax=300)) == pytest.approx(direct, rel=1e-12)
        assert float(sup_power_norm(model, ord=ord_)) > 1.0  # transient amplification
    assert float(sup_power_norm(LIF(alpha=0.8), ord=1)) == 1.0  # k = 0
    grow = LSTMLIF(beta1=0.5, beta2=0.5)
    assert float(sup_power_norm(grow, ord=2)) == math.inf
    # J = [[1, 0.5], [0.5, 1.25]] is symmetric, so ||J^k||_2 = lam^k exactly (lam its largest
    # eigenvalue) and the supremum over k <= 10000 is lam^10000.
    lam = (2.25 + math.sqrt(2.25**2 - 4)) / 2
    assert float(log10_sup_power_norm(grow, ord=2)) == pytest.approx(
        10000 * math.log10(lam), rel=1e-12
    )
    assert float(memory_horizon(LIF(alpha=0.8))) == pytest.approx(-1 / math.log(0.8), rel=1e-14)
    assert float(memory_horizon(ALIF(tau_m=20.0, tau_a=200.0))) == pytest.approx(200.0, rel=1e-12)
    assert float(memory_horizon(model)) == math.inf
    assert float(memory_horizon(grow)) == math.inf


def _exact_power(b1: float, b2: float, k: int) -> np.ndarray:
    """J^k by repeated squaring in 60-digit arithmetic (mpmath) from the float64 betas taken
    exactly: rounding stays below 1e-50 per step, far under the 1e-9 tolerance."""
    with mpmath.workdps(60):
        f1, f2 = mpmath.mpf(b1), mpmath.mpf(b2)
        P = mpmath.matrix([[1, f1], [f2, 1 + f1 * f2]])
        R = mpmath.eye(2)
        n = k
        while n:
            if n & 1:
                R = R * P
            P = P * P
            n >>= 1
        return np.array([[float(R[i, j]) for j in range(2)] for i in range(2)])


@pytest.mark.parametrize("b1,b2", PAPER_POINTS + [(-0.8176, 0.3775), (-0.1978, 0.8022)])
def test_power_closed_form_matches_exact_powers_up_to_10000(b1, b2):
    ks = [0, 1, 2, 3, 7, 100, 784, 2500, 9999, 10000]
    C = lstmlif_power_closed_form(b1, b2, np.array(ks))
    for i, k in enumerate(ks):
        exact = _exact_power(b1, b2, k)
        scale = max(1.0, np.max(np.abs(exact)))
        np.testing.assert_allclose(C[i], exact, rtol=0, atol=1e-9 * scale)
    J = subthreshold_jacobian(LSTMLIF(beta1=b1, beta2=b2))
    np.testing.assert_allclose(
        lstmlif_power_closed_form(b1, b2, 10000), np.linalg.matrix_power(J, 10000), atol=1e-9
    )


def test_impulse_closed_form_matches_simulation_and_autograd():
    T = 400
    for b1, b2 in PAPER_POINTS:
        model = LSTMLIF(beta1=b1, beta2=b2)
        eps = 1e-3
        current = np.zeros(T)
        current[0] = eps
        trace = simulate(model, current)
        assert trace.spikes.sum() == 0
        expected = lstmlif_impulse_closed_form(b1, b2, np.arange(T))
        np.testing.assert_allclose(trace.states["s"] / eps, expected, rtol=0, atol=1e-10)
        # d s[k] / d I[0] by autograd through the torch simulation
        I = torch.zeros(T, dtype=torch.float64, requires_grad=True)
        s = simulate(model, I).states["s"]
        for k in (0, 1, 13, T - 1):
            (g,) = torch.autograd.grad(s[k], I, retain_graph=True)
            assert g[0].item() == pytest.approx(expected[k], abs=1e-12)
            assert g[0].item() != 0.0 or k == 0


def test_closed_form_input_validation():
    for b1, b2 in ((0.5, 0.5), (-3.0, 2.0), (0.0, 0.5), (np.nan, 0.5)):
        with pytest.raises(ValueError):
            lstmlif_power_closed_form(b1, b2, 3)
    for k in (-1, 1.5, True):
        with pytest.raises(ValueError, match="k must"):
            lstmlif_impulse_closed_form(-0.5, 0.5, k)
    with pytest.raises(ValueError, match="do not broadcast"):
        classify(LSTMLIF(beta1=np.full(3, -0.5), beta2=np.full(2, 0.5)))
    with pytest.raises(ValueError, match="numeric"):
        import sympy as sp

        subthreshold_jacobian(LSTMLIF(beta1=sp.Symbol("b"), beta2=0.5))
