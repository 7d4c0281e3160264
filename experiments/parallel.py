"""Where the runs of a sweep execute: in this process, in local worker processes, or on a Dask
cluster, always through the standard ``concurrent.futures.Executor`` interface.

- ``workers=1`` (the default): in this process, one run after the other.
- ``workers=N``: a ``concurrent.futures.ProcessPoolExecutor`` of N processes (spawned, so no
  thread pool state is inherited), each with one torch thread. As with any spawned pool, a
  script that calls ``run_experiment(..., workers=N)`` needs the ``if __name__ == "__main__":``
  guard (the command line has it).
- ``scheduler="tcp://host:8786"``: the executor of a ``distributed.Client`` connected to a
  running Dask scheduler (``dask scheduler`` / ``dask worker``; the optional extra
  ``lstmlif[cluster]``). The workers need this package installed.

A run is a pure function of its config (every random number is drawn from generators seeded
by the config, with one torch thread), so where it executes does not change a single number.
Runs may share a process: a Dask worker runs as many tasks as it has threads. Network
initialisation, which draws from torch's process-wide generator, is seeded and drawn under a
lock, and torch's thread count (also process-wide) stays 1 while any run is in flight.
Workers return the record; only the process that runs the sweep writes files.

Local workers and the progress queue's manager die with the sweep: each checks twice a
second that the process that started it is still its parent and exits at once otherwise, so
a sweep killed with SIGKILL leaves no worker, manager or resource tracker behind (the tracker
exits when the last process holding its pipe is gone). A Dask scheduler is reached with
network timeouts on every call (``SCHEDULER_TIMEOUT_S``): an address that accepts the
connection and never answers is an error naming it, not a hang.

This module runs what it is given: the run function comes from its caller
(``runner.run_sweep``), so it never imports the runner.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from .store import config_key, jsonable

__all__ = ["Pool", "open_pool", "run_in_worker", "MAX_WORKERS", "SCHEDULER_TIMEOUT_S"]

MAX_WORKERS = 512
SCHEDULER_TIMEOUT_S = 10.0
PARENT_CHECK_S = 0.5


@dataclass
class Pool:
    """An executor (None: run in this process), how many runs it takes at once, and the queue
    through which local workers report training updates (None: progress per finished run)."""

    executor: Executor | None
    capacity: int
    progress: Any = None

    def drain(self) -> list[tuple[str, int]]:
        """The (key, updates) messages the workers have sent since the last call."""
        out: list[tuple[str, int]] = []
        if self.progress is None:
            return out
        while True:
            try:
                out.append(self.progress.get_nowait())
            except (queue_module.Empty, EOFError, OSError):
                return out


def _die_with_parent(parent: int) -> None:
    """Exit this process at once (``os._exit``) as soon as ``parent`` is no longer its parent
    (the parent died and the process was re-parented): checked every ``PARENT_CHECK_S``."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    _death_signal()
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="lstmlif-parent-watch", daemon=True).start()


def _death_signal() -> None:
    """On Linux, ask the kernel to SIGKILL this process when the thread that started it ends
    (``prctl(PR_SET_PDEATHSIG)``); the polling watch covers the other systems."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _one_thread(parent: int | None = None) -> None:
    """A local worker's initialiser: one torch thread, and death with the sweep's process."""
    torch.set_num_threads(1)
    if parent is not None:
        _die_with_parent(parent)


class _Reporter:
    """Progress callback for a worker: sends (key, updates) at most every ``interval`` s."""

    def __init__(self, channel: Any, key: str, interval: float = 0.5) -> None:
        self.channel, self.key, self.interval = channel, key, interval
        self.count, self.last = 0, time.monotonic()

    def __call__(self, n: int) -> None:
        self.count += n
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.count:
            self.channel.put((self.key, self.count))
            self.count, self.last = 0, time.monotonic()


def run_in_worker(
    run: Callable[[dict[str, Any], Any], dict[str, Any]],
    config: dict[str, Any],
    channel: Any = None,
) -> dict[str, Any]:
    """``run(config, progress)`` where the executor put it (one torch thread), its record
    returned as JSON-ready data; training updates are reported through ``channel`` when one
    is given. ``run`` is a module-level function (pickled by reference)."""
    torch.set_num_threads(1)
    reporter = None if channel is None else _Reporter(channel, config_key(config))
    record = jsonable(run(config, reporter))
    if reporter is not None:
        reporter.flush()
    return record


def check_workers(workers: Any, scheduler: Any) -> None:
    """ValueError for a worker count that is not an integer in [1, MAX_WORKERS], an empty
    scheduler address, or both options together."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ValueError(f"--workers must be an integer, got {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"--workers must lie in [1, {MAX_WORKERS}], got {workers}")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError(
                f"--scheduler must be an address such as tcp://host:8786, got {scheduler!r}"
            )
        if workers != 1:
            raise ValueError(
                "--workers and --scheduler exclude each other (the cluster has its own)"
            )


