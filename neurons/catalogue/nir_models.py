"""The neurons of NIR, the Neuromorphic Intermediate Representation (the ``nir`` package): LIF,
CubaLIF, LI, CubaLI and IF (and I, an IF without threshold), discretised with a time step
``dt``, one registered model each.

NIR writes each neuron as an ODE in continuous time:

- LIF:      tau dv/dt = (v_leak - v) + r I,  spike when v crosses v_threshold, then v <- v_reset;
- CubaLIF:  tau_syn di/dt = -i + w_in I,  tau_mem dv/dt = (v_leak - v) + r i,  the same spike;
- LI / CubaLI: LIF / CubaLIF without a threshold (they never spike);
- IF:       dv/dt = r I, with the LIF spike and reset; I: the same without threshold.

``discretization`` names how a step of length ``dt`` (input I[t] held over the step) becomes a
discrete update. With a = per-step decay, below threshold and per neuron:

- ``"exact"``: the matrix exponential of the linear ODE. a = exp(-dt/tau); CubaLIF's membrane
  receives ``J21 = r dt/tau_mem a_s phi(dt/tau_syn - dt/tau_mem)``, phi(d) = (e^d - 1)/d, which is
  ``r/tau_mem (e^(-dt/tau_mem) - e^(-dt/tau_syn)) / (1/tau_syn - 1/tau_mem)``;
- ``"euler"``: forward Euler, every right-hand side at the previous state. a = 1 - dt/tau;
  CubaLIF's membrane reads the old current, J21 = r dt/tau_mem, and no input in the same step;
- ``"snntorch"`` and ``"spikingjelly"``: Euler decays, and the membrane reads the *new* current
  (snntorch's ``Synaptic``, spikingjelly's ``CUBALIFNode``: i = alpha i + I, v = beta v + i),
  J21 = (1 - a_m) r a_s;
- ``"norse"``: norse's ``LIFCell``: the input jumps the current, j = i[t-1] + w_in I[t], the
  membrane reads j, v[t] = a_m v + (1 - a_m)(v_leak + r j), then the current decays,
  i[t] = a_s j (Euler decays, J21 = (1 - a_m) r); norse's IF adds r I per step (no dt).

For the one-state LIF and LI every scheme gives v[t] = a v[t-1] + (1 - a)(v_leak + r I[t]) and
they differ only in a; IF and I give v[t] = v[t-1] + dt r I[t]. The CubaLIF step, all schemes:

    i[t] = a_s i[t-1] + g_s I[t]
    v[t] = a_m v' + c_vi i[t-1] + g_vI I[t] + (1 - a_m) v_leak       J = [[a_s, 0], [c_vi, a_m]]

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
from ..ops import NUMPY_MATH, Ops
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
    "EULER_DECAY_SCHEMES",
    "cuba_coefficients",
    "decay",
]

#: The discrete updates of NIR's ODEs: the exact solution, forward Euler, and the updates of
#: three libraries that exchange NIR graphs (see the module docstring).
DISCRETIZATIONS = ("exact", "euler", "snntorch", "norse", "spikingjelly")

#: The schemes whose decays are Euler's, a = 1 - dt/tau (unstable for dt/tau > 2).
EULER_DECAY_SCHEMES = ("euler", "snntorch", "norse", "spikingjelly")

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
    (every other scheme: Euler's decay)."""
    if discretization == "exact":
        return ops.exp(-dt / tau)
    return 1 - dt / tau


def _phi(d: Any, ops: Ops) -> Any:
    """phi(d) = (e^d - 1)/d, 1 at d = 0, without cancellation: the quotient where |d| >= 1e-4,
    the Taylor series 1 + d/2 + d^2/6 + d^3/24 below (its error d^4/120 < 1e-18 there)."""
    if ops.name == "sympy":
        return (ops.exp(d) - 1) / d
    m = ops.m if hasattr(d, "detach") else NUMPY_MATH  # plain numbers on the torch view too
    far = m.step(m.abs(d) - 1e-4)  # 1 where the quotient is accurate
    safe = d + (1 - far)  # never 0 where the quotient is taken
    series = 1 + d / 2 + d * d / 6 + d * d * d / 24
    return far * (m.exp(safe) - 1) / safe + (1 - far) * series


