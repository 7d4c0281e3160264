"""``neurons.simulate``: the NumPy and PyTorch views of every model agree, parameters broadcast.

NumPy (float64) and torch float64 runs of the same step function must give identical spikes
and potentials within 1e-12 on inputs that make many neurons spike, for every model,
convention, reset and detach option. Array parameters (per-neuron values, parameter grids) are
checked against independent runs with scalar parameters.
"""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import torch
from _helpers import graph_census

from lstmlif.neurons import ALIF, LIF, LSTMLIF, TwoCompartment, simulate

F64 = torch.float64
simulate_module = importlib.import_module("lstmlif.neurons.simulate")

# model factory, range of the uniform random current (chosen so that many neurons spike)
MODELS = {
    "lif": (lambda **sw: LIF(alpha=0.8, v_th=1.0, **sw), (-0.2, 0.8)),
    "lif_tau": (lambda **sw: LIF(tau_m=5.0, v_th=0.7, **sw), (-0.2, 0.6)),
    "alif": (lambda **sw: ALIF(tau_m=20.0, tau_a=200.0, **sw), (-1.0, 4.0)),
    "two_compartment": (
        lambda **sw: TwoCompartment(
            alpha1=0.9, alpha2=0.8, beta1=-0.3, beta2=0.6, gamma=0.4, v_th=1.0, **sw
        ),
        (-0.5, 1.5),
    ),
    "lstmlif": (lambda **sw: LSTMLIF(**sw), (-0.5, 1.5)),
}
SWITCHES = list(itertools.product(["paper", "code"], ["subtract", "zero"], [False, True]))


def run_both(model, current: np.ndarray, device: str = "cpu"):
    """(NumPy trace, torch float64 trace on ``device``, d sum(spikes + potentials) / d I)."""
    tn = simulate(model, current)
    I = torch.tensor(current, dtype=F64, device=device, requires_grad=True)
    tt = simulate(model, I)
    loss = tt.spikes.sum() + sum(v.sum() for v in tt.states.values())
    (grad,) = torch.autograd.grad(loss, I)
    return tn, tt, grad


