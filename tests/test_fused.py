"""The fused kernels (neurons.fused) against autograd, for every registered model.

The reference is a different computation: autograd through the per-step graph of
``neurons.simulate``. The models and their switch sets are read from the registry at collection
time (``model_names()``, ``analysis.gradcheck.switch_sets``, each class's ``verify_params`` and
``input_stats``), so a model that is registered later is covered without an edit here. Every
check through spikes asserts that spikes occurred and that the gradients are finite and not all
zero.
"""

from __future__ import annotations

import math
import platform

import mpmath
import numpy as np
import pytest
import torch

from lstmlif.analysis.gradcheck import switch_sets
from lstmlif.neurons import (
    LIF,
    LSTMLIF,
    ModelLayer,
    get_model,
    make_layer,
    model_class,
    model_names,
    simulate,
)
from lstmlif.neurons.fused import (
    cache_dir,
    fused_simulate,
    fused_spikes,
    vector_exp,
    vector_report,
)

F64, F32 = torch.float64, torch.float32
CASES = [(name, *sw) for name in model_names() for sw in switch_sets(name)]
CASE_IDS = [f"{n}-{c}-{r}-{'detach' if d else 'attached'}" for n, c, r, d in CASES]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|; 0 when both are exactly zero."""
    scale = float(b.abs().max())
    diff = float((a - b).abs().max())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _setup(name, conv, reset, detach, dtype=F64, T=48, B=3, N=4, seed=0):
    """A model whose every parameter is a tensor leaf, an input current that makes it spike
    (its class's ``input_stats``) and loss weights."""
    cls = model_class(name)
    model = get_model(name, convention=conv, reset=reset, detach_reset=detach, **cls.verify_params)
    leaves = {
        k: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype).clone().requires_grad_()
        for k, v in model.params().items()
    }
    g = torch.Generator().manual_seed(seed)
    mean, std = cls.input_stats
    x = mean + std * torch.randn(T, B, N, dtype=F64, generator=g)
    w = torch.randn(T, B, N, dtype=F64, generator=g)
    w_x = {n: torch.randn(T, B, N, dtype=F64, generator=g) for n in model.state_names}
    cast = {k: v.to(dtype) for k, v in w_x.items()}
    return model, leaves, x.to(dtype), w.to(dtype), cast


def _grads(run, model, leaves, x, w, w_x=None):
    xi = x.clone().requires_grad_()
    out = run(model.replace(**leaves), xi)
    if isinstance(out, torch.Tensor):
        spikes, states = out, {}
        loss = (spikes * w).sum()
    else:
        spikes, states = out.spikes, out.states
        loss = (spikes * w).sum() + sum((states[n] * w_x[n]).sum() for n in states)
    grads = torch.autograd.grad(loss, [xi, *leaves.values()], allow_unused=True)
    inputs = [xi, *leaves.values()]
    grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, inputs, strict=True)]
    return spikes.detach(), {n: s.detach() for n, s in states.items()}, grads


def _check(ours, ref, names, tol):
    (s1, st1, g1), (s0, st0, g0) = ours, ref
    assert torch.equal(s1, s0), "the fused forward spikes differently from simulate"
    for n in st0:  # bit for bit with + - * / only; exp, sigmoid... may differ by an ulp
        assert _rel(st1[n], st0[n]) <= 1e-12, f"state {n} differs from simulate"
    rate = float(s0.mean())
    assert 0.0 < rate < 1.0, f"spike rate {rate}: the check would not exercise the spikes"
    assert float(g0[0].abs().max()) > 0, "reference input gradient is zero"
    for name, a, b in zip(names, g1, g0, strict=True):
        assert bool(torch.isfinite(a).all()), f"{name}: non-finite fused gradient"
        err = _rel(a, b)
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize("name,conv,reset,detach", CASES, ids=CASE_IDS)
def test_every_model_and_switch_set_float64(name, conv, reset, detach):
    """fused_spikes (the fewest states kept, the others recovered) against autograd: 1e-10 in
    float64, the spikes bit for bit."""
    model, leaves, x, w, _ = _setup(name, conv, reset, detach)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    _check(_grads(fused_spikes, model, leaves, x, w), ref, ["input", *leaves], 1e-10)
    assert any(float(g.abs().max()) > 0 for g in ref[2][1:]), "no parameter gradient at all"


