"""Neuron models: frozen parameter records and one pure step function each.

Every model is ``step(params, state, current, ops) -> (new_state, spike)``. ``state`` is a dict
of the *pre-reset* potentials of the previous step plus its spike ``"S"``; both conventions
carry the same state and differ only in where the reset enters:

- ``convention="paper"``: the reset amount ``r`` is subtracted outside the leak,
  ``x[t] = leak * x[t-1] + ... - r[t-1]``;
- ``convention="code"``: the reset is applied to the stored potential right after the spike,
  so the next update starts from ``x[t-1] - r[t-1]`` (leaks and couplings see that value).

``reset="subtract"`` makes ``r = threshold * S``. ``reset="zero"`` is a hard reset of the
membrane / soma: the potential the next step leaks from is 0, ``x <- x (1 - S)``; in the
"code" convention that is ``r = potential * S`` before the leak, in the "paper" convention the
same removal written outside the leak, ``r = leak * potential * S`` (so a single compartment
resets identically in both conventions; two compartments still differ in whether the dendrite
sees the pre- or post-reset soma). The two-compartment dendritic reset is ``gamma * S`` for both
resets. ALIF's threshold reset is ``A[t] * S[t-1]`` in the "paper" convention (the updated
threshold, as printed) and ``A[t-1] * S[t-1]`` in the "code" one (the threshold the spike
crossed). With ``detach_reset`` the spike inside ``r`` carries no gradient. The exact equations
are in ``shared/spec/MODELS.md`` and in each step's docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import sympy as sp
import torch

from .ops import NUMPY_OPS, SYMPY_OPS, TORCH_OPS, Ops
from .surrogates import Surrogate, get_surrogate

__all__ = [
    "NeuronModel",
    "LIF",
    "ALIF",
    "TwoCompartment",
    "LSTMLIF",
    "TCLIF",
    "MODELS",
    "get_model",
    "lif_step",
    "alif_step",
    "two_compartment_step",
    "CONVENTIONS",
    "RESETS",
    "torch_coefficients",
]

CONVENTIONS = ("paper", "code")
RESETS = ("subtract", "zero")

ParamLike = Any  # float | np.ndarray | torch.Tensor | sympy.Expr


# ----------------------------------------------------------------------------- validation


def _as_numpy(value: ParamLike) -> np.ndarray | None:
    """A float64 NumPy copy of a numeric parameter, or None for a symbolic one."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, sp.Basic):
        if value.is_number:
            return np.asarray(float(value))
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number here")
    arr = np.asarray(value)
    if (
        arr.dtype == object
        or not np.issubdtype(arr.dtype, np.number)
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise ValueError(f"not a real number: {value!r}")
    return arr.astype(np.float64)


def _check(
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
    expressions are returned as they are (checked by value where numeric).
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


def _choice(owner: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{owner}: unknown {name} {value!r}; choose one of {list(allowed)}")
    return value


def _mul(a: Any, x: Any) -> Any:
    """a * x, skipping the product when a is exactly the number 1 (no-leak models)."""
    if isinstance(a, float) and a == 1.0:
        return x
    return a * x


def torch_coefficients(p: SimpleNamespace, like: torch.Tensor) -> SimpleNamespace:
    """Move the numeric coefficients of ``p`` onto ``like``'s device and dtype (in place).

    NumPy arrays and tensors become tensors (tensors stay differentiable); Python and NumPy
    scalars stay scalars, since they combine with tensors of any dtype.
    """
    for k, v in vars(p).items():
        if isinstance(v, torch.Tensor):
            setattr(p, k, v.to(device=like.device, dtype=like.dtype))
        elif isinstance(v, np.ndarray) and v.ndim > 0:
            setattr(p, k, torch.as_tensor(v, device=like.device, dtype=like.dtype))
        elif isinstance(v, np.generic | np.ndarray):
            setattr(p, k, float(v))
    return p


def _backend_ops(*values: Any) -> Ops:
    if any(isinstance(v, torch.Tensor) for v in values):
        return TORCH_OPS
    if any(isinstance(v, sp.Basic) and not v.is_number for v in values):
        return SYMPY_OPS
    return NUMPY_OPS


# ----------------------------------------------------------------------------- base record


@dataclass(frozen=True, eq=False, kw_only=True)
class NeuronModel:
    """Common switches of every model.

    convention: "paper" | "code"; reset: "subtract" | "zero"; detach_reset: no gradient through
    the spike inside the reset; surrogate: a name from ``neurons.SURROGATES`` or a record.
    """

    convention: str = "paper"
    reset: str = "subtract"
    detach_reset: bool = False
    surrogate: Surrogate | str | None = "triangle"

    name: ClassVar[str] = "model"
    state_names: ClassVar[tuple[str, ...]] = ()
    param_names: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _choice(owner, "convention", self.convention, CONVENTIONS)
        _choice(owner, "reset", self.reset, RESETS)
        if not isinstance(self.detach_reset, (bool, np.bool_)):
            raise ValueError(
                f"{owner}: detach_reset must be True or False, got {self.detach_reset!r}"
            )
        object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))
        self._validate()

    def _validate(self) -> None:
        raise NotImplementedError

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # The three pieces every model supplies.
    def coefficients(self, ops: Ops) -> SimpleNamespace:
        """Everything the step needs: derived numbers (leaks from time constants...) + switches."""
        raise NotImplementedError

    @staticmethod
    def step(p: SimpleNamespace, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """One time step: (previous pre-reset potentials and spike "S", I[t]) -> (new state, S[t]).

        ``p`` comes from ``coefficients(ops)``; every array broadcasts against the batch.
        """
        raise NotImplementedError

    @staticmethod
    def spike_argument(p: SimpleNamespace, state: dict, ops: Ops) -> Any:
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

    def _switches(self) -> dict[str, Any]:
        return dict(
            convention=self.convention,
            reset=self.reset,
            detach_reset=bool(self.detach_reset),
            surrogate=self.surrogate,
        )

    def transition(self, potentials: dict, current: Any, ops: Ops | None = None) -> dict:
        """The update map x[t-1] -> x[t] of the pre-reset potentials, spike recomputed from x[t-1].

        ``potentials``: name -> value (``state_names``; any shape broadcasting with the current
        and the parameters); returns name -> new pre-reset potential. S[t-1] = H(threshold
        argument of x[t-1]), so this is the map whose Jacobian THEORY.md calls J_t (psi enters
        through S[t-1]). The view (NumPy, torch, SymPy) follows the inputs unless ``ops`` is
        given.
        """
        if ops is None:
            ops = _backend_ops(current, *potentials.values(), *self.params().values())
        p = self.coefficients(ops)
        if ops is TORCH_OPS:
            candidates = (current, *potentials.values(), *self.params().values())
            like = next((v for v in candidates if isinstance(v, torch.Tensor)), None)
            if like is not None:
                torch_coefficients(p, like)
        state = dict(potentials)
        state["S"] = ops.spike(self.spike_argument(p, state, ops), p.surrogate)
        new_state, _ = self.step(p, state, current, ops)
        return {k: new_state[k] for k in self.state_names}


def _reset_spike(p: SimpleNamespace, S: Any, ops: Ops) -> Any:
    return ops.detach(S) if p.detach_reset else S


# ----------------------------------------------------------------------------- LIF


def lif_step(p: SimpleNamespace, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """LIF. paper: v[t] = alpha v[t-1] + I[t] - r;  code: v[t] = alpha (v[t-1] - r) + I[t].

    r = v_th S[t-1] (subtract) or v[t-1] S[t-1] (zero; alpha v[t-1] S[t-1] in the paper form,
    so both give v[t] = alpha v[t-1] (1 - S[t-1]) + I[t]);  S[t] = H(v[t] - v_th).
    """
    v, S = state["v"], state["S"]
    Sr = _reset_spike(p, S, ops)
    r = p.v_th * Sr if p.reset == "subtract" else v * Sr
    if p.convention == "paper":
        if p.reset == "zero":
            r = _mul(p.alpha, r)
        v_new = _mul(p.alpha, v) - r + current
    else:
        v_new = _mul(p.alpha, v - r) + current
    S_new = ops.spike(v_new - p.v_th, p.surrogate)
    return {"v": v_new, "S": S_new}, S_new


@dataclass(frozen=True, eq=False, kw_only=True)
class LIF(NeuronModel):
    """Leaky integrate-and-fire. ``alpha`` in (0, 1] (default 0.8) or ``tau_m`` > 0 with
    alpha = exp(-dt/tau_m); threshold ``v_th`` > 0 (default 1)."""

    alpha: ParamLike = None
    tau_m: ParamLike = None
    dt: float = 1.0
    v_th: ParamLike = 1.0

    name: ClassVar[str] = "lif"
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "v_th")

    def _validate(self) -> None:
        o = "LIF"
        if self.alpha is not None and self.tau_m is not None:
            raise ValueError("LIF: give either 'alpha' or 'tau_m', not both")
        self._set("dt", _check(o, "dt", self.dt, lo=0.0))
        if self.tau_m is not None:
            self._set("tau_m", _check(o, "tau_m", self.tau_m, lo=0.0))
        else:
            alpha = 0.8 if self.alpha is None else self.alpha
            self._set("alpha", _check(o, "alpha", alpha, 0.0, 1.0, hi_open=False))
        self._set("v_th", _check(o, "v_th", self.v_th, lo=0.0))

    def params(self) -> dict[str, Any]:
        if self.tau_m is not None:
            return {"tau_m": self.tau_m, "v_th": self.v_th}
        return {"alpha": self.alpha, "v_th": self.v_th}

    def coefficients(self, ops: Ops) -> SimpleNamespace:
        alpha = self.alpha if self.tau_m is None else ops.exp(-self.dt / self.tau_m)
        return SimpleNamespace(alpha=alpha, v_th=self.v_th, **self._switches())

    step = staticmethod(lif_step)

    @staticmethod
    def spike_argument(p: SimpleNamespace, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th


# ----------------------------------------------------------------------------- ALIF


def alif_step(p: SimpleNamespace, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """ALIF. a[t] = rho a[t-1] + (1-rho) S[t-1];  A[t] = b0 + beta_a a[t];
    paper: u[t] = alpha u[t-1] + (1-alpha) I[t] - r,  r = A[t] S[t-1] (subtract) or
    alpha u[t-1] S[t-1] (zero);
    code:  u[t] = alpha (u[t-1] - r) + (1-alpha) I[t], r = A[t-1] S[t-1] or u[t-1] S[t-1];
    S[t] = H(u[t] - A[t]) (the gradient reaches both u and a through the spike).
    """
    u, a, S = state["u"], state["a"], state["S"]
    Sr = _reset_spike(p, S, ops)
    a_new = p.rho * a + p.one_minus_rho * S
    A_new = p.b0 + p.beta_a * a_new
    drive = p.one_minus_alpha * current
    if p.convention == "paper":
        r = A_new * Sr if p.reset == "subtract" else p.alpha * (u * Sr)
        u_new = p.alpha * u + drive - r
    else:
        r = (p.b0 + p.beta_a * a) * Sr if p.reset == "subtract" else u * Sr
        u_new = p.alpha * (u - r) + drive
    S_new = ops.spike(u_new - A_new, p.surrogate)
    return {"u": u_new, "a": a_new, "S": S_new}, S_new


@dataclass(frozen=True, eq=False, kw_only=True)
class ALIF(NeuronModel):
    """Adaptive-threshold LIF. tau_m (20), tau_a (200), dt (1) > 0; beta_a >= 0 (1.8);
    b0 > 0 (0.01). alpha = exp(-dt/tau_m), rho = exp(-dt/tau_a)."""

    tau_m: ParamLike = 20.0
    tau_a: ParamLike = 200.0
    beta_a: ParamLike = 1.8
    b0: ParamLike = 0.01
    dt: float = 1.0

    name: ClassVar[str] = "alif"
    state_names: ClassVar[tuple[str, ...]] = ("u", "a")
    param_names: ClassVar[tuple[str, ...]] = ("tau_m", "tau_a", "beta_a", "b0")

    def _validate(self) -> None:
        o = "ALIF"
        self._set("dt", _check(o, "dt", self.dt, lo=0.0))
        self._set("tau_m", _check(o, "tau_m", self.tau_m, lo=0.0))
        self._set("tau_a", _check(o, "tau_a", self.tau_a, lo=0.0))
        self._set("beta_a", _check(o, "beta_a", self.beta_a, lo=0.0, lo_open=False))
        self._set("b0", _check(o, "b0", self.b0, lo=0.0))

    def coefficients(self, ops: Ops) -> SimpleNamespace:
        alpha = ops.exp(-self.dt / self.tau_m)
        rho = ops.exp(-self.dt / self.tau_a)
        return SimpleNamespace(
            alpha=alpha,
            rho=rho,
            one_minus_alpha=1 - alpha,
            one_minus_rho=1 - rho,
            beta_a=self.beta_a,
            b0=self.b0,
            **self._switches(),
        )

    step = staticmethod(alif_step)

    @staticmethod
    def spike_argument(p: SimpleNamespace, state: dict, ops: Ops) -> Any:
        return state["u"] - (p.b0 + p.beta_a * state["a"])


# ----------------------------------------------------------------------------- two compartments


def two_compartment_step(
    p: SimpleNamespace, state: dict, current: Any, ops: Ops
) -> tuple[dict, Any]:
    """Two compartments (d dendrite, s soma), input into the dendrite.

    paper: d[t] = a1 d[t-1] + b1 s[t-1] + I[t] - gamma S[t-1];  s[t] = a2 s[t-1] + b2 d[t] - r;
    code:  the same update applied to d[t-1] - gamma S[t-1] and s[t-1] - r;
    r = v_th S[t-1] (subtract) or s[t-1] S[t-1] (zero; a2 s[t-1] S[t-1] in the paper form, so
    the soma leaks from 0 after a spike);  S[t] = H(s[t] - v_th).
    """
    d, s, S = state["d"], state["s"], state["S"]
    Sr = _reset_spike(p, S, ops)
    r_d = p.gamma * Sr
    r_s = p.v_th * Sr if p.reset == "subtract" else s * Sr
    if p.convention == "paper":
        if p.reset == "zero":
            r_s = _mul(p.alpha2, r_s)
        d_new = _mul(p.alpha1, d) + p.beta1 * s + current - r_d
        s_new = _mul(p.alpha2, s) + p.beta2 * d_new - r_s
    else:
        d_post = d - r_d
        s_post = s - r_s
        d_new = _mul(p.alpha1, d_post) + p.beta1 * s_post + current
        s_new = _mul(p.alpha2, s_post) + p.beta2 * d_new
    S_new = ops.spike(s_new - p.v_th, p.surrogate)
    return {"d": d_new, "s": s_new, "S": S_new}, S_new


@dataclass(frozen=True, eq=False, kw_only=True)
class TwoCompartment(NeuronModel):
    """General two-compartment neuron (paper eqs. 7-9). alpha1, alpha2 in (0, 1] (leaks),
    beta1, beta2 any finite reals (couplings), gamma finite (dendritic reset), v_th > 0."""

    alpha1: ParamLike = 1.0
    alpha2: ParamLike = 1.0
    beta1: ParamLike = -0.5
    beta2: ParamLike = 0.5
    gamma: ParamLike = 0.5
    v_th: ParamLike = 1.0

    name: ClassVar[str] = "two_compartment"
    state_names: ClassVar[tuple[str, ...]] = ("d", "s")
    param_names: ClassVar[tuple[str, ...]] = ("alpha1", "alpha2", "beta1", "beta2", "gamma", "v_th")

    def _validate(self) -> None:
        o = type(self).__name__
        for n in ("alpha1", "alpha2"):
            self._set(n, _check(o, n, getattr(self, n), 0.0, 1.0, hi_open=False))
        for n in ("beta1", "beta2", "gamma"):
            self._set(n, _check(o, n, getattr(self, n)))
        self._set("v_th", _check(o, "v_th", self.v_th, lo=0.0))

    def coefficients(self, ops: Ops) -> SimpleNamespace:
        return SimpleNamespace(
            alpha1=self.alpha1,
            alpha2=self.alpha2,
            beta1=self.beta1,
            beta2=self.beta2,
            gamma=self.gamma,
            v_th=self.v_th,
            **self._switches(),
        )

    step = staticmethod(two_compartment_step)

    @staticmethod
    def spike_argument(p: SimpleNamespace, state: dict, ops: Ops) -> Any:
        return state["s"] - p.v_th


@dataclass(frozen=True, eq=False, kw_only=True)
class LSTMLIF(TwoCompartment):
    """LSTM-LIF / TC-LIF (paper eqs. 10-12): the two-compartment model without leak
    (alpha1 = alpha2 = 1). Defaults beta1 = -0.5, beta2 = 0.5, gamma = 0.5, v_th = 1.
    Training parameterisation: ``LSTMLIF.from_logits(c1, c2)``."""

    alpha1: ParamLike = field(default=1.0, init=False)
    alpha2: ParamLike = field(default=1.0, init=False)

    name: ClassVar[str] = "lstmlif"
    param_names: ClassVar[tuple[str, ...]] = ("beta1", "beta2", "gamma", "v_th")

    @classmethod
    def from_logits(cls, c1: ParamLike = 0.0, c2: ParamLike = 0.0, **kwargs: Any) -> LSTMLIF:
        """beta1 = -sigmoid(c1) in (-1, 0), beta2 = sigmoid(c2) in (0, 1); differentiable in
        (c1, c2) when they are tensors, symbolic when they are SymPy expressions."""
        c1 = _check("LSTMLIF.from_logits", "c1", c1)
        c2 = _check("LSTMLIF.from_logits", "c2", c2)
        ops = _backend_ops(c1, c2)
        if ops is NUMPY_OPS:
            return cls(beta1=-ops.sigmoid(c1) * 1.0, beta2=ops.sigmoid(c2) * 1.0, **kwargs)
        return cls(beta1=-ops.sigmoid(c1), beta2=ops.sigmoid(c2), **kwargs)


TCLIF = LSTMLIF

MODELS: dict[str, type[NeuronModel]] = {
    "lif": LIF,
    "alif": ALIF,
    "two_compartment": TwoCompartment,
    "lstmlif": LSTMLIF,
    "tclif": LSTMLIF,
}


def get_model(name: str | NeuronModel, **params: Any) -> NeuronModel:
    """Build a model from its name (``lif``, ``alif``, ``two_compartment``, ``lstmlif``/``tclif``;
    case, ``-`` and ``_`` are ignored, so ``"TC-LIF"`` and ``"LSTM-LIF"`` work) and keyword
    parameters."""
    if isinstance(name, NeuronModel):
        return name.replace(**params) if params else name
    squeezed = {k.replace("_", ""): k for k in MODELS}
    key = squeezed.get(str(name).lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ValueError(f"unknown model name {name!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[key]
    allowed = {f.name for f in fields(cls) if f.init}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    return cls(**params)
