"""The result store: one JSON file per run, its name, its schema, its lock, atomic writes.

A run's identity is its config key (16 hex digits of the SHA-256 of the canonical config JSON);
the file name adds what a reader wants to see, e.g. ``recall_alif_D100_s2_4d852d0f.json``
(experiment, model, delay or task or couplings, seed, learning rate of a tuning run, then the
first 8 digits of the key). Files named ``<key>.json`` (the layout before readable names) are
read too.

Every file is validated on read against the record schema (required keys and their types);
a file that does not parse, is truncated, lacks a field, has a field of the wrong type, or
whose key does not match its config is *damaged*: it is reported by name with the reason and
never used. A sweep recomputes the runs whose files are damaged.

A sweep takes a lock per run (``filelock.FileLock`` on ``.locks/<key>.lock`` in the results
folder) before it computes the run, so sweeps into one folder, on one machine or on machines
that share the folder, never compute a run twice. The lock is an OS lock (``flock``): the
operating system releases it when its process dies, so a lock file left by a killed sweep
does not block anyone (and on a file system without ``flock`` filelock falls back to a lock
file that records its owner and is broken when that owner is dead). The lock folder is
removed after a sweep when no lock file is left in it; a lock file goes once its run's result
is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from lstmlif.fileio import atomic_write, jsonable

__all__ = [
    "Damaged",
    "RunLock",
    "atomic_write",
    "config_key",
    "jsonable",
    "read_record",
    "run_filename",
    "scan_folder",
    "validate_record",
]

KEY_PATTERN = re.compile(r"^[0-9a-f]{16}$")
LOCK_DIR = ".locks"
# A run's record is a few hundred kB at most (the longest committed: 0.2 MB); a larger file
# is not one, and is not read into memory.
MAX_RECORD_BYTES = 64 * 2**20


def _kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    for test, words in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe, FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "not a plain file"


def config_key(config: dict[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the config as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _token(value: Any) -> str:
    """A name fragment of letters, digits, '.', '+', '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9.+_-]", "-", str(value))


def run_filename(config: dict[str, Any]) -> str:
    """The readable file name of a run: experiment, model, delay (``D``), task or couplings
    (``b1``, ``b2``), seed (``s``), the learning rate of a tuning run (``lr``), the gradient
    clip (``clip``) and adaptation time constant (``taua``) where a run sets them, and the first
    8 hex digits of the config key, e.g. ``recall_lstmlif_D400_s2_0b1c2d3e.json``."""
    parts = [config.get("experiment", "run"), config.get("model", "model")]
    if "delay" in config:
        parts.append(f"D{config['delay']}")
    if "task" in config:
        parts.append(config["task"])
    for name, short in (("beta1", "b1"), ("beta2", "b2")):
        if name in config:
            parts.append(f"{short}{config[name]:+g}")
    parts.append(f"s{config.get('seed')}")
    if config.get("cue_channels", "shared") != "shared":
        parts.append(f"cue-{config['cue_channels']}")
    if "budgets" in config:
        parts.append(f"lr{config['lr']:g}")
    if "clip" in config:
        parts.append(f"clip{config['clip']:g}")
    network = config.get("network")
    if isinstance(network, dict) and "tau_a" in network:
        parts.append(f"taua{network['tau_a']:g}")
    parts.append(config_key(config)[:8])
    return "_".join(_token(p) for p in parts) + ".json"


# ----------------------------------------------------------------------------- the schema


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    """A stored number: int, float, or one of the strings ``jsonable`` writes."""
    if isinstance(v, bool):
        return False
    return isinstance(v, (int, float)) or v in ("nan", "inf", "-inf")


def _is_opt_num(v: Any) -> bool:
    return v is None or _is_num(v)


def _is_fraction(v: Any) -> bool:
    return _is_num(v) and isinstance(v, (int, float)) and 0.0 <= v <= 1.0


def _is_opt_fraction(v: Any) -> bool:
    return v is None or _is_fraction(v)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"),
    "num": (_is_num, "a number"),
    "num?": (_is_opt_num, "a number or null"),
    "frac": (_is_fraction, "a number in [0, 1]"),
    "frac?": (_is_opt_fraction, "a number in [0, 1] or null"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "ints": (_list_of(_is_int), "a list of integers"),
    "nums": (_list_of(_is_num), "a list of numbers"),
    "nums?": (_list_of(_is_opt_num), "a list of numbers or nulls"),
    "int?": (lambda v: v is None or _is_int(v), "an integer or null"),
}

