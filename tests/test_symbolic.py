"""SymPy derivations (from the step functions) vs torch autograd and docs/theory.md sections 1-4."""

import itertools
import json

import numpy as np
import pytest
import sympy as sp
import torch
from _helpers import autograd_jacobian

from lstmlif.analysis.symbolic import (
    PSI,
    S_PREV,
    _closed_form,
    _rationalise,
    derive,
    derive_report,
    lstmlif_closed_form_proofs,
    model_checks,
    paper_proofs,
)
from lstmlif.neurons import ALIF, LIF, LSTMLIF, Triangle, TwoCompartment
from lstmlif.neurons.ops import NUMPY_OPS
from lstmlif.neurons.symbolic import evaluate

MODELS = ("lif", "alif", "two_compartment", "lstmlif")
SWITCHES = list(itertools.product(("paper", "code"), ("subtract", "zero"), (False, True)))


def _numeric_model(name, rng, **sw):
    if name == "lif":
        return LIF(alpha=rng.uniform(0.5, 0.99), v_th=rng.uniform(0.8, 1.5), **sw)
    if name == "alif":
        return ALIF(
            tau_m=rng.uniform(5, 30), tau_a=rng.uniform(100, 700), beta_a=rng.uniform(0.5, 2.0),
            b0=rng.uniform(0.01, 0.5), **sw,
        )  # fmt: skip
    common = dict(
        beta1=rng.uniform(-1, 1), beta2=rng.uniform(-1, 1), gamma=rng.uniform(0.3, 0.7),
        v_th=rng.uniform(0.8, 1.5), **sw,
    )  # fmt: skip
    if name == "two_compartment":
        return TwoCompartment(alpha1=rng.uniform(0.5, 1), alpha2=rng.uniform(0.5, 1), **common)
    return LSTMLIF(**common)


def _point_near_threshold(model, rng, above):
    """Previous-step potentials whose threshold argument x has 0.1 < |x| < 0.8 (psi != 0 for
    the width-1 triangle), with x >= 0 (a spike) when ``above``."""
    x = rng.uniform(0.1, 0.8) * (1 if above else -1)
    if isinstance(model, LIF):
        return {"v": model.v_th + x}, x
    if isinstance(model, ALIF):
        a = rng.uniform(0.0, 0.5)
        return {"u": model.b0 + model.beta_a * a + x, "a": a}, x
    return {"d": rng.uniform(-1, 1), "s": model.v_th + x}, x


@pytest.mark.parametrize("name", MODELS)
def test_spike_aware_jacobian_matches_autograd(name):
    rng = np.random.default_rng(11)
    tri = Triangle()
    for conv, reset, detach in SWITCHES:
        d = derive(name, conv, reset, detach)
        for above in (False, True):
            model = _numeric_model(name, rng, convention=conv, reset=reset, detach_reset=detach)
            point, x = _point_near_threshold(model, rng, above)
            current = float(rng.normal())
            arg = model.spike_argument(model.coefficients(NUMPY_OPS), point, NUMPY_OPS)
            assert (arg >= 0) == above  # the previous step spiked exactly when asked to
            J_auto = autograd_jacobian(model, point, current)
            values = {**{k: float(v) for k, v in model.params().items()}, **point, "I": current}
            J_sym = np.array(evaluate(d.J, values, tri).tolist(), dtype=np.float64)
            np.testing.assert_allclose(J_sym, J_auto, rtol=1e-12, atol=1e-12)
            assert np.all(np.isfinite(J_auto))
            if not detach and reset == "subtract":
                # psi != 0 at this point, and it shows: J_t differs from the sub-threshold J
                assert tri(x) > 0.1
                J_sub = np.array(evaluate(d.J_sub, values).tolist(), dtype=np.float64)
                assert np.max(np.abs(J_auto - J_sub)) > 1e-3


@pytest.mark.parametrize("name", MODELS)
def test_every_applicable_theory_statement_holds(name):
    for conv, reset, detach in SWITCHES:
        checks = model_checks(name, conv, reset, detach)
        assert checks, (name, conv, reset, detach)
        bad = [c.claim for c in checks if not c.holds]
        assert not bad, (name, conv, reset, detach, bad)
        sections = {c.section for c in checks}
        assert "1" in sections
        if reset == "subtract" and not detach:
            assert "4" in sections or name == "alif"


