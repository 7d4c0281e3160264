"""The Open Neuromorphic benchmark's setup on CPU: one Linear(n, n) + LIF layer, batch 16,
T = 500, forward + backward, loss = the sum of the spikes; the toolkit's LIF (autograd, exact,
fused) against snntorch, spikingjelly and norse, on one and two threads.

    python benchmarks/bench_open_neuromorphic.py [--sizes 512,2048,4096] [--T 500 --B 16]
                                                 [--threads 1,2] [--repeats 3] [--dtype float32]

The published version of this benchmark (open-neuromorphic.org, "SNN library benchmarks") runs
on a GPU; this script gives the CPU numbers. Every contestant gets the same input (T, B, n)
(standard normal) and the same Linear weights (PyTorch's default initialisation, seed 0); the
Linear runs once over all T steps (one (T*B, n) x (n, n) product), the gradient is taken with
respect to its weight and bias.

Before timing, each contestant's gradients are compared with the toolkit's autograd path set
to compute the same neuron (``_common.our_switches``: snntorch's LIF is ours with subtractive
detached reset and the arctan surrogate, spikingjelly's is ours with ``convention="code"``,
norse's ours with reset to zero, reset not detached and the SuperSpike surrogate): norm-wise
relative difference of (dL/dW, dL/db), and the spike counts; a difference above ``--rtol``
(1e-4) is printed as a MISMATCH. Where the float32 difference is larger and the spike trains
differ (a peer whose update is written in another order can move a spike whose potential
lands within rounding of the threshold), the check is redone in float64 and says so. The
toolkit's exact and fused paths are compared with its autograd path likewise.

Timing: for each size, ``--repeats`` rounds; in each round every thread count in ``--threads``
(``torch.set_num_threads``, which the fused kernels also follow) and, within it, every
contestant in turn; the best wall-clock and CPU time (user + system of the process, all
threads) per (contestant, threads) are kept. Ratios are taken within the one run: each time
over the toolkit's fused time at the same thread count, and one thread's wall time over two
threads'. The header prints the date, the CPU, the core count and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from _common import (  # noqa: E402
    PEERS,
    grads_of,
    machine_line,
    our_lif,
    peer_lif,
    rel_err,
    timed,
    version,
)

OURS = ("ours autograd", "ours exact", "ours fused")


def _contestants(n: int) -> dict[str, object]:
    """name -> spike function of the current (T, B, n), or a string (why it is missing)."""
    out: dict[str, object] = {name: our_lif(n, name.split()[1], "snntorch") for name in OURS}
    for peer in PEERS:
        try:
            out[peer] = peer_lif(peer)
        except ImportError as err:
            out[peer] = f"not installed ({err.name})"
    return out


def _reference(name: str) -> str:
    """The switches of the toolkit's autograd layer that ``name`` must agree with."""
    return name if name in PEERS else "snntorch"


def _loss_fn(linear: torch.nn.Linear, neuron, x: torch.Tensor):
    def run() -> torch.Tensor:
        linear.zero_grad(set_to_none=True)
        spikes = neuron(linear(x))
        spikes.sum().backward()
        return spikes

    return run


