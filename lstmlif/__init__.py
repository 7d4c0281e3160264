"""lstmlif: the gradient theory of spiking neurons, derived in SymPy, simulated in NumPy and
checked against PyTorch autograd.

Subpackages (imports run one way, top to bottom):

- ``lstmlif.figures``: one module per figure, auto-discovered;
- ``lstmlif.experiments``: tasks, training and the sweep runner;
- ``lstmlif.analysis``: derivations, generated adjoints, gradient checks, stability, flow;
- ``lstmlif.neurons``: the model registry, step functions, surrogates, simulate, layers.

The command line is ``lstmlif`` (also ``python -m lstmlif``).
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("lstmlif")
except _metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
