"""Gradient checks: the generated adjoint against PyTorch autograd and finite differences.

For every registered model x every convention, reset and detach_reset it supports (its
``verify_params``, ``input_stats`` and default surrogate), on random currents that make the
neurons spike, with a random linear loss L = sum_t g_S[t] S[t] + sum_t sum_n g_n[t] x_n[t]:

- autograd: ``neurons.simulate`` on torch tensors (requiring grad) gives dL/dI and dL/dtheta; a
  second run through ``model.transition`` with a zero perturbation added to each state after
  every step gives the state adjoints dL/dx[t]. The NumPy adjoint generated from the step
  (``analysis.adjoint``) is run along the same trajectory; the error is
  max |adjoint - autograd| / max |autograd| per quantity, the largest over all quantities.
  Models with a recursion derived by hand (``analysis.hand_adjoint``) are checked the same way
  in a column of their own.
- finite differences: with the spike pattern held fixed, L is smooth, and Richardson-extrapolated
  central differences (steps h, h/2) along random directions in the input and in each parameter
  are compared with the ``psi_zero`` adjoint, |fd - adj| / max(|adj|, 1e-3 max |adj|). Every
  perturbed run must keep the spike pattern; otherwise h shrinks, then the current is re-drawn.

A case fails on an error above tolerance and is *vacuous* (also a failure) when no neuron spiked,
the surrogate slope psi is 0 at every step (the psi-terms go untested), or the gradient is zero
or not finite. ``lstmlif verify`` prints the table and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lstmlif.neurons import (
    CONVENTIONS,
    NUMPY_OPS,
    RESETS,
    TORCH_OPS,
    NeuronModel,
    Trace,
    get_model,
    get_surrogate,
    model_class,
    model_names,
    simulate,
)

from .adjoint import AdjointResult, adjoint, reduce_to_shape
from .hand_adjoint import hand_adjoint, has_hand_recursion

__all__ = [
    "switch_sets",
    "TOLERANCES",
    "FD_TOLERANCE",
    "Case",
    "make_case",
    "loss_value",
    "autograd_gradients",
    "compare",
    "finite_difference_check",
    "check_case",
    "iter_verify",
    "verify_table",
    "add_arguments",
    "run",
]


def switch_sets(name: str) -> list[tuple[str, str, bool]]:
    """Every (convention, reset, detach_reset) the registered model ``name`` supports."""
    cls = model_class(name)
    return list(itertools.product(cls.conventions, cls.resets, cls.detach_options))


TOLERANCES = {"float64": 1e-10, "float32": 1e-4}
"""Largest accepted relative error of the adjoint against autograd, by autograd's dtype."""

FD_TOLERANCE = 1e-6
"""Largest accepted relative error of finite differences against the psi = 0 adjoint."""

_DTYPES = {"float64": torch.float64, "float32": torch.float32}

MAX_NEURON_STEPS = 5_000_000
"""Largest steps x batch of one case: the autograd reference keeps about 470 bytes per
neuron-step (measured: 186 MB more at 4e5 neuron-steps), so this is about 2.4 GB."""


@dataclass(frozen=True)
class Case:
    """One check: a NumPy model, its current (T, *batch) and the loss weights.

    grad_spikes: (T, *batch) g_S; grad_states: state name -> (T, *batch) g_x.
    """

    model: NeuronModel
    current: np.ndarray
    grad_spikes: np.ndarray
    grad_states: dict[str, np.ndarray]


def make_case(
    name: str,
    convention: str,
    reset: str,
    detach_reset: bool,
    rng: np.random.Generator,
    steps: int = 120,
    batch: int = 4,
    *,
    surrogate: str | None = None,
    params: dict[str, Any] | None = None,
    input_scale: float = 1.0,
) -> Case:
    """A random case: current ~ input_scale * N(mean, std) of the model (its class's
    ``input_stats``), loss weights ~ N(0, 1); parameters the class's ``verify_params`` updated by
    ``params``; ``surrogate`` None means the model's own default."""
    cls = model_class(name)
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if not math.isfinite(input_scale):
        raise ValueError(f"input_scale must be finite, got {input_scale!r}")
    kw = dict(cls.verify_params)
    kw.update(params or {})
    if surrogate is not None:
        kw["surrogate"] = surrogate
    model = get_model(cls.name, convention=convention, reset=reset, detach_reset=detach_reset, **kw)
    mean, std = cls.input_stats
    current = input_scale * (mean + std * rng.standard_normal((steps, batch)))
    g_s = rng.standard_normal((steps, batch))
    g_x = {n: rng.standard_normal((steps, batch)) for n in model.state_names}
    return Case(model, current, g_s, g_x)


