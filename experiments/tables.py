"""The learning-experiment tables of the README, generated from the result records.

Each table is a Markdown block with a name; the README holds it between the markers
``<!-- table:NAME -->`` and ``<!-- /table -->``, and ``tests/test_experiments_tables.py`` checks
that the README's block is, character for character, the block generated here from the
committed records (every number rounded as it is printed).

- ``recall-committed``: the committed budget (200 updates at 1e-2, the cue on the distractor
  channels): test accuracy, mean ± sd (ddof = 0) over the seeds, per model and delay (with the
  number of aborted runs, whose last good accuracy counts, where there are any), and the
  cue gradient at initialisation (log10 ||dL/dI|| over the cue steps, mean over the seeds; a
  seed whose gradient is exactly 0 is counted apart; ``*``: below float32's smallest normal).
- ``recall-cue-decay``: how fast the cue gradient at initialisation falls with the delay, per
  model: the least-squares slope of log10 ||dL/dI||_cue against D over the committed runs at
  D = 25 to 200 whose gradient is a normal float32 number (3 significant digits).
- ``recall-tuned``: the grid point chosen on validation (``tuning.tuned_rows``) and its test
  accuracy, mean ± sd, with (learning rate, updates).
- ``recall-cue-separate``: the cue on channels of its own.
- ``digits``: sequential 8x8 digits, committed and tuned.
- ``learnability``: the pre-registered learnability plan so far
  (``experiments.learnability``).
- ``flossing``: the largest delay learned with and without flossing
  (``experiments.flossing``).

``python -m lstmlif.experiments.tables [--results DIR] [--only NAME]`` prints the blocks with
their markers, ready to paste.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.neurons import model_class, model_names

from .runner import FLOAT32_TINY, RESULTS_DIR, load_results
from .tuning import tuned_rows

__all__ = ["TABLES", "generate", "render_all", "readme_blocks", "main"]

MARKER = re.compile(r"<!-- table:([a-z0-9-]+) -->\n(.*?)<!-- /table -->", re.S)
RECALL_DELAYS = (25, 50, 100, 200, 400)
SEPARATE_DELAYS = (100, 200, 400)


def _label(model: str) -> str:
    """The model's printed name (the registry's label)."""
    cls = model_class(model)
    return getattr(cls, "label", None) or cls.__name__


def _order(model: str) -> int:
    names = model_names()
    return names.index(model) if model in names else len(names)


def _acc(runs: list[dict[str, Any]]) -> str:
    """Final test accuracy over the runs, mean ± sd (ddof = 0), and how many of them aborted
    (a non-finite or > 1e6 gradient norm stopped them; their last good accuracy counts)."""
    x = np.asarray([r["final_accuracy"] for r in runs], dtype=np.float64)
    text = f"{x.mean():.2f} ± {x.std():.2f}"
    aborted = sum(r["result"]["status"] != "done" for r in runs)
    return text + (f", {aborted} aborted" if aborted else "")


def _lr(value: float) -> str:
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _cue(norms: list[Any]) -> str:
    """The mean log10 cue gradient over the seeds, printed to 0.1; seeds whose gradient is
    exactly 0 are said apart, a mean below float32's smallest normal gets ``*``."""
    zero = sum(1 for v in norms if v == 0.0)
    finite = [math.log10(v) for v in norms if v > 0.0]
    if not finite:
        return "exactly 0"
    mean = float(np.mean(finite))
    star = "*" if all(v < FLOAT32_TINY for v in norms if v > 0.0) else ""
    text = f"{mean:+.1f}{star}" if mean > 0 else f"{mean:.1f}{star}"
    if zero:
        return f"exactly 0 ({zero} seeds), {text} ({len(finite)})"
    return text


