"""Bad input raises ValueError with a message naming the offending parameter (table-driven)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch

from lstmlif.neurons import (
    ALIF,
    LIF,
    LSTMLIF,
    ALIFLayer,
    LIFLayer,
    LSTMLIFLayer,
    TwoCompartment,
    exact_simulate,
    get_model,
    get_surrogate,
    make_layer,
    simulate,
)

NAN, INF = math.nan, math.inf
T = 5

# (id, call, words the message must contain)
CASES = [
    # LIF: alpha in (0, 1], tau_m, dt, v_th > 0, all finite
    ("lif-alpha-0", lambda: LIF(alpha=0.0), ["'alpha'", "(0, 1]"]),
    ("lif-alpha-neg", lambda: LIF(alpha=-0.2), ["'alpha'"]),
    ("lif-alpha-big", lambda: LIF(alpha=1.01), ["'alpha'", "(0, 1]"]),
    ("lif-alpha-nan", lambda: LIF(alpha=NAN), ["'alpha'", "finite"]),
    ("lif-alpha-inf", lambda: LIF(alpha=INF), ["'alpha'", "finite"]),
    ("lif-alpha-array", lambda: LIF(alpha=np.array([0.5, 1.5])), ["'alpha'"]),
    ("lif-alpha-array-nan", lambda: LIF(alpha=np.array([0.5, NAN])), ["'alpha'"]),
    ("lif-alpha-tensor", lambda: LIF(alpha=torch.tensor([0.5, 0.0])), ["'alpha'"]),
    ("lif-alpha-text", lambda: LIF(alpha="fast"), ["'alpha'"]),
    ("lif-alpha-complex", lambda: LIF(alpha=0.5 + 0.1j), ["'alpha'"]),
    ("lif-alpha-and-tau", lambda: LIF(alpha=0.5, tau_m=3.0), ["'alpha'", "'tau_m'"]),
    ("lif-tau-0", lambda: LIF(tau_m=0.0), ["'tau_m'"]),
    ("lif-tau-neg", lambda: LIF(tau_m=-5.0), ["'tau_m'"]),
    ("lif-tau-nan", lambda: LIF(tau_m=NAN), ["'tau_m'"]),
    ("lif-dt-0", lambda: LIF(tau_m=5.0, dt=0.0), ["'dt'"]),
    ("lif-vth-0", lambda: LIF(v_th=0.0), ["'v_th'"]),
    ("lif-vth-neg", lambda: LIF(v_th=-1.0), ["'v_th'"]),
    ("lif-vth-inf", lambda: LIF(v_th=INF), ["'v_th'"]),
    # ALIF: tau_m, tau_a, dt, b0 > 0; beta_a >= 0
    ("alif-tau_m-0", lambda: ALIF(tau_m=0.0), ["'tau_m'"]),
    ("alif-tau_m-neg", lambda: ALIF(tau_m=-20.0), ["'tau_m'"]),
    ("alif-tau_a-0", lambda: ALIF(tau_a=0.0), ["'tau_a'"]),
    ("alif-tau_a-inf", lambda: ALIF(tau_a=INF), ["'tau_a'"]),
    ("alif-dt-neg", lambda: ALIF(dt=-1.0), ["'dt'"]),
    ("alif-dt-nan", lambda: ALIF(dt=NAN), ["'dt'"]),
    ("alif-b0-0", lambda: ALIF(b0=0.0), ["'b0'"]),
    ("alif-b0-neg", lambda: ALIF(b0=-0.01), ["'b0'"]),
    ("alif-beta_a-neg", lambda: ALIF(beta_a=-1.0), ["'beta_a'"]),
    ("alif-beta_a-nan", lambda: ALIF(beta_a=NAN), ["'beta_a'"]),
    # two compartments: alpha1, alpha2 in (0, 1], couplings and gamma finite, v_th > 0
    ("tc-alpha1-0", lambda: TwoCompartment(alpha1=0.0), ["'alpha1'"]),
    ("tc-alpha2-big", lambda: TwoCompartment(alpha2=1.2), ["'alpha2'"]),
    ("tc-beta1-nan", lambda: TwoCompartment(beta1=NAN), ["'beta1'"]),
    ("tc-beta2-inf", lambda: TwoCompartment(beta2=-INF), ["'beta2'"]),
    ("tc-gamma-nan", lambda: TwoCompartment(gamma=NAN), ["'gamma'"]),
    ("tc-vth-0", lambda: TwoCompartment(v_th=0.0), ["'v_th'"]),
    ("lstmlif-vth-neg", lambda: LSTMLIF(v_th=-1.0), ["'v_th'"]),
    ("lstmlif-beta1-nan", lambda: LSTMLIF(beta1=NAN), ["'beta1'"]),
    ("lstmlif-gamma-inf", lambda: LSTMLIF(gamma=INF), ["'gamma'"]),
    ("lstmlif-c1-nan", lambda: LSTMLIF.from_logits(NAN, 0.0), ["'c1'"]),
    ("lstmlif-c2-inf", lambda: LSTMLIF.from_logits(0.0, INF), ["'c2'"]),
    # switches and names
    ("convention", lambda: LIF(convention="printed"), ["convention", "'printed'"]),
    ("reset", lambda: LSTMLIF(reset="hard"), ["reset", "'hard'"]),
    ("detach", lambda: LIF(detach_reset="yes"), ["detach_reset"]),
    ("surrogate-name", lambda: LIF(surrogate="gauss"), ["surrogate", "'gauss'"]),
    ("surrogate-width", lambda: get_surrogate("triangle", width=0.0), ["'width'"]),
    ("surrogate-slope-nan", lambda: get_surrogate("sigmoid", slope=NAN), ["'slope'"]),
    ("surrogate-width-text", lambda: get_surrogate("triangle", width="1"), ["'width'"]),
    ("surrogate-width-bool", lambda: get_surrogate("rectangle", width=True), ["'width'"]),
    ("surrogate-sigma-array", lambda: get_surrogate("multi_gaussian", sigma=np.ones(2)), ["sigma"]),
    ("surrogate-unknown-param", lambda: get_surrogate("arctan", beta=1.0), ["'beta'"]),
    ("model-name", lambda: get_model("izhikevich"), ["model", "'izhikevich'"]),
    ("model-param", lambda: get_model("lif", tau=3.0), ["'tau'"]),
    ("layer-name", lambda: make_layer("hh", 4), ["layer", "'hh'"]),
    # simulate: shapes and values of the current
    (
        "sim-param-shape",
        lambda: simulate(LIF(alpha=np.full(3, 0.5)), np.zeros((T, 4))),
        ["'alpha'", "(3,)", "broadcast"],
    ),
    (
        "sim-param-shape-torch",
        lambda: simulate(LSTMLIF(beta2=torch.full((2, 3), 0.5)), torch.zeros(T, 4)),
        ["'beta2'", "(2, 3)"],
    ),
    ("sim-scalar-current", lambda: simulate(LIF(), np.float64(1.0)), ["current", "scalar"]),
    ("sim-scalar-tensor", lambda: simulate(LIF(), torch.tensor(1.0)), ["current", "scalar"]),
    ("sim-nan-current", lambda: simulate(LIF(), np.array([0.1, NAN])), ["current", "NaN"]),
    ("sim-inf-current", lambda: simulate(ALIF(), np.full((T, 2), INF)), ["current", "inf"]),
    (
        "sim-nan-tensor",
        lambda: simulate(LSTMLIF(), torch.tensor([[0.1], [NAN]])),
        ["current", "NaN"],
    ),
    ("sim-int-tensor", lambda: simulate(LIF(), torch.ones(T, 2, dtype=torch.int64)), ["current"]),
    ("sim-text-current", lambda: simulate(LIF(), ["a", "b"]), ["current"]),
    ("sim-complex-current", lambda: simulate(LIF(), np.array([0.5, 1j])), ["current", "complex"]),
    ("sim-not-a-model", lambda: simulate("lif", np.zeros(T)), ["model"]),
    (
        "sim-sympy-param",
        lambda: simulate(LSTMLIF(beta1=sp.Symbol("b1")), np.zeros(T)),
        ["'beta1'", "SymPy"],
    ),
    (
        "exact-sympy-param",
        lambda: exact_simulate(LSTMLIF(beta2=sp.Rational(1, 2)), torch.zeros(T)),
        ["'beta2'", "SymPy"],
    ),
    (
        "sim-torch-param-numpy-current",
        lambda: simulate(LIF(alpha=torch.tensor(0.5)), np.zeros(T)),
        ["current", "torch"],
    ),
    # layers: sizes, starting values and the (T, B, N) input
    ("layer-size", lambda: LIFLayer(0), ["size"]),
    ("layer-size-bool", lambda: LIFLayer(True), ["size"]),
    ("layer-alpha", lambda: LIFLayer(4, alpha=1.5), ["'alpha'"]),
    (
        # a trained alpha = sigmoid(raw) never reaches 1: the whole message, not a word of it
        "layer-learn-alpha-1",
        lambda: LIFLayer(4, alpha=1.0, learn_alpha=True),
        "LIFLayer: trainable parameter 'alpha': a value trained as value = sigmoid(raw) must "
        "lie in (0, 1), got 1.0",
    ),
    ("layer-tau", lambda: ALIFLayer(4, tau_m=-1.0), ["'tau_m'"]),
    ("layer-vth", lambda: LSTMLIFLayer(4, v_th=0.0), ["'v_th'"]),
    ("layer-convention", lambda: LSTMLIFLayer(4, convention="x"), ["convention"]),
    ("layer-input-2d", lambda: LSTMLIFLayer(4)(torch.zeros(T, 4)), ["input", "(T, B, 4)"]),
    ("layer-input-size", lambda: LIFLayer(4)(torch.zeros(T, 2, 5)), ["input", "(T, B, 4)"]),
    ("layer-input-numpy", lambda: ALIFLayer(4)(np.zeros((T, 2, 4))), ["input", "tensor"]),
    ("layer-input-nan", lambda: LIFLayer(2)(torch.full((T, 1, 2), NAN)), ["current", "NaN"]),
]


@pytest.mark.parametrize("call, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_value_error_naming_it(call, words):
    """``words``: the words the message must contain, or (a string) the whole message."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    if isinstance(words, str):
        assert message == words
        return
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_valid_edge_values_are_accepted():
    assert LIF(alpha=1.0).alpha == 1.0  # alpha = 1: no leak (the closed end of (0, 1])
    assert ALIF(beta_a=0.0).beta_a == 0.0  # no adaptation
    assert TwoCompartment(beta1=3.0, beta2=-2.0).beta2 == -2.0  # any sign, the quadrant study
    assert LSTMLIF(gamma=0.0).gamma == 0.0  # no dendritic reset
    assert get_model("LSTM-LIF", beta1=0.5).beta1 == 0.5
    # any numbers.Real is a number (a Fraction is exactly 4/5, stored as the float 0.8)
    assert get_model("lif", alpha=Fraction(4, 5)).alpha == 0.8
    np.testing.assert_array_equal(
        LIF(alpha=np.array([Fraction(1, 2), Fraction(1, 4)])).alpha, [0.5, 0.25]
    )