@contextmanager
def open_pool(workers: int = 1, scheduler: str | None = None) -> Iterator[Pool]:
    """The pool of a sweep (see the module docstring); shut down on exit."""
    check_workers(workers, scheduler)
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError(
                "--scheduler needs the Dask extra: pip install 'lstmlif[cluster]'"
            ) from None
        import dask

        seconds = f"{SCHEDULER_TIMEOUT_S:g}s"
        timeouts = {
            "distributed.comm.timeouts.connect": seconds,
            "distributed.comm.timeouts.tcp": seconds,
        }
        with dask.config.set(timeouts):
            yield from _dask_pool(Client, scheduler)
        return
    if workers == 1:
        yield Pool(None, capacity=1)
        return
    from multiprocessing.managers import SyncManager

    context = multiprocessing.get_context("spawn")
    parent = os.getpid()
    manager = SyncManager(ctx=context)
    manager.start(_die_with_parent, (parent,))
    try:
        executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_one_thread, initargs=(parent,)
        )
        try:
            yield Pool(executor, capacity=workers, progress=manager.Queue())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
    finally:
        manager.shutdown()


def _dask_pool(client_class: Any, scheduler: str) -> Iterator[Pool]:
    client = _connect(client_class, scheduler)
    try:
        threads = sum(_call(client.nthreads, scheduler).values())
        executor = client.get_executor(pure=False)
        yield Pool(executor, capacity=max(2, 2 * threads))
    finally:
        _close(client)


def _scheduler_error(scheduler: str, err: BaseException) -> ValueError:
    if isinstance(err, OSError):
        what = str(err) or type(err).__name__
    else:  # distributed's handshake gives up with an assertion or a timeout of its own
        what = "the connection was accepted but the scheduler never answered"
    return ValueError(
        f"cannot reach the Dask scheduler at {scheduler} within {SCHEDULER_TIMEOUT_S:g} s: {what}"
    )


def _connect(client_class: Any, scheduler: str) -> Any:
    """A ``distributed.Client`` on ``scheduler`` whose connection, handshake and every later
    call time out after ``SCHEDULER_TIMEOUT_S`` (the client is made in a thread of its own, so
    a scheduler that accepts and never answers cannot hold the caller)."""
    import dask

    seconds = f"{SCHEDULER_TIMEOUT_S:g}s"
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            with dask.config.set(
                {
                    "distributed.comm.timeouts.connect": seconds,
                    "distributed.comm.timeouts.tcp": seconds,
                }
            ):
                box["client"] = client_class(scheduler, timeout=seconds)
        except BaseException as err:  # handed to the caller below
            box["error"] = err

    thread = threading.Thread(target=connect, name="lstmlif-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * SCHEDULER_TIMEOUT_S + 1)
    if thread.is_alive():
        raise _scheduler_error(scheduler, TimeoutError("the handshake never finished"))
    if "error" in box:
        raise _scheduler_error(scheduler, box["error"])
    return box["client"]


def _call(function: Callable[[], Any], scheduler: str) -> Any:
    """``function()`` (a call to the scheduler) in a thread of its own, given up after
    ``SCHEDULER_TIMEOUT_S``: a scheduler that stops answering is an error naming it."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = function()
        except BaseException as err:  # handed to the caller below
            box["error"] = err

    thread = threading.Thread(target=call, name="lstmlif-dask-call", daemon=True)
    thread.start()
    thread.join(SCHEDULER_TIMEOUT_S + 1)
    if thread.is_alive():
        raise _scheduler_error(scheduler, TimeoutError("no answer"))
    if "error" in box:
        if isinstance(box["error"], (OSError, TimeoutError)):
            raise _scheduler_error(scheduler, box["error"])
        raise box["error"]
    return box["value"]


def _close(client: Any) -> None:
    try:
        client.close(timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError):
        pass