@pytest.mark.parametrize("name", model_names())
def test_states_and_storage_policies(name):
    """On the model's last switch set: fused_simulate with a loss that also reads every state
    (the states bit for bit, their gradients entering the recursion); every state kept; and
    checkpoints every 7 of 48 steps (segments recomputed)."""
    conv, reset, detach = switch_sets(name)[-1]
    model, leaves, x, w, w_x = _setup(name, conv, reset, detach, seed=1)
    names = ["input", *leaves]
    ref = _grads(simulate, model, leaves, x, w, w_x)
    _check(_grads(fused_simulate, model, leaves, x, w, w_x), ref, names, 1e-10)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    for run in (
        lambda m, i: fused_spikes(m, i, store="all"),
        lambda m, i: fused_spikes(m, i, checkpoint=7),
    ):
        _check(_grads(run, model, leaves, x, w), ref, names, 1e-10)


# float32: the forward rounds like torch's (the same operations in the same order, constants in
# float32), so the spikes agree unless a transcendental function (exp of a state) differs by an
# ulp; the gradients then differ by float32 rounding of sums over T steps (see test_exact's
# F32_TOL): 1e-4 of the largest gradient. A flipped spike changes the trajectory, so a case with
# flips compares only the spikes (the count is asserted small).
F32_TOL = 1e-4


@pytest.mark.parametrize("name", model_names())
def test_float32_close_to_autograd(name):
    conv, reset, detach = switch_sets(name)[0]
    model, leaves, x, w, _ = _setup(name, conv, reset, detach, dtype=F32, T=120, B=4, N=16)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    ours = _grads(fused_spikes, model, leaves, x, w)
    flips = int((ours[0] != ref[0]).sum())
    assert flips <= 2, f"{flips} spike flips against the torch float32 forward"
    if flips == 0:
        _check(ours, ref, ["input", *leaves], F32_TOL)


@pytest.mark.parametrize("name", model_names())
def test_layer_gradients_reach_raw_parameters(name):
    """A layer with backward="fused" (the class's trained parameters, per neuron): the raw
    trained tensors (logits, log tau) get the autograd layer's gradients."""
    torch.manual_seed(3)
    cls = model_class(name)
    T, B, N = 40, 2, 5
    mean, std = cls.input_stats
    x = mean + std * torch.randn(T, B, N, dtype=F64)
    w = torch.randn(T, B, N, dtype=F64)
    res = {}
    for backward in ("autograd", "fused"):
        layer = ModelLayer(name, N, backward=backward, per_neuron=True, **cls.verify_params)
        layer = layer.to(F64)
        xi = x.clone().requires_grad_()
        out = layer(xi)
        params = [xi, *layer.parameters()]
        res[backward] = out.detach(), torch.autograd.grad((out * w).sum(), params)
        names = ["input", *(n for n, _ in layer.named_parameters())]
    assert torch.equal(res["fused"][0], res["autograd"][0])
    assert float(res["fused"][0].sum()) > 0
    for n, a, b in zip(names, res["fused"][1], res["autograd"][1], strict=True):
        assert _rel(a, b) <= 1e-10, n


def test_recovered_states_and_second_backward():
    """LSTM-LIF keeps s alone (d and I recovered); the buffer becomes dL/dI, so a second
    backward raises; fused_simulate keeps its states and may run backward twice."""
    x = (torch.rand(30, 2, 3, dtype=F64) * 1.5).requires_grad_()
    spikes = fused_spikes(LSTMLIF(), x)
    assert float(spikes.detach().sum()) > 0
    loss = spikes.sum()
    (g1,) = torch.autograd.grad(loss, [x], retain_graph=True)
    with pytest.raises(RuntimeError, match="already differentiated"):
        torch.autograd.grad(loss, [x])
    trace = fused_simulate(LSTMLIF(), x)
    loss = trace.spikes.sum()
    (g2,) = torch.autograd.grad(loss, [x], retain_graph=True)
    (g3,) = torch.autograd.grad(loss, [x])
    assert torch.equal(g2, g3) and float(g1.abs().max()) > 0
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=0)
    with torch.no_grad():
        assert torch.equal(fused_spikes(LSTMLIF(), x), trace.spikes)


