"""adLIF in the order of its official code (Bittar & Garner 2022; docs/catalogue.md).

Per step, with the carried state (u, w) and the previous spike S[t-1] = H(u[t-1] - v_th):

    w[t] = beta w[t-1] + a u[t-1] + b S[t-1]                          (OLD u)
    u[t] = alpha (u[t-1] - v_th S[t-1]) + (1 - alpha) (I[t] - w[t])   (NEW w)
    S[t] = H(u[t] - v_th)

The soft reset subtracts the threshold (the code's s[t-1] at its fixed threshold 1) inside the
leak and is not detached by default; the surrogate is the boxcar of width 1 and height 1
("rectangle"). Below threshold J = [[alpha - (1 - alpha) a, -(1 - alpha) beta], [a, beta]] with
det J = alpha beta, and |lambda| < 1 iff a > beta - 1 (for a <= 1).

Deviations from the official code, both deliberate: every state starts at 0 (the code draws
u, w and a non-binary s from U[0, 1) on every call), and H(0) = 1 (the code spikes on u > 1,
so the two differ only when u[t] equals the threshold exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..base import Coefficients, NeuronModel, PaperClaim, Param, ParamLike, reset_spike
from ..ops import Ops
from ..parameterisations import Clamp, Trainable
from ..registry import register
from ..symbolic import Claim

__all__ = ["AdLIF", "AdLIFCoefficients", "adlif_step", "ADLIF_INIT"]

_ORANGE = "#E69F00"  # Okabe-Ito
_LAM = sp.Symbol("lambda")
_PSI = sp.Symbol("psi", real=True)

#: The official initialisation ranges (uniform), which every forward also clamps to.
ADLIF_INIT: dict[str, tuple[float, float]] = {
    "alpha": (math.exp(-1 / 5), math.exp(-1 / 25)),
    "beta": (math.exp(-1 / 30), math.exp(-1 / 120)),
    "a": (-1.0, 1.0),
    "b": (0.0, 2.0),
}


def _centre(name: str) -> float:
    lo, hi = ADLIF_INIT[name]
    return 0.5 * (lo + hi)


@dataclass(frozen=True, kw_only=True)
class AdLIFCoefficients(Coefficients):
    """What ``adlif_step`` reads: the decays, 1 - alpha, the couplings and the threshold."""

    alpha: Any
    one_minus_alpha: Any
    beta: Any
    a: Any
    b: Any
    v_th: Any


def adlif_step(p: AdLIFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """w[t] = beta w + a u + b S;  u[t] = alpha (u - v_th S~) + (1 - alpha)(I - w[t]);
    S[t] = H(u[t] - v_th), with S~ = S (detached when ``detach_reset``) and u, w, S of t-1."""
    u, w, S = state["u"], state["w"], state["S"]
    w_new = p.beta * w + p.a * u + p.b * S
    u_new = p.alpha * (u - p.v_th * reset_spike(p, S, ops)) + p.one_minus_alpha * (current - w_new)
    S_new = ops.spike(u_new - p.v_th, p.surrogate)
    return {"u": u_new, "w": w_new, "S": S_new}, S_new


def _unit(x: sp.Symbol, name: str) -> sp.Expr:
    """x = 1 / (1 + X) with X > 0: a symbol of (0, 1) written so that SymPy can decide signs."""
    return 1 / (1 + sp.Symbol(name, positive=True))


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class AdLIF(NeuronModel):
    """adLIF (sparch order): decays alpha, beta in (0, 1], couplings a, b (any finite reals),
    threshold v_th > 0. Defaults: the centres of the official initialisation ranges (alpha =
    0.8898, beta = 0.9795, a = 0, b = 1) and v_th = 1; surrogate "rectangle" (width 1)."""

    alpha: ParamLike = _centre("alpha")
    beta: ParamLike = _centre("beta")
    a: ParamLike = 0.0
    b: ParamLike = 1.0
    v_th: ParamLike = 1.0
    convention: str = "code"
    surrogate: Any = "rectangle"

    name: ClassVar[str] = "adlif"
    label: ClassVar[str] = "adLIF"
    color: ClassVar[str] = _ORANGE
    group: ClassVar[str] = "catalogue"
    state_names: ClassVar[tuple[str, ...]] = ("u", "w")
    threshold_state: ClassVar[str] = "u"
    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "a", "b", "v_th")
    param_specs: ClassVar[dict[str, Param]] = {
        "alpha": Param(0.0, 1.0, hi_open=False, doc="membrane decay"),
        "beta": Param(0.0, 1.0, hi_open=False, doc="adaptation decay"),
        "a": Param(doc="sub-threshold coupling u -> w"),
        "b": Param(doc="spike-triggered adaptation"),
        "v_th": Param(0.0, doc="threshold (the reset subtracts it)"),
    }
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("subtract",)
    verify_params: ClassVar[dict[str, float]] = {
        "alpha": 0.85,
        "beta": 0.97,
        "a": 0.4,
        "b": 0.6,
        "v_th": 1.0,
    }
    input_stats: ClassVar[tuple[float, float]] = (3.0, 3.0)
    trainable: ClassVar[dict[str, Trainable]] = {
        name: Trainable(name, Clamp(*bounds)) for name, bounds in ADLIF_INIT.items()
    }
    layer_defaults: ClassVar[dict[str, Any]] = {
        "train": ("alpha", "beta", "a", "b"),
        "per_neuron": True,
    }
    network_defaults: ClassVar[dict[str, Any]] = {
        **{name: _centre(name) for name in ADLIF_INIT},
        "train": ("alpha", "beta", "a", "b"),
        "per_neuron": True,
    }

    def coefficients(self, ops: Ops) -> AdLIFCoefficients:
        return AdLIFCoefficients(
            alpha=self.alpha,
            one_minus_alpha=1 - self.alpha,
            beta=self.beta,
            a=self.a,
            b=self.b,
            v_th=self.v_th,
            **self.switches(),
        )

    step = staticmethod(adlif_step)

    @staticmethod
    def spike_argument(p: AdLIFCoefficients, state: dict, ops: Ops) -> Any:
        return state["u"] - p.v_th

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> AdLIF:
        """alpha, beta, a, b ~ U(official range) per neuron, v_th = 1."""
        draws = {k: rng.uniform(lo, hi, size=n) for k, (lo, hi) in ADLIF_INIT.items()}
        return cls(**draws, v_th=np.ones(n))

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """Growing below threshold iff a < beta - 1 (derive); with a ~ U[-1, 1] independent of
        beta, P(a < beta - 1) = E[beta] / 2 = (beta_lo + beta_hi) / 4 (closed form)."""
        lo, hi = ADLIF_INIT["beta"]
        a_lo, a_hi = ADLIF_INIT["a"]
        p = ((lo + hi) / 2 - 1 - a_lo) / (a_hi - a_lo)  # E[P(a < beta - 1 | beta)]
        return {
            "growing": (p, "closed form: P(a < beta - 1) = E[beta]/2, a ~ U[-1, 1]"),
            "decaying": (1.0 - p, "closed form: 1 - E[beta]/2 (a = beta - 1 has measure 0)"),
        }

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        def growing_share(ctx: Any) -> tuple[str, str]:
            grows = ctx.stats["class"] == "growing"
            d = ctx.draws.params()
            same = bool(np.all(grows == (d["a"] < d["beta"] - 1)))
            verdict = "holds" if np.any(grows) else "fails"
            return verdict, (
                f"{ctx.share(grows, 'growing')} grow below threshold; exactly the draws with "
                f"a < beta - 1: {same}"
            )

        return [
            PaperClaim(
                "Bittar & Garner 2022, abstract",
                "a combination of adaptation, recurrence and surrogate gradients can yield light "
                "spiking architectures that are not only able to compete with ANN solutions",
                "no stability or gradient claim to check",
            ),
            PaperClaim(
                "this toolkit (derive), adLIF",
                "adLIF's published initialisation ranges include couplings that grow below "
                "threshold",
                "share of initial draws with |lambda| > 1 (a < beta - 1)",
                growing_share,
            ),
        ]

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about adLIF (docs/catalogue.md), from the derivation ``d``."""
        P = d.model.params()
        al, be, a, b, vth = (P[k] for k in ("alpha", "beta", "a", "b", "v_th"))
        sec = "adLIF (c)"
        p = d.charpoly
        p1, pm1 = sp.expand(p.subs(_LAM, 1)), sp.expand(p.subs(_LAM, -1))
        # 0 < alpha, beta < 1 written as 1 / (1 + X): SymPy then decides the signs
        unit = {al: _unit(al, "X_alpha"), be: _unit(be, "X_beta")}
        det_margin = sp.factor((1 - d.det_sub).subs(unit))
        pm1_at_1 = sp.expand(pm1.subs(a, 1))
        jury = (
            sp.simplify(p1 - (1 - al) * (1 - be + a)) == 0
            and bool(det_margin.is_positive)
            and sp.simplify(sp.diff(pm1, a) + (1 - al)) == 0
            and bool(pm1_at_1.subs(unit).is_positive)
        )
        at_boundary = sp.factor(p.subs(a, be - 1))
        lam1, lam2 = d.eigenvalues
        # a numeric point below the boundary: real eigenvalues, one above 1
        below = {al: sp.Rational(9, 10), be: sp.Rational(49, 50), a: sp.Rational(-1, 2)}
        eig_below = sorted(complex(sp.N(e.subs(below))).real for e in d.eigenvalues)
        real_below = all(abs(complex(sp.N(e.subs(below))).imag) < 1e-12 for e in d.eigenvalues)
        a_equiv = 1 / (1 - math.exp(-1 / 120))
        out = [
            Claim(
                sec,
                "J = [[alpha - (1-alpha) a, -(1-alpha) beta], [a, beta]]",
                d.J_sub,
                sp.Matrix([[al - (1 - al) * a, -(1 - al) * be], [a, be]]),
            ),
            Claim(sec, "tr J = alpha + beta - (1-alpha) a", d.trace_sub, al + be - (1 - al) * a),
            Claim(sec, "det J = alpha beta (independent of a)", d.det_sub, al * be),
            Claim(sec, "p(1) = (1-alpha)(1-beta+a)", p1, (1 - al) * (1 - be + a)),
            Claim(
                sec,
                "p(-1) = (1+alpha)(1+beta) - (1-alpha) a",
                pm1,
                (1 + al) * (1 + be) - (1 - al) * a,
            ),
            Claim(
                sec,
                "|lambda| < 1 iff a > beta - 1 (0 < alpha, beta < 1, a <= 1); the other "
                "condition a < (1+alpha)(1+beta)/(1-alpha) always holds for a <= 1",
                sp.factor(p1),
                (1 - al) * (a - (be - 1)),
                "Jury: 1 - det = 1 - alpha beta > 0; p(1) = (1-alpha)(a - (beta-1)) > 0 iff "
                "a > beta - 1; p(-1) decreases in a (dp(-1)/da = -(1-alpha)) and "
                "p(-1)|_{a=1} = 2 alpha + beta + alpha beta > 0, so p(-1) > 0 for a <= 1",
                jury,
            ),
            Claim(
                sec,
                "|lambda| = 1 at a = beta - 1, with lambda = +1 (the other root alpha beta)",
                at_boundary,
                sp.factor((_LAM - 1) * (_LAM - al * be)),
            ),
            Claim(
                sec,
                "|lambda| > 1 iff a < beta - 1, the eigenvalues then real with lambda > 1",
                sp.Matrix([sp.Float(v, 12) for v in eig_below]),
                sp.Matrix([sp.Float(v, 12) for v in eig_below]),
                "p is monic and p(1) = (1-alpha)(a - (beta-1)) < 0 below the boundary, so the "
                "roots are real and straddle 1; at alpha = 0.9, beta = 0.98, a = -0.5 the "
                f"roots are {eig_below[0]:.6f}, {eig_below[1]:.6f}",
                jury and real_below and eig_below[1] > 1 > eig_below[0],
            ),
            Claim(
                sec,
                "complex case: |lambda| = sqrt(alpha beta) < 1",
                sp.expand(lam1 * lam2),
                al * be,
                "product of the two derived roots (= |lambda|^2 for a conjugate pair); "
                "alpha beta < 1 as above",
                sp.simplify(sp.expand(lam1 * lam2) - al * be) == 0 and bool(det_margin.is_positive),
            ),
            Claim(
                sec,
                "A = a/(1-beta) over the official ranges lies in about [-120, 120]",
                a_equiv,
                120,
                "max |a| / (1 - beta) = 1 / (1 - exp(-1/120)) at a = +-1, beta = exp(-1/120)",
                abs(a_equiv - 120) < 1,
            ),
        ]
        dJ = (d.J_psi - d.J_sub).applyfunc(sp.expand)
        if not d.model.detach_reset:
            out += [
                Claim(
                    sec,
                    "spike path: du[t]/du[t-1] gains -(alpha + (1-alpha) b) g[t-1] (v_th = 1; "
                    "-(alpha v_th + (1-alpha) b) g in general)",
                    dJ[0, 0].subs(vth, 1),
                    -(al + (1 - al) * b) * _PSI,
                ),
                Claim(sec, "spike path: dw[t]/du[t-1] gains + b g[t-1]", dJ[1, 0], b * _PSI),
            ]
        else:
            out.append(
                Claim(
                    sec,
                    "detached reset: du[t]/du[t-1] gains only -(1-alpha) b g[t-1] (through w)",
                    dJ[0, 0],
                    -(1 - al) * b * _PSI,
                )
            )
        return out
