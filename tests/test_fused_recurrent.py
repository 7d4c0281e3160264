"""The recurrent fused kernels (neurons.fused_recurrent) against autograd through the time loop.

The reference is a different computation: the per-step loop ``I[t] = C[t] + S[t-1] W^T``,
``model.step`` with torch ops, differentiated by autograd (written here, and the experiments'
``RecurrentSpikingLayer`` with ``backward="autograd"``). The models, their switch sets, test
parameters and input statistics come from the registry (``model_names()``, ``switch_sets``,
``verify_params``, ``input_stats``). Every check through spikes asserts that spikes occurred
and that the gradients are finite and not all zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmlif.analysis.gradcheck import switch_sets
from lstmlif.experiments import RecallNetwork, RecurrentSpikingLayer, build_neuron_layer
from lstmlif.experiments.networks import DigitsNetwork
from lstmlif.neurons import TORCH_OPS, get_model, model_class, model_names
from lstmlif.neurons.fused_recurrent import fused_recurrent_spikes

F64, F32 = torch.float64, torch.float32


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|; 0 when both are exactly zero."""
    scale = float(b.abs().max())
    diff = float((a - b).abs().max())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _loop(model, current: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The reference: autograd through I[t] = C[t] + S[t-1] W^T and the model's step."""
    p = model.coefficients(TORCH_OPS).on(current)
    zeros = current.new_zeros(current.shape[1:])
    state = {n: zeros for n in model.state_names}
    state["S"] = zeros
    out = []
    for c in current.unbind(0):
        state, S = model.step(p, state, c + state["S"] @ w.T, TORCH_OPS)
        out.append(S)
    return torch.stack(out)


def _cases() -> list[tuple[str, str, str, bool]]:
    """Per registered model: its first switch set, and the first with the other detach_reset
    value where the model has one (the detach switch)."""
    out = []
    for name in model_names():
        sets = switch_sets(name)
        out.append((name, *sets[0]))
        other = [s for s in sets if s[2] != sets[0][2]]
        if other:
            out.append((name, *other[0]))
    return out


CASES = _cases()
CASE_IDS = [f"{n}-{c}-{r}-{'detach' if d else 'attached'}" for n, c, r, d in CASES]


def _setup(name, conv, reset, detach, dtype=F64, T=40, B=3, N=6, seed=0):
    """The model (every parameter a tensor leaf), a current C from the class's input
    statistics, recurrent weights W and loss weights, all in ``dtype``."""
    cls = model_class(name)
    model = get_model(name, convention=conv, reset=reset, detach_reset=detach, **cls.verify_params)
    leaves = {
        k: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype).clone().requires_grad_()
        for k, v in model.params().items()
    }
    g = torch.Generator().manual_seed(seed)
    mean, std = cls.input_stats
    c = mean + std * torch.randn(T, B, N, dtype=F64, generator=g)
    w = std * torch.randn(N, N, dtype=F64, generator=g) / math.sqrt(N)
    lw = torch.randn(T, B, N, dtype=F64, generator=g)
    return model, leaves, c.to(dtype), w.to(dtype), lw.to(dtype)


def _grads(run, model, leaves, c, w, lw):
    ci = c.clone().requires_grad_()
    wi = w.clone().requires_grad_()
    spikes = run(model.replace(**leaves), ci, wi)
    inputs = [ci, wi, *leaves.values()]
    grads = torch.autograd.grad((spikes * lw).sum(), inputs, allow_unused=True)
    grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, inputs, strict=True)]
    return spikes.detach(), grads


def _check(ours, ref, names, tol):
    (s1, g1), (s0, g0) = ours, ref
    assert torch.equal(s1, s0), "the fused recurrent forward spikes differently from the loop"
    rate = float(s0.mean())
    assert 0.0 < rate < 1.0, f"spike rate {rate}: the check would not exercise the spikes"
    assert float(g0[0].abs().max()) > 0, "reference current gradient is zero"
    assert float(g0[1].abs().max()) > 0, "reference recurrent-weight gradient is zero"
    for name, a, b in zip(names, g1, g0, strict=True):
        assert bool(torch.isfinite(a).all()), f"{name}: non-finite fused gradient"
        err = _rel(a, b)
        assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize("name,conv,reset,detach", CASES, ids=CASE_IDS)
