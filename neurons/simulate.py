"""The multi-step runner: one loop over time around a model's step function."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from .base import Coefficients, NeuronModel
from .ops import NUMPY_OPS, TORCH_OPS

__all__ = ["Trace", "simulate", "batch_shape"]


@dataclass(frozen=True)
class Trace:
    """A simulated sequence.

    spikes: (T, *batch) in {0, 1}; states: name -> (T, *batch) pre-reset potentials, i.e. for
    step t the value compared with the threshold at step t (``"v"``; ``"u"``, ``"a"``;
    ``"d"``, ``"s"``). Arrays are NumPy or torch, like the input current.
    """

    spikes: Any
    states: dict[str, Any]
    model: NeuronModel

    def __getitem__(self, name: str) -> Any:
        return self.spikes if name == "S" else self.states[name]


def batch_shape(model: NeuronModel, current_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The batch shape of a run: ``current.shape[1:]`` broadcast with every array parameter.

    Raises ``ValueError`` naming the parameter whose shape does not broadcast, or that is a
    SymPy expression (those belong to ``neurons.symbolic``, not to a run).
    """
    if len(current_shape) < 1:
        raise ValueError("simulate: current must have shape (T, *batch), got a scalar")
    shape = tuple(current_shape[1:])
    for name, value in model.params().items():
        if isinstance(value, sp.Basic):
            raise ValueError(
                f"simulate: parameter '{name}' is a SymPy expression ({value}); a run needs "
                "floats, NumPy arrays or torch tensors (neurons.symbolic is the SymPy view)"
            )
        pshape = (
            tuple(np.shape(value)) if not isinstance(value, torch.Tensor) else tuple(value.shape)
        )
        try:
            shape = np.broadcast_shapes(shape, pshape)
        except ValueError:
            raise ValueError(
                f"simulate: parameter '{name}' of shape {pshape} does not broadcast against "
                f"the batch shape {tuple(current_shape[1:])} of current (T, *batch)"
            ) from None
    return tuple(shape)


LOW_PRECISION = (torch.float16, torch.bfloat16)
"""Tensor dtypes refused for a run: their rounding flips a few percent of the spikes."""


def _check_current(current: Any) -> None:
    if isinstance(current, torch.Tensor):
        if not current.is_floating_point():
            raise ValueError(f"simulate: current must be a floating tensor, got {current.dtype}")
        if current.dtype in LOW_PRECISION:
            raise ValueError(
                f"simulate: current has dtype {current.dtype}, too coarse for spiking dynamics "
                "(its rounding flips a few percent of the spikes against float64); use "
                "float32 or float64"
            )
        with torch.no_grad():
            # a finite sum proves every entry finite; only an inf/NaN sum needs the full check
            total = current.sum(dtype=torch.float64)
            if not bool(torch.isfinite(total)) and not bool(torch.isfinite(current).all()):
                raise ValueError("simulate: current contains NaN or infinite values")
    else:
        if not np.all(np.isfinite(current)):
            raise ValueError("simulate: current contains NaN or infinite values")


def simulate(model: NeuronModel, current: Any) -> Trace:
    """Run ``model`` over ``current`` of shape (T, *batch), all states starting at 0.

    NumPy input -> float64 NumPy trace. Torch input -> torch trace in the input's dtype and
    device, differentiable (surrogate gradients) in the current and in any tensor parameter.
    The time axis is split once (``unbind``), so backward costs O(T). A run whose states
    overflow gives a RuntimeWarning naming the first non-finite step and the sub-threshold
    spectral radius; float16 and bfloat16 currents are refused (ValueError). NumPy runs walk the
    batch in blocks of neurons with the time loop inside each block (same result, faster).
    Raises ``ValueError`` for a scalar, complex or non-finite current and for array parameters
    that do not broadcast against ``current.shape[1:]``.
    """
    if not isinstance(model, NeuronModel):
        raise ValueError(f"simulate: expected a neuron model, got {type(model).__name__}")
    is_torch = isinstance(current, torch.Tensor)
    if not is_torch:
        if any(isinstance(v, torch.Tensor) for v in model.params().values()):
            raise ValueError(
                "simulate: the model has torch parameters; pass the current as a torch tensor"
            )
        try:
            complex_values = np.iscomplexobj(current)
            current = np.asarray(current, dtype=None if complex_values else np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                "simulate: current must be a numeric array of shape (T, *batch)"
            ) from None
        if complex_values:
            raise ValueError("simulate: current must be real, got complex values")
    _check_current(current)
    shape = batch_shape(model, tuple(current.shape))
    T = current.shape[0]
    ops = TORCH_OPS if is_torch else NUMPY_OPS
    p = model.coefficients(ops)
    if is_torch:
        p = p.on(current)
        zeros = current.new_zeros(shape)
        state = {n: zeros for n in model.state_names}
        state["S"] = zeros
        # One unbind (a single backward node), no per-step indexing: backward stays O(T).
        # Each I_t of shape current.shape[1:] broadcasts against the state of shape ``shape``.
        inputs = current.unbind(0)
        spikes, recs = [], {n: [] for n in model.state_names}
        for I_t in inputs:
            state, S = model.step(p, state, I_t, ops)
            spikes.append(S)
            for n in model.state_names:
                recs[n].append(state[n])
        if T == 0:
            # empty outputs that are still part of the graph, so a loss on them backpropagates
            # (a zero gradient) to the current and to every tensor parameter
            link = current.sum() * 0
            for value in model.params().values():
                if isinstance(value, torch.Tensor) and value.requires_grad:
                    link = link + value.sum().to(current.dtype) * 0
            empty = current.new_zeros((0, *shape)) + link
            return Trace(empty, {n: empty for n in model.state_names}, model)
        trace = Trace(torch.stack(spikes), {n: torch.stack(r) for n, r in recs.items()}, model)
        warn_if_overflow(trace)
        return trace

    spikes = np.empty((T, *shape))
    recs = {n: np.empty((T, *shape)) for n in model.state_names}
    if T == 0:
        return Trace(spikes, recs, model)
    for rows in _row_blocks(shape):
        p_rows = _rows_of_coefficients(p, shape, rows)
        current_rows = _rows_of(current, len(shape) + 1, shape, rows, time_axis=True)
        sel = (slice(None),) if rows == slice(None) else (slice(None), rows)
        spikes_rows = spikes[sel]
        recs_rows = [(n, recs[n][sel]) for n in model.state_names]
        zeros = np.zeros(spikes_rows.shape[1:])
        state = {n: zeros for n in model.state_names}
        state["S"] = zeros
        step = model.step
        # an overflow is reported once, by warn_if_overflow, not at every NumPy operation
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(T):
                state, spikes_rows[t] = step(p_rows, state, current_rows[t], ops)
                for n, rec in recs_rows:
                    rec[t] = state[n]
    trace = Trace(spikes, recs, model)
    warn_if_overflow(trace)
    return trace


