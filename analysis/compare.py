"""Every registered model at its paper's initialisation, side by side (``lstmlif compare``).

For each model, N parameter draws from the class's own initialisation distribution
(``NeuronModel.sample_init``: the official uniform ranges for adLIF and SE-/EF-adLIF, the fixed
defaults where the paper fixes them) are analysed below threshold (``analysis.stability``, the
Jacobian at rest taken from the step function):

- the memory horizon -1/ln rho(J) (steps; inf where rho >= 1): median, min and max;
- log10 sup_{k <= kmax} ||J^k||_2 (the transient amplification; for a growing map it grows with
  kmax): median, min and max;
- the share of draws that grow below threshold (an eigenvalue outside the unit circle);
- each published claim the class declares (``NeuronModel.paper_claims``) with the verdict its
  ``judge`` reaches on these draws ("holds", "fails", "partly" or "not testable").

Each model gets its own random stream (seed, position in the registry), so the draws of a model
do not depend on which other models are compared.
"""

from __future__ import annotations

import argparse
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmlif.fileio import jsonable
from lstmlif.neurons import NeuronModel, model_class, model_names
from lstmlif.neurons.base import VERDICTS

from .stability import classify, log10_sup_power_norm, memory_horizon, spectral_radius

__all__ = ["Context", "analyse", "compare_model", "compare_table", "add_arguments", "run"]


def analyse(model: NeuronModel, kmax: int = 10000) -> dict[str, np.ndarray]:
    """The sub-threshold statistics of a model whose parameters have the broadcast shape P:
    ``spectral_radius``, ``memory_horizon``, ``log10_sup_norm`` (2-norm, k <= kmax) and
    ``class`` (see ``stability.classify``), each an array of shape P."""
    return {
        "spectral_radius": np.asarray(spectral_radius(model)),
        "memory_horizon": np.asarray(memory_horizon(model)),
        "log10_sup_norm": np.asarray(log10_sup_power_norm(model, ord=2, kmax=kmax)),
        "class": np.asarray(classify(model)),
    }


@dataclass(frozen=True)
class Context:
    """What a ``PaperClaim.judge`` receives: the model's name, its draws (one model with array
    parameters of shape (N,)), their statistics (``analyse``) and ``analyse`` itself for any
    other model (e.g. the same draws under another discretisation), at the same kmax."""

    name: str
    draws: NeuronModel
    stats: dict[str, np.ndarray]
    kmax: int

    def analyse(self, model: NeuronModel) -> dict[str, np.ndarray]:
        return analyse(model, self.kmax)


MAX_DRAWS = 100_000
MAX_WORK = 2e9
"""Limits of one compare row: the draws, and draws x kmax (the power sweep's work: 2 x 1e8
draw-steps took 6 s here, so 2e9 is about a minute per model)."""


def _summary(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=np.float64).ravel()
    return {"median": float(np.median(x)), "min": float(np.min(x)), "max": float(np.max(x))}


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"compare: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _draws(name: str, draws: int, seed: int) -> NeuronModel:
    cls = model_class(name)
    # a stream per model name: the same draws whichever models are registered or selected
    rng = np.random.default_rng([seed, zlib.crc32(cls.name.encode())])
    model = cls.sample_init(rng, draws)
    shapes = {k: np.shape(v) for k, v in model.params().items()}
    if any(s not in ((), (draws,)) for s in shapes.values()):
        raise ValueError(
            f"compare: {cls.__name__}.sample_init returned parameter shapes {shapes}, expected "
            f"scalars or ({draws},)"
        )
    return model


def _judge(fn: Callable[[Context], tuple[str, str]] | None, ctx: Context) -> tuple[str, str]:
    if fn is None:
        return "not testable", "nothing here tests this statement"
    verdict, evidence = fn(ctx)
    if verdict not in VERDICTS:
        raise ValueError(f"compare: a claim of {ctx.name} gave the verdict {verdict!r}")
    return verdict, evidence


