"""The exact backward (neurons.exact) against the autograd path and against hand derivations.

The reference is a different computation: autograd through the per-step graph of
``neurons.simulate`` (the layers' default ``backward="autograd"``), and, for two tiny cases,
the chain rule worked out by hand. Every check through spikes asserts that spikes occurred and
that each gradient is finite and non-zero.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from lstmlif.neurons import (
    ALIF,
    LIF,
    LSTMLIF,
    SURROGATES,
    ALIFLayer,
    LIFLayer,
    LSTMLIFLayer,
    NeuronModel,
    TwoCompartment,
    exact_simulate,
    exact_spikes,
    lif_step,
    simulate,
)

F64 = torch.float64
CASES = list(itertools.product(("paper", "code"), ("subtract", "zero"), (False, True)))
CASE_IDS = [f"{c}-{r}-{'detach' if d else 'attached'}" for c, r, d in CASES]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|, the error relative to the reference b's size."""
    return float((a - b).abs().max() / b.abs().max())


def _check_grads(exact: list[torch.Tensor], ref: list[torch.Tensor], names: list[str], tol: float):
    for name, g, r in zip(names, exact, ref, strict=True):
        assert g is not None and r is not None, name
        assert bool(torch.isfinite(g).all()), f"{name}: non-finite exact gradient"
        assert float(r.abs().max()) > 0.0, f"{name}: reference gradient is zero"
        assert _rel(g, r) <= tol, f"{name}: relative error {_rel(g, r):.2e} > {tol:.0e}"


def _assert_spiking(spikes: torch.Tensor) -> None:
    rate = float(spikes.detach().mean())
    assert 0.02 < rate < 0.9, f"spike rate {rate:.3f}: the check would not exercise the reset"


# ----------------------------------------------------------------------------- layers


def _layer(kind: str, size: int, conv: str, reset: str, detach: bool, backward: str):
    sw = dict(convention=conv, reset=reset, detach_reset=detach, backward=backward)
    if kind == "lif":
        return LIFLayer(size, alpha=0.85, learn_alpha=True, per_neuron=True, **sw)
    if kind == "alif":
        return ALIFLayer(size, tau_m=4.0, tau_a=25.0, b0=0.2, **sw)
    return LSTMLIFLayer(size, c1=0.4, c2=-0.3, per_neuron=kind == "lstmlif_neuron", **sw)


@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif", "lstmlif_neuron"])
@pytest.mark.parametrize("conv,reset,detach", CASES, ids=CASE_IDS)
def test_layer_gradients_equal_autograd(kind, conv, reset, detach):
    """Input, the weights of a Linear feeding the layer and the layer's own parameters."""
    torch.manual_seed(7)
    T, B, K, N = 40, 3, 4, 6
    x = torch.randn(T, B, K, dtype=F64)
    w_out = torch.randn(T, B, N, dtype=F64)
    grads, spikes = {}, {}
    for backward in ("autograd", "exact"):
        torch.manual_seed(11)
        lin = torch.nn.Linear(K, N).to(F64)
        with torch.no_grad():
            lin.weight.mul_(1.5)
            lin.bias.add_(0.6)
        layer = _layer(kind, N, conv, reset, detach, backward).to(F64)
        xi = x.clone().requires_grad_()
        out = layer(lin(xi))
        loss = (out * w_out).sum()
        params = [xi, lin.weight, lin.bias, *layer.parameters()]
        grads[backward] = torch.autograd.grad(loss, params)
        spikes[backward] = out.detach()
        names = ["input", "weight", "bias", *(n for n, _ in layer.named_parameters())]
    assert torch.equal(spikes["exact"], spikes["autograd"])
    _assert_spiking(spikes["exact"])
    assert len(names) >= 4
    _check_grads(list(grads["exact"]), list(grads["autograd"]), names, 1e-10)


# ----------------------------------------------------------------------------- models


