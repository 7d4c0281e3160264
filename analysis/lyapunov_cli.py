"""``lstmlif lyapunov MODEL``: the measured Lyapunov spectrum of the backward dynamics
(``analysis.lyapunov``) beside the independent-steps estimate and the prediction from the input
statistics (``analysis.lyapunov_predict``), each named as what it is.

The measurement is the QR recursion along simulated trajectories (95% intervals over seeds);
the independent-steps estimate shuffles a simulated trajectory in time (so
``measured - independent`` is the effect of temporal correlations); the prediction uses no
simulation and says "not applicable", with the reason, where its method cannot take the model
or input (input std 0, three or more states).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from lstmlif.analysis.lyapunov import (
    LIMITS,
    LN10,
    SpectrumEstimate,
    estimate_spectrum,
    learnable_delay,
)
from lstmlif.analysis.lyapunov_predict import (
    IndependentSteps,
    Prediction,
    independent_steps,
    predict_top,
)
from lstmlif.fileio import jsonable
from lstmlif.neurons import SURROGATES, get_model, model_class

__all__ = ["INPUT_LIMIT", "add_arguments", "run", "report"]

#: The largest input mean or standard deviation accepted (``--input-mean``, ``--input-std``):
#: beyond it a state of a leaky neuron (about mean / (1 - alpha), times the Jacobian's entries)
#: comes within a few orders of magnitude of float64's range, and a standard deviation below
#: 1e-16 of the mean is lost to rounding.
INPUT_LIMIT = 1e100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif lyapunov MODEL --param NAME=VALUE ... [options]``."""
    parser.add_argument("model", help="a registered model name (see lstmlif inspect)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a model parameter"
    )
    parser.add_argument("--input-mean", type=float, default=None, help="default: the model's")
    parser.add_argument(
        "--input-std", type=float, default=None, help="default: the model's; 0 is a constant input"
    )
    parser.add_argument("--steps", type=int, default=2000, help="counted steps per trajectory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="SEED")
    parser.add_argument("--batch", type=int, default=64, help="neurons per seed")
    parser.add_argument("--warmup", type=int, default=100, help="transient steps dropped")
    parser.add_argument("--burn", type=int, default=100, help="alignment steps of the QR")
    parser.add_argument(
        "--detach-reset",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="no gradient through the spike in the reset (default: the model's own)",
    )
    parser.add_argument(
        "--surrogate", default=None, help=f"one of {sorted(SURROGATES)} (default triangle)"
    )
    parser.add_argument("--convention", default=None, help="paper or code (default: model's)")
    parser.add_argument("--reset", default=None, help="subtract or zero (default: model's)")
    parser.add_argument("--psi-zero", action="store_true", help="psi = 0 everywhere")
    parser.add_argument(
        "--no-predict",
        action="store_true",
        help="skip the independent-steps estimate and the prediction",
    )


def report(
    est: SpectrumEstimate, ind: IndependentSteps | None, pred: Prediction | None
) -> dict[str, Any]:
    """The JSON record: ``exponents`` (measured, largest first, -inf past the product's rank),
    ``independent_steps``, ``prediction`` (``"not applicable"`` with its ``reason`` where it
    cannot be made) and ``correlation_gap`` = measured - independent-steps top exponent."""
    model = est.model
    exps = [float(v) for v in est.exponents]
    n = len(model.state_names)
    rep: dict[str, Any] = {
        "model": model_class(model).name,
        "params": {k: float(np.asarray(v)) for k, v in model.params().items()},
        "convention": model.convention,
        "reset": model.reset,
        "detach_reset": bool(model.detach_reset),
        "surrogate": model.surrogate.name,
        "input_mean": est.input_mean,
        "input_std": est.input_std,
        "steps": est.steps,
        "seeds": list(est.seeds),
        "batch": est.batch,
        "exponents": exps,
        "ci95": [float(v) for v in est.ci95],
        "decades_per_step": [v / LN10 for v in exps],
        "per_seed": est.per_seed.tolist(),
        "product_rank": est.rank,
        "sum_of_exponents": float(np.sum(est.exponents)),
        "mean_log_abs_det": est.log_det,
        "rate": est.rate,
        "in_window": est.in_window,
        "learnable_delay_3_decades": float(learnable_delay(exps[0])),
        "seconds": est.seconds,
    }
    if est.rank is not None and est.rank < n:
        which = f"exponent {n} is" if est.rank == n - 1 else f"exponents {est.rank + 1}..{n} are"
        rep["singular_note"] = (
            f"det J_t = 0 exactly at some step: the product has rank <= {est.rank}, so "
            f"{which} -inf and both sides of the sum identity are -inf"
        )
    if ind is not None:
        rep["independent_steps"] = ind.as_dict()
        finite = math.isfinite(exps[0]) and math.isfinite(ind.top)
        rep["correlation_gap"] = exps[0] - ind.top if finite else None
    if pred is not None:
        rep["prediction"] = pred.as_dict()
    return rep


def _model(args: argparse.Namespace) -> Any:
    from lstmlif.analysis.stability import parse_params

    params = parse_params(args.param)
    cls = model_class(args.model)
    switches: dict[str, Any] = {}
    if args.detach_reset is not None:
        if args.detach_reset not in cls.detach_options:
            raise ValueError(
                f"--{'' if args.detach_reset else 'no-'}detach-reset: {cls.__name__} supports "
                f"detach_reset in {list(cls.detach_options)} only"
            )
        switches["detach_reset"] = args.detach_reset
    if args.surrogate is not None:
        if args.surrogate not in SURROGATES:
            raise ValueError(
                f"--surrogate: unknown name {args.surrogate!r}; choose one of {sorted(SURROGATES)}"
            )
        switches["surrogate"] = args.surrogate
    for opt in ("convention", "reset"):
        value = getattr(args, opt)
        if value is not None:
            allowed = getattr(cls, f"{opt}s")
            if value not in allowed:
                raise ValueError(f"--{opt}: {value!r} is not one of {list(allowed)}")
            switches[opt] = value
    return get_model(cls.name, **params, **switches)


def _check(args: argparse.Namespace) -> None:
    for name in ("input_mean", "input_std"):
        value = getattr(args, name)
        option = f"--{name.replace('_', '-')}"
        if value is None:
            continue
        if not math.isfinite(value):
            raise ValueError(f"{option} must be finite, got {value}")
        if abs(value) > INPUT_LIMIT:
            raise ValueError(
                f"{option} {value:g} is beyond the accepted range |{name.split('_')[1]}| <= "
                f"{INPUT_LIMIT:g}: the neuron's state (about the input over the leak) would "
                "come within reach of float64 overflow"
            )
    if args.input_std is not None and args.input_std < 0:
        raise ValueError(f"--input-std must be >= 0, got {args.input_std}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be integers >= 0, got {args.seeds}")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds repeats a seed: {args.seeds}")
    for name in ("batch", "warmup", "burn"):
        if getattr(args, name) < (1 if name == "batch" else 0):
            raise ValueError(f"--{name} must be >= {1 if name == 'batch' else 0}")
    if len(args.seeds) > LIMITS["seeds"]:
        raise ValueError(f"--seeds: {len(args.seeds)} seeds exceed the limit {LIMITS['seeds']}")


def _fmt(value: float, half: float | None = None) -> str:
    if not math.isfinite(value):
        return f"{value:+}"
    text = f"{value:+.6f}"
    if half is not None and math.isfinite(half):
        text += f" +- {half:.6f}"
    return text


def run(args: argparse.Namespace) -> int:
    """Measure and print the spectrum, the independent-steps estimate and the prediction
    (text, or JSON with ``--json``; the measured spectrum under ``exponents``, largest first)."""
    model = _model(args)
    _check(args)
    est = estimate_spectrum(
        model,
        args.input_mean,
        args.input_std,
        args.steps,
        args.seeds,
        args.batch,
        args.warmup,
        args.burn,
        psi_zero=args.psi_zero,
    )
    ind = pred = None
    if not args.no_predict and not args.psi_zero:
        ind = independent_steps(model, est.input_mean, est.input_std)
        pred = predict_top(model, est.input_mean, est.input_std)
    rep = report(est, ind, pred)
    if args.json:
        print(json.dumps(jsonable(rep), indent=2))
        return 0
    n = len(model.state_names)
    lines = [
        f"{type(model).__name__} ({model.convention} convention, {model.reset} reset"
        f"{', detached' if model.detach_reset else ''}, {model.surrogate.name} surrogate)",
        "parameters: " + ", ".join(f"{k}={v:.6g}" for k, v in rep["params"].items()),
        f"input I ~ N({est.input_mean:.4g}, {est.input_std:.4g}^2); {est.steps} steps x "
        f"{est.batch} neurons x {len(est.seeds)} seeds ({est.seconds:.1f} s)",
        f"spike rate {est.rate:.4f} per step; in the surrogate window {est.in_window:.4f}",
        "measured Lyapunov exponents of the backward dynamics (per step, mean +- 95% CI over "
        "seeds):",
    ]
    for i, (v, h) in enumerate(zip(est.exponents, est.ci95, strict=True)):
        if math.isfinite(v):
            ci = f"+- {h:.6f}" if math.isfinite(h) else "(one seed: no interval)"
            lines.append(f"  lambda_{i + 1} = {v:+.6f} {ci} nats  ({v / LN10:+.6f} decades)")
        else:
            lines.append(f"  lambda_{i + 1} = {v:+} (the product is exactly singular)")
    if est.log_det is not None:
        lines.append(
            f"sum of exponents {_fmt(float(np.sum(est.exponents)))}; "
            f"mean log|det J_t| {_fmt(est.log_det)}"
        )
    if "singular_note" in rep:
        lines.append(rep["singular_note"])
    lines.append(f"gradient falls 3 decades in {rep['learnable_delay_3_decades']:.4g} steps")
    if ind is not None and pred is not None:
        lines.append("top exponent lambda_1 side by side (nats per step):")
        lines.append(f"  measured            {_fmt(est.top, float(est.ci95[0]))}")
        gap = rep["correlation_gap"]
        gap = "undefined (an exponent is -inf)" if gap is None else _fmt(gap)
        lines.append(
            f"  independent steps   {_fmt(ind.top, ind.ci95)}  (simulated, shuffled in time; "
            f"measured - independent = {gap}: temporal correlations)"
        )
        if pred.applicable and pred.p_zero > 0:
            lines.append(
                f"  predicted           {_fmt(pred.top)}  ({pred.method}, from the input "
                f"statistics, no simulation: J = 0 exactly with probability {pred.p_zero:.3g} "
                f"per step; a window that meets no such step: {_fmt(pred.top_nonzero)})"
            )
        elif pred.applicable:
            lines.append(
                f"  predicted           {_fmt(pred.top, pred.ci95)}  ({pred.method}, "
                "from the input statistics, no simulation)"
            )
        else:
            lines.append(f"  predicted           not applicable ({pred.method}): {pred.reason}")
        if n > 1 and math.isfinite(ind.lower_bound):
            lines.append(
                f"  (frozen E log rho(J) {ind.frozen:+.6f}; lower bound (1/n) E log|det J| "
                f"{ind.lower_bound:+.6f}, over the independent steps' draws)"
            )
    print("\n".join(lines))
    return 0
