"""The three experiments as sweeps of independent runs, written one JSON per run.

A run is a config dict; its identity is the config key (``store.config_key``), and its result
lives in ``OUT/<experiment>[_tune][_quick]/<readable name>.json`` (``store.run_filename``:
experiment, model, delay or task, seed, a short hash; written to a temporary file, then
``os.replace``d). A sweep skips every config whose sound result file exists, so an
interrupted sweep resumes where it stopped and a finished run is never recomputed; a damaged
file (``store.validate_record``) is reported by name and its run recomputed. Each run is
locked while it is computed (``store.RunLock``), so concurrent sweeps into one folder share
the work. Runs execute in this process, in local worker processes or on a Dask cluster
(``parallel.open_pool``) with identical results. After a sweep ``summary.csv`` is rewritten
beside the JSON files, one row per finished run in the folder (this sweep's runs first, in
sweep order, then runs of earlier sweeps with other settings, by key).

Tuning (``tune=True``): for each model, delay (or digits task) and seed, one run per learning
rate of ``TUNING[name]["lrs"]``, trained for the largest budget of ``TUNING[name]["budgets"]``
(updates for recall, epochs for digits) and evaluated on a validation split, disjoint from the
test data, at every budget. Training has no schedule and draws no random numbers, so the
first k updates of a run are exactly a run of k updates: every (learning rate, budget) pair
of the grid is measured. ``tuning.tuned_table`` picks the best pair per model and setting
from the validation accuracy and reports its test accuracy.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import platform
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmlif.analysis.paper import QUADRANT_VERDICTS, paper_f
from lstmlif.analysis.stability import spectral_radius
from lstmlif.fileio import check_writable
from lstmlif.neurons import LSTMLIF, model_class, model_names

from .networks import DigitsNetwork, RecallNetwork, count_parameters, default_models
from .parallel import Pool, open_pool, run_in_worker
from .store import (
    Damaged,
    RunLock,
    atomic_write,
    config_key,
    jsonable,
    read_record,
    run_filename,
    scan_folder,
)
from .tasks import CUE_CHANNELS, RecallTask, digits_data, digits_permutation, recall_batch
from .training import accuracy, calibrate_input_gain, gradient_at_init, train_steps

__all__ = [
    "EXPERIMENTS",
    "SETTINGS",
    "TUNING",
    "LIMITS",
    "SweepReport",
    "config_key",
    "make_configs",
    "run_config",
    "recall_network",
    "run_sweep",
    "run_experiment",
    "load_results",
    "result_dir",
    "paper_criterion",
    "diagnose_failure",
    "summary_rows",
    "estimate_run",
    "cue_gradient_subnormal",
    "FLOSS_DEFAULTS",
    "floss_fields",
]

EXPERIMENTS = ("recall", "digits", "quadrants")
# How the hidden layers are differentiated (config field ``backward``, present only when not
# "autograd", so the keys of the runs made before it are unchanged): "autograd" through the
# per-step loop, or "fused": the generated kernels (``neurons.fused_recurrent``; the same
# gradients, CPU).
NETWORK_BACKWARDS = ("autograd", "fused")
TUNABLE = ("recall", "digits")
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

# The tuning grids: learning rates x budgets (updates for recall, epochs for digits), and the
# validation split (``n_val`` fresh recall sequences; a fraction of the digits training set).
TUNING: dict[str, dict[str, dict[str, Any]]] = {
    "recall": {
        "full": dict(lrs=(1e-3, 3e-3, 1e-2), budgets=(200, 800), n_val=512, eval_every=100),
        "quick": dict(lrs=(3e-3, 1e-2), budgets=(20, 60), n_val=128, eval_every=20),
    },
    "digits": {
        "full": dict(lrs=(1e-3, 3e-3, 1e-2), budgets=(12, 40), val_fraction=0.2),
        "quick": dict(lrs=(3e-3, 1e-2), budgets=(1, 2), val_fraction=0.2),
    },
}

# The stronger protocol (``protocol="strong"``, recall): every learning rate x clip x
# model-specific value, each run trained for the largest budget and read at every budget; the
# choice on the validation split. ``clips`` None is the unclipped run; ``tau_a`` applies to
# the models whose network has an adaptation time constant (ALIF), the others run once.
STRONG: dict[str, dict[str, Any]] = {
    "full": dict(
        seeds=(0, 1, 2, 3, 4),
        lrs=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
        budgets=(200, 400, 800),
        clips=(None, 1.0),
        tau_a=(200.0, 700.0, 2000.0),
        n_val=512,
        eval_every=100,
    ),
    "quick": dict(
        seeds=(0, 1),
        lrs=(3e-3, 1e-2),
        budgets=(10, 20, 30),
        clips=(None, 1.0),
        tau_a=(200.0, 700.0),
        n_val=128,
        eval_every=10,
    ),
}
PROTOCOLS = ("default", "strong")

# Upper bounds on the options, checked before any work (a run beyond them would take days or
# more memory than a machine has); a run's memory is also estimated (``estimate_run``).
LIMITS: dict[str, Any] = dict(
    delay=10_000,
    seed=2**32 - 1,
    n_seeds=1_000,
    n_delays=100,
    beta=4.0,
    n_betas=64,
    updates=100_000,
    epochs=1_000,
    hidden=4_096,
    lr=1.0,
    n_lrs=20,
    n_budgets=20,
    clip=1e6,
    tau_a=1e6,
    floss_target=10.0,
    floss_weight=1e6,
)
# Flossing (``floss=k``, recall): the regulariser's settings besides k when not given. The
# exponents before and after training are measured on ``batch`` sequences of their own.
FLOSS_DEFAULTS: dict[str, Any] = dict(target=0.0, every=1, weight=1.0, batch=16, prefloss=0)
# Bytes the autograd graph keeps per (step, sequence, neuron) and carried state, measured
# with a margin (LIF 30, ALIF 49, LSTM-LIF 56 bytes in total at D = 1500); and the share of
# the machine's memory one run may take.
GRAPH_BYTES_PER_STATE = 24
MEMORY_SHARE = 0.5


# ----------------------------------------------------------------------------- configs


def _int_list(name: str, values: Sequence[Any], lo: int, hi: int, count: int) -> list[int]:
    """Sorted distinct integers in [lo, hi], at most ``count`` of them; ValueError naming the
    option and its limit otherwise."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"--{name} must be integers, got {v!r}")
        if not lo <= v <= hi:
            raise ValueError(f"--{name} must lie in [{lo}, {hi}], got {v}")
        out.append(int(v))
    if not out:
        raise ValueError(f"--{name} must not be empty")
    out = sorted(set(out))
    if len(out) > count:
        raise ValueError(f"--{name}: at most {count} values, got {len(out)}")
    return out