def _model(kind: str, N: int, sw: dict):
    """A model whose every coefficient is a tensor leaf (or a function of one)."""
    g = torch.Generator().manual_seed(3)

    def leaf(value, shape=()):
        jitter = 0.1 * torch.rand(shape, generator=g, dtype=F64) if shape else 0.0
        return (torch.full(shape, float(value), dtype=F64) + jitter).requires_grad_()

    if kind == "lif":
        ps = {"logit": leaf(1.5, (N,)), "v_th": leaf(1.1)}
        return (lambda: LIF(alpha=torch.sigmoid(ps["logit"]), v_th=ps["v_th"], **sw)), ps
    if kind == "alif":
        ps = {
            "log_tau_m": leaf(math.log(4.0), (N,)),
            "log_tau_a": leaf(math.log(25.0), (N,)),
            "beta_a": leaf(1.8),
            "b0": leaf(0.2),
        }
        return (
            lambda: ALIF(
                tau_m=torch.exp(ps["log_tau_m"]),
                tau_a=torch.exp(ps["log_tau_a"]),
                beta_a=ps["beta_a"],
                b0=ps["b0"],
                **sw,
            )
        ), ps
    if kind == "lstmlif":
        ps = {"c1": leaf(0.4), "c2": leaf(-0.3, (N,)), "gamma": leaf(0.6), "v_th": leaf(1.2)}
        return (
            lambda: LSTMLIF.from_logits(
                ps["c1"], ps["c2"], gamma=ps["gamma"], v_th=ps["v_th"], **sw
            )
        ), ps
    ps = {
        "alpha1": leaf(0.9),
        "alpha2": leaf(0.5, (N,)),
        "beta1": leaf(-0.4),
        "beta2": leaf(0.7),
        "gamma": leaf(0.3),
        "v_th": leaf(0.9),
    }
    return (lambda: TwoCompartment(**ps, **sw)), ps


@pytest.mark.parametrize("kernel", ["hand", "generic"])
@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif", "two_compartment"])
@pytest.mark.parametrize("conv,reset,detach", CASES, ids=CASE_IDS)
def test_model_gradients_equal_autograd(kind, conv, reset, detach, kernel):
    """Every coefficient as a tensor (v_th, gamma, beta_a, b0 included), and a loss that also
    reads the recorded potentials, so the state-output gradients enter the recursion; by the
    hand-written kernel and by the kernel generated from the step."""
    torch.manual_seed(5)
    T, B, N = 40, 3, 5
    sw = dict(convention=conv, reset=reset, detach_reset=detach)
    build, ps = _model(kind, N, sw)
    scale = 3.0 if kind == "alif" else 0.8
    x = torch.randn(T, B, N, dtype=F64) * scale + 0.4 * scale
    w_out, w_state = torch.randn(T, B, N, dtype=F64), torch.randn(T, B, N, dtype=F64)
    res = {}
    for run in (simulate, exact_simulate):
        xi = x.clone().requires_grad_()
        trace = run(build(), xi) if run is simulate else run(build(), xi, kernel=kernel)
        last = trace.model.state_names[-1]
        loss = (trace.spikes * w_out).sum() + 0.1 * (trace.states[last] * w_state).sum()
        res[run.__name__] = trace, torch.autograd.grad(loss, [xi, *ps.values()])
    (ref_trace, ref), (ex_trace, ex) = res["simulate"], res["exact_simulate"]
    assert torch.equal(ex_trace.spikes, ref_trace.spikes)
    for name in ref_trace.states:
        assert torch.equal(ex_trace.states[name], ref_trace.states[name])
    _assert_spiking(ex_trace.spikes)
    _check_grads(list(ex), list(ref), ["input", *ps], 1e-10)


