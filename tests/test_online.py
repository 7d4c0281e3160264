"""lstmlif.online: the exact rules equal BPTT (torch autograd through the step, a path
independent of the generated partials) where they are owed it, and the approximate ones do not
where they should not. Every check asserts spikes, finite and non-zero gradients.

The suite runs every registered model and switch set at T = 60 (H = 3) and RTRL at T = 1000 for
ALIF and LSTM-LIF; the full table at T = 1000 (every model and switch set) is in docs/online.md.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from lstmlif.neurons import model_class, model_names
from lstmlif.online.bptt import bptt
from lstmlif.online.core import LinearLoss, ReadoutLoss, make_inputs, make_layer
from lstmlif.online.measure import agreement, exactness_case, switch_sets
from lstmlif.online.rules import run_rule

CASES = [(name, sw) for name in model_names() for sw in switch_sets(name)]
IDS = [f"{n}-{c}-{r}-{'detach' if d else 'keep'}" for n, (c, r, d) in CASES]


def _sound(row: dict) -> None:
    assert row["spikes"] > 0
    assert row["finite"]
    assert row["norm"] > 0


@pytest.mark.parametrize(("name", "sw"), CASES, ids=IDS)
def test_rtrl_equals_bptt_recurrent(name, sw):
    row = exactness_case(name, "rtrl", sw, steps=60, hidden=3)
    _sound(row)
    assert row["relative_error"] < 1e-10


@pytest.mark.parametrize("name", ["alif", "lstmlif"])
def test_rtrl_equals_bptt_at_1000_steps(name):
    row = exactness_case(name, "rtrl", switch_sets(name)[0], steps=1000, hidden=3)
    _sound(row)
    assert row["relative_error"] < 1e-10


@pytest.mark.parametrize(("name", "sw"), CASES, ids=IDS)
def test_ostl_and_eprop_equal_bptt_without_recurrence(name, sw):
    for rule in ("ostl", "eprop"):
        row = exactness_case(name, rule, sw, steps=60, hidden=3)
        _sound(row)
        assert row["relative_error"] < 1e-10, rule


@pytest.mark.parametrize("name", model_names())
def test_approximate_rules_differ_from_bptt_with_recurrence(name):
    sw = switch_sets(name)[0]
    for rule in ("ostl", "eprop", "ottt"):
        row = exactness_case(name, rule, sw, steps=60, hidden=3, recurrent=True)
        _sound(row)
        assert row["relative_error"] > 1e-6, rule


def test_eprop_differs_from_bptt_that_keeps_the_reset():
    """e-prop holds LIF's reset: against a BPTT that keeps it (feed-forward) it differs."""
    layer = make_layer("lif", 3, 3, recurrent=False, seed=4, detach_reset=False)
    u = make_inputs(layer, 200, 1, seed=5)
    loss = LinearLoss.random(layer, 200, 1, seed=6)
    ref = bptt(layer, u, loss)
    assert ref.spikes > 0
    e = run_rule("eprop", layer, u, loss)
    o = run_rule("ostl", layer, u, loss)
    assert agreement(o.gradients, ref.gradients)["relative_error"] < 1e-10
    assert agreement(e.gradients, ref.gradients)["relative_error"] > 1e-6


def test_eprop_holds_the_reset_but_not_alifs_adaptation():
    """ALIF: e-prop = BPTT with the reset detached (adaptation kept), and != BPTT with every
    spike path of the step held (psi = 0 inside the step is a different, smaller gradient)."""
    layer = make_layer("alif", 3, 3, recurrent=False, seed=1, detach_reset=False)
    u = make_inputs(layer, 200, 1, seed=2)
    loss = LinearLoss.random(layer, 200, 1, seed=3)
    ref = bptt(layer, u, loss, detach_reset=True)
    assert ref.spikes > 0
    e = run_rule("eprop", layer, u, loss)
    assert agreement(e.gradients, ref.gradients)["relative_error"] < 1e-10
    keep = bptt(layer, u, loss, detach_reset=False)
    assert agreement(e.gradients, keep.gradients)["relative_error"] > 1e-6


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_ottt_is_exact_for_lif_with_the_reset_detached(convention):
    """LIF, subtract reset detached, feed-forward: dv[t]/dW_jk = sum_s alpha^(t-s) u_k[s], the
    presynaptic trace with lambda = alpha (by hand), so OTTT is BPTT."""
    layer = make_layer(
        "lif", 3, 4, recurrent=False, seed=7, convention=convention, detach_reset=True
    )
    u = make_inputs(layer, 300, 2, seed=8)
    loss = LinearLoss.random(layer, 300, 2, seed=9)
    ref = bptt(layer, u, loss)
    assert ref.spikes > 0
    res = run_rule("ottt", layer, u, loss)
    g = np.concatenate([v.ravel() for v in res.gradients.values()])
    assert np.all(np.isfinite(g)) and np.linalg.norm(g) > 0
    assert agreement(res.gradients, ref.gradients)["relative_error"] < 1e-10


