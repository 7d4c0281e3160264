"""Make ``snntorch_net.nir``, the NIR file of the documentation's round trip (docs/nir.md).

snntorch is a peer, not a dependency: install it (and nirtorch) without its dependencies,
beside the torch the project already has, then run this script:

    .venv/bin/pip install --no-deps snntorch==1.0.0 nirtorch==2.6
    .venv/bin/python docs/assets/nir/make_snntorch_nir.py

The network: Linear(4, 8) -> Leaky (beta = 0.9) -> Linear(8, 2) -> Synaptic (alpha = 0.8,
beta = 0.95), the decays and thresholds given per neuron (NIR's shape inference needs the layer
width). snntorch exports Leaky as NIR's LIF and Synaptic as NIR's CubaLIF, writing each decay as
a time constant tau = dt / (1 - decay) with its own dt = 1e-4 (seconds): analyse the file with
``lstmlif inspect --nir snntorch_net.nir --as snntorch`` (its dt, Euler decays, and a membrane
that reads the new synaptic current) to get the decays back.
"""

from __future__ import annotations

from pathlib import Path

import nir
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

OUT = Path(__file__).with_name("snntorch_net.nir")


def network() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        snn.Leaky(beta=torch.full((8,), 0.9), threshold=torch.ones(8), init_hidden=True),
        torch.nn.Linear(8, 2),
        snn.Synaptic(
            alpha=torch.full((2,), 0.8),
            beta=torch.full((2,), 0.95),
            threshold=torch.ones(2),
            init_hidden=True,
            output=True,
        ),
    )


def main() -> None:
    graph = export_to_nir(network(), torch.zeros(1, 4), ignore_dims=[0])
    nir.write(OUT, graph)
    print(f"wrote {OUT}: nodes {sorted(graph.nodes)}")
    for name, node in graph.nodes.items():
        fields = {k: v for k, v in vars(node).items() if k != "metadata"}
        print(name, type(node).__name__, fields)


if __name__ == "__main__":
    main()
