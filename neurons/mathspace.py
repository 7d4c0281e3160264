"""The small math namespaces that surrogate shapes and parameterisations are written with.

``NUMPY_MATH``, ``TORCH_MATH`` and ``SYMPY_MATH`` each supply ``abs``, ``relu``, ``step``
(H with H(0) = 1), ``exp``, ``log``, ``sqrt``, ``sigmoid``, ``clip(x, lo, hi)`` and ``pi``, so one
formula evaluates in NumPy, PyTorch and SymPy (the torch functions also take plain numbers).
This module imports nothing else of the package (it breaks what would otherwise be an ``ops``
<-> ``surrogates`` cycle).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import sympy as sp
import torch

__all__ = ["NUMPY_MATH", "TORCH_MATH", "SYMPY_MATH"]


def _np_expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


NUMPY_MATH = SimpleNamespace(
    abs=np.abs,
    relu=lambda x: np.maximum(x, 0.0),
    step=lambda x: (np.asarray(x) >= 0).astype(np.float64),
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    sigmoid=_np_expit,
    clip=lambda x, lo, hi: np.clip(x, lo, hi),
    pi=math.pi,
)


def _t_exp(x):
    return torch.exp(x) if isinstance(x, torch.Tensor) else np.exp(x)


def _t_sigmoid(x):
    return torch.sigmoid(x) if isinstance(x, torch.Tensor) else _np_expit(x)


def _t_log(x):
    return torch.log(x) if isinstance(x, torch.Tensor) else np.log(x)


def _t_sqrt(x):
    return torch.sqrt(x) if isinstance(x, torch.Tensor) else np.sqrt(x)


def _t_abs(x):
    return torch.abs(x) if isinstance(x, torch.Tensor) else np.abs(x)


def _t_clip(x, lo, hi):
    return torch.clamp(x, lo, hi) if isinstance(x, torch.Tensor) else np.clip(x, lo, hi)


TORCH_MATH = SimpleNamespace(
    abs=_t_abs,
    relu=torch.relu,
    step=lambda x: (x >= 0).to(x.dtype),
    exp=_t_exp,
    log=_t_log,
    sqrt=_t_sqrt,
    sigmoid=_t_sigmoid,
    clip=_t_clip,
    pi=math.pi,
)

SYMPY_MATH = SimpleNamespace(
    abs=sp.Abs,
    relu=lambda x: sp.Max(0, x),
    step=lambda x: sp.Heaviside(x, 1),
    exp=sp.exp,
    log=sp.log,
    sqrt=sp.sqrt,
    sigmoid=lambda x: 1 / (1 + sp.exp(-x)),
    clip=lambda x, lo, hi: sp.Max(lo, sp.Min(x, hi)),
    pi=sp.pi,
)
