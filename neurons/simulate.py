"""The multi-step runner: one loop over time around a model's step function."""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch

from .base import Coefficients, NeuronModel
from .ops import NUMPY_OPS, TORCH_OPS

__all__ = [
    "ESTIMATE_FROM_STEPS",
    "MEMORY_SHARE",
    "MemoryLimitError",
    "NODE_BYTES",
    "OverflowWatch",
    "Trace",
    "autograd_bytes",
    "available_memory",
    "batch_shape",
    "check_memory",
    "check_layout",
    "first_nonfinite",
    "graph_nodes_per_step",
    "memory_limit",
    "simulate",
    "warn_if_overflow",
    "warn_overflow",
]


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


def check_layout(current: torch.Tensor, who: str) -> None:
    """A ValueError unless ``current`` is an ordinary dense (strided) tensor with values: a
    sparse (COO, CSR, ...), nested or meta tensor is refused by name."""
    if current.layout != torch.strided:
        raise ValueError(
            f"{who}: current must be a dense tensor, got layout {current.layout}; "
            "pass current.to_dense()"
        )
    if getattr(current, "is_nested", False):
        raise ValueError(f"{who}: current must be a dense tensor, got a nested tensor")
    if current.device.type == "meta":
        raise ValueError(f"{who}: current is on the meta device (it has no values)")


def _check_current(current: Any) -> None:
    if isinstance(current, torch.Tensor):
        check_layout(current, "simulate")
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


#: Bytes an autograd node of a run costs besides its tensors' numbers: the node, its saved
#: tensors' headers, the per-step state tensors and list slots (measured: LSTM-LIF 11 nodes a
#: step, 13.5 kB a step at one neuron; LIF 6 nodes, 8.7 kB), rounded up.
NODE_BYTES = 1536

#: Runs shorter than this many steps (and of fewer than 1,000 times as many neuron-steps) are
#: not estimated: their graph is small.
ESTIMATE_FROM_STEPS = 20_000


