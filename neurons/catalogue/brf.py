"""BRF and RF: balanced and plain resonate-and-fire neurons (Higuchi, Kairat, Bohte & Otte,
ICML 2024; docs/catalogue.md).

The official ``BRFCell.forward`` / ``brf_update`` compute, with delta = dt, |omega| and
|b_offset| (the raw parameters are trained and their absolute values used):

    p(omega) = (-1 + sqrt(1 - (delta |omega|)^2)) / delta           (the divergence boundary)
    b[t] = p(omega) - |b_offset| - q[t-1]
    u[t] = u[t-1] + b[t] u[t-1] delta - |omega| v[t-1] delta + I[t] delta
    v[t] = v[t-1] + |omega| u[t-1] delta + b[t] v[t-1] delta       (both from the OLD u, v)
    z[t] = H(u[t] - v_th - q[t-1])
    q[t] = 0.9 q[t-1] + z[t]                                          (not detached; no reset)

The spike z[t] reads q[t-1], so (u[t], v[t], q[t]) does not decide z[t]. The carried state here
is (u[t], v[t], q~[t]) with q~[t] = q[t-1], *the adaptation entering step t's threshold and
damping* (the state named ``q``): then z[t] = H(u[t] - v_th - q~[t]) is decided by the carried
state (a Markov state, as the generated adjoints need), and each step first forms
q~[t] = 0.9 q~[t-1] + z[t-1] (= the official q[t-1]). J's q entries are therefore in this
coordinate: below threshold q~[t] = 0.9 q~[t-1], and J = D^-1 J_cat D with D = diag(1, 1, 0.9)
and J_cat the catalogue's matrix in the official (u, v, q) (the same eigenvalues; at rest the
two matrices are equal).

RF (``RFCell``): b = -|b_offset| (no p, no q), the same u, v updates, z[t] = H(u[t] - v_th);
state (u, v).

Deviations: H(0) = 1 here, the code has H(0) = 0 (``x.gt(0)``): they differ only when the
argument is exactly 0. The official ``sustain_osc`` is called with its default dt = 0.01 whatever
the cell's dt; here p(omega) uses the model's dt (the same for the default dt = 0.01). States
start at 0 as in the code. BRF refuses dt |omega| > 1, where p(omega) is not real (the official
code gives NaN). The surrogate is the double Gaussian ``double_gaussian`` (p = 0.15, sigma1 = 0.5,
sigma2 = 3, scale 0.5; g(0) = 0.4388) for both.

Below threshold, with b the damping of the step, J (u, v block) = [[1 + delta b, -delta |omega|],
[delta |omega|, 1 + delta b]], eigenvalues 1 + delta b +- i delta |omega| and 0.9 (BRF), and
|lambda_+-|^2 - 1 = delta^2 (b - p(omega)) (b - p^-(omega)), p^- = (-1 - sqrt(1 - (delta
omega)^2)) / delta: |lambda| < 1 iff p^- < b < p. ``claims`` proves every such statement of the
catalogue from the step function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp
import torch

from ..base import Coefficients, NeuronModel, PaperClaim, Param, ParamLike
from ..ops import SYMPY_OPS, Ops
from ..parameterisations import Identity, Trainable
from ..registry import register
from ..symbolic import Claim

__all__ = [
    "BRF",
    "RF",
    "BRFCoefficients",
    "brf_step",
    "rf_step",
    "BRF_INIT",
    "Q_DECAY",
    "divergence_boundary",
    "lower_boundary",
    "rf_growing_probability",
]

# Okabe-Ito; distinct within the catalogue group (adLIF orange, SE sky, EF yellow, PLIF black)
_BLUE, _BLUISH_GREEN = "#0072B2", "#009E73"
_LAM = sp.Symbol("lambda")
Q_DECAY = 0.9
"""The decay of the adaptation q per step (fixed in the official code)."""
Q_DECAY_R = sp.Rational(9, 10)  # the same, exact (SymPy view)

#: The official initialisation ranges U[lo, hi] of omega and b_offset, per task.
BRF_INIT: dict[str, dict[str, tuple[float, float]]] = {
    "S/PS-MNIST": {"omega": (15.0, 85.0), "b_offset": (0.1, 1.0)},
    "SHD": {"omega": (5.0, 10.0), "b_offset": (2.0, 3.0)},
    "ECG": {"omega": (3.0, 5.0), "b_offset": (0.1, 1.0)},
}


def rf_growing_probability(dt: float = 0.01) -> float:
    """P(RF grows below threshold) under ``sample_init`` (one of BRF's three task boxes, a third
    of the draws each): RF grows iff dt omega^2 > c (2 - dt c), c = |b_offset|, i.e. omega >
    ``w*(c) = sqrt(c (2 - dt c) / dt)``. Per box, the integral over c of ``P(omega > w*(c))``
    by ``scipy.integrate.quad``, split where ``w*(c)`` crosses the box's omega bounds (error below
    1e-12)."""
    from scipy import integrate

    total = 0.0
    for box in BRF_INIT.values():
        (wl, wh), (cl, ch) = box["omega"], box["b_offset"]

        def above(c: float, wl: float = wl, wh: float = wh) -> float:
            w_star = np.sqrt(c * (2.0 - dt * c) / dt)
            return float(np.clip((wh - w_star) / (wh - wl), 0.0, 1.0))

        cuts = [(1.0 - np.sqrt(1.0 - (dt * w) ** 2)) / dt for w in (wl, wh)]
        pts = [float(c) for c in cuts if cl < c < ch] or None
        val = integrate.quad(above, cl, ch, points=pts, epsabs=1e-14, epsrel=1e-12)[0]
        total += val / (ch - cl)
    return total / len(BRF_INIT)


def divergence_boundary(omega: Any, dt: Any = 0.01) -> Any:
    """p(omega) = (-1 + sqrt(1 - (dt |omega|)^2)) / dt (NumPy, broadcasting): the damping at
    which the pair lambda = 1 + dt b +- i dt |omega| lies on the unit circle."""
    w = np.abs(np.asarray(omega, dtype=np.float64))
    return (-1.0 + np.sqrt(1.0 - (dt * w) ** 2)) / dt


def lower_boundary(omega: Any, dt: Any = 0.01) -> Any:
    """p^-(omega) = (-1 - sqrt(1 - (dt |omega|)^2)) / dt: the other root of |lambda| = 1."""
    w = np.abs(np.asarray(omega, dtype=np.float64))
    return (-1.0 - np.sqrt(1.0 - (dt * w) ** 2)) / dt


@dataclass(frozen=True, kw_only=True)
class BRFCoefficients(Coefficients):
    """What ``brf_step`` and ``rf_step`` read: |omega|, the damping at q = 0 (BRF:
    p(omega) - |b_offset|; RF: -|b_offset|), dt, the threshold and the decay of q."""

    omega: Any
    damping: Any
    dt: Any
    v_th: Any
    q_decay: Any


def brf_step(p: BRFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """q~[t] = 0.9 q~[t-1] + S[t-1] (the official q[t-1]); b = damping - q~[t];
    u[t] = u + b u dt - |omega| v dt + I dt; v[t] = v + |omega| u dt + b v dt (old u, v);
    S[t] = H(u[t] - v_th - q~[t]). No reset."""
    u, v = state["u"], state["v"]
    q = p.q_decay * state["q"] + state["S"]
    b = p.damping - q
    u_new = u + b * u * p.dt - p.omega * v * p.dt + current * p.dt
    v_new = v + p.omega * u * p.dt + b * v * p.dt
    S_new = ops.spike(u_new - p.v_th - q, p.surrogate)
    return {"u": u_new, "v": v_new, "q": q, "S": S_new}, S_new


def rf_step(p: BRFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """b = -|b_offset|; u[t] = u + b u dt - |omega| v dt + I dt; v[t] = v + |omega| u dt +
    b v dt (old u, v); S[t] = H(u[t] - v_th). No reset, no adaptation."""
    u, v, b = state["u"], state["v"], p.damping
    u_new = u + b * u * p.dt - p.omega * v * p.dt + current * p.dt
    v_new = v + p.omega * u * p.dt + b * v * p.dt
    S_new = ops.spike(u_new - p.v_th, p.surrogate)
    return {"u": u_new, "v": v_new, "S": S_new}, S_new


def _numbers(value: Any) -> np.ndarray | None:
    """A float64 copy of a numeric value, None for a symbolic one."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, sp.Basic):
        return np.asarray(float(value)) if value.is_number else None
    return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True, eq=False, kw_only=True)
