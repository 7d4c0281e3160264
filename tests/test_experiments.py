"""The learning experiments: data generators, quick training runs, resume, the quadrant
criteria and the experiment figure."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os

import numpy as np
import pytest
import torch

from lstmlif.cli import main as cli_main
from lstmlif.experiments import (
    RecallTask,
    config_key,
    diagnose_failure,
    digits_data,
    digits_permutation,
    load_results,
    make_configs,
    paper_criterion,
    paper_prediction,
    recall_batch,
    result_dir,
    run_experiment,
    run_filename,
)


def test_generators_are_deterministic_and_encode_the_class():
    task = RecallTask(delay=30)
    x1, y1 = recall_batch(task, 200, seed=7)
    x2, y2 = recall_batch(task, 200, seed=7)
    x3, y3 = recall_batch(task, 200, seed=8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    # Layout derived from the task description: C = (K + 1) * g, T = cue + delay + recall.
    assert x1.shape == (5 + 30 + 5, 200, (4 + 1) * 4) and x1.dtype == torch.float32
    assert set(torch.unique(x1).tolist()) <= {0.0, 1.0}
    g, K = 4, 4
    cue = x1[:5].sum(0)  # (B, C)
    for b in range(200):
        groups = cue[b, : K * g].reshape(K, g).sum(1)
        assert int(groups.argmax()) == int(y1[b])  # the cue names the class ...
        assert float(groups.sum() - groups[y1[b]]) == 0.0  # ... and nothing else fires
    assert float(cue[:, K * g :].sum()) == 0.0
    delay = x1[5:35]
    assert float(delay[:, :, K * g :].sum()) == 0.0  # no recall signal during the delay
    # Distractor rate 0.05 on every cue channel, whatever the class: 30*200*16 Bernoulli draws.
    n = delay[:, :, : K * g].numel()
    rate = float(delay[:, :, : K * g].mean())
    assert abs(rate - 0.05) < 5 * math.sqrt(0.05 * 0.95 / n)
    for k in range(K):
        per_class = float(delay[:, y1 == k, : K * g].mean())
        assert abs(per_class - 0.05) < 0.02
    assert float(x1[35:, :, K * g :].min()) == 1.0 and float(x1[35:, :, : K * g].sum()) == 0.0
    # All four classes occur (200 uniform draws).
    assert set(y1.tolist()) == {0, 1, 2, 3}

    # The saved pixel permutation is the one its comment says was drawn, and permuted data is
    # the plain data reindexed.
    perm = digits_permutation()
    assert np.array_equal(perm, np.random.default_rng(2307).permutation(64))
    plain, shuffled = digits_data(False), digits_data(True)
    assert plain["x_train"].shape[0] == 64 and plain["x_train"].shape[2] == 1
    assert plain["x_train"].shape[1] + plain["x_test"].shape[1] == 1797
    assert plain["x_test"].shape[1] == 360  # ceil(0.2 * 1797), stratified
    assert float(plain["x_train"].min()) == 0.0 and float(plain["x_train"].max()) == 1.0
    assert torch.equal(shuffled["x_train"], plain["x_train"][torch.from_numpy(perm)])
    assert torch.equal(shuffled["y_test"], plain["y_test"])

    for bad in (dict(delay=-1), dict(delay=5, n_classes=3), dict(delay=5, noise_rate=1.5)):
        with pytest.raises(ValueError):
            RecallTask(**bad)
    with pytest.raises(ValueError, match="n must be"):
        recall_batch(task, 0, seed=1)
    with pytest.raises(ValueError, match="unknown experiment"):
        make_configs("nonsense")
    with pytest.raises(ValueError, match="unknown model"):
        make_configs("recall", models=["gru"])
    # The key is the SHA-256 of the canonical JSON, computed here independently.
    config = make_configs("recall", quick=True)[0]
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert config_key(config) == hashlib.sha256(text.encode()).hexdigest()[:16]


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}


def test_quick_recall_beats_chance_and_resumes(tmp_path):
    report = run_experiment("recall", tmp_path, quick=True, progress=False)
    folder = result_dir(tmp_path, "recall", quick=True)
    assert len(report.computed) == 3 and not report.skipped
    names = {r["key"]: run_filename(r["config"]) for r in report.records}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [names[k] for k in report.computed] + ["summary.csv"]
    )  # no temporary files or locks left behind
    umask = os.umask(0)
    os.umask(umask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in folder.iterdir())
    C, H, K = (4 + 1) * 4, 32, 4
    weights = C * H + H + H * H + H * K + K  # input, recurrent and readout layers
    expected_params = {"lif": weights + 1, "alif": weights + 2, "lstmlif": weights + 2}
    for record in load_results(tmp_path, "recall", quick=True):
        config, res = record["config"], record["result"]
        assert res["n_params"] == expected_params[config["model"]]
        # Short delay (10 steps): every model clearly beats chance (0.25).
        assert record["final_accuracy"] >= 0.6, (config["model"], record["final_accuracy"])
        assert res["init_accuracy"] < 0.5
        assert [p["step"] for p in res["curve"]] == config["eval_at"]
        init = res["init"]
        assert init["finite"] and 0 < init["cue_norm"] < math.inf
        assert len(init["log10_step_norms"]) == 5 + config["delay"] + 5
        assert 0.0 < init["spike_rate"] < 0.2 and record["wall_time_s"] > 0

    # Resuming: nothing is recomputed and no file is touched.
    before = _mtimes(folder)
    again = run_experiment("recall", tmp_path, quick=True, progress=False)
    assert not again.computed and len(again.skipped) == 3
    assert _mtimes(folder) == before
    # An interrupted sweep: one result missing -> exactly that run is redone, identically.
    victim = folder / names[report.computed[1]]
    old = json.loads(victim.read_text())
    victim.unlink()
    third = run_experiment("recall", tmp_path, quick=True, progress=False)
    assert third.computed == [report.computed[1]] and len(third.skipped) == 2
    new = json.loads(victim.read_text())
    assert new["result"]["curve"] == old["result"]["curve"]
    assert new["result"]["losses"] == old["result"]["losses"]
    # A narrower sweep (one model) recomputes nothing, and summary.csv still lists every
    # finished run in the folder: this sweep's first, then the others.
    subset = run_experiment("recall", tmp_path, quick=True, models=["lif"], progress=False)
    assert not subset.computed and len(subset.skipped) == 1
    with open(folder / "summary.csv", newline="") as f:
        keys = [row["key"] for row in csv.DictReader(f)]
    assert keys[0] == subset.skipped[0] and sorted(keys) == sorted(report.computed)


def test_quadrants_criteria_diagnosis_and_figure(tmp_path, monkeypatch, capsys):
    # The paper's eq. 15 criterion against the Table 7 values of docs/theory.md.
    for (b1, b2), f in {(-0.2, 0.2): 1.352, (-0.8, 0.8): 1.448, (-0.4, 0.6): 1.816}.items():
        assert paper_criterion(b1, b2) == pytest.approx(f, abs=5e-4)
    # docs/theory.md section 3: 1st quadrant explodes, 2nd trains, 3rd vanishes, 4th explodes.
    verdicts = {(1, 1): "exploding", (-1, 1): "trainable", (-1, -1): "vanishing"}
    verdicts[(1, -1)] = "exploding"
    for (s1, s2), verdict in verdicts.items():
        assert paper_prediction(0.3 * s1, 0.7 * s2) == verdict
    with pytest.raises(ValueError, match="axis"):
        paper_prediction(0.0, 0.5)

    import lstmlif.figures.fig_experiments as fig

    assert fig.make(tmp_path / "fig", results_dir=tmp_path / "none")["paths"] == []
    assert not (tmp_path / "fig").exists()  # nothing made without results

    out = str(tmp_path / "res")
    argv = ["experiment", "quadrants", "--quick", "--out", out, "--no-progress", "--json"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)["experiments"][0]["summary"]
    assert len(summary) == 4
    for row in summary:
        b1, b2 = row["beta1"], row["beta2"]
        # Spectral radius of [[1, b1], [b2, 1 + b1 b2]] by the quadratic formula: complex pair
        # on the unit circle when -4 < b1 b2 < 0, else (tr + sqrt(tr^2 - 4)) / 2.
        tr = 2 + b1 * b2
        rho = 1.0 if tr * tr < 4 else (abs(tr) + math.sqrt(tr * tr - 4)) / 2
        assert row["spectral_radius"] == pytest.approx(rho, rel=1e-12)
        assert row["eigen_prediction"] == ("bounded" if b1 * b2 < 0 else "growing")
        # The diagnosis, decided here from the row's own numbers by the documented rules:
        # learned (>= chance + half the way to 1), else exploding, silent, vanishing, other.
        if row["final_accuracy"] is not None and row["final_accuracy"] >= 0.25 + 0.5 * 0.75:
            expected = "ok"
        elif row["status"] != "done":
            expected = "exploding"
        elif min(row["spike_rate_init"], row["spike_rate_final"]) < 1e-4:
            expected = "silent"
        elif row["log10_cue_over_max"] is None or row["log10_cue_over_max"] < -3:
            expected = "vanishing"
        else:
            expected = "other"
        assert row["diagnosis"] == expected, row
        # At D = 10 every bounded (second and fourth quadrant) network learns.
        if b1 * b2 < 0:
            assert row["diagnosis"] == "ok" and row["final_accuracy"] >= 0.9
    assert cli_main(["experiment", "nonsense", "--out", out]) == 2
    # An option the named experiment does not take is an error, not silently dropped.
    for argv, option in (
        (["recall", "--betas=-0.5,0.5"], "--betas"),
        (["digits", "--delays", "5"], "--delays"),
        (["quadrants", "--models", "lif"], "--models"),
    ):
        capsys.readouterr()
        assert cli_main(["experiment", *argv, "--quick", "--out", out, "--no-progress"]) == 2
        assert option in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert cli_main(["experiment", "recall", "--quick", "--out", str(tmp_path / "a_file")]) == 2
    assert "is a file" in capsys.readouterr().err

    # The diagnosis rules on hand-made records.
    def record(acc, status="done", finite=True, pnorm=1.0, rate=0.05, final_rate=0.05, ratio=-1):
        init = dict(finite=finite, param_norm=pnorm, spike_rate=rate, log10_cue_over_max=ratio)
        res = dict(chance=0.25, status=status, init=init)
        return dict(result=res, final_accuracy=acc, final_spike_rate=final_rate)

    assert diagnose_failure(record(0.7)) == "ok"  # 0.7 >= 0.25 + 0.5 * 0.75
    assert diagnose_failure(record(0.6)) == "other"
    assert diagnose_failure(record(0.3, status="non-finite")) == "exploding"
    assert diagnose_failure(record(0.3, pnorm="inf")) == "exploding"
    assert diagnose_failure(record(0.3, rate=0.0)) == "silent"
    assert diagnose_failure(record(0.3, final_rate=0.0)) == "silent"
    assert diagnose_failure(record(0.3, ratio=-5.0)) == "vanishing"

    # With results the figure and its numbers are written.
    monkeypatch.setenv("LSTMLIF_RESULTS", out)
    made = fig.make(tmp_path / "fig")
    paths = {p.suffix: p for p in made["paths"]}
    assert sorted(p.name for p in made["paths"]) == [
        "experiments.csv", "experiments.npz", "experiments.pdf", "experiments.png"
    ]  # fmt: skip
    # Each file is what it claims to be and holds the numbers of the runs.
    import matplotlib.image

    image = matplotlib.image.imread(paths[".png"])
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 1000
    assert float(image[..., :3].std()) > 0.01  # not a blank canvas
    assert paths[".pdf"].read_bytes().startswith(b"%PDF-")
    acc = {(row["beta1"], row["beta2"]): row["final_accuracy"] for row in summary}
    with np.load(paths[".npz"]) as npz:
        betas = list(npz["quadrant_betas"])
        assert betas == [-0.5, 0.5]
        for (b1, b2), value in acc.items():  # [beta2 index, beta1 index]
            assert npz["quadrant_accuracy"][betas.index(b2), betas.index(b1)] == value
    with open(paths[".csv"], newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["experiment"] == "quadrants"]
    assert sorted((float(r["beta1"]), float(r["beta2"])) for r in rows) == sorted(acc)
    for r in rows:
        assert float(r["mean_accuracy"]) == acc[(float(r["beta1"]), float(r["beta2"]))]
        assert r["paper_prediction"] == paper_prediction(float(r["beta1"]), float(r["beta2"]))


def test_every_registered_model_trains_in_the_recall_network():
    """The recall experiment takes every registered model (the layer options come from the
    class's ``network_defaults``); models outside the paper's group carry those options in
    their config, so a change of defaults makes new runs."""
    from lstmlif.experiments import run_config, validate_record
    from lstmlif.experiments.store import jsonable
    from lstmlif.neurons import model_class, model_names

    configs = make_configs("recall", quick=True, models="all", delays=[3], updates=2)
    assert [c["model"] for c in configs] == list(model_names())
    for config in configs:
        cls = model_class(config["model"])
        if cls.group == "paper":
            assert "network" not in config
        else:
            assert config["network"] == jsonable(dict(cls.network_defaults))
        record = jsonable(run_config(config))
        assert validate_record(record) == [], config["model"]
        assert record["result"]["status"] == "done", config["model"]
        assert len(record["result"]["losses"]) == 2
        assert all(math.isfinite(v) for v in record["result"]["losses"])
        assert record["result"]["n_params"] > (4 + 1) * 4 * 32  # at least the input weights
