"""DH-LIF (docs/catalogue.md): the official update order transcribed here independently (B
branches, each given the equal share I/B of the neuron's current), a trace by hand, NumPy against
torch, the (B+1) x (B+1) sub-threshold J against the catalogue's for B = 1..5 (2 to 6 states),
the generated adjoint against autograd (200 hypothesis cases, all spiking, B = 1..4), both layer
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
from lstmlif.analysis.stability import inspect_model, subthreshold_jacobian
from lstmlif.analysis.symbolic import derive
from lstmlif.neurons import get_model, get_surrogate, make_layer, model_names, registered, simulate
from lstmlif.neurons.catalogue.dhlif import DHLIF, DHLIF_INIT, dhlif_class


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def official(current, tau_n, tau_m, v_th=1.0):
    """The DH-SFNN layer's neuron (DH-SNN 79ab1fb), NumPy, with the branch inputs I/B:
    d = beta d + (1 - beta) I_b; l = sum_b d; mem = mem alpha + (1 - alpha) R_m l - v_th s;
    s = (mem - v_th > 0). tau_n: (B,) or (*batch, B). Returns d (T, *batch, B), mem, s."""
    tau_n = np.asarray(tau_n, dtype=float)
    B = tau_n.shape[-1]
    beta, alpha = _sigmoid(tau_n), _sigmoid(np.asarray(tau_m, dtype=float))
    shape = np.broadcast_shapes(current.shape[1:], tau_n.shape[:-1], np.shape(alpha))
    d = np.zeros((*shape, B))
    mem, s = np.zeros(shape), np.zeros(shape)
    ds, mems, ss = [], [], []
    for x in current:
        d = beta * d + (1 - beta) * (x / B)[..., None]
        l_input = d.sum(axis=-1)
        mem = mem * alpha + (1 - alpha) * 1.0 * l_input - v_th * s
        s = (mem - v_th > 0).astype(float)
        ds.append(d)
        mems.append(mem)
        ss.append(s)
    return np.array(ds), np.array(mems), np.array(ss)


def _model(tau_n, **kw):
    """A DH-LIF with len(tau_n) branches (tau_n: per-branch values, scalars or arrays)."""
    cls = dhlif_class(len(tau_n))
    return cls(**{f"tau_n{i + 1}": t for i, t in enumerate(tau_n)}, **kw)


def test_registered_with_the_pinned_names_and_defaults():
    assert "dhlif" in model_names("catalogue")
    m = get_model("DH-LIF")
    assert type(m) is DHLIF and DHLIF.B == 4 and dhlif_class(4) is DHLIF
    assert tuple(m.params()) == ("tau_n1", "tau_n2", "tau_n3", "tau_n4", "tau_m", "v_th")
    assert DHLIF.state_names == ("d1", "d2", "d3", "d4", "mem")
    assert m.tau_n1 == 0.5 * sum(DHLIF_INIT["tau_n"]) and m.tau_m == 0.5 * sum(DHLIF_INIT["tau_m"])
    assert m.surrogate == get_surrogate("multi_gaussian", sigma=0.5, h=0.15, s=6.0, scale=0.5)
    cls8 = dhlif_class(8)
    assert cls8.B == 8 and cls8.name == "dhlif-b8" and len(cls8.state_names) == 9
    assert dhlif_class(8) is cls8  # cached
    assert "dhlif-b8" not in model_names()
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="number of branches"):
            dhlif_class(bad)


def test_trace_by_hand():
    # B = 2, tau_n = (0, 0) (beta = 1/2), tau_m = 0 (alpha = 1/2), I = 8, -2
    m = _model((0.0, 0.0), tau_m=0.0)
    tr = simulate(m, np.array([[8.0], [-2.0]]))
    d1 = 0.5 * 4.0  # each branch: 1/2 d + 1/2 (I / 2)
    mem1 = 0.5 * (2 * d1)  # = 2: spike
    d2 = 0.5 * d1 + 0.5 * (-1.0)
    mem2 = 0.5 * mem1 + 0.5 * (2 * d2) - 1.0  # the soft reset with the previous spike
    np.testing.assert_allclose(tr.states["d1"][:, 0], [d1, d2], rtol=1e-15)
    np.testing.assert_allclose(tr.states["mem"][:, 0], [mem1, mem2], rtol=1e-15)
    assert tr.spikes[:, 0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("B", [1, 2, 4, 8])
def test_golden_trace_against_the_official_code(B):
    rng = np.random.default_rng(B)
    tau_n = rng.uniform(-1.0, 6.0, (5, B))  # per neuron and branch, as the official tau_n
    tau_m = rng.uniform(0.0, 4.0, 5)
    x = 2.0 + 2.0 * rng.standard_normal((400, 5))
    d, mem, s = official(x, tau_n, tau_m)
    tr = simulate(_model(tuple(tau_n.T), tau_m=tau_m), x)
    assert s.sum() > 50
    np.testing.assert_array_equal(tr.spikes, s)
    np.testing.assert_allclose(tr.states["mem"], mem, rtol=0, atol=1e-12)
    for b in range(B):
        np.testing.assert_allclose(tr.states[f"d{b + 1}"], d[..., b], rtol=0, atol=1e-12)


def test_numpy_and_torch_simulate_agree():
    x = 1.5 + 2.0 * np.random.default_rng(2).standard_normal((300, 5))
    model = DHLIF(**DHLIF.verify_params)
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 30
    np.testing.assert_array_equal(got.spikes.numpy(), ref.spikes)
    for n in DHLIF.state_names:
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)


@pytest.mark.parametrize("B", [1, 2, 3, 4, 5])
def test_jacobian_is_the_catalogue_block_triangular_matrix(B):
    """B + 1 = 2..6 states: J = [[diag(beta), 0], [(1 - alpha) beta^T, alpha]], numerically
    and symbolically (derive, with every claim holding)."""
    rng = np.random.default_rng(B)
    tau_n, tau_m = rng.uniform(-2, 5, B), 1.3
    beta, alpha = _sigmoid(tau_n), _sigmoid(tau_m)
    expected = np.zeros((B + 1, B + 1))
    expected[np.arange(B), np.arange(B)] = beta
    expected[B, :B] = (1 - alpha) * beta
    expected[B, B] = alpha
    model = _model(tuple(tau_n), tau_m=tau_m)
    np.testing.assert_allclose(subthreshold_jacobian(model), expected, rtol=1e-14, atol=1e-16)
    info = inspect_model(model, kmax=300)
    lam = sorted(z[0] for z in info["eigenvalues"])
    np.testing.assert_allclose(lam, sorted([*beta, alpha]), rtol=1e-12)
    assert info["class"] == "decaying" and math.isnan(info["period"])
    assert info["memory_horizon"] == pytest.approx(-1 / math.log(max(*beta, alpha)), rel=1e-10)
    assert ("schur_cohn" in info) == (B + 1 >= 3)
    cls = dhlif_class(B)
    ctx = registered(cls) if cls is not DHLIF else None
    if ctx is not None:
        ctx.__enter__()
    try:
        checks = claims_hold(cls.name)
        assert sum(c["section"] == "DH-LIF (c)" for c in checks) == 7
        d = derive(cls.name)
        assert len(d.blocks) == B + 1 and len(d.eigenvalues) == B + 1
        if B + 1 >= 3:
            assert set(d.jury) == {f"margin[{n}]" for n in cls.state_names}
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


@st.composite
def dhlif_cases(draw):
    B = draw(st.integers(1, 4))
    T = draw(st.integers(50, 90))
    N = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_neuron = draw(st.booleans())

    def value(lo, hi):
        return rng.uniform(lo, hi, size=N) if per_neuron else draw(st.floats(lo, hi))

    tau_n = tuple(value(-2.0, 4.0) for _ in range(B))
    kw = {"tau_m": value(-2.0, 3.0), "v_th": value(0.6, 1.4)}
    sname = draw(st.sampled_from(["multi_gaussian", "triangle", "sigmoid"]))
    model = _model(tau_n, surrogate=sname, **kw)
    drive = np.asarray(kw["v_th"]) * draw(st.floats(2.0, 4.0))
    x = drive * (1.0 + draw(st.floats(0.2, 0.8)) * rng.standard_normal((T, N)))
    return model, x, rng


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dhlif_cases())
def test_generated_adjoint_matches_autograd(case):
    check_adjoint_against_autograd(*case)


def test_layer_both_backwards_per_neuron():
    grads = layer_backwards_agree("dhlif")
    assert set(grads) == {"input", "tau_n1", "tau_n2", "tau_n3", "tau_n4", "tau_m"}
    layer = make_layer("dhlif", 4, dtype=torch.float64)
    assert layer.per_neuron and layer.tau_n1.shape == (4,)


def test_verify_command_passes(capsys):
    rows = verify_passes("dhlif", capsys)
    assert len(rows) == 1


def test_sample_init_and_paper_claim():
    m = DHLIF.sample_init(np.random.default_rng(0), 200)
    lo, hi = DHLIF_INIT["tau_n"]
    for b in range(1, 5):
        t = np.asarray(getattr(m, f"tau_n{b}"))
        assert t.shape == (200,) and t.min() >= lo and t.max() <= hi
    row = compare_model("dhlif", draws=50, seed=0, kmax=500)
    assert [c["verdict"] for c in row["claims"]] == ["holds"] and row["growing"] == 0.0
