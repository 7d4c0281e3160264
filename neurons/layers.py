"""PyTorch multi-step layers for training: input current (T, B, N) -> spikes (T, B, N).

Each layer owns fresh parameter tensors and, at every forward, builds the model record from
them and runs the one step function through ``neurons.simulate`` (surrogate gradients, O(T)
backward). Works on CPU or CUDA, float32 or float64 (follows the input).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .exact import BACKWARDS, exact_simulate, exact_spikes
from .models import ALIF, LIF, LSTMLIF, NeuronModel
from .simulate import Trace, simulate

__all__ = ["SpikingLayer", "LIFLayer", "ALIFLayer", "LSTMLIFLayer", "TCLIFLayer", "make_layer"]


def _param(value: float, shape: tuple[int, ...]) -> nn.Parameter:
    return nn.Parameter(torch.full(shape, float(value), dtype=torch.get_default_dtype()))


class SpikingLayer(nn.Module):
    """Base: ``forward(x)`` with x of shape (T, B, N) returns spikes (T, B, N);
    ``run(x)`` returns the whole ``Trace`` (spikes and pre-reset potentials).

    ``backward="autograd"`` (default, the reference) differentiates the per-step graph;
    ``backward="exact"`` runs the forward without a graph and differentiates by the
    hand-derived adjoint recursion (``neurons.exact``): the same gradients, faster, less memory
    (``forward`` returns the spikes only and its backward can run once per forward; ``run``
    returns and keeps every state).
    """

    def __init__(self, size: int, backward: str = "autograd", **switches: Any) -> None:
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"{type(self).__name__}: size must be a positive int, got {size!r}")
        if backward not in BACKWARDS:
            raise ValueError(
                f"{type(self).__name__}: unknown backward {backward!r}; choose one of "
                f"{list(BACKWARDS)}"
            )
        self.size = size
        self.backward = backward
        self.switches = switches

    def model(self) -> NeuronModel:
        """The model record built from the current parameter values."""
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}: input must be a tensor of shape (T, B, {self.size}), "
                f"got {shape}"
            )

    def run(self, x: torch.Tensor) -> Trace:
        """The whole trace of input current x (T, B, N): spikes S (T, B, N) and every state's
        pre-reset potentials (T, B, N), differentiable by this layer's ``backward``."""
        self._check_input(x)
        if self.backward == "exact":
            return exact_simulate(self.model(), x)
        return simulate(self.model(), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes S (T, B, N) = H(potential - threshold) for input current x (T, B, N)."""
        if self.backward == "exact":
            self._check_input(x)
            return exact_spikes(self.model(), x)
        return self.run(x).spikes

    def extra_repr(self) -> str:
        switches = {"backward": self.backward, **self.switches}
        return f"size={self.size}, " + ", ".join(f"{k}={v!r}" for k, v in switches.items())


class LIFLayer(SpikingLayer):
    """LIF neurons. ``learn_alpha``: alpha = sigmoid(logit) trained (one per layer, or one per
    neuron with ``per_neuron``); otherwise alpha is a fixed number (default 0.8)."""

    def __init__(
        self,
        size: int,
        alpha: float = 0.8,
        v_th: float = 1.0,
        learn_alpha: bool = False,
        per_neuron: bool = False,
        backward: str = "autograd",
        **switches: Any,
    ) -> None:
        super().__init__(size, backward, **switches)
        LIF(alpha=alpha, v_th=v_th, **switches)
        self.v_th = float(v_th)
        self.learn_alpha = learn_alpha
        if learn_alpha:
            if not 0 < alpha < 1:
                raise ValueError("LIFLayer: a trainable alpha must start in (0, 1)")
            shape = (size,) if per_neuron else ()
            self.alpha_logit = _param(math.log(alpha / (1 - alpha)), shape)
        else:
            self.alpha = float(alpha)

    def model(self) -> LIF:
        alpha = torch.sigmoid(self.alpha_logit) if self.learn_alpha else self.alpha
        return LIF(alpha=alpha, v_th=self.v_th, **self.switches)


class ALIFLayer(SpikingLayer):
    """ALIF neurons with trainable time constants (per neuron by default), stored as
    log(tau) so they stay positive: tau_m = exp(log_tau_m), tau_a = exp(log_tau_a)."""

    def __init__(
        self,
        size: int,
        tau_m: float = 20.0,
        tau_a: float = 200.0,
        beta_a: float = 1.8,
        b0: float = 0.01,
        learn_tau: bool = True,
        per_neuron: bool = True,
        backward: str = "autograd",
        **switches: Any,
    ) -> None:
        super().__init__(size, backward, **switches)
        ALIF(tau_m=tau_m, tau_a=tau_a, beta_a=beta_a, b0=b0, **switches)
        shape = (size,) if per_neuron else ()
        self.beta_a, self.b0 = float(beta_a), float(b0)
        if learn_tau:
            self.log_tau_m = _param(math.log(tau_m), shape)
            self.log_tau_a = _param(math.log(tau_a), shape)
        else:
            self.register_buffer("log_tau_m", torch.full(shape, math.log(tau_m)))
            self.register_buffer("log_tau_a", torch.full(shape, math.log(tau_a)))

    def model(self) -> ALIF:
        return ALIF(
            tau_m=torch.exp(self.log_tau_m),
            tau_a=torch.exp(self.log_tau_a),
            beta_a=self.beta_a,
            b0=self.b0,
            **self.switches,
        )


class LSTMLIFLayer(SpikingLayer):
    """LSTM-LIF / TC-LIF neurons: beta1 = -sigmoid(c1), beta2 = sigmoid(c2) with trainable
    logits, one pair per layer (default, as the official code) or per neuron."""

    def __init__(
        self,
        size: int,
        c1: float = 0.0,
        c2: float = 0.0,
        gamma: float = 0.5,
        v_th: float = 1.0,
        per_neuron: bool = False,
        learn_logits: bool = True,
        backward: str = "autograd",
        **switches: Any,
    ) -> None:
        super().__init__(size, backward, **switches)
        LSTMLIF.from_logits(c1, c2, gamma=gamma, v_th=v_th, **switches)
        shape = (size,) if per_neuron else ()
        self.gamma, self.v_th = float(gamma), float(v_th)
        if learn_logits:
            self.c1 = _param(c1, shape)
            self.c2 = _param(c2, shape)
        else:
            self.register_buffer("c1", torch.full(shape, float(c1)))
            self.register_buffer("c2", torch.full(shape, float(c2)))

    def model(self) -> LSTMLIF:
        return LSTMLIF.from_logits(
            self.c1, self.c2, gamma=self.gamma, v_th=self.v_th, **self.switches
        )


TCLIFLayer = LSTMLIFLayer

_LAYERS = {"lif": LIFLayer, "alif": ALIFLayer, "lstmlif": LSTMLIFLayer, "tclif": LSTMLIFLayer}


def make_layer(name: str, size: int, **kwargs: Any) -> SpikingLayer:
    """A layer by model name: ``lif``, ``alif``, ``lstmlif`` (``tclif``)."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in _LAYERS:
        raise ValueError(f"unknown layer model {name!r}; choose one of {sorted(_LAYERS)}")
    return _LAYERS[key](size, **kwargs)
