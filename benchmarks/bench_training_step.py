"""A whole training step (forward, backward, Adam) of the S-MNIST network shape, the toolkit's
LIF and LSTM-LIF against the same LIF network in snntorch, spikingjelly and norse, on one and
two threads.

    python benchmarks/bench_training_step.py [--T 784 --B 64] [--sizes 1,64,256,256,10]
                                             [--variants ff,rec] [--models lif,lstmlif]
                                             [--threads 1,2] [--repeats 3] [--dtype float32]

The network: Linear(1, 64) -> neurons -> Linear(64, 256) -> neurons -> Linear(256, 256) ->
neurons -> Linear(256, 10); logits = the readout summed over the T steps divided by T; loss =
cross-entropy against fixed random labels; then ``torch.optim.Adam(lr=1e-3).step()``.

- ``ff`` (feed-forward): every Linear runs once over all T steps, one (T*B, C) x (C, H)
  product forward and one per weight gradient backward (``nn.Linear`` on a contiguous
  (T, B, C) tensor folds the leading axes), and the neurons take the whole current
  sequence: the toolkit's layer with ``backward="autograd"``, ``"exact"`` or ``"fused"``,
  the peers' layers as ``_common.peer_lif`` runs them.
- ``rec`` (recurrent): the two 256-wide layers also receive ``W_rec S[t-1]``; the input
  Linear still runs once over all T steps, the recurrent product once per step, the neuron
  stepped in the same Python loop (ours: the model's step function with ``TORCH_OPS``,
  differentiated by autograd; the exact and fused kernels take a whole current sequence and
  have no recurrent form).

The toolkit's LIF computes snntorch's neuron (leak 0.9, subtractive detached reset, arctan
surrogate); LSTM-LIF runs with the layer's defaults (its two logits trained). No peer has an
LSTM-LIF neuron: its rows are timed against the peers' LIF networks. ``matmuls only`` (``ff``):
the same Linear layers and Adam with every neuron replaced by the identity, the part of the
step all contestants share; the fastest peer's time over it bounds how much faster any neuron
can make the step.

Before timing, every network's gradients (all weights and biases, before Adam) are compared
with the toolkit's autograd LIF network computing the same neuron (``_common.our_switches``;
the toolkit's LSTM-LIF paths with its LSTM-LIF autograd network): norm-wise relative
difference, largest over the parameters, and a MISMATCH above ``--rtol`` (1e-4); where the
float32 difference is larger (a peer's update written in another order moves a spike whose
potential lands within rounding of the threshold) the check is redone in float64 and the
table says so. Timing:
``--repeats`` rounds, in each every thread count and within it every network in turn, from
the same initial weights (reloaded before each step, outside the timing); best wall and CPU
time per (network, threads); ratios within the run: each time over the fastest peer's at the
same thread count, and one thread over two.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from _common import (  # noqa: E402
    ALPHA,
    PEERS,
    grads_of,
    machine_line,
    our_switches,
    peer_lif,
    rel_err,
    timed,
    version,
)
from torch import nn  # noqa: E402

from lstmlif.neurons import TORCH_OPS, LIFLayer, make_layer  # noqa: E402


def _peer_cell(peer: str):
    """(init(B, H, like) -> state, step(I_t, state) -> (S_t, state)) of ``peer``'s LIF."""
    if peer == "snntorch":
        import snntorch as snn

        leaky = snn.Leaky(beta=ALPHA, threshold=1.0, spike_grad=snn.surrogate.atan(alpha=2.0))
        return (lambda like: torch.zeros_like(like)), (lambda i, m: leaky(i, m))
    if peer == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        node = neuron.LIFNode(
            tau=1.0 / (1.0 - ALPHA),
            decay_input=False,
            v_threshold=1.0,
            v_reset=None,
            surrogate_function=surrogate.ATan(alpha=2.0),
            detach_reset=True,
            step_mode="s",
        )

        def init(like):
            node.reset()
            return None

        return init, (lambda i, s: (node(i), None))
    if peer == "norse":
        import norse.torch as norse

        cell = norse.LIFBoxCell(
            norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(1.0)),
            dt=0.001,
        )
        return (lambda like: None), (lambda i, s: cell(10.0 * i, s))
    raise ValueError(peer)


def _our_cell(layer):
    """The toolkit layer's model stepped by hand (autograd through ``model.step``)."""
    box = {}

    def init(like):
        model = layer.model()
        box["model"] = model
        box["p"] = model.coefficients(TORCH_OPS).on(like)
        zeros = torch.zeros_like(like)
        state = {n: zeros for n in model.state_names}
        state["S"] = zeros
        return state

    def step(i, state):
        state, S = box["model"].step(box["p"], state, i, TORCH_OPS)
        return S, state

    return init, step