def test_broadcast_parameter_grid():
    """A (3, 1) grid of leaks against a (T, 4) current: batch (3, 4); dL/dI sums the grid."""
    torch.manual_seed(4)
    logit = torch.tensor([[0.5], [1.5], [3.0]], dtype=F64, requires_grad=True)
    x = torch.rand(30, 4, dtype=F64) * 1.2
    w = torch.randn(30, 3, 4, dtype=F64)
    grads = []
    for run in (lambda m, i: simulate(m, i).spikes, fused_spikes):
        xi = x.clone().requires_grad_()
        spikes = run(LIF(alpha=torch.sigmoid(logit)), xi)
        assert spikes.shape == (30, 3, 4) and float(spikes.detach().sum()) > 0
        grads.append(torch.autograd.grad((spikes * w).sum(), [xi, logit]))
    for a, b in zip(*grads, strict=True):
        assert _rel(a, b) <= 1e-10


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="counts x86 vector instructions"
)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_inner_loops_vectorise(dtype):
    """numba's assembly of LSTM-LIF's kernels has packed (SIMD) arithmetic, as wide in the
    forward as in the backward (an int64 reduction once halved the forward's width)."""
    report = vector_report(LSTMLIF(), dtype)
    for kind in ("forward", "backward"):
        assert report[kind]["packed"] > 0, report
        assert report[kind]["width"] in ("xmm", "ymm", "zmm")
    assert report["forward"]["width"] == report["backward"]["width"], report


def test_a_backward_with_many_lane_arrays_vectorises():
    """DH-LIF's backward (five states, per-neuron coefficients, parameter accumulators) needs
    more runtime alias checks than LLVM's default budget; with ``LLVM_OPTIONS`` it vectorises
    (its assembly had no packed instruction before)."""
    report = vector_report(get_model("dhlif"), F32)
    assert report["backward"]["packed"] > 0, report


def _ulps(got: np.ndarray, exact: list, dtype: type) -> np.ndarray:
    """|got - exact| in units of the last place of exact rounded to ``dtype`` (exact as
    mpmath numbers)."""
    out = []
    for g, e in zip(got.tolist(), exact, strict=True):
        r = dtype(float(e))
        spacing = (
            float(np.spacing(np.abs(r))) if r != 0 else float(np.finfo(dtype).smallest_subnormal)
        )
        out.append(float(abs(mpmath.mpf(g) - e) / spacing))
    return np.asarray(out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_kernels_exponential_is_faithful(dtype):
    """The kernels' exponential (``vector_exp``) against mpmath at 50 digits: below 1 ulp over
    the whole range, subnormal results included; overflow to inf, underflow to 0, NaN kept."""
    fi = np.finfo(dtype)
    big = float(np.log(fi.max))  # 709.78 / 88.72
    tiny = float(np.log(fi.smallest_subnormal))  # -744.44 / -103.28
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            rng.uniform(tiny, big, 1500),
            rng.uniform(-1, 1, 500),
            np.array([0.0, -0.0, 1e-30, -1e-30, 0.5 * np.log(2), -0.5 * np.log(2)]),
            np.array([big - 1e-3, tiny + 0.1, float(np.log(fi.tiny)) - 1.0]),
        ]
    ).astype(dtype)
    got = vector_exp(x)
    assert got.dtype == dtype
    with mpmath.workdps(50):
        exact = [mpmath.exp(mpmath.mpf(float(v))) for v in x]
        err = _ulps(got, exact, dtype)
    assert err.max() < 1.0, (x[err.argmax()], err.max())
    assert np.mean(err > 0.5) < 0.2  # most results correctly rounded
    special = np.array([np.inf, -np.inf, np.nan, big + 1.0, tiny - 1.0, 1e4, -1e4], dtype)
    got = vector_exp(special)
    assert got[0] == np.inf and got[1] == 0 and np.isnan(got[2])
    assert got[3] == np.inf and got[4] == 0 and got[5] == np.inf and got[6] == 0


def test_cache_falls_back_to_a_writable_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("LSTMLIF_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.setenv("LSTMLIF_CACHE", "/proc/lstmlif-cannot-write")
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/lstmlif-cannot-write-either")
    folder = cache_dir()
    assert folder.is_dir() and str(folder).startswith(str(__import__("tempfile").gettempdir()))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="torch tensor"):
        fused_spikes(LIF(), [[1.0]])
    with pytest.raises(ValueError, match="float32 or float64"):
        fused_spikes(LIF(), torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        fused_spikes(LIF(), torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="unknown store"):
        fused_spikes(LIF(), torch.ones(3, 2), store="some")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="checkpoint"):
            fused_spikes(LIF(), torch.ones(3, 2), checkpoint=bad)
    with pytest.raises(ValueError, match="unknown backward"):
        make_layer("lif", 3, backward="fuse")
    empty = fused_spikes(LIF(), torch.zeros(0, 2, 3, dtype=F64, requires_grad=True))
    assert empty.shape == (0, 2, 3)