def _float_list(name: str, values: Sequence[Any], bound: float, count: int) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"--{name} must be real numbers, got {v!r}")
        if not math.isfinite(float(v)) or float(v) == 0.0:
            raise ValueError(
                f"--{name} must be finite and non-zero (a quadrant has a sign), got {v}"
            )
        if abs(float(v)) > bound:
            raise ValueError(f"--{name} must lie in [-{bound:g}, {bound:g}], got {v}")
        out.append(float(v))
    if not out:
        raise ValueError(f"--{name} must not be empty")
    out = sorted(set(out))
    if len(out) > count:
        raise ValueError(f"--{name}: at most {count} values, got {len(out)}")
    return out


def _positive_int(name: str, value: Any, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"--{name} must be an integer, got {value!r}")
    if not 1 <= value <= hi:
        raise ValueError(f"--{name} must lie in [1, {hi}], got {value}")
    return int(value)


def _learning_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"--lr must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and 0.0 < value <= LIMITS["lr"]):
        raise ValueError(f"--lr must lie in (0, {LIMITS['lr']:g}], got {value}")
    return value


def _grid_floats(
    name: str, values: Sequence[Any], lo: float, hi: float, count: int, none_ok: bool = False
) -> list[float | None]:
    """Sorted distinct numbers in (lo, hi] (and None where ``none_ok``), at most ``count``;
    ValueError naming the option and its limit otherwise."""
    out: list[float | None] = []
    for v in values:
        if v is None and none_ok:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"--{name} must be numbers, got {v!r}")
        if not (math.isfinite(float(v)) and lo < float(v) <= hi):
            raise ValueError(f"--{name} must lie in ({lo:g}, {hi:g}], got {v}")
        out.append(float(v))
    if not out:
        raise ValueError(f"--{name} must not be empty")
    distinct = list(dict.fromkeys(out))
    if len(distinct) > count:
        raise ValueError(f"--{name}: at most {count} values, got {len(distinct)}")
    return sorted(distinct, key=lambda v: -math.inf if v is None else v)


def _eval_points(updates: int, evals: int) -> list[int]:
    return sorted({max(1, round(updates * (i + 1) / evals)) for i in range(evals)})


def _recall_fields(
    s: dict[str, Any], tuning: dict[str, Any] | None, lr: float | None
) -> dict[str, Any]:
    """The recall-task part of a config, shared by the recall and quadrant sweeps. The fields
    of the committed runs come out unchanged unless an option changes them; ``cue_channels``
    appears only when it is "separate", the validation split only in tuning runs."""
    updates = s["updates"] if tuning is None else max(tuning["budgets"])
    if tuning is None:
        eval_at = _eval_points(updates, s["evals"])
    else:
        every = range(tuning["eval_every"], updates + 1, tuning["eval_every"])
        eval_at = sorted(set(every) | set(tuning["budgets"]))
    fields = dict(
        hidden=s["hidden"],
        n_classes=s["n_classes"],
        updates=updates,
        batch=s["batch"],
        n_test=s["n_test"],
        lr=s["lr"] if lr is None else lr,
        eval_at=eval_at,
        target_rate=s["target_rate"],
    )
    if s.get("cue_channels", "shared") != "shared":
        fields["cue_channels"] = s["cue_channels"]
    if tuning is not None:
        fields.update(n_val=tuning["n_val"], budgets=list(tuning["budgets"]))
    return fields