def loss_value(trace: Trace, grad_spikes: Any, grad_states: dict[str, Any]) -> Any:
    """L = sum g_S * S + sum_n sum g_n * x_n over a trace (NumPy or torch)."""
    total = (grad_spikes * trace.spikes).sum()
    for n, g in grad_states.items():
        total = total + (g * trace.states[n]).sum()
    return total


def _tensor(x: Any, dtype: torch.dtype, device: str, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device).requires_grad_(
        grad
    )


def _rounded(x: Any, dtype: torch.dtype) -> Any:
    """x rounded to ``dtype`` and back to float64 (so both sides see the same numbers)."""
    if dtype == torch.float64:
        return x
    out = np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)
    return float(out) if out.ndim == 0 else out


def autograd_gradients(
    case: Case, device: str = "cpu", dtype: str = "float64", states: bool = True
) -> dict[str, Any]:
    """PyTorch autograd of the case's loss on ``device`` in ``dtype``.

    Returns float64 NumPy arrays: "current" (T, *batch), "params" {name: shape of the parameter},
    "states" {name: (T, *batch)} (with ``states``; via ``model.transition`` and a zero
    perturbation eps_n[t] added to x_n[t], so dL/deps = dL/dx[t]), and the forward run,
    "trace" (a NumPy ``Trace`` of the torch trajectory, for the adjoint) and "case" (the case
    with every number rounded to ``dtype``).
    """
    tdt = _DTYPES[dtype]
    model = case.model
    np_params = {k: _rounded(v, tdt) for k, v in model.params().items()}
    np_model = model.replace(**np_params)
    rcase = Case(
        np_model,
        _rounded(case.current, tdt),
        _rounded(case.grad_spikes, tdt),
        {n: _rounded(g, tdt) for n, g in case.grad_states.items()},
    )
    leaves = {k: _tensor(v, tdt, device, grad=True) for k, v in np_params.items()}
    t_model = model.replace(**leaves)
    current = _tensor(rcase.current, tdt, device, grad=True)
    g_s = _tensor(rcase.grad_spikes, tdt, device)
    g_x = {n: _tensor(g, tdt, device) for n, g in rcase.grad_states.items()}
    trace = simulate(t_model, current)
    loss = loss_value(trace, g_s, g_x)
    names = list(leaves)
    inputs = [current, *(leaves[k] for k in names)]
    # a parameter the step never reads (e.g. gamma under the two-compartment "soma" reset) has
    # no path to the loss: its gradient is exactly 0
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]

    def out(x: torch.Tensor) -> np.ndarray:
        return x.detach().to("cpu", torch.float64).numpy()

    result: dict[str, Any] = {
        "current": out(grads[0]),
        "params": {k: out(g) for k, g in zip(names, grads[1:], strict=True)},
        "trace": Trace(out(trace.spikes), {n: out(x) for n, x in trace.states.items()}, np_model),
        "case": rcase,
    }
    if states:
        result["states"] = _state_adjoints(t_model, current.detach(), g_s, g_x)
    return result


def _state_adjoints(
    model: NeuronModel, current: torch.Tensor, g_s: torch.Tensor, g_x: dict[str, torch.Tensor]
) -> dict[str, np.ndarray]:
    """dL/dx[t] by autograd: x[t] = transition(x[t-1]) + eps[t], S[t] = H(z(x[t])), eps = 0."""
    ops = TORCH_OPS
    p = model.coefficients(ops)
    eps = {n: torch.zeros_like(current, requires_grad=True) for n in model.state_names}
    x = {n: torch.zeros_like(current[0]) for n in model.state_names}
    loss = current.new_zeros(())
    for t in range(current.shape[0]):
        x = model.transition(x, current[t], ops)
        x = {n: x[n] + eps[n][t] for n in model.state_names}
        spike = ops.spike(model.spike_argument(p, x, ops), model.surrogate)
        loss = loss + (g_s[t] * spike).sum()
        for n in model.state_names:
            loss = loss + (g_x[n][t] * x[n]).sum()
    grads = torch.autograd.grad(loss, [eps[n] for n in model.state_names])
    return {
        n: g.detach().to("cpu", torch.float64).numpy()
        for n, g in zip(model.state_names, grads, strict=True)
    }


