"""Learnability as a hypothesis: the largest delay each model learns on the recall task against
delays predicted from the untrained network.

The plan (models, delays, seeds, threshold, the grid of each stage, the stopping rule and the
predictors) is a JSON file committed before any of its results was computed
(``results/learnability/plan.json``); this module only executes and reads it.

- Observed: at each delay D, the grid point (learning rate, budget, clip) with the highest
  validation accuracy averaged over the seeds is chosen; the model *learned* D when the mean
  test accuracy of that point over the seeds is at least the plan's threshold. The largest
  delay learned is the largest tested D that was learned; its 95% interval is the percentile
  bootstrap over seeds (resample the seeds, recompute the means at every tested delay, take
  the largest learned D). Aborted runs stay in, at the accuracy of their last good update,
  and are counted.
- Predicted by ``lambda``: ``D* = 3 ln 10 / (-lambda_1)``, lambda_1 the top Lyapunov exponent
  of the seed's untrained, gain-calibrated network driven by the task's distractor input
  (``analysis.lyapunov.network_spectrum``), mean over the seeds.
- Predicted by ``window``: the largest tested D at which, at initialisation, the gradient at
  the cue steps is within 3 decades of the largest per-step gradient (log10 of
  ``||dL/dI||_cue / max_t ||dL/dI[t]||`` >= -3, mean over seeds): the decay measured over each
  delay's own window, not extrapolated from an asymptotic rate.

A prediction is compared on the tested delays: the predicted largest learnable tested delay
is the largest tested D <= D* (``lambda``) or D* itself (``window``); it is a hit when it equals
the observed largest delay learned (a model that learned the largest tested delay is censored:
a hit when the prediction is at least that delay).

``python -m lstmlif.experiments.learnability run|predict|table [--plan FILE] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmlif.analysis.lyapunov import LN10, learnable_delay, network_spectrum, simulate_recurrent
from lstmlif.fileio import atomic_write

from .plans import read_plan
from .runner import NETWORK_BACKWARDS, make_configs, recall_network, run_sweep
from .store import scan_folder
from .tasks import recall_batch
from .training import calibrate_input_gain, gradient_at_init
from .tuning import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_mean, budget_accuracy

__all__ = [
    "PLAN_PATH",
    "load_plan",
    "stage_configs",
    "run_plan",
    "predict",
    "observed",
    "learnability_rows",
    "network_exponent_of",
    "untrained_exponent",
    "records_in",
    "markdown",
]

PLAN_PATH = Path("results/learnability/plan.json")
PLAN_KEYS = ("models", "delays", "seeds", "threshold", "stages", "predictors", "stopping_rule")


def load_plan(path: str | Path = PLAN_PATH) -> dict[str, Any]:
    """The plan as a dict; ValueError naming the file and the missing or malformed field."""
    plan = read_plan(path, "learnability", PLAN_KEYS, ("name", "lrs", "budgets", "clips"))
    for stage in plan["stages"]:
        if stage.get("backward", "autograd") not in NETWORK_BACKWARDS:
            raise ValueError(
                f"learnability plan {path}: stage {stage['name']!r} has backward "
                f"{stage['backward']!r}; choose one of {', '.join(NETWORK_BACKWARDS)}"
            )
    return plan


def runs_dir(out: str | Path) -> Path:
    """Where the plan's run records live: ``OUT/learnability/runs``."""
    return Path(out) / "learnability" / "runs"


def stage_configs(
    plan: dict[str, Any], stage: dict[str, Any], model: str, delay: int
) -> list[dict[str, Any]]:
    """The configs of one stage for one model at one delay (every seed and grid point)."""
    return make_configs(
        "recall",
        seeds=plan["seeds"],
        delays=[delay],
        models=[model],
        tune=True,
        lrs=stage["lrs"],
        budgets=stage["budgets"],
        clips=stage["clips"],
        tau_a=stage.get("tau_a"),
        backward=stage.get("backward"),
    )


def records_in(out: str | Path) -> list[dict[str, Any]]:
    """The sound run records of the plan's folder under ``out``."""
    found, _ = scan_folder(runs_dir(out))
    return [rec for _, rec in found.values()]


