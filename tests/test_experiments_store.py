"""The experiment result store: readable file names, the schema check on read, damaged files
reported and recomputed, writability checked first, one lock per run (shared work between
concurrent sweeps, stale locks recovered)."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from lstmlif.cli import main as cli_main
from lstmlif.experiments import (
    cue_gradient_subnormal,
    load_results,
    make_configs,
    read_record,
    result_dir,
    run_experiment,
    run_filename,
    summary_rows,
    validate_record,
)
from lstmlif.experiments.store import RunLock, atomic_write, config_key
from lstmlif.neurons import model_names

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results"


def _strip(record: dict) -> dict:
    """A record without what differs between two computations of the same run."""
    return {
        k: v for k, v in record.items() if k not in ("wall_time_s", "cpu_time_s", "finished_at")
    }


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick recall sweep (3 runs) whose records the tests copy and damage."""
    out = tmp_path_factory.mktemp("quick")
    report = run_experiment("recall", out, quick=True, progress=False)
    return out, {r["key"]: r for r in report.records}


def test_readable_names_and_committed_results():
    # The name is built from the config by hand here: experiment, model, delay, seed, and the
    # first 8 hex digits of the key (the SHA-256 of the canonical JSON).
    config = make_configs("recall", delays=[25], models=["alif"], seeds=[2])[0]
    assert run_filename(config) == f"recall_alif_D25_s2_{config_key(config)[:8]}.json"
    quad = make_configs("quadrants", delays=[50], betas=[-0.5], seeds=[1])[0]
    assert (
        run_filename(quad)
        == f"quadrants_lstmlif_free_D50_b1-0.5_b2-0.5_s1_{config_key(quad)[:8]}.json"
    )
    digit = make_configs("digits", models=["lif"], seeds=[0])[0]
    assert run_filename(digit) == f"digits_lif_sequential_s0_{config_key(digit)[:8]}.json"
    tuned = make_configs("recall", delays=[100], models=["lif"], seeds=[0], tune=True)
    assert [run_filename(c).split("_")[4] for c in tuned] == ["lr0.001", "lr0.003", "lr0.01"]
    sep = make_configs("recall", delays=[25], models=["lif"], seeds=[0], cue_channels="separate")
    assert "_cue-separate_" in run_filename(sep[0])

    # The committed results: every file sound, named by its config, its key its config's key,
    # and the full sweep's counts for the paper's models (45 recall, 18 digits, 88 quadrant
    # runs; the recall folder also holds catalogue models).
    counts = {"recall": 45, "digits": 18, "quadrants": 88}
    for name, count in counts.items():
        files = sorted((COMMITTED / name).glob("*.json"))
        for path in files:
            record, problem = read_record(path)
            assert problem is None, problem
            assert path.name == run_filename(record["config"])
            assert record["key"] == config_key(record["config"])
        records = load_results(COMMITTED, name)
        assert len(records) == len(files)
        paper = [r for r in records if r["config"]["model"] in model_names(group="paper")]
        assert len(paper if name != "quadrants" else records) == count

    # LIF's cue gradient at D = 400 (log10 -41.9) lies below float32's smallest normal number
    # 2**-126: flagged as underflow, not as a gradient that reached the cue; D = 200 is not.
    assert cue_gradient_subnormal(1e-40) and cue_gradient_subnormal(2.0**-126 * 0.999)
    assert not cue_gradient_subnormal(0.0) and not cue_gradient_subnormal(2.0**-126)
    assert not cue_gradient_subnormal("inf") and not cue_gradient_subnormal(None)
    rows = summary_rows("recall", load_results(COMMITTED, "recall"))
    flagged = {(r["model"], r["delay"]) for r in rows if r["cue_gradient_subnormal"]}
    assert ("lif", 400) in flagged and ("lif", 200) not in flagged
    assert not any(m in model_names(group="paper") and m != "lif" for m, _ in flagged)


