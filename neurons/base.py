"""The base of every neuron model: a frozen parameter record that describes itself.

A model class supplies three pieces of code and its metadata:

- ``coefficients(ops)``: a typed, frozen ``Coefficients`` record of everything the step reads
  (derived numbers such as a leak exp(-dt/tau) and the switches);
- ``step(p, state, current, ops) -> (new_state, spike)``: one time step, written only with
  ``+ - * /`` and the operations of an ``Ops`` bundle, so that NumPy, PyTorch and SymPy run the
  same code. ``state`` holds the previous step's carried states (``state_names``) and its spike
  ``"S"``; the new state holds the same keys;
- ``spike_argument(p, state, ops)``: the quantity compared with 0 to decide a spike, a function
  of the carried state alone (so S[t] = H(spike_argument(x[t])) and the carried state is a
  Markov state of the neuron: x[t] = G(x[t-1], I[t])).

The metadata (class attributes) is read by every consumer through the registry
(``neurons.registry``): ``name`` and ``aliases``; ``state_names`` and ``threshold_state``;
``param_names`` (the parameters of ``params()``) and ``param_specs`` (allowed ranges);
the supported switch values; ``verify_params`` and ``input_stats`` (a verification case that
spikes) with ``verify_stream`` (a fixed random-stream number for ``verify``, read from the class
itself, never inherited; None: one keyed by the name); ``label``, ``color`` and ``group`` for
plots and tables; ``trainable`` (how a layer stores each parameter), ``layer_defaults``
(``make_layer``'s defaults: which parameters are trained, per neuron or per layer) and
``network_defaults`` (the layer options of the learning experiments' networks); the hooks
``sample_init``, ``init_population``, ``paper_claims`` (``lstmlif compare``) and ``claims``
(``lstmlif derive``).
"""

from __future__ import annotations

import decimal
import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
import sympy as sp
import torch

from .ops import NUMPY_OPS, SYMPY_OPS, TORCH_OPS, Ops
from .parameterisations import Trainable
from .surrogates import Surrogate, get_surrogate

__all__ = [
    "CONVENTIONS",
    "RESETS",
    "SWITCHES",
    "Param",
    "Coefficients",
    "NeuronModel",
    "PaperClaim",
    "ParamLike",
    "VERDICTS",
    "backend_ops",
    "check_param",
    "choice",
    "require_step",
    "reset_spike",
    "scale",
]

CONVENTIONS = ("paper", "code")
RESETS = ("subtract", "zero")
SWITCHES = ("convention", "reset", "detach_reset", "surrogate")

ParamLike = Any  # float | np.ndarray | torch.Tensor | sympy.Expr


# ----------------------------------------------------------------------------- validation


def _real_scalar(value: Any) -> bool:
    """A real number other than a boolean: int, float, Fraction, Decimal or a NumPy scalar."""
    return isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(
        value, (bool, np.bool_)
    )


def _float64(value: Any, what: str) -> np.ndarray:
    """``value`` (a scalar or an object array of real numbers) as float64; a ValueError naming
    ``what`` where a number is beyond float64's range (an int or a Fraction; a Decimal rounds
    to inf, refused later as not finite)."""
    try:
        return np.asarray(value).astype(np.float64)
    except OverflowError:
        raise ValueError(f"got {what} beyond float64's range (|value| > 1.8e308)") from None


