"""The three views of a step function: NumPy, PyTorch and SymPy "ops" bundles.

A step function only uses ``+ - * /`` and the operations of an ``Ops`` bundle:
``spike(x, surrogate)`` (Heaviside forward, surrogate ``psi`` backward), ``detach`` (stop the
gradient), ``exp``, ``sigmoid`` and ``zeros_like``. Surrogate shapes use the smaller math
namespace ``Ops.m`` (``neurons.mathspace``: ``abs``, ``relu``, ``step``, ``exp``, ``log``, ``sqrt``,
``sigmoid``, ``clip``, ``pi``), which step functions may use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import sympy as sp
import torch

from .mathspace import NUMPY_MATH, SYMPY_MATH, TORCH_MATH
from .surrogates import Surrogate

__all__ = [
    "Ops",
    "NUMPY_OPS",
    "TORCH_OPS",
    "SYMPY_OPS",
    "NUMPY_MATH",
    "TORCH_MATH",
    "SYMPY_MATH",
    "SpikeFunction",
    "Spike",
    "Psi",
    "StopGradient",
]


@dataclass(frozen=True)
class Ops:
    """One view: how to spike, detach, exponentiate and allocate zeros."""

    name: str
    m: SimpleNamespace
    spike: Any
    detach: Any
    zeros_like: Any

    @property
    def exp(self) -> Any:
        """The backend's elementwise exp."""
        return self.m.exp

    @property
    def sigmoid(self) -> Any:
        """The backend's elementwise logistic function 1 / (1 + exp(-x))."""
        return self.m.sigmoid


def _np_spike(x, surrogate: Surrogate):
    """H(x) as float64 0/1 with H(0) = 1."""
    return (x >= 0).astype(np.float64)


NUMPY_OPS = Ops("numpy", NUMPY_MATH, _np_spike, lambda x: x, np.zeros_like)


class SpikeFunction(torch.autograd.Function):
    """S = H(x) forward (H(0) = 1); dS/dx = psi(x) backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.psi(x, TORCH_MATH), None


def _torch_spike(x, surrogate: Surrogate):
    return SpikeFunction.apply(x, surrogate)


TORCH_OPS = Ops("torch", TORCH_MATH, _torch_spike, lambda x: x.detach(), torch.zeros_like)


class Psi(sp.Function):
    """The surrogate derivative psi(x), left abstract until a surrogate is substituted."""

    nargs = 1


class Spike(sp.Function):
    """Symbolic spike H(x) with H(0) = 1 whose derivative is the abstract ``Psi(x)``."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_number and x.is_real:
            return sp.Integer(1) if bool(x >= 0) else sp.Integer(0)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return Psi(self.args[0])


class StopGradient(sp.Function):
    """Identity in value, zero derivative: the symbolic detach."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_number:
            return x
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.Integer(0)


def _sym_spike(x, surrogate: Surrogate):
    return Spike(x)


SYMPY_OPS = Ops("sympy", SYMPY_MATH, _sym_spike, StopGradient, lambda x: sp.Integer(0))