def compare(ours: AdjointResult, ref: dict[str, Any]) -> dict[str, float]:
    """Relative errors max |ours - ref| / max |ref| for dL/dI, each parameter and each state."""

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        diff = float(np.max(np.abs(a - b))) if b.size else 0.0
        if not (math.isfinite(diff) and math.isfinite(scale)):
            return math.inf
        if scale == 0.0:
            return 0.0 if diff == 0.0 else math.inf
        return diff / scale

    errs = {"current": rel(reduce_to_shape(ours.current, ref["current"].shape), ref["current"])}
    for k, g in ref["params"].items():
        errs[k] = rel(ours.params[k], g)
    for n, g in ref.get("states", {}).items():
        errs["lambda_" + n] = rel(ours.states[n], g)
    return errs


def _spikes_and_loss(model: NeuronModel, current: np.ndarray, case: Case) -> tuple[Any, float]:
    trace = simulate(model, current)
    return trace.spikes, float(loss_value(trace, case.grad_spikes, case.grad_states))


def finite_difference_check(
    case: Case,
    rng: np.random.Generator,
    h: float = 1e-5,
    min_h: float = 1e-9,
) -> dict[str, Any]:
    """Richardson central differences (h, h/2) of L along random directions vs the psi=0 adjoint.

    Directions: one in the current (T, *batch), one per parameter (its shape). Returns
    {"rel_err", "errors" {direction: error}, "h" (the largest step used everywhere),
    "pattern_kept" (True when a step was found that left every spike unchanged)}.
    """
    model = case.model
    base = simulate(model, case.current)
    adj = adjoint(base, case.current, case.grad_spikes, case.grad_states, psi_zero=True)
    directions: list[tuple[str, np.ndarray]] = [
        ("current", rng.standard_normal(case.current.shape))
    ]
    for k, v in model.params().items():
        directions.append(
            (k, rng.choice([-1.0, 1.0], size=np.shape(v)) * max(1.0, np.max(np.abs(v))))
        )
    analytic = {}
    for k, d in directions:
        g = adj.current if k == "current" else adj.params[k]
        analytic[k] = float(np.sum(g * d))
    scale = max(abs(a) for a in analytic.values())
    step = h
    while step >= min_h:
        estimates, kept = {}, True
        for k, d in directions:
            values = []
            for s in (step, -step, step / 2, -step / 2):
                if k == "current":
                    m, cur = model, case.current + s * d
                else:
                    m, cur = model.replace(**{k: model.params()[k] + s * d}), case.current
                spikes, value = _spikes_and_loss(m, cur, case)
                if not np.array_equal(spikes, base.spikes):
                    kept = False
                    break
                values.append(value)
            if not kept:
                break
            d1 = (values[0] - values[1]) / (2 * step)
            d2 = (values[2] - values[3]) / step
            estimates[k] = (4 * d2 - d1) / 3
        if kept:
            errors = {
                k: abs(estimates[k] - analytic[k]) / max(abs(analytic[k]), 1e-3 * scale, 1e-300)
                for k in estimates
            }
            return {
                "rel_err": max(errors.values()),
                "errors": errors,
                "h": step,
                "pattern_kept": True,
            }
        step /= 10
    return {"rel_err": math.nan, "errors": {}, "h": step, "pattern_kept": False}


