"""The generated trace kernels (``online.fused``) against the NumPy updates of ``online.rules``.

The NumPy path evaluates the partials with SymPy's lambdified NumPy functions and updates the
traces with ``einsum``; the fused path prints the same partials into a numba kernel with the
update written out per lane. Two independent evaluations of one recursion: in float64 they must
agree to rounding, for every registered model, every rule with a kernel, feed-forward and
recurrent, with spikes in the run and gradients finite and non-zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmlif.neurons import model_names
from lstmlif.online import fused
from lstmlif.online.core import LinearLoss, ReadoutLoss, make_inputs, make_layer
from lstmlif.online.rules import AUTO_WORK, choose_engine, run_rule

RTOL = 1e-12


def _check(layer, u, loss, rule, **kw):
    ref = run_rule(rule, layer, u, loss, engine="numpy", **kw)
    got = run_rule(rule, layer, u, loss, engine="fused", **kw)
    assert ref.engine == "numpy" and got.engine == "fused"
    assert ref.spikes > 0 and got.spikes == ref.spikes
    assert got.memory_bytes == ref.memory_bytes
    assert set(got.gradients) == set(ref.gradients) == set(layer.tensor_names())
    for name, g in ref.gradients.items():
        h = got.gradients[name]
        assert h.shape == g.shape and h.dtype == np.float64
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(h)), (rule, name)
        scale = np.linalg.norm(g)
        assert scale > 0, (rule, name, "zero gradient")
        err = np.linalg.norm(h - g) / scale
        assert err <= RTOL, (rule, name, err)
    return ref, got


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("recurrent", [False, True])
def test_fused_equals_numpy_every_model(name: str, recurrent: bool) -> None:
    layer = make_layer(name, 3, 3, recurrent=recurrent, recurrent_scale=0.8, seed=1)
    T, B = 60, 2
    u = make_inputs(layer, T, B, seed=2)
    loss = LinearLoss.random(layer, T, B, seed=3)  # weights on the spikes and every state
    for rule in fused.FUSED_RULES:
        _check(layer, u, loss, rule)


@pytest.mark.parametrize("name", ["lif", "alif", "lstmlif"])
def test_fused_readout_loss_and_random_feedback(name: str) -> None:
    """A loss on the spikes only (the kernel's branch without a state gradient), and e-prop's
    random feedback."""
    layer = make_layer(name, 4, 3, recurrent=True, seed=4)
    T, B = 80, 3
    u = make_inputs(layer, T, B, seed=5)
    loss = ReadoutLoss.random(layer, T, B, seed=6)
    for rule in fused.FUSED_RULES:
        _check(layer, u, loss, rule)
    _check(layer, u, loss, "eprop", feedback="random")


def test_fused_float32_close_to_float64() -> None:
    """float32: the kernel's traces in float32 against the NumPy update in float32 (the same
    spikes; the two round differently, so to float32's precision over the run)."""
    layer = make_layer("alif", 4, 3, recurrent=True, seed=7)
    u = make_inputs(layer, 100, 2, seed=8)
    loss = LinearLoss.random(layer, 100, 2, seed=9)
    for rule in fused.FUSED_RULES:
        a = run_rule(rule, layer, u, loss, engine="numpy", dtype=np.float32)
        b = run_rule(rule, layer, u, loss, engine="fused", dtype=np.float32)
        c = run_rule(rule, layer, u, loss, engine="fused")
        assert a.memory_bytes == b.memory_bytes < c.memory_bytes
        for name, g in a.gradients.items():
            assert np.linalg.norm(g) > 0
            assert np.linalg.norm(b.gradients[name] - g) <= 1e-4 * np.linalg.norm(g)
            assert np.linalg.norm(c.gradients[name] - g) <= 1e-4 * np.linalg.norm(g)
            assert np.linalg.norm(c.gradients[name] - b.gradients[name]) > 0  # float32 ran


def test_fused_threads_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """The neurons split into ranges on threads: every gradient bit for bit as on one."""
    layer = make_layer("lstmlif", 6, 4, recurrent=True, seed=10)
    u = make_inputs(layer, 50, 2, seed=11)
    loss = LinearLoss.random(layer, 50, 2, seed=12)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = {r: run_rule(r, layer, u, loss, engine="fused") for r in fused.FUSED_RULES}
        monkeypatch.setattr(fused, "MIN_THREAD_WORK", 1)
        torch.set_num_threads(3)
        assert fused.trace_threads(layer.hidden, 10**6) == 3
        for r, res in one.items():
            many = run_rule(r, layer, u, loss, engine="fused")
            for name, g in res.gradients.items():
                assert np.array_equal(g, many.gradients[name]), (r, name)
    finally:
        torch.set_num_threads(old)


def test_engine_choice() -> None:
    layer = make_layer("lif", 4, 3, seed=0)
    n = 1
    K = layer.presyn + len(layer.trained)
    steps_at = -(-AUTO_WORK // (layer.hidden * n * K))
    assert choose_engine("ostl", layer, steps_at - 1, 1, "auto") == "numpy"
    assert choose_engine("ostl", layer, steps_at, 1, "auto") == "fused"
    assert choose_engine("ottt", layer, 10, 1, "fused") == "fused"
    assert choose_engine("eprop", layer, 10**9, 8, "numpy") == "numpy"
    assert choose_engine("rtrl", layer, 10**9, 8, "fused") == "numpy"
    with pytest.raises(ValueError, match="engine"):
        choose_engine("ostl", layer, 10, 1, "gpu")
    u = make_inputs(layer, 20, 1, seed=1)
    loss = LinearLoss.random(layer, 20, 1, seed=2)
    assert run_rule("rtrl", layer, u, loss, engine="fused").engine == "numpy"
    with pytest.raises(ValueError, match="engine"):
        run_rule("ostl", layer, u, loss, engine="cuda")
    with pytest.raises(ValueError, match="no fused kernel"):
        fused.run_fused("rtrl", layer, u, loss)
    with pytest.raises(ValueError, match="inputs must have shape"):
        run_rule("ostl", layer, u[:, :, :2], loss, engine="fused")
    with pytest.raises(ValueError, match="dtype"):
        run_rule("ostl", layer, u, loss, engine="fused", dtype=np.float16)


def test_cli_engine_option(capsys: pytest.CaptureFixture[str]) -> None:
    """``lstmlif online --engine``: both engines give one gradient (the same agreement with
    BPTT to rounding), each rule says which engine ran it; a bad engine exits 2."""
    import json

    from lstmlif.cli import main

    base = ["online", "alif", "--steps", "80", "--hidden", "3", "--json"]
    base += ["--rules", "ostl", "eprop", "eprop_random", "ottt", "rtrl"]
    rows = {}
    for engine in ("fused", "numpy"):
        assert main([*base, "--engine", engine]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["engine"] == engine
        rows[engine] = out["runs"][0]["rules"]
        assert out["runs"][0]["spikes"] > 0
    for rule in ("ostl", "eprop", "eprop_random", "ottt", "rtrl"):
        want = "numpy" if rule == "rtrl" else "fused"
        assert rows["fused"][rule]["engine"] == want
        assert rows["numpy"][rule]["engine"] == "numpy"
        a, b = rows["fused"][rule], rows["numpy"][rule]
        assert 0 < b["relative_error"] < np.inf
        assert abs(a["relative_error"] - b["relative_error"]) <= 1e-12 * b["relative_error"] + 1e-15
        assert a["memory_bytes"] == b["memory_bytes"]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--engine", "gpu"])
    assert exc.value.code == 2


@pytest.mark.parametrize(("hidden", "batch", "train"), [(1, 1, None), (3, 2, ())])
def test_fused_edge_shapes(hidden: int, batch: int, train: tuple[str, ...] | None) -> None:
    """One neuron and one sequence; no trained parameters (the weights only)."""
    layer = make_layer("alif", hidden, 3, recurrent=True, recurrent_scale=0.5, seed=13, train=train)
    u = make_inputs(layer, 120, batch, seed=14)
    loss = LinearLoss.random(layer, 120, batch, seed=15)
    for rule in fused.FUSED_RULES:
        _check(layer, u, loss, rule)
