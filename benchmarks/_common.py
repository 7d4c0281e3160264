"""Helpers the benchmark scripts share: the machine line, timing, gradient comparison and the
peer layers (snntorch, spikingjelly, norse) with the toolkit's LIF layer that computes the same
neuron as each.

Not a test and not part of the package; the scripts put this folder on ``sys.path``.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable, Sequence
from importlib import metadata

import torch

ALPHA = 0.9


def machine_line() -> str:
    """Date (UTC), CPU model, logical cores, load average, torch and numba versions."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    return (
        f"{now}; {model}, {os.cpu_count()} logical cores; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; torch {torch.__version__}, "
        f"numba {version('numba')}"
    )


def version(dist: str) -> str:
    """An installed distribution's version, or ``not installed``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s of this process: user + system, every thread) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Norm-wise relative difference ``|a - b| / |b|`` (0 when both are zero)."""
    a, b = a.detach().double(), b.detach().double()
    nb = float(b.norm())
    diff = float((a - b).norm())
    return diff / nb if nb > 0 else diff


def grads_of(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Clones of the gradients of ``params`` (zeros where none)."""
    return [
        (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for p in params
    ]


# ----------------------------------------------------------------------------- LIF layers
# Each peer's LIF beside the toolkit's LIF switches that compute the same neuron:
# - snntorch ``Leaky(beta=0.9)``: v[t] = 0.9 v[t-1] + I[t] - S[t-1] (reset detached), arctan
#   surrogate (alpha 2): ours ``convention="paper", reset="subtract", detach_reset=True``;
# - spikingjelly ``LIFNode(tau=10, decay_input=False, v_reset=None, detach_reset=True)``:
#   v[t] = 0.9 (v[t-1] - S[t-1]) + I[t]: ours ``convention="code"``;
# - norse ``LIFBoxCell`` (tau_mem_inv 100, dt 1e-3; its input times 10): v[t] =
#   0.9 v[t-1] (1 - S[t-1]) + I[t], reset not detached, SuperSpike surrogate 1 / (1 + |x|)^2
#   (norse 1.1 ignores its alpha): ours ``reset="zero", detach_reset=False``,
#   ``FastSigmoid(slope=1)``.

PEERS = ("snntorch", "spikingjelly", "norse")


def our_switches(peer: str) -> dict:
    """The toolkit LIF's switches that compute ``peer``'s neuron."""
    from lstmlif.neurons.surrogates import get_surrogate

    if peer == "snntorch":
        return dict(convention="paper", reset="subtract", detach_reset=True, surrogate="arctan")
    if peer == "spikingjelly":
        return dict(convention="code", reset="subtract", detach_reset=True, surrogate="arctan")
    if peer == "norse":
        return dict(
            convention="paper",
            reset="zero",
            detach_reset=False,
            surrogate=get_surrogate("fast_sigmoid", slope=1.0),
        )
    raise ValueError(f"unknown peer {peer!r}; choose from {PEERS}")


def our_lif(N: int, backward: str, peer: str = "snntorch") -> torch.nn.Module:
    """The toolkit's LIF layer (leak 0.9, threshold 1) computing ``peer``'s neuron."""
    from lstmlif.neurons import LIFLayer

    return LIFLayer(N, alpha=ALPHA, v_th=1.0, backward=backward, **our_switches(peer))


def peer_lif(peer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``peer``'s LIF as a function of the current (T, B, N) -> spikes (T, B, N); ImportError
    when the peer is not installed."""
    if peer == "snntorch":
        import snntorch as snn

        leaky = snn.Leaky(beta=ALPHA, threshold=1.0, spike_grad=snn.surrogate.atan(alpha=2.0))

        def run_snntorch(x: torch.Tensor) -> torch.Tensor:
            mem = leaky.init_leaky()
            out = []
            for x_t in x.unbind(0):
                spk, mem = leaky(x_t, mem)
                out.append(spk)
            return torch.stack(out)

        return run_snntorch
    if peer == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        node = neuron.LIFNode(
            tau=1.0 / (1.0 - ALPHA),
            decay_input=False,
            v_threshold=1.0,
            v_reset=None,
            surrogate_function=surrogate.ATan(alpha=2.0),
            detach_reset=True,
            step_mode="m",
        )
        if hasattr(node, "backend"):
            node.backend = "torch"

        def run_spikingjelly(x: torch.Tensor) -> torch.Tensor:
            node.reset()
            return node(x)

        return run_spikingjelly
    if peer == "norse":
        import norse.torch as norse

        def run_norse(x: torch.Tensor) -> torch.Tensor:
            cell = norse.LIFBoxCell(
                norse.LIFBoxParameters(
                    tau_mem_inv=torch.tensor(100.0, dtype=x.dtype),
                    v_th=torch.tensor(1.0, dtype=x.dtype),
                ),
                dt=0.001,
            )
            state = None
            out = []
            for x_t in (10.0 * x).unbind(0):
                z, state = cell(x_t, state)
                out.append(z)
            return torch.stack(out)

        return run_norse
    raise ValueError(f"unknown peer {peer!r}; choose from {PEERS}")
