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
from pathlib import Path as _Path

# In a checkout, the subpackages are the folders beside this one (setuptools' package-dir maps
# lstmlif.neurons to neurons/ ...). Python run from the checkout's root finds this folder before
# an installed lstmlif, so the package also searches the checkout's root for its subpackages:
# ``python -m lstmlif`` and ``import lstmlif.analysis`` work there after any install.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "neurons" / "__init__.py").is_file():
    __path__.append(str(_checkout))

try:
    __version__ = _metadata.version("lstmlif")
except _metadata.PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