def test_section4_determinants_against_autograd_by_hand():
    """The theory's section 4 by hand, checked on autograd Jacobians at spiking points."""
    rng = np.random.default_rng(5)
    for conv in ("paper", "code"):
        a1, a2, b1, b2, g, vth = 0.9, 0.8, -0.6, 0.7, 0.5, 1.2
        m = TwoCompartment(alpha1=a1, alpha2=a2, beta1=b1, beta2=b2, gamma=g, v_th=vth,
                           convention=conv)  # fmt: skip
        for x in (-0.4, 0.3):
            psi = 1 - abs(x)
            J = autograd_jacobian(m, {"d": rng.normal(), "s": vth + x}, 0.2)
            det = a1 * (a2 - vth * psi) if conv == "paper" else a1 * a2 * (1 - vth * psi)
            assert np.linalg.det(J) == pytest.approx(det, rel=1e-12)
            if conv == "paper":
                hand = [[a1, b1 - g * psi], [a1 * b2, a2 + b2 * (b1 - g * psi) - vth * psi]]
                np.testing.assert_allclose(J, hand, rtol=1e-12)
        lstm = LSTMLIF(beta1=b1, beta2=b2, gamma=g, v_th=vth, convention=conv)
        J = autograd_jacobian(lstm, {"d": 0.1, "s": vth - 0.25}, 0.0)
        assert np.linalg.det(J) == pytest.approx(1 - vth * 0.75, rel=1e-12)
        lif = LIF(alpha=0.8, v_th=vth, convention=conv)
        J = autograd_jacobian(lif, {"v": vth + 0.5}, 0.0)
        expected = 0.8 - vth * 0.5 if conv == "paper" else 0.8 * (1 - vth * 0.5)
        assert J[0, 0] == pytest.approx(expected, rel=1e-12)
        # detached subtractive reset: no psi term, even at the spike
        lif_d = LIF(alpha=0.8, v_th=vth, convention=conv, detach_reset=True)
        assert autograd_jacobian(lif_d, {"v": vth + 0.5}, 0.0)[0, 0] == pytest.approx(0.8)
        hard = LIF(alpha=0.8, v_th=vth, convention=conv, reset="zero", detach_reset=True)
        # hard reset: the potential the next step leaks from is 0 in both conventions
        assert autograd_jacobian(hard, {"v": vth + 0.5}, 0.0)[0, 0] == pytest.approx(0.0)


def test_paper_and_code_determinants_differ_with_leak_and_agree_without():
    """Non-vacuous: the derivation tells the two conventions apart when alpha2 != 1."""
    dp, dc = derive("two_compartment", "paper"), derive("two_compartment", "code")
    a2 = dp.model.params()["alpha2"]
    assert sp.simplify(dp.det - dc.det) != 0
    assert sp.simplify((dp.det - dc.det).subs(a2, 1)) == 0
    lp, lc = derive("lstmlif", "paper"), derive("lstmlif", "code")
    assert sp.simplify(lp.det - lc.det) == 0
    vth = lp.model.params()["v_th"]
    assert sp.expand(lp.det - (1 - vth * PSI)) == 0
    assert S_PREV not in lp.det.free_symbols


def test_charpoly_eigenvalues_and_jury_of_lstmlif():
    d = derive("lstmlif")
    b1, b2 = d.model.params()["beta1"], d.model.params()["beta2"]
    lam = sp.Symbol("lambda")
    assert sp.expand(d.charpoly - (lam**2 - (2 + b1 * b2) * lam + 1)) == 0
    for bb1, bb2 in ((-0.5, 0.5), (0.5, 0.5)):
        num = [complex(e.subs({b1: bb1, b2: bb2}).evalf()) for e in d.eigenvalues]
        ref = np.linalg.eigvals(np.array([[1, bb1], [bb2, 1 + bb1 * bb2]]))
        key = lambda z: (z.real, z.imag)  # noqa: E731
        np.testing.assert_allclose(sorted(num, key=key), sorted(ref, key=key), atol=1e-14)
    assert d.jury["det_margin"] == 0  # det J = 1: never strictly inside the unit circle


