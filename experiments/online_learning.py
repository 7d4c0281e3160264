"""Learning with the online rules: the delayed-recall task trained with ``eprop``, ``ostl`` and
the trace rule ``ottt`` against BPTT, accuracy against delay, with intervals over seeds.

The plan (models, rules, delays, seeds, sizes, the learning-rate and clip grid, the threshold
and the stopping rule) is a JSON file committed before any of its results was computed
(``results/online_learning/plan.json``); this module executes and reads it.

The network: one recurrent ``online.OnlineLayer`` of H neurons of the model (its
``network_defaults`` parameter values; its trained parameters per neuron through the class's
forms), input 0 a constant 1 (the bias column), the recall channels after it; initialised as
``torch.nn.Linear`` does (W_in, bias ~ U(+-1/sqrt(C)), W_rec ~ U(+-1/sqrt(H))), the input
weights scaled by one gain calibrated to the plan's spike rate (bisection on log10 gain, as
``experiments.training.calibrate_input_gain``), and a linear readout of the mean spikes of the
last ``recall_steps`` steps (``online.train``). Every rule trains the same network from the
same initialisation on the same batches with Adam (torch's defaults, written in NumPy); the
readout always gets its exact gradient, the layer the rule's (``online.train.recall_gradients``).
A run stops (is *aborted*) at a non-finite loss or gradient or a gradient norm above 1e6 and
keeps its last good parameters; it stays in every cell at that accuracy and is counted.

Selection: at the plan's first delay, every (model, rule) runs the learning-rate grid without
clipping, then the learning rate whose validation accuracy (at its best budget, mean over the
seeds) is highest is rerun with each clip of the grid; the (learning rate, clip) pair with the
highest validation accuracy is held for the larger delays, where the budget is chosen on
validation again. Test accuracies carry a 95% percentile bootstrap interval of the mean over
seeds (``experiments.tuning.bootstrap_mean``).

``python -m lstmlif.experiments.online_learning run|table|alignment [--plan FILE] [--out DIR]
[--json] [--part i/n]``; ``alignment`` runs the diagnostic listed in ``alignment_plan.json``
beside the plan (``alignment_row``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.fileio import atomic_write, check_writable, jsonable
from lstmlif.neurons import get_model, model_class, model_names
from lstmlif.neurons.parameterisations import Identity, Trainable
from lstmlif.online.core import OnlineLayer
from lstmlif.online.train import TRAIN_RULES, forward_spikes, recall_gradients, with_values

from .plans import read_plan
from .store import config_key
from .tasks import RecallTask, recall_batch
from .training import HUGE_GRADIENT
from .tuning import bootstrap_mean

__all__ = [
    "PLAN_PATH",
    "load_plan",
    "build_network",
    "train_run",
    "run_config",
    "run_plan",
    "plan_pairs",
    "cells",
    "table_rows",
    "largest_learned",
    "markdown",
    "alignment_row",
    "run_alignment",
    "alignment_table",
    "main",
]

PLAN_PATH = Path("results/online_learning/plan.json")
PLAN_KEYS = (
    "models",
    "rules",
    "delays",
    "seeds",
    "threshold",
    "lrs",
    "clips",
    "budgets",
    "sizes",
    "stopping_rule",
)
SIZE_KEYS = ("hidden", "batch", "n_val", "n_test", "target_rate", "n_classes")


def load_plan(path: str | Path = PLAN_PATH) -> dict[str, Any]:
    """The plan as a dict; ValueError naming the file and the missing or malformed field."""
    plan = read_plan(path, "online-learning", PLAN_KEYS)
    for key in SIZE_KEYS:
        if key not in plan["sizes"]:
            raise ValueError(f"online-learning plan {path}: sizes lack '{key}'")
    if sorted(plan["budgets"]) != plan["budgets"] or not plan["budgets"]:
        raise ValueError(f"online-learning plan {path}: 'budgets' must be ascending, not empty")
    for rule in plan["rules"]:
        if rule not in TRAIN_RULES:
            raise ValueError(
                f"online-learning plan {path}: unknown rule {rule!r}; rules {list(TRAIN_RULES)}"
            )
    for m in plan["models"]:
        try:
            model_class(m)
        except ValueError as err:
            raise ValueError(f"online-learning plan {path}: {err}") from None
    if None not in plan["clips"]:
        raise ValueError(f"online-learning plan {path}: 'clips' must include null (no clip)")
    return plan


# ----------------------------------------------------------------------------- one run


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape)


def _inputs(x: Any) -> np.ndarray:
    """Recall sequences x (T, B, C) with the constant bias input prepended: (T, B, C + 1)."""
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([np.ones((*x.shape[:2], 1)), x], axis=2)


def build_network(
    model: str, task: RecallTask, hidden: int, seed: int, target_rate: float
) -> tuple[OnlineLayer, np.ndarray, np.ndarray, float]:
    """(layer, W_out (K, H), b_out (K,), input gain) of one run, before training (module
    docstring); the gain puts the mean spike rate on 64 calibration sequences (recall_batch
    seed (seed, 1)) at about ``target_rate``."""
    cls = model_class(model)
    defaults = dict(cls.network_defaults)
    train = defaults.pop("train", None)
    defaults.pop("per_neuron", None)
    if train is None:
        train = cls.layer_defaults.get("train", tuple(cls.trainable))
    record = get_model(cls.name, **{k: v for k, v in defaults.items() if k in cls.param_specs})
    trained = {n: cls.trainable.get(n, Trainable(n, Identity())) for n in train}
    raw = {n: np.full(hidden, trained[n].form.inverse(float(record.params()[n]))) for n in trained}
    rng = np.random.default_rng([seed, 7])
    C, K = task.n_channels, task.n_classes
    w_in = _uniform(rng, (hidden, C + 1), C)
    w_rec = _uniform(rng, (hidden, hidden), hidden)
    w_out = _uniform(rng, (K, hidden), hidden)
    b_out = _uniform(rng, (K,), hidden)
    layer = OnlineLayer(record, w_in, w_rec, trained, raw)
    x_cal = _inputs(recall_batch(task, 64, (seed, 1))[0])
    lo, hi = -3.0, 3.0
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        rate = float(forward_spikes(with_values(layer, {"w_in": w_in * 10.0**mid}), x_cal).mean())
        if rate < target_rate:
            lo = mid
        else:
            hi = mid
    gain = 10.0**hi
    return with_values(layer, {"w_in": w_in * gain}), w_out, b_out, gain


def _evaluate(
    layer: OnlineLayer, w_out: np.ndarray, b_out: np.ndarray, data: tuple[np.ndarray, Any], R: int
) -> tuple[float, float]:
    """(accuracy, spike rate) on (u, y)."""
    u, y = data
    S = forward_spikes(layer, u)
    logits = S[-R:].mean(axis=0) @ w_out.T + b_out
    return float(np.mean(logits.argmax(axis=1) == y)), float(S.mean())


def train_run(config: dict[str, Any]) -> dict[str, Any]:
    """Train one run (config: model, rule, delay, seed, lr, clip, budgets, and the plan's sizes)
    and return its result: ``curve`` (update 0 and every budget: validation and test accuracy,
    spike rate), ``losses``, ``grad_norms`` (before clipping), ``status`` ("done",
    "non-finite", "huge-gradient"), ``aborted_at`` (1-based update; None when done),
    ``input_gain``, ``n_params``."""
    task = RecallTask(delay=config["delay"], n_classes=config["n_classes"])
    seed, R = config["seed"], task.recall_steps
    layer, w_out, b_out, gain = build_network(
        config["model"], task, config["hidden"], seed, config["target_rate"]
    )
    val_x, val_y = recall_batch(task, config["n_val"], (seed, 6))
    test_x, test_y = recall_batch(task, config["n_test"], (seed, 2))
    val = (_inputs(val_x), val_y.numpy())
    test = (_inputs(test_x), test_y.numpy())
    budgets = list(config["budgets"])
    lr, clip = float(config["lr"]), config.get("clip")
    names = [*layer.tensor_names(), "w_out", "b_out"]

    def values() -> dict[str, np.ndarray]:
        raw = {t.raw: layer.raw[n] for n, t in layer.trained.items()}
        out = {"w_in": layer.w_in, "w_out": w_out, "b_out": b_out, **raw}
        if layer.w_rec is not None:
            out["w_rec"] = layer.w_rec
        return {n: np.array(out[n], dtype=np.float64) for n in names}

    def point(update: int) -> dict[str, Any]:
        va, _ = _evaluate(layer, w_out, b_out, val, R)
        te, rate = _evaluate(layer, w_out, b_out, test, R)
        return {"update": update, "val_accuracy": va, "test_accuracy": te, "spike_rate": rate}

    curve = [point(0)]
    params = values()
    m1 = {n: np.zeros_like(v) for n, v in params.items()}
    m2 = {n: np.zeros_like(v) for n, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses: list[float] = []
    norms: list[float] = []
    status, aborted_at = "done", None
    for i in range(budgets[-1]):
        x, y = recall_batch(task, config["batch"], (seed, 4, i))
        g = recall_gradients(config["rule"], layer, w_out, b_out, _inputs(x), y.numpy(), R)
        norm = math.sqrt(sum(float(np.sum(g.gradients[n] ** 2)) for n in names))
        if not math.isfinite(g.loss) or not math.isfinite(norm):
            status, aborted_at = "non-finite", i + 1
            break
        if norm > HUGE_GRADIENT:
            status, aborted_at = "huge-gradient", i + 1
            break
        scale = min(1.0, clip / (norm + 1e-6)) if clip is not None else 1.0
        k = i + 1
        for n in names:
            grad = g.gradients[n] * scale
            m1[n] = b1 * m1[n] + (1 - b1) * grad
            m2[n] = b2 * m2[n] + (1 - b2) * grad**2
            step = (m1[n] / (1 - b1**k)) / (np.sqrt(m2[n] / (1 - b2**k)) + eps)
            params[n] = params[n] - lr * step
        w_out, b_out = params["w_out"], params["b_out"]
        layer = with_values(layer, {n: params[n] for n in layer.tensor_names()})
        for n, t in layer.trained.items():  # a clamped raw value is the new parameter
            params[t.raw] = layer.raw[n].copy()
        losses.append(g.loss)
        norms.append(norm)
        if k in budgets:
            curve.append(point(k))
    return {
        "task": task.config(),
        "curve": curve,
        "losses": losses,
        "grad_norms": norms,
        "status": status,
        "aborted_at": aborted_at,
        "input_gain": gain,
        "n_params": int(sum(v.size for v in params.values())),
    }


def run_config(config: dict[str, Any], folder: str | Path) -> tuple[dict[str, Any], bool]:
    """(record, computed): the run's record from ``folder/<key>.json`` when it is there and
    sound, else trained and written atomically (with its CPU and wall time)."""
    folder = Path(folder)
    path = folder / f"{config_key(config)}.json"
    if path.exists():
        try:
            rec = json.loads(path.read_text())
            if rec.get("config") == config and "result" in rec:
                return rec, False
        except (OSError, json.JSONDecodeError):
            pass
    cpu, wall = time.process_time(), time.perf_counter()
    result = train_run(config)
    rec = {
        "key": config_key(config),
        "config": config,
        "result": result,
        "cpu_time_s": time.process_time() - cpu,
        "wall_time_s": time.perf_counter() - wall,
    }
    atomic_write(path, json.dumps(jsonable(rec)))
    return rec, True


# ----------------------------------------------------------------------------- the plan


def _config(
    plan: dict[str, Any], model: str, rule: str, delay: int, seed: int, lr: float, clip: Any
) -> dict[str, Any]:
    return {
        "experiment": "online_learning",
        "model": model,
        "rule": rule,
        "delay": delay,
        "seed": seed,
        "lr": lr,
        "clip": clip,
        "budgets": list(plan["budgets"]),
        **{k: plan["sizes"][k] for k in SIZE_KEYS},
    }


def runs_dir(out: str | Path) -> Path:
    """Where the plan's run records live: ``OUT/runs``."""
    return Path(out) / "runs"


def _records(out: str | Path) -> dict[str, dict[str, Any]]:
    found = {}
    folder = runs_dir(out)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and "config" in rec and "result" in rec:
            found[config_key(rec["config"])] = rec
    return found


def _at_budget(rec: dict[str, Any], budget: int) -> dict[str, Any]:
    """Validation and test accuracy after ``budget`` updates (the last curve point at or
    before it: an aborted run keeps its last good parameters) and whether it had aborted."""
    res = rec["result"]
    pts = [p for p in res["curve"] if p["update"] <= budget]
    last = pts[-1]
    at = res.get("aborted_at")
    return {
        "val": float(last["val_accuracy"]),
        "test": float(last["test_accuracy"]),
        "aborted": at is not None and at <= budget,
    }


def _grid(
    plan: dict[str, Any], records: dict[str, dict[str, Any]], model: str, rule: str, delay: int
) -> dict[tuple[int, float, Any], dict[int, dict[str, Any]]]:
    """(budget, lr, clip) -> seed -> measurements, over the finished runs of one cell."""
    out: dict[tuple[int, float, Any], dict[int, dict[str, Any]]] = {}
    for lr in plan["lrs"]:
        for clip in plan["clips"]:
            for seed in plan["seeds"]:
                rec = records.get(config_key(_config(plan, model, rule, delay, seed, lr, clip)))
                if rec is None:
                    continue
                for b in plan["budgets"]:
                    out.setdefault((b, lr, clip), {})[seed] = _at_budget(rec, b)
    return out


def _best(
    points: dict[tuple[int, float, Any], dict[int, dict[str, Any]]], seeds: list[int]
) -> tuple[tuple[int, float, Any], dict[int, dict[str, Any]]] | None:
    """The complete grid point with the highest mean validation accuracy (ties: smaller
    budget, smaller learning rate, no clip before a clip)."""
    done = {p: v for p, v in points.items() if sorted(v) == sorted(seeds)}
    if not done:
        return None

    def score(item: tuple[tuple[int, float, Any], dict[int, dict[str, Any]]]) -> tuple:
        (b, lr, clip), v = item
        return (-float(np.mean([m["val"] for m in v.values()])), b, lr, clip is not None)

    return min(done.items(), key=score)


def _complete(
    plan: dict[str, Any], records: dict[str, dict[str, Any]], model: str, rule: str, delay: int
) -> bool:
    """Whether every run the plan asks for in this cell is in: at the first delay each
    learning rate unclipped and each clip at the best unclipped learning rate, at a later delay
    the chosen (learning rate, clip); every seed."""
    points = _grid(plan, records, model, rule, delay)
    seeds = sorted(plan["seeds"])
    b = plan["budgets"][-1]

    def done(lr: float, clip: Any) -> bool:
        return sorted(points.get((b, lr, clip), {})) == seeds

    if delay != plan["delays"][0]:
        chosen = _chosen(plan, records, model, rule)
        return chosen is not None and done(*chosen)
    if not all(done(lr, None) for lr in plan["lrs"]):
        return False
    unclipped = {p: v for p, v in points.items() if p[2] is None}
    best = _best(unclipped, plan["seeds"])
    assert best is not None
    return all(done(best[0][1], clip) for clip in plan["clips"] if clip is not None)


def _chosen(
    plan: dict[str, Any], records: dict[str, dict[str, Any]], model: str, rule: str
) -> tuple[float, Any] | None:
    """The (learning rate, clip) chosen at the first delay, or None until its runs are in."""
    best = _best(_grid(plan, records, model, rule, plan["delays"][0]), plan["seeds"])
    return None if best is None else (best[0][1], best[0][2])


def plan_pairs(plan: dict[str, Any], part: tuple[int, int] = (0, 1)) -> list[tuple[str, str]]:
    """The (model, rule) pairs of the plan, model-major in the plan's order of models, and of
    them those of ``part`` (i, n):
    every n-th pair from the i-th (two processes with parts (0, 2) and (1, 2) share the work
    without computing a run twice: a pair's runs depend only on its own)."""
    i, n = part
    if not (isinstance(n, int) and isinstance(i, int) and n >= 1 and 0 <= i < n):
        raise ValueError(f"part must be i/n with 0 <= i < n, got {i}/{n}")
    pairs = [(m, r) for m in plan["models"] for r in plan["rules"]]
    return pairs[i::n]


def run_plan(
    plan: dict[str, Any], out: str | Path, log: Any = None, part: tuple[int, int] = (0, 1)
) -> None:
    """Run the plan into ``out`` (resumable: finished runs are read, not recomputed), one
    (model, rule) after the other: at the first delay the learning-rate grid, then the clips at
    the best learning rate; then delays ascending with the chosen (learning rate, clip) while
    the stopping rule lets it go on.
    ``part``: only the pairs of ``plan_pairs(plan, part)``."""
    folder = check_writable(runs_dir(out), "results")
    seeds, first = plan["seeds"], plan["delays"][0]
    pairs = plan_pairs(plan, part)

    def run(model: str, rule: str, delay: int, lr: float, clip: Any) -> None:
        start, cpu, n = time.perf_counter(), 0.0, 0
        for seed in seeds:
            rec, computed = run_config(_config(plan, model, rule, delay, seed, lr, clip), folder)
            if computed:
                cpu += rec["cpu_time_s"]
                n += 1
        if log is not None and n:
            print(
                f"{model} {rule} D={delay} lr={lr:g} clip={clip}: {n} computed, cpu {cpu:.0f} s,"
                f" wall {time.perf_counter() - start:.0f} s",
                file=log,
                flush=True,
            )

    for model, rule in pairs:
        for lr in plan["lrs"]:
            run(model, rule, first, lr, None)
        best = _best(_grid(plan, _records(out), model, rule, first), seeds)
        if best is None:  # a run of the grid is missing: nothing to choose from
            raise ValueError(f"{model} {rule}: the grid at delay {first} is incomplete")
        for clip in plan["clips"]:
            if clip is not None:
                run(model, rule, first, best[0][1], clip)
        for previous, delay in zip(plan["delays"], plan["delays"][1:], strict=False):
            records = _records(out)
            if not _continues(plan, records, model, rule, previous):
                break
            lr, clip = _chosen(plan, records, model, rule)  # type: ignore[misc]
            run(model, rule, delay, lr, clip)


def _continues(
    plan: dict[str, Any], records: dict[str, dict[str, Any]], model: str, rule: str, delay: int
) -> bool:
    """The plan's stopping rule: a (model, rule) goes on to the next delay when at least one
    seed reached the threshold in validation accuracy at some grid point of this delay."""
    points = _grid(plan, records, model, rule, delay)
    return any(m["val"] >= plan["threshold"] for v in points.values() for m in v.values())


# ----------------------------------------------------------------------------- the table


def cells(plan: dict[str, Any], out: str | Path) -> list[dict[str, Any]]:
    """One row per (model, rule, delay) whose runs are all in (``_complete``): the chosen
    (budget, lr, clip), mean test accuracy over the seeds with its 95% bootstrap interval,
    mean validation accuracy, seeds, aborted runs at that point and in the whole cell's grid,
    and the cell's CPU time."""
    records = _records(out)
    rows = []
    for model in plan["models"]:
        for rule in plan["rules"]:
            for delay in plan["delays"]:
                points = _grid(plan, records, model, rule, delay)
                best = _best(points, plan["seeds"])
                if best is None or not _complete(plan, records, model, rule, delay):
                    continue
                (budget, lr, clip), v = best
                tests = [m["test"] for m in v.values()]
                mean, low, high = bootstrap_mean(tests)
                runs = [
                    rec
                    for rec in records.values()
                    if (rec["config"]["model"], rec["config"]["rule"], rec["config"]["delay"])
                    == (model, rule, delay)
                ]
                rows.append(
                    {
                        "model": model,
                        "rule": rule,
                        "delay": delay,
                        "budget": budget,
                        "lr": lr,
                        "clip": clip,
                        "seeds": len(v),
                        "test_accuracy": mean,
                        "test_ci_low": low,
                        "test_ci_high": high,
                        "val_accuracy": float(np.mean([m["val"] for m in v.values()])),
                        "aborted": sum(m["aborted"] for m in v.values()),
                        "grid_runs": len(runs),
                        "grid_runs_aborted": sum(r["result"]["status"] != "done" for r in runs),
                        "cpu_time_s": float(sum(r["cpu_time_s"] for r in runs)),
                        "learned": bool(mean >= plan["threshold"]),
                    }
                )
    return rows


def largest_learned(plan: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, rule): the largest tested delay learned (mean test accuracy >= threshold at
    the chosen point; None when none), and the largest delay tested."""
    out = []
    for model in plan["models"]:
        for rule in plan["rules"]:
            mine = [r for r in rows if r["model"] == model and r["rule"] == rule]
            if not mine:
                continue
            learned = [r["delay"] for r in mine if r["learned"]]
            out.append(
                {
                    "model": model,
                    "rule": rule,
                    "largest_learned": max(learned) if learned else None,
                    "largest_tested": max(r["delay"] for r in mine),
                }
            )
    return out


def table_rows(plan: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """``{"cells": cells(...), "largest": largest_learned(...), "runs": N, "aborted": N,
    "cpu_time_s": total}``."""
    rows = cells(plan, out)
    records = _records(out)
    return {
        "cells": rows,
        "largest": largest_learned(plan, rows),
        "runs": len(records),
        "aborted": sum(r["result"]["status"] != "done" for r in records.values()),
        "cpu_time_s": float(sum(r["cpu_time_s"] for r in records.values())),
    }


def markdown(plan: dict[str, Any], table: dict[str, Any]) -> str:
    """The table as Markdown: per model and rule, test accuracy at each delay (mean [95% CI],
    aborted runs at the chosen point in parentheses when any), and the largest delay learned."""
    delays = plan["delays"]
    head = "| model | rule | " + " | ".join(f"D = {d}" for d in delays) + " | largest learned |"
    lines = [head, "|" + "---|" * (len(delays) + 3)]
    by = {(r["model"], r["rule"], r["delay"]): r for r in table["cells"]}
    big = {(r["model"], r["rule"]): r for r in table["largest"]}
    order = {name: i for i, name in enumerate(model_names())}
    for model in sorted(plan["models"], key=lambda m: order.get(m, len(order))):
        for rule in plan["rules"]:
            if (model, rule) not in big:
                continue
            cols = []
            for d in delays:
                r = by.get((model, rule, d))
                if r is None:
                    cols.append("-")
                    continue
                ab = f" ({r['aborted']} ab.)" if r["aborted"] else ""
                ci = f"[{r['test_ci_low']:.2f}, {r['test_ci_high']:.2f}]"
                cols.append(f"{r['test_accuracy']:.2f} {ci}{ab}")
            ll = big[(model, rule)]["largest_learned"]
            lines.append(f"| {model} | {rule} | " + " | ".join(cols) + f" | {ll or 'none'} |")
    lines.append("")
    lines.append(
        f"{table['runs']} runs, {table['aborted']} aborted; CPU time {table['cpu_time_s']:.0f} s."
        f" Threshold {plan['threshold']}; '-': not run (stopping rule) or not finished."
    )
    return "\n".join(lines)


ALIGNMENT_PLAN = Path("results/online_learning/alignment_plan.json")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else math.nan


def alignment_row(model: str, delay: int, seed: int, rules: list[str], sizes: dict) -> list[dict]:
    """Each rule's gradient of the recall loss against BPTT's for the untrained network of
    one run (``build_network``) on its first training batch: ``cosine`` and
    ``relative_error`` over the layer's tensors, ``cue_cosine`` over the input weights of the
    cue channels (``w_in[:, 1 : 1 + n_classes * group]``), the batch's spike rate."""
    task = RecallTask(delay=delay, n_classes=sizes["n_classes"])
    layer, w_out, b_out, _ = build_network(model, task, sizes["hidden"], seed, sizes["target_rate"])
    x, y = recall_batch(task, sizes["batch"], (seed, 4, 0))
    u, R = _inputs(x), task.recall_steps
    names = list(layer.tensor_names())
    cue = slice(1, 1 + task.n_classes * task.group)
    ref = recall_gradients("bptt", layer, w_out, b_out, u, y.numpy(), R)
    flat_ref = np.concatenate([np.ravel(ref.gradients[n]) for n in names])
    rows = []
    for rule in rules:
        g = recall_gradients(rule, layer, w_out, b_out, u, y.numpy(), R)
        flat = np.concatenate([np.ravel(g.gradients[n]) for n in names])
        nref = float(np.linalg.norm(flat_ref))
        rows.append(
            {
                "model": model,
                "delay": delay,
                "seed": seed,
                "rule": rule,
                "cosine": _cosine(flat, flat_ref),
                "relative_error": float(np.linalg.norm(flat - flat_ref)) / nref
                if nref > 0
                else math.nan,
                "cue_cosine": _cosine(
                    np.ravel(g.gradients["w_in"][:, cue]), np.ravel(ref.gradients["w_in"][:, cue])
                ),
                "bptt_cue_norm": float(np.linalg.norm(ref.gradients["w_in"][:, cue])),
                "rate": ref.rate,
            }
        )
    return rows


def run_alignment(plan: dict[str, Any], spec: dict[str, Any], out: str | Path) -> list[dict]:
    """Every row of the alignment diagnostic (``alignment_row``) for the models, delays,
    seeds and rules of ``spec``, at the learning plan's sizes; written to
    ``out/alignment.json`` atomically."""
    rows = []
    for model in spec["models"]:
        for delay in spec["delays"]:
            for seed in spec["seeds"]:
                rows += alignment_row(model, delay, seed, spec["rules"], plan["sizes"])
    check_writable(out, "results")
    atomic_write(Path(out) / "alignment.json", json.dumps(jsonable({"rows": rows}), indent=1))
    return rows


def alignment_table(rows: list[dict]) -> str:
    """Markdown: per model and rule, the median over seeds of the cosine (whole layer) and of
    the cue cosine at each delay, as ``cosine / cue cosine``."""
    delays = sorted({r["delay"] for r in rows})
    lines = [
        "| model | rule | " + " | ".join(f"D = {d}" for d in delays) + " |",
        "|" + "---|" * (len(delays) + 2),
    ]
    keys = list(dict.fromkeys((r["model"], r["rule"]) for r in rows))
    for model, rule in keys:
        cols = []
        for d in delays:
            sel = [r for r in rows if (r["model"], r["rule"], r["delay"]) == (model, rule, d)]
            cos = np.nanmedian([r["cosine"] for r in sel]) if sel else math.nan
            cue = np.nanmedian([r["cue_cosine"] for r in sel]) if sel else math.nan
            cols.append(f"{cos:.2f} / {cue:.2f}")
        lines.append(f"| {model} | {rule} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``run`` executes the plan into ``--out``; ``table`` prints the table (``--json``: the
    rows as JSON); ``alignment`` computes and prints the alignment diagnostic. Exit 2 with a
    one-line message on bad input."""
    parser = argparse.ArgumentParser(prog="python -m lstmlif.experiments.online_learning")
    parser.add_argument("command", choices=("run", "table", "alignment"))
    parser.add_argument("--plan", default=str(PLAN_PATH))
    parser.add_argument("--out", default=None, help="results folder (default: the plan's)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--part", default="0/1", help="run only part i/n of the pairs (run)")
    args = parser.parse_args(argv)
    try:
        try:
            i, n = (int(v) for v in args.part.split("/"))
        except ValueError:
            raise ValueError(f"--part must be i/n, e.g. 0/2, got {args.part!r}") from None
        if not 0 <= i < n:
            raise ValueError(f"--part must be i/n with 0 <= i < n, got {args.part!r}")
        plan = load_plan(args.plan)
        out = Path(args.out) if args.out is not None else Path(args.plan).parent
        if args.command == "alignment":
            import torch

            torch.set_num_threads(1)
            path = Path(args.plan).parent / ALIGNMENT_PLAN.name
            try:
                spec = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(f"alignment plan {path}: unreadable ({err})") from None
            rows = run_alignment(plan, spec, out)
            print(alignment_table(rows))
            return 0
        if args.command == "run":
            import torch

            torch.set_num_threads(1)
            run_plan(plan, out, log=sys.stdout, part=(i, n))
            return 0
        table = table_rows(plan, out)
    except ValueError as err:
        print(f"online_learning: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(jsonable(table), indent=1))
    else:
        print(markdown(plan, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