def available_memory() -> int:
    """Bytes this process may still allocate: the kernel's MemAvailable, lowered to what a
    cgroup limit leaves (containers); the physical memory where neither can be read."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 34
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(int(avail), 0)


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


_NODES: dict[tuple, int] = {}


def graph_nodes_per_step(model: NeuronModel, dtype: torch.dtype = torch.float64) -> int:
    """Autograd nodes one time step of ``simulate`` adds to the graph.

    Counted on runs of three and two steps at one neuron (the difference); remembered per
    model class, switches and which parameters are tensors that require grad.

    Parameters
    ----------
    model : NeuronModel
        The neuron.
    dtype : torch.dtype
        The current's dtype.

    Returns
    -------
    int
        Nodes per step, at least 1 (LIF 6, LSTM-LIF 11 at their defaults).
    """
    key = (
        type(model),
        dtype,
        model.convention,
        model.reset,
        bool(model.detach_reset),
        type(model.surrogate).__name__,
        tuple(
            (k, isinstance(v, torch.Tensor) and v.requires_grad, np.ndim(v) > 0)
            for k, v in model.params().items()
        ),
    )
    if key not in _NODES:
        _NODES[key] = _count_nodes(model, dtype)
    return _NODES[key]


def _count_nodes(model: NeuronModel, dtype: torch.dtype) -> int:

    def census(T: int) -> int:
        x = torch.zeros((T, 1), dtype=dtype, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = _simulate_torch(model, x)
        roots = [trace.spikes, *trace.states.values()]
        seen: set = set()
        stack = [r.grad_fn for r in roots]
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            stack.extend(n for n, _ in node.next_functions)
        return len(seen)

    return max(census(3) - census(2), 1)


def autograd_bytes(model: NeuronModel, steps: int, neurons: int, dtype: torch.dtype) -> int:
    """Estimated bytes of the autograd graph of ``simulate`` over ``steps`` x ``neurons``.

    `steps * nodes * (NODE_BYTES + neurons * itemsize)`, with `nodes` from
    ``graph_nodes_per_step``.

    Parameters
    ----------
    model : NeuronModel
        The neuron (its class, switches and which parameters require grad set `nodes`).
    steps, neurons : int
        The run's length and its number of neurons (the product of the batch shape).
    dtype : torch.dtype
        The current's dtype (its item size).

    Returns
    -------
    int
        Bytes (an estimate, not a measurement).
    """
    size = torch.empty((), dtype=dtype).element_size()
    return int(steps * graph_nodes_per_step(model, dtype) * (NODE_BYTES + neurons * size))


#: The share of the available memory one run may plan to use (the rest is left to the
#: machine's other work); ``LSTMLIF_MEMORY_LIMIT`` (bytes, or with K, M, G, T) replaces it.
MEMORY_SHARE = 0.75


def memory_limit() -> tuple[int, str]:
    """The memory one run may plan to use.

    Returns
    -------
    limit : int
        Bytes: ``LSTMLIF_MEMORY_LIMIT`` if set (bytes, or with K, M, G, T, e.g. ``8G``), else
        ``MEMORY_SHARE`` of ``available_memory()``.
    how : str
        How it was set, for messages.

    Raises
    ------
    ValueError
        Naming a malformed or non-positive ``LSTMLIF_MEMORY_LIMIT``.
    """
    text = os.environ.get("LSTMLIF_MEMORY_LIMIT", "").strip()
    if text:
        units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        scale = units.get(text[-1].upper(), 1)
        try:
            value = float(text[:-1] if text[-1].upper() in units else text) * scale
        except ValueError:
            raise ValueError(
                f"LSTMLIF_MEMORY_LIMIT={text!r} is not a size (bytes, or e.g. 512M, 8G)"
            ) from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"LSTMLIF_MEMORY_LIMIT={text!r} must be a positive size")
        return int(value), "set by LSTMLIF_MEMORY_LIMIT"
    avail = available_memory()
    return int(MEMORY_SHARE * avail), (
        f"{MEMORY_SHARE:.0%} of the {_gib(avail)} available; LSTMLIF_MEMORY_LIMIT changes it"
    )


class MemoryLimitError(MemoryError):
    """A run refused before it started: its estimated memory is above ``memory_limit``. The
    message is complete (what, the estimate, the limit and what to do)."""

    complete_message = True


def check_memory(needed: int, what: str, hint: str) -> None:
    """Refuse a run whose estimated memory is above ``memory_limit``; call it before the work.

    Parameters
    ----------
    needed : int
        The estimate in bytes.
    what : str
        What needs it, the start of the message (e.g. ``verify: one case of ...``).
    hint : str
        What to do instead, the end of the message.

    Raises
    ------
    MemoryLimitError
        (a MemoryError) naming ``what``, the estimate and the limit, when ``needed`` is above
        the limit.
    """
    limit, how = memory_limit()
    if needed > limit:
        raise MemoryLimitError(
            f"{what} needs about {_gib(needed)} (an estimate), more than the limit of "
            f"{_gib(limit)} ({how}); {hint}"
        )


def _check_graph_memory(model: NeuronModel, current: torch.Tensor, shape: tuple) -> None:
    T = int(current.shape[0])
    neurons = math.prod(shape)
    if T < ESTIMATE_FROM_STEPS and T * neurons < ESTIMATE_FROM_STEPS * 1000:
        return
    grad = torch.is_grad_enabled() and (
        current.requires_grad
        or any(isinstance(v, torch.Tensor) and v.requires_grad for v in model.params().values())
    )
    size = current.element_size()
    if grad:
        needed = autograd_bytes(model, T, neurons, current.dtype)
        what = f"simulate: the autograd graph of {T} steps x {neurons} neurons"
        hint = (
            "exact_simulate or exact_spikes (the adjoint, no per-step graph) or fused_spikes "
            "need only the states, or run shorter sequences"
        )
    else:
        needed = 2 * T * neurons * size * (1 + len(model.state_names))
        what = f"simulate: the trace of {T} steps x {neurons} neurons"
        hint = "run shorter sequences or fewer neurons"
    check_memory(needed, what, hint)


def simulate(model: NeuronModel, current: Any) -> Trace:
    """Run ``model`` over ``current`` of shape (T, *batch), all states starting at 0.

    NumPy input -> float64 NumPy trace. Torch input -> torch trace in the input's dtype and
    device, differentiable (surrogate gradients) in the current and in any tensor parameter.
    The time axis is split once (``unbind``), so backward costs O(T). A run whose states
    overflow gives a RuntimeWarning naming the first non-finite step and the sub-threshold
    spectral radius; float16 and bfloat16 currents are refused (ValueError). NumPy runs walk the
    batch in blocks of neurons with the time loop inside each block (same result, faster).
    Raises ``ValueError`` for a scalar, complex or non-finite current and for array parameters
    that do not broadcast against ``current.shape[1:]``. A torch run of at least
    ``ESTIMATE_FROM_STEPS`` steps (or 1,000 times as many neuron-steps) estimates its memory
    before it starts (with a gradient: the autograd graph, steps x nodes per step x
    (``NODE_BYTES`` + neurons x itemsize)) and raises
    ``MemoryLimitError`` (a MemoryError) naming the estimate and the limit (``memory_limit``)
    when it would not fit.
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
    if is_torch:
        _check_graph_memory(model, current, shape)
        trace = _simulate_torch(model, current)
        warn_if_overflow(trace)
        return trace
    T = current.shape[0]
    ops = NUMPY_OPS
    p = model.coefficients(ops)
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


