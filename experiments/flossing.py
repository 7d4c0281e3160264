"""Flossing as a remedy: the recall task with and without the flossing regulariser.

The plan (models, delays, seeds, budgets, threshold, the flossing settings, the grid of each
stage and the stopping rule) is a JSON file committed before any of its results was computed
(``results/flossing/plan.json``); this module only executes and reads it.

- Two arms. ``off``: flossing weight 0, the runner measures the top exponents before and after
  training and adds no term. ``floss``: pre-flossing updates on the term alone, then the term
  ``w (lambda_1 - target)^2`` every few updates (``experiments.runner``'s ``floss`` field,
  ``analysis.flossing``).
- Per arm, at each (model, delay), the grid point (learning rate, weight, budget) with the
  highest validation accuracy averaged over the seeds is chosen; its mean test accuracy over
  the seeds carries a 95% percentile bootstrap interval (``tuning.bootstrap_mean``). An arm
  *learned* the delay when that mean is at least the plan's threshold; the largest delay
  learned carries the bootstrap interval of the learnability plan (resample the seeds,
  recompute every tested delay's mean, take the largest learned). Aborted runs stay in, at the
  accuracy of their last good update, and are counted.
- Stopping rule: a model goes on to the next delay while at least one seed of one arm reached
  the threshold in validation accuracy at some grid point of the stages run so far.

Run records live in ``OUT/flossing/runs/<arm>/`` (``off``, ``w1``, ``w0.1``, ...), one folder
per flossing weight so that each folder's ``tuned.csv`` compares learning rates and budgets of
one arm only.

``python -m lstmlif.experiments.flossing run|table [--plan FILE] [--out DIR] [--stages A,B]``.
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

from .plans import read_plan
from .runner import make_configs, run_sweep
from .store import scan_folder
from .tuning import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, aborted_by, bootstrap_mean, budget_accuracy

__all__ = [
    "PLAN_PATH",
    "ARMS",
    "load_plan",
    "arm_of",
    "stage_configs",
    "records_in",
    "run_plan",
    "observed",
    "markdown",
    "main",
]

PLAN_PATH = Path("results/flossing/plan.json")
PLAN_KEYS = ("models", "delays", "seeds", "budgets", "threshold", "floss", "stages")
ARMS = ("off", "floss")


def load_plan(path: str | Path = PLAN_PATH) -> dict[str, Any]:
    """The plan as a dict; ValueError naming the file and the missing or malformed field."""
    plan = read_plan(path, "flossing", PLAN_KEYS, ("name", "lrs", "weights"))
    for key in ("k", "target", "every", "batch", "prefloss"):
        if key not in plan["floss"]:
            raise ValueError(f"flossing plan {path}: 'floss' lacks '{key}'")
    return plan


def runs_dir(out: str | Path) -> Path:
    """Where the plan's run records live: ``OUT/flossing/runs``."""
    return Path(out) / "flossing" / "runs"


def _arm_folder(weight: float) -> str:
    return "off" if weight == 0 else f"w{weight:g}"


def arm_of(config: dict[str, Any]) -> str:
    """``off`` for a run with flossing weight 0, ``floss`` otherwise."""
    return "off" if config["floss"]["weight"] == 0 else "floss"


def stage_configs(
    plan: dict[str, Any], stage: dict[str, Any], model: str, delay: int, weight: float
) -> list[dict[str, Any]]:
    """The configs of one stage for one model, delay and flossing weight (every seed and
    learning rate; weight 0 is the ``off`` arm, without pre-flossing)."""
    f = plan["floss"]
    return make_configs(
        "recall",
        seeds=plan["seeds"],
        delays=[delay],
        models=[model],
        tune=True,
        lrs=stage["lrs"],
        budgets=plan["budgets"],
        floss=f["k"],
        floss_target=f["target"],
        floss_every=f["every"],
        floss_weight=weight,
        floss_batch=f["batch"],
        prefloss=0 if weight == 0 else f["prefloss"],
    )


def records_in(out: str | Path) -> list[dict[str, Any]]:
    """The sound run records of every arm folder under ``OUT/flossing/runs``."""
    root = runs_dir(out)
    found: list[dict[str, Any]] = []
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            records, _ = scan_folder(folder)
            found += [rec for _, rec in records.values()]
    return found


def _wanted(plan: dict[str, Any], stages: list[str] | None) -> set[str]:
    out = set()
    for stage in plan["stages"]:
        if stages is not None and stage["name"] not in stages:
            continue
        for model in plan["models"]:
            for delay in plan["delays"]:
                for w in stage["weights"]:
                    for c in stage_configs(plan, stage, model, delay, w):
                        out.add(json.dumps(c, sort_keys=True))
    return out