RECORD_SCHEMA = {
    "key": "str",
    "config": "dict",
    "result": "dict",
    "final_accuracy": "frac?",
    "final_spike_rate": "num?",
    "wall_time_s": "num",
}
CONFIG_SCHEMA = {
    "experiment": "str",
    "size": "str",
    "version": "int",
    "model": "str",
    "seed": "int",
    "lr": "num",
    "batch": "int",
    "target_rate": "num",
}
CONFIG_SCHEMA_BY_EXPERIMENT = {
    "recall": {
        "delay": "int",
        "hidden": "int",
        "n_classes": "int",
        "updates": "int",
        "n_test": "int",
        "eval_at": "ints",
    },
    "digits": {"task": "str", "h1": "int", "h2": "int", "epochs": "int", "limit": "int?"},
}
CONFIG_SCHEMA_BY_EXPERIMENT["quadrants"] = {
    **CONFIG_SCHEMA_BY_EXPERIMENT["recall"],
    "beta1": "num",
    "beta2": "num",
    "reference_betas": "nums",
}
RESULT_SCHEMA = {
    "n_params": "int",
    "input_gain": "nums",
    "init": "dict",
    "init_accuracy": "frac",
    "curve": "list",
    "losses": "nums",
    "grad_norms": "nums",
    "status": "str",
}
RESULT_SCHEMA_BY_EXPERIMENT = {
    "recall": {"task": "dict", "chance": "frac"},
    "digits": {"n_train": "int", "n_test": "int"},
    "quadrants": {"task": "dict", "chance": "frac", "trained_betas": "nums"},
}
INIT_SCHEMA = {
    "loss": "num",
    "spike_rate": "num",
    "cue_norm": "num",
    "log10_cue_norm": "num?",
    "max_step_norm": "num",
    "log10_cue_over_max": "num?",
    "param_norm": "num",
    "log10_param_norm": "num?",
    "finite": "bool",
    "log10_step_norms": "nums?",
}
CURVE_SCHEMA = {"step": "int", "accuracy": "frac", "spike_rate": "num", "loss": "num"}
STATUSES = ("done", "non-finite", "huge-gradient")


def _check(where: str, obj: dict[str, Any], schema: dict[str, str]) -> list[str]:
    problems = []
    for name, kind in schema.items():
        if name not in obj:
            problems.append(f"{where}{name} is missing")
            continue
        check, words = _TYPES[kind]
        if not check(obj[name]):
            problems.append(f"{where}{name} is not {words}: {str(obj[name])[:40]!r}")
    return problems


def validate_record(record: Any) -> list[str]:
    """The ways ``record`` breaks the result schema (an empty list: it is sound).

    Checks the required keys and their types at every level (record, config, result, the
    diagnostics at initialisation, each point of the accuracy curve, and the validation
    accuracies of a tuning run), that the key is the config's key, that the status is known,
    and that the final accuracy is the curve's last point.
    """
    if not isinstance(record, dict):
        return [f"the file holds a {type(record).__name__}, not a record"]
    problems = _check("", record, RECORD_SCHEMA)
    if problems:
        return problems
    config, result = record["config"], record["result"]
    problems += _check("config.", config, CONFIG_SCHEMA)
    experiment = config.get("experiment")
    if experiment not in CONFIG_SCHEMA_BY_EXPERIMENT:
        return problems + [f"config.experiment {experiment!r} is unknown"]
    problems += _check("config.", config, CONFIG_SCHEMA_BY_EXPERIMENT[experiment])
    if "budgets" in config:
        problems += _check("config.", config, {"budgets": "ints"})
    if "network" in config:
        problems += _check("config.", config, {"network": "dict"})
    if "clip" in config:
        problems += _check("config.", config, {"clip": "num"})
    if record["key"] != config_key(config):
        problems.append(f"key {record['key']!r} is not the key of its config")
    problems += _check("result.", result, RESULT_SCHEMA)
    problems += _check("result.", result, RESULT_SCHEMA_BY_EXPERIMENT[experiment])
    if problems:
        return problems
    problems += _check("result.init.", result["init"], INIT_SCHEMA)
    if result["status"] not in STATUSES:
        problems.append(f"result.status {result['status']!r} is not one of {STATUSES}")
    curve_schema = dict(CURVE_SCHEMA)
    if "budgets" in config:
        curve_schema["val_accuracy"] = "frac"
        problems += _check("result.", result, {"init_val_accuracy": "frac"})
    for i, point in enumerate(result["curve"]):
        if not isinstance(point, dict):
            problems.append(f"result.curve[{i}] is not an object")
            break
        found = _check(f"result.curve[{i}].", point, curve_schema)
        if found:
            problems += found
            break
    if not problems:
        last = result["curve"][-1]["accuracy"] if result["curve"] else None
        if record["final_accuracy"] != last:
            problems.append("final_accuracy is not the accuracy of the curve's last point")
    return problems


