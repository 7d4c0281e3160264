"""The neurons of NIR, the Neuromorphic Intermediate Representation (the ``nir`` package): LIF,
CubaLIF, LI, CubaLI and IF, discretised with a time step ``dt``, one registered model each.

NIR writes each neuron as an ODE in continuous time:

- LIF:      tau dv/dt = (v_leak - v) + r I,  spike when v crosses v_threshold, then v <- v_reset;
- CubaLIF:  tau_syn di/dt = -i + w_in I,  tau_mem dv/dt = (v_leak - v) + r i,  the same spike;
- LI / CubaLI: LIF / CubaLIF without a threshold (they never spike);
- IF:       dv/dt = r I, with the LIF spike and reset.

A step of length ``dt`` with the input I[t] held over it turns ``tau dx/dt = -x + u`` into
``x[t] = a x[t-1] + (1 - a) u[t]``, with

- ``discretization="exact"``: a = exp(-dt/tau) (each state's own decay solved exactly);
- ``discretization="euler"``: a = 1 - dt/tau (forward Euler, what snntorch and norse simulate:
  snntorch's ``beta`` is this a, and its NIR export writes tau = dt / (1 - beta), r = tau / dt,
  so that v[t] = beta v[t-1] + I[t]).

In the current-based models the membrane reads the *new* synaptic current i[t]. So, below
threshold and per neuron:

    LIF:     v[t] = a v[t-1] + (1 - a) (v_leak + r I[t])                  J = [a]
    CubaLIF: i[t] = a_s i[t-1] + (1 - a_s) w_in I[t]
             v[t] = a_m v[t-1] + (1 - a_m) (v_leak + r i[t])              J = [[a_s, 0],
                                                                              [(1-a_m) r a_s, a_m]]
    IF:      v[t] = v[t-1] + dt r I[t]                                      J = [1]

The reset is applied to the stored potential right after a spike (the "code" convention):
``reset="zero"`` (NIR's reset, the default) sets v to v_reset, v <- v + (v_reset - v) S;
``reset="subtract"`` subtracts the distance from threshold to reset, v <- v - (v_th - v_reset) S
(the threshold itself when v_reset = 0). A spike is H(v - v_th) with
H(0) = 1, where NIR writes v > v_th: the two differ only when v equals the threshold exactly.
Parameters broadcast, so a NIR node's per-neuron arrays make one model record.
``lstmlif.analysis.interop.from_nir`` builds these records from a NIR graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import sympy as sp

from ..base import Coefficients, NeuronModel, Param, ParamLike, reset_spike
from ..ops import Ops
from ..registry import register
from ..symbolic import Claim

__all__ = [
    "DISCRETIZATIONS",
    "NirLIF",
    "NirCubaLIF",
    "NirLI",
    "NirCubaLI",
    "NirIF",
    "NirCoefficients",
    "decay",
]

DISCRETIZATIONS = ("exact", "euler")

# Okabe-Ito colours (colour-blind safe)
_SKY, _ORANGE, _BLUE, _GREEN, _BLACK = "#56B4E9", "#E69F00", "#0072B2", "#009E73", "#000000"

_TAU = Param(0.0, doc="time constant (same unit as dt)")
_R = Param(doc="resistance: input gain")
_VLEAK = Param(doc="leak (resting) potential")
_VTH = Param(0.0, doc="threshold")
_VRESET = Param(doc="reset potential (reset='zero')")
_DT = Param(0.0, doc="time step (same unit as the time constants)")
_WIN = Param(doc="input weight of the synaptic current")


def _symbols(*names: str, positive: tuple[str, ...] = ()) -> list[sp.Symbol]:
    """The symbols ``symbolic_model`` gives these parameters (positive where the range is)."""
    return [
        sp.Symbol(n, positive=True) if n in positive else sp.Symbol(n, real=True) for n in names
    ]


def _sym_decay(model: Any, tau: sp.Symbol) -> sp.Expr:
    """a written out by hand for the claims: exp(-dt/tau) or 1 - dt/tau at the model's dt."""
    dt = sp.nsimplify(model.dt)
    return sp.exp(-dt / tau) if model.discretization == "exact" else 1 - dt / tau


def decay(dt: Any, tau: Any, discretization: str, ops: Ops) -> Any:
    """The per-step factor a of tau dx/dt = -x + u: exp(-dt/tau) ("exact") or 1 - dt/tau
    ("euler")."""
    if discretization == "exact":
        return ops.exp(-dt / tau)
    return 1 - dt / tau


