"""Trainable torch layers over (T, B, N): gradients, dtypes, parameter ownership, O(T) graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers import graph_census
from torch import nn

from lstmlif.neurons import (
    ALIF,
    LIF,
    LSTMLIF,
    ALIFLayer,
    LIFLayer,
    LSTMLIFLayer,
    TCLIFLayer,
    make_layer,
    simulate,
)

N, T, B = 12, 30, 8

LAYERS = {
    "lif-layer": lambda: LIFLayer(N, learn_alpha=True),
    "lif-neuron": lambda: LIFLayer(N, learn_alpha=True, per_neuron=True, convention="code"),
    "alif-neuron": lambda: ALIFLayer(N),
    "alif-layer": lambda: ALIFLayer(N, per_neuron=False, tau_a=700.0),
    "lstmlif-layer": lambda: LSTMLIFLayer(N),
    "lstmlif-neuron": lambda: LSTMLIFLayer(N, per_neuron=True, c1=1.5, c2=-0.5),
    "lstmlif-code-zero": lambda: LSTMLIFLayer(N, convention="code", reset="zero", gamma=0.7),
}


def network(layer: nn.Module, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)
    net = nn.ModuleDict({"inp": nn.Linear(3, N), "neurons": layer, "out": nn.Linear(N, 2)})
    return net.to(dtype)


def forward(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (T, B, 3) -> (logits (B, 2) summed over time, spikes (T, B, N))."""
    spikes = net["neurons"](net["inp"](x))
    return net["out"](spikes).sum(0), spikes


