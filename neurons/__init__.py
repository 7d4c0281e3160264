"""Neuron models defined once (pure step functions) and seen three ways: NumPy, PyTorch, SymPy.

>>> from lstmlif.neurons import LSTMLIF, simulate
>>> trace = simulate(LSTMLIF(beta1=-0.5, beta2=0.5), current)   # current: (T, *batch)
"""

from .models import (
    ALIF,
    CONVENTIONS,
    LIF,
    LSTMLIF,
    MODELS,
    RESETS,
    TCLIF,
    NeuronModel,
    TwoCompartment,
    alif_step,
    get_model,
    lif_step,
    two_compartment_step,
)
from .ops import NUMPY_OPS, SYMPY_OPS, TORCH_OPS, Ops
from .simulate import Trace, batch_shape, simulate
from .surrogates import (
    SURROGATES,
    Arctan,
    FastSigmoid,
    MultiGaussian,
    Rectangle,
    Sigmoid,
    Surrogate,
    Triangle,
    get_surrogate,
)

__all__ = [
    "ALIF",
    "CONVENTIONS",
    "LIF",
    "LSTMLIF",
    "MODELS",
    "RESETS",
    "TCLIF",
    "NeuronModel",
    "TwoCompartment",
    "alif_step",
    "get_model",
    "lif_step",
    "two_compartment_step",
    "NUMPY_OPS",
    "SYMPY_OPS",
    "TORCH_OPS",
    "Ops",
    "Trace",
    "batch_shape",
    "simulate",
    "SURROGATES",
    "Arctan",
    "FastSigmoid",
    "MultiGaussian",
    "Rectangle",
    "Sigmoid",
    "Surrogate",
    "Triangle",
    "get_surrogate",
]

from .layers import ALIFLayer, LIFLayer, LSTMLIFLayer, SpikingLayer, TCLIFLayer, make_layer  # noqa: E402

__all__ += ["ALIFLayer", "LIFLayer", "LSTMLIFLayer", "SpikingLayer", "TCLIFLayer", "make_layer"]

from .exact import BACKWARDS, exact_simulate, exact_spikes  # noqa: E402

__all__ += ["BACKWARDS", "exact_simulate", "exact_spikes"]
