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
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from .store import config_key, jsonable

__all__ = ["Pool", "open_pool", "run_in_worker", "MAX_WORKERS"]

MAX_WORKERS = 512


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


def _one_thread() -> None:
    torch.set_num_threads(1)


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


def run_in_worker(config: dict[str, Any], channel: Any = None) -> dict[str, Any]:
    """Run one config where the executor put it (one torch thread) and return its record as
    JSON-ready data; training updates are reported through ``channel`` when one is given."""
    from .runner import run_config

    _one_thread()
    reporter = None if channel is None else _Reporter(channel, config_key(config))
    record = jsonable(run_config(config, reporter))
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
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        try:
            threads = sum(client.nthreads().values())
            executor = client.get_executor(pure=False)
            yield Pool(executor, capacity=max(2, 2 * threads))
        finally:
            client.close()
        return
    if workers == 1:
        yield Pool(None, capacity=1)
        return
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread)
        try:
            yield Pool(executor, capacity=workers, progress=manager.Queue())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