def test_schema_names_every_kind_of_damage(quick):
    _, records = quick
    good = next(iter(records.values()))
    assert validate_record(good) == []

    def damaged(edit):
        record = copy.deepcopy(good)
        edit(record)
        return validate_record(record)

    assert damaged(lambda r: r.pop("result")) == ["result is missing"]
    assert damaged(lambda r: r["result"].pop("init")) == ["result.init is missing"]
    assert damaged(lambda r: r["result"]["init"].pop("cue_norm")) == [
        "result.init.cue_norm is missing"
    ]
    problems = damaged(lambda r: r["result"]["curve"][0].update(accuracy="high"))
    assert problems and problems[0].startswith("result.curve[0].accuracy is not a number in [0, 1]")
    assert damaged(lambda r: r["result"].update(status="crashed"))[0].startswith("result.status")
    assert damaged(lambda r: r["config"].update(seed=5)) == [
        f"key {good['key']!r} is not the key of its config"
    ]
    assert damaged(lambda r: r.update(final_accuracy=0.123)) == [
        "final_accuracy is not the accuracy of the curve's last point"
    ]
    assert damaged(lambda r: r["result"].update(n_params="5701"))[0].startswith(
        "result.n_params is not an integer"
    )
    assert damaged(lambda r: r["result"].update(curve={}))[0].startswith("result.curve is not")
    assert validate_record([good]) == ["the file holds a list, not a record"]


def test_damaged_files_are_reported_recomputed_and_skipped_by_the_figure(quick, tmp_path, capsys):
    source, records = quick
    folder = result_dir(tmp_path, "recall", quick=True)
    folder.mkdir(parents=True)
    keys = sorted(records)
    for key in keys:
        r = records[key]
        (folder / run_filename(r["config"])).write_text(json.dumps(r))
    # Three kinds of damage: a field missing, a truncated file, a wrong type; and one run
    # stored under its key name (the old layout) that is sound.
    lacks, truncated, wrong = (folder / run_filename(records[k]["config"]) for k in keys)
    broken = json.loads(lacks.read_text())
    del broken["result"]
    lacks.write_text(json.dumps(broken))
    text = truncated.read_text()
    truncated.write_text(text[: len(text) // 2])
    bad = json.loads(wrong.read_text())
    bad["result"]["init"]["finite"] = "yes"
    wrong.write_text(json.dumps(bad))
    assert read_record(lacks)[1].reason == "result is missing"
    assert read_record(truncated)[1].reason.startswith("truncated")
    assert read_record(wrong)[1].reason.startswith("result.init.finite is not true or false")
    damaged = []
    assert load_results(tmp_path, "recall", quick=True, damaged=damaged) == []
    assert sorted(d.path for d in damaged) == sorted([lacks, truncated, wrong])

    # The experiments figure skips them and says so (a warning naming each file).
    import lstmlif.figures.fig_experiments as fig

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = fig.make(tmp_path / "fig", results_dir=tmp_path)
    assert made["paths"] == [] and sorted(made["skipped"]) == sorted(
        map(str, damaged_paths(damaged))
    )
    said = " ".join(str(w.message) for w in caught)
    assert all(str(p) in said for p in (lacks, truncated, wrong))

    # A sweep reports each by name on stderr, recomputes exactly those runs, and the new
    # records equal the originals.
    argv = ["experiment", "recall", "--quick", "--out", str(tmp_path), "--no-progress", "--json"]
    assert cli_main(argv) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)["experiments"][0]
    assert report["computed"] == 3 and report["skipped"] == 0
    assert sorted(d["path"] for d in report["damaged"]) == sorted(
        map(str, (lacks, truncated, wrong))
    )
    assert all(d["recomputed"] for d in report["damaged"])
    for path in (lacks, truncated, wrong):
        assert f"damaged result file {path}" in out.err
    for key in keys:
        new = json.loads((folder / run_filename(records[key]["config"])).read_text())
        assert _strip(new) == _strip(records[key])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [run_filename(records[k]["config"]) for k in keys] + ["summary.csv"]
    )

    # The old layout: <key>.json is read as a finished run; a damaged one is replaced by the
    # readable name.
    k0, k1 = keys[0], keys[1]
    os.replace(folder / run_filename(records[k0]["config"]), folder / f"{k0}.json")
    (folder / run_filename(records[k1]["config"])).unlink()
    (folder / f"{k1}.json").write_text("{")
    again = run_experiment("recall", tmp_path, quick=True, progress=False)
    assert again.computed == [k1] and k0 in again.skipped
    assert (folder / f"{k0}.json").exists() and not (folder / f"{k1}.json").exists()
    assert _strip(json.loads((folder / run_filename(records[k1]["config"])).read_text())) == _strip(
        records[k1]
    )


