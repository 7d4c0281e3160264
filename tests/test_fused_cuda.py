"""The fused kernels' CUDA path (neurons.fused_cuda) against autograd.

Without a GPU the CUDA kernels run under numba's CUDA simulator, in a subprocess (the variable
NUMBA_ENABLE_CUDASIM must be set before numba is imported): every registered model, its first
switch set, against autograd through ``simulate`` in float64 (1e-10, spikes bit for bit, spikes
occurring, gradients finite and not all zero: ``test_fused._check``), and LSTM-LIF with every
state kept, with the states as outputs, and without gradients. On a machine with a GPU the tests
marked ``cuda`` run the compiled kernels on the device: every model and switch set, float32 and
a layer.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_fused import CASE_IDS, CASES, F32, F32_TOL, F64, _check, _grads, _setup

from lstmlif.neurons import make_layer, model_names, simulate
from lstmlif.neurons.fused import fused_simulate, fused_spikes

HERE = Path(__file__).parent

_SIMULATED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from numba import config
    assert config.ENABLE_CUDASIM
    from lstmlif.analysis.gradcheck import switch_sets
    from lstmlif.neurons import model_names, simulate
    from lstmlif.neurons.fused import _apply
    from lstmlif.neurons.simulate import Trace
    from test_fused import _check, _grads, _setup

    def on_cuda(store="min", outputs=False):
        def run(m, i):
            out = _apply(m, i, store, None, outputs, "fused_spikes", target="cuda")
            if outputs:
                return Trace(out[0], dict(zip(m.state_names, out[1:])), m)
            return out
        return run

    for name in model_names():
        conv, reset, detach = switch_sets(name)[0]
        model, leaves, x, w, w_x = _setup(name, conv, reset, detach)
        ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
        _check(_grads(on_cuda(), model, leaves, x, w), ref, ["input", *leaves], 1e-10)
        print("ok", name, flush=True)
    model, leaves, x, w, w_x = _setup("lstmlif", "code", "subtract", False, seed=1)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    _check(_grads(on_cuda("all"), model, leaves, x, w), ref, ["input", *leaves], 1e-10)
    print("ok store=all", flush=True)
    ref = _grads(simulate, model, leaves, x, w, w_x)
    _check(_grads(on_cuda(outputs=True), model, leaves, x, w, w_x), ref, ["input", *leaves], 1e-10)
    print("ok states", flush=True)
    plain = _apply(model, x, "min", None, False, "fused_spikes", target="cuda")
    assert plain.equal(simulate(model, x).spikes)
    print("ok no-grad", flush=True)
    """
)


@pytest.mark.skipif(
    importlib.util.find_spec("numba.cuda") is None,
    reason="this numba has no CUDA target (newer releases move it to the numba-cuda package)",
)
def test_cuda_kernels_under_the_simulator(tmp_path):
    """The generated CUDA kernels, run by numba's CUDA simulator, equal autograd (float64)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", LSTMLIF_CACHE=str(tmp_path / "cache"))
    script = _SIMULATED.format(here=str(HERE))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    lines = set(done.stdout.split("\n"))
    for name in model_names():
        assert f"ok {name}" in lines, f"{name} not checked under the simulator"
    for case in ("store=all", "states", "no-grad"):
        assert f"ok {case}" in lines


def test_cuda_path_without_a_launcher_is_refused(monkeypatch):
    """Where numba.cuda cannot launch (no driver, no simulator), target="cuda" is a ValueError
    naming backward='exact'; checkpointing on CUDA is refused by name."""
    from lstmlif.neurons import LIF, fused, fused_cuda

    monkeypatch.setattr(fused_cuda, "cuda_ready", lambda: False)
    with pytest.raises(ValueError, match="backward='exact'"):
        fused._apply(LIF(), torch.ones(3, 2), "min", None, False, "fused_spikes", target="cuda")
    with pytest.raises(ValueError, match="checkpoint is CPU only"):
        fused._apply(LIF(), torch.ones(3, 2), "min", 2, False, "fused_spikes", target="cuda")


def _to(leaves: dict, x: torch.Tensor, w: torch.Tensor, device: str):
    moved = {k: v.detach().to(device).requires_grad_() for k, v in leaves.items()}
    return moved, x.to(device), w.to(device)


def _cpu(result):
    spikes, states, grads = result
    return spikes.cpu(), {k: v.cpu() for k, v in states.items()}, [g.cpu() for g in grads]


@pytest.mark.cuda
@pytest.mark.parametrize("name,conv,reset,detach", CASES, ids=CASE_IDS)
def test_every_model_and_switch_set_on_the_gpu(name, conv, reset, detach):
    model, leaves, x, w, _ = _setup(name, conv, reset, detach)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    dl, dx, dw = _to(leaves, x, w, "cuda")
    ours = _cpu(_grads(fused_spikes, model, dl, dx, dw))
    _check(ours, ref, ["input", *leaves], 1e-10)


@pytest.mark.cuda
@pytest.mark.parametrize("name", model_names())
def test_states_and_float32_on_the_gpu(name):
    from lstmlif.analysis.gradcheck import switch_sets

    conv, reset, detach = switch_sets(name)[-1]
    model, leaves, x, w, w_x = _setup(name, conv, reset, detach, seed=1)
    ref = _grads(simulate, model, leaves, x, w, w_x)
    dl, dx, dw = _to(leaves, x, w, "cuda")
    dwx = {k: v.cuda() for k, v in w_x.items()}
    _check(_cpu(_grads(fused_simulate, model, dl, dx, dw, dwx)), ref, ["input", *leaves], 1e-10)
    model, leaves, x, w, _ = _setup(name, conv, reset, detach, dtype=F32, T=120, B=4, N=16)
    ref = _grads(lambda m, i: simulate(m, i).spikes, model, leaves, x, w)
    dl, dx, dw = _to(leaves, x, w, "cuda")
    ours = _cpu(_grads(fused_spikes, model, dl, dx, dw))
    flips = int((ours[0] != ref[0]).sum())
    assert flips <= 2, f"{flips} spike flips against the torch float32 forward"
    if flips == 0:
        _check(ours, ref, ["input", *leaves], F32_TOL)


@pytest.mark.cuda
def test_a_fused_layer_on_the_gpu():
    torch.manual_seed(0)
    layers = {b: make_layer("lstmlif", 8, backward=b).to(F64) for b in ("autograd", "fused")}
    layers["fused"].load_state_dict(layers["autograd"].state_dict())
    x = torch.randn(40, 3, 8, dtype=F64) * 0.6 + 0.3
    grads = {}
    for b, layer in layers.items():
        layer = layer.cuda() if b == "fused" else layer
        xi = x.clone().to(next(layer.parameters()).device).requires_grad_()
        out = layer(xi)
        out.sum().backward()
        grads[b] = (out.detach().cpu(), xi.grad.cpu())
    assert torch.equal(grads["fused"][0], grads["autograd"][0])
    assert float(grads["autograd"][0].mean()) > 0
    np.testing.assert_allclose(grads["fused"][1], grads["autograd"][1], rtol=1e-9, atol=1e-12)
