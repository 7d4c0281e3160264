"""Cost of the one-definition design: generic ``neurons.simulate`` vs a hand-written loop.

Both run the LSTM-LIF ("paper" convention, subtractive reset) over T steps x N neurons in
float64 and record the same traces (spikes and pre-reset d, s). The hand loop writes the
equations out with in-place ``out=`` ufuncs straight into the trace arrays (no temporaries):

    d[t] = d[t-1] + beta1 s[t-1] + I[t] - gamma S[t-1]
    s[t] = s[t-1] + beta2 d[t] - v_th S[t-1]
    S[t] = H(s[t] - v_th)

Each is timed ``--repeat`` times in one run (interleaved), the best time is kept, and the
traces are checked to be identical. Usage::

    python benchmarks/bench_simulate.py            # 1,000 steps x 100,000 neurons
    python benchmarks/bench_simulate.py --steps 200 --neurons 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lstmlif.neurons import LSTMLIF, simulate

BETA1, BETA2, GAMMA, V_TH = -0.5, 0.5, 0.5, 1.0


def hand_loop(current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSTM-LIF written out by hand; current (T, N) -> spikes, d, s, each (T, N) float64."""
    T, N = current.shape
    spikes = np.empty((T, N))
    d_rec = np.empty((T, N))
    s_rec = np.empty((T, N))
    zeros = np.zeros(N)
    tmp = np.empty(N)
    d_prev, s_prev, S_prev = zeros, zeros, zeros
    for t in range(T):
        d, s, S = d_rec[t], s_rec[t], spikes[t]
        np.multiply(s_prev, BETA1, out=d)
        np.add(d, d_prev, out=d)
        np.add(d, current[t], out=d)
        np.multiply(S_prev, GAMMA, out=tmp)
        np.subtract(d, tmp, out=d)
        np.multiply(d, BETA2, out=s)
        np.add(s, s_prev, out=s)
        np.multiply(S_prev, V_TH, out=tmp)
        np.subtract(s, tmp, out=s)
        np.greater_equal(s, V_TH, out=S)
        d_prev, s_prev, S_prev = d, s, S
    return spikes, d_rec, s_rec


def generic(current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same model through the generic runner and the model's one step function."""
    trace = simulate(LSTMLIF(beta1=BETA1, beta2=BETA2, gamma=GAMMA, v_th=V_TH), current)
    return trace.spikes, trace.states["d"], trace.states["s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--neurons", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.neurons <= 0 or args.repeat <= 0:
        raise SystemExit("--steps, --neurons and --repeat must be positive")
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    current = rng.uniform(0.0, 0.8, size=(args.steps, args.neurons))

    best = {"generic": np.inf, "hand": np.inf}
    results = {}
    for _ in range(args.repeat):
        for name, fn in (("generic", generic), ("hand", hand_loop)):
            results.pop(name, None)
            start = time.perf_counter()
            results[name] = fn(current)
            best[name] = min(best[name], time.perf_counter() - start)

    for label, a, b in zip(("spikes", "d", "s"), results["generic"], results["hand"], strict=True):
        if not np.array_equal(a, b):
            raise SystemExit(f"traces differ in {label}: max |diff| {np.max(np.abs(a - b))}")
    n_steps = args.steps * args.neurons
    rate = results["hand"][0].mean()
    print(f"LSTM-LIF, {args.steps} steps x {args.neurons} neurons, float64, spike rate {rate:.3f}")
    for label, key in (("generic simulate ", "generic"), ("hand-written loop", "hand")):
        ns = 1e9 * best[key] / n_steps
        print(f"{label}: {best[key]:.3f} s  ({ns:.2f} ns per neuron-step)")
    print(f"ratio generic / hand: {best['generic'] / best['hand']:.3f}  (traces identical)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
