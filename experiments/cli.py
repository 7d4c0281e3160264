"""``lstmlif experiment NAME``: run (or resume) the long-delay learning experiments.

NAME is ``recall``, ``digits``, ``quadrants`` or ``all``. Results go to ``--out`` (default
``results/``), one JSON per run plus ``summary.csv`` per experiment; finished runs are skipped.
``--delays``, ``--updates``, ``--hidden`` and ``--cue-channels`` apply to recall and quadrants,
``--models`` to recall and digits, ``--epochs`` to digits, ``--betas`` to quadrants, ``--tune``
(the learning-rate x budget grid, chosen on a validation split) to recall and digits: with
``all`` each goes to the experiments that take it, and naming one experiment together with an
option it does not take is an error. ``--workers N`` runs N local processes, ``--scheduler
ADDRESS`` a Dask cluster; the results are the same as a serial sweep's.

``--protocol strong`` (recall) is the stronger tuning protocol of ``runner.STRONG``: 5 seeds,
learning rates 1e-4 ... 3e-2 (6, log-spaced), budgets 200 / 400 / 800 updates nested in one
run, every run with and without gradient-norm clipping at 1.0, ALIF's ``tau_a`` in
{200, 700, 2000}; the choice on the validation split; results in ``OUT/recall_strong/``.
``--lrs``, ``--budgets``, ``--clip`` and ``--tau-a`` change its grid (``--lrs`` and
``--budgets`` also that of ``--tune``; ``--clip`` and ``--tau-a`` apply to any recall run).

``--floss K`` (recall) adds the flossing regulariser ``w sum_i (lambda_i - T_i)^2`` on the
leading K exponents of the hidden layer (``analysis.flossing``) to the loss every
``--floss-every`` updates (``--floss-target T``, ``--floss-weight w``, ``--floss-batch`` sequences
per estimate; ``--prefloss N`` Adam updates on the term alone before training); each run
records the exponents before and after training and the time per update with and without the
term; results in ``OUT/recall..._floss-k..../``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from lstmlif.cli import number_list

from .runner import EXPERIMENTS, TUNABLE, make_configs, result_dir, run_experiment

__all__ = ["add_arguments", "run"]

FLOSS_OPTIONS = ("floss", "floss_target", "floss_every", "floss_weight", "floss_batch", "prefloss")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _clip(text: str) -> float | None:
    """A clip value: a positive number, or ``none`` for the unclipped run."""
    if text.lower() in ("none", "off"):
        return None
    return float(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lstmlif experiment``."""
    parser.add_argument("name", metavar="NAME", help="recall | digits | quadrants | all")
    parser.add_argument("--quick", action="store_true", help="the small sizes used by the tests")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    parser.add_argument("--seeds", **number_list(int, help="seeds, e.g. 0,1,2 or 0 1 2"))
    parser.add_argument(
        "--delays", **number_list(int, help="recall delays (also of the quadrant grid), e.g. 25,50")
    )
    parser.add_argument(
        "--models",
        help="comma-separated registered models or registry groups (default: the paper's "
        "lif,alif,lstmlif; 'catalogue' for the catalogue's models, 'all' for every model)",
    )
    parser.add_argument(
        "--betas", **number_list(float, help="quadrant grid values, e.g. -0.5,0.5 or -0.5 0.5")
    )
    budget = parser.add_argument_group("budget and task variant")
    budget.add_argument("--updates", type=_int, help="Adam updates per run (recall, quadrants)")
    budget.add_argument("--epochs", type=_int, help="training epochs per run (digits)")
    budget.add_argument("--lr", type=_float, help="Adam learning rate")
    budget.add_argument("--hidden", type=_int, help="hidden neurons (recall, quadrants)")
    budget.add_argument(
        "--cue-channels",
        choices=("shared", "separate"),
        help="recall task: distractors on the cue channels (shared, the default) or on "
        "channels of their own (separate)",
    )
    budget.add_argument(
        "--tune",
        action="store_true",
        help="the tuning grid (recall, digits): every learning rate x budget, chosen per model "
        "on a validation split; results in OUT/NAME_tune/ with tuned.csv",
    )
    grid = parser.add_argument_group(
        "the stronger protocol (recall)",
        "--protocol strong: seeds 0-4, lr 1e-4,3e-4,1e-3,3e-3,1e-2,3e-2, budgets 200,400,800 "
        "updates (nested in one run), clip none,1.0, ALIF tau_a 200,700,2000; chosen on the "
        "validation split, aborted runs counted, 95% bootstrap intervals over seeds; results "
        "in OUT/recall_strong/. The options below change its grid.",
    )
    grid.add_argument("--protocol", choices=("default", "strong"), help="the tuning protocol")
    grid.add_argument("--lrs", **number_list(float, help="learning rates of a tuning grid"))
    grid.add_argument(
        "--budgets", **number_list(int, help="nested budgets (updates) of a tuning grid")
    )
    grid.add_argument(
        "--clip",
        **number_list(
            _clip, help="gradient-norm clips, 'none' for the unclipped run, e.g. none,1.0"
        ),
    )
    grid.add_argument(
        "--tau-a", **number_list(float, help="ALIF adaptation time constants, e.g. 200,700,2000")
    )
    floss = parser.add_argument_group(
        "flossing (recall)",
        "the regulariser w sum_i (lambda_i - T)^2 on the leading K exponents of the hidden "
        "layer, added every n updates; the exponents before and after training and the time per "
        "update with and without it are recorded",
    )
    floss.add_argument("--floss", type=_int, metavar="K", help="flossing on K exponents")
    floss.add_argument(
        "--floss-target",
        **number_list(float, help="target exponent(s), nats per step: one or K (default 0)"),
    )
    floss.add_argument(
        "--floss-every", type=_int, metavar="N", help="the term every N updates (default 1)"
    )
    floss.add_argument(
        "--floss-weight",
        type=_float,
        metavar="W",
        help="its weight (default 1; 0 measures the exponents and adds no term)",
    )
    floss.add_argument(
        "--floss-batch",
        type=_int,
        metavar="B",
        help="sequences per estimate, the first B of the batch (default 16)",
    )
    floss.add_argument(
        "--prefloss", type=_int, metavar="N", help="Adam updates on the term alone before training"
    )
    where = parser.add_argument_group("where the runs execute")
    where.add_argument("--workers", type=_int, default=1, help="local worker processes")
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://10.0.0.1:8786"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _options(args: argparse.Namespace, name: str) -> dict:
    """The keyword options of ``run_experiment`` that experiment ``name`` takes."""
    takes = {
        "delays": name != "digits",
        "models": name != "quadrants",
        "betas": name == "quadrants",
        "updates": name != "digits",
        "epochs": name == "digits",
        "hidden": name != "digits",
        "cue_channels": name != "digits",
    }
    out = {k: getattr(args, k) for k, ok in takes.items() if ok and getattr(args, k) is not None}
    if "models" in out:
        out["models"] = [m.strip() for m in out["models"].split(",") if m.strip()]
    if args.lr is not None:
        out["lr"] = args.lr
    if args.tune and name in TUNABLE:
        out["tune"] = True
    if name == "recall":
        if args.protocol == "strong":
            out["protocol"] = "strong"
        for option, key in (("lrs", "lrs"), ("budgets", "budgets"), ("clip", "clips")):
            if getattr(args, option) is not None:
                out[key] = getattr(args, option)
        if args.tau_a is not None:
            out["tau_a"] = args.tau_a
        for option in FLOSS_OPTIONS:
            if getattr(args, option, None) is not None:
                out[option] = getattr(args, option)
    return out