def cuba_coefficients(
    dt: Any, tau_syn: Any, tau_mem: Any, r: Any, w_in: Any, discretization: str, ops: Ops
) -> dict[str, Any]:
    """The CubaLIF update of one scheme: ``a_s, g_s`` (i[t] = a_s i[t-1] + g_s I[t]) and
    ``a_m, c_vi, g_vI`` (v[t] = a_m v + c_vi i[t-1] + g_vI I[t] + (1 - a_m) v_leak).

    ``exact``: the matrix exponential, c_vi = r dt/tau_mem a_s phi(dt/tau_syn - dt/tau_mem) and
    g_vI = w_in ((1 - a_m) r - c_vi) (the step response of the pair from rest)."""
    a_s = decay(dt, tau_syn, discretization, ops)
    a_m = decay(dt, tau_mem, discretization, ops)
    if discretization == "exact":
        g_s = (1 - a_s) * w_in
        c_vi = r * (dt / tau_mem) * a_s * _phi(dt / tau_syn - dt / tau_mem, ops)
        g_vI = w_in * ((1 - a_m) * r - c_vi)
    elif discretization == "euler":  # every right-hand side at the previous state
        g_s = (dt / tau_syn) * w_in
        c_vi = (dt / tau_mem) * r
        g_vI = 0 * w_in
    elif discretization == "norse":  # j = i + w_in I; v reads j; i[t] = a_s j
        g_s = a_s * w_in
        c_vi = (1 - a_m) * r
        g_vI = (1 - a_m) * r * w_in
    else:  # snntorch, spikingjelly: the membrane reads the new current
        g_s = (1 - a_s) * w_in
        c_vi = (1 - a_m) * r * a_s
        g_vI = (1 - a_m) * r * g_s
    return {"a_s": a_s, "g_s": g_s, "a_m": a_m, "c_vi": c_vi, "g_vI": g_vI}


