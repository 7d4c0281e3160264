"""The SymPy view of the step functions (``neurons.symbolic``).

The symbolic update map, evaluated at random numbers, equals one NumPy step; its Jacobian with
the surrogate substituted equals torch autograd; and its sub-threshold / spike-aware Jacobians
are docs/theory.md sections 1 and 4 as formulas.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import sympy as sp
import torch

from lstmlif.neurons import NUMPY_OPS, get_model
from lstmlif.neurons.symbolic import (
    Psi,
    evaluate,
    jacobian,
    subthreshold,
    symbolic_model,
    update_map,
    with_surrogate,
)

SWITCHES = list(itertools.product(["paper", "code"], ["subtract", "zero"], [False, True]))


def random_point(name: str, rng: np.random.Generator, above: bool) -> tuple[dict, dict]:
    """Random parameters and previous potentials, the spike argument >= 0.05 above or below 0."""
    u = rng.uniform
    margin = u(0.05, 0.6) * (1 if above else -1)
    if name == "lif":
        params = dict(alpha=u(0.3, 1.0), v_th=u(0.5, 1.5))
        state = dict(v=params["v_th"] + margin)
    elif name == "alif":
        params = dict(tau_m=u(2, 30), tau_a=u(50, 500), beta_a=u(0.5, 2.0), b0=u(0.01, 0.5))
        a = u(0.0, 0.5)
        state = dict(u=params["b0"] + params["beta_a"] * a + margin, a=a)
    else:
        params = dict(beta1=u(-1, 1), beta2=u(-1, 1), gamma=u(0, 1), v_th=u(0.5, 1.5))
        if name == "two_compartment":
            params.update(alpha1=u(0.3, 1.0), alpha2=u(0.3, 1.0))
        state = dict(d=u(-1, 2), s=params["v_th"] + margin)
    return params, state


@pytest.mark.parametrize("convention, reset, detach", SWITCHES)
@pytest.mark.parametrize("name", ["lif", "alif", "two_compartment", "lstmlif"])
def test_update_map_equals_numpy_step(name, convention, reset, detach):
    switches = dict(convention=convention, reset=reset, detach_reset=detach)
    x, new, S_new = update_map(symbolic_model(name, **switches))
    rng = np.random.default_rng(zlib.crc32(f"{name}-{convention}-{reset}-{detach}".encode()))
    # The previous spike S[t-1] is 1 in half of the points and 0 in the other half.
    for above in (True, False, True, False):
        params, state = random_point(name, rng, above)
        current = rng.uniform(-0.5, 1.5)
        model = get_model(name, **params, **switches)
        numeric = model.transition({k: np.float64(v) for k, v in state.items()}, current)
        values = {**params, **state, "I": current}
        for n in model.state_names:
            assert float(evaluate(new[n], values)) == pytest.approx(
                float(numeric[n]), rel=1e-12, abs=1e-12
            )
        # The new spike: H of the model's threshold argument at the new potentials.
        p = model.coefficients(NUMPY_OPS)
        expected_spike = float(model.spike_argument(p, numeric, NUMPY_OPS) >= 0)
        assert float(evaluate(S_new, values)) == expected_spike
    assert x.keys() == new.keys()


@pytest.mark.parametrize("name", ["lif", "alif", "two_compartment", "lstmlif"])
@pytest.mark.parametrize("convention", ["paper", "code"])
def test_symbolic_jacobian_equals_autograd(name, convention):
    sym = symbolic_model(name, convention=convention)
    J = jacobian(sym)
    rng = np.random.default_rng(17)
    for above in (True, False):
        params, state = random_point(name, rng, above)
        # The spike argument is within 0.6 of 0, inside the triangle's support: psi != 0.
        model = get_model(name, **params, convention=convention)
        names = model.state_names
        x0 = torch.tensor([state[n] for n in names], dtype=torch.float64)
        current = torch.tensor(0.4, dtype=torch.float64)

        def f(x, model=model, names=names, current=current):
            out = model.transition({n: x[i] for i, n in enumerate(names)}, current)
            return torch.stack([out[n] for n in names])

        expected = torch.autograd.functional.jacobian(f, x0).numpy()
        values = {**params, **state, "I": 0.4}
        got = np.array(evaluate(J, values, surrogate=model.surrogate), dtype=np.float64)
        below = np.array(evaluate(subthreshold(J), values), dtype=np.float64)
        assert np.abs(got - below).max() > 1e-3  # the psi terms are present
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_subthreshold_jacobians_are_theory_section_1():
    b1, b2 = sp.symbols("beta1 beta2", real=True)
    a1, a2 = sp.Symbol("alpha1", positive=True), sp.Symbol("alpha2", positive=True)
    for convention in ("paper", "code"):
        J = subthreshold(jacobian(symbolic_model("lstmlif", convention=convention)))
        assert sp.simplify(J - sp.Matrix([[1, b1], [b2, 1 + b1 * b2]])) == sp.zeros(2, 2)
        J = subthreshold(jacobian(symbolic_model("two_compartment", convention=convention)))
        expected = sp.Matrix([[a1, b1], [a1 * b2, a2 + b1 * b2]])
        assert sp.simplify(J - expected) == sp.zeros(2, 2)
        J = subthreshold(jacobian(symbolic_model("lif", convention=convention)))
        assert J == sp.Matrix([[sp.Symbol("alpha", positive=True)]])
        J = subthreshold(jacobian(symbolic_model("alif", convention=convention)))
        tau_m, tau_a = sp.Symbol("tau_m", positive=True), sp.Symbol("tau_a", positive=True)
        expected = sp.diag(sp.exp(-1 / tau_m), sp.exp(-1 / tau_a))
        assert sp.simplify(J - expected) == sp.zeros(2, 2)


def test_spike_aware_determinants_are_theory_section_4():
    a1, a2 = sp.Symbol("alpha1", positive=True), sp.Symbol("alpha2", positive=True)
    v_th = sp.Symbol("v_th", positive=True)
    s = sp.Symbol("s", real=True)
    psi = Psi(s - v_th)
    expected = {"paper": a1 * (a2 - v_th * psi), "code": a1 * a2 * (1 - v_th * psi)}
    for convention, det in expected.items():
        J = jacobian(symbolic_model("two_compartment", convention=convention))
        assert sp.simplify(J.det() - det) == 0
        J = jacobian(symbolic_model("lstmlif", convention=convention))
        assert sp.simplify(J.det() - (1 - v_th * psi)) == 0
    alpha = sp.Symbol("alpha", positive=True)
    v = sp.Symbol("v", real=True)
    psi_v = Psi(v - v_th)
    J = jacobian(symbolic_model("lif", convention="paper"))
    assert sp.simplify(J[0, 0] - (alpha - v_th * psi_v)) == 0
    J = jacobian(symbolic_model("lif", convention="code"))
    assert sp.simplify(J[0, 0] - alpha * (1 - v_th * psi_v)) == 0
    for convention in ("paper", "code"):
        J = jacobian(symbolic_model("lif", convention=convention, detach_reset=True))
        assert sp.simplify(J[0, 0] - alpha) == 0


def test_with_surrogate_substitutes_the_closed_form():
    J = jacobian(symbolic_model("lif", convention="paper"))
    model = get_model("lif", alpha=0.8, v_th=1.2)
    for v, psi in [(1.5, 1 - 0.3), (0.9, 1 - 0.3), (3.0, 0.0)]:
        closed = with_surrogate(J[0, 0], model.surrogate)
        assert float(evaluate(closed, {"alpha": 0.8, "v_th": 1.2, "v": v})) == pytest.approx(
            0.8 - 1.2 * psi, rel=1e-14
        )