def _cells(
    plan: dict[str, Any], records: list[dict[str, Any]], stages: list[str] | None = None
) -> dict[tuple[str, int, str], dict[tuple[Any, ...], dict[int, dict[str, Any]]]]:
    """(model, delay, arm) -> grid point (budget, lr, weight) -> seed -> the measurements."""
    wanted = _wanted(plan, stages)
    out: dict[tuple[str, int, str], dict[tuple[Any, ...], dict[int, dict[str, Any]]]] = {}
    for rec in records:
        c = rec["config"]
        if json.dumps(c, sort_keys=True) not in wanted:
            continue
        res = rec["result"]
        for budget in c["budgets"]:
            val, test = budget_accuracy("recall", rec, budget)
            point = (budget, c["lr"], c["floss"]["weight"])
            cell = out.setdefault((c["model"], c["delay"], arm_of(c)), {}).setdefault(point, {})
            cell[c["seed"]] = {
                "val": val,
                "test": test,
                "aborted": aborted_by(rec, budget),
                "before": res["exponents_before"][0][0],
                "after": res["exponents_after"][0][0],
                "cpu_plain": res["update_cpu_s"]["plain"],
                "cpu_floss": res["update_cpu_s"]["floss"],
                "cpu_run": rec.get("cpu_time_s", math.nan),
            }
    return out


def _continues(plan: dict[str, Any], points: list[dict[int, dict[str, Any]]]) -> bool:
    return any(m["val"] >= plan["threshold"] for seeds in points for m in seeds.values())


def run_plan(
    plan: dict[str, Any],
    out: str | Path = "results",
    stages: list[str] | None = None,
    log: Any = None,
) -> None:
    """Run the named stages of the plan (all by default) in the plan's order: for each stage,
    delays ascending, every model still going (both arms, all seeds, the stage's grid), then
    the stopping rule on the runs of the stages so far decides which models go on. Resumable:
    finished runs are read, not recomputed."""
    done_stages: list[str] = []
    for stage in plan["stages"]:
        if stages is not None and stage["name"] not in stages:
            continue
        done_stages.append(stage["name"])
        going = list(plan["models"])
        for delay in plan["delays"]:
            for model in going:
                for w in stage["weights"]:
                    start = time.perf_counter()
                    report = run_sweep(
                        "recall",
                        stage_configs(plan, stage, model, delay, w),
                        runs_dir(out) / _arm_folder(w),
                        progress=False,
                    )
                    if log is not None:
                        print(
                            f"stage {stage['name']} {model} D={delay} weight {w:g}: "
                            f"{len(report.computed)} computed, {len(report.skipped)} found, "
                            f"cpu {report.cpu_time_s:.0f} s, "
                            f"wall {time.perf_counter() - start:.0f} s",
                            file=log,
                            flush=True,
                        )
            cells = _cells(plan, records_in(out), done_stages)
            going = [
                m
                for m in going
                if _continues(
                    plan, [p for arm in ARMS for p in cells.get((m, delay, arm), {}).values()]
                )
            ]
            if not going:
                break


def _mean(values: list[float]) -> tuple[float, float, float]:
    x = [v for v in values if v is not None and math.isfinite(v)]
    return bootstrap_mean(x) if x else (math.nan, math.nan, math.nan)


