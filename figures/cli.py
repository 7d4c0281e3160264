"""``lstmlif figures`` / ``python -m lstmlif.figures``: make every figure (PNG, PDF, data,
index.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--only NAME`` (repeatable) and ``--out DIR`` (default figures/out/)."""
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


def run(args: argparse.Namespace) -> int:
    """Make the figures; print one line per figure, or JSON with ``--json``."""
    import matplotlib
    import torch

    matplotlib.use("Agg")  # files only: no window system needed

    from .registry import make_figures

    torch.set_num_threads(1)
    results = make_figures(only=args.only, out_dir=args.out)
    if getattr(args, "json", False):
        out = {
            name: {
                "paths": [str(p) for p in r["paths"]],
                "seconds": round(r["seconds"], 3),
                "caption": r["caption"],
            }
            for name, r in results.items()
        }
        out["index"] = str(Path(args.out) / "index.md")
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        for name, r in results.items():
            files = " ".join(Path(p).name for p in r["paths"])
            print(f"{name:<24} {r['seconds']:6.1f} s  {files}")
        print(f"index: {Path(args.out) / 'index.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m lstmlif.figures`` entry point: ``lstmlif figures`` with the same options and
    the same error handling (exit status 2 with a message for bad input)."""
    from lstmlif.cli import main as lstmlif_main

    return lstmlif_main(["figures", *(sys.argv[1:] if argv is None else argv)])
