"""The stronger learning protocol: its grid, gradient clipping, aborted runs recorded and
counted, bootstrap intervals, and the learnability plan's reading of its runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from lstmlif.cli import main as cli_main
from lstmlif.experiments import make_configs, run_filename
from lstmlif.experiments.learnability import (
    learnability_rows,
    load_plan,
    markdown,
    observed,
    stage_configs,
    stages_run,
)
from lstmlif.experiments.training import HUGE_GRADIENT, train_steps
from lstmlif.experiments.tuning import aborted_by, bootstrap_mean, grid_rows, tuned_rows


def test_strong_protocol_grid():
    configs = make_configs("recall", protocol="strong", delays=[25], models=["lif", "alif"])
    lif = [c for c in configs if c["model"] == "lif"]
    alif = [c for c in configs if c["model"] == "alif"]
    # 5 seeds x 6 learning rates x (unclipped, clip 1.0); ALIF also x 3 values of tau_a.
    assert len(lif) == 5 * 6 * 2 and len(alif) == 5 * 6 * 2 * 3
    lrs = sorted({c["lr"] for c in configs})
    assert lrs[0] == 1e-4 and lrs[-1] == 3e-2 and len(lrs) == 6
    ratios = np.diff(np.log10(lrs))
    assert np.all(ratios > 0.4) and np.all(ratios < 0.6)  # log-spaced, half a decade apart
    assert {c["seed"] for c in configs} == {0, 1, 2, 3, 4}
    assert all(c["budgets"] == [200, 400, 800] and c["updates"] == 800 for c in configs)
    assert all(set(c["budgets"]) <= set(c["eval_at"]) for c in configs)
    assert {c.get("clip") for c in configs} == {None, 1.0}
    assert {c["network"]["tau_a"] for c in alif} == {200.0, 700.0, 2000.0}
    assert all("network" not in c for c in lif)
    names = {run_filename(c) for c in configs}
    assert len(names) == len(configs)  # every grid point has a file of its own
    clipped = next(c for c in alif if c.get("clip") == 1.0 and c["network"]["tau_a"] == 200.0)
    assert "_clip1_taua200_" in run_filename(clipped)
    # The default tuning grid is untouched by the new options (its committed keys stay).
    plain = make_configs("recall", delays=[25], models=["lif"], seeds=[0], tune=True)
    assert all("clip" not in c and "network" not in c for c in plain)


def test_protocol_options_are_checked(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"--lrs and --budgets shape a tuning grid"):
        make_configs("recall", lrs=[1e-3])
    with pytest.raises(ValueError, match=r"--clip must lie in \(0, 1e\+06\], got -1"):
        make_configs("recall", clips=[-1.0])
    with pytest.raises(ValueError, match=r"--protocol strong applies to the recall experiment"):
        make_configs("digits", protocol="strong")
    with pytest.raises(ValueError, match=r"--tau-a must lie in \(1, 1e\+06\], got 0.5"):
        make_configs("recall", tau_a=[0.5])
    base = ["experiment", "recall", "--quick", "--out", str(tmp_path)]
    for argv, words in (
        (["--lrs", "1e-3"], "--lrs and --budgets shape a tuning grid"),
        (["--protocol", "strong", "--budgets", "0"], "--budgets must lie in [1, 100000], got 0"),
    ):
        assert cli_main([*base, *argv]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own exit for a malformed number
        cli_main([*base, "--clip", "x"])
    assert exit_info.value.code == 2
    assert "--clip: 'x' is not a number" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    assert cli_main(["experiment", "digits", "--quick", "--clip", "1", "--out", str(tmp_path)]) == 2
    assert "does not take --clip" in capsys.readouterr().err


class _Linear(nn.Module):
    """logits = scale * (x W^T), the loss gradient set by ``scale``."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2, bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]]))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> dict:
        return {"logits": self.scale * self.lin(x)}


def _batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]], dtype=torch.float64)
    return x, torch.tensor([0, 1])


def _gradient_norm(net: _Linear) -> float:
    """||dL/dW|| by hand: L = mean cross-entropy, dL/dlogits = (softmax - onehot) / B."""
    x, y = _batch(0)
    with torch.no_grad():
        z = net.scale * x @ net.lin.weight.T
        p = torch.softmax(z, dim=1)
        p[torch.arange(2), y] -= 1.0
        g = net.scale * (p / 2).T @ x
    return float(g.norm())