def _as_numpy(value: ParamLike) -> np.ndarray | None:
    """A float64 NumPy copy of a numeric parameter, or None for a symbolic one."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"complex tensor ({value.dtype}) is not a real number")
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, sp.Basic):
        if value.is_number:
            if not value.is_real:
                raise ValueError(f"not a real number: {value}")
            return np.asarray(float(value))
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError("a boolean is not a number here")
    if isinstance(value, decimal.Decimal) or (
        isinstance(value, numbers.Real) and not isinstance(value, np.generic)
    ):
        return _float64(value, type(value).__name__)  # a Fraction, a Decimal, an int subclass
    arr = np.asarray(value)
    if arr.dtype == object and arr.size and all(_real_scalar(v) for v in arr.flat):
        return _float64(arr, "an array element")  # an array of Fractions or Decimals
    if (
        arr.dtype == object
        or not np.issubdtype(arr.dtype, np.number)
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise ValueError(f"not a real number: {value!r}")
    return arr.astype(np.float64)


def check_param(
    owner: str,
    name: str,
    value: ParamLike,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = True,
    hi_open: bool = True,
) -> ParamLike:
    """Validate a parameter against ``lo < value < hi`` (or closed ends) and return it.

    Python numbers and array-likes become float / float64 arrays; tensors and SymPy
    expressions are returned as they are (checked by value where numeric). Raises
    ``ValueError`` naming ``owner`` and the parameter.
    """
    try:
        arr = _as_numpy(value)
    except ValueError as err:
        raise ValueError(f"{owner}: parameter '{name}' must be a real number; {err}") from None
    lo_b = "(" if lo_open else "["
    hi_b = ")" if hi_open else "]"
    allowed = f"{lo_b}{lo:g}, {hi:g}{hi_b}"
    if arr is not None:
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{owner}: parameter '{name}' must be finite (got NaN or inf); allowed {allowed}"
            )
        bad = (arr <= lo) if lo_open else (arr < lo)
        bad = bad | ((arr >= hi) if hi_open else (arr > hi))
        if np.any(bad):
            shown = arr if arr.ndim == 0 else arr[bad].ravel()[:3]
            raise ValueError(f"{owner}: parameter '{name}' must lie in {allowed}, got {shown}")
    if isinstance(value, (torch.Tensor, sp.Basic)):
        return value
    if np.ndim(value) == 0:
        return float(arr)
    return arr


def choice(owner: str, name: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``allowed``, else a ValueError naming the option."""
    if isinstance(value, (bool, np.bool_)) != isinstance(allowed[0], bool) or value not in allowed:
        raise ValueError(f"{owner}: unknown {name} {value!r}; choose one of {list(allowed)}")
    return value