def make_configs(
    name: str,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    delays: Sequence[int] | None = None,
    models: Sequence[str] | None = None,
    betas: Sequence[float] | None = None,
    *,
    updates: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    hidden: int | None = None,
    cue_channels: str | None = None,
    tune: bool = False,
    protocol: str | None = None,
    lrs: Sequence[float] | None = None,
    budgets: Sequence[int] | None = None,
    clips: Sequence[float | None] | None = None,
    tau_a: Sequence[float] | None = None,
    floss: int | None = None,
    floss_target: float | Sequence[float] | None = None,
    floss_every: int | None = None,
    floss_weight: float | None = None,
    floss_batch: int | None = None,
    prefloss: int | None = None,
    backward: str | None = None,
) -> list[dict[str, Any]]:
    """Every run of experiment ``name`` (``recall``, ``digits``, ``quadrants``) as a config.

    ``seeds``, ``delays`` (recall; for the quadrant grid, the delays of its recall task),
    ``models`` (recall, digits; ``"all"`` for every registered model, a registry group such as
    ``"catalogue"`` for its models) and ``betas`` (the
    values of beta1 and of beta2 on the quadrant grid) override the defaults of ``SETTINGS``,
    and so do the budget options ``updates`` (recall, quadrants), ``epochs`` (digits), ``lr``,
    ``hidden`` (recall, quadrants) and the task variant ``cue_channels`` ("shared" or
    "separate"; recall, quadrants). ``tune`` makes the tuning grid of ``TUNING`` (recall,
    digits; it sets the learning rates and budgets itself). ``protocol="strong"`` (recall)
    is the stronger grid of ``STRONG``: its seeds, learning rates, nested budgets, gradient
    clipping (None: unclipped) and ALIF's adaptation time constant ``tau_a``; ``lrs``,
    ``budgets`` (a tuning grid), ``clips`` and ``tau_a`` override its values (``clips`` and
    ``tau_a`` also apply to plain recall runs). A clipped run's config has ``clip``; a run with
    a ``tau_a`` of its own has it in ``network``. ``floss=k`` (recall) trains with the
    flossing regulariser on the leading k exponents (``floss_fields``: ``floss_target``,
    ``floss_every``, ``floss_weight``, ``floss_batch``, ``prefloss`` updates); such a run's
    config has ``floss``, the others are unchanged. ``backward="fused"`` (every experiment)
    differentiates the hidden layers by the fused kernels (``NETWORK_BACKWARDS``; the same
    gradients as "autograd", faster on CPU); such a run's config has ``backward``, the
    default "autograd" adds nothing. Every value is checked against ``LIMITS``
    and each run's memory is estimated before anything runs; a ValueError names the option
    and its limit.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {list(EXPERIMENTS)}")
    size = "quick" if quick else "full"
    s = dict(SETTINGS[name][size])
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")
    strong = protocol == "strong"
    if strong and name != "recall":
        raise ValueError("--protocol strong applies to the recall experiment")
    if (lrs is not None or budgets is not None) and not (tune or strong):
        raise ValueError("--lrs and --budgets shape a tuning grid: add --tune or --protocol strong")
    taken = {
        "delays": (delays, ("recall", "quadrants")),
        "models": (models, ("recall", "digits")),
        "betas": (betas, ("quadrants",)),
        "updates": (updates, ("recall", "quadrants")),
        "epochs": (epochs, ("digits",)),
        "hidden": (hidden, ("recall", "quadrants")),
        "cue-channels": (cue_channels, ("recall", "quadrants")),
        "tune": (tune or None, TUNABLE),
        "clip": (clips, ("recall",)),
        "tau-a": (tau_a, ("recall",)),
        "floss": (floss, ("recall",)),
    }
    for option, (value, experiments) in taken.items():
        if value is not None and name not in experiments:
            raise ValueError(f"--{option} applies to the {' and '.join(experiments)} experiments")
    if tune or strong:
        for option, value in (("lr", lr), ("updates", updates), ("epochs", epochs)):
            if value is not None:
                raise ValueError(
                    f"--tune sets the learning rates and budgets itself; drop --{option}"
                )
    tuning = dict(TUNING[name][size]) if tune else None
    if strong:
        grid = STRONG[size]
        tuning = {k: grid[k] for k in ("lrs", "budgets", "n_val", "eval_every")}
        s["seeds"] = grid["seeds"]
        clips = grid["clips"] if clips is None else clips
        tau_a = grid["tau_a"] if tau_a is None else tau_a
    if tuning is not None and lrs is not None:
        tuning["lrs"] = tuple(_grid_floats("lrs", lrs, 0.0, LIMITS["lr"], LIMITS["n_lrs"]))
    if tuning is not None and budgets is not None:
        top = LIMITS["epochs"] if name == "digits" else LIMITS["updates"]
        tuning["budgets"] = tuple(_int_list("budgets", budgets, 1, top, LIMITS["n_budgets"]))
    clip_list: list[float | None] = (
        [None] if clips is None else _grid_floats("clip", clips, 0.0, LIMITS["clip"], 8, True)
    )
    tau_list: list[float | None] = (
        [None] if tau_a is None else _grid_floats("tau-a", tau_a, 1.0, LIMITS["tau_a"], 8)
    )
    seed_list = _int_list(
        "seeds", s["seeds"] if seeds is None else seeds, 0, LIMITS["seed"], LIMITS["n_seeds"]
    )
    if isinstance(models, str):
        models = [models]
    model_list = _expand_models(default_models() if models is None else models)
    networks = {m: _network_fields(m) for m in model_list}
    if lr is not None:
        lr = _learning_rate(lr)
    if updates is not None:
        s["updates"] = _positive_int("updates", updates, LIMITS["updates"])
    if epochs is not None:
        s["epochs"] = _positive_int("epochs", epochs, LIMITS["epochs"])
    if hidden is not None:
        s["hidden"] = _positive_int("hidden", hidden, LIMITS["hidden"])
    if cue_channels is not None:
        if cue_channels not in CUE_CHANNELS:
            raise ValueError(f"--cue-channels must be one of {CUE_CHANNELS}, got {cue_channels!r}")
        s["cue_channels"] = cue_channels
    floss_options = dict(
        target=floss_target,
        every=floss_every,
        weight=floss_weight,
        batch=floss_batch,
        prefloss=prefloss,
    )
    if floss is None:
        given = [f"--{'' if k == 'prefloss' else 'floss-'}{k}" for k, v in floss_options.items()]
        given = [g for g, v in zip(given, floss_options.values(), strict=True) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need --floss K (the number of exponents)")
    lrs = [lr] if tuning is None else list(tuning["lrs"])
    common = {"experiment": name, "size": size, "version": FORMAT_VERSION}
    configs = []
    if name == "recall":
        delay_list = _int_list(
            "delays",
            s["delays"] if delays is None else delays,
            0,
            LIMITS["delay"],
            LIMITS["n_delays"],
        )
        grid_points = itertools.product(delay_list, model_list, seed_list, lrs, clip_list)
        for delay, model, seed, rate, clip in grid_points:
            task = _recall_fields(s, tuning, rate)
            if clip is not None:
                task["clip"] = clip
            for tau in tau_list if _has_tau_a(model) else [None]:
                net = dict(networks[model])
                if tau is not None:
                    net["network"] = {**net.get("network", {}), "tau_a": tau}
                if floss is not None:
                    extra = {"floss": floss_fields(model, task, floss, **floss_options)}
                else:
                    extra = {}
                configs.append(
                    dict(common, model=model, seed=seed, delay=delay, **task, **net, **extra)
                )
    elif name == "digits":
        for task, model, seed, rate in itertools.product(s["tasks"], model_list, seed_list, lrs):
            config = dict(
                common,
                model=model,
                seed=seed,
                task=task,
                h1=s["h1"],
                h2=s["h2"],
                epochs=s["epochs"] if tuning is None else max(tuning["budgets"]),
                batch=s["batch"],
                lr=s["lr"] if rate is None else rate,
                limit=s["limit"],
                target_rate=s["target_rate"],
            )
            if tuning is not None:
                config.update(val_fraction=tuning["val_fraction"], budgets=list(tuning["budgets"]))
            configs.append({**config, **networks[model]})
    else:
        beta_list = _float_list(
            "betas", s["betas"] if betas is None else betas, LIMITS["beta"], LIMITS["n_betas"]
        )
        delay_list = _int_list(
            "delays",
            [s["delay"]] if delays is None else delays,
            0,
            LIMITS["delay"],
            LIMITS["n_delays"],
        )
        task = _recall_fields(s, None, lr)
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
    if backward is not None and backward not in NETWORK_BACKWARDS:
        raise ValueError(f"--backward must be one of {NETWORK_BACKWARDS}, got {backward!r}")
    if backward is not None and backward != "autograd":
        for config in configs:
            config["backward"] = backward
    for config in configs:
        _check_memory(config)
    return configs


def floss_fields(
    model: str,
    task: dict[str, Any],
    k: Any,
    target: Any = None,
    every: Any = None,
    weight: Any = None,
    batch: Any = None,
    prefloss: Any = None,
) -> dict[str, Any]:
    """The ``floss`` field of a recall config: ``k`` leading exponents (1 <= k <= the hidden
    layer's state size), ``target`` (one number or k, nats per step, within
    +-``LIMITS["floss_target"]``), ``every`` (updates), ``weight`` (>= 0; 0 measures the
    exponents and adds no term), ``batch`` (sequences the term and the measurements use, at
    most the training batch) and ``prefloss`` (Adam updates on the flossing loss alone after
    the input gain is calibrated, at the run's learning rate; 0: none). Unset values come from
    ``FLOSS_DEFAULTS``. ValueError naming the option otherwise."""
    given = dict(target=target, every=every, weight=weight, batch=batch, prefloss=prefloss)
    f = {key: FLOSS_DEFAULTS[key] if v is None else v for key, v in given.items()}
    size = task["hidden"] * len(model_class(model).state_names)
    k = _positive_int("floss", k, size)
    targets = list(f["target"]) if isinstance(f["target"], (list, tuple)) else [f["target"]]
    if len(targets) not in (1, k):
        raise ValueError(f"--floss-target: one value or k = {k} values, got {len(targets)}")
    for v in targets:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"--floss-target must be numbers, got {v!r}")
        if not (math.isfinite(float(v)) and abs(float(v)) <= LIMITS["floss_target"]):
            bound = LIMITS["floss_target"]
            raise ValueError(f"--floss-target must lie in [-{bound:g}, {bound:g}], got {v}")
    w = f["weight"]
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)):
        raise ValueError(f"--floss-weight must be a number, got {w!r}")
    if not (math.isfinite(float(w)) and 0.0 <= float(w) <= LIMITS["floss_weight"]):
        raise ValueError(f"--floss-weight must lie in [0, {LIMITS['floss_weight']:g}], got {w}")
    pre = f["prefloss"]
    if pre != 0:
        pre = _positive_int("prefloss", pre, LIMITS["updates"])
    return {
        "k": k,
        "target": float(targets[0]) if len(targets) == 1 else [float(v) for v in targets],
        "every": _positive_int("floss-every", f["every"], LIMITS["updates"]),
        "weight": float(w),
        "batch": _positive_int("floss-batch", f["batch"], task["batch"]),
        "prefloss": int(pre),
    }


def _has_tau_a(model: str) -> bool:
    """Whether the model's network has an adaptation time constant ``tau_a`` to tune."""
    return "tau_a" in model_class(model).network_defaults


def _expand_models(names: Sequence[str]) -> list[str]:
    """Registered model names (aliases resolved, duplicates dropped, order kept); ``"all"``
    stands for every registered model and a registry group (``"paper"``, ``"catalogue"``, ...)
    for its models."""
    out: list[str] = []
    for m in names:
        if m == "all":
            out += model_names()
            continue
        try:
            out.append(model_class(m).name)
        except (ValueError, TypeError, KeyError):
            group = model_names(group=m) if isinstance(m, str) else ()
            if not group:
                choices = [
                    *model_names(),
                    "all",
                    *sorted({model_class(n).group for n in model_names()}),
                ]
                raise ValueError(f"unknown model {m!r}; choose from {choices}") from None
            out += group
    if not out:
        raise ValueError("--models must not be empty")
    return list(dict.fromkeys(out))


def _network_fields(model: str) -> dict[str, Any]:
    """``{"network": the class's network_defaults}`` for a model outside the paper's group, so
    that a change of its defaults makes new runs instead of reusing old files; ``{}`` for the
    paper's models, whose committed runs predate the field (their defaults are pinned by the
    tests' parameter counts and by the committed results)."""
    cls = model_class(model)
    if cls.group == "paper":
        return {}
    defaults = jsonable(dict(cls.network_defaults))
    try:
        json.dumps(defaults)
    except TypeError:
        raise ValueError(f"{cls.__name__}.network_defaults must be JSON data") from None
    return {"network": defaults}


def _digits_sizes(config: dict[str, Any]) -> int:
    """Training sequences of a digits run: 1797 digits, ceil(20 %) = 360 held out for the
    test (stratified); a tuning run holds ceil(val_fraction) of the rest out for validation."""
    n_train = 1797 - math.ceil(0.2 * 1797)
    if "val_fraction" in config:
        n_train -= math.ceil(config["val_fraction"] * n_train)
    return min(n_train, config["limit"] or n_train)


def _n_updates(config: dict[str, Any]) -> int:
    if config["experiment"] == "digits":
        return config["epochs"] * math.ceil(_digits_sizes(config) / config["batch"])
    return config["updates"]


def estimate_run(config: dict[str, Any]) -> dict[str, float]:
    """Rough peak memory (bytes) and single-core time (s) of one run, from its sizes: the
    autograd graph keeps about ``GRAPH_BYTES_PER_STATE`` bytes per (step, sequence, neuron)
    and carried state plus one; an update costs about 0.5 ms of interpreter time per step
    plus the arithmetic (measured on the project's 2-core machine)."""
    model = config["model"]
    states = (
        len(LSTMLIF.state_names) if model == "lstmlif_free" else len(model_class(model).state_names)
    )
    if config["experiment"] == "digits":
        steps, batch, width = 64, config["batch"], config["h1"] + 2 * config["h2"]
    else:
        task = RecallTask(delay=config["delay"], n_classes=config["n_classes"])
        steps, batch, width = task.length, config["batch"], config["hidden"]
    memory = steps * batch * width * GRAPH_BYTES_PER_STATE * (states + 1)
    seconds = _n_updates(config) * steps * (5e-4 + batch * width * 1e-8)
    return {"memory_bytes": float(memory), "seconds": float(seconds)}


def _machine_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16.0 * 2**30


def _check_memory(config: dict[str, Any]) -> None:
    need = estimate_run(config)["memory_bytes"]
    have = MEMORY_SHARE * _machine_memory()
    if need > have:
        option = "--delays" if config["experiment"] != "digits" else "--models"
        if config.get("hidden", 0) > SETTINGS["recall"]["full"]["hidden"]:
            option += " / --hidden"
        raise ValueError(
            f"{option}: a run at delay {config.get('delay', '-')} with {config.get('hidden', '-')}"
            f" hidden neurons needs about {need / 2**30:.1f} GiB, more than the limit of "
            f"{have / 2**30:.1f} GiB (half of this machine's memory)"
        )


# ----------------------------------------------------------------------------- the runs


def _evaluator(
    net: torch.nn.Module,
    test: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
) -> Callable[[], dict[str, float]]:
    """A curve point's measurements: test accuracy and spike rate, and the validation
    accuracy where a validation split exists."""

    def evaluate() -> dict[str, float]:
        acc, rate = accuracy(net, *test)
        point = {"accuracy": acc, "spike_rate": rate}
        if val is not None:
            point["val_accuracy"] = accuracy(net, *val)[0]
        return point

    return evaluate


_RNG_LOCK = threading.Lock()
_THREADS_LOCK = threading.Lock()
_THREADS: dict[str, int] = {"active": 0, "saved": 1}


def _seeded(seed: int, build: Callable[[], Any]) -> Any:
    """``build()`` right after ``torch.manual_seed(seed)``, the caller's generator state restored
    afterwards. Network initialisation draws from torch's global generator, which the runs in
    threads of one process (a Dask worker with several threads) share: the lock keeps each
    run's seeding and drawing together, so a run's numbers do not depend on its neighbours."""
    with _RNG_LOCK:
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            return build()
        finally:
            torch.random.set_rng_state(state)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """One torch thread while any run of this process is in flight (torch's thread count is
    process-wide); the count found before the first run is put back after the last."""
    with _THREADS_LOCK:
        if _THREADS["active"] == 0:
            _THREADS["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS["active"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS["active"] -= 1
            if _THREADS["active"] == 0:
                torch.set_num_threads(_THREADS["saved"])


def recall_network(config: dict[str, Any]) -> tuple[RecallNetwork, RecallTask]:
    """The untrained network of a recall or quadrant run, as its run builds it (seeded by the
    config's seed; a quadrant run's network at its reference couplings, before the input gain is
    calibrated and the couplings set to the grid point), and the run's task."""
    task = RecallTask(
        delay=config["delay"],
        n_classes=config["n_classes"],
        cue_channels=config.get("cue_channels", "shared"),
    )
    if config["experiment"] == "quadrants":
        b1_ref, b2_ref = config["reference_betas"]
        model, kwargs = "lstmlif_free", dict(beta1=b1_ref, beta2=b2_ref)
    else:
        model, kwargs = config["model"], dict(config.get("network", {}))
    if "backward" in config:
        kwargs["backward"] = config["backward"]
    net = _seeded(
        config["seed"],
        lambda: RecallNetwork(
            model, task.n_channels, config["hidden"], task.n_classes, task.recall_steps, **kwargs
        ),
    )
    return net, task


def _exponents(net: torch.nn.Module, x: torch.Tensor, k: int) -> list[list[float]]:
    """The leading ``k`` exponents (nats per step) of each recurrent layer of ``net`` on ``x``,
    the mean over the sequences (``analysis.flossing.network_exponents``, no graph)."""
    from lstmlif.analysis.flossing import network_exponents

    with torch.no_grad():
        return [lam.reshape(-1, k).mean(0).tolist() for lam in network_exponents(net, x, k)]


def _flossing_start(
    net: torch.nn.Module, task: RecallTask, config: dict[str, Any]
) -> dict[str, Any] | None:
    """For a run with ``floss``: its regulariser, the measurement batch ``x`` (``batch``
    sequences, a seed stream of their own), and the record's ``exponents_before`` (after the
    input gain is calibrated) and, after pre-flossing where asked, ``prefloss`` (its
    exponents before and after, losses, seconds). None for a run without."""
    f = config.get("floss")
    if f is None:
        return None
    from lstmlif.analysis.flossing import FlossingRegularizer, prefloss

    seed = config["seed"]
    x, _ = recall_batch(task, f["batch"], (seed, 8))
    record: dict[str, Any] = {"exponents_before": _exponents(net, x, f["k"])}
    if f["prefloss"]:
        report = prefloss(
            net,
            lambda i: recall_batch(task, f["batch"], (seed, 9, i))[0],
            k=f["k"],
            target=f["target"],
            updates=f["prefloss"],
            lr=config["lr"],
        )
        record["prefloss"] = {key: report[key] for key in ("before", "after", "losses", "seconds")}
    reg = FlossingRegularizer(
        k=f["k"], target=f["target"], every=f["every"], weight=f["weight"], batch=f["batch"]
    )
    return {"regularizer": reg, "x": x, "record": record}


def _recall_run(config: dict[str, Any], progress: Any) -> dict[str, Any]:
    seed = config["seed"]
    net, task = recall_network(config)
    x_cal, _ = recall_batch(task, 64, (seed, 1))
    gains = calibrate_input_gain(net, x_cal, config["target_rate"])
    floss = _flossing_start(net, task, config)
    if config["experiment"] == "quadrants":
        # The gain is calibrated once on the reference couplings, then the couplings are set
        # to the grid point: the grid changes nothing but (beta1, beta2).
        with torch.no_grad():
            net.hidden.neuron.beta1.fill_(config["beta1"])
            net.hidden.neuron.beta2.fill_(config["beta2"])
    test = recall_batch(task, config["n_test"], (seed, 2))
    val = recall_batch(task, config["n_val"], (seed, 6)) if "n_val" in config else None
    init = gradient_at_init(net, *recall_batch(task, config["batch"], (seed, 3)), task.cue_steps)
    init_acc, _ = accuracy(net, *test)
    init_val = accuracy(net, *val)[0] if val is not None else None
    trained = train_steps(
        net,
        lambda i: recall_batch(task, config["batch"], (seed, 4, i)),
        config["updates"],
        config["lr"],
        _evaluator(net, test, val),
        config["eval_at"],
        progress,
        clip=config.get("clip"),
        regularizer=None if floss is None else floss["regularizer"],
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
    if val is not None:
        out["init_val_accuracy"] = init_val
    if floss is not None:
        out.update(floss["record"])
        out["exponents_after"] = _exponents(net, floss["x"], config["floss"]["k"])
    if config["experiment"] == "quadrants":
        neuron = net.hidden.neuron
        out["trained_betas"] = [float(neuron.beta1.detach()), float(neuron.beta2.detach())]
    return out


def _digits_run(config: dict[str, Any], progress: Any) -> dict[str, Any]:
    seed = config["seed"]
    data = digits_data(
        config["task"] == "permuted", limit=config["limit"], val_fraction=config.get("val_fraction")
    )
    net = _seeded(
        seed,
        lambda: DigitsNetwork(
            config["model"],
            config["h1"],
            config["h2"],
            **config.get("network", {}),
            **({"backward": config["backward"]} if "backward" in config else {}),
        ),
    )
    x_tr, y_tr = data["x_train"], data["y_train"]
    n_train = x_tr.shape[1]
    gains = calibrate_input_gain(net, x_tr[:, :128], config["target_rate"])
    # The "cue" of a digit is its first row of 8 pixels (steps 0-7).
    init = gradient_at_init(net, x_tr[:, : config["batch"]], y_tr[: config["batch"]], 8)
    test = (data["x_test"], data["y_test"])
    val = (data["x_val"], data["y_val"]) if "x_val" in data else None
    init_acc, _ = accuracy(net, *test)
    init_val = accuracy(net, *val)[0] if val is not None else None
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
        _evaluator(net, test, val),
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
    if val is not None:
        out["n_val"] = int(val[0].shape[1])
        out["init_val_accuracy"] = init_val
    if config["task"] == "permuted":
        out["permutation"] = digits_permutation().tolist()
    return out


def run_config(config: dict[str, Any], progress: Any = None) -> dict[str, Any]:
    """Run one config (single-threaded torch, float32) and return its record: the config, its
    key, the result, wall time and the final accuracy / spike rate."""
    start = time.perf_counter()
    cpu = time.thread_time()
    with _one_torch_thread():
        if config["experiment"] == "digits":
            result = _digits_run(config, progress)
        else:
            result = _recall_run(config, progress)
    cpu = time.thread_time() - cpu
    wall = time.perf_counter() - start
    curve = result["curve"]
    return {
        "key": config_key(config),
        "config": config,
        "result": result,
        "final_accuracy": curve[-1]["accuracy"] if curve else None,
        "final_spike_rate": curve[-1]["spike_rate"] if curve else None,
        "wall_time_s": wall,
        "cpu_time_s": cpu,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# ----------------------------------------------------------------------------- files


def result_dir(
    out_dir: str | Path,
    name: str,
    quick: bool,
    tune: bool = False,
    protocol: str | None = None,
    floss: dict[str, Any] | None = None,
) -> Path:
    """``out_dir/name``, with ``_tune`` for a tuning grid, ``_strong`` for the stronger
    protocol, the flossing settings (a config's ``floss``: ``_floss-k1-e10-w0.1``, the
    target ``-t`` when not 0 and the pre-flossing updates ``-pre`` when any) and ``_quick``
    for the quick sizes: runs of one folder differ only in what its tables compare."""
    if str(out_dir) == "":
        raise ValueError("the results folder must not be empty")
    suffix = "_strong" if protocol == "strong" else ("_tune" if tune else "")
    if floss is not None:
        suffix += f"_floss-k{floss['k']}-e{floss['every']}-w{floss['weight']:g}"
        if floss["target"] != 0.0:
            target = floss["target"]
            suffix += "-t" + ",".join(f"{v:g}" for v in np.atleast_1d(target))
        if floss["batch"] != FLOSS_DEFAULTS["batch"]:
            suffix += f"-b{floss['batch']}"
        if floss["prefloss"]:
            suffix += f"-pre{floss['prefloss']}"
    return Path(out_dir) / (name + suffix + ("_quick" if quick else ""))


def load_results(
    out_dir: str | Path,
    name: str,
    quick: bool = False,
    tune: bool = False,
    damaged: list[Damaged] | None = None,
) -> list[dict[str, Any]]:
    """Every finished run of experiment ``name`` under ``out_dir`` (empty list if none), read
    from files under their readable names or ``<key>.json``; each file is validated against
    the record schema, and a damaged one is left out and, if ``damaged`` is a list, appended
    to it (path and reason)."""
    found, bad = scan_folder(result_dir(out_dir, name, quick, tune))
    if damaged is not None:
        damaged.extend(bad)
    return [record for _, record in sorted(found.values(), key=lambda pr: str(pr[0]))]


def _number(value: Any) -> float:
    """A stored number back as float ("inf", "-inf", "nan" and None included)."""
    if value is None:
        return math.nan
    return float(value)


# ----------------------------------------------------------------------------- quadrant analysis


def paper_criterion(beta1: float, beta2: float) -> float:
    """The paper's eq. 15 bound f = beta1 beta2^2 + beta1 beta2 + 2 beta2 + 1 (the signed sum of
    its matrix P's first column; ``analysis.paper.paper_f``, docs/theory.md section 3)."""
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


# The networks run in float32: a gradient whose every element lies below float32's smallest
# normal number is rounding noise at the edge of underflow, not a gradient that reached the cue.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # 1.1755e-38


def cue_gradient_subnormal(cue_norm: Any) -> bool:
    """True when ||dL/dI|| over the cue steps is non-zero but below float32's smallest normal
    number (1.18e-38): then every element is subnormal (down to 1.4e-45), and the number says
    only that the float32 gradient underflowed, not how much gradient reached the cue."""
    value = _number(cue_norm)
    return bool(0.0 < value < FLOAT32_TINY)


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
        if name != "quadrants":
            row.update(status=res["status"], aborted_at=res.get("aborted_at"))
        row.update(
            final_accuracy=r["final_accuracy"],
            init_accuracy=res["init_accuracy"],
            log10_cue_gradient=res["init"]["log10_cue_norm"],
            cue_gradient_subnormal=cue_gradient_subnormal(res["init"]["cue_norm"]),
            log10_cue_over_max=res["init"]["log10_cue_over_max"],
            log10_param_gradient=res["init"]["log10_param_norm"],
            spike_rate_init=res["init"]["spike_rate"],
            spike_rate_final=r["final_spike_rate"],
            n_params=res["n_params"],
            wall_time_s=r["wall_time_s"],
        )
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue())


def _write_summary(folder: Path, name: str, records: list[dict[str, Any]]) -> None:
    from .tuning import grid_rows, tuned_rows

    tuning = [r for r in records if "budgets" in r["config"]]
    if tuning:
        _write_csv(folder / "summary.csv", grid_rows(name, tuning))
        _write_csv(folder / "tuned.csv", tuned_rows(name, tuning))
    else:
        _write_csv(folder / "summary.csv", summary_rows(name, records))


# ----------------------------------------------------------------------------- sweeps


@dataclass
class SweepReport:
    """What a sweep did: keys computed now, keys found finished (by earlier sweeps or, while
    this one ran, by a concurrent one), damaged files met, all records, wall time."""

    name: str
    folder: Path
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    replaced: set[Path] = field(default_factory=set)
    records: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def cpu_time_s(self) -> float:
        """CPU time of the runs this sweep computed (the sum of their ``cpu_time_s``)."""
        computed = set(self.computed)
        return float(sum(r.get("cpu_time_s", 0.0) for r in self.records if r["key"] in computed))

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.name,
            "folder": str(self.folder),
            "computed": len(self.computed),
            "skipped": len(self.skipped),
            "damaged": [
                {"path": str(d.path), "reason": d.reason, "recomputed": d.path in self.replaced}
                for d in self.damaged
            ],
            "runs": len(self.records),
            "wall_time_s": self.wall_time_s,
            "cpu_time_s": self.cpu_time_s,
            "summary": summary_rows(self.name, self.records),
        }


def _finished(folder: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The sound record of ``config`` in ``folder`` (readable or key name), if any."""
    key = config_key(config)
    want = jsonable(config)
    for path in (folder / run_filename(config), folder / f"{key}.json"):
        if path.exists():
            record, _ = read_record(path)
            if record is not None and record["config"] == want:
                return record
    return None


class _Sweep:
    """The loop of one sweep: lock a run, compute it (here or in the pool), write it, release."""

    def __init__(self, report: SweepReport, pool: Pool, bar: Any) -> None:
        self.report, self.pool, self.bar = report, pool, bar
        self.folder = report.folder
        self.running: dict[Future, tuple[dict[str, Any], RunLock]] = {}
        self.reported: dict[str, int] = {}

    def _reuse(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        self.report.skipped.append(record["key"])
        self.report.records.append(record)
        self.bar.update(_n_updates(config))

    def _store(self, config: dict[str, Any], record: dict[str, Any], lock: RunLock) -> None:
        try:
            path = self.folder / run_filename(config)
            atomic_write(path, _dumps(record))
            old = self.folder / f"{record['key']}.json"
            damaged = {d.path for d in self.report.damaged}
            if old in damaged and old.exists():
                old.unlink()  # the damaged file under the key name is replaced by the new one
            self.report.replaced |= {path, old} & damaged
        except BaseException:
            lock.release()
            raise
        lock.release(finished=True)
        self.report.computed.append(record["key"])
        self.report.records.append(record)
        done = self.reported.pop(record["key"], 0)
        self.bar.update(max(0, _n_updates(config) - done))

    def _count(self, key: str, n: int) -> None:
        """``n`` more training updates of the running run ``key`` (ignored once it is done)."""
        if key in self.reported:
            self.reported[key] += n
            self.bar.update(n)

    def _progress(self) -> None:
        for key, n in self.pool.drain():
            self._count(key, n)

    def _start(self, config: dict[str, Any]) -> bool:
        """Lock ``config`` and compute it or hand it to the pool; False if another sweep
        holds its lock."""
        lock = RunLock(self.folder, config_key(config))
        if not lock.try_acquire():
            return False
        record = _finished(self.folder, config)  # finished by another sweep meanwhile?
        if record is not None:
            lock.release(finished=True)
            self._reuse(record, config)
            return True
        running = [_describe(c) for c, _ in self.running.values()] + [_describe(config)]
        shown = " | ".join(running[-2:])
        self.bar.set_postfix_str(f"{len(running)} running: {shown}" if len(running) > 1 else shown)
        key = config_key(config)
        self.reported[key] = 0
        if self.pool.executor is None:
            try:
                record = jsonable(run_config(config, lambda n: self._count(key, n)))
            except BaseException:
                lock.release()
                raise
            self._store(config, record, lock)
            return True
        try:
            future = self.pool.executor.submit(
                run_in_worker, run_config, config, self.pool.progress
            )
        except BaseException:
            lock.release()
            raise
        self.running[future] = (config, lock)
        return True

    def run(self, pending: list[dict[str, Any]]) -> None:
        queue = deque(pending)
        deferred: deque[dict[str, Any]] = deque()
        try:
            while queue or self.running or deferred:
                while queue and len(self.running) < self.pool.capacity:
                    config = queue.popleft()
                    if not self._start(config):
                        deferred.append(config)
                if self.running:
                    done, _ = wait(self.running, timeout=0.25, return_when=FIRST_COMPLETED)
                    self._progress()
                    for future in done:
                        config, lock = self.running.pop(future)
                        try:
                            record = future.result()
                        except BrokenProcessPool:
                            lock.release()
                            raise ValueError(
                                f"a worker process died while computing {_describe(config)} "
                                "(killed, or out of memory); finished runs are kept, run the "
                                "sweep again to resume"
                            ) from None
                        except BaseException:
                            lock.release()
                            raise
                        self._store(config, record, lock)
                    continue
                if deferred and not queue:
                    # Only runs that another sweep is computing are left: wait for one.
                    config = deferred.popleft()
                    lock = RunLock(self.folder, config_key(config))
                    lock.acquire(timeout=-1)
                    record = _finished(self.folder, config)
                    lock.release(finished=record is not None)
                    if record is not None:
                        self._reuse(record, config)
                    else:  # its sweep stopped before finishing it: compute it here
                        queue.append(config)
        finally:
            for future, (_, lock) in self.running.items():
                future.cancel()
                lock.release()


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1)


def run_sweep(
    name: str,
    configs: list[dict[str, Any]],
    folder: str | Path,
    progress: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
) -> SweepReport:
    """Run every config of ``configs`` without a sound result file in ``folder``; keep the
    others. ``workers`` local processes or a Dask ``scheduler`` address run them in parallel
    (identical results). One progress bar (stderr) counts the training updates of all
    workers. Damaged files are listed in the report and their runs recomputed.
    ``summary.csv`` then lists every finished run in ``folder``, those of earlier sweeps with
    other settings included (and, for a tuning grid, ``tuned.csv`` the chosen budgets)."""
    from tqdm.auto import tqdm

    folder = check_writable(folder, "results")
    report = SweepReport(name, folder)
    start = time.perf_counter()
    found, report.damaged = scan_folder(folder)
    pending = []
    for config in {config_key(c): c for c in configs}.values():
        hit = found.get(config_key(config))
        if hit is not None and hit[1]["config"] == jsonable(config):
            report.skipped.append(hit[1]["key"])
            report.records.append(hit[1])
        else:
            pending.append(config)
    total = sum(_n_updates(c) for c in pending)
    with (
        tqdm(total=total, desc=name, unit="upd", disable=not progress or not pending) as bar,
        open_pool(workers, scheduler) as pool,
    ):
        _Sweep(report, pool, bar).run(pending)
    RunLock.tidy(folder)
    order = {config_key(c): i for i, c in enumerate(configs)}
    report.records.sort(key=lambda r: order.get(r["key"], len(order)))
    report.wall_time_s = time.perf_counter() - start
    swept = {r["key"] for r in report.records}
    found, _ = scan_folder(folder)
    others = [rec for key, (_, rec) in sorted(found.items()) if key not in swept]
    _write_summary(folder, name, report.records + others)
    return report


def _describe(config: dict[str, Any]) -> str:
    parts = [config["model"], f"seed={config['seed']}"]
    for k in ("delay", "task", "beta1", "beta2", "lr", "clip"):
        if k in config:
            parts.append(f"{k}={config[k]}")
    if "tau_a" in config.get("network", {}):
        parts.append(f"tau_a={config['network']['tau_a']}")
    if "floss" in config:
        parts.append(f"floss_weight={config['floss']['weight']}")
    return " ".join(parts)


def run_experiment(
    name: str,
    out_dir: str | Path = RESULTS_DIR,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    delays: Sequence[int] | None = None,
    models: Sequence[str] | str | None = None,
    betas: Sequence[float] | None = None,
    progress: bool = True,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    **options: Any,
) -> SweepReport:
    """Run (or resume) experiment ``name`` into ``out_dir`` and return its report.
    ``options`` are the budget options of ``make_configs`` (``updates``, ``epochs``, ``lr``,
    ``hidden``, ``cue_channels``, ``tune``, ``protocol``, ``lrs``, ``budgets``, ``clips``,
    ``tau_a``, and the flossing options ``floss``, ``floss_target``, ``floss_every``,
    ``floss_weight``, ``floss_batch``, ``prefloss``). The folder is checked writable before
    any work.

    >>> report = run_experiment("recall", "results", quick=True)
    """
    configs = make_configs(
        name, quick, seeds=seeds, delays=delays, models=models, betas=betas, **options
    )
    floss = configs[0].get("floss") if configs else None
    folder = result_dir(
        out_dir, name, quick, bool(options.get("tune")), options.get("protocol"), floss
    )
    return run_sweep(name, configs, folder, progress=progress, workers=workers, scheduler=scheduler)