def damaged_paths(damaged):
    return [d.path for d in damaged]


def test_unwritable_folder_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import lstmlif.experiments.runner as runner

    def no_run(*args, **kwargs):
        raise AssertionError("a run started although the folder cannot be written")

    monkeypatch.setattr(runner, "run_config", no_run)
    argv = ["experiment", "recall", "--quick", "--no-progress", "--out"]
    if os.geteuid() != 0:  # a read-only folder (root may write anywhere)
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        assert cli_main([*argv, str(ro)]) == 2
        assert str(ro / "recall_quick") in capsys.readouterr().err
        ro.chmod(0o700)
    # A file system that refuses every new file (read-only or full): the probe file fails.
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert cli_main([*argv, str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write results into {tmp_path / 'res' / 'recall_quick'}" in err
    assert "Read-only file system" in err
    monkeypatch.undo()
    # A full disk while a result is written: ValueError naming the file, no temporary left.
    target = tmp_path / "w" / "x.json"
    real_fdopen = os.fdopen

    def full(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)

        def write(_):
            raise OSError(28, "No space left on device")

        f.write = write
        return f

    monkeypatch.setattr(os, "fdopen", full)
    with pytest.raises(ValueError, match=f"cannot write {target}: No space left on device"):
        atomic_write(target, "{}")
    monkeypatch.undo()
    assert list(target.parent.iterdir()) == []
    assert cli_main(["experiment", "recall", "--quick", "--out", ""]) == 2
    assert "--out must name a folder" in capsys.readouterr().err


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lstmlif.experiments.store import RunLock
    lock = RunLock(Path(sys.argv[1]), sys.argv[2])
    assert lock.try_acquire()
    print("locked", flush=True)
    if len(sys.argv) > 3:  # finish the run: write its result, then release
        time.sleep(1.5)
        Path(sys.argv[3]).write_text(Path(sys.argv[4]).read_text())
        lock.release()
    else:
        time.sleep(600)
    """
)


def _hold(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    proc.stdout.close()
    return proc


def test_locks_share_work_and_stale_locks_are_recovered(quick, tmp_path):
    source, records = quick
    configs = make_configs("recall", quick=True)
    folder = result_dir(tmp_path, "recall", quick=True)
    folder.mkdir(parents=True)
    lif, alif, lstmlif = (c for c in configs)
    lif_key, alif_key, lstm_key = (config_key(c) for c in (lif, alif, lstmlif))

    # While another process holds a run's lock, this one does not take it; once released,
    # it does (the lock is the OS's, shared between processes).
    holder = _hold(str(folder), lif_key)
    mine = RunLock(folder, lif_key)
    assert not mine.try_acquire()
    # A killed holder leaves its lock file, but the OS lock died with it: taken at once.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / ".locks" / f"{lif_key}.lock").exists()
    assert mine.acquire(timeout=5)
    mine.release()

    # A sweep meets: (a) a lock file left by a killed sweep (run computed here, no wait);
    # (b) a run locked by a live sweep that finishes it (waited for, then used, not
    # recomputed: the file is byte for byte the one the other process wrote).
    dead = _hold(str(folder), alif_key)
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    other = tmp_path / "other.json"
    other.write_text(json.dumps(records[lstm_key]) + "\n")
    target = folder / run_filename(lstmlif)
    live = _hold(str(folder), lstm_key, str(target), str(other))
    start = time.monotonic()
    report = run_experiment("recall", tmp_path, quick=True, progress=False)
    live.wait()
    assert sorted(report.computed) == sorted([lif_key, alif_key])
    assert report.skipped == [lstm_key]
    assert target.read_text() == other.read_text()
    assert time.monotonic() - start < 120
    for key in (lif_key, alif_key):
        assert _strip(json.loads((folder / run_filename(records[key]["config"])).read_text())) == (
            _strip(records[key])
        )
    assert not (folder / ".locks").exists()  # no lock file left behind


BARRIER_SWEEP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lstmlif.experiments import runner
    from lstmlif.cli import main

    barrier, me = Path(sys.argv[1]), sys.argv[2]
    original = runner.run_config
    first = [True]

    def run_config(config, progress=None):
        # Each sweep's first run waits until the other sweep is inside a run too: the two
        # sweeps are computing at the same moment, so their locks must keep them apart.
        if first[0]:
            first[0] = False
            (barrier / f"in-{me}").write_text(config["model"])
            start = time.monotonic()
            while len(list(barrier.glob("in-*"))) < 2:
                if time.monotonic() - start > 300:
                    raise SystemExit("barrier: the other sweep never started a run")
                time.sleep(0.01)
        return original(config, progress)

    runner.run_config = run_config
    sys.exit(main(sys.argv[3:]))
    """
)


def test_two_concurrent_sweeps_compute_each_run_once(tmp_path):
    """Two sweeps into one folder, forced to overlap: each is inside a run while the other
    is (a barrier in their first run), and every run is computed by exactly one of them."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    out = tmp_path / "out"
    argv = ["experiment", "recall", "--quick", "--out", str(out)]
    argv += ["--no-progress", "--json", "--seeds", "0,1"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER_SWEEP, str(barrier), str(i), *argv],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=600)[0])["experiments"][0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    # Both met at the barrier, each in a different run (the lock kept the second one off the
    # run the first one held).
    inside = sorted(p.name for p in barrier.iterdir())
    assert inside == ["in-0", "in-1"]
    assert all(r["computed"] >= 1 for r in reports)
    assert sum(r["computed"] for r in reports) == 6  # 3 models x 2 seeds, each once
    assert all(r["runs"] == 6 for r in reports)
    assert len(list(result_dir(out, "recall", quick=True).glob("*.json"))) == 6


def test_results_folders_read_only_regular_files(quick, tmp_path, capsys):
    """A record nested 100,000 deep, a FIFO and a link to /dev/zero named *.json: each is a
    damaged file named in the report, none blocks, none exhausts memory."""
    import threading

    source, records = quick
    folder = result_dir(tmp_path, "recall", quick=True)
    folder.mkdir(parents=True)
    deep = folder / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    fifo = folder / "zzz.json"
    os.mkfifo(fifo)
    zero = folder / "zero.json"
    zero.symlink_to("/dev/zero")
    big = folder / "big.json"
    with open(big, "wb") as handle:  # a sparse file larger than any record
        handle.truncate(65 * 2**20)

    reasons = {}

    def read_all() -> None:
        for path in (deep, fifo, zero, big):
            reasons[path.name] = read_record(path)[1].reason

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "reading the results folder blocked"
    assert reasons == {
        "deep.json": "damaged record: JSON nested too deeply to be a record",
        "zzz.json": "not a regular file (a named pipe, FIFO); not read",
        "zero.json": "not a regular file (a character device); not read",
        "big.json": "65 MiB, larger than a record can be (64 MiB); not read",
    }
    for record in records.values():
        (folder / run_filename(record["config"])).write_text(json.dumps(record))
    argv = ["experiment", "recall", "--quick", "--out", str(tmp_path), "--no-progress"]
    assert cli_main(argv) == 0
    err = capsys.readouterr().err
    for path in (deep, fifo, zero, big):
        assert f"damaged result file {path}: {reasons[path.name]}; not used" in err
    assert "Traceback" not in err
    assert fifo.exists() and zero.is_symlink()  # reported, not touched
