"""Checks shared by the catalogue models' test files (tests/test_catalogue_*.py): the generated
adjoint against autograd, a layer's two backwards, the verify command, derive's claims."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from hypothesis import assume

from lstmlif.analysis.adjoint import adjoint, reduce_to_shape
from lstmlif.analysis.symbolic import derive_report
from lstmlif.cli import main
from lstmlif.neurons import NeuronModel, make_layer, model_class, simulate

AUTOGRAD_RTOL = 1e-10


def rel_err(ours: Any, ref: Any) -> float:
    """max |ours - ref| / max |ref| (the reference must be finite and non-zero)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    scale = float(np.max(np.abs(ref)))
    assert np.isfinite(scale) and scale > 0, "reference gradient is zero or not finite"
    return float(np.max(np.abs(ours - ref)) / scale)


def autograd_gradients(
    model: NeuronModel, current: np.ndarray, g_s: np.ndarray, g_x: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """dL/dI (shape of current), dL/dtheta and the spikes by autograd through ``simulate`` in
    float64, L = sum g_s S + sum_n g_n x_n."""
    leaves = {
        k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
        for k, v in model.params().items()
    }
    cur = torch.tensor(current, requires_grad=True)
    trace = simulate(model.replace(**leaves), cur)
    loss = (torch.tensor(g_s) * trace.spikes).sum()
    for n, g in g_x.items():
        loss = loss + (torch.tensor(g) * trace.states[n]).sum()
    names = list(leaves)
    grads = torch.autograd.grad(loss, [cur, *(leaves[k] for k in names)])
    params = {k: g.numpy() for k, g in zip(names, grads[1:], strict=True)}
    return grads[0].numpy(), params, trace.spikes.detach().numpy()


def check_adjoint_against_autograd(
    model: NeuronModel, current: np.ndarray, rng: np.random.Generator
) -> None:
    """The generated adjoint equals autograd (relative 1e-10) on a spiking run: asserts spikes,
    a non-zero surrogate slope somewhere (else the case is discarded), finite non-zero
    gradients."""
    T = current.shape[0]
    B = np.broadcast_shapes(current.shape[1:], *(np.shape(v) for v in model.params().values()))
    g_s = rng.standard_normal((T, *B))
    g_x = {n: rng.standard_normal((T, *B)) for n in model.state_names}
    ours = adjoint(model, current, g_s, g_x)
    assume(np.any(ours.psi != 0))  # a narrow surrogate may miss every step: no psi check
    ref_I, ref_params, spikes = autograd_gradients(model, current, g_s, g_x)
    assert spikes.sum() >= 1, "no spike: the check would be vacuous"
    assert np.array_equal(spikes, simulate(model, current).spikes)
    assert np.all(np.isfinite(ours.current)) and np.linalg.norm(ours.current) > 0
    assert rel_err(reduce_to_shape(ours.current, current.shape), ref_I) < AUTOGRAD_RTOL
    nonzero = 0
    for k, g in ref_params.items():
        assert np.all(np.isfinite(ours.params[k])), k
        assert np.shape(ours.params[k]) == np.shape(model.params()[k]), k
        if np.any(g != 0):
            nonzero += 1
            assert rel_err(ours.params[k], g) < AUTOGRAD_RTOL, k
        else:
            assert np.all(ours.params[k] == 0), k
    assert nonzero > 0


def layer_backwards_agree(name: str, size: int = 4, seed: int = 0, **kwargs: Any) -> dict:
    """A layer of ``name`` run with backward="autograd" and "exact" on the same input: the
    gradients of the input and of every raw parameter agree to 1e-10 and are finite and
    non-zero. Returns the autograd layer's raw gradients by name."""
    cls = model_class(name)
    mean, std = cls.input_stats
    g = torch.Generator().manual_seed(seed)
    x = mean + std * torch.randn(60, 3, size, dtype=torch.float64, generator=g)
    weights = torch.linspace(-1.0, 1.0, size, dtype=torch.float64)
    grads = []
    for backward in ("autograd", "exact"):
        layer = make_layer(name, size, backward=backward, dtype=torch.float64, **kwargs)
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        assert float(out.detach().sum()) > 0, "the layer must spike"
        (out * weights).sum().backward()
        grads.append({"input": xi.grad, **{n: p.grad for n, p in layer.named_parameters()}})
    assert grads[0].keys() == grads[1].keys()
    for key, ref in grads[0].items():
        got = grads[1][key]
        assert bool(torch.isfinite(ref).all()) and float(ref.abs().max()) > 0, key
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-13)
    return grads[0]


def verify_passes(name: str, capsys: Any) -> list[dict]:
    """``lstmlif verify --models NAME --json`` exits 0 with every row ok, spiking, autograd
    within 1e-10 and finite differences within 1e-6; returns the rows."""
    code = main(["verify", "--models", name, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"], doc
    cls = model_class(name)
    assert len(doc["rows"]) == len(cls.conventions) * len(cls.resets) * len(cls.detach_options)
    for row in doc["rows"]:
        assert row["spikes"] > 0 and row["grad_norm"] > 0
        assert row["autograd_rel_err"] <= 1e-10 and row["fd_rel_err"] <= 1e-6
    return doc["rows"]


def claims_hold(name: str, **switches: Any) -> list[dict]:
    """Every check ``lstmlif derive`` reports for the model holds; returns the model's own
    (catalogue) checks."""
    rep = derive_report(name, **switches)
    bad = [c["claim"] for c in rep["checks"] if not c["holds"]]
    assert not bad, bad
    return rep["checks"]