class Net(nn.Module):
    """sizes[0] -> ... -> sizes[-1]; ``seq`` maps a current (T, B, H) to spikes (feed-forward),
    ``cell`` gives (init, step) for the recurrent layers (all but the first)."""

    def __init__(self, sizes, neurons: list[nn.Module], seq=None, cells=None, recurrent=False):
        super().__init__()
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False)
        )
        self.rec = (
            nn.ModuleList(nn.Linear(h, h, bias=False) for h in sizes[2:-1]) if recurrent else None
        )
        self.neurons = nn.ModuleList(neurons)  # holds the neurons' trained parameters
        self.seq, self.cells = seq, cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for k, lin in enumerate(self.linears[:-1]):
            current = lin(h)  # one (T*B, C) x (C, H) product
            if self.rec is None or k == 0:
                h = self.seq[k](current).to(current.dtype)  # snntorch's spikes are float32
                continue
            init, step = self.cells[k]
            w_rec = self.rec[k - 1]
            state = init(current[0])
            S = torch.zeros_like(current[0])
            out = []
            for i_t in current.unbind(0):
                S, state = step(i_t + w_rec(S), state)
                S = S.to(i_t.dtype)
                out.append(S)
            h = torch.stack(out)
        return self.linears[-1](h).mean(0)


def _build(name: str, model: str, sizes, recurrent: bool) -> Net | None:
    """The network ``name`` ('ours <path>' or a peer) for ``model`` (lif or lstmlif)."""
    hidden = sizes[1:-1]
    if name.startswith("ours"):
        path = name.split()[1]
        if recurrent and path != "autograd":
            return None
        if model == "lif":
            layers = [
                LIFLayer(h, alpha=ALPHA, v_th=1.0, backward=path, **our_switches("snntorch"))
                for h in hidden
            ]
        else:
            layers = [make_layer(model, h, backward=path) for h in hidden]
        cells = [_our_cell(layer) for layer in layers]
        return Net(sizes, layers, seq=layers, cells=cells, recurrent=recurrent)
    seqs = [peer_lif(name) for _ in hidden]
    cells = [_peer_cell(name) for _ in hidden]
    return Net(sizes, [], seq=seqs, cells=cells, recurrent=recurrent)


def _reference_net(name: str, model: str, sizes, recurrent: bool) -> Net:
    """The toolkit's autograd network that ``name`` must agree with."""
    if name.startswith("ours") or model != "lif":
        return _build("ours autograd", model, sizes, recurrent)
    layers = [
        LIFLayer(h, alpha=ALPHA, v_th=1.0, backward="autograd", **our_switches(name))
        for h in sizes[1:-1]
    ]
    cells = [_our_cell(layer) for layer in layers]
    return Net(sizes, layers, seq=layers, cells=cells, recurrent=recurrent)