def _committed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The committed budget's recall records: 200 updates at 1e-2, the cue on the distractor
    channels, no tuning grid, no clip, the full sizes."""
    return [
        r
        for r in records
        if r["config"]["size"] == "full"
        and r["config"]["updates"] == 200
        and r["config"]["lr"] == 1e-2
        and "budgets" not in r["config"]
        and "clip" not in r["config"]
        and r["config"].get("cue_channels", "shared") == "shared"
    ]


def _by(records: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], list[dict]]:
    out: dict[tuple[Any, ...], list[dict]] = {}
    for r in records:
        out.setdefault(tuple(r["config"][k] for k in keys), []).append(r)
    return out


def recall_committed(root: Path) -> str:
    """The committed-budget recall table."""
    groups = _by(_committed(load_results(root, "recall")), "model", "delay")
    models = sorted({m for m, _ in groups}, key=_order)
    head = " | ".join(f"D = {d}" for d in RECALL_DELAYS)
    cue_head = " / ".join(str(d) for d in RECALL_DELAYS)
    lines = [
        f"| model | {head} | cue gradient, D = {cue_head} |",
        "|---|" + "---|" * (len(RECALL_DELAYS) + 1),
    ]
    for m in models:
        cells, cues = [], []
        for d in RECALL_DELAYS:
            runs = groups.get((m, d), [])
            cells.append(_acc(runs) if runs else "-")
            norms = [float(r["result"]["init"]["cue_norm"]) for r in runs]
            cues.append(_cue(norms) if runs else "-")
        lines.append(f"| {_label(m)} | {' | '.join(cells)} | {' / '.join(cues)} |")
    return "\n".join(lines) + "\n"


def recall_cue_decay(root: Path) -> str:
    """The cue gradient's decay with the delay at initialisation, per model."""
    groups = _by(_committed(load_results(root, "recall")), "model")
    lines = [
        "| model | cue-gradient decay (decades per step of delay) | runs (D = 25 to 200) |",
        "|---|---|---|",
    ]
    for (m,) in sorted(groups, key=lambda k: _order(k[0])):
        points = [
            (r["config"]["delay"], math.log10(float(r["result"]["init"]["cue_norm"])))
            for r in groups[(m,)]
            if 25 <= r["config"]["delay"] <= 200
            and float(r["result"]["init"]["cue_norm"]) >= FLOAT32_TINY
        ]
        if len({d for d, _ in points}) < 2:
            lines.append(f"| {_label(m)} | - | {len(points)} |")
            continue
        x, y = np.array(points).T
        slope = -float(np.polyfit(x, y, 1)[0])
        lines.append(f"| {_label(m)} | {slope:.3g} | {len(points)} |")
    return "\n".join(lines) + "\n"