def test_every_model_float64(name, conv, reset, detach):
    """Gradients with respect to C, W and every parameter: 1e-10 in float64, spikes equal."""
    model, leaves, c, w, lw = _setup(name, conv, reset, detach)
    ref = _grads(_loop, model, leaves, c, w, lw)
    ours = _grads(fused_recurrent_spikes, model, leaves, c, w, lw)
    _check(ours, ref, ["current", "w_rec", *leaves], 1e-10)
    assert any(float(g.abs().max()) > 0 for g in ref[1][2:]), "no parameter gradient at all"


@pytest.mark.parametrize("name", model_names())
def test_every_model_float32(name):
    """float32: the gradients within 1e-4 of the largest (float32 sums over T steps)."""
    model, leaves, c, w, lw = _setup(name, *switch_sets(name)[0], dtype=F32, T=60, B=4, N=8)
    ref = _grads(_loop, model, leaves, c, w, lw)
    ours = _grads(fused_recurrent_spikes, model, leaves, c, w, lw)
    _check(ours, ref, ["current", "w_rec", *leaves], 1e-4)


def test_lanes_past_one_chunk_and_store_all():
    """B * N = 3 * 100 lanes (one chunk of 256 and a padded one) with store="min" and "all";
    a forward without gradients spikes as the one with."""
    model, leaves, c, w, lw = _setup("lstmlif", "paper", "subtract", False, T=30, B=3, N=100)
    ref = _grads(_loop, model, leaves, c, w, lw)
    names = ["current", "w_rec", *leaves]
    for store in ("min", "all"):
        run = lambda m, ci, wi, store=store: fused_recurrent_spikes(m, ci, wi, store=store)  # noqa: E731
        _check(_grads(run, model, leaves, c, w, lw), ref, names, 1e-10)
    with torch.no_grad():
        plain = fused_recurrent_spikes(model, c, w)
    assert torch.equal(plain, ref[0])


def _twins(name: str, n_in: int, size: int, per_neuron: bool | None = None):
    """Two recurrent layers with equal weights, float64: autograd and fused."""
    cls = model_class(name)
    # the class's test values for the parameters its network defaults leave open (a NIR
    # leaky integrator's threshold, for one)
    kw = {k: v for k, v in cls.verify_params.items() if k not in cls.network_defaults}
    if per_neuron is not None:
        kw["per_neuron"] = per_neuron
    torch.manual_seed(3)
    ref = RecurrentSpikingLayer(build_neuron_layer(name, size, **kw), n_in).double()
    ours = RecurrentSpikingLayer(build_neuron_layer(name, size, backward="fused", **kw), n_in)
    ours = ours.double()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _spiking_input(layer, cls, T, B, n_in):
    """An input x (T, B, n_in) and an input gain under which the layer spikes (rate in (0, 1)
    and not saturated), searched over gains in a fixed order."""
    mean, std = cls.input_stats
    g = torch.Generator().manual_seed(5)
    x = torch.randn(T, B, n_in, dtype=F64, generator=g)
    with torch.no_grad():
        layer.w_in.weight.normal_(0.0, std / math.sqrt(n_in), generator=g)
        layer.w_in.bias.fill_(mean)
        layer.w_rec.weight.mul_(2.0)
        for gain in (1.0, 2.0, 4.0, 0.5, 8.0, 16.0, 0.25):
            layer.input_gain = gain
            rate = float(layer(x)[0].mean())
            if 0.02 < rate < 0.6:
                return x
    pytest.fail(f"{cls.__name__}: no input gain made the layer spike")


@pytest.mark.parametrize("name", model_names())
def test_recurrent_layer_matches_autograd_loop(name):
    """``RecurrentSpikingLayer`` with the model's network defaults (trained parameters through
    their parameterisations, per neuron where the class says so): fused against autograd,
    gradients of W_in, b, W_rec, the raw neuron parameters and the input to 1e-10."""
    cls = model_class(name)
    ref, ours = _twins(name, 3, 7)
    x = _spiking_input(ref, cls, 50, 3, 3)
    ours.load_state_dict(ref.state_dict())
    ours.input_gain = ref.input_gain
    lw = torch.randn(50, 3, 7, dtype=F64, generator=torch.Generator().manual_seed(2))
    out = {}
    for key, layer in (("ref", ref), ("ours", ours)):
        xi = x.clone().requires_grad_()
        spikes, currents = layer(xi)
        params = dict(layer.named_parameters())
        grads = torch.autograd.grad((spikes * lw).sum(), [xi, *params.values()])
        out[key] = (spikes.detach(), dict(zip(["input", *params], grads, strict=True)))
    assert torch.equal(out["ours"][0], out["ref"][0])
    rate = float(out["ref"][0].mean())
    assert 0.0 < rate < 1.0
    for k, b in out["ref"][1].items():
        a = out["ours"][1][k]
        assert bool(torch.isfinite(a).all()), f"{k}: non-finite fused gradient"
        assert _rel(a, b) <= 1e-10, f"{k}: relative error {_rel(a, b):.2e}"
    for k in ("input", "w_in.weight", "w_rec.weight"):
        assert float(out["ref"][1][k].abs().max()) > 0, f"{k}: zero reference gradient"


