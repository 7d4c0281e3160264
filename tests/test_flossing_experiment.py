"""The flossing experiment (``experiments.flossing``): the plan's configs, the choice on
validation per arm, the intervals, the largest delay learned and the stopping rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lstmlif.experiments import flossing as fx
from lstmlif.experiments.tuning import bootstrap_mean

REPO = Path(__file__).resolve().parents[1]


def _plan(**changes):
    plan = fx.load_plan(REPO / "results" / "flossing" / "plan.json")
    plan.update(changes)
    return plan


def test_the_committed_plan_reads_and_its_arms_differ_only_in_flossing():
    plan = _plan()
    assert len(plan["seeds"]) >= 5
    stage = plan["stages"][0]
    off = fx.stage_configs(plan, stage, "lif", 25, 0.0)
    on = fx.stage_configs(plan, stage, "lif", 25, 1.0)
    assert len(off) == len(on) == len(plan["seeds"]) * len(stage["lrs"])
    for a, b in zip(off, on, strict=True):
        assert {k: v for k, v in a.items() if k != "floss"} == {
            k: v for k, v in b.items() if k != "floss"
        }
        assert a["floss"]["weight"] == 0 and a["floss"]["prefloss"] == 0
        assert b["floss"]["weight"] == 1.0 and b["floss"]["prefloss"] == plan["floss"]["prefloss"]
        assert fx.arm_of(a) == "off" and fx.arm_of(b) == "floss"
        assert a["budgets"] == plan["budgets"]


def _record(config, accs):
    """A record with validation / test accuracy ``accs[budget]`` at each budget."""
    curve = [
        {"step": b, "accuracy": t, "val_accuracy": v, "spike_rate": 0.05, "loss": 1.0}
        for b, (v, t) in sorted(accs.items())
    ]
    return {
        "key": "k",
        "config": config,
        "result": {
            "status": "done",
            "curve": curve,
            "losses": [1.0],
            "exponents_before": [[-0.2]],
            "exponents_after": [[-0.1 if fx.arm_of(config) == "floss" else -0.3]],
            "update_cpu_s": {
                "plain": 0.05,
                "floss": None if config["floss"]["weight"] == 0 else 0.1,
            },
        },
        "cpu_time_s": 10.0,
    }


def test_choice_on_validation_intervals_and_largest_delay_by_hand():
    plan = _plan(models=["lif"], delays=[25, 50], seeds=[0, 1, 2], budgets=[50, 100])
    plan["stages"] = [{"name": "A", "lrs": [0.01], "weights": [0.0, 1.0]}]
    stage = plan["stages"][0]
    tests = {25: [0.9, 0.8, 0.7], 50: [0.7, 0.5, 0.6]}
    records = []
    for delay in plan["delays"]:
        for w in (0.0, 1.0):
            for c in fx.stage_configs(plan, stage, "lif", delay, w):
                s = c["seed"]
                # budget 100 has the better validation accuracy; its test accuracy is tests[D]
                records.append(_record(c, {50: (0.3, 0.3), 100: (0.6 + 0.1 * w, tests[delay][s])}))
    obs = fx.observed(plan, records)
    for arm in fx.ARMS:
        entry = obs[("lif", arm)]
        assert entry["tested"] == [25, 50]
        first, second = entry["per_delay"]
        assert first["budget"] == 100 and first["lr"] == 0.01
        mean, low, high = bootstrap_mean(tests[25])
        assert first["mean"] == pytest.approx(0.8) and (first["low"], first["high"]) == (low, high)
        assert first["learned"] and not second["learned"]  # 0.6 < 0.625
        assert entry["largest"] == 25
    assert obs[("lif", "floss")]["per_delay"][0]["after"][0] == pytest.approx(-0.1)
    assert obs[("lif", "off")]["per_delay"][0]["after"][0] == pytest.approx(-0.3)
    # the bootstrap of the largest delay: resamples whose D = 50 mean reaches 0.625 say 50
    rng = np.random.default_rng(0)
    picks = rng.integers(0, 3, size=(10_000, 3))
    m25 = np.array(tests[25])[picks].mean(1) >= 0.625
    m50 = np.array(tests[50])[picks].mean(1) >= 0.625
    boot = np.where(m50, 50.0, np.where(m25, 25.0, 0.0))
    assert obs[("lif", "off")]["interval"] == tuple(np.quantile(boot, [0.025, 0.975]))
    text = fx.markdown(plan, records)
    assert "| lif | 25 | 0.80 [" in text and "| lif | 25 (" in text


def test_the_stopping_rule_ends_a_model_nobody_learns(tmp_path):
    plan = _plan(models=["lif"], delays=[3, 6], seeds=[0, 1], budgets=[1], threshold=1.01)
    plan["floss"] = dict(plan["floss"], prefloss=1, batch=4)
    plan["stages"] = [{"name": "A", "lrs": [0.01], "weights": [0.0, 1.0]}]
    fx.run_plan(plan, tmp_path)
    records = fx.records_in(tmp_path)
    assert sorted((r["config"]["delay"], fx.arm_of(r["config"])) for r in records) == [
        (3, "floss"),
        (3, "floss"),
        (3, "off"),
        (3, "off"),
    ]
    assert {p.name for p in (tmp_path / "flossing" / "runs").iterdir()} == {"off", "w1"}
    assert "| lif | none (none-none) | none (none-none) | 3 |" in fx.markdown(plan, records)
    # the figure reads the same runs through the plan beside them
    from lstmlif.figures import fig_flossing

    (tmp_path / "flossing" / "plan.json").write_text(json.dumps(plan))
    made = fig_flossing.make(tmp_path / "fig", tmp_path)
    assert sorted(Path(p).suffix for p in made["paths"]) == [".npz", ".pdf", ".png"]
    obs = fx.observed(plan, records)
    for arm in fx.ARMS:
        p = obs[("lif", arm)]["per_delay"][0]
        assert made["data"][f"lif_{arm}_acc"].tolist() == [[p["mean"], p["low"], p["high"]]]
        assert made["data"][f"lif_{arm}_before"].tolist() == list(p["before"])


def test_a_bad_plan_is_named(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"models": ["lif"]}))
    assert fx.main(["table", "--plan", str(path), "--out", str(tmp_path)]) == 2
    assert "'delays' is missing" in capsys.readouterr().err
