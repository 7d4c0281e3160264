"""Any number of states: derive (charpoly, eigenvalues, margins) and inspect (classification,
period, power norms, Schur-Cohn margins) for models with 1, 2, 3 and 5 states, defined here.

- ``cascade(n)``: a chain of leaky states x1 -> x2 -> ... -> xn with the input into x1 and the
  threshold on xn: x1[t] = a1 x1[t-1] + I[t], xk[t] = ak xk[t-1] + c x(k-1)[t-1], and the reset
  -v_th S[t-1] on xn. J is lower-bidiagonal: eigenvalues a1..an, block-triangular with n blocks.
- ``Whorl``: three states that all talk to each other (one irreducible 3 x 3 block): a rotation
  (u, v) coupled both ways to a leak w. Its eigenvalues have no short closed form.
- ``Bend``: a one-state map with a square, u[t] = a u + c u^2 + I: not affine, so the difference
  quotient is not J; J at rest is a.
"""

from __future__ import annotations

import json
from dataclasses import make_dataclass
from typing import Any

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from lstmlif.analysis.stability import (
    classify,
    inspect_model,
    jury_conditions,
    log10_power_norms,
    period,
    schur_cohn_conditions,
    spectral_radius,
    subthreshold_jacobian,
)
from lstmlif.analysis.symbolic import LAM, derive, derive_report, schur_cohn_coefficients
from lstmlif.cli import main
from lstmlif.neurons import Coefficients, NeuronModel, Param, registered
from lstmlif.neurons.base import reset_spike


def cascade(n: int) -> type[NeuronModel]:
    """The n-state cascade model class (see the module docstring)."""
    names = tuple(f"x{k}" for k in range(1, n + 1))
    decays = tuple(f"a{k}" for k in range(1, n + 1))
    coef = make_dataclass(
        f"Cascade{n}Coefficients",
        [(a, Any) for a in decays] + [("c", Any), ("v_th", Any)],
        bases=(Coefficients,),
        frozen=True,
        kw_only=True,
    )

    def coefficients(self: Any, ops: Any) -> Any:
        return coef(**self.params(), **self.switches())

    def step(p: Any, state: dict, current: Any, ops: Any) -> tuple[dict, Any]:
        new = {names[0]: getattr(p, decays[0]) * state[names[0]] + current}
        for k in range(1, n):
            new[names[k]] = getattr(p, decays[k]) * state[names[k]] + p.c * state[names[k - 1]]
        new[names[-1]] = new[names[-1]] - p.v_th * reset_spike(p, state["S"], ops)
        S = ops.spike(new[names[-1]] - p.v_th, p.surrogate)
        new["S"] = S
        return new, S

    def spike_argument(p: Any, state: dict, ops: Any) -> Any:
        return state[names[-1]] - p.v_th

    specs = {a: Param(0.0, 1.0, hi_open=False) for a in decays}
    specs.update(c=Param(), v_th=Param(0.0))
    cls = make_dataclass(
        f"Cascade{n}",
        [(a, Any, 0.5 + 0.4 * k / n) for k, a in enumerate(decays)]
        + [("c", Any, 0.7), ("v_th", Any, 1.0), ("convention", str, "code")],
        bases=(NeuronModel,),
        frozen=True,
        eq=False,
        kw_only=True,
        namespace={
            "name": f"cascade{n}",
            "state_names": names,
            "threshold_state": names[-1],
            "param_names": (*decays, "c", "v_th"),
            "param_specs": specs,
            "conventions": ("code",),
            "resets": ("subtract",),
            "verify_params": {},
            "coefficients": coefficients,
            "step": staticmethod(step),
            "spike_argument": staticmethod(spike_argument),
        },
    )
    return cls


