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

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from _common import ALPHA, PEERS, peer_lif, version  # noqa: E402


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


def _contestants(N: int) -> dict[str, Callable | str]:
    out: dict[str, Callable | str] = {
        "ours (exact)": _ours("exact", N),
        "ours (fused)": _ours("fused", N),
        "ours (autograd)": _ours("autograd", N),
    }
    for name in PEERS:
        try:
            out[name] = peer_lif(name)
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
        f"snntorch {version('snntorch')}, spikingjelly {version('spikingjelly')}, "
        f"norse {version('norse')}"
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