def _cells(
    plan: dict[str, Any], records: list[dict[str, Any]], stages: list[str] | None = None
) -> dict[tuple[str, int], dict[tuple[Any, ...], dict[int, dict[str, Any]]]]:
    """(model, delay) -> grid point (budget, lr, clip, tau_a) -> seed -> the measurements:
    validation and test accuracy at that budget and whether the run had aborted by it.
    Only the configs of the plan's stages (all, or those named) count."""
    wanted = {}
    for stage in plan["stages"]:
        if stages is not None and stage["name"] not in stages:
            continue
        for model in plan["models"]:
            for delay in plan["delays"]:
                for c in stage_configs(plan, stage, model, delay):
                    wanted[json.dumps(c, sort_keys=True)] = c
    from .tuning import aborted_by

    out: dict[tuple[str, int], dict[tuple[Any, ...], dict[int, dict[str, Any]]]] = {}
    for rec in records:
        c = rec["config"]
        if json.dumps(c, sort_keys=True) not in wanted:
            continue
        for budget in c["budgets"]:
            val, test = budget_accuracy("recall", rec, budget)
            point = (budget, c["lr"], c.get("clip"), c.get("network", {}).get("tau_a"))
            cell = out.setdefault((c["model"], c["delay"]), {}).setdefault(point, {})
            cell[c["seed"]] = {
                "val": val,
                "test": test,
                "aborted": aborted_by(rec, budget),
                "cpu_time_s": rec.get("cpu_time_s", math.nan),
            }
    return out


def _complete(points: dict[tuple[Any, ...], dict[int, Any]], seeds: list[int]) -> dict:
    return {p: v for p, v in points.items() if sorted(v) == sorted(seeds)}


def _continues(plan: dict[str, Any], points: dict[tuple[Any, ...], dict[int, Any]]) -> bool:
    """The plan's stopping rule: the next delay runs when at least one seed reached the
    threshold in validation accuracy at some grid point of this delay."""
    return any(m["val"] >= plan["threshold"] for seeds in points.values() for m in seeds.values())


def run_plan(
    plan: dict[str, Any],
    out: str | Path = "results",
    stages: list[str] | None = None,
    workers: int = 1,
    log: Any = None,
) -> None:
    """Run the named stages of the plan (all by default) in the plan's order: for each stage,
    delays ascending, every model still going at that delay (all seeds, the stage's grid),
    then the stopping rule on the stage's runs so far decides which models go on. Resumable:
    finished runs are read, not recomputed."""
    folder = runs_dir(out)
    for stage in plan["stages"]:
        if stages is not None and stage["name"] not in stages:
            continue
        going = list(plan["models"])
        for delay in plan["delays"]:
            for model in going:
                start = time.perf_counter()
                report = run_sweep(
                    "recall",
                    stage_configs(plan, stage, model, delay),
                    folder,
                    progress=False,
                    workers=workers,
                )
                if log is not None:
                    print(
                        f"stage {stage['name']} {model} D={delay}: {len(report.computed)} computed,"
                        f" {len(report.skipped)} found, cpu {report.cpu_time_s:.0f} s, "
                        f"wall {time.perf_counter() - start:.0f} s",
                        file=log,
                        flush=True,
                    )
            cells = _cells(plan, records_in(out), [stage["name"]])
            going = [m for m in going if _continues(plan, cells.get((m, delay), {}))]
            if not going:
                break


# ----------------------------------------------------------------------------- predictors


def network_exponent_of(
    config: dict[str, Any], window: int, warmup: int, burn: int, batch: int, k: int
) -> tuple[np.ndarray, float]:
    """Top Lyapunov exponent (nats per step) of a run's untrained network, per sequence
    (batch,), and the spike rate: the network of ``runner.recall_network`` with the input gain
    calibrated as the run calibrates it, driven by ``window`` steps of distractor input after
    the cue and ``warmup`` steps (``burn`` alignment steps); float64 NumPy."""
    net, run_task = recall_network(config)
    seed = config["seed"]
    x_cal, _ = recall_batch(run_task, 64, (seed, 1))
    calibrate_input_gain(net, x_cal, config["target_rate"])
    return untrained_exponent(net, run_task, seed, window, warmup, burn, batch, k)


