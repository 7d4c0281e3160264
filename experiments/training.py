"""Training and diagnostics: input-gain calibration, gradients at initialisation, the loops.

Shapes: sequences (T, B, C); ``net(x)`` returns ``{"logits": (B, K), "spikes": [(T, B, H)...],
"currents": (T, B, H)}`` where ``currents`` is the first hidden layer's input current I[t],
the tensor through which the loss gradient reaches every step t.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "calibrate_input_gain",
    "spike_rate",
    "accuracy",
    "gradient_at_init",
    "train_steps",
    "HUGE_GRADIENT",
]

HUGE_GRADIENT = 1e6  # a finite gradient norm above this counts as exploding


def _spiking_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if hasattr(m, "input_gain")]


@torch.no_grad()
def calibrate_input_gain(
    net: nn.Module, x: torch.Tensor, target: float = 0.05, iters: int = 14
) -> list[float]:
    """Scale each hidden layer's input current (in order) so that its mean spike rate on ``x``
    is close to ``target`` spikes per neuron per step: bisection on log10(gain) in [-3, 3].

    The rate grows with the gain, so the bisection keeps the bracket [lo, hi] with
    rate(lo) < target <= rate(hi). Returns the gains.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"calibrate_input_gain: target must lie in (0, 1), got {target}")
    gains = []
    layers = _spiking_layers(net)
    for i, layer in enumerate(layers):
        lo, hi = -3.0, 3.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            layer.input_gain = 10.0**mid
            rate = float(net(x)["spikes"][i].mean())
            if rate < target:
                lo = mid
            else:
                hi = mid
        layer.input_gain = 10.0**hi
        gains.append(layer.input_gain)
    return gains


def spike_rate(out: dict[str, Any]) -> float:
    """Mean spikes per neuron per step over every hidden layer."""
    total = sum(float(s.detach().sum()) for s in out["spikes"])
    count = sum(s.numel() for s in out["spikes"])
    return total / count


@torch.no_grad()
def accuracy(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512
) -> tuple[float, float]:
    """(fraction of sequences whose arg-max logit is the label, mean spike rate); x (T, N, C)."""
    correct, spikes, count = 0, 0.0, 0
    for start in range(0, x.shape[1], batch):
        out = net(x[:, start : start + batch])
        correct += int((out["logits"].argmax(1) == y[start : start + batch]).sum())
        spikes += sum(float(s.sum()) for s in out["spikes"])
        count += sum(s.numel() for s in out["spikes"])
    return correct / x.shape[1], spikes / count