class _Resonator(NeuronModel):
    """Fields and metadata shared by BRF and RF."""

    omega: ParamLike = 50.0
    b_offset: ParamLike = 0.55
    dt: ParamLike = 0.01
    v_th: ParamLike = 1.0
    convention: str = "code"
    surrogate: Any = "double_gaussian"

    group: ClassVar[str] = "catalogue"
    threshold_state: ClassVar[str] = "u"
    param_names: ClassVar[tuple[str, ...]] = ("omega", "b_offset", "dt", "v_th")
    param_specs: ClassVar[dict[str, Param]] = {
        "omega": Param(doc="angular frequency (raw; |omega| is used)"),
        "b_offset": Param(doc="damping offset (raw; |b_offset| is used)"),
        "dt": Param(0.0, doc="time step delta"),
        "v_th": Param(0.0, doc="threshold"),
    }
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("subtract",)
    detach_options: ClassVar[tuple[bool, ...]] = (False,)
    trainable: ClassVar[dict[str, Trainable]] = {
        "omega": Trainable("omega", Identity()),
        "b_offset": Trainable("b_offset", Identity()),
    }
    layer_defaults: ClassVar[dict[str, Any]] = {"train": ("omega", "b_offset"), "per_neuron": True}
    network_defaults: ClassVar[dict[str, Any]] = {
        "omega": 0.5 * sum(BRF_INIT["S/PS-MNIST"]["omega"]),
        "b_offset": 0.5 * sum(BRF_INIT["S/PS-MNIST"]["b_offset"]),
        "train": ("omega", "b_offset"),
        "per_neuron": True,
    }

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> NeuronModel:
        """omega, b_offset ~ U of the official ranges of one of the three tasks (S/PS-MNIST,
        SHD, ECG; a third of the draws each, at random), dt = 0.01, v_th = 1. RF, the paper's
        baseline, borrows these ranges (the official repository's RF checkpoints name the same
        ranges per task as its BRF ones)."""
        task = rng.integers(0, len(BRF_INIT), size=n)
        draws = {}
        for name in ("omega", "b_offset"):
            lo = np.array([r[name][0] for r in BRF_INIT.values()])[task]
            hi = np.array([r[name][1] for r in BRF_INIT.values()])[task]
            draws[name] = rng.uniform(lo, hi)
        return cls(**draws, dt=np.full(n, 0.01), v_th=np.ones(n))


