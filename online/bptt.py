"""The reference: backpropagation through time by PyTorch autograd through the model's own step.

The layer of ``online.core`` is run in torch (the loop of ``experiments.networks``'
recurrent layer: I[t] = W_in u[t] + W_rec S[t-1], then ``model.step`` with ``TORCH_OPS``, whose
spike has the surrogate derivative psi), the loss is summed over the trajectory and autograd
differentiates it: a path independent of the generated partials the online rules run on. Its
memory is the bytes of the tensors autograd saves for the backward (counted by
``torch.autograd.graph.saved_tensors_hooks``, each storage once), which grows with T.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from lstmlif.neurons import TORCH_OPS
from lstmlif.neurons.mathspace import TORCH_MATH

from .core import Loss, OnlineLayer
from .rules import RuleResult

__all__ = ["bptt"]


def bptt(
    layer: OnlineLayer,
    inputs: Any,
    loss: Loss,
    *,
    dtype: torch.dtype = torch.float64,
    detach_reset: bool | None = None,
) -> RuleResult:
    """dL/d(every trainable tensor) by autograd through the torch forward of ``layer`` over
    inputs u (T, B, D). ``detach_reset``: run the model with this switch instead of its own
    (the BPTT that cuts e-prop's paths). Returns a ``RuleResult`` named ``bptt`` (engine
    ``"autograd"``)."""
    u = np.asarray(inputs, dtype=np.float64)
    if u.ndim != 3 or u.shape[2] != layer.inputs:
        raise ValueError(f"online: inputs must have shape (T, B, {layer.inputs}), got {u.shape}")
    start = time.perf_counter()
    w_in = torch.tensor(layer.w_in, dtype=dtype, requires_grad=True)
    w_rec = (
        None if layer.w_rec is None else torch.tensor(layer.w_rec, dtype=dtype, requires_grad=True)
    )
    raw = {n: torch.tensor(layer.raw[n], dtype=dtype, requires_grad=True) for n in layer.trained}
    record = layer.model
    if detach_reset is not None:
        record = record.replace(detach_reset=detach_reset)
    # every parameter a tensor (a fixed one 0-d, no gradient), the trained ones form(raw)
    values = {n: torch.as_tensor(v, dtype=dtype) for n, v in record.params().items()}
    values.update({n: t.form.forward(raw[n], TORCH_MATH) for n, t in layer.trained.items()})
    model = record.replace(**values)
    U = torch.tensor(u, dtype=dtype)
    T, B, _ = U.shape
    p = model.coefficients(TORCH_OPS).on(U)
    saved: dict[int, int] = {}

    def pack(x: torch.Tensor) -> torch.Tensor:
        st = x.untyped_storage()
        saved[st.data_ptr()] = st.nbytes()
        return x

    zeros = U.new_zeros((B, layer.hidden))
    state = {n: zeros for n in model.state_names}
    state["S"] = zeros
    spikes = []
    states: dict[str, list[torch.Tensor]] = {n: [] for n in model.state_names}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        for t in range(T):
            I = U[t] @ w_in.T
            if w_rec is not None:
                I = I + state["S"] @ w_rec.T
            state, S = model.step(p, state, I, TORCH_OPS)
            spikes.append(S)
            for n in model.state_names:
                states[n].append(state[n])
        S_all = torch.stack(spikes)
        L = loss.torch_value(S_all, {n: torch.stack(v) for n, v in states.items()})
    tensors = [w_in, *([w_rec] if w_rec is not None else []), *raw.values()]
    grads = torch.autograd.grad(L, tensors, allow_unused=True)
    names = layer.tensor_names()
    out = {
        n: (np.zeros(tuple(x.shape)) if g is None else g.detach().to(torch.float64).numpy())
        for n, x, g in zip(names, tensors, grads, strict=True)
    }
    seconds = time.perf_counter() - start
    return RuleResult(
        "bptt", out, seconds, int(sum(saved.values())), int(S_all.sum().item()), "autograd"
    )