def observed(
    plan: dict[str, Any], records: list[dict[str, Any]], stages: list[str] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (model, arm): the delays tested (every seed at every grid point of the stages
    present), at each the chosen grid point, its mean test accuracy over the seeds with the
    bootstrap interval, aborted runs, lambda_1 before and after training and the CPU time per
    update; and the largest delay learned with its bootstrap interval (None: no tested delay
    learned)."""
    cells = _cells(plan, records, stages)
    seeds = list(plan["seeds"])
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for model in plan["models"]:
        for arm in ARMS:
            per_delay = []
            for delay in plan["delays"]:
                found = cells.get((model, delay, arm), {})
                points = {p: v for p, v in found.items() if sorted(v) == sorted(seeds)}
                if not points:
                    break
                best = max(
                    points.items(),
                    key=lambda item: (
                        float(np.mean([item[1][s]["val"] for s in seeds])),
                        -item[0][0],
                        -item[0][1],
                        -item[0][2],
                    ),
                )
                (budget, lr, weight), by_seed = best
                tests = np.array([by_seed[s]["test"] for s in seeds])
                mean, low, high = bootstrap_mean(tests)
                runs = [m for v in points.values() for m in v.values()]
                per_delay.append(
                    {
                        "delay": delay,
                        "budget": budget,
                        "lr": lr,
                        "weight": weight,
                        "tests": tests,
                        "mean": mean,
                        "low": low,
                        "high": high,
                        "learned": mean >= plan["threshold"],
                        "aborted": sum(by_seed[s]["aborted"] for s in seeds),
                        "before": _mean([by_seed[s]["before"] for s in seeds]),
                        "after": _mean([by_seed[s]["after"] for s in seeds]),
                        "cpu_plain": _mean([m["cpu_plain"] for m in runs]),
                        "cpu_floss": _mean([m["cpu_floss"] for m in runs]),
                        "cpu_run": _mean([m["cpu_run"] for m in runs]),
                    }
                )
            entry: dict[str, Any] = {"per_delay": per_delay, "tested": []}
            if per_delay:
                tested = [p["delay"] for p in per_delay]
                learned = [p["delay"] for p in per_delay if p["learned"]]
                rng = np.random.default_rng(BOOTSTRAP_SEED)
                picks = rng.integers(0, len(seeds), size=(BOOTSTRAP_RESAMPLES, len(seeds)))
                table = np.stack([p["tests"] for p in per_delay])
                ok = table[:, picks].mean(axis=-1) >= plan["threshold"]
                delays = np.array(tested, dtype=np.float64)
                boot = np.where(
                    ok.any(axis=0), np.max(np.where(ok, delays[:, None], -1.0), axis=0), 0.0
                )
                low, high = np.quantile(boot, [0.025, 0.975])
                entry.update(
                    tested=tested,
                    largest=max(learned) if learned else None,
                    interval=(float(low), float(high)),
                )
            out[(model, arm)] = entry
    return out


def stages_run(plan: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """The names of the plan's stages with at least one finished run."""
    done = {json.dumps(r["config"], sort_keys=True) for r in records}
    return [s["name"] for s in plan["stages"] if _wanted(plan, [s["name"]]) & done]


def _acc(p: dict[str, Any] | None) -> str:
    if p is None:
        return "not run"
    text = f"{p['mean']:.2f} [{p['low']:.2f}, {p['high']:.2f}]"
    return text + (f", {p['aborted']} ab." if p["aborted"] else "")


def _lam(v: tuple[float, float, float]) -> str:
    return "-" if not math.isfinite(v[0]) else f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def _delay(d: Any) -> str:
    return "none" if d is None or d == 0 else f"{d:g}"


def markdown(plan: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """The flossing tables as Markdown: per model and tested delay, each arm's test accuracy
    at its chosen grid point (mean over the seeds [95% bootstrap interval]), lambda_1 before
    and after training, the CPU time per update; then the largest delay learned per arm."""
    ran = stages_run(plan, records)
    obs = observed(plan, records, ran)
    names = [s["name"] for s in plan["stages"]]
    lines = [
        f"Stages with runs: {', '.join(ran) or 'none'} (of {', '.join(names)}). Accuracy: mean "
        f"test accuracy over {len(plan['seeds'])} seeds [95% bootstrap interval] at the grid "
        "point chosen on validation; lambda_1 in nats per step, mean over the seeds [95% "
        "interval], before training and after the last update; CPU s per update: mean over "
        "the arm's runs at that delay.",
        "",
        "| model | D | no flossing | flossing | lambda_1 before | lambda_1 after, "
        "no flossing | lambda_1 after, flossing | CPU s per update (plain / with the term) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in plan["models"]:
        off = {p["delay"]: p for p in obs[(model, "off")]["per_delay"]}
        on = {p["delay"]: p for p in obs[(model, "floss")]["per_delay"]}
        for delay in plan["delays"]:
            if delay not in off and delay not in on:
                continue
            a, b = off.get(delay), on.get(delay)
            before = (a or b)["before"]
            cost = (
                f"{a['cpu_plain'][0]:.3f}" if a is not None else "-",
                f"{b['cpu_floss'][0]:.3f}" if b is not None else "-",
            )
            lines.append(
                f"| {model} | {delay} | {_acc(a)} | {_acc(b)} | {_lam(before)} | "
                f"{_lam(a['after']) if a else '-'} | {_lam(b['after']) if b else '-'} | "
                f"{cost[0]} / {cost[1]} |"
            )
    lines += [
        "",
        "| model | largest delay learned, no flossing (95% CI) | with flossing (95% CI) | "
        "delays tested |",
        "|---|---|---|---|",
    ]
    for model in plan["models"]:
        cols = []
        for arm in ARMS:
            e = obs[(model, arm)]
            if not e["tested"]:
                cols.append("not run")
                continue
            lo, hi = e["interval"]
            cols.append(f"{_delay(e['largest'])} ({_delay(lo)}-{_delay(hi)})")
        tested = sorted(set(obs[(model, "off")]["tested"]) | set(obs[(model, "floss")]["tested"]))
        lines.append(f"| {model} | {cols[0]} | {cols[1]} | {', '.join(map(str, tested))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``run`` (the plan's stages, resumable) and ``table``."""
    parser = argparse.ArgumentParser(prog="python -m lstmlif.experiments.flossing")
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("--plan", default=str(PLAN_PATH), help="the pre-registered plan")
    parser.add_argument("--out", default="results", help="results folder (default results/)")
    parser.add_argument("--stages", help="comma-separated stage names (default: all)")
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.plan)
        stages = None if args.stages is None else args.stages.split(",")
        if args.action == "run":
            import torch

            torch.set_num_threads(1)
            run_plan(plan, args.out, stages, log=sys.stdout)
        else:
            print(markdown(plan, records_in(args.out)), end="")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