def batch(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = 2.0 * torch.rand(T, B, 3, generator=g, dtype=dtype)
    return x, torch.randint(0, 2, (B,), generator=g)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradient_reaches_every_trainable_parameter(name):
    net = network(LAYERS[name](), torch.float64)
    x, y = batch()
    logits, spikes = forward(net, x)
    rate = float(spikes.detach().mean())
    assert 0.02 < rate < 0.98, rate
    nn.functional.cross_entropy(logits, y).backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    assert any(n.startswith("neurons.") for n, _ in trainable)
    for n, p in trainable:
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
        assert float(p.grad.abs().max()) > 0, n


@pytest.mark.parametrize("name", ["lif-neuron", "alif-neuron", "lstmlif-layer"])
def test_training_lowers_the_loss(name):
    net = network(LAYERS[name](), torch.float64)
    x, y = batch()
    start = {n: p.detach().clone() for n, p in net["neurons"].named_parameters()}
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(forward(net, x)[0], y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0]
    for n, p in net["neurons"].named_parameters():
        assert not torch.equal(p.detach(), start[n]), n


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dtype_follows_the_input(name):
    layer = LAYERS[name]()
    for dtype in (torch.float32, torch.float64):
        x = (2 * torch.rand(T, B, N, dtype=dtype)).requires_grad_(True)
        out = layer(x)
        assert out.dtype == dtype and out.shape == (T, B, N)
        trace = layer.run(x)
        assert all(v.dtype == dtype for v in trace.states.values())
        (out.sum() + sum(v.sum() for v in trace.states.values())).backward()
        assert x.grad.dtype == dtype
        for p in layer.parameters():
            assert p.grad.dtype == p.dtype
        layer.zero_grad()


def test_layer_runs_its_model():
    """A layer is its model record: same spikes as NumPy simulate with betas from the logits."""
    c1, c2 = 1.5, -0.5
    layer = LSTMLIFLayer(N, c1=c1, c2=c2, gamma=0.6, v_th=1.2).double()  # float64 logits
    x = 2 * torch.rand(T, B, N, dtype=torch.float64)
    beta1, beta2 = -1 / (1 + math.exp(-c1)), 1 / (1 + math.exp(-c2))
    reference = simulate(LSTMLIF(beta1=beta1, beta2=beta2, gamma=0.6, v_th=1.2), x.numpy())
    got = layer.run(x)
    assert reference.spikes.sum() > 0
    assert np.array_equal(got.spikes.detach().numpy(), reference.spikes)
    np.testing.assert_allclose(got.states["s"].detach().numpy(), reference.states["s"], atol=1e-12)
    lif = LIFLayer(N, alpha=0.7, learn_alpha=True).model()
    assert isinstance(lif, LIF) and float(lif.alpha.detach()) == pytest.approx(0.7, rel=1e-6)
    alif = ALIFLayer(N, tau_m=15.0).model()
    assert isinstance(alif, ALIF)
    np.testing.assert_allclose(alif.tau_m.detach().numpy(), np.full(N, 15.0), rtol=1e-6)


def test_parameter_shapes_per_layer_and_per_neuron():
    assert LSTMLIFLayer(N).c1.shape == () and LSTMLIFLayer(N).c2.shape == ()
    per = LSTMLIFLayer(N, per_neuron=True)
    assert per.c1.shape == (N,) and per.c2.shape == (N,)
    with torch.no_grad():
        per.c1.copy_(torch.linspace(-2, 2, N))
    beta1 = per.model().beta1
    assert beta1.shape == (N,)
    torch.testing.assert_close(beta1, -torch.sigmoid(torch.linspace(-2, 2, N)))
    assert LIFLayer(N, learn_alpha=True).alpha_logit.shape == ()
    assert LIFLayer(N, learn_alpha=True, per_neuron=True).alpha_logit.shape == (N,)
    assert ALIFLayer(N).log_tau_m.shape == (N,) and ALIFLayer(N).log_tau_a.shape == (N,)
    assert ALIFLayer(N, per_neuron=False).log_tau_m.shape == ()
    assert list(LIFLayer(N).parameters()) == []  # a fixed alpha is not trainable
    assert list(LSTMLIFLayer(N, learn_logits=False).parameters()) == []
    assert TCLIFLayer is LSTMLIFLayer and type(make_layer("TC-LIF", N)) is LSTMLIFLayer


def test_each_layer_owns_fresh_parameter_tensors():
    layers = [
        LSTMLIFLayer(N),
        LSTMLIFLayer(N),
        make_layer("lstmlif", N),
        LSTMLIFLayer(N, per_neuron=True),
        ALIFLayer(N),
        ALIFLayer(N),
        LIFLayer(N, learn_alpha=True),
        LIFLayer(N, learn_alpha=True),
    ]
    params = [p for layer in layers for p in layer.parameters()]
    assert len(params) == 2 * 6 + 2
    storages = {p.untyped_storage().data_ptr() for p in params}
    assert len(storages) == len(params)
    # Training one layer leaves the others untouched.
    with torch.no_grad():
        layers[0].c1.add_(1.0)
    assert float(layers[1].c1.detach()) == 0.0 and float(layers[2].c1.detach()) == 0.0


def count_graph(layer: nn.Module, steps: int) -> tuple[int, dict[str, int]]:
    x = torch.rand(steps, 2, N, dtype=torch.float64, requires_grad=True)
    return graph_census(layer(x).sum().grad_fn)


@pytest.mark.parametrize("name", ["lif-neuron", "alif-neuron", "lstmlif-layer"])
def test_backward_graph_grows_linearly_in_time(name):
    """Backward is O(T): a fixed number of graph nodes per step, one unbind of the input, and no
    per-step indexing (whose backward would build a full-size (T, B, N) zero gradient per step)."""
    layer = LAYERS[name]()
    (n8, kinds), (n16, _), (n32, _) = (count_graph(layer, s) for s in (8, 16, 32))
    assert n32 - n16 == 2 * (n16 - n8) > 0
    assert kinds.get("UnbindBackward0") == 1
    assert not any(k.startswith(("Select", "Index", "Slice", "AsStrided")) for k in kinds)


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_cuda_layer_matches_cpu(name):
    x, _ = batch()
    x = x.repeat(1, 1, 4)[..., :N].contiguous()
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(3)
        layer = LAYERS[name]().to(device=device, dtype=torch.float64)
        xd = x.to(device).requires_grad_(True)
        out = layer(xd)
        out.sum().backward()
        results.append((out.detach().cpu(), xd.grad.cpu()))
    (out_cpu, g_cpu), (out_gpu, g_gpu) = results
    assert out_cpu.sum() > 0
    assert bool(torch.isfinite(g_cpu).all()) and float(g_cpu.abs().max()) > 0
    assert torch.equal(out_cpu, out_gpu)
    torch.testing.assert_close(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)