def _finite(x: Any) -> bool:
    """Whether every entry is finite: one sum first (NaN and inf propagate through it); the
    element-wise test only when the sum is not finite (a sum may overflow on its own)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(x))) or bool(np.all(np.isfinite(x)))


def subthreshold_spectral_radius(model: NeuronModel) -> float:
    """The largest spectral radius of the sub-threshold one-step Jacobian over the model's
    parameter points (the partial derivatives of its step at rest, psi = 0)."""
    from .derivatives import step_partials

    D = step_partials(model)
    params = [np.asarray(_numpy(v), dtype=np.float64) for v in model.params().values()]
    zeros = [0.0] * D.n
    flat = D.numpy["partials"](*zeros, 0.0, 0.0, 0.0, 0.0, *params)
    dx = D.split(flat)[0]
    shape = np.broadcast_shapes(*(np.shape(e) for row in dx for e in row))
    J = np.empty((*shape, D.n, D.n))
    for i in range(D.n):
        for j in range(D.n):
            J[..., i, j] = np.broadcast_to(np.asarray(dx[i][j], dtype=np.float64), shape)
    return float(np.max(np.abs(np.linalg.eigvals(J))))


def _numpy(v: Any) -> Any:
    return v.detach().to("cpu", torch.float64).numpy() if isinstance(v, torch.Tensor) else v


def warn_if_overflow(trace: Trace) -> None:
    """A RuntimeWarning naming the first step at which a state stopped being finite, and the
    sub-threshold spectral radius, when the run overflowed (nothing otherwise)."""
    bad = [n for n, x in trace.states.items() if not _finite(x)]
    if not bad:
        return
    first = None
    for n in bad:
        x = _numpy(trace.states[n])
        rows = np.flatnonzero(~np.all(np.isfinite(x.reshape(x.shape[0], -1)), axis=1))
        first = int(rows[0]) if first is None else min(first, int(rows[0]))
    try:
        radius = subthreshold_spectral_radius(trace.model)
        rho = f"; the sub-threshold map's spectral radius is {radius:.6g}"
    except (ValueError, TypeError, np.linalg.LinAlgError):
        rho = ""
    warnings.warn(
        f"simulate: {type(trace.model).__name__} overflowed: state(s) {bad} are not finite from "
        f"step {first} of {trace.spikes.shape[0]} on (0-based){rho}; gradients through those "
        "steps are not meaningful",
        RuntimeWarning,
        stacklevel=3,
    )


# NumPy runs go through the batch in blocks of about this many neurons (whole rows of the first
# batch axis), the time loop inside each block: the step's temporaries then stay small and
# cache-resident instead of being fresh multi-megabyte allocations at every step.
_BLOCK = 1 << 16


def _row_blocks(shape: tuple[int, ...]) -> list[slice]:
    """Slices of the first batch axis covering ``shape`` in blocks of about ``_BLOCK`` neurons."""
    if len(shape) == 0 or math.prod(shape) <= _BLOCK:
        return [slice(None)]
    per_row = max(1, math.prod(shape[1:]))
    step = max(1, _BLOCK // per_row)
    return [slice(i, min(i + step, shape[0])) for i in range(0, shape[0], step)]


def _rows_of(
    value: Any, rank: int, shape: tuple[int, ...], rows: slice, time_axis: bool = False
) -> Any:
    """``value`` (broadcasting against the batch ``shape``) restricted to batch rows ``rows``.

    With ``time_axis`` the value is (T, *b) and the batch starts at axis 1. A value without the
    first batch axis (missing or of size 1) is returned whole: it broadcasts over any rows.
    """
    if rows == slice(None) or not isinstance(value, np.ndarray):
        return value
    lead = 1 if time_axis else 0
    if value.ndim < rank:
        value = value.reshape(value.shape[:lead] + (1,) * (rank - value.ndim) + value.shape[lead:])
    if value.shape[lead] == shape[0] and shape[0] > 1:
        return value[:, rows] if time_axis else value[rows]
    return value


def _rows_of_coefficients(p: Coefficients, shape: tuple[int, ...], rows: slice) -> Coefficients:
    if rows == slice(None):
        return p
    return p.map(lambda v: _rows_of(v, len(shape), shape, rows))