def check_case(
    case: Case,
    rng: np.random.Generator,
    device: str = "cpu",
    dtype: str = "float64",
    fd: bool = True,
) -> dict[str, Any]:
    """One row of the table: spikes, gradient norm, adjoint-vs-autograd and FD-vs-adjoint errors.

    ``problems`` lists what failed; ``ok`` is True when it is empty.
    """
    model = case.model
    ref = autograd_gradients(case, device=device, dtype=dtype)
    rcase = ref["case"]
    trace = ref["trace"]
    problems = []
    if dtype == "float64" and torch.device(device).type == "cpu":
        np_trace = simulate(model, case.current)
        if not np.array_equal(np_trace.spikes, trace.spikes):
            problems.append("torch and NumPy forward runs spike differently")
    ours = adjoint(trace, rcase.current, rcase.grad_spikes, rcase.grad_states)
    errs = compare(ours, ref)
    ag_err = max(errs.values())
    hand_err = math.nan
    if has_hand_recursion(model):
        hand = hand_adjoint(trace, rcase.current, rcase.grad_spikes, rcase.grad_states)
        hand_err = max(compare(hand, ref).values())
    n_spikes = int(np.sum(trace.spikes))
    grad_norm = float(np.linalg.norm(ours.current))
    finite = all(np.all(np.isfinite(g)) for g in ours.params.values()) and math.isfinite(grad_norm)
    if n_spikes == 0:
        problems.append("vacuous: no spike")
    else:
        # psi along the trajectory, from the model's own threshold argument (not the adjoint's)
        z = trace.model.spike_argument(trace.model.coefficients(NUMPY_OPS), trace.states, NUMPY_OPS)
        if not np.any(trace.model.surrogate(z) != 0):
            problems.append("vacuous: surrogate slope psi = 0 at every step")
    if not finite:
        problems.append("vacuous: gradient not finite")
    elif grad_norm == 0.0:
        problems.append("vacuous: zero gradient")
    if not ag_err <= TOLERANCES[dtype]:
        worst = max(errs, key=lambda k: errs[k])
        problems.append(f"autograd mismatch {ag_err:.2e} (worst: {worst})")
    if not (math.isnan(hand_err) or hand_err <= TOLERANCES[dtype]):
        problems.append(f"hand recursion: autograd mismatch {hand_err:.2e}")
    fd_err, fd_h = math.nan, math.nan
    if fd and n_spikes > 0:
        for _ in range(4):
            res = finite_difference_check(case, rng)
            if res["pattern_kept"]:
                fd_err, fd_h = res["rel_err"], res["h"]
                break
            std = type(model).input_stats[1]
            case = Case(
                model,
                case.current + 1e-3 * std * rng.standard_normal(case.current.shape),
                case.grad_spikes,
                case.grad_states,
            )
        if math.isnan(fd_err):
            problems.append("finite differences: no step keeps the spike pattern")
        elif not fd_err <= FD_TOLERANCE:
            problems.append(f"finite-difference mismatch {fd_err:.2e}")
    return {
        "model": model.name,
        "convention": model.convention,
        "reset": model.reset,
        "detach_reset": bool(model.detach_reset),
        "surrogate": model.surrogate.name,
        "steps": int(case.current.shape[0]),
        "batch": int(np.prod(case.current.shape[1:])),
        "spikes": n_spikes,
        "grad_norm": grad_norm,
        "autograd_rel_err": ag_err,
        "hand_rel_err": hand_err,
        "fd_rel_err": fd_err,
        "fd_step": fd_h,
        "device": device,
        "dtype": dtype,
        "ok": not problems,
        "problems": problems,
    }


def _check_device(device: str) -> str:
    if not isinstance(device, str):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu' or 'cuda'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but CUDA is not available to PyTorch on this machine "
            "(torch.cuda.is_available() is False); use --device cpu"
        )
    return device


