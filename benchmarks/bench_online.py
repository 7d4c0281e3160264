"""Online rules against BPTT: the trace update's time per step beside the fused forward +
backward, and each rule's memory at two sequence lengths.

    python benchmarks/bench_online.py [--models lif,alif,lstmlif] [--T 500 --B 16 --H 64 --D 32]
                                      [--repeats 3] [--threads 1] [--memory-steps 1000,10000]

Timing (a feed-forward layer, I = u W_in^T, so that the fused kernels, which take the whole
current sequence, compute the same gradient; loss: fixed random weights on the spikes):

- ``sweep``: ``online.core.Sweep`` alone, the NumPy forward step and the generated partials at
  each step (what every online rule needs; e-prop also evaluates the held partials);
- ``<rule> update``: the rule's ``update`` alone, timed call by call on the terms of one shared
  sweep, per step;
- ``fused``: ``neurons.fused.fused_spikes`` forward + backward to dL/dW_in (torch matmul for the
  weights), float64; ``autograd``: ``neurons.simulate``'s per-step graph, same gradient.

Every contestant runs ``--repeats`` times, alternating, best CPU time kept (the process's user +
system time; wall-clock is printed beside it). Ratios are taken within this one run.

Memory (a recurrent layer of 4 neurons, ALIF, batch 1): each rule's carried bytes
(``RuleResult.memory_bytes``: its traces, accumulators and the forward's carried state) and
BPTT's saved tensors (``online.bptt``) at each of ``--memory-steps``.
"""

from __future__ import annotations

import argparse
import os
import time


def _timer(fn, repeats: int) -> tuple[float, float]:
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall


def _bench_model(
    name: str, rules: list[str], T: int, B: int, H: int, D: int, repeats: int
) -> list[str]:
    import numpy as np
    import torch

    from lstmlif.neurons import simulate
    from lstmlif.neurons.fused import fused_spikes
    from lstmlif.online.core import LinearLoss, Sweep, make_inputs, make_layer
    from lstmlif.online.rules import RULES

    layer = make_layer(name, H, D, recurrent=False, seed=0, train=())
    u = make_inputs(layer, T, B, seed=1)
    loss = LinearLoss(np.random.default_rng(2).standard_normal((T, B, H)))
    model = layer.numpy_model()
    U = torch.tensor(u)
    g = torch.tensor(loss.grad_spikes)

    def sweep() -> None:
        for _ in Sweep(layer, u, loss):
            pass

    def fused() -> None:
        W = torch.tensor(layer.w_in, requires_grad=True)
        S = fused_spikes(model, U @ W.T)
        (S * g).sum().backward()

    def autograd() -> None:
        W = torch.tensor(layer.w_in, requires_grad=True)
        S = simulate(model, U @ W.T).spikes
        (S * g).sum().backward()

    fused()  # compile the kernels before timing
    best = {r: (float("inf"), float("inf")) for r in rules}
    times = {"sweep": (float("inf"), float("inf"))}
    for _ in range(repeats):
        # each rule's update, timed alone, on the terms of one shared sweep
        objs = {r: RULES[r](layer, B, len(model.state_names)) for r in rules}
        spent = {r: [0.0, 0.0] for r in rules}
        for terms in Sweep(layer, u, loss, held="eprop" in rules):
            for r, obj in objs.items():
                c0, w0 = time.process_time(), time.perf_counter()
                obj.update(terms)
                spent[r][0] += time.process_time() - c0
                spent[r][1] += time.perf_counter() - w0
        best = {r: (min(best[r][0], spent[r][0]), min(best[r][1], spent[r][1])) for r in rules}
        for key, fn in (("sweep", sweep), ("fused", fused), ("autograd", autograd)):
            c, w = _timer(fn, 1)
            old = times.get(key, (float("inf"), float("inf")))
            times[key] = (min(old[0], c), min(old[1], w))
    ms = {k: (1e3 * c / T, 1e3 * w / T) for k, (c, w) in {**times, **best}.items()}
    cells = [name, f"{ms['sweep'][0]:.3f} [{ms['sweep'][1]:.3f}]"]
    cells += [f"{ms[r][0]:.3f} [{ms[r][1]:.3f}]" for r in rules]
    cells += [
        f"{ms['fused'][0]:.4f} [{ms['fused'][1]:.4f}]",
        f"{ms['autograd'][0]:.3f} [{ms['autograd'][1]:.3f}]",
    ]
    cells += [f"{ms[r][0] / ms['fused'][0]:.1f}x" for r in rules]
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="lif,alif,lstmlif")
    ap.add_argument("--T", type=int, default=500)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--D", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rules", default="ostl,eprop,ottt,rtrl")
    ap.add_argument("--memory-steps", default="1000,10000")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch

    from lstmlif.online.bptt import bptt
    from lstmlif.online.core import LinearLoss, make_inputs, make_layer
    from lstmlif.online.rules import RULES, run_rule

    torch.set_num_threads(args.threads)
    rules = [r for r in args.rules.split(",") if r]
    T, B, H, D = args.T, args.B, args.H, args.D
    print(
        f"timing: T = {T}, B = {B}, H = {H}, D = {D}, float64, {args.threads} thread(s); "
        f"CPU ms per step (best of {args.repeats}), wall ms in brackets"
    )
    head = [
        "model",
        "sweep",
        *[f"{r} update" for r in rules],
        "fused f+b",
        "autograd f+b",
        *[f"{r}/fused" for r in rules],
    ]
    print(" | ".join(head))
    for name in args.models.split(","):
        print(" | ".join(_bench_model(name, rules, T, B, H, D, args.repeats)))

    steps = [int(s) for s in args.memory_steps.split(",") if s]
    print(f"\nmemory: ALIF, H = 4, 3 inputs, recurrent, batch 1; bytes at T = {steps}")
    layer = make_layer("alif", 4, 3, seed=0)
    for rule in (*RULES, "bptt"):
        row = []
        for T in steps:
            u = make_inputs(layer, T, 1, seed=1)
            loss = LinearLoss.random(layer, T, 1, seed=2)
            res = bptt(layer, u, loss) if rule == "bptt" else run_rule(rule, layer, u, loss)
            row.append(res.memory_bytes)
        print(
            f"{rule:6s} " + " ".join(f"{b:>12d}" for b in row) + f"   ratio {row[-1] / row[0]:.2f}"
        )


if __name__ == "__main__":
    main()
