"""The multi-step runner: one loop over time around a model's step function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .models import NeuronModel
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

    Raises ``ValueError`` naming the parameter whose shape does not broadcast.
    """
    if len(current_shape) < 1:
        raise ValueError("simulate: current must have shape (T, *batch), got a scalar")
    shape = tuple(current_shape[1:])
    for name, value in model.params().items():
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


def _check_current(current: Any) -> None:
    if isinstance(current, torch.Tensor):
        if not current.is_floating_point():
            raise ValueError(f"simulate: current must be a floating tensor, got {current.dtype}")
        if not bool(torch.isfinite(current).all()):
            raise ValueError("simulate: current contains NaN or infinite values")
    else:
        if not np.all(np.isfinite(current)):
            raise ValueError("simulate: current contains NaN or infinite values")


def _torch_param(value: Any, like: torch.Tensor) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device=like.device, dtype=like.dtype)
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=like.device, dtype=like.dtype)
    return value


def simulate(model: NeuronModel, current: Any) -> Trace:
    """Run ``model`` over ``current`` of shape (T, *batch), all states starting at 0.

    NumPy input -> float64 NumPy trace. Torch input -> torch trace in the input's dtype and
    device, differentiable (surrogate gradients) in the current and in any tensor parameter.
    The time axis is split once (``unbind``), so backward costs O(T).
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
            current = np.asarray(current, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                "simulate: current must be a numeric array of shape (T, *batch)"
            ) from None
    _check_current(current)
    shape = batch_shape(model, tuple(current.shape))
    T = current.shape[0]
    ops = TORCH_OPS if is_torch else NUMPY_OPS
    p = model.coefficients(ops)
    if is_torch:
        for k, v in vars(p).items():
            setattr(p, k, _torch_param(v, current))
        zeros = current.new_zeros(shape)
        state = {n: zeros for n in model.state_names}
        state["S"] = zeros
        inputs = (
            current.unbind(0)
            if current.shape[1:] == shape
            else current.expand((T, *shape)).unbind(0)
        )
        spikes, recs = [], {n: [] for n in model.state_names}
        for I_t in inputs:
            state, S = model.step(p, state, I_t, ops)
            spikes.append(S)
            for n in model.state_names:
                recs[n].append(state[n])
        if T == 0:
            empty = current.new_zeros((0, *shape))
            return Trace(empty, {n: empty for n in model.state_names}, model)
        return Trace(torch.stack(spikes), {n: torch.stack(r) for n, r in recs.items()}, model)

    spikes = np.empty((T, *shape))
    recs = {n: np.empty((T, *shape)) for n in model.state_names}
    zeros = np.zeros(shape)
    state = {n: zeros for n in model.state_names}
    state["S"] = zeros
    for t in range(T):
        state, S = model.step(p, state, current[t], ops)
        spikes[t] = S
        for n in model.state_names:
            recs[n][t] = state[n]
    return Trace(spikes, recs, model)
