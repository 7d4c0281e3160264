"""The three experiments as sweeps of independent runs, written one JSON per run.

A run is a config dict; its key is a hash of the config, and its result lives in
``OUT/<experiment>[_quick]/<key>.json`` (written to a temporary file, then ``os.replace``d). A
sweep skips every config whose file already exists, so an interrupted sweep resumes where it
stopped and a finished run is never recomputed. After a sweep ``summary.csv`` is rewritten
beside the JSON files, one row per finished run in the folder (this sweep's runs first, in
sweep order, then runs of earlier sweeps with other settings, by key).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmlif.analysis.paper import QUADRANT_VERDICTS, paper_f
from lstmlif.analysis.stability import spectral_radius
from lstmlif.neurons import LSTMLIF, model_class, model_names

from .networks import DigitsNetwork, RecallNetwork, count_parameters, default_models
from .tasks import RecallTask, digits_data, digits_permutation, recall_batch
from .training import accuracy, calibrate_input_gain, gradient_at_init, train_steps

__all__ = [
    "EXPERIMENTS",
    "SETTINGS",
    "SweepReport",
    "config_key",
    "make_configs",
    "run_config",
    "run_sweep",
    "run_experiment",
    "load_results",
    "result_dir",
    "paper_criterion",
    "diagnose_failure",
    "summary_rows",
]

EXPERIMENTS = ("recall", "digits", "quadrants")
FORMAT_VERSION = 1
RESULTS_DIR = Path("results")

# Sizes of the full and the quick (test) versions. Every number that shapes a run is copied
# into its config, so changing one here makes new runs instead of reusing old files.
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "recall": {
        "full": dict(
            delays=(25, 50, 100, 200, 400),
            seeds=(0, 1, 2),
            hidden=64,
            n_classes=4,
            updates=200,
            batch=128,
            n_test=512,
            lr=1e-2,
            evals=10,
            target_rate=0.05,
        ),
        "quick": dict(
            delays=(10,),
            seeds=(0,),
            hidden=32,
            n_classes=4,
            updates=60,
            batch=64,
            n_test=256,
            lr=1e-2,
            evals=3,
            target_rate=0.05,
        ),
    },
    "digits": {
        "full": dict(
            seeds=(0, 1, 2),
            tasks=("sequential", "permuted"),
            h1=64,
            h2=48,
            epochs=12,
            batch=64,
            lr=1e-2,
            limit=None,
            target_rate=0.1,
        ),
        "quick": dict(
            seeds=(0,),
            tasks=("sequential",),
            h1=16,
            h2=16,
            epochs=2,
            batch=64,
            lr=1e-2,
            limit=256,
            target_rate=0.1,
        ),
    },
    "quadrants": {
        "full": dict(
            betas=(-0.8, -0.5, -0.2, 0.2, 0.5, 0.8),
            seeds=(0, 1),
            delay=50,
            hidden=64,
            n_classes=4,
            updates=150,
            batch=128,
            n_test=512,
            lr=1e-2,
            evals=5,
            target_rate=0.05,
        ),
        "quick": dict(
            betas=(-0.5, 0.5),
            seeds=(0,),
            delay=10,
            hidden=32,
            n_classes=4,
            updates=40,
            batch=64,
            n_test=256,
            lr=1e-2,
            evals=2,
            target_rate=0.05,
        ),
    },
}


# ----------------------------------------------------------------------------- configs


def config_key(config: dict[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the config as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _recall_fields(s: dict[str, Any]) -> dict[str, Any]:
    """The recall-task part of a config, shared by the recall and quadrant sweeps."""
    return dict(
        hidden=s["hidden"],
        n_classes=s["n_classes"],
        updates=s["updates"],
        batch=s["batch"],
        n_test=s["n_test"],
        lr=s["lr"],
        eval_at=_eval_points(s["updates"], s["evals"]),
        target_rate=s["target_rate"],
    )


def _int_list(name: str, values: Sequence[Any], lo: int) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be integers >= {lo}, got {v!r}")
        out.append(int(v))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return sorted(set(out))


def _float_list(name: str, values: Sequence[Any]) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)):
            raise ValueError(f"{name} must be real numbers, got {v!r}")
        if not math.isfinite(float(v)) or float(v) == 0.0:
            raise ValueError(f"{name} must be finite and non-zero (a quadrant has a sign), got {v}")
        out.append(float(v))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return sorted(set(out))


def _eval_points(updates: int, evals: int) -> list[int]:
    return sorted({max(1, round(updates * (i + 1) / evals)) for i in range(evals)})


def make_configs(
    name: str,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    delays: Sequence[int] | None = None,
    models: Sequence[str] | None = None,
    betas: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Every run of experiment ``name`` (``recall``, ``digits``, ``quadrants``) as a config.

    ``seeds``, ``delays`` (recall; for the quadrant grid, the delays of its recall task),
    ``models`` (recall, digits) and ``betas`` (the values of beta1 and of beta2 on the quadrant
    grid) override the defaults of ``SETTINGS``.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {list(EXPERIMENTS)}")
    size = "quick" if quick else "full"
    s = dict(SETTINGS[name][size])
    seed_list = _int_list("seeds", s["seeds"] if seeds is None else seeds, 0)
    model_list = list(default_models() if models is None else models)
    for i, m in enumerate(model_list):
        try:
            model_list[i] = model_class(m).name
        except ValueError:
            raise ValueError(f"unknown model {m!r}; choose one of {list(model_names())}") from None
    model_list = list(dict.fromkeys(model_list))
    if delays is not None and name == "digits":
        raise ValueError("delays apply to the recall and quadrants experiments only")
    if betas is not None and name != "quadrants":
        raise ValueError("betas apply to the quadrants experiment only")
    common = {"experiment": name, "size": size, "version": FORMAT_VERSION}
    configs = []
    if name == "recall":
        delay_list = _int_list("delays", s["delays"] if delays is None else delays, 0)
        task = _recall_fields(s)
        for delay in delay_list:
            for model in model_list:
                for seed in seed_list:
                    configs.append(dict(common, model=model, seed=seed, delay=delay, **task))
    elif name == "digits":
        for task in s["tasks"]:
            for model in model_list:
                for seed in seed_list:
                    configs.append(
                        dict(
                            common,
                            model=model,
                            seed=seed,
                            task=task,
                            h1=s["h1"],
                            h2=s["h2"],
                            epochs=s["epochs"],
                            batch=s["batch"],
                            lr=s["lr"],
                            limit=s["limit"],
                            target_rate=s["target_rate"],
                        )
                    )
    else:
        beta_list = _float_list("betas", s["betas"] if betas is None else betas)
        delay_list = _int_list("delays", [s["delay"]] if delays is None else delays, 0)
        task = _recall_fields(s)
        for delay, b1, b2, seed in itertools.product(delay_list, beta_list, beta_list, seed_list):
            configs.append(
                dict(
                    common,
                    model="lstmlif_free",
                    seed=seed,
                    beta1=b1,
                    beta2=b2,
                    delay=delay,
                    reference_betas=[-0.5, 0.5],
                    **task,
                )
            )
    return configs


def _n_updates(config: dict[str, Any]) -> int:
    if config["experiment"] == "digits":
        # 1797 digits, 360 of them (20 %, stratified) held out: 1437 training sequences.
        n_train = config["limit"] or 1437
        return config["epochs"] * math.ceil(n_train / config["batch"])
    return config["updates"]


# ----------------------------------------------------------------------------- the runs


def _recall_run(config: dict[str, Any], progress: Any) -> dict[str, Any]:
    seed = config["seed"]
    task = RecallTask(delay=config["delay"], n_classes=config["n_classes"])
    torch.manual_seed(seed)
    if config["experiment"] == "quadrants":
        b1_ref, b2_ref = config["reference_betas"]
        net = RecallNetwork(
            "lstmlif_free",
            task.n_channels,
            config["hidden"],
            task.n_classes,
            task.recall_steps,
            beta1=b1_ref,
            beta2=b2_ref,
        )
    else:
        net = RecallNetwork(
            config["model"], task.n_channels, config["hidden"], task.n_classes, task.recall_steps
        )
    x_cal, _ = recall_batch(task, 64, (seed, 1))
    gains = calibrate_input_gain(net, x_cal, config["target_rate"])
    if config["experiment"] == "quadrants":
        # The gain is calibrated once on the reference couplings, then the couplings are set
        # to the grid point: the grid changes nothing but (beta1, beta2).
        with torch.no_grad():
            net.hidden.neuron.beta1.fill_(config["beta1"])
            net.hidden.neuron.beta2.fill_(config["beta2"])
    x_test, y_test = recall_batch(task, config["n_test"], (seed, 2))
    init = gradient_at_init(net, *recall_batch(task, config["batch"], (seed, 3)), task.cue_steps)
    init_acc, _ = accuracy(net, x_test, y_test)
    trained = train_steps(
        net,
        lambda i: recall_batch(task, config["batch"], (seed, 4, i)),
        config["updates"],
        config["lr"],
        lambda: accuracy(net, x_test, y_test),
        config["eval_at"],
        progress,
    )
    out = {
        "task": task.config(),
        "chance": task.chance,
        "n_params": count_parameters(net),
        "input_gain": gains,
        "init": init,
        "init_accuracy": init_acc,
        **trained,
    }
    if config["experiment"] == "quadrants":
        neuron = net.hidden.neuron
        out["trained_betas"] = [float(neuron.beta1.detach()), float(neuron.beta2.detach())]
    return out


def _digits_run(config: dict[str, Any], progress: Any) -> dict[str, Any]:
    seed = config["seed"]
    data = digits_data(config["task"] == "permuted", limit=config["limit"])
    torch.manual_seed(seed)
    net = DigitsNetwork(config["model"], config["h1"], config["h2"])
    x_tr, y_tr = data["x_train"], data["y_train"]
    n_train = x_tr.shape[1]
    gains = calibrate_input_gain(net, x_tr[:, :128], config["target_rate"])
    # The "cue" of a digit is its first row of 8 pixels (steps 0-7).
    init = gradient_at_init(net, x_tr[:, : config["batch"]], y_tr[: config["batch"]], 8)
    init_acc, _ = accuracy(net, data["x_test"], data["y_test"])
    per_epoch = math.ceil(n_train / config["batch"])
    rng = np.random.default_rng((seed, 5))
    order = np.concatenate([rng.permutation(n_train) for _ in range(config["epochs"])])

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, j = divmod(i, per_epoch)
        idx = order[epoch * n_train :][j * config["batch"] : (j + 1) * config["batch"]]
        idx = torch.from_numpy(idx)
        return x_tr[:, idx], y_tr[idx]

    trained = train_steps(
        net,
        batch,
        config["epochs"] * per_epoch,
        config["lr"],
        lambda: accuracy(net, data["x_test"], data["y_test"]),
        [per_epoch * (e + 1) for e in range(config["epochs"])],
        progress,
    )
    for e, point in enumerate(trained["curve"]):
        point["epoch"] = e + 1
    out = {
        "n_params": count_parameters(net),
        "n_train": n_train,
        "n_test": int(data["x_test"].shape[1]),
        "input_gain": gains,
        "init": init,
        "init_accuracy": init_acc,
        **trained,
    }
    if config["task"] == "permuted":
        out["permutation"] = digits_permutation().tolist()
    return out


def run_config(config: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    """Run one config (single-threaded torch, float32) and return its record: the config, its
    key, the result, wall time and the final accuracy / spike rate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng():
            if config["experiment"] == "digits":
                result = _digits_run(config, progress)
            else:
                result = _recall_run(config, progress)
    finally:
        torch.set_num_threads(threads)
    wall = time.perf_counter() - start
    curve = result["curve"]
    return {
        "key": config_key(config),
        "config": config,
        "result": result,
        "final_accuracy": curve[-1]["accuracy"] if curve else None,
        "final_spike_rate": curve[-1]["spike_rate"] if curve else None,
        "wall_time_s": wall,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# ----------------------------------------------------------------------------- files


def result_dir(out_dir: str | Path, name: str, quick: bool) -> Path:
    """``out_dir/name`` for the full sizes, ``out_dir/name_quick`` for the quick ones."""
    return Path(out_dir) / (f"{name}_quick" if quick else name)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the usual permissions, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("key") != path.stem:
        return None
    return record


def load_results(out_dir: str | Path, name: str, quick: bool = False) -> list[dict[str, Any]]:
    """Every finished run of experiment ``name`` under ``out_dir`` (empty list if none)."""
    folder = result_dir(out_dir, name, quick)
    if not folder.is_dir():
        return []
    records = [_read(p) for p in sorted(folder.glob("*.json"))]
    return [r for r in records if r is not None]


def _number(value: Any) -> float:
    """A stored number back as float ("inf", "-inf", "nan" and None included)."""
    if value is None:
        return math.nan
    return float(value)


# ----------------------------------------------------------------------------- quadrant analysis


def paper_criterion(beta1: float, beta2: float) -> float:
    """The paper's eq. 15 bound f = beta1 beta2^2 + beta1 beta2 + 2 beta2 + 1 (the signed sum of
    its matrix P's first column; ``analysis.paper.paper_f``, THEORY.md section 3)."""
    return float(paper_f(beta1, beta2))


_VERDICT_WORDS = {"explodes": "exploding", "trainable": "trainable", "vanishes": "vanishing"}


def paper_prediction(beta1: float, beta2: float) -> str:
    """The paper's quadrant verdict (``analysis.paper.QUADRANT_VERDICTS``): 1st quadrant
    exploding, 2nd trainable, 3rd vanishing, 4th exploding. Betas must be non-zero."""
    if beta1 == 0 or beta2 == 0:
        raise ValueError(f"paper_prediction: (beta1, beta2) = ({beta1}, {beta2}) is on an axis")
    for s1, s2, verdict in QUADRANT_VERDICTS.values():
        if s1 * beta1 > 0 and s2 * beta2 > 0:
            return _VERDICT_WORDS[verdict]
    raise ValueError(f"paper_prediction: no quadrant for ({beta1}, {beta2})")


def eigen_prediction(rho: float) -> str:
    """The sub-threshold Jacobian's verdict: rho(J) = 1 (det J = 1, complex pair) bounded
    rotation; rho(J) > 1 one mode grows exponentially."""
    return "bounded" if rho <= 1.0 + 1e-9 else "growing"


FAILURE_MARGIN = 0.5
SILENT_RATE = 1e-4
VANISHING_LOG10 = -3.0


def diagnose_failure(record: dict[str, Any]) -> str:
    """``ok`` if the final accuracy reaches chance + 0.5 (1 - chance); otherwise why it failed,
    checked in this order: ``exploding`` (a non-finite or > 1e6 gradient norm at initialisation
    or during training), ``silent`` (fewer than 1e-4 spikes per neuron per step at
    initialisation or at the end), ``vanishing`` (the gradient reaching the cue steps is below
    1e-3 of the largest per-step gradient at initialisation), else ``other``."""
    res = record["result"]
    chance = res["chance"]
    acc = record["final_accuracy"]
    if acc is not None and acc >= chance + FAILURE_MARGIN * (1 - chance):
        return "ok"
    init = res["init"]
    if res["status"] != "done" or not init["finite"] or _number(init["param_norm"]) > 1e6:
        return "exploding"
    rates = [_number(init["spike_rate"]), _number(record["final_spike_rate"])]
    if any(r < SILENT_RATE for r in rates if math.isfinite(r)):
        return "silent"
    ratio = _number(init["log10_cue_over_max"])
    if math.isnan(ratio) or ratio < VANISHING_LOG10:
        return "vanishing"
    return "other"


# ----------------------------------------------------------------------------- summaries


def summary_rows(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per run (the columns of ``summary.csv``)."""
    rows = []
    for r in records:
        c, res = r["config"], r["result"]
        row: dict[str, Any] = {"key": r["key"], "model": c["model"], "seed": c["seed"]}
        if name == "recall":
            row["delay"] = c["delay"]
        elif name == "digits":
            row["task"] = c["task"]
        else:
            b1, b2 = c["beta1"], c["beta2"]
            rho = float(np.asarray(spectral_radius(LSTMLIF(beta1=b1, beta2=b2))))
            row.update(
                beta1=b1,
                beta2=b2,
                spectral_radius=rho,
                paper_f=paper_criterion(b1, b2),
                paper_prediction=paper_prediction(b1, b2),
                eigen_prediction=eigen_prediction(rho),
                diagnosis=diagnose_failure(r),
                status=res["status"],
            )
        row.update(
            final_accuracy=r["final_accuracy"],
            init_accuracy=res["init_accuracy"],
            log10_cue_gradient=res["init"]["log10_cue_norm"],
            log10_cue_over_max=res["init"]["log10_cue_over_max"],
            log10_param_gradient=res["init"]["log10_param_norm"],
            spike_rate_init=res["init"]["spike_rate"],
            spike_rate_final=r["final_spike_rate"],
            n_params=res["n_params"],
            wall_time_s=r["wall_time_s"],
        )
        rows.append(row)
    return rows


def _write_summary(folder: Path, name: str, records: list[dict[str, Any]]) -> None:
    rows = summary_rows(name, records)
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(folder / "summary.csv", buf.getvalue())


# ----------------------------------------------------------------------------- sweeps


@dataclass
class SweepReport:
    """What a sweep did: keys computed now, keys found finished, all records, wall time."""

    name: str
    folder: Path
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.name,
            "folder": str(self.folder),
            "computed": len(self.computed),
            "skipped": len(self.skipped),
            "runs": len(self.records),
            "wall_time_s": self.wall_time_s,
            "summary": summary_rows(self.name, self.records),
        }


def run_sweep(
    name: str, configs: list[dict[str, Any]], folder: str | Path, progress: bool = True
) -> SweepReport:
    """Run every config of ``configs`` whose result file is missing in ``folder``; keep the
    others. Shows one progress bar over training updates (stderr). ``summary.csv`` then lists
    every finished run in ``folder``, those of earlier sweeps with other settings included."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    report = SweepReport(name, folder)
    start = time.perf_counter()
    pending = []
    for config in configs:
        key = config_key(config)
        record = _read(folder / f"{key}.json")
        if record is not None and record.get("config") == _jsonable(config):
            report.skipped.append(key)
            report.records.append(record)
        else:
            pending.append(config)
    total = sum(_n_updates(c) for c in pending)
    with tqdm(total=total, desc=name, unit="upd", disable=not progress or not pending) as bar:
        for i, config in enumerate(pending):
            bar.set_postfix_str(f"run {i + 1}/{len(pending)} {_describe(config)}")
            before = bar.n
            record = _jsonable(run_config(config, bar.update))
            bar.update(before + _n_updates(config) - bar.n)
            _atomic_write(folder / f"{record['key']}.json", json.dumps(record, indent=1))
            report.computed.append(record["key"])
            report.records.append(record)
    report.wall_time_s = time.perf_counter() - start
    swept = set(report.computed) | set(report.skipped)
    others = [_read(p) for p in sorted(folder.glob("*.json")) if p.stem not in swept]
    _write_summary(folder, name, report.records + [r for r in others if r is not None])
    return report


def _describe(config: dict[str, Any]) -> str:
    parts = [config["model"], f"seed={config['seed']}"]
    for k in ("delay", "task", "beta1", "beta2"):
        if k in config:
            parts.append(f"{k}={config[k]}")
    return " ".join(parts)


def run_experiment(
    name: str,
    out_dir: str | Path = RESULTS_DIR,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    delays: Sequence[int] | None = None,
    models: Sequence[str] | None = None,
    betas: Sequence[float] | None = None,
    progress: bool = True,
) -> SweepReport:
    """Run (or resume) experiment ``name`` into ``out_dir`` and return its report.

    >>> report = run_experiment("recall", "results", quick=True)
    """
    configs = make_configs(name, quick, seeds=seeds, delays=delays, models=models, betas=betas)
    folder = result_dir(out_dir, name, quick)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{name}: cannot write results into {folder}: {parent} is a file")
            break
    return run_sweep(name, configs, folder, progress=progress)