def _whorl() -> type[NeuronModel]:
    coef = make_dataclass(
        "WhorlCoefficients",
        [("a", Any), ("b", Any), ("c", Any), ("d", Any), ("v_th", Any)],
        bases=(Coefficients,),
        frozen=True,
        kw_only=True,
    )

    def coefficients(self: Any, ops: Any) -> Any:
        return coef(**self.params(), **self.switches())

    def step(p: Any, state: dict, current: Any, ops: Any) -> tuple[dict, Any]:
        u, v, w, S = state["u"], state["v"], state["w"], state["S"]
        u_new = p.a * u - p.b * v + p.c * w + current - p.v_th * S
        v_new = p.b * u + p.a * v
        w_new = p.c * u + p.d * w
        S_new = ops.spike(u_new - p.v_th, p.surrogate)
        return {"u": u_new, "v": v_new, "w": w_new, "S": S_new}, S_new

    def spike_argument(p: Any, state: dict, ops: Any) -> Any:
        return state["u"] - p.v_th

    return make_dataclass(
        "Whorl",
        [
            ("a", Any, 0.6),
            ("b", Any, 0.5),
            ("c", Any, 0.3),
            ("d", Any, 0.5),
            ("v_th", Any, 1.0),
            ("convention", str, "code"),
        ],
        bases=(NeuronModel,),
        frozen=True,
        eq=False,
        kw_only=True,
        namespace={
            "name": "whorl",
            "state_names": ("u", "v", "w"),
            "threshold_state": "u",
            "param_names": ("a", "b", "c", "d", "v_th"),
            "param_specs": {
                "a": Param(),
                "b": Param(),
                "c": Param(),
                "d": Param(),
                "v_th": Param(0.0),
            },
            "conventions": ("code",),
            "resets": ("subtract",),
            "coefficients": coefficients,
            "step": staticmethod(step),
            "spike_argument": staticmethod(spike_argument),
        },
    )


Whorl = _whorl()


def _bend() -> type[NeuronModel]:
    coef = make_dataclass(
        "BendCoefficients",
        [("a", Any), ("c", Any), ("v_th", Any)],
        bases=(Coefficients,),
        frozen=True,
        kw_only=True,
    )

    def coefficients(self: Any, ops: Any) -> Any:
        return coef(**self.params(), **self.switches())

    def step(p: Any, state: dict, current: Any, ops: Any) -> tuple[dict, Any]:
        u = state["u"]
        u_new = p.a * u + p.c * u * u + current - p.v_th * state["S"]
        S_new = ops.spike(u_new - p.v_th, p.surrogate)
        return {"u": u_new, "S": S_new}, S_new

    def spike_argument(p: Any, state: dict, ops: Any) -> Any:
        return state["u"] - p.v_th

    return make_dataclass(
        "Bend",
        [("a", Any, 0.8), ("c", Any, 0.25), ("v_th", Any, 1.0), ("convention", str, "code")],
        bases=(NeuronModel,),
        frozen=True,
        eq=False,
        kw_only=True,
        namespace={
            "name": "bend",
            "state_names": ("u",),
            "threshold_state": "u",
            "param_names": ("a", "c", "v_th"),
            "param_specs": {"a": Param(), "c": Param(), "v_th": Param(0.0)},
            "conventions": ("code",),
            "resets": ("subtract",),
            "coefficients": coefficients,
            "step": staticmethod(step),
            "spike_argument": staticmethod(spike_argument),
        },
    )


Bend = _bend()


# ----------------------------------------------------------------------------- derive


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_derive_cascade_any_number_of_states(n):
    with registered(cascade(n)) as cls:
        d = derive(cls.name)
        a = [sp.Symbol(f"a{k}", positive=True) for k in range(1, n + 1)]
        c = sp.Symbol("c", real=True)
        expected = sp.diag(*a)
        for k in range(1, n):
            expected[k, k - 1] = c
        assert sp.expand(d.J_sub - expected) == sp.zeros(n, n)
        # the characteristic polynomial is the product of the diagonal factors (Berkowitz agrees)
        assert sp.expand(d.charpoly - sp.Mul(*[LAM - ak for ak in a])) == 0
        assert sp.expand(d.charpoly - d.J_sub.charpoly(LAM).as_expr()) == 0
        assert sorted(d.eigenvalues, key=str) == sorted(a, key=str)
        rep = derive_report(cls.name)
        jury = d.jury
        if n == 1:
            assert set(jury) == {"margin"}
        elif n == 2:
            assert set(jury) == {"det_margin", "trace_margin"}
            assert "blocks" not in rep
        else:
            # one 1 x 1 block per state (lower-triangular J): one margin 1 - |a_k| each
            assert sorted(d.blocks) == [(f"x{k}",) for k in range(1, n + 1)]
            assert set(jury) == {f"margin[x{k}]" for k in range(1, n + 1)}
            for k in range(1, n + 1):
                assert sp.simplify(jury[f"margin[x{k}]"] - (1 - a[k - 1])) == 0
            assert rep["blocks"] == [list(b) for b in d.blocks]
            assert len(rep["charpoly_factors"]) == n
            assert not {"det_margin", "trace_margin"} & set(rep["jury"])