def run(args: argparse.Namespace) -> int:
    """Run the named experiment(s); print a short summary (or JSON with ``--json``)."""
    if args.name != "all" and args.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {args.name!r}; choose one of {[*EXPERIMENTS, 'all']}")
    if not args.out.strip():
        raise ValueError("--out must name a folder (got an empty string)")
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if args.tune:
        names = [n for n in names if n in TUNABLE]
    if args.name != "all":
        unused = {
            "--delays": args.delays is not None and args.name == "digits",
            "--models": args.models is not None and args.name == "quadrants",
            "--betas": args.betas is not None and args.name != "quadrants",
            "--updates": args.updates is not None and args.name == "digits",
            "--epochs": args.epochs is not None and args.name != "digits",
            "--hidden": args.hidden is not None and args.name == "digits",
            "--cue-channels": args.cue_channels is not None and args.name == "digits",
            "--tune": args.tune and args.name not in TUNABLE,
            "--protocol": args.protocol == "strong" and args.name != "recall",
            "--lrs": args.lrs is not None and args.name != "recall",
            "--budgets": args.budgets is not None and args.name != "recall",
            "--clip": args.clip is not None and args.name != "recall",
            "--tau-a": args.tau_a is not None and args.name != "recall",
        }
        for option in FLOSS_OPTIONS:
            flag = "--" + option.replace("_", "-")
            unused[flag] = getattr(args, option, None) is not None and args.name != "recall"
        if any(unused.values()):
            options = ", ".join(k for k, v in unused.items() if v)
            raise ValueError(f"experiment {args.name!r} does not take {options}")
    # Every option of every experiment is checked, and every folder found writable, before
    # the first run starts.
    plans = []
    for name in names:
        options = _options(args, name)
        configs = make_configs(name, args.quick, seeds=args.seeds, **options)
        folder = result_dir(
            args.out,
            name,
            args.quick,
            bool(options.get("tune")),
            options.get("protocol"),
            configs[0].get("floss") if configs else None,
        )
        plans.append((name, options, folder))
    from lstmlif.fileio import check_writable

    from .parallel import check_workers

    check_workers(args.workers, args.scheduler)
    for _, _, folder in plans:
        check_writable(folder, "results")
    start = time.perf_counter()
    reports = []
    for name, options, _ in plans:
        try:
            reports.append(
                run_experiment(
                    name,
                    args.out,
                    quick=args.quick,
                    seeds=args.seeds,
                    progress=not args.no_progress,
                    workers=args.workers,
                    scheduler=args.scheduler,
                    **options,
                )
            )
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            raise ValueError(f"{err.strerror or type(err).__name__}{where}") from None
    total = time.perf_counter() - start
    for r in reports:
        for d in r.damaged:
            fate = "recomputed" if d.path in r.replaced else "not used (no run of this sweep)"
            print(f"damaged result file {d.path}: {d.reason}; {fate}", file=sys.stderr)
    if getattr(args, "json", False):
        out = {"wall_time_s": total, "experiments": [r.as_dict() for r in reports]}
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
        return 0
    for r in reports:
        spent = sum(rec["wall_time_s"] for rec in r.records)
        aborted = sum(rec["result"]["status"] != "done" for rec in r.records)
        print(
            f"{r.name}: {len(r.computed)} run(s) computed, {len(r.skipped)} already finished, "
            f"{aborted} aborted (non-finite or > 1e6 gradient norm; kept and counted); "
            f"compute time of this sweep's {len(r.records)} runs {spent / 60:.1f} min; "
            f"CPU time of the runs computed now {r.cpu_time_s / 60:.1f} min; "
            f"{r.folder / 'summary.csv'} lists every finished run there"
        )
    print(f"wall time of this call: {total / 60:.1f} min")
    return 0
