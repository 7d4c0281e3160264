"""Online rules against BPTT: time per step of each rule's whole pass with its trace update fused
(generated numba kernels, ``online.fused``) and NumPy, beside BPTT's fused forward + backward,
and each rule's memory at two sequence lengths.

    python benchmarks/bench_online.py [--models lif,alif,lstmlif,adlif] [--T 200] [--B 32]
        [--layers rec:64:32,ff:256:32] [--dtypes float32,float64] [--rules ostl,eprop,ottt]
        [--repeats 2] [--threads 1] [--memory-steps 1000,10000]

Timing, per layer (``rec:H:D``: H neurons, D inputs, recurrent weights; ``ff:H:D`` without),
dtype and model (the class's verification parameters and trained parameters, a random readout
with squared error as the loss, ``online.core.ReadoutLoss``), CPU milliseconds per step:

- ``<rule> numpy`` / ``<rule> fused``: ``run_rule`` with ``engine="numpy"`` / ``"fused"``, the
  whole pass (the NumPy forward step, the partials and the update; the fused engine evaluates
  the partials inside its kernel), the gradient of every trainable tensor;
- ``forward``: ``Sweep.forward`` alone, the NumPy forward step every rule runs (float64);
- ``bptt fused``: ``neurons.fused.fused_spikes`` forward + backward to the same tensors (W, the
  trained parameters; torch for the current's product and the readout) in the dtype. A
  recurrent layer has no fused BPTT path, so for ``rec`` its current is a feed-forward one of
  the same size (I = pre W^T with pre of K = D + H columns): the cost of the neuron and the
  weight products without the sequential dependence, a lower bound of fused BPTT on it;
- ``bptt autograd``: ``online.bptt``, autograd through the model's own step with the layer's
  real recurrence (float64), the reference the rules' gradients are checked against.

Every contestant runs ``--repeats`` times, alternating, best CPU time kept (the process's user +
system time; ``--threads`` threads for torch, numba's kernels and BLAS). Ratios are taken within
this one run. Kernels are compiled before timing.

Memory (a recurrent ALIF layer of 4 neurons, batch 1): each rule's carried bytes
(``RuleResult.memory_bytes``: its traces, accumulators and the forward's carried state) and the
peak of the allocations made during the run (``tracemalloc``; the inputs and loss are made
before), per engine, and BPTT's saved tensors, at each of ``--memory-steps``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any


def _cpu(fn: Any) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def _bptt_fused(layer: Any, u: Any, loss: Any, dtype: Any) -> Any:
    """A closure running fused BPTT forward + backward on ``layer``'s neurons (see the module
    docstring): W (H, K), the raw trained parameters, a readout loss."""
    import numpy as np
    import torch

    from lstmlif.neurons.fused import fused_spikes
    from lstmlif.neurons.mathspace import TORCH_MATH

    T, B, _ = u.shape
    K = layer.presyn
    rng = np.random.default_rng(3)
    pre = np.concatenate([u, rng.standard_normal((T, B, K - u.shape[2]))], axis=2)
    P = torch.tensor(pre, dtype=dtype)
    W0 = torch.tensor(layer.weights, dtype=dtype)
    w_out = torch.tensor(loss.w_out, dtype=dtype)
    y = torch.tensor(loss.target, dtype=dtype)
    fixed = {n: torch.as_tensor(v, dtype=dtype) for n, v in layer.model.params().items()}

    def run() -> None:
        W = W0.clone().requires_grad_(True)
        raw = {
            n: torch.tensor(layer.raw[n], dtype=dtype, requires_grad=True) for n in layer.trained
        }
        values = dict(fixed)
        values.update({n: t.form.forward(raw[n], TORCH_MATH) for n, t in layer.trained.items()})
        model = layer.model.replace(**values)
        S = fused_spikes(model, P @ W.T)
        L = 0.5 * ((S @ w_out.T - y) ** 2).sum()
        torch.autograd.grad(L, [W, *raw.values()])

    return run


def _bench(
    kind: str, H: int, D: int, name: str, dtype: str, rules: list[str], T: int, B: int, reps: int
) -> dict[str, float]:
    import numpy as np
    import torch

    from lstmlif.online.bptt import bptt
    from lstmlif.online.core import ReadoutLoss, Sweep, make_inputs, make_layer
    from lstmlif.online.rules import run_rule

    np_dtype = np.float32 if dtype == "float32" else np.float64
    t_dtype = torch.float32 if dtype == "float32" else torch.float64
    layer = make_layer(name, H, D, recurrent=kind == "rec", seed=0)
    u = make_inputs(layer, T, B, seed=1)
    loss = ReadoutLoss.random(layer, T, B, seed=2)
    small = ReadoutLoss(loss.w_out, loss.target[:3], loss.feedback)
    for rule in rules:  # compile (or load) the kernels
        run_rule(rule, layer, u[:3], small, engine="fused", dtype=np_dtype)
    fused_bptt = _bptt_fused(layer, u, loss, t_dtype)
    fused_bptt()

    def forward() -> None:
        for _ in Sweep(layer, u, loss).forward():
            pass

    jobs: dict[str, Any] = {"forward": forward, "bptt fused": fused_bptt}
    jobs["bptt autograd"] = lambda: bptt(layer, u, loss)
    for rule in rules:
        for engine in ("numpy", "fused"):
            jobs[f"{rule} {engine}"] = lambda r=rule, e=engine: run_rule(
                r, layer, u, loss, engine=e, dtype=np_dtype
            )
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(reps):
        for key, fn in jobs.items():
            best[key] = min(best[key], _cpu(fn))
    return {k: 1e3 * v / T for k, v in best.items()}


def _memory(steps: list[int]) -> None:
    import tracemalloc

    from lstmlif.online.bptt import bptt
    from lstmlif.online.core import LinearLoss, make_inputs, make_layer
    from lstmlif.online.fused import FUSED_RULES
    from lstmlif.online.rules import RULES, run_rule

    print(f"\nmemory: ALIF, H = 4, 3 inputs, recurrent, batch 1, float64; at T = {steps}")
    print("rule   engine  carried bytes (each T)  peak allocated (each T)  ratios")
    layer = make_layer("alif", 4, 3, seed=0)
    cases = [(r, "numpy") for r in RULES] + [(r, "fused") for r in FUSED_RULES]
    cases.append(("bptt", "autograd"))
    u, loss = make_inputs(layer, 3), LinearLoss.random(layer, 3)
    for rule, engine in cases:  # generate the partials and compile the kernels first
        if rule == "bptt":
            bptt(layer, u, loss)
        else:
            run_rule(rule, layer, u, loss, engine=engine)
    for rule, engine in cases:
        carried, peak = [], []
        for T in steps:
            u = make_inputs(layer, T, 1, seed=1)
            loss = LinearLoss.random(layer, T, 1, seed=2)
            tracemalloc.start()
            if rule == "bptt":
                res = bptt(layer, u, loss)
            else:
                res = run_rule(rule, layer, u, loss, engine=engine)
            peak.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            carried.append(res.memory_bytes)
        print(
            f"{rule:6s} {engine:8s}"
            + "".join(f"{b:>11d}" for b in carried)
            + " "
            + "".join(f"{b:>12d}" for b in peak)
            + f"   {carried[-1] / carried[0]:.2f} {peak[-1] / peak[0]:.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="lif,alif,lstmlif,adlif")
    ap.add_argument("--layers", default="rec:64:32,ff:256:32", help="kind:H:D, kind rec or ff")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--T", type=int, default=200)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rules", default="ostl,eprop,ottt")
    ap.add_argument("--memory-steps", default="1000,10000")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    rules = [r for r in args.rules.split(",") if r]
    models = [m for m in args.models.split(",") if m]
    T, B = args.T, args.B
    for spec in args.layers.split(","):
        kind, H, D = spec.split(":")
        if kind not in ("rec", "ff"):
            raise SystemExit(f"bench_online: layer kind must be rec or ff, got {kind!r}")
        H, D = int(H), int(D)
        for dtype in args.dtypes.split(","):
            K = D + (H if kind == "rec" else 0)
            print(
                f"\n{'recurrent' if kind == 'rec' else 'feed-forward'} layer: H = {H}, D = {D} "
                f"(K = {K}), B = {B}, T = {T}, {dtype}, {args.threads} thread(s); "
                f"CPU ms per step, best of {args.repeats}"
            )
            head = ["model", "forward"]
            head += [f"{r} {e}" for r in rules for e in ("numpy", "fused")]
            head += ["bptt fused", "bptt autograd"]
            head += [f"{r} numpy/fused" for r in rules] + [f"{r} fused/bptt" for r in rules]
            print(" | ".join(head))
            for name in models:
                ms = _bench(kind, H, D, name, dtype, rules, T, B, args.repeats)
                cells = [name] + [f"{ms[h]:.3f}" for h in head[1 : 4 + 2 * len(rules)]]
                cells += [f"{ms[f'{r} numpy'] / ms[f'{r} fused']:.1f}x" for r in rules]
                cells += [f"{ms[f'{r} fused'] / ms['bptt fused']:.1f}x" for r in rules]
                print(" | ".join(cells), flush=True)
    steps = [int(s) for s in args.memory_steps.split(",") if s]
    if steps:
        _memory(steps)


if __name__ == "__main__":
    main()