def assert_same(tn, tt, min_spikes: int):
    spikes = tt.spikes.detach().cpu().numpy()
    assert tn.spikes.dtype == np.float64 and tt.spikes.dtype == F64
    assert np.array_equal(tn.spikes, spikes)
    assert min_spikes <= tn.spikes.sum() <= tn.spikes.size - min_spikes
    assert set(tn.states) == set(tt.states)
    for name, values in tn.states.items():
        np.testing.assert_allclose(
            tt.states[name].detach().cpu().numpy(), values, rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("convention, reset, detach", SWITCHES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_numpy_and_torch_agree(name, convention, reset, detach, device="cpu"):
    factory, (lo, hi) = MODELS[name]
    model = factory(convention=convention, reset=reset, detach_reset=detach)
    current = np.random.default_rng(5).uniform(lo, hi, size=(50, 4, 30))
    tn, tt, grad = run_both(model, current, device)
    assert_same(tn, tt, min_spikes=current.size // 10)
    assert torch.isfinite(grad).all() and float(grad.abs().max()) > 0


@pytest.mark.cuda
@pytest.mark.parametrize("convention, reset, detach", SWITCHES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_numpy_and_cuda_agree(name, convention, reset, detach):
    test_numpy_and_torch_agree(name, convention, reset, detach, device="cuda")


def grid_cases():
    rng = np.random.default_rng(9)
    g1 = np.linspace(-0.9, -0.1, 5)[:, None]  # beta1 down the rows
    g2 = np.linspace(0.1, 0.9, 4)[None, :]  # beta2 across the columns
    return [
        # (model, current shape, parameters per batch index)
        (
            LSTMLIF(beta1=g1, beta2=g2, gamma=0.6),
            (40,),
            lambda i, j: dict(beta1=g1[i, 0], beta2=g2[0, j], gamma=0.6),
            LSTMLIF,
        ),
        (
            LSTMLIF(beta1=g1, beta2=g2, convention="code", reset="zero"),
            (40, 5, 4),
            lambda i, j: dict(beta1=g1[i, 0], beta2=g2[0, j], convention="code", reset="zero"),
            LSTMLIF,
        ),
        (
            LIF(alpha=np.linspace(0.5, 1.0, 4), v_th=np.array([[0.8], [1.0], [1.3]])),
            (40, 1, 4),
            lambda i, j: dict(alpha=np.linspace(0.5, 1.0, 4)[j], v_th=[0.8, 1.0, 1.3][i]),
            LIF,
        ),
        (
            ALIF(tau_m=np.array([5.0, 10.0, 20.0]), tau_a=np.array([[50.0], [700.0]])),
            (40, 2, 3),
            lambda i, j: dict(tau_m=[5.0, 10.0, 20.0][j], tau_a=[50.0, 700.0][i]),
            ALIF,
        ),
        (
            TwoCompartment(
                alpha1=rng.uniform(0.5, 1.0, size=(3, 1)),
                alpha2=0.9,
                beta1=-0.4,
                beta2=rng.uniform(0.2, 0.8, size=6),
                gamma=0.3,
            ),
            (40, 6),
            None,
            TwoCompartment,
        ),
    ]


@pytest.mark.parametrize("case", range(5))
def test_array_parameters_broadcast(case):
    model, shape, per_index, cls = grid_cases()[case]
    current = np.random.default_rng(case).uniform(-0.3, 1.6, size=shape)
    if cls is ALIF:
        current = current * 3
    tn, tt, _ = run_both(model, current)
    batch = tn.spikes.shape[1:]
    assert len(batch) == 2
    assert_same(tn, tt, min_spikes=5)
    # Each batch index equals a run with scalar parameters (a different path through simulate).
    params = model.params()
    for i, j in itertools.product(range(batch[0]), range(batch[1])):
        if per_index is None:
            scalars = {k: np.broadcast_to(v, batch)[i, j] for k, v in params.items()}
            single = type(model)(**{k: float(v) for k, v in scalars.items()})
        else:
            single = cls(**per_index(i, j))
        padded = current.reshape(shape[:1] + (1,) * (3 - len(shape)) + shape[1:])
        col = np.broadcast_to(padded, (40, *batch))
        ts = simulate(single, col[:, i, j])
        assert np.array_equal(ts.spikes, tn.spikes[:, i, j])
        for name, values in ts.states.items():
            np.testing.assert_allclose(tn.states[name][:, i, j], values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 64])
def test_numpy_blocks_over_neurons_match_one_block(monkeypatch, block):
    """The NumPy runner walks the batch in row blocks; any block size gives the same trace."""
    rng = np.random.default_rng(2)
    cases = [
        (LSTMLIF(beta1=np.linspace(-0.9, -0.1, 9)[:, None], beta2=0.5), (30, 1, 11)),
        (LSTMLIF(beta1=-0.5, beta2=np.linspace(0.1, 0.9, 11)), (30, 9, 11)),
        (ALIF(tau_m=np.full((9, 1), 10.0), tau_a=300.0), (30, 11)),
        (LIF(alpha=0.9), (30, 9, 11)),
        (LIF(alpha=0.9), (30, 40)),
    ]
    for model, shape in cases:
        current = rng.uniform(-0.3, 2.0, size=shape)
        reference = simulate(model, current)
        monkeypatch.setattr(simulate_module, "_BLOCK", block)
        blocked = simulate(model, current)
        monkeypatch.undo()
        assert reference.spikes.sum() > 10
        assert np.array_equal(blocked.spikes, reference.spikes)
        for name in reference.states:
            assert np.array_equal(blocked.states[name], reference.states[name])


def test_tensor_parameters_get_gradients():
    rng = np.random.default_rng(4)
    beta1 = torch.tensor(rng.uniform(-0.9, -0.1, size=8), dtype=F64, requires_grad=True)
    beta2 = torch.tensor(rng.uniform(0.1, 0.9, size=8), dtype=F64, requires_grad=True)
    gamma = torch.tensor(0.5, dtype=F64, requires_grad=True)
    current = torch.tensor(rng.uniform(-0.5, 1.5, size=(60, 3, 8)), dtype=F64)
    tr = simulate(LSTMLIF(beta1=beta1, beta2=beta2, gamma=gamma), current)
    assert tr.spikes.sum() > 50
    tr.spikes.sum().backward()
    for p in (beta1, beta2, gamma):
        assert torch.isfinite(p.grad).all() and bool((p.grad != 0).all())
    reference = simulate(
        LSTMLIF(beta1=beta1.detach().numpy(), beta2=beta2.detach().numpy(), gamma=0.5),
        current.numpy(),
    )
    assert np.array_equal(reference.spikes, tr.spikes.detach().numpy())


def test_dtype_shapes_and_empty_runs():
    model = LSTMLIF()
    x32 = torch.rand(7, 2, 3) * 2
    tr = simulate(model, x32)
    assert tr.spikes.dtype == torch.float32 and tr.states["s"].dtype == torch.float32
    assert tr.spikes.shape == (7, 2, 3) and tr["d"].shape == (7, 2, 3) and tr["S"] is tr.spikes
    tr = simulate(model, [0.5, 1.0, 2.0])  # a list: one neuron, batch shape ()
    assert tr.spikes.shape == (3,) and isinstance(tr.spikes, np.ndarray)
    for current in (np.zeros((0, 4)), torch.zeros(0, 4, dtype=F64)):
        tr = simulate(model, current)
        assert tuple(tr.spikes.shape) == (0, 4) and tuple(tr.states["d"].shape) == (0, 4)


def test_backward_graph_is_linear_in_time():
    """Time is split once (one unbind node), never indexed per step: O(T) backward."""

    def count(T):
        I = torch.rand(T, 2, 3, dtype=F64, requires_grad=True)
        return graph_census(simulate(LSTMLIF(), I).spikes.sum().grad_fn)

    (n10, k10), (n20, _), (n40, _) = count(10), count(20), count(40)
    assert n40 - n20 == 2 * (n20 - n10) > 0
    assert k10.get("UnbindBackward0") == 1
    assert not any(name.startswith(("Select", "Index", "Slice")) for name in k10)