def test_clipping_bounds_the_update_and_records_the_norm_before_it():
    net = _Linear(3.0)
    expected = _gradient_norm(net)
    assert expected > 0.5  # clipping at 0.5 has something to do
    out = train_steps(net, _batch, 1, 1e-2, lambda: {}, [], clip=0.5)
    assert out["status"] == "done" and "aborted_at" not in out
    assert out["grad_norms"][0] == pytest.approx(expected, rel=1e-12)
    # The gradient the update used (left in .grad) has the clip's norm (torch scales by
    # clip / (norm + 1e-6)).
    clipped = 0.5 * expected / (expected + 1e-6)
    assert float(net.lin.weight.grad.norm()) == pytest.approx(clipped, rel=1e-12)
    free = _Linear(3.0)
    train_steps(free, _batch, 1, 1e-2, lambda: {}, [])
    assert float(free.lin.weight.grad.norm()) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="clip must be a positive finite number"):
        train_steps(_Linear(1.0), _batch, 1, 1e-2, lambda: {}, [], clip=0.0)


def test_aborted_runs_are_recorded():
    net = _Linear(1e8)
    assert _gradient_norm(net) > HUGE_GRADIENT
    out = train_steps(net, _batch, 5, 1e-2, lambda: {}, [])
    assert out["status"] == "huge-gradient"
    assert out["aborted_at"] == 1 and out["abort_grad_norm"] > HUGE_GRADIENT
    assert out["losses"] == [] and out["grad_norms"] == []
    # The clip does not hide an exploding gradient: the same stop, on the norm before clipping.
    clipped = train_steps(_Linear(1e8), _batch, 5, 1e-2, lambda: {}, [], clip=1.0)
    assert clipped["status"] == "huge-gradient" and clipped["aborted_at"] == 1
    nan = _Linear(float("nan"))
    out = train_steps(nan, _batch, 5, 1e-2, lambda: {}, [])
    assert out["status"] == "non-finite" and out["aborted_at"] == 1


def _record(config: dict, val: float, test: float, status: str = "done", at: int | None = None):
    """A minimal record: the accuracy curve at each budget; a run aborted at update ``at``
    keeps its last good point (the curve stops before ``at``)."""
    budgets = config["budgets"]
    curve = [
        {"step": b, "accuracy": test, "val_accuracy": val} for b in budgets if at is None or b < at
    ]
    result = {"status": status, "losses": [0.0] * ((at or budgets[-1] + 1) - 1), "curve": curve}
    if at is not None:
        result["aborted_at"] = at
    result.update(init={"log10_cue_norm": -3.0}, n_params=1)
    return {
        "key": config["model"] + str(config["seed"]),
        "config": config,
        "result": result,
        "wall_time_s": 1.0,
    }


def test_aborted_runs_are_counted_in_the_tuned_rows():
    configs = make_configs(
        "recall",
        delays=[25],
        models=["lif"],
        seeds=[0, 1],
        tune=True,
        lrs=[1e-2],
        budgets=[100, 200],
    )
    records = [
        _record(configs[0], 0.9, 0.8),
        _record(configs[1], 0.6, 0.5, status="huge-gradient", at=150),
    ]
    assert not aborted_by(records[1], 100) and aborted_by(records[1], 200)
    rows = grid_rows("recall", records)
    assert [r["aborted"] for r in rows] == [False, False, False, True]
    tuned = tuned_rows("recall", records)[0]
    # The choice: budget 100 and 200 tie on validation (0.75); the smaller budget wins.
    assert tuned["updates"] == 100 and tuned["aborted"] == 0
    assert tuned["grid_runs"] == 2 and tuned["grid_runs_aborted"] == 1
    assert tuned["test_accuracy"] == pytest.approx(0.65)