def _float64_error(name: str, neuron, ref_linear: torch.nn.Linear, x: torch.Tensor, n: int):
    """The gradient check of ``name`` redone in float64 (weights and input cast): a peer whose
    update is written in another order (norse: v + 0.1 (10 I - v) against 0.9 v + I) can move
    a spike in float32 where the potential lands within rounding of the threshold."""
    grads = []
    for fn in (our_lif(n, "autograd", _reference(name)), neuron):
        linear = torch.nn.Linear(n, n).double()
        linear.load_state_dict(ref_linear.state_dict())
        _loss_fn(linear, fn, x.double())()
        grads.append(grads_of([linear.weight, linear.bias]))
    return max(rel_err(a, b) for a, b in zip(grads[1], grads[0], strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="512,2048,4096")
    ap.add_argument("--T", type=int, default=500)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        threads = [int(s) for s in args.threads.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(
            "bench_open_neuromorphic: --sizes and --threads are comma lists of ints"
        ) from None
    if not sizes or min(sizes) < 1 or not threads or min(threads) < 1:
        raise SystemExit("bench_open_neuromorphic: sizes and thread counts must be >= 1")
    dtype = getattr(torch, args.dtype)
    torch.set_default_dtype(dtype)
    print(f"Open Neuromorphic setup on CPU: Linear(n, n) + LIF, T={args.T} B={args.B} {args.dtype}")
    print(machine_line())
    print(
        f"snntorch {version('snntorch')}, spikingjelly {version('spikingjelly')}, "
        f"norse {version('norse')}; best of {args.repeats}, threads {threads}"
    )
    mismatches = 0
    for n in sizes:
        torch.manual_seed(0)
        x = torch.randn(args.T, args.B, n)
        ref_linear = torch.nn.Linear(n, n)
        contestants = _contestants(n)
        runs = {}
        for name, neuron in contestants.items():
            if isinstance(neuron, str):
                continue
            linear = torch.nn.Linear(n, n)
            linear.load_state_dict(ref_linear.state_dict())
            runs[name] = (linear, _loss_fn(linear, neuron, x))
        torch.set_num_threads(max(threads))
        # gradients against the toolkit's autograd layer computing the same neuron
        refs: dict[str, tuple[list[torch.Tensor], torch.Tensor]] = {}
        for peer in {_reference(k) for k in runs}:
            linear = torch.nn.Linear(n, n)
            linear.load_state_dict(ref_linear.state_dict())
            spikes = _loss_fn(linear, our_lif(n, "autograd", peer), x)()
            refs[peer] = (grads_of([linear.weight, linear.bias]), spikes.detach())
        checks = {}
        name_note: dict[str, str] = {}
        for name, (linear, run) in runs.items():
            spikes = run().detach()
            g = grads_of([linear.weight, linear.bias])
            ref_g, ref_spikes = refs[_reference(name)]
            err = max(rel_err(a, b) for a, b in zip(g, ref_g, strict=True))
            flips = int((spikes != ref_spikes).sum())
            if err > args.rtol and flips and dtype == torch.float32:
                # the peer's update rounds differently and moved a spike: check in float64
                err = _float64_error(name, contestants[name], ref_linear, x, n)
                name_note[name] = f"f64, {flips} flips"
            count = float(spikes.sum()) - float(ref_spikes.sum())
            ok = (
                err <= args.rtol
                and float(spikes.sum()) > 0
                and all(bool(torch.isfinite(t).all()) and float(t.abs().max()) > 0 for t in g)
            )
            mismatches += not ok
            checks[name] = (err, count, float(spikes.mean()), ok)
        best = {(k, t): [float("inf"), float("inf")] for k in runs for t in threads}
        for _ in range(args.repeats):
            for t in threads:
                torch.set_num_threads(t)
                for name, (_, run) in runs.items():
                    wall, cpu = timed(run)
                    b = best[(name, t)]
                    b[0], b[1] = min(b[0], wall), min(b[1], cpu)
        print(f"\nn = {n}: B*n = {args.B * n} lanes, load average {os.getloadavg()[0]:.2f}")
        head = f"{'contestant':15} {'rate':>6} {'grad rel':>9} {'spikes':>7}"
        for t in threads:
            head += f" | {t}T wall ms {'cpu ms':>7} {'/fused':>7}"
        if len(threads) > 1:
            head += f" | {threads[0]}T/{threads[-1]}T"
        print(head)
        for name, c in contestants.items():
            if name not in runs:
                print(f"{name:15} {c}")
                continue
            err, dcount, rate, ok = checks[name]
            row = f"{name:15} {rate:6.3f} {err:9.1e} {dcount:+7.0f}"
            for t in threads:
                wall, cpu = best[(name, t)]
                rel = wall / best[("ours fused", t)][0]
                row += f" | {wall * 1e3:10.1f} {cpu * 1e3:7.1f} {rel:6.2f}x"
            if len(threads) > 1:
                row += f" | {best[(name, threads[0])][0] / best[(name, threads[-1])][0]:6.2f}x"
            note = f"  (grad rel in {name_note[name]})" if name in name_note else ""
            print(row + ("" if ok else "  MISMATCH") + note)
    print(
        "\n(rate: spikes per lane-step; grad rel: norm-wise relative difference of dL/dW, dL/db "
        "against the toolkit's autograd layer computing the same neuron; spikes: spike count "
        "minus that layer's; /fused: wall time over ours fused at the same thread count)"
    )
    if mismatches:
        print(f"bench_open_neuromorphic: {mismatches} gradient check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