def _simulate_torch(model: NeuronModel, current: torch.Tensor) -> Trace:
    """``simulate``'s torch path (checked input), without the overflow warning."""
    shape = batch_shape(model, tuple(current.shape))
    T = current.shape[0]
    ops = TORCH_OPS
    p = model.coefficients(ops).on(current)
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


def first_nonfinite(states: dict[str, Any]) -> tuple[list[str], int | None]:
    """The states (name -> (L, *batch) array or tensor) that are not finite somewhere, and the
    first row (step) at which any of them is not; ``([], None)`` when all are finite. One sum
    per state first; the row-wise test only for a state whose sum is not finite."""
    bad = [n for n, x in states.items() if not _finite(x)]
    first = None
    for n in bad:
        x = states[n]
        if isinstance(x, torch.Tensor):
            x = x.detach()
            rows = torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
            row = int(torch.nonzero(~rows)[0, 0])
        else:
            x = np.asarray(x)
            row = int(np.flatnonzero(~np.all(np.isfinite(x.reshape(x.shape[0], -1)), axis=1))[0])
        first = row if first is None else min(first, row)
    return bad, first


_HERE = (
    __file__.rsplit("/", 1)[0],  # neurons/
    torch.__file__.rsplit("/", 1)[0],
)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package's neurons and torch, so a
    warning points at the user's call whichever path (runner, kernel, layer) raised it."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        frame, level = frame.f_back, level + 1
    return level


def warn_overflow(model: NeuronModel, who: str, names: list[str], first: int, T: int) -> None:
    """The one overflow warning of every path (``simulate``, ``exact_simulate``,
    ``exact_spikes``, ``fused_simulate``, ``fused_spikes``, the layers): a RuntimeWarning naming
    the states, the first step (0-based) at which one is not finite, and the sub-threshold
    spectral radius rho (> 1: the map grows below threshold)."""
    try:
        radius = subthreshold_spectral_radius(model)
        rho = f"; the sub-threshold map's spectral radius is {radius:.6g}"
    except (ValueError, TypeError, np.linalg.LinAlgError):
        rho = ""
    warnings.warn(
        f"{who}: {type(model).__name__} overflowed: state(s) {list(names)} are not finite from "
        f"step {first} of {T} on (0-based){rho}; gradients through those steps are not "
        "meaningful",
        RuntimeWarning,
        stacklevel=_caller_stacklevel(),
    )


def warn_if_overflow(trace: Trace, who: str = "simulate") -> None:
    """``warn_overflow`` when a state of ``trace`` is not finite somewhere (nothing
    otherwise)."""
    bad, first = first_nonfinite(trace.states)
    if bad:
        warn_overflow(trace.model, who, bad, first, int(trace.spikes.shape[0]))


class OverflowWatch:
    """Finds the first non-finite step of a run made in segments (the exact and fused
    kernels): ``see(t0, states)`` with each segment's states (name -> (L, *batch)) from step
    ``t0``; ``report(model, who, T)`` warns once (``warn_overflow``) if any was not finite."""

    def __init__(self) -> None:
        self.bad: list[str] = []
        self.first: int | None = None

    def see(self, t0: int, states: dict[str, Any]) -> None:
        """Record the segment starting at step ``t0`` (a no-op once a step was found)."""
        if self.first is not None:
            return
        bad, first = first_nonfinite(states)
        if bad:
            self.bad, self.first = bad, t0 + int(first)

    def report(self, model: NeuronModel, who: str, T: int) -> None:
        """Warn if a non-finite step was seen."""
        if self.first is not None:
            warn_overflow(model, who, self.bad, self.first, T)


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