def test_bootstrap_interval():
    # Two values 0 and 1: a resampled mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1.
    assert bootstrap_mean([0.0, 1.0]) == (0.5, 0.0, 1.0)
    assert bootstrap_mean([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    values = np.random.default_rng(1).normal(size=40)
    mean, low, high = bootstrap_mean(values)
    half = 1.96 * values.std(ddof=1) / math.sqrt(40)  # the normal approximation
    assert low == pytest.approx(mean - half, abs=0.1) and high == pytest.approx(
        mean + half, abs=0.1
    )
    assert bootstrap_mean(values) == (mean, low, high)  # seeded
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean([1.0, math.nan])


PLAN = {
    "models": ["lif"],
    "delays": [10, 25, 50],
    "seeds": [0, 1, 2, 3, 4],
    "threshold": 0.625,
    "stages": [{"name": "A", "lrs": [0.01], "budgets": [50, 100], "clips": [None]}],
    "predictors": {"lambda": {"floor_decades": 3.0}, "window": {}},
    "stopping_rule": "",
}


def test_learnability_reads_the_largest_delay_and_its_interval():
    stage = PLAN["stages"][0]
    records = []
    tests = {10: [1.0] * 5, 25: [1.0, 1.0, 1.0, 0.25, 0.25], 50: [0.25] * 5}
    for delay, accs in tests.items():
        for c, acc in zip(stage_configs(PLAN, stage, "lif", delay), accs, strict=True):
            records.append(_record(c, acc, acc))
    obs = observed(PLAN, records)["lif"]
    assert obs["tested"] == [10, 25, 50]
    assert obs["largest"] == 25 and not obs["censored"]
    assert obs["finished"]  # no seed reached the threshold at D = 50: the rule stops there
    # A resample of the 5 seeds learns D = 25 when it draws the 1.0 at least 3 times
    # (probability 0.68), else only D = 10: the 95% interval is [10, 25].
    assert obs["interval"] == (10.0, 25.0)
    # D* = 3 ln 10 / (-lambda_1) = 30 steps: largest tested delay below it 25, a hit; the window
    # predictor: within 3 decades up to D = 25, not at 50: 25, a hit.
    lam = -3 * math.log(10) / 30
    ratios = {"10": -1.0, "25": -2.0, "50": -4.0}
    predictors = {
        "models": {
            "lif": {
                "lambda_1": {str(s): lam for s in PLAN["seeds"]},
                "log10_cue_over_max": {str(s): ratios for s in PLAN["seeds"]},
            }
        }
    }
    row = learnability_rows(PLAN, records, predictors)[0]
    assert row["d_star_lambda"] == pytest.approx(30.0)
    assert row["pred_lambda"] == 25 and row["pred_window"] == 25
    assert row["hit_lambda"] and row["hit_window"]
    # Stages: A ran; a stage repeating A's grid point for a model without tau_a has no run
    # of its own, and a stage with another learning rate has none either.
    more = dict(PLAN, stages=[*PLAN["stages"], {**stage, "name": "E", "tau_a": [200.0]}])
    more["stages"].append({**stage, "name": "B", "lrs": [0.003]})
    assert stages_run(more, records) == ["A"]
    text = markdown(learnability_rows(more, records, predictors), more, ["A"])
    assert text.startswith("Stages with runs: A (of A, E, B); not yet run: E, B.")
    assert "| lif | 30 (30-30) | 25 | 25 | 25 (10-25) | 10, 25, 50 | 0 | hit / hit |" in text
    # A prediction of 50 misses.
    predictors["models"]["lif"]["lambda_1"] = {str(s): lam / 3 for s in PLAN["seeds"]}
    row = learnability_rows(PLAN, records, predictors)[0]
    assert row["pred_lambda"] == 50 and not row["hit_lambda"]
    # Without the D = 50 runs the model is not censored at 25 (the plan goes to 50): the
    # table says which delays were tested.
    partial = observed(PLAN, [r for r in records if r["config"]["delay"] != 50])["lif"]
    assert partial["tested"] == [10, 25] and partial["largest"] == 25
    assert not partial["finished"]  # seeds learned D = 25, so D = 50 is still to run
    row = learnability_rows(PLAN, [r for r in records if r["config"]["delay"] != 50], predictors)
    assert "hit_lambda" not in row[0] and "hit_window" not in row[0]


def test_learnability_stage_names_its_backward(tmp_path):
    """A stage with ``backward: fused`` builds fused configs (a field the others lack, so the
    keys of the autograd stages stay as they were); an unknown backward is refused by name."""
    stage = {**PLAN["stages"][0], "backward": "fused"}
    fused = stage_configs(PLAN, stage, "lif", 10)
    plain = stage_configs(PLAN, PLAN["stages"][0], "lif", 10)
    assert [c.get("backward") for c in fused] == ["fused"] * len(plain)
    assert all("backward" not in c for c in plain)
    assert [{k: v for k, v in c.items() if k != "backward"} for c in fused] == plain
    bad = {**PLAN, "stages": [{**PLAN["stages"][0], "backward": "gpu"}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="backward 'gpu'"):
        load_plan(path)
