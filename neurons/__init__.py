"""Neuron models defined once (pure step functions) and seen three ways: NumPy, PyTorch, SymPy.

>>> from lstmlif.neurons import LSTMLIF, simulate
>>> trace = simulate(LSTMLIF(beta1=-0.5, beta2=0.5), current)   # current: (T, *batch)

Every model is registered (``model_names()``, ``get_model(name, **params)``); a new model is one
class with ``@register``.
"""

from .base import CONVENTIONS, RESETS, Coefficients, NeuronModel, Param
from .models import (
    ALIF,
    LIF,
    LSTMLIF,
    TCLIF,
    TwoCompartment,
    alif_step,
    lif_step,
    two_compartment_step,
)
from .ops import NUMPY_OPS, SYMPY_OPS, TORCH_OPS, Ops
from .parameterisations import Trainable
from .registry import (
    get_model,
    model_class,
    model_names,
    normalise_name,
    register,
    registered,
    unregister,
)
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
    "RESETS",
    "TCLIF",
    "Coefficients",
    "NeuronModel",
    "Param",
    "TwoCompartment",
    "alif_step",
    "get_model",
    "lif_step",
    "model_class",
    "model_names",
    "normalise_name",
    "register",
    "registered",
    "unregister",
    "two_compartment_step",
    "NUMPY_OPS",
    "SYMPY_OPS",
    "TORCH_OPS",
    "Ops",
    "Trainable",
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

from .layers import (  # noqa: E402
    ALIFLayer,
    LIFLayer,
    LSTMLIFLayer,
    ModelLayer,
    SpikingLayer,
    TCLIFLayer,
    make_layer,
)

__all__ += [
    "ALIFLayer",
    "LIFLayer",
    "LSTMLIFLayer",
    "ModelLayer",
    "SpikingLayer",
    "TCLIFLayer",
    "make_layer",
]

from .exact import BACKWARDS, exact_simulate, exact_spikes  # noqa: E402

__all__ += ["BACKWARDS", "exact_simulate", "exact_spikes"]

from . import catalogue  # noqa: E402, F401  (each module of the package registers its model)