@pytest.mark.parametrize("checkpoint", [None, 7])
@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif", "two_compartment"])
@pytest.mark.parametrize("conv,reset,detach", CASES, ids=CASE_IDS)
def test_generic_kernel_spikes_only(kind, conv, reset, detach, checkpoint):
    """The generated kernel behind exact_spikes (states consumed, or recomputed from
    checkpoints every 7 steps) against autograd and against the hand kernel."""
    torch.manual_seed(6)
    T, B, N = 30, 2, 4
    build, ps = _model(kind, N, dict(convention=conv, reset=reset, detach_reset=detach))
    scale = 3.0 if kind == "alif" else 0.8
    x = torch.randn(T, B, N, dtype=F64) * scale + 0.4 * scale
    w_out = torch.randn(T, B, N, dtype=F64)
    got = {}
    for how in ("autograd", "hand", "generic"):
        xi = x.clone().requires_grad_()
        if how == "autograd":
            spikes = simulate(build(), xi).spikes
        else:
            spikes = exact_spikes(build(), xi, checkpoint=checkpoint, kernel=how)
        got[how] = spikes.detach(), torch.autograd.grad((spikes * w_out).sum(), [xi, *ps.values()])
    _assert_spiking(got["generic"][0])
    assert torch.equal(got["generic"][0], got["autograd"][0])
    _check_grads(list(got["generic"][1]), list(got["autograd"][1]), ["input", *ps], 1e-10)
    _check_grads(list(got["generic"][1]), list(got["hand"][1]), ["input", *ps], 1e-10)


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif"])
def test_every_surrogate(kind, surrogate):
    torch.manual_seed(2)
    T, B, N = 30, 2, 5
    sw = dict(convention="paper", reset="subtract", detach_reset=False, surrogate=surrogate)
    build, ps = _model(kind, N, sw)
    scale = 3.0 if kind == "alif" else 0.8
    x = torch.randn(T, B, N, dtype=F64) * scale + 0.4 * scale
    w_out = torch.randn(T, B, N, dtype=F64)
    out = []
    for run in (simulate, exact_simulate):
        xi = x.clone().requires_grad_()
        trace = run(build(), xi)
        out.append(
            (trace.spikes, torch.autograd.grad((trace.spikes * w_out).sum(), [xi, *ps.values()]))
        )
    _assert_spiking(out[1][0])
    _check_grads(list(out[1][1]), list(out[0][1]), ["input", *ps], 1e-10)


def test_broadcast_parameter_grid():
    """A (3, 1) grid of leaks against a (T, 4) current: batch (3, 4); dL/dI sums the grid."""
    torch.manual_seed(4)
    logit = torch.tensor([[0.5], [1.5], [3.0]], dtype=F64, requires_grad=True)
    x = torch.rand(30, 4, dtype=F64) * 1.2
    w = torch.randn(30, 3, 4, dtype=F64)
    grads = []
    for run in (simulate, exact_simulate):
        xi = x.clone().requires_grad_()
        trace = run(LIF(alpha=torch.sigmoid(logit)), xi)
        assert trace.spikes.shape == (30, 3, 4)
        grads.append(torch.autograd.grad((trace.spikes * w).sum(), [xi, logit]))
        _assert_spiking(trace.spikes)
    _check_grads(list(grads[1]), list(grads[0]), ["input", "logit"], 1e-10)


@pytest.mark.parametrize("checkpoint", [None, 1, 7, 16, 40, 100])
@pytest.mark.parametrize("kind,conv", [("lstmlif", "code"), ("alif", "paper"), ("lif", "code")])
def test_storage_policies(kind, conv, checkpoint):
    """The spikes-only path: states kept in blocks (None) or recomputed from checkpoints every
    K steps, for K dividing T = 40 or not, K = 1 and K > T."""
    torch.manual_seed(8)
    T, B, N = 40, 2, 5
    sw = dict(convention=conv, reset="zero", detach_reset=False)
    build, ps = _model(kind, N, sw)
    scale = 3.0 if kind == "alif" else 0.8
    x = torch.randn(T, B, N, dtype=F64) * scale + 0.4 * scale
    w_out = torch.randn(T, B, N, dtype=F64)
    res = []
    for run in (lambda m, i: simulate(m, i).spikes, lambda m, i: exact_spikes(m, i, checkpoint)):
        xi = x.clone().requires_grad_()
        spikes = run(build(), xi)
        res.append((spikes, torch.autograd.grad((spikes * w_out).sum(), [xi, *ps.values()])))
    assert torch.equal(res[0][0], res[1][0])
    _assert_spiking(res[1][0])
    _check_grads(list(res[1][1]), list(res[0][1]), ["input", *ps], 1e-10)