def _step_fn(net: Net, init: dict, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    def reset() -> None:
        net.load_state_dict(init)
        opt.state.clear()

    step.reset = reset  # type: ignore[attr-defined]
    return step


def _gradients(net: Net, init: dict, x, y) -> tuple[list[torch.Tensor], float]:
    net.load_state_dict(init)
    net.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    return grads_of(list(net.parameters())), float(loss.detach())


def _identity(current: torch.Tensor) -> torch.Tensor:
    return current


def _float64_error(name: str, model: str, sizes, rec: bool, inits: dict, x, y) -> float:
    """The gradient check of network ``name`` redone in float64 (fresh networks, the same
    initial weights cast)."""
    grads = []
    for who, net in (
        ("ours autograd", _reference_net(name, model, sizes, rec)),
        (name, _build(name, model, sizes, rec)),
    ):
        init = {k: v.double() for k, v in inits[(model, who)].items()}
        grads.append(_gradients(net.double(), init, x.double(), y)[0])
    return max(rel_err(a, b) for a, b in zip(grads[1], grads[0], strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--T", type=int, default=784)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--sizes", default="1,64,256,256,10")
    ap.add_argument("--variants", default="ff,rec")
    ap.add_argument("--models", default="lif,lstmlif")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        threads = [int(s) for s in args.threads.split(",")]
    except ValueError:
        raise SystemExit(
            "bench_training_step: --sizes and --threads are comma lists of ints"
        ) from None
    if len(sizes) < 3 or min(sizes) < 1 or min(threads) < 1:
        raise SystemExit("bench_training_step: sizes need >= 3 positive entries, threads >= 1")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if set(variants) - {"ff", "rec"} or set(models) - {"lif", "lstmlif"}:
        raise SystemExit("bench_training_step: variants are ff, rec; models are lif, lstmlif")
    torch.set_default_dtype(getattr(torch, args.dtype))
    print(
        f"Training step (forward, backward, Adam), sizes {sizes}, T={args.T} B={args.B} "
        f"{args.dtype}, best of {args.repeats}, threads {threads}"
    )
    print(machine_line())
    print(
        f"snntorch {version('snntorch')}, spikingjelly {version('spikingjelly')}, "
        f"norse {version('norse')}"
    )
    torch.manual_seed(0)
    x = torch.rand(args.T, args.B, sizes[0])
    y = torch.randint(0, sizes[-1], (args.B,))
    names = [f"ours {p}" for p in ("autograd", "exact", "fused")] + list(PEERS)
    mismatches = 0
    for variant in variants:
        rec = variant == "rec"
        nets: dict[tuple[str, str], Net] = {}
        for model in models:
            for name in names:
                if model != "lif" and not name.startswith("ours"):
                    continue
                try:
                    net = _build(name, model, sizes, rec)
                except ImportError as err:
                    print(f"{variant} {model} {name}: not installed ({err.name})")
                    continue
                if net is not None:
                    nets[(model, name)] = net
        torch.manual_seed(1)
        inits = {}
        for model in models:  # the same weights for every network of a model
            base = _build("ours autograd", model, sizes, rec).state_dict()
            for (m, name), net in nets.items():
                if m == model:
                    own = net.state_dict()
                    inits[(m, name)] = {
                        k: base[k].clone() if k in base else v for k, v in own.items()
                    }
        torch.set_num_threads(max(threads))
        checks = {}
        f64: set[tuple[str, str]] = set()
        for (model, name), net in nets.items():
            ref = _reference_net(name, model, sizes, rec)
            ref_g, ref_loss = _gradients(ref, inits[(model, "ours autograd")], x, y)
            g, loss = _gradients(net, inits[(model, name)], x, y)
            err = max(rel_err(a, b) for a, b in zip(g, ref_g, strict=True))
            if err > args.rtol and x.dtype == torch.float32:
                # an update written in another order can move a spike in float32 (a potential
                # within rounding of the threshold) and the gradient with it: check in float64
                err = _float64_error(name, model, sizes, rec, inits, x, y)
                f64.add((model, name))
            ok = err <= args.rtol and all(bool(torch.isfinite(t).all()) for t in g)
            ok = ok and sum(float(t.abs().sum()) for t in g) > 0
            mismatches += not ok
            checks[(model, name)] = (err, ok)
        if not rec:  # the part every contestant shares: the Linear products and Adam
            ident = Net(sizes, [], seq=[_identity] * (len(sizes) - 2))
            own = ident.state_dict()
            base = inits[(models[0], "ours autograd")]
            nets[("-", "matmuls only")] = ident
            inits[("-", "matmuls only")] = {k: base[k].clone() for k in own}
            checks[("-", "matmuls only")] = (float("nan"), True)
        steps = {k: _step_fn(net, inits[k], x, y) for k, net in nets.items()}
        best = {(k, t): [float("inf"), float("inf")] for k in nets for t in threads}
        for _ in range(args.repeats):
            for t in threads:
                torch.set_num_threads(t)
                for k, step in steps.items():
                    step.reset()
                    wall, cpu = timed(step)
                    b = best[(k, t)]
                    b[0], b[1] = min(b[0], wall), min(b[1], cpu)
        print(f"\n{variant}: load average {os.getloadavg()[0]:.2f}")
        head = f"{'model':8} {'network':14} {'grad rel':>9}"
        for t in threads:
            head += f" | {t}T wall ms {'cpu ms':>7} {'peer/us':>8} {'cpu':>6}"
        if len(threads) > 1:
            head += f" | {threads[0]}T/{threads[-1]}T"
        print(head)
        for model, name in nets:
            err, ok = checks[(model, name)]
            row = f"{model:8} {name:14} {err:9.1e}"
            for t in threads:
                wall, cpu = best[((model, name), t)]
                peers = [best[(("lif", p), t)] for p in PEERS if (("lif", p), t) in best]
                fw = min(b[0] for b in peers) if peers else float("nan")
                fc = min(b[1] for b in peers) if peers else float("nan")
                row += f" | {wall * 1e3:10.1f} {cpu * 1e3:7.1f} {fw / wall:7.2f}x {fc / cpu:5.2f}x"
            if len(threads) > 1:
                one, two = best[((model, name), threads[0])], best[((model, name), threads[-1])]
                row += f" | {one[0] / two[0]:6.2f}x"
            note = "  (grad rel in float64)" if (model, name) in f64 else ""
            print(row + ("" if ok else "  MISMATCH") + note)
    print(
        "\n(grad rel: largest norm-wise relative difference of a parameter's gradient against "
        "the toolkit's autograd network computing the same neuron; peer/us: the fastest peer's "
        "LIF network's wall time over this network's at the same thread count, then the same "
        "for CPU time)"
    )
    if mismatches:
        print(f"bench_training_step: {mismatches} gradient check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
