"""Parallel sweeps: local worker processes and a real Dask cluster give the serial sweep's
results (same keys, same numbers), with one progress bar over all workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from lstmlif.cli import main as cli_main
from lstmlif.experiments import result_dir, run_experiment


def _numbers(report) -> dict:
    """key -> everything a run computed (wall time, CPU time and finishing time excluded)."""
    out = {}
    for r in report.records:
        out[r["key"]] = {
            k: v for k, v in r.items() if k not in ("wall_time_s", "cpu_time_s", "finished_at")
        }
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    report = run_experiment("recall", out, quick=True, seeds=[0, 1], progress=False)
    assert len(report.computed) == 6
    return _numbers(report)


def test_local_workers_match_the_serial_sweep(serial, tmp_path, capsys):
    argv = ["experiment", "recall", "--quick", "--seeds", "0,1", "--workers", "2"]
    assert cli_main([*argv, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    report = run_experiment("recall", tmp_path, quick=True, seeds=[0, 1], progress=False)
    assert not report.computed  # all six were written by the parallel sweep
    assert _numbers(report) == serial
    # One progress bar counts the training updates of both workers: 6 runs x 60 updates.
    assert "360/360" in err and err.count("recall:") >= 1
    assert "/60" not in err  # no per-run or per-worker bar
    folder = result_dir(tmp_path, "recall", quick=True)
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".json") == sorted(
        p.name for p in folder.glob("recall_*.json")
    )


def test_dask_local_cluster_matches_the_serial_sweep(serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    threads = torch.get_num_threads()  # an in-process worker sets this process's to 1
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        report = run_experiment(
            "recall",
            tmp_path,
            quick=True,
            seeds=[0, 1],
            progress=False,
            scheduler=cluster.scheduler_address,
        )
    torch.set_num_threads(threads)
    assert sorted(report.computed) == sorted(serial)
    assert _numbers(report) == serial


def test_worker_options_are_checked_first(tmp_path, capsys):
    for argv, words in (
        (["--workers", "0"], "--workers must lie in [1, 512]"),
        (["--workers", "100000"], "--workers must lie in [1, 512]"),
        (["--workers", "2", "--scheduler", "tcp://x:1"], "exclude each other"),
        (["--scheduler", " "], "--scheduler must be an address"),
    ):
        assert cli_main(["experiment", "recall", "--quick", "--out", str(tmp_path), *argv]) == 2
        assert words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was run or written
    # An address where no scheduler listens: a clear error, no traceback.
    code = cli_main(
        [
            "experiment",
            "recall",
            "--quick",
            "--out",
            str(tmp_path),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


def test_runs_in_threads_of_one_process_match_the_serial_sweep(serial):
    """A Dask worker runs several tasks in threads of one process, which share torch's global
    generator (network initialisation) and its thread count: each run still gives its serial
    numbers, and the caller's thread count is put back."""
    from concurrent.futures import ThreadPoolExecutor

    from lstmlif.experiments import make_configs, run_config
    from lstmlif.fileio import jsonable

    threads = torch.get_num_threads()
    configs = make_configs("recall", quick=True, seeds=[0, 1]) * 2
    with ThreadPoolExecutor(4) as pool:
        records = [jsonable(r) for r in pool.map(run_config, configs)]
    assert torch.get_num_threads() == threads
    got = {}
    for r in records:
        numbers = {
            k: v for k, v in r.items() if k not in ("wall_time_s", "cpu_time_s", "finished_at")
        }
        assert got.setdefault(r["key"], numbers) == numbers  # the two copies agree
    assert got == serial


def test_a_scheduler_that_never_answers_is_an_error_naming_it(tmp_path, capsys, monkeypatch):
    """A port that accepts the connection and never says a word: an error naming the address
    once the network timeout has passed, not a hang."""
    pytest.importorskip("distributed")
    from lstmlif.experiments import parallel

    monkeypatch.setattr(parallel, "SCHEDULER_TIMEOUT_S", 2.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    address = f"tcp://127.0.0.1:{port}"
    argv = ["experiment", "recall", "--quick", "--out", str(tmp_path), "--scheduler", address]
    start = time.monotonic()
    try:
        assert cli_main(argv) == 2
    finally:
        server.close()
    assert time.monotonic() - start < 60
    assert held  # the connection was accepted
    err = capsys.readouterr().err
    assert (
        f"cannot reach the Dask scheduler at {address} within 2 s: the connection was accepted "
        "but the scheduler never answered"
    ) in err
    assert not list(tmp_path.rglob("*.json"))


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find the workers")
def test_workers_die_with_the_sweep(tmp_path):
    """SIGKILL of a --workers 2 sweep (runs of 100,000 updates, hours each): its workers, the
    progress queue's manager and the resource tracker are all gone within a minute."""
    argv = [sys.executable, "-m", "lstmlif", "experiment", "recall", "--quick", "--updates"]
    argv += ["100000", "--workers", "2", "--out", str(tmp_path), "--no-progress"]
    sweep = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        start = time.monotonic()
        while len(_children(sweep.pid)) < 4 and time.monotonic() - start < 120:
            time.sleep(0.2)
        kids = _children(sweep.pid)
        assert len(kids) >= 4  # 2 workers, the manager, the resource tracker
        time.sleep(2)
    finally:
        sweep.send_signal(signal.SIGKILL)
        sweep.wait()
    start = time.monotonic()
    while any(_alive(k) for k in kids) and time.monotonic() - start < 90:
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    assert not left, f"{len(left)} of the sweep's {len(kids)} processes outlived it"