def test_blocks_order_makes_j_block_upper_triangular():
    with registered(cascade(5)) as cls:
        d = derive(cls.name)
        order = [d.model.state_names.index(b[0]) for b in d.blocks]
        P = d.J_sub.extract(order, order)
        assert all(P[i, j] == 0 for i in range(5) for j in range(i))  # upper-triangular


def test_derive_irreducible_three_states_uses_schur_cohn():
    with registered(Whorl):
        d = derive("whorl")
        assert d.blocks == [("u", "v", "w")]
        a, b, c, dd = sp.symbols("a b c d", real=True)
        J = sp.Matrix([[a, -b, c], [b, a, 0], [c, 0, dd]])
        assert sp.expand(d.J_sub - J) == sp.zeros(3, 3)
        assert sp.expand(d.charpoly - J.charpoly(LAM).as_expr()) == 0
        margins = d.jury
        assert set(margins) == {f"schur_cohn_margin_{m}[u, v, w]" for m in (3, 2, 1)}
        # numeric point: the symbolic margins and eigenvalues agree with NumPy's
        rng = np.random.default_rng(0)
        for _ in range(5):
            vals = dict(zip((a, b, c, dd), rng.uniform(-0.9, 0.9, 4), strict=True))
            Jn = np.array(J.subs(vals), dtype=float)
            lam = np.linalg.eigvals(Jn)
            got = [complex(sp.N(e.subs(vals), 30)) for e in d.eigenvalues]
            assert len(got) == 3
            for z in lam:  # each NumPy eigenvalue is one of the derived ones
                assert min(abs(z - g) for g in got) < 1e-9
            m = np.array([float(sp.N(v.subs(vals))) for v in margins.values()])
            assert bool(np.all(m > 0)) == bool(np.max(np.abs(lam)) < 1)
            sc = schur_cohn_conditions(Jn)
            np.testing.assert_allclose(sc["margins"], m, atol=1e-9)  # k_3, k_2, k_1


def test_schur_cohn_two_by_two_is_jury():
    det, tr = sp.symbols("det tr", real=True)
    ks = dict(schur_cohn_coefficients(LAM**2 - tr * LAM + det))
    assert sp.simplify(ks[2] - det) == 0
    assert sp.simplify(ks[1] + tr / (1 + det)) == 0


@given(st.integers(1, 5), st.integers(0, 10**6))
def test_schur_cohn_numeric_agrees_with_eigenvalues(n, seed):
    rng = np.random.default_rng(seed)
    J = rng.uniform(-1.0, 1.0, (n, n)) * rng.uniform(0.2, 1.5)
    rho = np.max(np.abs(np.linalg.eigvals(J)))
    sc = schur_cohn_conditions(J)
    if abs(rho - 1) > 1e-6:
        assert bool(sc["stable"]) == bool(rho < 1)
    if n == 2:
        jc = jury_conditions(np.linalg.det(J), np.trace(J))
        np.testing.assert_allclose(sc["reflection"][0], np.linalg.det(J), atol=1e-12)
        assert bool(jc["stable"]) == bool(sc["stable"]) or abs(rho - 1) < 1e-6