def untrained_exponent(
    net: Any, run_task: Any, seed: int, window: int, warmup: int, burn: int, batch: int, k: int
) -> tuple[np.ndarray, float]:
    """Top Lyapunov exponent (nats per step) of a recall network as built (its input gain
    set), per sequence (batch,), and the spike rate: driven by ``window`` steps of distractor
    input after the cue and ``warmup`` steps (``burn`` alignment steps), the batch drawn with
    the run's ``seed``; float64 NumPy."""
    task = dataclasses.replace(run_task, delay=window + warmup)
    x, _ = recall_batch(task, batch, (seed, 7))
    layer = net.hidden
    with torch.no_grad():
        w_in = layer.w_in.weight.double().numpy()
        b_in = layer.w_in.bias.double().numpy()
        W = layer.w_rec.weight.double().numpy()
    drive = (x.double().numpy() @ w_in.T + b_in) * layer.input_gain
    trace = simulate_recurrent(layer.neuron.model(), drive, W)
    start = task.cue_steps + warmup
    sp = network_spectrum(trace, W, start, start + window, k=k, burn=burn)
    return sp.top, float(sp.rate.mean())


def _cue_over_max(config: dict[str, Any]) -> float | None:
    """log10(||dL/dI||_cue / max_t ||dL/dI[t]||) of the untrained, calibrated network on the
    run's first training-size batch (``gradient_at_init``, as the run measures it)."""
    net, task = recall_network(config)
    seed = config["seed"]
    x_cal, _ = recall_batch(task, 64, (seed, 1))
    with torch.no_grad():
        calibrate_input_gain(net, x_cal, config["target_rate"])
    init = gradient_at_init(net, *recall_batch(task, config["batch"], (seed, 3)), task.cue_steps)
    return init["log10_cue_over_max"]


def predict(plan: dict[str, Any], out: str | Path = "results", log: Any = None) -> dict[str, Any]:
    """Compute both predictors for every model and seed of the plan (no training) and write
    them to ``OUT/learnability/predictors.json``; return them."""
    spec = plan["predictors"]["lambda"]
    stage = plan["stages"][0]
    data: dict[str, Any] = {"plan": plan.get("name", ""), "models": {}}
    torch.set_num_threads(1)
    for model in plan["models"]:
        entry: dict[str, Any] = {"lambda_1": {}, "spike_rate": {}, "log10_cue_over_max": {}}
        for seed in plan["seeds"]:
            first = stage_configs(plan, stage, model, plan["delays"][0])
            config = next(c for c in first if c["seed"] == seed)
            start = time.perf_counter()
            lam, rate = network_exponent_of(
                config, spec["window"], spec["warmup"], spec["burn"], spec["batch"], spec["k"]
            )
            entry["lambda_1"][str(seed)] = float(np.mean(lam))
            entry["spike_rate"][str(seed)] = rate
            ratios = {}
            for delay in plan["delays"]:
                cfg = next(c for c in stage_configs(plan, stage, model, delay) if c["seed"] == seed)
                value = _cue_over_max(cfg)
                ratios[str(delay)] = None if value is None else float(value)
            entry["log10_cue_over_max"][str(seed)] = ratios
            if log is not None:
                print(
                    f"predict {model} seed {seed}: lambda_1 {np.mean(lam):.5f} "
                    f"({time.perf_counter() - start:.0f} s)",
                    file=log,
                    flush=True,
                )
        data["models"][model] = entry
    path = Path(out) / "learnability" / "predictors.json"
    atomic_write(path, json.dumps(data, indent=1))
    return data


# ----------------------------------------------------------------------------- the table