def test_second_backward():
    """exact_simulate keeps its states (backward twice gives the same gradient); the
    spikes-only path reuses them for dL/dI and refuses a second pass instead of being wrong."""
    x = (torch.rand(30, 2, 3, dtype=F64) * 1.5).requires_grad_()
    trace = exact_simulate(LSTMLIF(), x)
    _assert_spiking(trace.spikes)
    loss = trace.spikes.sum()
    (g1,) = torch.autograd.grad(loss, [x], retain_graph=True)
    (g2,) = torch.autograd.grad(loss, [x])
    assert bool(torch.isfinite(g1).all()) and float(g1.abs().max()) > 0
    assert torch.equal(g1, g2)
    spikes = exact_spikes(LSTMLIF(), x)
    loss = spikes.sum()
    torch.autograd.grad(loss, [x], retain_graph=True)
    with pytest.raises(RuntimeError, match="already differentiated"):
        torch.autograd.grad(loss, [x])
    checkpointed = exact_spikes(LSTMLIF(), x, checkpoint=8).sum()
    (g3,) = torch.autograd.grad(checkpointed, [x], retain_graph=True)
    (g4,) = torch.autograd.grad(checkpointed, [x])
    assert torch.equal(g3, g4) and torch.allclose(g3, g1, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- by hand


def _triangle(x: float) -> float:
    return max(0.0, 1.0 - abs(x))


def test_lif_two_steps_by_hand():
    """paper/subtract, L = S[2]: v1 = I1, v2 = a v1 + I2 - v_th S1,
    dL/dI1 = psi(z2) (a - v_th psi(z1)), dL/dI2 = psi(z2), dL/da = psi(z2) v1."""
    a, v_th, I1, I2 = 0.7, 1.0, 1.3, 0.5
    v1 = I1
    S1 = 1.0 if v1 >= v_th else 0.0
    v2 = a * v1 + I2 - v_th * S1
    p1, p2 = _triangle(v1 - v_th), _triangle(v2 - v_th)
    assert S1 == 1.0 and p1 > 0 and p2 > 0
    alpha = torch.tensor(a, dtype=F64, requires_grad=True)
    x = torch.tensor([I1, I2], dtype=F64, requires_grad=True)
    trace = exact_simulate(LIF(alpha=alpha, v_th=v_th), x)
    gx, ga = torch.autograd.grad(trace.spikes[1], [x, alpha])
    assert gx.tolist() == pytest.approx([p2 * (a - v_th * p1), p2], rel=1e-14)
    assert float(ga) == pytest.approx(p2 * v1, rel=1e-14)


def test_lstmlif_two_steps_by_hand():
    """paper/subtract, L = S[2]: d1 = I1, s1 = b2 d1; d2 = d1 + b1 s1 + I2 - g S1,
    s2 = s1 + b2 d2 - v_th S1. dL/dI2 = psi2 b2 and
    dL/dI1 = psi2 (b2 + b2 (1 + b1 b2 - g psi1 b2) - v_th psi1 b2)."""
    b1, b2, g, v_th, I1, I2 = -0.5, 0.6, 0.5, 1.0, 1.8, 0.4
    d1, s1 = I1, b2 * I1
    S1 = 1.0 if s1 >= v_th else 0.0
    d2 = d1 + b1 * s1 + I2 - g * S1
    s2 = s1 + b2 * d2 - v_th * S1
    p1, p2 = _triangle(s1 - v_th), _triangle(s2 - v_th)
    assert S1 == 1.0 and p1 > 0 and p2 > 0
    x = torch.tensor([I1, I2], dtype=F64, requires_grad=True)
    model = LSTMLIF(beta1=b1, beta2=b2, gamma=g, v_th=v_th)
    trace = exact_simulate(model, x)
    assert trace.states["s"].tolist() == pytest.approx([s1, s2], rel=1e-15)
    (gx,) = torch.autograd.grad(trace.spikes[1], [x])
    expected_1 = p2 * (b2 + b2 * (1 + b1 * b2 - g * p1 * b2) - v_th * p1 * b2)
    assert gx.tolist() == pytest.approx([expected_1, p2 * b2], rel=1e-14)


# ----------------------------------------------------------------------------- float32, CUDA


def _compare_layers(kind: str, conv: str, dtype: torch.dtype, device: str, tol: float) -> None:
    torch.manual_seed(9)
    T, B, N = 60, 4, 16
    x = torch.randn(T, B, N, dtype=dtype, device=device) * (3.0 if kind == "alif" else 0.8)
    x = x + 0.3
    w_out = torch.randn(T, B, N, dtype=dtype, device=device)
    res = []
    for backward in ("autograd", "exact"):
        layer = _layer(kind, N, conv, "subtract", False, backward).to(device=device, dtype=dtype)
        xi = x.clone().requires_grad_()
        out = layer(xi)
        res.append((out, torch.autograd.grad((out * w_out).sum(), [xi, *layer.parameters()])))
    assert torch.equal(res[0][0], res[1][0])
    _assert_spiking(res[1][0])
    names = ["input", *(n for n, _ in layer.named_parameters())]
    _check_grads(list(res[1][1]), list(res[0][1]), names, tol)


# float32: both paths round every elementwise operation to eps = 6e-8 (half ulp), in a different
# order. The adjoint is a sum over <= 60 steps of products of O(1) factors, so the two results
# may drift apart by about T * eps * (a condition factor of order 10) ~ 4e-5 of the largest
# gradient; parameter gradients sum B*N*T such terms, whose rounding grows with sqrt(count).
# 1e-4 leaves room for that and still fails for any wrong term (which is O(1) relative).
# Observed here: at most 1.2e-6 (LSTM-LIF "code", the logits' gradients).
F32_TOL = 1e-4


@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif"])
@pytest.mark.parametrize("conv", ["paper", "code"])
def test_float32_close_to_autograd(kind, conv):
    _compare_layers(kind, conv, torch.float32, "cpu", F32_TOL)


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["lif", "alif", "lstmlif"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_equals_autograd(kind, dtype):
    _compare_layers(kind, "paper", dtype, "cuda", 1e-10 if dtype == F64 else F32_TOL)


# ----------------------------------------------------------------------------- structure, errors


def test_one_backward_node_and_empty_sequence():
    x = torch.randn(20, 2, 3, dtype=F64, requires_grad=True)
    trace = exact_simulate(LSTMLIF(), x)
    assert type(trace.spikes.grad_fn).__name__ == "_ExactSequenceBackward"
    # the whole sequence hangs on one node whose only parent is the input leaf
    assert [type(f).__name__ for f, _ in trace.spikes.grad_fn.next_functions] == ["AccumulateGrad"]
    empty = exact_simulate(LIF(), torch.zeros(0, 2, 3, dtype=F64))
    assert empty.spikes.shape == (0, 2, 3) and empty.states["v"].shape == (0, 2, 3)
    assert exact_spikes(LIF(), torch.zeros(0, 2, 3, dtype=F64, requires_grad=True)).shape[0] == 0
    with torch.no_grad():  # inference: same spikes, nothing kept
        assert torch.equal(exact_spikes(LSTMLIF(), x), trace.spikes)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="backward"):
        LIFLayer(4, backward="adjoint")
    with pytest.raises(ValueError, match="torch tensor"):
        exact_simulate(LIF(), [[1.0]])
    with pytest.raises(ValueError, match="NaN"):
        exact_simulate(LIF(), torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="floating"):
        exact_simulate(LIF(), torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="does not broadcast"):
        exact_simulate(LIF(alpha=torch.full((3,), 0.5)), torch.ones(5, 4))
    with pytest.raises(ValueError, match="neuron model"):
        exact_simulate("lif", torch.ones(3, 2))
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="checkpoint"):
            exact_spikes(LIF(), torch.ones(3, 2), checkpoint=bad)

    class Other(NeuronModel):  # a model without a step function
        def _validate(self) -> None:
            pass

    with pytest.raises(ValueError, match="Other does not define coefficients"):
        exact_simulate(Other(), torch.ones(3, 2))

    @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
    class Doubled(LIF):  # LIF's class, another step: the LIF hand kernel must not apply
        @staticmethod
        def step(p, state, current, ops):
            return lif_step(p, state, 2 * current, ops)

    with pytest.raises(ValueError, match="no hand-written adjoint"):
        exact_simulate(Doubled(), torch.ones(3, 2), kernel="hand")
    with pytest.raises(ValueError, match="unknown kernel"):
        exact_simulate(LIF(), torch.ones(3, 2), kernel="fast")
    x = torch.full((6, 2), 0.7, dtype=torch.float64, requires_grad=True)
    exact_simulate(Doubled(), x).spikes.sum().backward()  # the generic kernel
    ref = x.detach().clone().requires_grad_(True)
    simulate(Doubled(), ref).spikes.sum().backward()
    assert float(simulate(Doubled(), ref.detach()).spikes.sum()) > 0
    assert float(ref.grad.abs().max()) > 0
    torch.testing.assert_close(x.grad, ref.grad, rtol=1e-12, atol=0)