def compare_model(name: str, draws: int = 1000, seed: int = 0, kmax: int = 10000) -> dict:
    """One model's row: the draws' statistics (median, min, max), the growing share, the
    parameter ranges drawn and every paper claim with its verdict (plain data)."""
    draws = _check_int("draws", draws, 1)
    seed = _check_int("seed", seed, 0)
    kmax = _check_int("kmax", kmax, 1)
    if draws > MAX_DRAWS or draws * kmax > MAX_WORK:
        raise ValueError(
            f"compare: draws x kmax = {draws} x {kmax} is above the limit (draws <= "
            f"{MAX_DRAWS}, draws x kmax <= {MAX_WORK:.0e}: each draw keeps its own Jacobian "
            "power through kmax steps); lower --draws or --kmax"
        )
    cls = model_class(name)
    model = _draws(cls.name, draws, seed)
    stats = analyse(model, kmax)
    grows = np.broadcast_to(stats["class"] == "growing", (draws,))
    ctx = Context(cls.name, model, stats, kmax)
    claims = []
    for c in cls.paper_claims():
        verdict, evidence = _judge(c.judge, ctx)
        claims.append(
            {
                "source": c.source,
                "quote": c.quote,
                "check": c.check,
                "verdict": verdict,
                "evidence": evidence,
            }
        )
    return {
        "model": cls.name,
        "label": cls.label or cls.name,
        "group": cls.group,
        "draws": draws,
        "params": {k: _summary(v) for k, v in model.params().items()},
        "memory_horizon": _summary(np.broadcast_to(stats["memory_horizon"], (draws,))),
        "log10_sup_norm": _summary(np.broadcast_to(stats["log10_sup_norm"], (draws,))),
        "spectral_radius": _summary(np.broadcast_to(stats["spectral_radius"], (draws,))),
        "growing": float(np.mean(grows)),
        "kmax": kmax,
        "claims": claims,
    }


def compare_table(
    models: tuple[str, ...] | None = None, draws: int = 1000, seed: int = 0, kmax: int = 10000
) -> list[dict]:
    """``compare_model`` for every registered model (or those named), registry order."""
    names = model_names() if models is None else tuple(model_class(m).name for m in models)
    return [compare_model(n, draws, seed, kmax) for n in dict.fromkeys(names)]


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif compare [--models M ...] [--draws N] [--seed S] [--kmax K] [--json]``."""
    parser.add_argument(
        "--models", nargs="+", default=None, metavar="MODEL", help="default: every model"
    )
    parser.add_argument("--draws", type=int, default=1000, help="initial draws per model")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--kmax", type=int, default=10000, help="horizon of sup_k ||J^k||")


def _num(x: float, digits: int = 3) -> str:
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def _span(s: dict[str, float]) -> str:
    if s["min"] == s["max"]:
        return _num(s["median"])
    return f"{_num(s['median'])} [{_num(s['min'])}, {_num(s['max'])}]"


def run(args: argparse.Namespace) -> int:
    """Print the table and the claims (or JSON with ``--json``; inf as the string "inf")."""
    rows = compare_table(
        None if args.models is None else tuple(args.models), args.draws, args.seed, args.kmax
    )
    if args.json:
        print(json.dumps(jsonable(rows), indent=2))
        return 0
    head = (
        "model",
        "memory horizon (steps)",
        f"log10 sup_(k<={args.kmax}) ||J^k||_2",
        "growing",
    )
    cells = [head]
    for r in rows:
        cells.append(
            (
                r["label"],
                _span(r["memory_horizon"]),
                _span(r["log10_sup_norm"]),
                f"{100 * r['growing']:.1f}%",
            )
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    print(
        f"Sub-threshold analysis at each paper's initialisation ({args.draws} draws, seed "
        f"{args.seed}); median [min, max]"
    )
    for i, c in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nPublished claims:")
    for r in rows:
        for c in r["claims"]:
            print(f'  {r["label"]}: [{c["verdict"]}] {c["source"]}: "{c["quote"]}"')
            print(f"      check: {c['check']}; {c['evidence']}")
    return 0
