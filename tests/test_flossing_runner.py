"""Flossing in the experiment runner: ``lstmlif experiment recall --floss K ...``.

The options make a ``floss`` field in each recall config (and nothing else changes), bad values
are refused before any work with one line naming the option, and a run with the field adds the
term on the updates it is due, records the exponents before and after training and the time of
an update with and without the term.
"""

from __future__ import annotations

import math

import pytest
import torch

from lstmlif.analysis.flossing import network_exponents
from lstmlif.cli import main as cli_main
from lstmlif.experiments import make_configs
from lstmlif.experiments.runner import FLOSS_DEFAULTS, recall_network, result_dir, run_config
from lstmlif.experiments.tasks import recall_batch
from lstmlif.experiments.training import calibrate_input_gain


@pytest.fixture
def no_runs(monkeypatch):
    import lstmlif.experiments.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("a run started although the options were refused")

    monkeypatch.setattr(runner, "run_config", refuse)


def test_the_floss_field_is_added_only_when_flossing_is_on():
    plain = make_configs("recall", quick=True, models=["lif", "brf"])
    flossed = make_configs(
        "recall", quick=True, models=["lif", "brf"], floss=2, floss_weight=0.1, floss_every=5
    )
    assert all("floss" not in c for c in plain)
    assert len(plain) == len(flossed)
    for p, f in zip(plain, flossed, strict=True):
        rest = {k: v for k, v in f.items() if k != "floss"}
        assert rest == p
        assert f["floss"] == {
            "k": 2,
            "target": 0.0,
            "every": 5,
            "weight": 0.1,
            "batch": FLOSS_DEFAULTS["batch"],
            "prefloss": 0,
        }
    tuned = make_configs("recall", quick=True, models=["lif"], tune=True, floss=1)
    assert {c["lr"] for c in tuned} == {3e-3, 1e-2}
    assert all(c["floss"]["k"] == 1 for c in tuned)


def test_the_folder_names_the_flossing_setting():
    f = dict(k=1, target=0.0, every=10, weight=0.1, batch=16, prefloss=0)
    assert result_dir("r", "recall", False).name == "recall"
    assert result_dir("r", "recall", False, floss=f).name == "recall_floss-k1-e10-w0.1"
    f2 = dict(f, target=[0.0, -0.1], k=2, batch=8, prefloss=20)
    assert (
        result_dir("r", "recall", True, True, floss=f2).name
        == "recall_tune_floss-k2-e10-w0.1-t0,-0.1-b8-pre20_quick"
    )


HOSTILE = [
    (["recall", "--floss", "0"], "--floss must lie in [1, 32], got 0"),
    (["recall", "--floss", "1", "--floss-weight", "-1"], "--floss-weight must lie in [0, 1e+06]"),
    (["recall", "--floss", "1", "--floss-weight", "nan"], "--floss-weight must lie in [0, 1e+06]"),
    (["recall", "--floss", "1", "--floss-target", "0,0"], "--floss-target: one value or k = 1"),
    (["recall", "--floss", "1", "--floss-target", "50"], "--floss-target must lie in [-10, 10]"),
    (["recall", "--floss", "1", "--floss-every", "0"], "--floss-every must lie in [1, 100000]"),
    (["recall", "--floss", "1", "--floss-batch", "65"], "--floss-batch must lie in [1, 64]"),
    (["recall", "--floss", "1", "--prefloss", "-3"], "--prefloss must lie in [1, 100000]"),
    (["recall", "--floss-weight", "0.1"], "--floss-weight need --floss K"),
    (["recall", "--prefloss", "5"], "--prefloss need --floss K"),
    (["digits", "--floss", "1"], "experiment 'digits' does not take --floss"),
    (["quadrants", "--floss", "1"], "experiment 'quadrants' does not take --floss"),
    (["recall", "--floss", "x"], "expected an integer, got 'x'"),
]


@pytest.mark.parametrize(("argv", "words"), HOSTILE)
def test_bad_flossing_options_are_one_line_errors(argv, words, tmp_path, capsys, no_runs):
    out = tmp_path / "res"
    try:
        code = cli_main(["experiment", *argv, "--quick", "--out", str(out), "--no-progress"])
    except SystemExit as stop:  # argparse's own refusals (not a number)
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err
    assert not out.exists()


def _tiny(**floss):
    config = make_configs(
        "recall", quick=True, models=["lif"], delays=[6], updates=4, hidden=8, **floss
    )[0]
    return config


def test_a_flossed_run_adds_the_term_when_due_and_records_its_cost():
    config = _tiny(floss=1, floss_weight=0.5, floss_every=2, floss_batch=5)
    f = config["floss"]
    record = run_config(config)
    res = record["result"]
    # due at updates 0 and 2 (0-based): 1-based 1 and 3
    assert [row[0] for row in res["floss_losses"]] == [1, 3]
    for _, term, lams in res["floss_losses"]:
        assert math.isfinite(term) and term > 0
        assert term == pytest.approx(f["weight"] * (lams[0][0] - f["target"]) ** 2, rel=1e-5)
    # the first term is computed on the untrained network and the first 5 sequences of the
    # first training batch: rebuilt here from the config alone
    net, task = recall_network(config)
    x_cal, _ = recall_batch(task, 64, (config["seed"], 1))
    calibrate_input_gain(net, x_cal, config["target_rate"])
    x0, _ = recall_batch(task, config["batch"], (config["seed"], 4, 0))
    with torch.no_grad():
        lam0 = float(network_exponents(net, x0[:, :5], 1)[0].mean())
    assert res["floss_losses"][0][2][0][0] == pytest.approx(lam0, rel=1e-5, abs=1e-6)
    # before training: the measurement batch of its own stream, (seed, 8)
    xm, _ = recall_batch(task, 5, (config["seed"], 8))
    with torch.no_grad():
        before = float(network_exponents(net, xm, 1)[0].mean())
    assert res["exponents_before"][0][0] == pytest.approx(before, rel=1e-5, abs=1e-6)
    assert len(res["exponents_after"]) == 1 and math.isfinite(res["exponents_after"][0][0])
    for unit in ("update_cpu_s", "update_wall_s"):
        assert res[unit]["plain"] > 0 and res[unit]["floss"] > 0
    assert len(res["losses"]) == config["updates"]


def test_weight_zero_measures_without_the_term_and_the_term_moves_the_weights():
    records = {}
    for w in (0.0, 5.0):
        config = _tiny(floss=1, floss_weight=w, floss_every=1, floss_batch=4)
        records[w] = run_config(config)["result"]
    off, on = records[0.0], records[5.0]
    assert off["floss_losses"] == [] and off["update_cpu_s"]["floss"] is None
    assert on["update_cpu_s"]["plain"] is None and len(on["floss_losses"]) == 4
    # same start, same task loss on the first batch; the term changes the first update
    assert off["exponents_before"] == on["exponents_before"]
    assert off["losses"][0] == on["losses"][0]
    assert off["grad_norms"][0] != on["grad_norms"][0]
    assert off["losses"][1] != on["losses"][1]


def test_prefloss_moves_the_top_exponent_toward_the_target():
    config = _tiny(floss=1, floss_weight=0.0, prefloss=15, floss_batch=6, lr=0.1)
    res = run_config(config)["result"]
    pre = res["prefloss"]
    assert len(pre["losses"]) == 15
    before, after = pre["before"][0][0], pre["after"][0][0]
    assert before < 0
    assert abs(after) < abs(before)
    assert pre["losses"][-1] < pre["losses"][0]
