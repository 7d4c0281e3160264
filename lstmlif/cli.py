"""The ``lstmlif`` command line (also ``python -m lstmlif``).

Each subcommand lives in the module that does the work; that module supplies
``add_arguments(parser)`` and ``run(args) -> int``. Every subcommand has ``--json``. Modules are
imported only when their subcommand runs, so ``lstmlif inspect`` does not import matplotlib.
``figures`` is the one place where this package reaches up to the ``figures`` package: the
command line sits above both.

Parsing rules shared by every subcommand (``Parser``):

- a token that reads as a number, negative ones included (``-1e3``, ``-.5``, ``-inf``), or as a
  comma-separated list of numbers (``-0.5,0.5``), is a value, never an option, so
  ``--logits 1 -1e3`` and ``--betas -0.5,0.5`` work;
- every help text shows the option's default (``HelpFormatter``);
- ``number_list`` makes an option that takes numbers separated by spaces, commas or both
  (``--betas -0.5 0.5``).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from lstmlif import __version__
from lstmlif.fileio import jsonable

__all__ = ["jsonable", "COMMANDS", "HelpFormatter", "Parser", "build_parser", "main", "number_list"]

COMMANDS: dict[str, tuple[str, str]] = {
    "figures": ("lstmlif.figures.cli", "make every figure (PNG, PDF, data, captions)"),
    "verify": ("lstmlif.analysis.gradcheck", "the gradient-check table: adjoint vs autograd vs FD"),
    "inspect": ("lstmlif.analysis.interop", "Jacobian, spectrum, period, norms, memory horizon"),
    "export-nir": ("lstmlif.analysis.nir_export", "a registered model written as a NIR graph"),
    "derive": ("lstmlif.analysis.symbolic", "the SymPy derivation of a model's gradient recursion"),
    "paper": ("lstmlif.analysis.paper", "each number the paper printed, recomputed, side by side"),
    "compare": ("lstmlif.analysis.compare", "every model at its paper's initialisation, claims"),
    "lyapunov": ("lstmlif.analysis.lyapunov_cli", "Lyapunov spectrum of the backward dynamics"),
    "experiment": ("lstmlif.experiments.cli", "long-delay learning experiments"),
    "online": ("lstmlif.online.cli", "online rules (RTRL, OSTL, e-prop, OTTT) against BPTT"),
}


_NUM = r"[-+]?((\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)"
#: A command-line token that is a value, not an option: a number (decimal, exponent, inf or
#: nan, with an optional sign) or a comma-separated list of numbers (``-0.5,0.5``).
NUMBER = re.compile(rf"^{_NUM}(,{_NUM})*$", re.I)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to every option whose help does not already name its default;
    options without a meaningful default (None, False, an empty list) are left as they are."""

    @staticmethod
    def _has_default(action: argparse.Action) -> bool:
        default = action.default
        return not (
            default is argparse.SUPPRESS
            or default is None
            or default is False
            or (isinstance(default, (list, tuple)) and not default)
            or not action.option_strings
        )

    def add_argument(self, action: argparse.Action) -> None:
        if not action.help and action.help is not argparse.SUPPRESS and self._has_default(action):
            action = copy.copy(action)  # an option without help still shows its default
            action.help = f"default: {self._shown(action)}"
        super().add_argument(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").strip()
        if "default" in text.lower() or not self._has_default(action):
            return text
        return f"{text} (default: {self._shown(action)})"

    @staticmethod
    def _shown(action: argparse.Action) -> str:
        default = action.default
        return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that reads any number token (``-1e3``, ``-.5``, ``-inf``) as a
    value, not as an option, shows defaults in help, and takes options only by their whole
    name (``allow_abbrev=False``: ``--only x`` is refused, not read as ``--only-disagreements``);
    subparsers inherit all three (they are built with this class, without its arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NUMBER


class _NumberList(argparse.Action):
    """Collects numbers given as separate tokens, comma-separated, or both."""

    def __init__(self, *args: Any, kind: Callable[[str], Any] = float, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        tokens = [values] if isinstance(values, str) else list(values)
        out = []
        for token in tokens:
            for text in (s.strip() for s in token.split(",")):
                if not text:
                    continue
                try:
                    value = self.kind(text)
                except ValueError:
                    what = "an integer" if self.kind is int else "a number"
                    parser.error(f"{option_string}: {text!r} is not {what}")
                if isinstance(value, float) and not math.isfinite(value):
                    parser.error(f"{option_string}: {text!r} is not a finite number")
                out.append(value)
        if not out:
            parser.error(f"{option_string}: give at least one number")
        setattr(namespace, self.dest, out)


def number_list(kind: Callable[[str], Any] = float, **kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for ``add_argument`` of an option that takes a list of numbers
    separated by spaces, commas or both (``--betas -0.5 0.5``, ``--betas=-0.5,0.5``); ``kind``
    converts each number (``int`` or ``float``); finite values only. Example:
    ``parser.add_argument("--seeds", **number_list(int, help="seeds"))``."""
    return {"nargs": "+", "action": _NumberList, "kind": kind, "metavar": "X", **kwargs}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its arguments."""
    parser = Parser(
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


class _TaggedStream:
    """``sys.stdout`` during a command: an OSError while writing or flushing it is marked as
    the standard output's (it names no file of its own), so the message can say so."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            err.lstmlif_stream = "standard output"  # type: ignore[attr-defined]
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            err.lstmlif_stream = "standard output"  # type: ignore[attr-defined]
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: Exit status after a broken pipe (the reader of our output went away, as ``head`` does):
#: 128 + SIGPIPE, what a shell reports for ``cat``, ``yes`` or ``seq`` killed by SIGPIPE, so
#: ``set -o pipefail`` treats ``lstmlif ... | head`` like ``seq 100000 | head``; no message.
BROKEN_PIPE_STATUS = 141


def _quiet_stdout() -> None:
    """Point the standard output's file descriptor at /dev/null, so that the interpreter's
    final flush of a broken pipe neither fails nor prints "Exception ignored"."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, AttributeError, ValueError):
        pass


def _oserror_line(err: OSError) -> str:
    from lstmlif.fileio import describe_oserror

    stream = getattr(err, "lstmlif_stream", None)
    if stream and not err.filename:
        return f"{stream}: {describe_oserror(err)}"
    return describe_oserror(err)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 success, 1 a failed check (or an internal
    error), 2 bad input or an unusable file or folder (the reason on stderr in one line naming
    the file, or "standard output", never a traceback; ``LSTMLIF_DEBUG=1`` shows the traceback
    of an internal error), 130 interrupted, 141 (128 + SIGPIPE) when the reader of the output
    went away (``lstmlif derive lstmlif | head -3``): the rest of the output is dropped
    without a message, as command-line tools do."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    who = f"lstmlif {args.command}"
    real_stdout = sys.stdout
    sys.stdout = _TaggedStream(real_stdout)
    try:
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return status
    except BrokenPipeError as err:
        if getattr(err, "lstmlif_stream", None) is None and err.filename:
            print(f"{who}: error: {_oserror_line(err)}", file=sys.stderr)
            return 2
        _quiet_stdout()
        return BROKEN_PIPE_STATUS
    except ValueError as err:
        print(f"{who}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder or file the command cannot read or write
        print(f"{who}: error: {_oserror_line(err)}", file=sys.stderr)
        if getattr(err, "lstmlif_stream", None):
            _quiet_stdout()  # what is left in the buffer cannot be written either
        return 2
    except MemoryError as err:
        if getattr(err, "complete_message", False):  # refused before the work, with sizes
            print(f"{who}: error: {err}", file=sys.stderr)
        else:
            detail = f" ({err})" if str(err) else ""
            print(
                f"{who}: error: not enough memory for this run{detail}; use smaller sizes",
                file=sys.stderr,
            )
        return 2
    except KeyboardInterrupt:
        print(f"{who}: interrupted (finished results are kept)", file=sys.stderr)
        return 130
    except Exception as err:  # a defect: say so in one line, the traceback only on request
        if os.environ.get("LSTMLIF_DEBUG"):
            raise
        print(
            f"{who}: internal error: {type(err).__name__}: {err} (please report it; set "
            "LSTMLIF_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if isinstance(sys.stdout, _TaggedStream):
            sys.stdout = real_stdout
