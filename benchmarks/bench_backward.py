"""Forward + backward of a spiking layer: the autograd path against the exact adjoint backward.

    python benchmarks/bench_backward.py [--device cpu|cuda] [--models lif,alif,lstmlif]
                                        [--T 784 --B 64 --N 256] [--repeats 5] [--threads 1]

Times are the best of ``--repeats`` runs, the two backwards alternating (so background load
hits both alike), as wall-clock time and as the process's CPU time (user + system, which
includes page faults); on a shared machine the CPU time is the steadier measure, and the speed-up
is printed for both. Peak memory is measured for each (model, backward) in a fresh subprocess: on
CPU the growth of the peak resident set size (``VmHWM`` in ``/proc/self/status``, reset through
``/proc/self/clear_refs`` just before the forward) over the resident size at that moment; on
CUDA ``torch.cuda.max_memory_allocated`` over the allocation before the forward. (Not
``getrusage().ru_maxrss``: a child started by ``subprocess`` inherits the parent's high-water
mark through the fork, which hides the child's own peak.) The loss is ``sum(spikes * w)`` with
a fixed random ``w`` of the spikes' shape, so both backwards receive the same dense output
gradient.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from lstmlif.neurons import make_layer

MODES = ("autograd", "exact")
LAYER_KW = {
    "lif": dict(alpha=0.9, learn_alpha=True),
    "alif": dict(tau_m=20.0, tau_a=200.0),
    "lstmlif": dict(c1=0.0, c2=0.0),
}
INPUT_SCALE = {"lif": 0.3, "alif": 4.0, "lstmlif": 0.3}


def _setup(model: str, mode: str, T: int, B: int, N: int, device: str, dtype: torch.dtype):
    torch.manual_seed(0)
    layer = make_layer(model, N, backward=mode, **LAYER_KW[model]).to(device=device, dtype=dtype)
    x = torch.randn(T, B, N, device=device, dtype=dtype) * INPUT_SCALE[model]
    x = (x + INPUT_SCALE[model] * 0.5).requires_grad_()
    w = torch.randn(T, B, N, device=device, dtype=dtype)
    return layer, x, w


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _step(layer, x, w, device: str) -> tuple[float, float, float, float]:
    """One forward + backward; returns (forward s, backward s, CPU s of both, spike rate)."""
    x.grad = None
    layer.zero_grad(set_to_none=True)
    _sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    out = layer(x)
    _sync(device)
    t1 = time.perf_counter()
    (out * w).sum().backward()
    _sync(device)
    t2, c2 = time.perf_counter(), time.process_time()
    return t1 - t0, t2 - t1, c2 - c0, float(out.detach().mean())


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"bench_backward: no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    """Set the peak resident size VmHWM back to the current one (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure_memory(args: argparse.Namespace) -> None:
    """Child process: one forward + backward, print the peak memory growth in bytes (JSON)."""
    dtype = getattr(torch, args.dtype)
    layer, x, w = _setup(args.measure, args.mode, args.T, args.B, args.N, args.device, dtype)
    if args.device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        _step(layer, x, w, args.device)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        _reset_peak_rss()
        base = _status_bytes("VmRSS")
        _step(layer, x, w, args.device)
        peak = _status_bytes("VmHWM") - base
    print(json.dumps({"peak_bytes": int(peak)}))


def _memory_in_subprocess(model: str, mode: str, args: argparse.Namespace) -> int:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--measure",
        model,
        "--mode",
        mode,
        *("--T", str(args.T), "--B", str(args.B), "--N", str(args.N)),
        *("--device", args.device, "--dtype", args.dtype, "--threads", str(args.threads)),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--models", default="lstmlif,lif,alif")
    ap.add_argument("--T", type=int, default=784)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--N", type=int, default=256)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_backward: --device cuda but no CUDA device is available")
    if args.measure:
        measure_memory(args)
        return 0
    dtype = getattr(torch, args.dtype)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(LAYER_KW))
    if unknown:
        raise SystemExit(
            f"bench_backward: unknown model(s) {unknown}; choose from {list(LAYER_KW)}"
        )
    print(
        f"T={args.T} B={args.B} N={args.N} {args.dtype} device={args.device} "
        f"threads={args.threads} repeats={args.repeats} (best of) "
        f"load average={os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'model':8} {'backward':9} {'fwd ms':>8} {'bwd ms':>8} {'total ms':>9} "
        f"{'cpu ms':>8} {'peak MiB':>9} {'rate':>6}"
    )
    print(header)
    for model in models:
        best = {m: (float("inf"), 0.0, 0.0, 0.0) for m in MODES}
        cpu = {m: float("inf") for m in MODES}
        runs = {m: _setup(model, m, args.T, args.B, args.N, args.device, dtype) for m in MODES}
        runs["exact"][0].load_state_dict(runs["autograd"][0].state_dict())
        for _ in range(args.repeats):
            for mode in MODES:
                f, b, c, rate = _step(*runs[mode], args.device)
                cpu[mode] = min(cpu[mode], c)
                if f + b < best[mode][0]:
                    best[mode] = (f + b, f, b, rate)
        del runs
        # peak memory is deterministic up to allocator noise: the larger of two fresh runs
        mem = {
            m: None
            if args.no_memory
            else max(_memory_in_subprocess(model, m, args) for _ in range(2))
            for m in MODES
        }
        for mode in MODES:
            total, f, b, rate = best[mode]
            peak = "-" if mem[mode] is None else f"{mem[mode] / 2**20:9.1f}"
            print(
                f"{model:8} {mode:9} {f * 1e3:8.1f} {b * 1e3:8.1f} {total * 1e3:9.1f} "
                f"{cpu[mode] * 1e3:8.1f} {peak:>9} {rate:6.3f}"
            )
        speed = best["autograd"][0] / best["exact"][0]
        speed_cpu = cpu["autograd"] / cpu["exact"]
        line = f"{model:8} speed-up (autograd / exact) wall {speed:.2f}x, cpu {speed_cpu:.2f}x"
        if mem["exact"]:
            line += f", peak memory exact / autograd {mem['exact'] / mem['autograd']:.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
