"""Surrogate derivatives of the Heaviside spike.

Forward, every surrogate is the same step ``S = H(x)`` with ``H(0) = 1``; backward it replaces
``dS/dx`` by a shape ``psi(x)``. Each shape is written once, as ``psi(x, ops)`` over a small
math namespace, so NumPy, PyTorch and SymPy evaluate the same formula. Each also has a smooth
*primitive* ``Phi`` with ``Phi' = psi`` (NumPy), its peak ``psi(0)`` and its integral over R.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import special

from .mathspace import NUMPY_MATH

__all__ = [
    "Surrogate",
    "Triangle",
    "Rectangle",
    "FastSigmoid",
    "Sigmoid",
    "Arctan",
    "MultiGaussian",
    "DoubleGaussian",
    "Exponential",
    "SURROGATES",
    "get_surrogate",
]


def _positive(name: str, owner: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: '{name}' must be a finite number > 0, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: '{name}' must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Surrogate:
    """Base record: a named shape ``psi`` with its parameters."""

    name = "surrogate"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _positive(f.name, f"surrogate '{self.name}'", getattr(self, f.name))
            object.__setattr__(self, f.name, value)  # stored as a plain float

    def psi(self, x: Any, m: Any) -> Any:
        """psi(x), written with the math namespace ``m`` (see ``neurons.ops``)."""
        raise NotImplementedError

    def primitive(self, x: np.ndarray) -> np.ndarray:
        """Phi(x) with Phi' = psi and Phi(-inf) = 0 (NumPy, float64)."""
        raise NotImplementedError

    @property
    def peak(self) -> float:
        """psi(0)."""
        raise NotImplementedError

    @property
    def integral(self) -> float:
        """The integral of psi over the real line."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """psi(x) in NumPy."""
        return self.psi(np.asarray(x, dtype=np.float64), NUMPY_MATH)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """psi(x) = max(0, 1 - |x|/width) / width. Peak 1/width, integral 1 (the paper's eq. 21)."""

    width: float = 1.0
    name = "triangle"

    def psi(self, x: Any, m: Any) -> Any:
        return m.relu(1 - m.abs(x) / self.width) / self.width

    def primitive(self, x: np.ndarray) -> np.ndarray:
        w = self.width
        y = np.clip(np.asarray(x, dtype=np.float64) / w, -1.0, 1.0)
        return np.where(y < 0, 0.5 * (1 + y) ** 2, 1 - 0.5 * (1 - y) ** 2)

    @property
    def peak(self) -> float:
        return 1.0 / self.width

    @property
    def integral(self) -> float:
        return 1.0


@dataclass(frozen=True)
class Rectangle(Surrogate):
    """psi(x) = 1/width on |x| <= width/2, else 0. Peak 1/width, integral 1."""

    width: float = 1.0
    name = "rectangle"

    def psi(self, x: Any, m: Any) -> Any:
        return m.step(self.width / 2 - m.abs(x)) / self.width

    def primitive(self, x: np.ndarray) -> np.ndarray:
        w = self.width
        return np.clip((np.asarray(x, dtype=np.float64) + w / 2) / w, 0.0, 1.0)

    @property
    def peak(self) -> float:
        return 1.0 / self.width

    @property
    def integral(self) -> float:
        return 1.0


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike: psi(x) = 1 / (1 + slope*|x|)^2. Peak 1, integral 2/slope."""

    slope: float = 25.0
    name = "fast_sigmoid"

    def psi(self, x: Any, m: Any) -> Any:
        return 1 / (1 + self.slope * m.abs(x)) ** 2

    def primitive(self, x: np.ndarray) -> np.ndarray:
        k = self.slope
        x = np.asarray(x, dtype=np.float64)
        return 1 / k + np.sign(x) * (1 - 1 / (1 + k * np.abs(x))) / k

    @property
    def peak(self) -> float:
        return 1.0

    @property
    def integral(self) -> float:
        return 2.0 / self.slope


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """``psi(x) = slope * s(slope*x) * (1 - s(slope*x))``, s the logistic. Peak ``slope/4``,
    integral 1."""

    slope: float = 4.0
    name = "sigmoid"

    def psi(self, x: Any, m: Any) -> Any:
        s = m.sigmoid(self.slope * x)
        return self.slope * s * (1 - s)

    def primitive(self, x: np.ndarray) -> np.ndarray:
        return special.expit(self.slope * np.asarray(x, dtype=np.float64))

    @property
    def peak(self) -> float:
        return self.slope / 4.0

    @property
    def integral(self) -> float:
        return 1.0


@dataclass(frozen=True)
class Arctan(Surrogate):
    """psi(x) = (alpha/2) / (1 + (pi/2 * alpha * x)^2). Peak alpha/2, integral 1."""

    alpha: float = 2.0
    name = "arctan"

    def psi(self, x: Any, m: Any) -> Any:
        return (self.alpha / 2) / (1 + (m.pi / 2 * self.alpha * x) ** 2)

    def primitive(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return 0.5 + np.arctan(np.pi / 2 * self.alpha * x) / np.pi

    @property
    def peak(self) -> float:
        return self.alpha / 2.0

    @property
    def integral(self) -> float:
        return 1.0


def _normal_pdf(x, mu, sigma, m):
    return m.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


@dataclass(frozen=True)
class MultiGaussian(Surrogate):
    """``psi = scale*[(1+h) N(x;0,sigma) - h N(x;sigma,s*sigma) - h N(x;-sigma,s*sigma)]``.

    Peak ``scale*[(1+h)/(sigma sqrt(2 pi)) - 2h N(sigma; 0, s sigma)]``, integral
    ``scale*(1 - h)``.
    """

    sigma: float = 0.5
    h: float = 0.15
    s: float = 6.0
    scale: float = 0.5
    name = "multi_gaussian"

    def psi(self, x: Any, m: Any) -> Any:
        sg, h, wide = self.sigma, self.h, self.s * self.sigma
        return self.scale * (
            (1 + h) * _normal_pdf(x, 0.0, sg, m)
            - h * _normal_pdf(x, sg, wide, m)
            - h * _normal_pdf(x, -sg, wide, m)
        )

    def primitive(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        sg, h, wide = self.sigma, self.h, self.s * self.sigma

        def cdf(z, mu, sd):
            return special.ndtr((z - mu) / sd)

        return self.scale * (
            (1 + h) * cdf(x, 0.0, sg) - h * cdf(x, sg, wide) - h * cdf(x, -sg, wide)
        )

    @property
    def peak(self) -> float:
        sg, h, wide = self.sigma, self.h, self.s * self.sigma
        narrow = 1 / (sg * math.sqrt(2 * math.pi))
        side = math.exp(-(sg**2) / (2 * wide**2)) / (wide * math.sqrt(2 * math.pi))
        return self.scale * ((1 + h) * narrow - 2 * h * side)

    @property
    def integral(self) -> float:
        return self.scale * (1 - self.h)


@dataclass(frozen=True)
class DoubleGaussian(Surrogate):
    """BRF's double Gaussian: ``psi = scale*[(1+p) N(x;0,sigma1) - 2p N(x;0,sigma2)]``.

    N is the normalised Gaussian pdf. Peak ``scale*[(1+p)/sigma1 - 2p/sigma2]/sqrt(2 pi)``
    (0.4388 at the defaults p = 0.15, sigma1 = 0.5, sigma2 = 3, scale = 0.5), integral
    ``scale*(1 - p)``. Primitive ``scale*[(1+p) Phi(x/sigma1) - 2p Phi(x/sigma2)]``, Phi the
    normal cdf.
    """

    p: float = 0.15
    sigma1: float = 0.5
    sigma2: float = 3.0
    scale: float = 0.5
    name = "double_gaussian"

    def psi(self, x: Any, m: Any) -> Any:
        return self.scale * (
            (1 + self.p) * _normal_pdf(x, 0.0, self.sigma1, m)
            - 2 * self.p * _normal_pdf(x, 0.0, self.sigma2, m)
        )

    def primitive(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.scale * (
            (1 + self.p) * special.ndtr(x / self.sigma1)
            - 2 * self.p * special.ndtr(x / self.sigma2)
        )

    @property
    def peak(self) -> float:
        root = math.sqrt(2 * math.pi)
        return self.scale * ((1 + self.p) / self.sigma1 - 2 * self.p / self.sigma2) / root

    @property
    def integral(self) -> float:
        return self.scale * (1 - self.p)


@dataclass(frozen=True)
class Exponential(Surrogate):
    """SLAYER's exponential (SE-adLIF): psi = c * alpha / 2 * exp(-alpha |x|).

    Peak c*alpha/2 (1.0 at the defaults alpha = 5, c = 0.4), integral c. Primitive
    (c/2) exp(alpha x) for x < 0 and c - (c/2) exp(-alpha x) for x >= 0.
    """

    alpha: float = 5.0
    c: float = 0.4
    name = "exponential"

    def psi(self, x: Any, m: Any) -> Any:
        return self.c * self.alpha / 2 * m.exp(-self.alpha * m.abs(x))

    def primitive(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        half = 0.5 * self.c * np.exp(-self.alpha * np.abs(x))
        return np.where(x < 0, half, self.c - half)

    @property
    def peak(self) -> float:
        return self.c * self.alpha / 2

    @property
    def integral(self) -> float:
        return self.c


SURROGATES: dict[str, type[Surrogate]] = {
    cls.name: cls
    for cls in (
        Triangle,
        Rectangle,
        FastSigmoid,
        Sigmoid,
        Arctan,
        MultiGaussian,
        DoubleGaussian,
        Exponential,
    )
}


def get_surrogate(spec: str | Surrogate | None = None, **params: float) -> Surrogate:
    """Return a surrogate record from a name (``"triangle"``...) or pass one through.

    ``None`` gives the default, ``Triangle(width=1)``. Unknown names raise ``ValueError``.
    """
    if spec is None:
        spec = "triangle"
    if isinstance(spec, Surrogate):
        if params:
            raise ValueError("surrogate: give parameters either in the record or as keywords")
        return spec
    if not isinstance(spec, str) or spec not in SURROGATES:
        raise ValueError(f"surrogate: unknown name {spec!r}; choose one of {sorted(SURROGATES)}")
    cls = SURROGATES[spec]
    allowed = {f.name for f in fields(cls)}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"surrogate '{spec}': unknown parameter(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    return cls(**params)
