"""``lstmlif experiment NAME``: run (or resume) the long-delay learning experiments.

NAME is ``recall``, ``digits``, ``quadrants`` or ``all``. Results go to ``--out`` (default
``results/``), one JSON per run plus ``summary.csv`` per experiment; finished runs are skipped.
``--delays`` applies to recall and quadrants, ``--models`` to recall and digits, ``--betas`` to
quadrants: with ``all`` each goes to the experiments that take it, and naming one experiment
together with an option it does not take is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .runner import EXPERIMENTS, run_experiment

__all__ = ["add_arguments", "run"]


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lstmlif experiment``."""
    parser.add_argument("name", metavar="NAME", help="recall | digits | quadrants | all")
    parser.add_argument("--quick", action="store_true", help="the small sizes used by the tests")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    parser.add_argument("--seeds", type=_int_list, help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument(
        "--delays", type=_int_list, help="recall delays (also of the quadrant grid), e.g. 25,50,100"
    )
    parser.add_argument("--models", help="comma-separated subset of lif,alif,lstmlif")
    parser.add_argument(
        "--betas",
        type=_float_list,
        help="quadrant grid values, e.g. --betas=-0.5,0.5 (a list that starts with a minus "
        "needs the '=')",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the named experiment(s); print a short summary (or JSON with ``--json``)."""
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {args.name!r}; choose one of {[*EXPERIMENTS, 'all']}")
    if args.name != "all":
        unused = {
            "--delays": args.delays is not None and args.name == "digits",
            "--models": args.models is not None and args.name == "quadrants",
            "--betas": args.betas is not None and args.name != "quadrants",
        }
        if any(unused.values()):
            options = ", ".join(k for k, v in unused.items() if v)
            raise ValueError(f"experiment {args.name!r} does not take {options}")
    models = None if args.models is None else [m.strip() for m in args.models.split(",")]
    start = time.perf_counter()
    reports = []
    for name in names:
        reports.append(
            run_experiment(
                name,
                args.out,
                quick=args.quick,
                seeds=args.seeds,
                delays=args.delays if name != "digits" else None,
                models=models if name != "quadrants" else None,
                betas=args.betas if name == "quadrants" else None,
                progress=not args.no_progress,
            )
        )
    total = time.perf_counter() - start
    if getattr(args, "json", False):
        out = {"wall_time_s": total, "experiments": [r.as_dict() for r in reports]}
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
        return 0
    for r in reports:
        spent = sum(rec["wall_time_s"] for rec in r.records)
        print(
            f"{r.name}: {len(r.computed)} run(s) computed, {len(r.skipped)} already finished; "
            f"compute time of this sweep's {len(r.records)} runs {spent / 60:.1f} min; "
            f"{r.folder / 'summary.csv'} lists every finished run there"
        )
    print(f"wall time of this call: {total / 60:.1f} min")
    return 0