def recall_tuned(root: Path) -> str:
    """The tuned recall table: the validation-chosen point and its test accuracy."""
    rows = tuned_rows("recall", load_results(root, "recall", tune=True))
    by = {(r["model"], r["delay"]): r for r in rows}
    models = sorted({r["model"] for r in rows}, key=_order)
    head = " | ".join(f"D = {d}" for d in RECALL_DELAYS)
    lines = [f"| model | {head} |", "|---|" + "---|" * len(RECALL_DELAYS)]
    for m in models:
        cells = []
        for d in RECALL_DELAYS:
            r = by.get((m, d))
            if r is None:
                cells.append("-")
                continue
            text = f"{r['test_accuracy']:.2f} ± {r['test_sd']:.2f} ({_lr(r['lr'])}, {r['updates']})"
            if r["aborted"]:
                text += f", {r['aborted']} aborted"
            cells.append(text)
        lines.append(f"| {_label(m)} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def recall_cue_separate(root: Path) -> str:
    """The separate-cue recall table."""
    groups = _by(load_results(root / "cue_separate", "recall"), "model", "delay")
    models = sorted({m for m, _ in groups}, key=_order)
    head = " | ".join(f"D = {d}" for d in SEPARATE_DELAYS)
    cue_head = " / ".join(str(d) for d in SEPARATE_DELAYS)
    lines = [
        f"| model | {head} | cue gradient, D = {cue_head} |",
        "|---|" + "---|" * (len(SEPARATE_DELAYS) + 1),
    ]
    for m in models:
        cells, cues = [], []
        for d in SEPARATE_DELAYS:
            runs = groups.get((m, d), [])
            cells.append(_acc(runs) if runs else "-")
            cues.append(
                _cue([float(r["result"]["init"]["cue_norm"]) for r in runs]) if runs else "-"
            )
        lines.append(f"| {_label(m)} | {' | '.join(cells)} | {' / '.join(cues)} |")
    return "\n".join(lines) + "\n"


def digits(root: Path) -> str:
    """The digits table: committed budget and tuned, plain and permuted."""
    committed = _by(load_results(root, "digits"), "model", "task")
    tuned = {
        (r["model"], r["task"]): r
        for r in tuned_rows("digits", load_results(root, "digits", tune=True))
    }
    models = sorted({m for m, _ in committed} | {m for m, _ in tuned}, key=_order)
    lines = [
        "| model | plain, committed | permuted, committed | plain, tuned | permuted, tuned |",
        "|---|---|---|---|---|",
    ]
    for m in models:
        cells = []
        for task in ("sequential", "permuted"):
            runs = committed.get((m, task), [])
            x = np.asarray([r["final_accuracy"] for r in runs], dtype=np.float64)
            cells.append(f"{x.mean():.3f} ± {x.std():.3f}" if runs else "-")
        for task in ("sequential", "permuted"):
            r = tuned.get((m, task))
            cells.append(
                f"{r['test_accuracy']:.3f} ± {r['test_sd']:.3f} ({_lr(r['lr'])})" if r else "-"
            )
        lines.append(f"| {_label(m)} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def learnability(root: Path) -> str:
    """The learnability table of the pre-registered plan, as far as it has run."""
    from . import learnability as plan_module

    plan = plan_module.load_plan(root / "learnability" / "plan.json")
    path = root / "learnability" / "predictors.json"
    predictors = json.loads(path.read_text()) if path.is_file() else None
    records = plan_module.records_in(root)
    rows = plan_module.learnability_rows(plan, records, predictors)
    return plan_module.markdown(rows, plan, plan_module.stages_run(plan, records)) + "\n"


def flossing(root: Path) -> str:
    """The flossing experiment's largest delay learned per arm (``experiments.flossing``), headed
    by the stages it draws on; the per-delay table is ``python -m lstmlif.experiments.flossing
    table``."""
    from . import flossing as fx

    plan = fx.load_plan(root / "flossing" / "plan.json")
    blocks = fx.markdown(plan, fx.records_in(root)).strip().split("\n\n")
    head = blocks[0].split(". Accuracy:")[0] + "."
    return head + "\n\n" + blocks[-1] + "\n"


TABLES: dict[str, Callable[[Path], str]] = {
    "recall-committed": recall_committed,
    "recall-cue-decay": recall_cue_decay,
    "recall-tuned": recall_tuned,
    "recall-cue-separate": recall_cue_separate,
    "digits": digits,
    "learnability": learnability,
    "flossing": flossing,
}


def generate(name: str, results: str | Path = RESULTS_DIR) -> str:
    """The Markdown of table ``name`` from the records under ``results``."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose one of {list(TABLES)}")
    return TABLES[name](Path(results))


def render_all(results: str | Path = RESULTS_DIR, only: list[str] | None = None) -> str:
    """Every table (or those named) between its README markers."""
    out = []
    for name in TABLES if only is None else only:
        out.append(f"<!-- table:{name} -->\n{generate(name, results)}<!-- /table -->\n")
    return "\n".join(out)


def readme_blocks(text: str) -> dict[str, str]:
    """The tables of a README between ``<!-- table:NAME -->`` and ``<!-- /table -->``."""
    return {m.group(1): m.group(2) for m in MARKER.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    """Print the README blocks."""
    parser = argparse.ArgumentParser(prog="python -m lstmlif.experiments.tables")
    parser.add_argument("--results", default=str(RESULTS_DIR), help="results folder")
    parser.add_argument("--only", help="comma-separated table names")
    args = parser.parse_args(argv)
    try:
        only = None if args.only is None else args.only.split(",")
        print(render_all(args.results, only), end="")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