def test_lstmlif_closed_form_proofs_hold_and_can_fail():
    checks = lstmlif_closed_form_proofs()
    assert len(checks) >= 6
    assert all(c.holds for c in checks), [c.claim for c in checks if not c.holds]
    phi, x = sp.Symbol("phi", positive=True), sp.Symbol("x", real=True)
    assert _rationalise(sp.cos(x - phi) - sp.cos(x + phi)) != 0
    b1 = sp.Symbol("beta1", real=True)
    C = _closed_form(b1, -4 * sp.sin(phi) ** 2 / b1, x)
    wrong = C.copy()
    wrong[0, 0], wrong[1, 1] = C[1, 1], C[0, 0]  # swapped diagonal: not J^k
    J = derive("lstmlif").J_sub.subs(derive("lstmlif").model.params()["beta2"],
                                     -4 * sp.sin(phi) ** 2 / b1)  # fmt: skip
    resid = (wrong.subs(x, x + 2 * phi) - J * wrong).applyfunc(_rationalise)
    assert any(e != 0 for e in resid)


def test_paper_proofs_hold():
    checks = paper_proofs()
    assert all(c.holds for c in checks), [c.claim for c in checks if not c.holds]
    claims = " | ".join(c.claim for c in checks)
    for needle in ("P = J E", "det P = 1", "tr P = 2 + 2", "not the one-step", "inf f = 1"):
        assert needle in claims


def test_paper_P_equals_two_step_derivative_by_autograd():
    """P = d(d[j], s[j]) / d(d[j-1], s[j-2]) numerically: chain rule on autograd pieces,
    P = (d x[j] / d x[j-2]) (d(d[j-1], s[j-2]) / d x[j-2])^-1."""
    b1, b2 = -0.37, 0.81
    m = LSTMLIF(beta1=b1, beta2=b2)
    x0 = torch.tensor([0.2, -1.5], dtype=torch.float64)

    def two_steps(x):
        o1 = m.transition({"d": x[0], "s": x[1]}, torch.tensor(0.1, dtype=torch.float64))
        o2 = m.transition(o1, torch.tensor(-0.2, dtype=torch.float64))
        return torch.stack([o2["d"], o2["s"]])

    def change(x):
        o1 = m.transition({"d": x[0], "s": x[1]}, torch.tensor(0.1, dtype=torch.float64))
        return torch.stack([o1["d"], x[1]])

    A = torch.autograd.functional.jacobian(two_steps, x0).numpy()
    B = torch.autograd.functional.jacobian(change, x0).numpy()
    P = A @ np.linalg.inv(B)
    hand = [[1 + b1 * b2, b1], [2 * b2 + b1 * b2**2, 1 + b1 * b2]]  # eq. 14 as printed
    np.testing.assert_allclose(P, hand, rtol=1e-13, atol=1e-15)


def test_derive_report_is_serialisable_text_and_latex():
    rep = derive_report("lstmlif")
    text = json.dumps(rep)
    assert "beta1" in text and all(c["holds"] for c in rep["checks"])
    assert rep["jacobian_subthreshold"] == [["1", "beta1"], ["beta2", "beta1*beta2 + 1"]]
    assert rep["det"] == "-psi*v_th + 1"
    latex = derive_report("two_compartment", latex=True, convention="code")
    assert "\\beta_{1}" in latex["jacobian"] and "\\psi" in latex["det"]
    alif = derive_report("alif")
    assert "alpha" in alif["jacobian_subthreshold"][0][0]
    assert any("diag(alpha, rho)" in c["claim"] and c["holds"] for c in alif["checks"])


def test_bad_switches_raise():
    with pytest.raises(ValueError, match="convention"):
        derive("lif", convention="nope")
    with pytest.raises(ValueError, match="reset"):
        derive("lif", reset="hard")
    with pytest.raises(ValueError, match="unknown model"):
        derive("hodgkin")
    with pytest.raises(ValueError, match="switch"):
        derive_report("lif", surrogate="triangle")