def iter_verify(
    device: str = "cpu",
    dtype: str = "float64",
    steps: int = 120,
    batch: int = 4,
    seed: int = 0,
    *,
    models: tuple[str, ...] | None = None,
    surrogate: str | None = None,
    input_scale: float = 1.0,
    fd: bool = True,
) -> Iterator[dict[str, Any]]:
    """The rows of ``verify_table`` one at a time, as each case finishes (same arguments).

    The arguments are checked at the call, before any case runs."""
    _check_device(device)
    if surrogate is not None:
        get_surrogate(surrogate)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if steps * batch > MAX_NEURON_STEPS:
        raise ValueError(
            f"steps x batch = {steps} x {batch} = {steps * batch:.3g} neuron-steps per case is "
            f"more than the limit {MAX_NEURON_STEPS:.0e} (the autograd reference needs about "
            "470 bytes per neuron-step); lower --steps or --batch"
        )
    if not math.isfinite(input_scale):
        raise ValueError(f"input_scale must be finite, got {input_scale!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    models = _model_list(models)
    estimate_cost(models, steps, batch, dtype, check=True)
    return _rows(device, dtype, steps, batch, seed, models, surrogate, input_scale, fd)


#: Seconds per autograd node and step of one case (forward, backward, the NumPy run and the
#: adjoint together; measured about 0.5-1 ms a step for LSTM-LIF's 11 nodes at one neuron on
#: a shared 2-core machine): the rough time estimate ``verify`` prints above 10 s.
SECONDS_PER_NODE_STEP = 1e-4


def estimate_cost(
    models: tuple[str, ...], steps: int, batch: int, dtype: str = "float64", check: bool = False
) -> dict[str, float]:
    """Memory (bytes, the largest case) and time (seconds, every case; rough) of a verify
    run, estimated before any case runs: the autograd graph of the reference
    (``neurons.simulate.autograd_bytes``) plus the NumPy run, the adjoint and the finite
    differences, 8 float64 copies of spikes and states. With ``check``, a MemoryError naming
    the estimate and the limit (``neurons.simulate.memory_limit``) when the largest case would
    not fit. Returns {"bytes", "seconds", "cases"}."""
    from lstmlif.neurons.simulate import autograd_bytes, check_memory, graph_nodes_per_step

    worst, seconds, cases = 0, 0.0, 0
    for name in models:
        model = get_model(name)
        nodes = graph_nodes_per_step(model, _DTYPES[dtype])
        arrays = 8 * 8 * steps * batch * (1 + len(model.state_names))
        worst = max(worst, autograd_bytes(model, steps, batch, _DTYPES[dtype]) + arrays)
        n = len(switch_sets(name))
        cases += n
        seconds += n * steps * nodes * SECONDS_PER_NODE_STEP * (1 + batch / 1000)
    if check:
        check_memory(
            worst,
            f"verify: one case of {steps} steps x {batch} neurons",
            "lower --steps or --batch",
        )
    return {"bytes": float(worst), "seconds": seconds, "cases": float(cases)}


def _model_list(models: Any) -> tuple[str, ...]:
    """Registered names (canonical, without repeats) of ``models``; None means every model."""
    if models is None:
        return model_names()
    if isinstance(models, str):
        models = (models,)
    names = tuple(dict.fromkeys(model_class(m).name for m in models))
    if not names:
        raise ValueError("models is empty: name at least one model (None: every model)")
    return names


# A model's ``verify_stream`` (the paper's four models: 0 to 3) and the eight classic switch sets
# keep the numbers the verify table has always printed; every other model or switch set gets a
# stream keyed by its name, so that registering a model or adding a switch value moves no case.
_CLASSIC_SWITCHES = list(itertools.product(CONVENTIONS, RESETS, (False, True)))


def case_stream(seed: int, name: str, convention: str, reset: str, detach: bool) -> list[int]:
    """The seed sequence of one verification case (stable under registration changes)."""
    fixed = model_class(name).__dict__.get("verify_stream")  # not inherited by subclasses
    m = fixed if fixed is not None else 1000 + zlib.crc32(name.encode())
    key = (convention, reset, bool(detach))
    j = (
        _CLASSIC_SWITCHES.index(key)
        if key in _CLASSIC_SWITCHES
        else 1000 + zlib.crc32(repr(key).encode())
    )
    return [seed, m, j]


def _rows(device, dtype, steps, batch, seed, models, surrogate, input_scale, fd):
    for name in models:
        for conv, reset, detach in switch_sets(name):
            # each case has its own stream, the same whichever models are selected
            rng = np.random.default_rng(case_stream(seed, name, conv, reset, detach))
            case = make_case(
                name,
                conv,
                reset,
                detach,
                rng,
                steps,
                batch,
                surrogate=surrogate,
                input_scale=input_scale,
            )
            yield check_case(case, rng, device=device, dtype=dtype, fd=fd)


def verify_table(
    device: str = "cpu",
    dtype: str = "float64",
    steps: int = 120,
    batch: int = 4,
    seed: int = 0,
    *,
    models: tuple[str, ...] | None = None,
    surrogate: str | None = None,
    input_scale: float = 1.0,
    fd: bool = True,
    progress: bool | None = False,
) -> list[dict[str, Any]]:
    """The gradient-check table: one row (see ``check_case``) per model x convention x reset x
    detach_reset, autograd on ``device`` in ``dtype``, ``steps`` x ``batch`` random inputs.
    ``input_scale=0`` gives silent neurons: every row is then vacuous (a failure). ``progress``:
    a progress bar on stderr (None: only on a terminal). Raises ValueError for an unknown
    device, dtype, model or surrogate, or when CUDA is requested but not available."""
    rows = iter_verify(
        device,
        dtype,
        steps,
        batch,
        seed,
        models=models,
        surrogate=surrogate,
        input_scale=input_scale,
        fd=fd,
    )
    total = sum(len(switch_sets(m)) for m in _model_list(models))
    disable = None if progress is None else not progress
    return list(tqdm(rows, total=total, desc="verify", unit="case", disable=disable))


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lstmlif verify``."""
    parser.add_argument("--device", default="cpu", help="where autograd runs: cpu or cuda")
    parser.add_argument("--dtype", default="float64", choices=sorted(_DTYPES))
    parser.add_argument("--steps", type=int, default=120, help="sequence length T (default 120)")
    parser.add_argument("--batch", type=int, default=4, help="neurons per case (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="registered models to check (default: every registered model)",
    )
    parser.add_argument(
        "--surrogate", default=None, help="surrogate name (default: each model's own)"
    )
    parser.add_argument(
        "--input-scale",
        type=float,
        default=1.0,
        help="multiplies the random currents; 0 makes every case silent, hence vacuous (failing)",
    )
    parser.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")


def _announce(kwargs: dict[str, Any]) -> None:
    """On stderr, before a run estimated to take more than 10 s: its cases, sizes and the
    estimated memory and time (the rows then appear as each case finishes)."""
    import sys

    cost = estimate_cost(
        _model_list(kwargs["models"]), kwargs["steps"], kwargs["batch"], kwargs["dtype"]
    )
    if cost["seconds"] > 10:
        print(
            f"lstmlif verify: {int(cost['cases'])} cases of {kwargs['steps']} steps x "
            f"{kwargs['batch']} neurons: about {cost['seconds']:.0f} s and "
            f"{cost['bytes'] / 2**30:.2g} GiB a case (rough estimates)",
            file=sys.stderr,
            flush=True,
        )


def _fmt(x: float) -> str:
    return "-" if isinstance(x, float) and math.isnan(x) else f"{x:.1e}"


def run(args: argparse.Namespace) -> int:
    """Print the table row by row (or JSON with ``--json``); 0 if every case passes, else 1."""
    kwargs = dict(
        device=args.device,
        dtype=args.dtype,
        steps=args.steps,
        batch=args.batch,
        seed=args.seed,
        models=None if args.models is None else tuple(args.models),
        surrogate=args.surrogate,
        input_scale=args.input_scale,
        fd=not args.no_fd,
    )
    if getattr(args, "json", False):
        iter_verify(**kwargs)  # the arguments and the memory, before the estimate is printed
        _announce(kwargs)
        rows = verify_table(**kwargs, progress=None)
        ok = all(r["ok"] for r in rows)
        doc = {
            "ok": ok,
            "device": args.device,
            "dtype": args.dtype,
            "tolerance_autograd": TOLERANCES[args.dtype],
            "tolerance_fd": FD_TOLERANCE,
            "rows": [{k: _jsonable(v) for k, v in r.items()} for r in rows],
        }
        print(json.dumps(doc, indent=1))
        return 0 if ok else 1
    rows = iter_verify(**kwargs)  # checks the arguments and the memory before any output
    _announce(kwargs)
    head = (
        f"{'model':16} {'conv':5} {'reset':8} {'detach':6} {'spikes':>6} {'|dL/dI|':>9} "
        f"{'autograd':>9} {'hand':>9} {'FD':>9}  status"
    )
    print(
        f"generated adjoint vs autograd ({args.device}, {args.dtype}, tol "
        f"{TOLERANCES[args.dtype]:.0e}; 'hand': the hand-derived recursion, where one exists) "
        f"and finite differences vs psi=0 adjoint (tol {FD_TOLERANCE:.0e})"
    )
    print(head)
    print("-" * len(head))
    n = failed = 0
    for r in rows:
        status = "ok" if r["ok"] else "FAIL: " + "; ".join(r["problems"])
        print(
            f"{r['model']:16} {r['convention']:5} {r['reset']:8} {str(r['detach_reset']):6} "
            f"{r['spikes']:>6d} {r['grad_norm']:>9.2e} {_fmt(r['autograd_rel_err']):>9} "
            f"{_fmt(r['hand_rel_err']):>9} {_fmt(r['fd_rel_err']):>9}  {status}",
            flush=True,
        )
        n += 1
        failed += not r["ok"]
    print(f"{n - failed}/{n} cases passed")
    return 0 if failed == 0 else 1


def _jsonable(v: Any) -> Any:
    """NaN and infinite floats become null (strict JSON has no NaN); the row's problems say why."""
    return None if isinstance(v, float) and not math.isfinite(v) else v
