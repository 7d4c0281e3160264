"""The recurrent layer of the learning experiments: fused kernels against the autograd loop.

    python benchmarks/bench_recurrent.py [--T 420 --B 128 --C 8 --H 64]
                                         [--models lif,alif,lstmlif,adlif,brf]
                                         [--repeats 5] [--dtype float32] [--threads 1]

The recall network's shape (``experiments.RecallNetwork``: input (T, B, C) -> one recurrent
layer of H neurons, I[t] = W_in x[t] + b + W_rec S[t-1] -> readout of the mean spike count of
the last 10 steps), each model with its ``network_defaults``, built twice with equal weights:
the neuron layer's ``backward="autograd"`` (the Python time loop, autograd through each step)
and ``backward="fused"`` (``neurons.fused_recurrent``). Timed: forward and backward of the
summed logits, the two alternated in one run, best of ``--repeats`` after one warm-up call;
the gradients of every parameter are checked equal (relative 1e-4 in float32, 1e-10 in
float64) before timing. Prints one row per model: both times, their ratio and the spike rate.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from lstmlif.experiments import RecallNetwork


def _step(net: RecallNetwork, x: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    out = net(x)
    out["logits"].sum().backward()
    return [p.grad for p in net.parameters()]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / scale if scale > 0 else float((a - b).abs().max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=420)
    ap.add_argument("--B", type=int, default=128)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--models", default="lif,alif,lstmlif,adlif,brf")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    for k in ("T", "B", "C", "H", "repeats", "threads"):
        if getattr(args, k) < 1:
            print(f"--{k} must be >= 1", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.T, args.B, args.C, generator=g).to(dtype)
    print(
        f"T={args.T} B={args.B} C={args.C} H={args.H} {args.dtype}, {args.threads} thread(s), "
        f"forward + backward, best of {args.repeats}"
    )
    print(
        f"{'model':10} {'autograd ms':>12} {'fused ms':>10} {'ratio':>7} {'rate':>6} {'max rel':>9}"
    )
    for name in args.models.split(","):
        nets = {}
        for bw in ("autograd", "fused"):
            torch.manual_seed(1)
            nets[bw] = RecallNetwork(name, args.C, args.H, 4, 10, backward=bw).to(dtype)
        nets["fused"].load_state_dict(nets["autograd"].state_dict())
        with torch.no_grad():
            for gain in (1.0, 2.0, 4.0, 8.0, 16.0):
                for net in nets.values():
                    net.hidden.input_gain = gain
                rate = float(nets["fused"](x)["spikes"][0].mean())
                if rate > 0.02:
                    break
        ref, ours = _step(nets["autograd"], x), _step(nets["fused"], x)
        err = max(_rel(a, b) for a, b in zip(ours, ref, strict=True))
        if not err <= tol:
            print(f"{name}: gradients differ (relative {err:.2e} > {tol:.0e})", file=sys.stderr)
            return 1
        best = {"autograd": float("inf"), "fused": float("inf")}
        for _ in range(args.repeats):
            for bw, net in nets.items():
                t0 = time.perf_counter()
                _step(net, x)
                best[bw] = min(best[bw], time.perf_counter() - t0)
        a, f = best["autograd"] * 1e3, best["fused"] * 1e3
        print(f"{name:10} {a:12.1f} {f:10.1f} {a / f:7.2f} {rate:6.3f} {err:9.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