@dataclass(frozen=True)
class Param:
    """A parameter's allowed range (open or closed ends) and a one-line meaning."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = True
    hi_open: bool = True
    doc: str = ""

    def check(self, owner: str, name: str, value: ParamLike) -> ParamLike:
        """The validated value (see ``check_param``)."""
        return check_param(owner, name, value, self.lo, self.hi, self.lo_open, self.hi_open)

    @property
    def positive(self) -> bool:
        """True when every allowed value is > 0 (SymPy symbols get ``positive=True``)."""
        return self.lo > 0 or (self.lo == 0 and self.lo_open)

    def allowed(self) -> str:
        lo_b = "(" if self.lo_open else "["
        hi_b = ")" if self.hi_open else "]"
        return f"{lo_b}{self.lo:g}, {self.hi:g}{hi_b}"


def scale(a: Any, x: Any) -> Any:
    """a * x, skipping the product when a is exactly the number 1 (no-leak models)."""
    if isinstance(a, float) and a == 1.0:
        return x
    return a * x


def reset_spike(p: Coefficients, S: Any, ops: Ops) -> Any:
    """The spike as it enters a reset: detached when ``p.detach_reset``."""
    return ops.detach(S) if p.detach_reset else S


def require_step(model: Any, who: str) -> None:
    """A ValueError unless ``model`` is a neuron model whose class defines the three pieces
    (coefficients, step, spike_argument)."""
    if not isinstance(model, NeuronModel):
        raise ValueError(f"{who}: expected a neuron model, got {type(model).__name__}")
    for method in ("coefficients", "step", "spike_argument"):
        if getattr(type(model), method) is getattr(NeuronModel, method):
            raise ValueError(f"{who}: {type(model).__name__} does not define {method}()")


def backend_ops(*values: Any) -> Ops:
    """The view that fits the values: torch if any is a tensor, SymPy if any is symbolic."""
    if any(isinstance(v, torch.Tensor) for v in values):
        return TORCH_OPS
    if any(isinstance(v, sp.Basic) and not v.is_number for v in values):
        return SYMPY_OPS
    return NUMPY_OPS


# ----------------------------------------------------------------------------- coefficients


@dataclass(frozen=True, kw_only=True)
class Coefficients:
    """Base of the typed records a step reads: the switches; subclasses add the numbers."""

    convention: str
    reset: str
    detach_reset: bool
    surrogate: Surrogate

    def numbers(self) -> dict[str, Any]:
        """The numeric fields (everything but the switches) by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in SWITCHES}

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (switches included), without copying values."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def map(self, fn: Any) -> Coefficients:
        """A copy with ``fn(value)`` applied to every numeric field."""
        return replace(self, **{k: fn(v) for k, v in self.numbers().items()})

    def on(self, like: torch.Tensor) -> Coefficients:
        """A copy whose arrays and tensors sit on ``like``'s device and dtype (tensors stay
        differentiable); Python and NumPy scalars become floats (they combine with any dtype)."""

        def move(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return v.to(device=like.device, dtype=like.dtype)
            if isinstance(v, np.ndarray) and v.ndim > 0:
                return torch.as_tensor(v, device=like.device, dtype=like.dtype)
            if isinstance(v, np.generic | np.ndarray):
                return float(v)
            return v

        return self.map(move)


# ----------------------------------------------------------------------------- paper claims

VERDICTS = ("holds", "fails", "partly", "not testable")
"""What ``lstmlif compare`` can say about a published claim."""


@dataclass(frozen=True)
class PaperClaim:
    """A published statement about a model and how ``lstmlif compare`` judges it.

    source: where the words are from; quote: the words; check: how they are tested, one line;
    judge: ``judge(ctx) -> (verdict, evidence)``, verdict one of ``VERDICTS``, where ctx is the
    context ``analysis.compare`` passes (the sampled draws, their sub-threshold statistics and
    a function that analyses any other model); None when nothing here can test the statement.
    """

    source: str
    quote: str
    check: str
    judge: Any = None


# ----------------------------------------------------------------------------- base record


@dataclass(frozen=True, eq=False, kw_only=True)
class NeuronModel:
    """Common switches of every model.

    convention: "paper" | "code"; reset: "subtract" | "zero"; detach_reset: no gradient through
    the spike inside the reset; surrogate: a name from ``neurons.SURROGATES`` or a record.
    A model class may support fewer switch values (``conventions``, ``resets``,
    ``detach_options``); an unsupported value is a ValueError.
    """

    convention: str = "paper"
    reset: str = "subtract"
    detach_reset: bool = False
    surrogate: Surrogate | str | None = "triangle"

    # --- metadata read through the registry (see the module docstring)
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str] = ""
    color: ClassVar[str] = "#000000"
    group: ClassVar[str] = "user"
    state_names: ClassVar[tuple[str, ...]] = ()
    threshold_state: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    param_specs: ClassVar[dict[str, Param]] = {}
    conventions: ClassVar[tuple[str, ...]] = CONVENTIONS
    resets: ClassVar[tuple[str, ...]] = RESETS
    detach_options: ClassVar[tuple[bool, ...]] = (False, True)
    verify_params: ClassVar[dict[str, float]] = {}
    input_stats: ClassVar[tuple[float, float]] = (0.3, 0.6)
    verify_stream: ClassVar[int | None] = None
    trainable: ClassVar[dict[str, Trainable]] = {}
    layer_defaults: ClassVar[dict[str, Any]] = {}
    network_defaults: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        owner = type(self).__name__
        choice(owner, "convention", self.convention, self.conventions)
        choice(owner, "reset", self.reset, self.resets)
        if not isinstance(self.detach_reset, (bool, np.bool_)):
            raise ValueError(
                f"{owner}: detach_reset must be True or False, got {self.detach_reset!r}"
            )
        choice(owner, "detach_reset", bool(self.detach_reset), self.detach_options)
        object.__setattr__(self, "detach_reset", bool(self.detach_reset))
        object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))
        self._validate()

    def _validate(self) -> None:
        """Check every parameter that has a spec and is set (None means "not given")."""
        owner = type(self).__name__
        for name, spec in self.param_specs.items():
            value = getattr(self, name, None)
            if value is not None:
                self._set(name, spec.check(owner, name, value))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # The three pieces every model supplies.
    def coefficients(self, ops: Ops) -> Coefficients:
        """Everything the step needs: derived numbers (leaks from time constants...) + switches."""
        raise NotImplementedError

    @staticmethod
    def step(p: Coefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """One time step: (previous states and spike "S", I[t]) -> (new state, S[t]).

        ``p`` comes from ``coefficients(ops)``; every array broadcasts against the batch.
        """
        raise NotImplementedError

    @staticmethod
    def spike_argument(p: Coefficients, state: dict, ops: Ops) -> Any:
        """The quantity compared with 0 to decide a spike (e.g. ``v - v_th``)."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The model's numeric parameters by name (as stored)."""
        return {n: getattr(self, n) for n in self.param_names}

    def replace(self, **changes: Any) -> NeuronModel:
        """A copy with some fields changed (validated again)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        kw.update(changes)
        return type(self)(**kw)

    def switches(self) -> dict[str, Any]:
        """convention, reset, detach_reset and surrogate, as a coefficient record takes them."""
        return dict(
            convention=self.convention,
            reset=self.reset,
            detach_reset=bool(self.detach_reset),
            surrogate=self.surrogate,
        )

    def transition(self, potentials: dict, current: Any, ops: Ops | None = None) -> dict:
        """The update map x[t-1] -> x[t] of the carried states, spike recomputed from x[t-1].

        ``potentials``: name -> value (``state_names``; any shape broadcasting with the current
        and the parameters); returns name -> new state. S[t-1] = H(threshold argument of
        x[t-1]), so this is the map whose Jacobian docs/theory.md calls J_t (psi enters through
        S[t-1]). The view (NumPy, torch, SymPy) follows the inputs unless ``ops`` is given.
        """
        if ops is None:
            ops = backend_ops(current, *potentials.values(), *self.params().values())
        p = self.coefficients(ops)
        if ops is TORCH_OPS:
            candidates = (current, *potentials.values(), *self.params().values())
            like = next((v for v in candidates if isinstance(v, torch.Tensor)), None)
            if like is not None:
                p = p.on(like)
        state = dict(potentials)
        state["S"] = ops.spike(self.spike_argument(p, state, ops), p.surrogate)
        new_state, _ = self.step(p, state, current, ops)
        return {k: new_state[k] for k in self.state_names}

    @classmethod
    def claims(cls, derivation: Any) -> list[Any]:
        """Statements about this model to prove from its derivation (``analysis.symbolic``):
        a list of ``neurons.symbolic.Claim``. None by default."""
        return []

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> NeuronModel:
        """``n`` draws of the model at its paper's initialisation, as one model whose parameters
        are arrays of shape (n,) (``lstmlif compare``). Default: the class defaults in every
        draw; a model whose paper draws its parameters at random overrides this."""
        base = cls()
        return base.replace(**{k: np.full(n, float(v)) for k, v in base.params().items()})

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """Population values of ``sample_init``'s distribution: {share: (probability, how it
        is computed)} for the shares ``lstmlif compare`` prints ("growing": an eigenvalue of
        the sub-threshold J outside the unit circle; "decaying": all inside), each a closed
        form or a numerical integral over the initialisation distribution. Empty by default:
        ``compare`` then prints its estimate from the draws with a 95% interval."""
        return {}

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        """What the model's paper says about its gradients or stability, each with how
        ``lstmlif compare`` judges it. None by default."""
        return []
