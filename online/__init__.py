"""Forward-in-time gradient rules for a layer of any registered neuron model.

Each rule is generated from the partial derivatives SymPy takes of the model's step
(``neurons.derivatives``), the same partials the NumPy adjoint (``analysis.adjoint``) runs on:
``rtrl`` (exact), ``ostl``, ``eprop`` and ``ottt`` (``online.rules``, which says what each
drops), with BPTT by autograd as the reference (``online.bptt``). The per-step updates of
``ostl``, ``eprop`` and ``ottt`` also run as generated numba kernels (``online.fused``;
``run_rule(..., engine="fused")``, chosen by ``engine="auto"`` for long runs), with the same
gradients to rounding.

Usage::

    from lstmlif.online import LinearLoss, bptt, make_inputs, make_layer, run_rule
    layer = make_layer("alif", hidden=4, inputs=3, recurrent_scale=0.5)
    u = make_inputs(layer, steps=1000)
    loss = LinearLoss.random(layer, 1000)
    run_rule("rtrl", layer, u, loss).gradients  # == bptt(layer, u, loss).gradients
"""

from .bptt import bptt
from .core import LinearLoss, OnlineLayer, ReadoutLoss, make_inputs, make_layer
from .measure import agreement, compare
from .rules import RULES, run_rule

__all__ = [
    "OnlineLayer",
    "LinearLoss",
    "ReadoutLoss",
    "make_layer",
    "make_inputs",
    "RULES",
    "run_rule",
    "bptt",
    "agreement",
    "compare",
]
