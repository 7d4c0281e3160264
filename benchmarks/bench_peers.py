"""Our LIF layer against snntorch's, spikingjelly's and norse's LIF (torch back ends): forward +
backward.

    python benchmarks/bench_peers.py [--T 784 --B 64 --N 256] [--dtype float32] [--repeats 5]
                                     [--threads 1] [--device cpu|cuda]

Run it in the separate benchmark environment (see benchmarks/README.md); a peer that is not
installed is reported as such. Every contestant gets the same input current (T, B, N) (no
trainable parameters, so only dL/dI is computed) and the loss ``sum(spikes * w)``:

- ours: ``LIFLayer(alpha=0.9)``, reset by subtraction, detached reset, arctan surrogate
  (alpha = 2), with ``backward="fused"``, ``"exact"`` and ``"autograd"``;
- snntorch: ``snn.Leaky(beta=0.9)`` (subtractive reset, detached as snntorch does), its
  ``atan`` surrogate, stepped over time in a Python loop as its tutorials do;
- spikingjelly: ``neuron.LIFNode(tau=10, decay_input=False, v_reset=None, detach_reset=True)``
  (leak 1 - 1/tau = 0.9, soft reset), ``surrogate.ATan()``, multi-step mode, torch back end;
- norse: ``LIFBoxCell`` (a current-free LIF: v <- v + dt tau_mem_inv (v_leak - v + I), with
  dt tau_mem_inv = 0.1, i.e. leak 0.9 and the input scaled by 0.1, so its input is multiplied
  by 10; hard reset to 0; norse's SuperSpike surrogate), stepped over time in a Python loop.

Times are the best of ``--repeats`` runs with the contestants alternating, as wall-clock and
CPU time (user + system of this process); the ratios are peer / ours-exact.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import torch  # noqa: E402

ALPHA = 0.9


def _ours(backward: str, N: int):
    from lstmlif.neurons import LIFLayer

    layer = LIFLayer(
        N,
        alpha=ALPHA,
        v_th=1.0,
        reset="subtract",
        detach_reset=True,
        surrogate="arctan",
        backward=backward,
    )
    return layer


def _snntorch(N: int):
    import snntorch as snn

    leaky = snn.Leaky(beta=ALPHA, threshold=1.0, spike_grad=snn.surrogate.atan(alpha=2.0))

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = leaky.init_leaky()
        spikes = []
        for x_t in x.unbind(0):
            spk, mem = leaky(x_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def _spikingjelly(N: int):
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

    def run(x: torch.Tensor) -> torch.Tensor:
        node.reset()
        return node(x)

    return run


def _norse(N: int):
    import norse.torch as norse

    cell = norse.LIFBoxCell(
        norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(1.0)),
        dt=0.001,
    )

    def run(x: torch.Tensor) -> torch.Tensor:
        state = None
        spikes = []
        for x_t in (10.0 * x).unbind(0):
            z, state = cell(x_t, state)
            spikes.append(z)
        return torch.stack(spikes)

    return run


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _contestants(N: int) -> dict[str, Callable | str]:
    out: dict[str, Callable | str] = {
        "ours (exact)": _ours("exact", N),
        "ours (fused)": _ours("fused", N),
        "ours (autograd)": _ours("autograd", N),
    }
    for name, make in (("snntorch", _snntorch), ("spikingjelly", _spikingjelly), ("norse", _norse)):
        try:
            out[name] = make(N)
        except ImportError as err:
            out[name] = f"not installed ({err.name})"
    return out


def _once(run, x: torch.Tensor, w: torch.Tensor, device: str) -> tuple[float, float, float]:
    x.grad = None
    if device == "cuda":
        torch.cuda.synchronize()
    c0, t0 = time.process_time(), time.perf_counter()
    out = run(x)
    (out * w).sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0, float(out.detach().mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--T", type=int, default=784)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--N", type=int, default=256)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_peers: --device cuda but no CUDA device is available")
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    torch.manual_seed(0)
    shape = (args.T, args.B, args.N)
    x = (torch.randn(shape, device=args.device) * 0.3 + 0.15).requires_grad_()
    w = torch.randn(shape, device=args.device)
    contestants = _contestants(args.N)
    runs = {}
    for name, c in contestants.items():
        if isinstance(c, str):
            continue
        if isinstance(c, torch.nn.Module):
            c.to(device=args.device, dtype=dtype)
        runs[name] = c
    print(
        f"LIF T={args.T} B={args.B} N={args.N} {args.dtype} device={args.device} "
        f"threads={args.threads} repeats={args.repeats} (best of) "
        f"load average={os.getloadavg()[0]:.2f}; torch {torch.__version__}, "
        f"snntorch {_version('snntorch')}, spikingjelly {_version('spikingjelly')}, "
        f"norse {_version('norse')}"
    )
    best = {n: [float("inf"), float("inf"), 0.0] for n in runs}
    for run in runs.values():  # warm-up: compiles (or loads) the fused kernels
        small = x[:2].detach().clone().requires_grad_()
        (run(small) * w[:2]).sum().backward()
    for _ in range(args.repeats):
        for name, run in runs.items():
            wall, cpu, rate = _once(run, x, w, args.device)
            best[name][0] = min(best[name][0], wall)
            best[name][1] = min(best[name][1], cpu)
            best[name][2] = rate
    ref = best.get("ours (exact)")
    print(
        f"{'layer':16} {'wall ms':>9} {'cpu ms':>9} {'rate':>6} "
        f"{'wall / ours':>12} {'cpu / ours':>11}"
    )
    for name, c in contestants.items():
        if name not in runs:
            print(f"{name:16} {c}")
            continue
        wall, cpu, rate = best[name]
        print(
            f"{name:16} {wall * 1e3:9.1f} {cpu * 1e3:9.1f} {rate:6.3f} "
            f"{wall / ref[0]:11.2f}x {cpu / ref[1]:10.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