@dataclass(frozen=True)
class Damaged:
    """A result file that cannot be used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_record(path: Path) -> tuple[dict[str, Any] | None, Damaged | None]:
    """(record, None) for a sound result file, (None, Damaged) otherwise (not a regular file,
    larger than ``MAX_RECORD_BYTES``, unreadable, not JSON, truncated, nested too deeply,
    failing the schema, or named after another config). Only a regular file (a link to one
    included) is opened, and without blocking: a FIFO or a device named ``*.json`` is
    reported, never read."""
    try:
        info = os.stat(path)
    except OSError as err:
        return None, Damaged(path, f"unreadable ({err.strerror or type(err).__name__})")
    if not stat.S_ISREG(info.st_mode):
        return None, Damaged(path, f"not a regular file ({_kind(info.st_mode)}); not read")
    if info.st_size > MAX_RECORD_BYTES:
        return None, Damaged(
            path,
            f"{info.st_size / 2**20:.0f} MiB, larger than a record can be "
            f"({MAX_RECORD_BYTES // 2**20} MiB); not read",
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None, Damaged(path, "not a regular file; not read")
            data = handle.read(MAX_RECORD_BYTES + 1)
        text = data.decode()
    except OSError as err:
        return None, Damaged(path, f"unreadable ({err.strerror or type(err).__name__})")
    except UnicodeDecodeError:
        return None, Damaged(path, "not text")
    try:
        record = json.loads(text)
    except RecursionError:
        return None, Damaged(path, "damaged record: JSON nested too deeply to be a record")
    except json.JSONDecodeError as err:
        # A record is one JSON object: text that stops before its closing brace was cut off.
        what = "not valid JSON" if text.rstrip().endswith("}") else "truncated"
        return None, Damaged(path, f"{what} ({err.msg} at character {err.pos})")
    try:
        problems = validate_record(record)
    except RecursionError:
        return None, Damaged(path, "damaged record: JSON nested too deeply to be a record")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return None, Damaged(path, problems[0] + more)
    if path.name not in (run_filename(record["config"]), f"{record['key']}.json"):
        expected = run_filename(record["config"])
        return None, Damaged(path, f"the file name does not match its config ({expected})")
    return record, None


def scan_folder(folder: Path) -> tuple[dict[str, tuple[Path, dict[str, Any]]], list[Damaged]]:
    """Every sound record in ``folder`` by key (with its path), and every damaged file.

    When a run has files under both names (``<key>.json`` and the readable one), the readable
    one is used.
    """
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    damaged: list[Damaged] = []
    if not folder.is_dir():
        return found, damaged
    for path in sorted(folder.glob("*.json")):
        record, problem = read_record(path)
        if problem is not None:
            damaged.append(problem)
            continue
        assert record is not None
        key = record["key"]
        if key not in found or KEY_PATTERN.match(found[key][0].stem):
            found[key] = (path, record)
    return found, damaged


# ----------------------------------------------------------------------------- locks


class RunLock:
    """The lock of one run in one results folder: ``folder/.locks/<key>.lock``.

    ``try_acquire()`` returns at once (True: this process now computes the run);
    ``acquire(timeout)`` waits. Backed by ``filelock.FileLock``, an OS lock (``flock``) that
    dies with its process: a lock file left behind by a killed sweep is simply locked again.
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.path = Path(folder) / LOCK_DIR / f"{key}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path), thread_local=False)

    def try_acquire(self) -> bool:
        return self.acquire(timeout=0)

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (-1: for ever); False on timeout."""
        try:
            self._lock.acquire(timeout=timeout, poll_interval=0.05)
        except Timeout:
            return False
        except FileNotFoundError:  # the lock folder was tidied away meanwhile
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.acquire(timeout)
        return True

    def release(self, finished: bool = False) -> None:
        """Release the lock; with ``finished`` (the run's result file is written) remove the
        lock file first. That is safe: whoever takes the run's lock later, through the old
        file or a new one, first looks for the result and finds it."""
        if self._lock.is_locked:
            if finished:
                self.path.unlink(missing_ok=True)
            self._lock.release()

    @staticmethod
    def tidy(folder: Path) -> None:
        """Remove the lock folder of ``folder`` if no lock file is left in it."""
        try:
            (Path(folder) / LOCK_DIR).rmdir()
        except OSError:
            pass

    @property
    def held(self) -> bool:
        return self._lock.is_locked
