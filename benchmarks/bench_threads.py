"""How the fused kernels' lane split scales, measured so that other load on the machine does not
decide the answer: each kernel's CPU time on one thread against the slower of its two halves,
each half on its own thread.

    python benchmarks/bench_threads.py [--models lif,lstmlif,alif,clif | all] [--T 784 --B 64
                                       --N 256] [--dtypes float32,float64] [--repeats 5]

For each model and dtype, one fused forward + backward is run and every kernel call it makes is
recorded (kernel, lanes, arguments). Then each call is timed again: ``kernel(0, M)`` on the
calling thread, and ``kernel(0, M/2)`` on the calling thread while ``kernel(M/2, M)`` runs on a
worker, each timed by its own thread's CPU clock (``time.thread_time``), on the arguments as the
previous call left them (the backward overwrites a stored state with dL/dI; the kernels have
no data-dependent branches, so the work per lane is the same). The ratio
sum(one thread) / sum(max of the two halves) is the speedup two free cores would give if the
two halves did not share memory bandwidth (on this kind of machine they do, so the idle-machine
wall-clock speedup of the memory-bound models can be lower). A thread's CPU clock does not run
while the thread waits for a core, so the ratio does not depend on the machine's load the way
wall-clock does. ``bench_backward.py --threads 1,2`` measures the wall-clock ratio of the whole
path (use it on an idle machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine_line  # noqa: E402
from bench_backward import _setup  # noqa: E402

import lstmlif.neurons.fused as fused  # noqa: E402
from lstmlif.neurons import model_class, model_names  # noqa: E402


def _cpu(kernel, a: int, b: int, args) -> float:
    c = time.thread_time()
    kernel(np.uint64(a), np.uint64(b), *args)
    return time.thread_time() - c


def _calls(model: str, T: int, B: int, N: int, dtype: torch.dtype) -> list:
    """The (kernel, lanes, arguments) of one fused forward + backward of ``model``."""
    layer, x, w = _setup(model, T, B, N, "cpu", dtype)
    calls = []
    real = fused._call

    def record(kernel, M, *args):
        calls.append((kernel, M, args))
        return real(kernel, M, *args)

    fused._call = record
    try:
        fused.fused_spikes(layer.model(), x).backward(w)
    finally:
        fused._call = real
    return calls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="lif,lstmlif,alif,clif", help="names, or 'all'")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--T", type=int, default=784)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--N", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if args.models == "all":
        models = list(model_names())
    else:
        models = [model_class(m.strip()).name for m in args.models.split(",") if m.strip()]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if set(dtypes) - {"float32", "float64"}:
        raise SystemExit("bench_threads: dtypes are float32, float64")
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(1)
    print(
        f"T={args.T} B={args.B} N={args.N} (B*N = {args.B * args.N} lanes), best of {args.repeats}"
    )
    print(machine_line())
    print(f"{'model':16} {'dtype':8} {'1 thread ms':>12} {'2 halves ms':>12} {'ratio':>7}")
    for model in models:
        for name in dtypes:
            calls = _calls(model, args.T, args.B, args.N, getattr(torch, name))
            one = two = 0.0
            for kernel, M, a in calls:
                half = (M // fused.CHUNK // 2) * fused.CHUNK
                full = M - M % fused.CHUNK
                best1 = best2 = float("inf")
                for _ in range(args.repeats):
                    best1 = min(best1, _cpu(kernel, 0, full, a))
                    job = pool.submit(_cpu, kernel, half, full, a)
                    h0 = _cpu(kernel, 0, half, a)
                    best2 = min(best2, max(h0, job.result()))
                one += best1
                two += best2
            print(f"{model:16} {name:8} {one * 1e3:12.1f} {two * 1e3:12.1f} {one / two:6.2f}x")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
