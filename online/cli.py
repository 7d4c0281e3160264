"""``lstmlif online MODEL``: each online rule's gradient against BPTT's for one layer.

For each seed: a random layer of ``--hidden`` neurons of MODEL (its class's verification
parameters and switch set, the reset detached with ``--detach-reset``), recurrent weights
N(0, G^2 / H) (``--recurrent-scale G``; 0 gives a layer without them), inputs whose current has
mean M and standard deviation about S (``--input-mean``, ``--input-std``; default the class's
``input_stats``), T steps, and a loss (``--loss``: a random readout with squared error, or fixed
random weights on every spike and state). Prints per rule the relative error and the cosine
against BPTT over all trainable tensors and per tensor, ``memory_bytes``, ``seconds`` and the
``engine`` that ran its update (``--engine``: the generated numba kernels, NumPy, or auto).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .core import LinearLoss, ReadoutLoss, make_inputs, make_layer
from .measure import RULE_NAMES, compare, influence_bytes
from .rules import ENGINES

__all__ = ["add_arguments", "run", "MAX_BYTES"]

MAX_BYTES = 2 * 1024**3
"""Largest estimated memory of one run (RTRL's influence tensor and its temporaries, BPTT's
saved tensors) before it is refused."""

_BPTT_BYTES_PER_NEURON_STEP = 160
"""Bytes autograd saves per neuron-step and state, a bound above what ``online.bptt`` counts
(measured 96-130 for the registered models)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lstmlif.cli import number_list

    parser.add_argument("model", help="a registered model name (any alias)")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=["rtrl", "ostl", "eprop", "ottt"],
        metavar="RULE",
        help=f"rules to run, from {' '.join(RULE_NAMES)}",
    )
    parser.add_argument("--hidden", type=int, default=4, help="neurons in the layer")
    parser.add_argument("--inputs", type=int, default=3, help="inputs (input 0 is the bias)")
    parser.add_argument("--steps", type=int, default=1000, help="time steps T")
    parser.add_argument("--batch", type=int, default=1, help="sequences")
    parser.add_argument(
        "--recurrent-scale", type=float, default=0.5, help="G: W_rec ~ N(0, G^2 / H)"
    )
    parser.add_argument("--input-mean", type=float, default=None, help="mean input current")
    parser.add_argument("--input-std", type=float, default=None, help="its standard deviation")
    parser.add_argument(
        "--detach-reset", action="store_true", help="the model with its reset detached"
    )
    parser.add_argument("--loss", choices=("readout", "linear"), default="readout")
    parser.add_argument("--seeds", default=[0], **number_list(int, help="seeds"))
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="the dtype the online rules run in (BPTT, the reference, runs in float64)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="what runs the trace updates: generated numba kernels (fused), NumPy, or auto "
        "(fused for long runs; rtrl is NumPy under every engine)",
    )


def _check(args: argparse.Namespace) -> None:
    for name, lo, hi in (
        ("hidden", 1, 4096),
        ("inputs", 2, 100_000),
        ("steps", 1, 10_000_000),
        ("batch", 1, 100_000),
    ):
        value = getattr(args, name)
        if not lo <= value <= hi:
            raise ValueError(f"online: --{name} must lie in [{lo}, {hi}], got {value}")
    for name in ("recurrent_scale", "input_std"):
        value = getattr(args, name)
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"online: --{name.replace('_', '-')} must be finite and >= 0")
    if args.input_mean is not None and not np.isfinite(args.input_mean):
        raise ValueError("online: --input-mean must be finite")
    bad = [s for s in args.seeds if not 0 <= s <= 2**32 - 1]
    if bad:
        raise ValueError(f"online: --seeds must lie in [0, 2^32 - 1], got {bad[0]}")
    unknown = [r for r in args.rules if r not in RULE_NAMES]
    if unknown:
        raise ValueError(f"online: unknown rule(s) {unknown}; choose from {list(RULE_NAMES)}")
    if "eprop_random" in args.rules and args.loss != "readout":
        raise ValueError("online: eprop_random needs --loss readout (a readout to replace)")


def _summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max())}


def run(args: argparse.Namespace) -> int:
    from lstmlif.fileio import jsonable

    _check(args)
    runs = []
    for seed in args.seeds:
        switches = {"detach_reset": True} if args.detach_reset else {}
        layer = make_layer(
            args.model,
            args.hidden,
            args.inputs,
            recurrent=args.recurrent_scale > 0,
            recurrent_scale=args.recurrent_scale,
            input_mean=args.input_mean,
            input_std=args.input_std,
            seed=seed,
            **switches,
        )
        n = len(layer.model.state_names)
        if "rtrl" in args.rules:
            need = 4 * influence_bytes(layer, args.batch)
            if need > MAX_BYTES:
                raise ValueError(
                    f"online: RTRL's influence tensor (B H n P = {args.batch} x {args.hidden} x "
                    f"{n} x {layer.n_params()} float64) and its temporaries need about "
                    f"{need / 1e9:.2f} GB, more than {MAX_BYTES / 1e9:.2f} GB; use fewer neurons"
                )
        need = _BPTT_BYTES_PER_NEURON_STEP * args.steps * args.batch * args.hidden * (n + 1)
        if need > MAX_BYTES:
            raise ValueError(
                f"online: BPTT, the reference, would save about {need / 1e9:.2f} GB "
                f"(more than {MAX_BYTES / 1e9:.2f} GB); use fewer steps, neurons or sequences"
            )
        u = make_inputs(layer, args.steps, args.batch, seed=seed + 1)
        loss = (
            ReadoutLoss.random(layer, args.steps, args.batch, seed=seed + 2)
            if args.loss == "readout"
            else LinearLoss.random(layer, args.steps, args.batch, seed=seed + 2)
        )
        dtype = np.float32 if args.dtype == "float32" else np.float64
        res = compare(layer, u, loss, tuple(args.rules), dtype=dtype, engine=args.engine)
        runs.append({"seed": seed, **res})
    out: dict[str, Any] = {
        "model": layer.model.name,
        "switches": layer.model.switches() | {"surrogate": layer.model.surrogate.name},
        "hidden": args.hidden,
        "steps": args.steps,
        "batch": args.batch,
        "recurrent_scale": args.recurrent_scale,
        "loss": args.loss,
        "dtype": args.dtype,
        "engine": args.engine,
        "runs": runs,
        "summary": {
            r: {
                key: _summary([run_["rules"][r][key] for run_ in runs])
                for key in ("relative_error", "cosine", "memory_bytes", "seconds")
            }
            for r in args.rules
        },
    }
    if args.json:
        import json

        print(json.dumps(jsonable(out), indent=1))
        return 0
    print(
        f"{out['model']}: H = {args.hidden}, T = {args.steps}, G = {args.recurrent_scale}, "
        f"loss {args.loss}, {len(runs)} seed(s); spikes per seed "
        f"{[r['spikes'] for r in runs]}"
    )
    print(
        f"{'rule':14s} {'rel. error (median)':>20s} {'cosine (median)':>16s} "
        f"{'memory bytes':>13s} {'seconds':>8s} engine"
    )
    for r, s in out["summary"].items():
        print(
            f"{r:14s} {s['relative_error']['median']:20.3e} {s['cosine']['median']:16.6f} "
            f"{int(s['memory_bytes']['median']):13d} {s['seconds']['median']:8.3f} "
            f"{runs[0]['rules'][r]['engine']}"
        )
    return 0