@dataclass(frozen=True, kw_only=True)
class NirCoefficients(Coefficients):
    """What the NIR steps read: membrane decay ``a_m`` and input gain ``g_m`` (one-state models:
    v[t] = a_m v + g_m I + drive), the constant ``drive`` (1 - a_m) v_leak, and for the
    current-based models the synaptic decay ``a_s`` and gain ``g_s``, the membrane's gain from
    the previous current ``c_vi`` and from the input ``g_vI`` (``cuba_coefficients``); threshold
    and reset potential. Unused entries are 0."""

    a_m: Any
    g_m: Any
    drive: Any
    a_s: Any = 0.0
    g_s: Any = 0.0
    c_vi: Any = 0.0
    g_vI: Any = 0.0
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
    """NIR's CubaLIF: below threshold `i[t] = a_s i[t-1] + g_s I[t]` and
    `v[t] = a_m v[t-1] + c_vi i[t-1] + g_vI I[t] + (1 - a_m) v_leak`, the coefficients those of
    its ``discretization`` (``cuba_coefficients``; the default, exact, is the matrix
    exponential; snntorch's update is `v[t] = a_m v[t-1] + (1 - a_m)(v_leak + r i[t])`, the
    new current); spike `H(v - v_th)`; reset of `v` only."""

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
        c = cuba_coefficients(
            self.dt, self.tau_syn, self.tau_mem, self.r, self.w_in, self.discretization, ops
        )
        return NirCoefficients(
            a_m=c["a_m"],
            g_m=(1 - c["a_m"]) * self.r,
            drive=(1 - c["a_m"]) * self.v_leak,
            a_s=c["a_s"],
            g_s=c["g_s"],
            c_vi=c["c_vi"],
            g_vI=c["g_vI"],
            v_th=self.v_th,
            v_reset=self.v_reset,
            **self.switches(),
        )

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """Below threshold J = [[a_s, 0], [J21, a_m]], eigenvalues a_s and a_m, and
        d(i, v)[t]/dI[t], each written by hand for the model's scheme (section "NIR"): exact
        J21 = r/tau_mem (a_m - a_s)/(1/tau_syn - 1/tau_mem); euler r dt/tau_mem; snntorch and
        spikingjelly (1 - a_m) r a_s; norse (1 - a_m) r."""
        ts, tm, r, w = _symbols("tau_syn", "tau_mem", "r", "w_in", positive=("tau_syn", "tau_mem"))
        a_s, a_m = _sym_decay(d.model, ts), _sym_decay(d.model, tm)
        dt = sp.nsimplify(d.model.dt)
        scheme = d.model.discretization
        if scheme == "exact":
            J21 = r / tm * (a_m - a_s) / (1 / ts - 1 / tm)
            b = sp.Matrix([(1 - a_s) * w, w * r * (1 - (tm * a_m - ts * a_s) / (tm - ts))])
        elif scheme == "euler":
            J21 = r * dt / tm
            b = sp.Matrix([dt / ts * w, 0])
        elif scheme == "norse":
            J21 = (1 - a_m) * r
            b = sp.Matrix([a_s * w, (1 - a_m) * r * w])
        else:
            J21 = (1 - a_m) * r * a_s
            b = (1 - a_s) * w * sp.Matrix([1, (1 - a_m) * r])
        J = sp.Matrix([[a_s, 0], [J21, a_m]])
        return [
            Claim("NIR", f"{scheme}: J = [[a_s, 0], [{J21}, a_m]]", d.J_sub, J),
            Claim("NIR", "det J = a_s a_m (eigenvalues a_s, a_m)", d.det_sub, a_s * a_m),
            Claim("NIR", f"{scheme}: d(i, v)[t]/dI[t]", d.b, b),
        ]

    @staticmethod
    def step(p: NirCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """i[t] = a_s i[t-1] + g_s I[t];  v[t] = a_m v' + c_vi i[t-1] + g_vI I[t] + drive (v'
        after the reset of S[t-1]);  S[t] = H(v[t] - v_th)."""
        i_old = state["i"]
        i = p.a_s * i_old + p.g_s * current
        v = p.a_m * _reset(p, state["v"], state["S"], ops) + p.c_vi * i_old + p.g_vI * current
        v = v + p.drive
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
    """NIR's CubaLI: NIR's CubaLIF's update (the same coefficients per ``discretization``)
    without a threshold.

    No threshold by default (``v_th = None``, what ``from_nir`` builds: it never spikes); a
    number ``v_th`` makes it spike and reset like NIR's CubaLIF, as the verification parameters
    do."""

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
    """NIR's IF: v[t] = v[t-1] + dt r I[t] below threshold (every scheme but norse's, whose IF
    adds r I[t]: no dt); spike H(v - v_th); reset to v_reset (or subtract v_th - v_reset).
    J = [1]: marginal, no decay.

    With v_th = None it is NIR's I (the integrator, ``nir_integrator_type``): no threshold, it
    never spikes; ``from_nir`` builds I nodes so."""

    r: ParamLike = 1.0
    v_th: ParamLike = 1.0
    v_reset: ParamLike = 0.0

    name: ClassVar[str] = "nir_if"
    label: ClassVar[str] = "NIR IF"
    color: ClassVar[str] = _BLACK
    nir_type: ClassVar[str] = "IF"
    #: NIR's node type of this model without threshold (v_th = None).
    nir_integrator_type: ClassVar[str] = "I"
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
            g_m=self.r if self.discretization == "norse" else self.dt * self.r,
            drive=0.0,
            v_th=self.v_th,
            v_reset=self.v_reset,
            **self.switches(),
        )

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """Below threshold J = [1] (no leak) and dv[t]/dI[t] = dt r (norse: r) (section
        "NIR")."""
        (r,) = _symbols("r")
        dt = 1 if d.model.discretization == "norse" else sp.nsimplify(d.model.dt)
        return [
            Claim("NIR", "J = [1]", d.J_sub, sp.Matrix([[1]])),
            Claim("NIR", "dv[t]/dI[t] = dt r", d.b, sp.Matrix([dt * r])),
        ]

    def params(self) -> dict[str, Any]:
        return _params_without_missing_threshold(self)

    @staticmethod
    def step(p: NirCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
        """v[t] = v' + dt r I[t] (v' after the reset of S[t-1]);  S[t] = H(v[t] - v_th)."""
        v = _reset(p, state["v"], state["S"], ops) + p.g_m * current
        S = _spike(p, v, ops)
        return {"v": v, "S": S}, S

    @staticmethod
    def spike_argument(p: NirCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th if p.v_th is not None else 0 * state["v"] - 1.0