def observed(
    plan: dict[str, Any], records: list[dict[str, Any]], stages: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per model: the delays tested (every seed at every grid point of the stages present),
    at each the chosen grid point, its mean test accuracy over the seeds with the bootstrap
    interval, aborted runs, and the largest delay learned with its bootstrap interval
    (``None``: no tested delay learned; ``censored``: the largest tested delay was learned)."""
    cells = _cells(plan, records, stages)
    seeds = list(plan["seeds"])
    out: dict[str, dict[str, Any]] = {}
    for model in plan["models"]:
        per_delay = []
        for delay in plan["delays"]:
            points = _complete(cells.get((model, delay), {}), seeds)
            if not points:
                break
            best = max(
                points.items(),
                key=lambda item: (
                    float(np.mean([item[1][s]["val"] for s in seeds])),
                    -item[0][0],
                    -item[0][1],
                ),
            )
            (budget, lr, clip, tau), by_seed = best
            tests = np.array([by_seed[s]["test"] for s in seeds])
            mean, low, high = bootstrap_mean(tests)
            per_delay.append(
                {
                    "delay": delay,
                    "budget": budget,
                    "lr": lr,
                    "clip": clip,
                    "tau_a": tau,
                    "tests": tests,
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "learned": mean >= plan["threshold"],
                    "aborted": sum(by_seed[s]["aborted"] for s in seeds),
                    "runs_aborted": sum(m["aborted"] for v in points.values() for m in v.values()),
                }
            )
        if not per_delay:
            out[model] = {
                "tested": [],
                "largest": None,
                "interval": None,
                "censored": False,
                "finished": False,
            }
            continue
        tested = [p["delay"] for p in per_delay]
        learned = [p["delay"] for p in per_delay if p["learned"]]
        largest = max(learned) if learned else None
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        picks = rng.integers(0, len(seeds), size=(BOOTSTRAP_RESAMPLES, len(seeds)))
        table = np.stack([p["tests"] for p in per_delay])  # (delays, seeds)
        means = table[:, picks].mean(axis=-1)  # (delays, resamples)
        ok = means >= plan["threshold"]
        delays = np.array(tested, dtype=np.float64)
        boot = np.where(ok.any(axis=0), np.max(np.where(ok, delays[:, None], -1.0), axis=0), 0.0)
        low, high = np.quantile(boot, [0.025, 0.975])
        last = _complete(cells.get((model, tested[-1]), {}), seeds)
        stopped = not _continues(plan, last)
        out[model] = {
            "tested": tested,
            "per_delay": per_delay,
            "largest": largest,
            "interval": (float(low), float(high)),
            "censored": largest is not None and largest == plan["delays"][-1],
            # the answer is final when every delay ran or the stopping rule ended the model
            "finished": stopped or len(tested) == len(plan["delays"]),
        }
    return out


def _predicted_tested(delays: list[int], d_star: float) -> int | None:
    """The largest tested delay at most ``d_star`` (None: below the smallest)."""
    below = [d for d in delays if d <= d_star]
    return max(below) if below else None


def learnability_rows(
    plan: dict[str, Any],
    records: list[dict[str, Any]],
    predictors: dict[str, Any] | None,
    stages: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per model of the plan: D* from lambda_1 (mean over seeds, bootstrap interval),
    the window predictor, the observed largest delay learned with its interval, and whether
    each prediction hits (see the module docstring)."""
    obs = observed(plan, records, stages)
    floor = float(plan["predictors"]["lambda"]["floor_decades"])
    rows = []
    for model in plan["models"]:
        row: dict[str, Any] = {"model": model}
        pred = (predictors or {}).get("models", {}).get(model)
        if pred is not None:
            lams = np.array([pred["lambda_1"][str(s)] for s in plan["seeds"]])
            lam, lam_lo, lam_hi = bootstrap_mean(lams)
            row["lambda_1"] = lam
            row["decades_per_step"] = -lam / LN10
            row["d_star_lambda"] = float(learnable_delay(lam, floor))
            # D* falls as lambda_1 falls: the interval's ends swap.
            row["d_star_lambda_interval"] = (
                float(learnable_delay(lam_lo, floor)),
                float(learnable_delay(lam_hi, floor)),
            )
            row["pred_lambda"] = _predicted_tested(plan["delays"], row["d_star_lambda"])
            ratio = []
            for d in plan["delays"]:
                vals = [pred["log10_cue_over_max"][str(s)][str(d)] for s in plan["seeds"]]
                vals = [-math.inf if v is None else float(v) for v in vals]
                ratio.append(float(np.mean(vals)))
            row["log10_cue_over_max"] = ratio
            reach = [d for d, r in zip(plan["delays"], ratio, strict=True) if r >= -floor]
            # the largest delay of an unbroken run from the smallest tested delay
            window = None
            for d, r in zip(plan["delays"], ratio, strict=True):
                if r < -floor:
                    break
                window = d
            row["pred_window"] = window
            row["window_reach"] = reach
        o = obs[model]
        row["tested"] = o["tested"]
        row["largest"] = o["largest"]
        row["interval"] = o["interval"]
        row["censored"] = o["censored"]
        row["finished"] = o["finished"]
        row["per_delay"] = o.get("per_delay", [])
        row["aborted"] = sum(p["runs_aborted"] for p in row["per_delay"])
        if o["finished"]:
            for name in ("lambda", "window"):
                p = row.get(f"pred_{name}", "absent")
                if p == "absent":
                    continue
                if o["censored"]:
                    hit = p is not None and p >= o["largest"]
                else:
                    hit = p == o["largest"]
                row[f"hit_{name}"] = bool(hit)
        rows.append(row)
    return rows


def _fmt_delay(d: Any) -> str:
    return "none" if d is None or d == 0 else f"{d:g}"


def stages_run(plan: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """The names of the plan's stages that have at least one finished run of their own (a
    config of no earlier stage: stage E repeats stage A's runs for the models without
    ``tau_a``)."""
    done = {json.dumps(r["config"], sort_keys=True) for r in records}
    seen: set[str] = set()
    out = []
    for stage in plan["stages"]:
        own = set()
        for model in plan["models"]:
            for delay in plan["delays"]:
                for c in stage_configs(plan, stage, model, delay):
                    own.add(json.dumps(c, sort_keys=True))
        if (own - seen) & done:
            out.append(stage["name"])
        seen |= own
    return out


def markdown(
    rows: list[dict[str, Any]], plan: dict[str, Any], stages: list[str] | None = None
) -> str:
    """The learnability table as Markdown, headed by the stages it draws on when given."""
    lines = []
    if stages is not None:
        names = [s["name"] for s in plan["stages"]]
        missing = [n for n in names if n not in stages]
        lines += [
            f"Stages with runs: {', '.join(stages) or 'none'} (of {', '.join(names)}); not yet "
            f"run: {', '.join(missing) or 'none'}. A final answer below is final for the stages "
            "that ran: the plan's later stages add grid points to the choice on validation.",
            "",
        ]
    lines += [
        "| model | lambda_1 D* (95% CI) | predicted (lambda) | predicted (window) | largest delay "
        "learned (95% CI) | delays tested | aborted runs | hits (lambda / window) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "d_star_lambda" in r:
            lo, hi = r["d_star_lambda_interval"]
            dstar = f"{r['d_star_lambda']:.0f} ({lo:.0f}-{hi:.0f})"
            pl, pw = _fmt_delay(r["pred_lambda"]), _fmt_delay(r["pred_window"])
        else:
            dstar = pl = pw = "not yet computed"
        if not r["tested"]:
            largest, tested, hits = "not yet run", "-", "-"
        else:
            lo, hi = r["interval"]
            largest = f"{_fmt_delay(r['largest'])}{'+' if r['censored'] else ''}"
            largest += f" ({_fmt_delay(lo)}-{_fmt_delay(hi)})"
            if not r["finished"]:
                largest = f"at least {largest}; larger delays not yet run"
            tested = ", ".join(str(d) for d in r["tested"])
            hits = " / ".join(
                "hit" if r.get(f"hit_{n}") else "miss" if f"hit_{n}" in r else "pending"
                for n in ("lambda", "window")
            )
        aborted = r.get("aborted", 0) if r["tested"] else "-"
        lines.append(
            f"| {r['model']} | {dstar} | {pl} | {pw} | {largest} | {tested} | {aborted} | {hits} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``run`` (the plan's stages, resumable), ``predict``, ``table``."""
    parser = argparse.ArgumentParser(prog="python -m lstmlif.experiments.learnability")
    parser.add_argument("action", choices=("run", "predict", "table"))
    parser.add_argument("--plan", default=str(PLAN_PATH), help="the pre-registered plan")
    parser.add_argument("--out", default="results", help="results folder (default results/)")
    parser.add_argument("--stages", help="comma-separated stage names (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes")
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.plan)
        stages = None if args.stages is None else args.stages.split(",")
        if args.action == "run":
            run_plan(plan, args.out, stages, args.workers, log=sys.stdout)
        elif args.action == "predict":
            predict(plan, args.out, log=sys.stdout)
        else:
            path = Path(args.out) / "learnability" / "predictors.json"
            predictors = json.loads(path.read_text()) if path.is_file() else None
            rows = learnability_rows(plan, records_in(args.out), predictors, stages)
            print(markdown(rows, plan, stages_run(plan, records_in(args.out))))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
