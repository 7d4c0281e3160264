"""How a trained layer stores a model parameter: value = form(raw), with raw the trained tensor.

Each form is written once over a math namespace (``neurons.mathspace``), so the same map runs in
NumPy, PyTorch (differentiable in the raw tensor) and SymPy (for chaining generated gradients
to the raw parameter). ``inverse`` gives the raw value that reproduces a parameter value, used to
initialise layers.

- ``Identity``: value = raw;
- ``Sigmoid(scale)``: value = scale * sigmoid(raw) (a decay in (0, 1), or LSTM-LIF's
  beta1 = -sigmoid(c1) with scale -1);
- ``Exp``: value = exp(raw) (a positive time constant stored as its log);
- ``Clamp(lo, hi)``: value = clip(raw, lo, hi) in every forward (zero gradient outside);
- ``Interpolate(lo, hi)``: value = lo + (hi - lo) raw, raw in [0, 1] (time constants trained by
  interpolation between two bounds; the clamp of raw to [0, 1] is applied by the layer's
  ``clamp_`` after an optimiser step, not in the forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Form", "Identity", "Sigmoid", "Exp", "Clamp", "Interpolate", "Trainable"]


@dataclass(frozen=True)
class Form:
    """Base: ``forward(raw, m)`` maps the raw tensor to the parameter value; ``inverse(value)``
    is the raw float for a parameter value (ValueError when the value is out of the form's
    range); ``project(raw)`` is what an in-place clamp after an optimiser step does (identity
    unless the form says otherwise)."""

    name = "form"

    def forward(self, raw: Any, m: Any) -> Any:
        raise NotImplementedError

    def inverse(self, value: float) -> float:
        raise NotImplementedError

    def describe(self, param: str, raw: str) -> str:
        """A one-line formula, e.g. ``beta1 = -sigmoid(c1)``."""
        raise NotImplementedError

    def clamps_after_step(self) -> tuple[float, float] | None:
        """(lo, hi) to clamp the raw tensor to after an optimiser step, or None."""
        return None


@dataclass(frozen=True)
class Identity(Form):
    name = "identity"

    def forward(self, raw: Any, m: Any) -> Any:
        return raw

    def inverse(self, value: float) -> float:
        return float(value)

    def describe(self, param: str, raw: str) -> str:
        return f"{param} = {raw}"


@dataclass(frozen=True)
class Sigmoid(Form):
    """value = scale * sigmoid(raw); the value lies strictly between 0 and ``scale``."""

    scale: float = 1.0
    name = "sigmoid"

    def forward(self, raw: Any, m: Any) -> Any:
        s = m.sigmoid(raw)
        return s if self.scale == 1.0 else self.scale * s

    def inverse(self, value: float) -> float:
        y = float(value) / self.scale
        if not 0.0 < y < 1.0:
            lo, hi = sorted((0.0, self.scale))
            raise ValueError(
                f"a value trained as {self.describe('value', 'raw')} must lie in "
                f"({lo:g}, {hi:g}), got {value!r}"
            )
        return math.log(y / (1.0 - y))

    def describe(self, param: str, raw: str) -> str:
        lead = "" if self.scale == 1.0 else ("-" if self.scale == -1.0 else f"{self.scale:g} * ")
        return f"{param} = {lead}sigmoid({raw})"


@dataclass(frozen=True)
class Exp(Form):
    name = "exp"

    def forward(self, raw: Any, m: Any) -> Any:
        return m.exp(raw)

    def inverse(self, value: float) -> float:
        if not float(value) > 0.0:
            raise ValueError(f"a value trained as exp(raw) must be > 0, got {value!r}")
        return math.log(float(value))

    def describe(self, param: str, raw: str) -> str:
        return f"{param} = exp({raw})"


@dataclass(frozen=True)
class Clamp(Form):
    """value = clip(raw, lo, hi) in the forward (as sparch's adLIF does every forward)."""

    lo: float = 0.0
    hi: float = 1.0
    name = "clamp"

    def forward(self, raw: Any, m: Any) -> Any:
        return m.clip(raw, self.lo, self.hi)

    def inverse(self, value: float) -> float:
        if not self.lo <= float(value) <= self.hi:
            raise ValueError(
                f"a value trained as clip(raw, {self.lo:g}, {self.hi:g}) must lie in "
                f"[{self.lo:g}, {self.hi:g}], got {value!r}"
            )
        return float(value)

    def describe(self, param: str, raw: str) -> str:
        return f"{param} = clip({raw}, {self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class Interpolate(Form):
    """value = lo + (hi - lo) raw; raw is clamped to [0, 1] after each optimiser step."""

    lo: float = 0.0
    hi: float = 1.0
    name = "interpolate"

    def forward(self, raw: Any, m: Any) -> Any:
        return self.lo + (self.hi - self.lo) * raw

    def inverse(self, value: float) -> float:
        r = (float(value) - self.lo) / (self.hi - self.lo)
        if not 0.0 <= r <= 1.0:
            raise ValueError(
                f"a value trained by interpolation must lie in [{self.lo:g}, {self.hi:g}], "
                f"got {value!r}"
            )
        return r

    def describe(self, param: str, raw: str) -> str:
        return f"{param} = {raw} * {self.hi:g} + (1 - {raw}) * {self.lo:g}"

    def clamps_after_step(self) -> tuple[float, float] | None:
        return (0.0, 1.0)


@dataclass(frozen=True)
class Trainable:
    """How a layer trains one model parameter: the raw tensor's attribute name and the form."""

    raw: str
    form: Form = Identity()
