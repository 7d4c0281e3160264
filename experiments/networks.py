"""Recurrent spiking networks for the learning experiments.

Each hidden layer receives ``I[t] = W_in x[t] + W_rec S[t-1]`` and updates its neurons with the
model's one step function (``model.step`` with ``neurons.TORCH_OPS``); the time loop is written
here only because the recurrent term needs the previous step's spikes. Shapes: input (T, B, C),
hidden spikes (T, B, H), logits (B, K).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lstmlif.neurons import (
    LSTMLIF,
    TORCH_OPS,
    ModelLayer,
    SpikingLayer,
    make_layer,
    model_class,
    model_names,
)
from lstmlif.neurons.parameterisations import Identity

__all__ = [
    "default_models",
    "RecurrentSpikingLayer",
    "RecallNetwork",
    "DigitsNetwork",
    "build_neuron_layer",
    "count_parameters",
]


def default_models() -> tuple[str, ...]:
    """The models the experiments compare by default: the paper's (registry group "paper")."""
    return model_names(group="paper")


def build_neuron_layer(name: str, size: int, **kwargs: Any) -> SpikingLayer:
    """The neuron layer of a network: any registered model with its class's
    ``network_defaults`` (the paper's models: LIF alpha 0.8 trainable, one per layer; ALIF
    tau_m 20, tau_a 700, trainable, one pair per layer; LSTM-LIF logits (0, 0), one pair per
    layer), updated by ``kwargs``; or ``lstmlif_free``: LSTM-LIF with (beta1, beta2) trained
    directly, unconstrained (needs ``beta1``, ``beta2``; the quadrant study)."""
    if name == "lstmlif_free":
        free = {"beta1": Identity(), "beta2": Identity()}
        return ModelLayer(LSTMLIF, size, train=free, per_neuron=False, **kwargs)
    try:
        cls = model_class(name)
    except ValueError as err:
        raise ValueError(f"unknown network model {name!r}: {err}") from None
    return make_layer(cls.name, size, **{**cls.network_defaults, **kwargs})


class RecurrentSpikingLayer(nn.Module):
    """One hidden layer: I[t] = W_in x[t] + b + W_rec S[t-1] (W_rec optional), then the neuron
    step. ``forward(x)`` with x (T, B, n_in) returns spikes (T, B, size) and the input currents
    W_in x + b (T, B, size), which carry the gradient that reaches each step.

    When the neuron layer has ``backward="fused"`` and the currents are float32 or float64 CPU
    tensors, the time loop runs in the fused kernels generated from the model's step
    (``neurons.fused_recurrent.fused_recurrent_spikes``; without W_rec ``neurons.fused``): the
    same spikes and gradients as the loop below, which runs otherwise (autograd through each
    step)."""

    def __init__(self, neuron: SpikingLayer, n_in: int, recurrent: bool = True) -> None:
        super().__init__()
        self.neuron = neuron
        self.size = neuron.size
        self.w_in = nn.Linear(n_in, neuron.size)
        self.w_rec = nn.Linear(neuron.size, neuron.size, bias=False) if recurrent else None
        self.input_gain = 1.0

    def _fused(self, currents: torch.Tensor) -> bool:
        """Whether this forward runs the fused kernels."""
        return (
            getattr(self.neuron, "backward", None) == "fused"
            and currents.device.type == "cpu"
            and currents.dtype in (torch.float32, torch.float64)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        currents = self.w_in(x) * self.input_gain
        if self._fused(currents):
            if self.w_rec is None:
                return self.neuron(currents), currents
            from lstmlif.neurons.fused_recurrent import fused_recurrent_spikes

            spikes = fused_recurrent_spikes(self.neuron.model(), currents, self.w_rec.weight)
            return spikes, currents
        model = self.neuron.model()
        p = model.coefficients(TORCH_OPS).on(currents)
        zeros = currents.new_zeros(currents.shape[1:])
        state = {n: zeros for n in model.state_names}
        state["S"] = zeros
        spikes = []
        for I_t in currents.unbind(0):
            if self.w_rec is not None:
                I_t = I_t + self.w_rec(state["S"])
            state, S = model.step(p, state, I_t, TORCH_OPS)
            spikes.append(S)
        return torch.stack(spikes), currents


def count_parameters(module: nn.Module) -> int:
    """The number of trainable scalars."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class RecallNetwork(nn.Module):
    """Input (T, B, C) -> one recurrent spiking layer (H) -> Linear(H, K) applied to the mean
    spike count of the last ``readout_steps`` steps: logits (B, K)."""

    def __init__(
        self, model: str, n_in: int, hidden: int, n_out: int, readout_steps: int, **neuron_kw: Any
    ) -> None:
        super().__init__()
        if readout_steps < 1:
            raise ValueError(f"readout_steps must be >= 1, got {readout_steps}")
        self.hidden = RecurrentSpikingLayer(build_neuron_layer(model, hidden, **neuron_kw), n_in)
        self.readout = nn.Linear(hidden, n_out)
        self.readout_steps = readout_steps

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        spikes, currents = self.hidden(x)
        features = spikes[-self.readout_steps :].mean(0)
        return {"logits": self.readout(features), "spikes": [spikes], "currents": currents}


class DigitsNetwork(nn.Module):
    """The paper's recurrent S-MNIST architecture, scaled down: Linear(1, h1) -> neuron ->
    [Linear(h1, h2) + recurrent] -> neuron -> [Linear(h2, h2) + recurrent] -> neuron ->
    Linear(h2, 10); logits = the last Linear's output summed over all steps, divided by T
    (the paper sums; dividing by T keeps the initial logits of order 1): (B, 10)."""

    def __init__(self, model: str, h1: int, h2: int, n_out: int = 10, **neuron_kw: Any) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                RecurrentSpikingLayer(build_neuron_layer(model, h1, **neuron_kw), 1, False),
                RecurrentSpikingLayer(build_neuron_layer(model, h2, **neuron_kw), h1, True),
                RecurrentSpikingLayer(build_neuron_layer(model, h2, **neuron_kw), h2, True),
            ]
        )
        self.readout = nn.Linear(h2, n_out)

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        all_spikes = []
        h = x
        currents = None
        for i, layer in enumerate(self.layers):
            h, c = layer(h)
            if i == 0:
                currents = c
            all_spikes.append(h)
        logits = self.readout(h).mean(0)
        return {"logits": logits, "spikes": all_spikes, "currents": currents}