def test_ottt_decay_is_alpha_for_lif():
    from lstmlif.online.rules import rest_decay

    layer = make_layer("lif", 3, 3)
    assert rest_decay(layer) == pytest.approx(model_class("lif").verify_params["alpha"], 1e-15)


def test_readout_loss_and_feedback():
    """Symmetric e-prop with a readout = BPTT (feed-forward, reset detached); random feedback
    with B = W_out^T is the symmetric rule, with a random B it is not."""
    layer = make_layer("lif", 4, 3, recurrent=False, seed=2, detach_reset=True)
    u = make_inputs(layer, 200, 1, seed=3)
    loss = ReadoutLoss.random(layer, 200, 1, seed=4)
    ref = bptt(layer, u, loss)
    assert ref.spikes > 0
    sym = run_rule("eprop", layer, u, loss)
    assert agreement(sym.gradients, ref.gradients)["relative_error"] < 1e-10
    same = ReadoutLoss(loss.w_out, loss.target, loss.w_out.T.copy())
    rnd = run_rule("eprop", layer, u, same, feedback="random")
    assert agreement(rnd.gradients, ref.gradients)["relative_error"] < 1e-10
    rnd = run_rule("eprop", layer, u, loss, feedback="random")
    a = agreement(rnd.gradients, ref.gradients)
    assert a["relative_error"] > 1e-3 and np.isfinite(a["cosine"])


def test_memory_does_not_grow_with_T():
    """Every rule carries the same bytes at T = 200 and 600; OSTL allocates no more at its peak
    (tracemalloc, inputs made beforehand); BPTT's saved tensors grow about 3x. (The numbers
    at T = 1,000 and 10,000 are printed by benchmarks/bench_online.py.)"""
    layer = make_layer("alif", 3, 3, seed=0)
    held = {}
    peak = {}
    saved = {}
    for T in (200, 600):
        u = make_inputs(layer, T, 1, seed=1)
        loss = LinearLoss.random(layer, T, 1, seed=2)
        for rule in ("rtrl", "ostl", "eprop", "ottt"):
            if rule == "ostl":
                tracemalloc.start()
            res = run_rule(rule, layer, u, loss)
            if rule == "ostl":
                peak[T] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            held[rule, T] = res.memory_bytes
            assert res.spikes > 0
        saved[T] = bptt(layer, u, loss).memory_bytes
    for rule in ("rtrl", "ostl", "eprop", "ottt"):
        assert held[rule, 200] == held[rule, 600]
    assert peak[600] < 1.2 * peak[200] + 20_000
    assert held["ottt", 200] < held["ostl", 200] < held["rtrl", 200]
    assert 2.5 < saved[600] / saved[200] < 3.5


def test_bad_input():
    layer = make_layer("lif", 3, 3)
    u = make_inputs(layer, 10, 1)
    loss = LinearLoss.random(layer, 10, 1)
    with pytest.raises(ValueError, match="unknown rule"):
        run_rule("nope", layer, u, loss)
    with pytest.raises(ValueError, match="inputs must have shape"):
        run_rule("ostl", layer, u[:, :, :2], loss)
    bad = u.copy()
    bad[3, 0, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        run_rule("ostl", layer, bad, loss)
    with pytest.raises(ValueError, match="random feedback"):
        run_rule("eprop", layer, u, loss, feedback="random")
    with pytest.raises(ValueError, match="hidden"):
        make_layer("lif", 0)
    with pytest.raises(ValueError, match="unknown model"):
        make_layer("nope", 3)
    with pytest.raises(ValueError, match="no parameter"):
        make_layer("lif", 3, train=("nope",))
