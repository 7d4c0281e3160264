"""``lstmlif figures`` / ``python -m lstmlif.figures``: make every figure (PNG, PDF, data,
index.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--only NAME`` (repeatable), ``--out DIR`` (default figures/out/) and ``--results DIR``
    (where the experiment figures read their results)."""
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        default=None,
        help="make only this figure (repeatable); unknown names list the known ones",
    )
    parser.add_argument(
        "--out",
        type=str,
        default="figures/out",
        metavar="DIR",
        help="output folder (default: figures/out/)",
    )
    parser.add_argument(
        "--results",
        type=str,
        default=None,
        metavar="DIR",
        help="folder of the experiment results that figures such as 'experiments' draw "
        "(default: $LSTMLIF_RESULTS, else results/)",
    )


def results_folder(given: str | None) -> Path:
    """The results folder, absolute: ``given``, else ``$LSTMLIF_RESULTS``, else results/."""
    from lstmlif.experiments.runner import RESULTS_DIR

    folder = given or os.environ.get("LSTMLIF_RESULTS") or str(RESULTS_DIR)
    return Path(folder).expanduser().resolve()


def run(args: argparse.Namespace) -> int:
    """Make the figures; print one line per figure, or JSON with ``--json``. A figure named with
    ``--only`` that draws nothing (an experiment figure with no results in the results folder)
    is an error (ValueError: exit status 2) that names the folder; without ``--only`` such a
    figure is reported and left out."""
    import matplotlib
    import torch

    matplotlib.use("Agg")  # files only: no window system needed

    from .registry import make_figures

    results_dir = results_folder(getattr(args, "results", None))
    if getattr(args, "results", None) is not None and not results_dir.is_dir():
        raise ValueError(f"--results {args.results}: no such folder ({results_dir})")
    torch.set_num_threads(1)
    results = make_figures(only=args.only, out_dir=args.out, results_dir=results_dir)
    empty = {name: r.get("note", "nothing drawn") for name, r in results.items() if not r["paths"]}
    if getattr(args, "json", False):
        out = {
            name: {
                "paths": [str(p) for p in r["paths"]],
                "seconds": round(r["seconds"], 3),
                "caption": r["caption"],
                **({"note": empty[name]} if name in empty else {}),
            }
            for name, r in results.items()
        }
        out["index"] = str(Path(args.out) / "index.md")
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        for name, r in results.items():
            files = " ".join(Path(p).name for p in r["paths"])
            if name in empty:
                files = f"not drawn: {empty[name]}"
            print(f"{name:<24} {r['seconds']:6.1f} s  {files}")
        print(f"index: {Path(args.out) / 'index.md'}")
    wanted = [name for name in (args.only or []) if name in empty]
    if wanted:
        raise ValueError(
            "; ".join(f"figure {name!r} drew nothing: {empty[name]}" for name in wanted)
            + " (--results DIR says where the results are)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m lstmlif.figures`` entry point: ``lstmlif figures`` with the same options and
    the same error handling (exit status 2 with a message for bad input)."""
    from lstmlif.cli import main as lstmlif_main

    return lstmlif_main(["figures", *(sys.argv[1:] if argv is None else argv)])