def test_schur_cohn_broadcasts_and_marks_the_unit_circle():
    J = np.stack([np.diag([0.5, 0.4, 0.3]), np.diag([1.0, 0.4, 0.3]), np.diag([1.2, 0.1, 0.3])])
    sc = schur_cohn_conditions(J)
    assert sc["reflection"].shape == (3, 3)
    assert sc["stable"].tolist() == [True, False, False]


# ----------------------------------------------------------------------------- inspect


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_inspect_cascade(n, capsys):
    cls = cascade(n)
    model = cls()
    J = subthreshold_jacobian(model)
    decays = [getattr(model, f"a{k}") for k in range(1, n + 1)]
    expected = np.diag(decays)
    for k in range(1, n):
        expected[k, k - 1] = 0.7
    np.testing.assert_allclose(J, expected, atol=1e-15)
    rep = inspect_model(model, kmax=500)
    assert rep["spectral_radius"] == pytest.approx(max(decays), rel=1e-12)
    assert rep["class"] == "decaying" and np.isnan(rep["period"])
    assert rep["memory_horizon"] == pytest.approx(-1 / np.log(max(decays)), rel=1e-12)
    # sup_k ||J^k|| by explicit matrix powers
    powers = [np.linalg.norm(np.linalg.matrix_power(expected, k), 2) for k in range(501)]
    assert rep["log10_sup_norm_2"] == pytest.approx(np.log10(max(powers)), abs=1e-10)
    if n >= 3:
        assert rep["schur_cohn"]["stable"] and len(rep["schur_cohn"]["margins"]) == n
        assert "jury" not in rep
        assert rep["det"] == pytest.approx(np.prod(decays), rel=1e-12)
    elif n == 2:
        assert "jury" in rep and "schur_cohn" not in rep
    else:
        assert "jury" not in rep and "schur_cohn" not in rep
    with registered(cls):
        assert main(["inspect", cls.name, "--json", "--kmax", "50"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["class"] == "decaying"
        assert main(["inspect", cls.name, "--kmax", "50"]) == 0
        text = capsys.readouterr().out
        assert ("Schur-Cohn" in text) == (n >= 3) and ("Jury" in text) == (n == 2)


def test_inspect_classifies_growth_and_oscillation_in_three_states():
    grow = Whorl(a=0.9, b=0.6, c=0.2, d=0.5)
    lam = np.linalg.eigvals(subthreshold_jacobian(grow))
    assert np.max(np.abs(lam)) > 1
    assert str(classify(grow)) == "growing"
    rep = inspect_model(grow, kmax=100)
    assert rep["schur_cohn"]["stable"] is False
    calm = Whorl(a=0.5, b=0.4, c=0.2, d=0.3)
    lam = np.linalg.eigvals(subthreshold_jacobian(calm))
    assert str(classify(calm)) == "oscillating-decaying"
    theta = np.max(np.abs(np.angle(lam)))
    assert float(period(calm)) == pytest.approx(2 * np.pi / theta, rel=1e-12)
    assert float(spectral_radius(calm)) == pytest.approx(np.max(np.abs(lam)), rel=1e-12)
    # power norms of a 3 x 3 map by explicit powers
    J = subthreshold_jacobian(calm)
    logs = log10_power_norms(J, 30, ord=1)
    for k in (0, 1, 7, 30):
        ref = np.linalg.norm(np.linalg.matrix_power(J, k), 1)
        assert logs[k] == pytest.approx(np.log10(ref), abs=1e-12)


def test_nonaffine_map_gets_the_derivative_not_the_difference_quotient():
    # (F(h) - F(0)) / h = a + c h: with h = -1 that would be a - c = 0.55, the derivative is a
    J = subthreshold_jacobian(Bend(a=0.8, c=0.25))
    assert J.shape == (1, 1) and J[0, 0] == pytest.approx(0.8, abs=1e-15)
    Js = subthreshold_jacobian(Bend(a=np.array([0.3, 0.8]), c=np.array([0.25, -0.5])))
    np.testing.assert_allclose(Js[:, 0, 0], [0.3, 0.8], atol=1e-15)
