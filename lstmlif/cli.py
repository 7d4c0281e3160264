"""The ``lstmlif`` command line (also ``python -m lstmlif``).

Each subcommand lives in the module that does the work; that module supplies
``add_arguments(parser)`` and ``run(args) -> int``. Every subcommand has ``--json``. Modules are
imported only when their subcommand runs, so ``lstmlif inspect`` does not import matplotlib.
``figures`` is the one place where this package reaches up to the ``figures`` package: the
command line sits above both.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lstmlif import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "figures": ("lstmlif.figures.cli", "make every figure (PNG, PDF, data, captions)"),
    "verify": ("lstmlif.analysis.gradcheck", "the gradient-check table: adjoint vs autograd vs FD"),
    "inspect": ("lstmlif.analysis.stability", "Jacobian, spectrum, period, norms, memory horizon"),
    "derive": ("lstmlif.analysis.symbolic", "the SymPy derivation of a model's gradient recursion"),
    "paper": ("lstmlif.analysis.paper", "each number the paper printed, recomputed, side by side"),
    "experiment": ("lstmlif.experiments.cli", "long-delay learning experiments"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="lstmlif",
        description="Gradient theory of LIF, ALIF and LSTM-LIF (TC-LIF) spiking neurons.",
    )
    parser.add_argument("--version", action="version", version=f"lstmlif {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input, with the reason on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except ValueError as err:
        print(f"lstmlif {args.command}: error: {err}", file=sys.stderr)
        return 2