def test_networks_choose_the_fused_loop():
    """RecallNetwork and DigitsNetwork built with backward="fused": the same logits and
    gradients as with autograd (the digits network's first layer has no W_rec)."""
    for build, x in (
        (lambda bw: RecallNetwork("alif", 4, 9, 3, 5, backward=bw), torch.rand(40, 2, 4)),
        (lambda bw: DigitsNetwork("lif", 5, 6, backward=bw), torch.rand(30, 2, 1)),
    ):
        torch.manual_seed(1)
        ref = build("autograd").double()
        torch.manual_seed(1)
        ours = build("fused").double()
        x = 3.0 * x.double()
        res = []
        for net in (ref, ours):
            out = net(x)
            res.append(
                (
                    out["logits"].detach(),
                    torch.autograd.grad(out["logits"].sum(), list(net.parameters())),
                )
            )
        assert torch.equal(res[0][0], res[1][0])
        assert any(float(s.detach().sum()) > 0 for s in ours(x)["spikes"])
        for a, b in zip(res[1][1], res[0][1], strict=True):
            assert bool(torch.isfinite(a).all())
            assert _rel(a, b) <= 1e-10


def test_bad_input_errors():
    model = get_model("lif")
    c = torch.rand(5, 2, 3, dtype=F64)
    w = torch.rand(3, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"shape \(T, B, N\)"):
        fused_recurrent_spikes(model, c[0], w)
    with pytest.raises(ValueError, match=r"w_rec must be a tensor of shape \(3, 3\)"):
        fused_recurrent_spikes(model, c, torch.rand(3, 4, dtype=F64))
    with pytest.raises(ValueError, match="one dtype"):
        fused_recurrent_spikes(model, c, w.float())
    with pytest.raises(ValueError, match="float32 or float64"):
        fused_recurrent_spikes(model, c.half(), w.half())
    with pytest.raises(ValueError, match="w_rec contains NaN"):
        fused_recurrent_spikes(model, c, w.clone().fill_(float("nan")))
    bad = c.clone()
    bad[2, 1, 0] = float("inf")
    with pytest.raises(ValueError, match="current contains NaN or infinite"):
        fused_recurrent_spikes(model, bad, w)
    with pytest.raises(ValueError, match="unknown store"):
        fused_recurrent_spikes(model, c, w, store="some")
    with pytest.raises(ValueError, match="broadcast"):
        fused_recurrent_spikes(model.replace(alpha=torch.full((2, 3), 0.8, dtype=F64)), c[:, :1], w)
    ci = c.clone().requires_grad_()
    out = fused_recurrent_spikes(model, 4 * ci, w).sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already differentiated"):
        out.backward()


def test_runner_backward_field():
    """make_configs(backward="fused") adds the field (and recall_network builds fused layers);
    the default adds nothing, so the keys of earlier runs are unchanged; unknown values fail."""
    from lstmlif.experiments.runner import config_key, make_configs, recall_network

    plain = make_configs("recall", quick=True, seeds=[0], delays=[5], models=["lif"])
    same = make_configs(
        "recall", quick=True, seeds=[0], delays=[5], models=["lif"], backward="autograd"
    )
    fused = make_configs(
        "recall", quick=True, seeds=[0], delays=[5], models=["lif"], backward="fused"
    )
    assert all("backward" not in c for c in plain)
    assert [config_key(c) for c in same] == [config_key(c) for c in plain]
    assert all(c["backward"] == "fused" for c in fused)
    assert {k: v for k, v in fused[0].items() if k != "backward"} == plain[0]
    assert recall_network(fused[0])[0].hidden.neuron.backward == "fused"
    assert recall_network(plain[0])[0].hidden.neuron.backward == "autograd"
    with pytest.raises(ValueError, match="--backward must be one of"):
        make_configs("recall", quick=True, seeds=[0], models=["lif"], backward="exact")