def _log10(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return math.log10(value) if value > 0 else -math.inf


def gradient_at_init(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, cue_steps: int
) -> dict[str, Any]:
    """Gradient diagnostics of the untrained network on one batch.

    ``step_norms[t]`` = ||dL/dI[t]||_F over (batch, neurons) for the first hidden layer's input
    current I[t] (L the mean cross-entropy); ``cue_norm`` = sqrt(sum over the first
    ``cue_steps`` steps of step_norms^2); ``param_norm`` = the global norm of dL/dtheta.
    Also reports whether everything is finite and the spike rate. Log10 values are None when
    the value is not finite and -inf when it is 0.
    """
    net.zero_grad(set_to_none=True)
    out = net(x)
    currents = out["currents"]
    currents.retain_grad()
    loss = F.cross_entropy(out["logits"], y)
    loss.backward()
    g = currents.grad
    if g is None:
        step = np.zeros(currents.shape[0])
    else:
        step = g.detach().double().pow(2).sum(dim=(1, 2)).sqrt().numpy()
    cue = float(np.sqrt(np.sum(step[:cue_steps] ** 2)))
    pnorm = math.sqrt(
        sum(float(p.grad.double().pow(2).sum()) for p in net.parameters() if p.grad is not None)
    )
    net.zero_grad(set_to_none=True)
    loss_value = float(loss.detach())
    finite = bool(np.all(np.isfinite(step))) and math.isfinite(pnorm) and math.isfinite(loss_value)
    peak = float(np.max(step)) if np.all(np.isfinite(step)) else math.inf
    return {
        "loss": loss_value,
        "spike_rate": spike_rate(out),
        "cue_norm": cue,
        "log10_cue_norm": _log10(cue),
        "max_step_norm": peak,
        "log10_cue_over_max": _log10(cue / peak) if peak > 0 and math.isfinite(peak) else None,
        "param_norm": pnorm,
        "log10_param_norm": _log10(pnorm),
        "finite": finite,
        "log10_step_norms": [_log10(float(v)) for v in step],
    }


def train_steps(
    net: nn.Module,
    batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    n_steps: int,
    lr: float,
    evaluate: Callable[[], dict[str, float]],
    eval_at: list[int],
    progress: Callable[[int], None] | None = None,
    clip: float | None = None,
    regularizer: Any = None,
) -> dict[str, Any]:
    """Adam on the mean cross-entropy for ``n_steps`` updates; ``batches(i)`` gives batch i.

    After the updates listed in ``eval_at`` (1-based counts) ``evaluate()`` returns the
    measurements of that curve point (``accuracy``: test accuracy, ``spike_rate``, and
    ``val_accuracy`` where a validation split exists). Training stops at the first non-finite
    loss or gradient, or at a gradient norm above ``HUGE_GRADIENT``. Returns the curve, the
    losses and the reason it stopped (``"done"``, ``"non-finite"`` or ``"huge-gradient"``);
    a run that stopped early is *aborted*: ``aborted_at`` is the 1-based update at which it
    stopped and ``abort_grad_norm`` the gradient norm found there (None for a finished run).
    ``clip`` (> 0) rescales the gradient to a global norm of at most ``clip`` before each
    update (``torch.nn.utils.clip_grad_norm_``); the recorded norms and the 1e6 stop use the
    norm before clipping, so a clipped and an unclipped run abort on the same criterion.
    Nothing here draws random numbers and the learning rate is constant, so the first k
    updates of a longer run are exactly a run of k updates.

    ``regularizer`` (an ``analysis.flossing.FlossingRegularizer``, or None) adds its term
    ``reg(net, x)`` to the loss on the updates it is due (``reg.due(i)``; never when its
    weight is 0): ``losses`` stay the cross-entropy, ``floss_losses`` lists ``[update,
    term, exponents]`` (1-based update, the weighted term, the batch-mean exponents per
    layer), and ``update_cpu_s`` / ``update_wall_s`` give the mean CPU (this thread) and
    wall seconds of an update without (``plain``) and with (``floss``) the term, None
    where there was none. A term that cannot be evaluated (an exponent of -inf) stops the
    run as ``non-finite``.
    """
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    curve: list[dict[str, float]] = []
    losses: list[float] = []
    grad_norms: list[float] = []
    status = "done"
    wanted = set(eval_at)
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"train_steps: clip must be a positive finite number, got {clip}")
    limit = math.inf if clip is None else clip
    aborted_at: int | None = None
    abort_norm: float | None = None
    spent: dict[str, list[float]] = {"plain": [0.0, 0.0, 0.0], "floss": [0.0, 0.0, 0.0]}
    floss_losses: list[list[Any]] = []
    for i in range(n_steps):
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        x, y = batches(i)
        out = net(x)
        loss = F.cross_entropy(out["logits"], y)
        total = loss
        kind = "plain"
        if regularizer is not None and regularizer.weight > 0 and regularizer.due(i):
            kind = "floss"
            try:
                term = regularizer(net, x)
            except ValueError:
                status, aborted_at, abort_norm = "non-finite", i + 1, math.nan
                break
            total = loss + term
            floss_losses.append([i + 1, float(term.detach()), regularizer.last])
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(total):
            status, aborted_at, abort_norm = "non-finite", i + 1, math.nan
            break
        total.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), limit))
        if not math.isfinite(gnorm):
            status, aborted_at, abort_norm = "non-finite", i + 1, gnorm
            break
        if gnorm > HUGE_GRADIENT:
            status, aborted_at, abort_norm = "huge-gradient", i + 1, gnorm
            break
        opt.step()
        cost = spent[kind]
        cost[0] += time.thread_time() - cpu0
        cost[1] += time.perf_counter() - wall0
        cost[2] += 1
        losses.append(float(loss.detach()))
        grad_norms.append(gnorm)
        if progress is not None:
            progress(1)
        if (i + 1) in wanted:
            curve.append({"step": i + 1, **evaluate(), "loss": losses[-1]})
    out: dict[str, Any] = {
        "curve": curve,
        "losses": losses,
        "grad_norms": grad_norms,
        "status": status,
    }
    if regularizer is not None:
        out["floss_losses"] = floss_losses
        for j, unit in enumerate(("update_cpu_s", "update_wall_s")):
            out[unit] = {k: v[j] / v[2] if v[2] else None for k, v in spent.items()}
    if aborted_at is not None:
        out["aborted_at"] = aborted_at
        out["abort_grad_norm"] = abort_norm
    return out
