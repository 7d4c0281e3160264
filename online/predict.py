r"""A prediction of each approximate rule's bias from the layer's Jacobians, no gradient taken.

Along a forward trajectory the layer's one-step Jacobian is (``analysis.lyapunov``'s
``network_jacobians``, index (neuron i, state a))

    J_t[(i,a),(j,b)] = delta_ij A_i[a,b] + dI_i[a] W_rec[i,j] psi_j zx_j[b]

and each rule keeps a part K_t of it: ``ostl`` the block diagonal delta_ij A_i (the neuron's
own Jacobian with its spike and reset), ``eprop`` the block diagonal of the model whose reset is
held, ``ottt`` lambda times the identity (``rules.rest_decay``). The predictor is the norm of what
is dropped relative to what is kept,

    d = sum_t ||J_t - K_t||_F / sum_t ||K_t||_F,

computed from the trajectory alone (the forward pass, never a gradient); the measured relative
error of the rule's gradient is what it predicts (``online.bias``, which does not import this
module).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lstmlif.analysis.lyapunov import network_jacobians, simulate_recurrent

from .core import OnlineLayer, held_partials
from .rules import rest_decay

__all__ = ["predicted_bias"]


def predicted_bias(layer: OnlineLayer, inputs: Any, rule: str) -> float:
    """d of ``rule`` ("ostl", "eprop" or "ottt") for ``layer`` over inputs u (T, B, D), T >= 2
    (see the module docstring)."""
    if rule not in ("ostl", "eprop", "ottt"):
        raise ValueError(f"predicted_bias: no prediction for rule {rule!r}")
    model = layer.numpy_model()
    u = np.asarray(inputs, dtype=np.float64)
    H = layer.hidden
    W = layer.w_rec if layer.w_rec is not None else np.zeros((H, H))
    trace = simulate_recurrent(model, u @ layer.w_in.T, W)
    J = network_jacobians(trace, W)
    n = len(model.state_names)
    if rule == "ottt":
        K = rest_decay(layer) * np.broadcast_to(np.eye(H * n), J.shape)
    else:
        own = trace
        if rule == "eprop" and held_partials(model)[1]:
            own = dataclasses.replace(trace, model=model.replace(detach_reset=True))
        Jo = network_jacobians(own, np.zeros((H, H))).reshape(*J.shape[:2], H, n, H, n)
        mask = np.eye(H, dtype=bool)[:, None, :, None]
        K = np.where(mask, Jo, 0.0).reshape(J.shape)
    dropped = np.linalg.norm(J - K, axis=(-2, -1)).sum()
    kept = np.linalg.norm(K, axis=(-2, -1)).sum()
    return float(dropped / kept) if kept > 0 else float("inf")
