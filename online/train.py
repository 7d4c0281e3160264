r"""Training a recurrent layer with an online rule: the gradient of a loss given at the last
steps (a readout of the mean spikes of the last R steps, cross-entropy).

The network is one ``OnlineLayer`` (H neurons, input 0 the constant bias input) and a readout

    f = (1/R) sum_{t > T - R} S[t]   (B, H),   logits = f W_out^T + b_out   (B, K),
    L = -(1/B) sum_b log softmax(logits_b)[y_b].

The readout gets its exact gradient, dL/dW_out = e^T f and dL/db_out = sum_b e_b with
e = (softmax(logits) - onehot(y)) / B (B, K). The loss depends on the layer only through its
spikes, and its explicit gradient is

    dL/dS[t] = e W_out / R  (B, H) for the last R steps, 0 before,

so ``LinearLoss(grad_spikes=dL/dS)`` hands every rule of ``online.rules`` (and ``online.bptt``)
the learning signal of this loss: sum_t dL/dS[t] . dS[t]/dp is the chain rule, exact for
``rtrl`` and ``bptt`` and, for ``eprop``, the learning signal through the readout's own weights
(symmetric feedback). The signal is known once the window's last step is: a rule run forward
keeps its eligibility terms q[t] = dS[t]/dp summed over the R steps of the window (memory of one
trace) and multiplies them by e W_out / R then; here the forward pass is run once to read the
spikes and the rule once over the same float64 forward (``forward_spikes`` is the loop of
``online.core.Sweep``, so both see the same spikes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmlif.neurons import NUMPY_OPS

from .bptt import bptt
from .core import LinearLoss, OnlineLayer
from .rules import RULES, run_rule

__all__ = [
    "TRAIN_RULES",
    "forward_spikes",
    "readout_loss",
    "RecallGradient",
    "recall_gradients",
    "with_values",
]

TRAIN_RULES = ("bptt", *RULES)
"""The rules a network can be trained with: ``bptt`` and every online rule."""


def forward_spikes(layer: OnlineLayer, inputs: Any) -> np.ndarray:
    """The spikes S (T, B, H) of ``layer`` over inputs u (T, B, D), float64: the same
    operations, in the same order, as the forward of ``online.core.Sweep``."""
    u = np.asarray(inputs, dtype=np.float64)
    if u.ndim != 3 or u.shape[2] != layer.inputs:
        raise ValueError(f"online: inputs must have shape (T, B, {layer.inputs}), got {u.shape}")
    model = layer.numpy_model()
    p = model.coefficients(NUMPY_OPS)
    T, B, _ = u.shape
    shape = (B, layer.hidden)
    names = tuple(model.state_names)
    state: dict[str, Any] = {nm: np.zeros(shape) for nm in names}
    state["S"] = np.zeros(shape)
    W = layer.weights
    out = np.empty((T, *shape))
    for t in range(T):
        pre = np.concatenate([u[t], state["S"]], axis=1) if layer.w_rec is not None else u[t]
        new, S = model.step(p, state, pre @ W.T, NUMPY_OPS)
        S = np.broadcast_to(np.asarray(S, dtype=np.float64), shape)
        state = {nm: np.broadcast_to(np.asarray(new[nm], dtype=np.float64), shape) for nm in names}
        state["S"] = S
        out[t] = S
    return out


def readout_loss(
    spikes: np.ndarray, w_out: np.ndarray, b_out: np.ndarray, labels: Any, readout_steps: int
) -> tuple[float, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(L, logits (B, K), {"w_out": (K, H), "b_out": (K,)} exact gradients, dL/dS (T, B, H))
    of the mean cross-entropy of the readout of the mean spikes of the last ``readout_steps``
    steps (see the module docstring); spikes (T, B, H), w_out (K, H), b_out (K,), labels (B,)."""
    S = np.asarray(spikes, dtype=np.float64)
    y = np.asarray(labels)
    T, B, H = S.shape
    if not 1 <= readout_steps <= T:
        raise ValueError(f"online: readout_steps must lie in [1, {T}], got {readout_steps}")
    if y.shape != (B,):
        raise ValueError(f"online: labels must have shape ({B},), got {y.shape}")
    K = w_out.shape[0]
    if w_out.shape != (K, H) or b_out.shape != (K,):
        raise ValueError(f"online: w_out (K, {H}) and b_out (K,) expected")
    if np.any((y < 0) | (y >= K)):
        raise ValueError(f"online: labels must lie in [0, {K})")
    f = S[T - readout_steps :].mean(axis=0)
    logits = f @ w_out.T + b_out
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-logp[np.arange(B), y].mean())
    e = np.exp(logp)
    e[np.arange(B), y] -= 1.0
    e /= B
    grad_S = np.zeros_like(S)
    grad_S[T - readout_steps :] = (e @ w_out) / readout_steps
    return loss, logits, {"w_out": e.T @ f, "b_out": e.sum(axis=0)}, grad_S


@dataclass(frozen=True)
class RecallGradient:
    """One gradient evaluation: the loss, the gradients {tensor name: array} (the layer's
    ``tensor_names()``, then ``w_out``, ``b_out``), the mean spike rate (spikes per neuron per
    step) and the fraction of the batch classified right."""

    loss: float
    gradients: dict[str, np.ndarray]
    rate: float
    accuracy: float


def recall_gradients(
    rule: str,
    layer: OnlineLayer,
    w_out: np.ndarray,
    b_out: np.ndarray,
    inputs: Any,
    labels: Any,
    readout_steps: int,
    **options: Any,
) -> RecallGradient:
    """The gradient of the readout cross-entropy (module docstring) by ``rule`` (one of
    ``TRAIN_RULES``) for the layer's tensors, and exact for the readout's; inputs (T, B, D),
    labels (B,). ``options`` go to ``run_rule`` (e.g. e-prop's ``feedback``)."""
    if rule not in TRAIN_RULES:
        raise ValueError(f"online: unknown rule {rule!r}; choose one of {list(TRAIN_RULES)}")
    u = np.asarray(inputs, dtype=np.float64)
    S = forward_spikes(layer, u)
    loss, logits, grads, grad_S = readout_loss(S, w_out, b_out, labels, readout_steps)
    signal = LinearLoss(grad_S)
    if rule == "bptt":
        hidden = bptt(layer, u, signal).gradients
    else:
        hidden = run_rule(rule, layer, u, signal, **options).gradients
    acc = float(np.mean(logits.argmax(axis=1) == np.asarray(labels)))
    return RecallGradient(loss, {**hidden, **grads}, float(S.mean()), acc)


def with_values(layer: OnlineLayer, values: dict[str, np.ndarray]) -> OnlineLayer:
    """A copy of ``layer`` with the tensors named in ``values`` (``tensor_names()``: ``w_in``,
    ``w_rec``, raw names) replaced; a raw value is clamped where its form clamps after an
    optimiser step (``Form.clamps_after_step``)."""
    raw_of = {t.raw: n for n, t in layer.trained.items()}
    known = set(layer.tensor_names())
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"online: unknown tensors {sorted(unknown)}; the layer has {sorted(known)}"
        )
    raw = dict(layer.raw)
    for name, value in values.items():
        if name in raw_of:
            p = raw_of[name]
            bounds = layer.trained[p].form.clamps_after_step()
            v = np.asarray(value, dtype=np.float64)
            raw[p] = np.clip(v, *bounds) if bounds is not None else v.copy()
    return OnlineLayer(
        layer.model,
        values.get("w_in", layer.w_in),
        values.get("w_rec", layer.w_rec),
        dict(layer.trained),
        raw,
    )