@dataclass(frozen=True, kw_only=True)
class NirCoefficients(Coefficients):
    """What the NIR steps read: membrane decay ``a_m`` and input gain ``g_m`` (v[t] = a_m v +
    g_m I + drive), the constant ``drive`` (1 - a_m) v_leak, synaptic decay ``a_s`` and gain
    ``g_s`` (current-based models), threshold and reset potential. Unused entries are 0."""

    a_m: Any
    g_m: Any
    drive: Any
    a_s: Any = 0.0
    g_s: Any = 0.0
    v_th: Any = 1.0
    v_reset: Any = 0.0


def _reset(p: NirCoefficients, v: Any, S: Any, ops: Ops) -> Any:
    """The stored potential after the previous step's spike S (zero: to v_reset); unchanged for
    a model without threshold (it never spikes)."""
    if p.v_th is None:
        return v
    Sr = reset_spike(p, S, ops)
    if p.reset == "subtract":
        return v - (p.v_th - p.v_reset) * Sr
    return v + (p.v_reset - v) * Sr


@dataclass(frozen=True, eq=False, kw_only=True)
class _NirModel(NeuronModel):
    """Shared switches of the NIR models: the "code" convention only, NIR's reset to v_reset
    by default, and the discretization of the ODE."""

    convention: str = "code"
    reset: str = "zero"
    dt: ParamLike = 1.0
    discretization: str = "exact"

    group: ClassVar[str] = "nir"
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("zero", "subtract")
    nir_type: ClassVar[str] = ""

    def _validate(self) -> None:
        if self.discretization not in DISCRETIZATIONS:
            raise ValueError(
                f"{type(self).__name__}: unknown discretization {self.discretization!r}; "
                f"choose one of {list(DISCRETIZATIONS)}"
            )
        super()._validate()


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class NirLIF(_NirModel):
    """NIR's LIF: v[t] = a v[t-1] + (1 - a)(v_leak + r I[t]) below threshold, a = exp(-dt/tau)
    or 1 - dt/tau; spike H(v - v_th); reset to v_reset (or subtract v_th - v_reset)."""

    tau: ParamLike = 10.0
    r: ParamLike = 1.0
    v_leak: ParamLike = 0.0
    v_th: ParamLike = 1.0
    v_reset: ParamLike = 0.0

    name: ClassVar[str] = "nir_lif"
    label: ClassVar[str] = "NIR LIF"
    color: ClassVar[str] = _SKY
    nir_type: ClassVar[str] = "LIF"
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    threshold_state: ClassVar[str] = "v"
    param_names: ClassVar[tuple[str, ...]] = ("tau", "r", "v_leak", "v_th", "v_reset")
    param_specs: ClassVar[dict[str, Param]] = {
        "tau": _TAU,
        "r": _R,
        "v_leak": _VLEAK,
        "v_th": _VTH,
        "v_reset": _VRESET,
        "dt": _DT,
    }
    verify_params: ClassVar[dict[str, float]] = {
        "tau": 5.0,
        "r": 1.0,
        "v_leak": 0.0,
        "v_th": 1.0,
        "v_reset": 0.0,
    }
    input_stats: ClassVar[tuple[float, float]] = (0.9, 1.5)

    def coefficients(self, ops: Ops) -> NirCoefficients:
        a = decay(self.dt, self.tau, self.discretization, ops)
        return NirCoefficients(
            a_m=a,
            g_m=(1 - a) * self.r,
            drive=(1 - a) * self.v_leak,
            v_th=self.v_th,
            v_reset=self.v_reset,
            **self.switches(),
        )

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """Below threshold J = [a] and dv[t]/dI[t] = (1 - a) r (section "NIR")."""
        tau, r = _symbols("tau", "r", positive=("tau",))
        a = _sym_decay(d.model, tau)
        return [
            Claim("NIR", f"J = [a], a = {a}", d.J_sub, sp.Matrix([[a]])),
            Claim("NIR", "dv[t]/dI[t] = (1 - a) r", d.b, sp.Matrix([(1 - a) * r])),
        ]

    @staticmethod
    def step(p: NirCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """v[t] = a_m v' + g_m I[t] + drive, v' = v[t-1] after the reset of S[t-1];
        S[t] = H(v[t] - v_th)."""
        v = p.a_m * _reset(p, state["v"], state["S"], ops) + p.g_m * current + p.drive
        S = _spike(p, v, ops)
        return {"v": v, "S": S}, S

    @staticmethod
    def spike_argument(p: NirCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th if p.v_th is not None else 0 * state["v"] - 1.0


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class NirCubaLIF(_NirModel):
    """NIR's CubaLIF: i[t] = a_s i[t-1] + (1 - a_s) w_in I[t], v[t] = a_m v[t-1] +
    (1 - a_m)(v_leak + r i[t]) below threshold; spike H(v - v_th); reset of v only."""

    tau_syn: ParamLike = 5.0
    tau_mem: ParamLike = 10.0
    r: ParamLike = 1.0
    v_leak: ParamLike = 0.0
    v_th: ParamLike = 1.0
    v_reset: ParamLike = 0.0
    w_in: ParamLike = 1.0

    name: ClassVar[str] = "nir_cubalif"
    label: ClassVar[str] = "NIR CubaLIF"
    color: ClassVar[str] = _ORANGE
    nir_type: ClassVar[str] = "CubaLIF"
    state_names: ClassVar[tuple[str, ...]] = ("i", "v")
    threshold_state: ClassVar[str] = "v"
    param_names: ClassVar[tuple[str, ...]] = (
        "tau_syn",
        "tau_mem",
        "r",
        "v_leak",
        "v_th",
        "v_reset",
        "w_in",
    )
    param_specs: ClassVar[dict[str, Param]] = {
        "tau_syn": _TAU,
        "tau_mem": _TAU,
        "r": _R,
        "v_leak": _VLEAK,
        "v_th": _VTH,
        "v_reset": _VRESET,
        "w_in": _WIN,
        "dt": _DT,
    }
    verify_params: ClassVar[dict[str, float]] = {
        "tau_syn": 3.0,
        "tau_mem": 5.0,
        "r": 1.0,
        "v_leak": 0.0,
        "v_th": 1.0,
        "v_reset": 0.0,
        "w_in": 1.0,
    }
    input_stats: ClassVar[tuple[float, float]] = (0.9, 1.5)

    def coefficients(self, ops: Ops) -> NirCoefficients:
        a_s = decay(self.dt, self.tau_syn, self.discretization, ops)
        a_m = decay(self.dt, self.tau_mem, self.discretization, ops)
        return NirCoefficients(
            a_m=a_m,
            g_m=(1 - a_m) * self.r,
            drive=(1 - a_m) * self.v_leak,
            a_s=a_s,
            g_s=(1 - a_s) * self.w_in,
            v_th=self.v_th,
            v_reset=self.v_reset,
            **self.switches(),
        )

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """Below threshold J = [[a_s, 0], [(1 - a_m) r a_s, a_m]], eigenvalues a_s and a_m, and
        d(i, v)[t]/dI[t] = (1 - a_s) w_in (1, (1 - a_m) r) (section "NIR")."""
        ts, tm, r, w = _symbols("tau_syn", "tau_mem", "r", "w_in", positive=("tau_syn", "tau_mem"))
        a_s, a_m = _sym_decay(d.model, ts), _sym_decay(d.model, tm)
        J = sp.Matrix([[a_s, 0], [(1 - a_m) * r * a_s, a_m]])
        b = (1 - a_s) * w * sp.Matrix([1, (1 - a_m) * r])
        return [
            Claim("NIR", "J = [[a_s, 0], [(1 - a_m) r a_s, a_m]]", d.J_sub, J),
            Claim("NIR", "det J = a_s a_m (eigenvalues a_s, a_m)", d.det_sub, a_s * a_m),
            Claim("NIR", "d(i, v)[t]/dI[t] = (1 - a_s) w_in (1, (1 - a_m) r)", d.b, b),
        ]

    @staticmethod
    def step(p: NirCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """i[t] = a_s i[t-1] + g_s I[t];  v[t] = a_m v' + g_m i[t] + drive (v' after the reset
        of S[t-1]);  S[t] = H(v[t] - v_th)."""
        i = p.a_s * state["i"] + p.g_s * current
        v = p.a_m * _reset(p, state["v"], state["S"], ops) + p.g_m * i + p.drive
        S = _spike(p, v, ops)
        return {"i": i, "v": v, "S": S}, S

    @staticmethod
    def spike_argument(p: NirCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th if p.v_th is not None else 0 * state["v"] - 1.0


def _spike(p: NirCoefficients, v: Any, ops: Ops) -> Any:
    """H(v - v_th), or a spike that never fires (argument -1) for a model without threshold."""
    return ops.spike(v - p.v_th if p.v_th is not None else 0 * v - 1.0, p.surrogate)


def _params_without_missing_threshold(model: NeuronModel) -> dict[str, Any]:
    return {n: getattr(model, n) for n in model.param_names if getattr(model, n) is not None}


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class NirLI(NirLIF):
    """NIR's LI: v[t] = a v[t-1] + (1 - a)(v_leak + r I[t]), a = exp(-dt/tau) or 1 - dt/tau.

    NIR's LI has no threshold: with v_th = None (the default, what ``from_nir`` builds) the
    record never spikes. A number v_th makes it spike and reset like NIR's LIF; the
    verification parameters do so, so that the registry's gradient checks (which need spikes)
    cover every path of the record."""

    v_th: ParamLike = None

    name: ClassVar[str] = "nir_li"
    label: ClassVar[str] = "NIR LI"
    color: ClassVar[str] = _BLUE
    nir_type: ClassVar[str] = "LI"

    def params(self) -> dict[str, Any]:
        return _params_without_missing_threshold(self)


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class NirCubaLI(NirCubaLIF):
    """NIR's CubaLI: i[t] = a_s i[t-1] + (1 - a_s) w_in I[t], v[t] = a_m v[t-1] +
    (1 - a_m)(v_leak + r i[t]).

    No threshold by default (v_th = None, what ``from_nir`` builds: it never spikes); a number
    v_th makes it spike and reset like NIR's CubaLIF, as the verification parameters do."""

    v_th: ParamLike = None

    name: ClassVar[str] = "nir_cubali"
    label: ClassVar[str] = "NIR CubaLI"
    color: ClassVar[str] = _GREEN
    nir_type: ClassVar[str] = "CubaLI"

    def params(self) -> dict[str, Any]:
        return _params_without_missing_threshold(self)


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class NirIF(_NirModel):
    """NIR's IF: v[t] = v[t-1] + dt r I[t] below threshold (both discretizations); spike
    H(v - v_th); reset to v_reset (or subtract v_th - v_reset). J = [1]: marginal, no decay."""

    r: ParamLike = 1.0
    v_th: ParamLike = 1.0
    v_reset: ParamLike = 0.0

    name: ClassVar[str] = "nir_if"
    label: ClassVar[str] = "NIR IF"
    color: ClassVar[str] = _BLACK
    nir_type: ClassVar[str] = "IF"
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    threshold_state: ClassVar[str] = "v"
    param_names: ClassVar[tuple[str, ...]] = ("r", "v_th", "v_reset")
    param_specs: ClassVar[dict[str, Param]] = {
        "r": _R,
        "v_th": _VTH,
        "v_reset": _VRESET,
        "dt": _DT,
    }
    verify_params: ClassVar[dict[str, float]] = {"r": 1.0, "v_th": 1.0, "v_reset": 0.0}
    input_stats: ClassVar[tuple[float, float]] = (0.2, 0.6)

    def coefficients(self, ops: Ops) -> NirCoefficients:
        return NirCoefficients(
            a_m=1.0,
            g_m=self.dt * self.r,
            drive=0.0,
            v_th=self.v_th,
            v_reset=self.v_reset,
            **self.switches(),
        )

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """Below threshold J = [1] (no leak) and dv[t]/dI[t] = dt r (section "NIR")."""
        (r,) = _symbols("r")
        dt = sp.nsimplify(d.model.dt)
        return [
            Claim("NIR", "J = [1]", d.J_sub, sp.Matrix([[1]])),
            Claim("NIR", "dv[t]/dI[t] = dt r", d.b, sp.Matrix([dt * r])),
        ]

    @staticmethod
    def step(p: NirCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """v[t] = v' + dt r I[t] (v' after the reset of S[t-1]);  S[t] = H(v[t] - v_th)."""
        v = _reset(p, state["v"], state["S"], ops) + p.g_m * current
        S = _spike(p, v, ops)
        return {"v": v, "S": S}, S

    @staticmethod
    def spike_argument(p: NirCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th if p.v_th is not None else 0 * state["v"] - 1.0