def _abs_omega_symbols(d: Any) -> tuple[dict, sp.Symbol, sp.Symbol, sp.Symbol]:
    """(substitution, w = |omega|, c = |b_offset|, delta) of a derivation: the step reads omega
    and b_offset only through |omega| and |b_offset| (omega^2 = |omega|^2), so the claims are
    stated on w > 0 and c >= 0 by substituting omega -> w, b_offset -> c."""
    P = d.model.params()
    w = sp.Symbol("omega_abs", positive=True)
    c = sp.Symbol("b_abs", nonnegative=True)
    return {P["omega"]: w, P["b_offset"]: c}, w, c, P["dt"]


def _on(expr: Any, subs: dict) -> Any:
    out = sp.sympify(expr) if not isinstance(expr, sp.MatrixBase) else expr
    return out.subs(subs)


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class BRF(_Resonator):
    """Balanced resonate-and-fire: omega, b_offset finite (raw; |omega|, |b_offset| used;
    defaults 50 and 0.55, the centre of the S-MNIST initialisation), dt > 0 (0.01) with
    dt |omega| <= 1, v_th > 0 (1). State (u, v, q) with q the adaptation entering the step's
    threshold (the official q[t-1]); no reset, adaptive threshold v_th + q, damping
    p(omega) - |b_offset| - q."""

    name: ClassVar[str] = "brf"
    label: ClassVar[str] = "BRF"
    color: ClassVar[str] = _BLUE
    state_names: ClassVar[tuple[str, ...]] = ("u", "v", "q")
    verify_params: ClassVar[dict[str, float]] = {
        "omega": 10.0,
        "b_offset": 0.5,
        "dt": 0.01,
        "v_th": 1.0,
    }
    input_stats: ClassVar[tuple[float, float]] = (15.0, 30.0)

    def _validate(self) -> None:
        super()._validate()
        w, dt = _numbers(self.omega), _numbers(self.dt)
        if w is not None and dt is not None:
            bad = np.abs(w) * dt > 1.0
            if np.any(bad):
                shown = (np.abs(w) * dt)[bad].ravel()[:3] if bad.ndim else np.abs(w) * dt
                raise ValueError(
                    "BRF: dt * |omega| must be <= 1 (|omega| <= 1/dt, 100 at dt = 0.01): beyond, "
                    "p(omega) = (-1 + sqrt(1 - (dt omega)^2))/dt is not real and the official "
                    f"code gives NaN; got dt * |omega| = {shown}"
                )

    def coefficients(self, ops: Ops) -> BRFCoefficients:
        w = ops.m.abs(self.omega)
        p_omega = (-1 + ops.m.sqrt(1 - (self.dt * w) ** 2)) / self.dt
        decay = sp.Rational(9, 10) if ops is SYMPY_OPS else Q_DECAY
        return BRFCoefficients(
            omega=w,
            damping=p_omega - ops.m.abs(self.b_offset),
            dt=self.dt,
            v_th=self.v_th,
            q_decay=decay,
            **self.switches(),
        )

    step = staticmethod(brf_step)

    @staticmethod
    def spike_argument(p: BRFCoefficients, state: dict, ops: Ops) -> Any:
        return state["u"] - p.v_th - state["q"]

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """At rest (q = 0) |lambda| < 1 iff 0 < |b_offset| < 2 sqrt(1 - (dt omega)^2)/dt (derive);
        every box has |b_offset| in [0.1, 3] and dt |omega| <= 0.85, where the upper end is at
        least 105: every draw decays (closed form)."""
        how = "closed form: 0 < |b_offset| <= 3 < 2 sqrt(1 - (dt omega)^2)/dt on every box"
        return {"growing": (0.0, how), "decaying": (1.0, how)}

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        def converge(ctx: Any) -> tuple[str, str]:
            cls_ = np.asarray(ctx.stats["class"])
            bounded = cls_ != "growing"
            strict = np.char.find(cls_.astype(str), "decaying") >= 0
            verdict = "holds" if bool(np.all(bounded)) else "fails"
            return verdict, (
                f"bounded below threshold: {ctx.share(bounded)}; strictly decaying: "
                f"{ctx.share(strict, 'decaying')}. With b = p(omega) - |b_offset| - q <= p(omega), "
                "|lambda| <= 1 (proved in derive); q >= 0 only damps further"
            )

        def no_loss(ctx: Any) -> tuple[str, str]:
            mh = np.asarray(ctx.stats["memory_horizon"], dtype=float)
            finite = mh[np.isfinite(mh)]
            med = float(np.median(finite)) if finite.size else float("inf")
            return "partly", (
                "|lambda| = 1 (no loss) only on the boundary b = p(omega), i.e. b_offset = q = 0; "
                f"at the initial draws (b_offset > 0) |lambda| < 1 and the sub-threshold gradient "
                f"decays, median memory horizon {med:.1f} steps"
            )

        return [
            PaperClaim(
                "brf-neurons README",
                "Divergence boundary p(omega): ensure the neurons converge.",
                "share of the initial draws that grow below threshold (the boundary proved in "
                "derive)",
                converge,
            ),
            PaperClaim(
                "arXiv 2402.14603, abstract",
                "BRF-RSNN consistently provide much faster and more stable training convergence, "
                "even when bridging many hundreds of time steps during backpropagation through "
                "time",
                "a training claim, not a sub-threshold one",
            ),
            PaperClaim(
                "arXiv 2406.00389, abstract",
                "the gradient is transferred back through time without loss of magnitude",
                "|lambda| of the sub-threshold J at the initial draws and on the boundary",
                no_loss,
            ),
        ]

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about BRF (docs/catalogue.md), from the derivation."""
        sec = "BRF (c)"
        subs, w, c, dt = _abs_omega_symbols(d)
        u, v, q = (d.state[n] for n in ("u", "v", "q"))
        J = _on(d.J_sub, subs)
        s = sp.sqrt(1 - (dt * w) ** 2)
        p_plus = (-1 + s) / dt
        p_minus = (-1 - s) / dt
        q_cat = Q_DECAY_R * q  # the official q[t-1] below threshold, in the carried q~[t-1]
        b = p_plus - c - q_cat  # the damping b[t] of the step (catalogue (b))
        u_p = u  # the official u[t-1]
        J_cat = sp.Matrix(
            [
                [1 + dt * b, -dt * w, -dt * u_p],
                [dt * w, 1 + dt * b, -dt * v],
                [0, 0, Q_DECAY_R],
            ]
        )
        D = sp.diag(1, 1, Q_DECAY_R)
        rest = {u: 0, v: 0, q: 0}
        block = J[:2, :2]
        mod2 = sp.expand(block.det())  # |lambda_+-|^2: product of the conjugate pair
        bb = sp.Symbol("b", real=True)  # a free damping, for the statements over b
        on_b = sp.Matrix([[1 + dt * bb, -dt * w], [dt * w, 1 + dt * bb]]).det()
        lam = [sp.expand(_on(e, subs)) for e in d.eigenvalues]
        pair = [e for e in lam if e != Q_DECAY_R]
        expected_pair = {
            sp.expand(1 + dt * b + sp.I * dt * w),
            sp.expand(1 + dt * b - sp.I * dt * w),
        }
        roots_b = sp.solve(sp.Eq(on_b, 1), bb)
        roots_match = len(roots_b) == 2 and all(
            any(sp.simplify(r - e) == 0 for r in roots_b) for e in (p_plus, p_minus)
        )
        # (lambda - (1 + dt b)) / (i dt omega) for the pair: +1 and -1
        signs = [sp.simplify((e - (1 + dt * b)) / (sp.I * dt * w)) for e in pair]
        out = [
            Claim(
                sec,
                "J at rest = [[1 + dt b, -dt omega, 0], [dt omega, 1 + dt b, 0], [0, 0, 0.9]], "
                "b = p(omega) - |b_offset| (the catalogue's J at u = v = q = 0)",
                J.subs(rest),
                J_cat.subs(rest),
            ),
            Claim(
                sec,
                "J (any sub-threshold state) = D^-1 J_cat D, D = diag(1, 1, 0.9): the catalogue's "
                "J in the official q[t-1] = 0.9 q~[t-1], the carried q~ being q[t-1] one step on",
                J,
                D.inv() * J_cat * D,
            ),
            Claim(
                sec,
                "eigenvalues 1 + dt b +- i dt omega and lambda_3 = 0.9",
                sp.expand(_on(d.charpoly, subs)),
                sp.expand((_LAM - Q_DECAY_R) * ((_LAM - 1 - dt * b) ** 2 + (dt * w) ** 2)),
            ),
            Claim(
                sec,
                "the complex pair is the derived pair of eigenvalues",
                sp.Integer(len(pair)),
                sp.Integer(2),
                "both members of the derived pair are in {1 + dt b +- i dt omega}",
                len(pair) == 2 and {sp.expand(e) for e in pair} == expected_pair,
            ),
            Claim(
                sec,
                "|lambda_+-|^2 = (1 + dt b)^2 + (dt omega)^2",
                mod2,
                sp.expand((1 + dt * b) ** 2 + (dt * w) ** 2),
            ),
            Claim(
                sec,
                "|lambda_+-| < 1 iff p^-(omega) < b < p(omega): |lambda|^2 - 1 = "
                "dt^2 (b - p)(b - p^-), negative exactly between the two real roots "
                "(dt |omega| <= 1)",
                sp.expand(on_b - 1),
                sp.expand(dt**2 * (bb - p_plus) * (bb - p_minus)),
            ),
            Claim(
                sec,
                "|lambda_+-| = 1 exactly at b = p(omega) and b = p^-(omega) (the roots of "
                "|lambda|^2 = 1 in b)",
                sp.Matrix(roots_b),
                sp.Matrix([p_minus, p_plus]),
                "sympy.solve(|lambda|^2 = 1, b) returns exactly {p, p^-}",
                roots_match,
            ),
            Claim(
                sec,
                "|lambda| = 1 at b = p(omega): BRF with b_offset = q = 0",
                sp.simplify(mod2.subs({c: 0, q: 0})),
                sp.Integer(1),
            ),
            Claim(
                sec,
                "|lambda_+-| > 1 whenever dt omega > 1: |lambda|^2 - (dt omega)^2 = (1 + dt b)^2 "
                ">= 0 (for BRF p(omega) is then not real and the model refuses it)",
                sp.expand(on_b - (dt * w) ** 2),
                sp.expand((1 + dt * bb) ** 2),
            ),
            Claim(
                sec,
                "BRF: 1 + dt b = sqrt(1 - (dt omega)^2) - dt (|b_offset| + q)",
                sp.expand(J[0, 0]),
                sp.expand(s - dt * (c + q_cat)),
            ),
            Claim(
                sec,
                "BRF: |lambda| < 1 iff 0 < |b_offset| + q < 2 sqrt(1 - (dt omega)^2)/dt: "
                "|lambda|^2 - 1 = dt k (dt k - 2 sqrt(1 - (dt omega)^2)), k = |b_offset| + q",
                sp.expand(mod2 - 1),
                sp.expand(dt * (c + q_cat) * (dt * (c + q_cat) - 2 * s)),
            ),
            Claim(
                sec,
                "p(omega) is exactly the |lambda| = 1 boundary: |lambda| = 1 at |b_offset| + q = "
                "0 and d|lambda|^2/dk = -2 dt sqrt(1 - (dt omega)^2) < 0 there (inside for k > 0)",
                sp.expand(sp.diff(mod2.subs(q, 0), c).subs(c, 0)),
                sp.expand(-2 * dt * s),
            ),
            Claim(
                sec,
                "period = 2 pi / atan2(dt omega, 1 + dt b): lambda_+- = (1 + dt b) +- i dt omega "
                "with 1 + dt b real (dt |omega| <= 1)",
                sp.Matrix([sorted(signs, key=str)]),
                sp.Matrix([[-1, 1]]),
                "(lambda - (1 + dt b)) / (i dt omega) over the derived pair is {-1, +1}",
                sorted(signs, key=str) == [-1, 1],
            ),
        ]
        return out


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class RF(_Resonator):
    """Plain resonate-and-fire (the BRF paper's baseline): omega, b_offset finite (raw;
    |omega|, |b_offset| used), dt > 0 (0.01), v_th > 0 (1). State (u, v); damping
    b = -|b_offset|, no reset, no adaptation."""

    name: ClassVar[str] = "rf"
    label: ClassVar[str] = "RF"
    color: ClassVar[str] = _BLUISH_GREEN
    state_names: ClassVar[tuple[str, ...]] = ("u", "v")
    verify_params: ClassVar[dict[str, float]] = {
        "omega": 10.0,
        "b_offset": 1.0,
        "dt": 0.01,
        "v_th": 1.0,
    }
    input_stats: ClassVar[tuple[float, float]] = (10.0, 30.0)

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """RF grows iff dt omega^2 > |b_offset| (2 - dt |b_offset|) (derive); its probability
        over BRF's task boxes, which RF borrows (``rf_growing_probability``)."""
        p = rf_growing_probability()
        how = (
            "numerical integral over BRF's task boxes (RF borrows them) of "
            "P(dt omega^2 > c (2 - dt c)), c = |b_offset|"
        )
        return {"growing": (p, how), "decaying": (1.0 - p, how)}

    def coefficients(self, ops: Ops) -> BRFCoefficients:
        return BRFCoefficients(
            omega=ops.m.abs(self.omega),
            damping=-ops.m.abs(self.b_offset),
            dt=self.dt,
            v_th=self.v_th,
            q_decay=0.0,
            **self.switches(),
        )

    step = staticmethod(rf_step)

    @staticmethod
    def spike_argument(p: BRFCoefficients, state: dict, ops: Ops) -> Any:
        return state["u"] - p.v_th

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about RF (docs/catalogue.md): J, eigenvalues, boundary."""
        sec = "RF (c)"
        subs, w, c, dt = _abs_omega_symbols(d)
        J = _on(d.J_sub, subs)
        b = -c
        mod2 = sp.expand(J.det())
        lam = {sp.expand(_on(e, subs)) for e in d.eigenvalues}
        return [
            Claim(
                sec,
                "J = [[1 + dt b, -dt omega], [dt omega, 1 + dt b]], b = -|b_offset|",
                J,
                sp.Matrix([[1 + dt * b, -dt * w], [dt * w, 1 + dt * b]]),
            ),
            Claim(
                sec,
                "eigenvalues 1 - dt |b_offset| +- i dt omega",
                sp.Integer(len(lam)),
                sp.Integer(2),
                "the derived eigenvalues are exactly this pair",
                lam
                == {sp.expand(1 + dt * b + sp.I * dt * w), sp.expand(1 + dt * b - sp.I * dt * w)},
            ),
            Claim(
                sec,
                "|lambda| > 1 iff dt omega^2 > |b_offset| (2 - dt |b_offset|): |lambda|^2 - 1 = "
                "dt (dt omega^2 - |b_offset| (2 - dt |b_offset|))",
                sp.expand(mod2 - 1),
                sp.expand(dt * (dt * w**2 - c * (2 - dt * c))),
            ),
            Claim(
                sec,
                "at dt = 0.01 the boundary is omega^2 = 200 |b_offset| - |b_offset|^2 ('roughly "
                "omega^2 > 200 |b_offset|' drops the |b_offset|^2 term)",
                sp.expand((dt * w**2 - c * (2 - dt * c)).subs(dt, sp.Rational(1, 100)) * 100),
                sp.expand(w**2 - 200 * c + c**2),
            ),
        ]
