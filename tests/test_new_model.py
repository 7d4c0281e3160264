"""A new model costs one file: a neuron the package does not ship, defined and registered here
only, runs through simulate (NumPy and torch), derive, inspect, verify and a layer with both
backwards, with no edit to the package.

The neuron is a two-state resonate-and-fire: below threshold
u[t] = a u'[t-1] - b v[t-1] + I[t],  v[t] = b u'[t-1] + a v[t-1],  u' = u - v_th S (the reset
subtracts the threshold from u after a spike), S[t] = H(u[t] - v_th). Below threshold
J = [[a, -b], [b, a]]: eigenvalues a +- i b, |lambda| = sqrt(a^2 + b^2), period 2 pi / atan2(b, a).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import sympy as sp
import torch

from lstmlif.analysis.adjoint import adjoint
from lstmlif.analysis.stability import inspect_model
from lstmlif.analysis.symbolic import derive
from lstmlif.cli import main
from lstmlif.neurons import (
    Coefficients,
    NeuronModel,
    Param,
    get_model,
    make_layer,
    model_names,
    registered,
    simulate,
)
from lstmlif.neurons.base import reset_spike
from lstmlif.neurons.parameterisations import Sigmoid, Trainable
from lstmlif.neurons.symbolic import Claim


@dataclass(frozen=True, kw_only=True)
class RFCoefficients(Coefficients):
    a: Any
    b: Any
    v_th: Any


@dataclass(frozen=True, eq=False, kw_only=True)
class TwoStateRF(NeuronModel):
    """Two-state resonate-and-fire neuron (this test's own)."""

    a: Any = 0.9
    b: Any = 0.3
    v_th: Any = 1.0
    convention: str = "code"

    name: ClassVar[str] = "rf2"
    aliases: ClassVar[tuple[str, ...]] = ("resonate-and-fire-2",)
    label: ClassVar[str] = "RF (2 states)"
    color: ClassVar[str] = "#CC79A7"
    state_names: ClassVar[tuple[str, ...]] = ("u", "v")
    threshold_state: ClassVar[str] = "u"
    param_names: ClassVar[tuple[str, ...]] = ("a", "b", "v_th")
    param_specs: ClassVar[dict[str, Param]] = {
        "a": Param(0.0, 1.0, hi_open=False, doc="damping"),
        "b": Param(doc="rotation"),
        "v_th": Param(0.0, doc="threshold"),
    }
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("subtract",)
    verify_params: ClassVar[dict[str, float]] = {"a": 0.9, "b": 0.3, "v_th": 1.0}
    input_stats: ClassVar[tuple[float, float]] = (0.3, 0.6)
    trainable: ClassVar[dict[str, Trainable]] = {"a": Trainable("a_logit", Sigmoid())}
    layer_defaults: ClassVar[dict[str, Any]] = {"train": ("a", "b")}

    def coefficients(self, ops: Any) -> RFCoefficients:
        return RFCoefficients(a=self.a, b=self.b, v_th=self.v_th, **self.switches())

    @staticmethod
    def step(p: RFCoefficients, state: dict, current: Any, ops: Any) -> tuple[dict, Any]:
        u, v, S = state["u"], state["v"], state["S"]
        u_post = u - p.v_th * reset_spike(p, S, ops)
        u_new = p.a * u_post - p.b * v + current
        v_new = p.b * u_post + p.a * v
        S_new = ops.spike(u_new - p.v_th, p.surrogate)
        return {"u": u_new, "v": v_new, "S": S_new}, S_new

    @staticmethod
    def spike_argument(p: RFCoefficients, state: dict, ops: Any) -> Any:
        return state["u"] - p.v_th

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        a, b = sp.Symbol("a", positive=True), sp.Symbol("b", real=True)
        return [
            Claim("RF", "J = [[a, -b], [b, a]]", d.J_sub, sp.Matrix([[a, -b], [b, a]])),
            Claim("RF", "det J = a^2 + b^2", d.det_sub, a**2 + b**2),
        ]


@pytest.fixture
def rf():
    with registered(TwoStateRF) as cls:
        yield cls
    assert "rf2" not in model_names()


def _current(T: int = 200, B: int = 4, seed: int = 0) -> np.ndarray:
    return 0.3 + 0.6 * np.random.default_rng(seed).standard_normal((T, B))


def test_registered_by_name_and_alias(rf):
    assert "rf2" in model_names()
    assert type(get_model("Resonate_and_fire-2", a=0.8)) is rf
    with pytest.raises(ValueError, match="'a' must lie in"):
        get_model("rf2", a=1.5)
    with pytest.raises(ValueError, match="unknown convention"):
        get_model("rf2", convention="paper")


def test_simulate_numpy_and_torch_agree(rf):
    x = _current()
    ref = simulate(rf(), x)
    assert ref.spikes.sum() > 0 and ref.states["v"].shape == x.shape
    got = simulate(rf(), torch.tensor(x))
    assert np.array_equal(got.spikes.numpy(), ref.spikes)
    np.testing.assert_allclose(got.states["u"].numpy(), ref.states["u"], atol=1e-12)
    # by hand, one step from rest with I = 0.5 and then 0: u = 0.5, v = 0; u = 0.45, v = 0.15
    two = simulate(rf(), np.array([[0.5], [0.0]]))
    np.testing.assert_allclose(two.states["u"][:, 0], [0.5, 0.45])
    np.testing.assert_allclose(two.states["v"][:, 0], [0.0, 0.15])


def test_derive_inspect_and_their_cli(rf, capsys):
    d = derive("rf2")
    a, b = sp.Symbol("a", positive=True), sp.Symbol("b", real=True)
    assert sp.simplify(d.J_sub - sp.Matrix([[a, -b], [b, a]])) == sp.zeros(2, 2)
    assert main(["derive", "rf2", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    own = [c for c in rep["checks"] if c["section"] == "RF"]
    assert len(own) == 2 and all(c["holds"] for c in own)
    info = inspect_model(rf(a=0.6, b=0.8))  # |lambda| = 1: a rotation by atan2(0.8, 0.6)
    assert info["spectral_radius"] == pytest.approx(1.0, abs=1e-12)
    assert info["period"] == pytest.approx(2 * math.pi / math.atan2(0.8, 0.6), rel=1e-12)
    assert info["class"] == "marginal"
    code = main(["inspect", "rf2", "--param", "a=0.5", "--json"])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["spectral_radius"] == pytest.approx(math.hypot(0.5, 0.3), rel=1e-12)


def test_verify_generated_adjoint_against_autograd_and_fd(rf, capsys):
    code = main(["verify", "--models", "rf2", "--json", "--steps", "150", "--batch", "3"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"], doc
    assert len(doc["rows"]) == 2  # code convention, subtract reset, detached or not
    for row in doc["rows"]:
        assert row["spikes"] > 0 and row["grad_norm"] > 0
        assert row["autograd_rel_err"] <= 1e-10 and row["fd_rel_err"] <= 1e-6
        assert row["hand_rel_err"] is None  # no recursion by hand for this model


def test_generated_adjoint_parameter_gradients(rf):
    x = _current(120, 3, seed=2)
    g = np.random.default_rng(3).standard_normal(x.shape)
    res = adjoint(rf(), x, grad_spikes=g)
    leaves = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for k, v in rf().params().items()
    }
    cur = torch.tensor(x, requires_grad=True)
    trace = simulate(rf(**leaves), cur)
    (trace.spikes * torch.tensor(g)).sum().backward()
    assert float(trace.spikes.detach().sum()) > 0
    np.testing.assert_allclose(res.current, cur.grad.numpy(), rtol=1e-10, atol=1e-12)
    for k, leaf in leaves.items():
        assert float(leaf.grad.abs()) > 0
        np.testing.assert_allclose(res.params[k], leaf.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("backward", ["autograd", "exact"])
def test_layer_trains_with_both_backwards(rf, backward):
    torch.manual_seed(0)
    layer = make_layer("rf2", 5, backward=backward, dtype=torch.float64)
    assert {n for n, _ in layer.named_parameters()} == {"a_logit", "b"}
    x = torch.tensor(_current(80, 2 * 5, seed=4).reshape(80, 2, 5), requires_grad=True)
    out = layer(x)
    assert float(out.detach().sum()) > 0
    (out * torch.linspace(-1, 1, 5, dtype=torch.float64)).sum().backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    for g in grads.values():
        assert torch.isfinite(g).all() and float(g.abs().max()) > 0
    # the same gradients by the other backward
    other = make_layer("rf2", 5, backward="autograd", dtype=torch.float64)
    other.load_state_dict(layer.state_dict())
    x2 = x.detach().clone().requires_grad_(True)
    (other(x2) * torch.linspace(-1, 1, 5, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-13)
    for n, p in other.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-10, atol=1e-13)
