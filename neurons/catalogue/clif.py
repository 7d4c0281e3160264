"""CLIF: the complementary leaky integrate-and-fire neuron (Huang et al., ICML 2024;
docs/catalogue.md).

The official ``ComplementaryLIFNeuron`` computes, with gamma = 1 - 1/tau, per step in order

    H[t] = gamma v[t-1] + X[t]
    m'   = m[t-1] sigmoid(H[t] / tau)              (CLIFSpike: sigmoid((1 - gamma) H[t]), equal)
    s[t] = H(H[t] - v_th)                          (">=": H(0) = 1, as here)
    m[t] = m' + s[t]
    v'   = H[t] - s[t] v_th                        (soft reset, NOT detached)
    v[t] = v' - s[t] sigmoid(m[t])                 (the extra, m-dependent reset)

with v[0] = m[0] = 0. The official (v[t], m[t]) does not decide s[t]; the carried state here is
(v~[t], m~[t]) = (H[t], m') - the potential and the memory *before* step t's spike acts on them
(named ``v`` and ``m``) - so s[t] = H(v~[t] - v_th) is decided by the carried state (a Markov
state, as the generated adjoints need). Each step first applies the previous step's spike,
m[t-1] = m~[t-1] + s[t-1], v[t-1] = v~[t-1] - s[t-1] v_th - s[t-1] sigmoid(m[t-1]), then charges.
Below threshold the two coordinates coincide (s = 0).

Strict sub-threshold J = [[gamma, 0], [gamma m sigma_h (1 - sigma_h) / tau, sigma_h]] with
sigma_h = sigmoid(H[t] / tau): eigenvalues gamma and sigma_h, both in (0, 1) for tau > 1.
``claims`` also rebuilds the official-coordinate map (v, m)[t-1] -> (v, m)[t] from the same
step functions and proves the catalogue's full spike-aware Jacobian.

No trainable neuron parameters (tau = 2, v_th = 1 fixed); the surrogate is ``rectangle`` (width
1, height 1). The official reset ignores ``detach_reset``, so only the non-detached reset is
offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..base import Coefficients, NeuronModel, PaperClaim, Param, ParamLike
from ..ops import SYMPY_OPS, Ops
from ..registry import register
from ..symbolic import Claim, subthreshold

__all__ = ["CLIF", "CLIFCoefficients", "clif_step", "clif_after_spike"]

_REDDISH_PURPLE = "#CC79A7"  # Okabe-Ito; distinct within the catalogue group


@dataclass(frozen=True, kw_only=True)
class CLIFCoefficients(Coefficients):
    """What ``clif_step`` reads: the decay gamma = 1 - 1/tau, tau and the threshold."""

    gamma: Any
    tau: Any
    v_th: Any


def clif_after_spike(p: CLIFCoefficients, v: Any, m: Any, S: Any, ops: Ops) -> tuple[Any, Any]:
    """The official (v, m) after a step's spike S acts on the pre-spike (v~, m~):
    m = m~ + S;  v = (v~ - S v_th) - S sigmoid(m)  (neither reset detached)."""
    m_post = m + S
    return v - S * p.v_th - S * ops.sigmoid(m_post), m_post


def clif_charge(p: CLIFCoefficients, v: Any, m: Any, current: Any, ops: Ops) -> tuple[Any, Any]:
    """From the official (v[t-1], m[t-1]): H[t] = gamma v[t-1] + I[t],
    m~[t] = m[t-1] sigmoid(H[t] / tau)."""
    H = p.gamma * v + current
    return H, m * ops.sigmoid(H / p.tau)


def clif_step(p: CLIFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """(v~, m~)[t-1] and S[t-1] -> the official (v, m)[t-1] (``clif_after_spike``) -> charge
    (``clif_charge``) -> S[t] = H(v~[t] - v_th)."""
    v_prev, m_prev = clif_after_spike(p, state["v"], state["m"], state["S"], ops)
    H, m_new = clif_charge(p, v_prev, m_prev, current, ops)
    S_new = ops.spike(H - p.v_th, p.surrogate)
    return {"v": H, "m": m_new, "S": S_new}, S_new


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class CLIF(NeuronModel):
    """CLIF: tau > 1 (default 2: gamma = 1/2), v_th > 0 (1). State (v, m): the pre-reset
    potential H[t] and the complementary memory before the spike is added; soft reset and the
    extra reset s sigmoid(m), neither detached."""

    tau: ParamLike = 2.0
    v_th: ParamLike = 1.0
    convention: str = "code"
    surrogate: Any = "rectangle"

    name: ClassVar[str] = "clif"
    label: ClassVar[str] = "CLIF"
    color: ClassVar[str] = _REDDISH_PURPLE
    group: ClassVar[str] = "catalogue"
    state_names: ClassVar[tuple[str, ...]] = ("v", "m")
    threshold_state: ClassVar[str] = "v"
    param_names: ClassVar[tuple[str, ...]] = ("tau", "v_th")
    param_specs: ClassVar[dict[str, Param]] = {
        "tau": Param(1.0, doc="membrane time constant (gamma = 1 - 1/tau)"),
        "v_th": Param(0.0, doc="threshold"),
    }
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("subtract",)
    detach_options: ClassVar[tuple[bool, ...]] = (False,)
    verify_params: ClassVar[dict[str, float]] = {"tau": 2.0, "v_th": 1.0}
    input_stats: ClassVar[tuple[float, float]] = (0.6, 0.6)
    layer_defaults: ClassVar[dict[str, Any]] = {"train": (), "per_neuron": False}
    network_defaults: ClassVar[dict[str, Any]] = {"tau": 2.0, "train": (), "per_neuron": False}

    def coefficients(self, ops: Ops) -> CLIFCoefficients:
        return CLIFCoefficients(
            gamma=1 - 1 / self.tau, tau=self.tau, v_th=self.v_th, **self.switches()
        )

    step = staticmethod(clif_step)

    @staticmethod
    def spike_argument(p: CLIFCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> NeuronModel:
        """The official fixed values in every draw: tau = 2, v_th = 1 (no trainable neuron
        parameters)."""
        return cls(tau=np.full(n, 2.0), v_th=np.ones(n))

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        def extra_paths(ctx: Any) -> tuple[str, str]:
            from ..models import LIF

            tau = np.asarray(ctx.draws.tau, dtype=float)
            lif = ctx.analyse(LIF(alpha=1 - 1 / tau))
            mh = np.asarray(ctx.stats["memory_horizon"], dtype=float)
            same = bool(np.allclose(mh, lif["memory_horizon"], rtol=1e-12))
            longer = bool(np.all(mh > lif["memory_horizon"] * (1 + 1e-12)))
            return ("holds" if longer else "partly"), (
                "the extra paths exist (derive: dv/dm = -s sigma'(m_t) sigma_h and dm/dv = gamma "
                "kappa, both non-zero once s = 1 or g > 0), but below threshold J is LIF's along "
                f"v: memory horizon {np.median(mh):.3g} steps, equal to LIF's -1/ln(1 - 1/tau) "
                f"at the same tau: {same}"
            )

        return [
            PaperClaim(
                "Huang et al. 2024, abstract",
                "CLIF creates extra paths to facilitate the backpropagation in computing temporal "
                "gradient while keeping binary output",
                "the extra paths in the spike-aware J (derive) and the sub-threshold memory "
                "horizon against LIF's at the same tau",
                extra_paths,
            ),
        ]

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about CLIF (docs/catalogue.md), from the derivation ``d``
        and, for the official-coordinate Jacobian, from ``clif_charge`` / ``clif_after_spike``."""
        sec = "CLIF (c)"
        P = d.model.params()
        tau, vth = P["tau"], P["v_th"]
        gamma = 1 - 1 / tau
        v, m = d.state["v"], d.state["m"]
        I = d.current
        h = gamma * v + I  # H[t] below threshold (the previous reset is 0)
        sig = 1 / (1 + sp.exp(-h / tau))
        J = d.J_sub
        lam = sorted((sp.simplify(e) for e in d.eigenvalues), key=str)
        # the official map (v, m)[t-1] -> (v, m)[t] with s[t] = Spike(H - v_th), psi its slope
        p = d.model.coefficients(SYMPY_OPS)
        vo, mo = sp.symbols("v_o m_o", real=True)
        H, m_tilde = clif_charge(p, vo, mo, I, SYMPY_OPS)
        s_t = SYMPY_OPS.spike(H - vth, p.surrogate)
        v_t, m_t = clif_after_spike(p, H, m_tilde, s_t, SYMPY_OPS)
        off = sp.Matrix(
            [[sp.diff(v_t, vo), sp.diff(v_t, mo)], [sp.diff(m_t, vo), sp.diff(m_t, mo)]]
        )
        g, s = sp.Symbol("g", real=True), sp.Symbol("s", real=True)
        plain = off.applyfunc(lambda e: _name_spikes(e, g, s))
        sh = 1 / (1 + sp.exp(-H / tau))
        m_new = mo * sh + s
        sg_m = 1 / (1 + sp.exp(-m_new))
        dsg_m = sg_m * (1 - sg_m)
        kappa = mo * sh * (1 - sh) / tau + g
        J_cat = sp.Matrix(
            [
                [gamma * (1 - g * (vth + sg_m) - s * dsg_m * kappa), -s * dsg_m * sh],
                [gamma * kappa, sh],
            ]
        )
        in_window = plain[0, 0].subs({s: 0, vth: 1})
        lif_code = sp.Symbol("alpha", positive=True) * (1 - g)  # LIF, code, soft, not detached
        return [
            Claim(
                sec,
                "strict sub-threshold J = [[gamma, 0], [gamma m sigma_h (1 - sigma_h)/tau, "
                "sigma_h]], sigma_h = sigmoid(H/tau), H = gamma v + I",
                J,
                sp.Matrix([[gamma, 0], [gamma * m * sig * (1 - sig) / tau, sig]]),
            ),
            Claim(
                sec,
                "eigenvalues {1 - 1/tau, sigmoid(H/tau)}",
                sp.Matrix([lam]),
                sp.Matrix([sorted((sp.simplify(gamma), sp.simplify(sig)), key=str)]),
                "the derived eigenvalues (block-triangular J), sorted",
                all(
                    sp.simplify(a - b) == 0
                    for a, b in zip(
                        lam, sorted((sp.simplify(gamma), sp.simplify(sig)), key=str), strict=True
                    )
                ),
            ),
            Claim(
                sec,
                "both eigenvalues in (0, 1) for tau > 1: |lambda| < 1 always below threshold",
                sp.Matrix([[gamma, sig]]),
                sp.Matrix([[gamma, sig]]),
                "gamma = 1 - 1/tau in (0, 1) for tau > 1 (the model's range); a sigmoid lies in "
                "(0, 1)",
                _in_unit_interval(gamma, tau),
            ),
            Claim(
                sec,
                "identical to LIF along v: dv[t]/dv[t-1] = gamma, dv[t]/dm[t-1] = 0 below "
                "threshold",
                J.row(0),
                sp.Matrix([[gamma, 0]]),
            ),
            Claim(
                sec,
                "full Jacobian of the official (v, m): dv/dv = gamma [1 - g (v_th + "
                "sigma(m_t)) - s sigma'(m_t) kappa], dv/dm = -s sigma'(m_t) sigma_h, "
                "dm/dv = gamma kappa, dm/dm = sigma_h, kappa = m sigma_h (1 - sigma_h)/tau + g",
                plain,
                J_cat,
                "the official map rebuilt from clif_charge and clif_after_spike and "
                "differentiated; with exp(-H/tau) and exp(-m_t) as symbols both sides are "
                "rational and their difference cancels",
                all(sp.cancel(sp.together(e)) == 0 for e in _exps_to_symbols(plain - J_cat)),
            ),
            Claim(
                sec,
                "inside the window with s = 0 (v_th = 1): J11 = gamma (1 - g (1 + sigma(m_t)))",
                in_window,
                gamma * (1 - g * (1 + 1 / (1 + sp.exp(-mo * sh.subs(vth, 1))))),
            ),
            Claim(
                sec,
                "for comparison LIF (code convention, soft reset not detached) gives "
                "alpha (1 - g): 0 at g = 1 (v_th = 1)",
                _lif_code_jacobian(g),
                lif_code,
            ),
        ]


def _exps_to_symbols(M: sp.Matrix) -> list[Any]:
    """The entries of ``M`` with every exp(a) replaced by a positive symbol, one per expanded
    argument a (innermost first), so that expressions in sigmoids become rational functions."""
    out = list(M)
    table: dict[Any, sp.Symbol] = {}
    while True:
        atoms = set().union(*(sp.sympify(e).atoms(sp.exp) for e in out))
        if not atoms:
            return out
        rep = {}
        for a in atoms:
            if not a.args[0].has(sp.exp):
                key = sp.expand(a.args[0])
                rep[a] = table.setdefault(key, sp.Symbol(f"E{len(table)}", positive=True))
        out = [sp.sympify(e).xreplace(rep) for e in out]


def _in_unit_interval(gamma: Any, tau: sp.Symbol) -> bool:
    """0 < gamma < 1 for tau = 1 + X, X > 0, and 0 < sigmoid(y) < 1 for real y (SymPy decides
    the signs)."""
    X, y = sp.Symbol("X", positive=True), sp.Symbol("y", real=True)
    g = sp.simplify(gamma.subs(tau, 1 + X))
    sig = 1 / (1 + sp.exp(-y))
    return bool(
        g.is_positive
        and sp.simplify(1 - g).is_positive
        and sig.is_positive
        and sp.simplify(1 - sig).is_positive
    )


def _name_spikes(expr: Any, g: sp.Symbol, s: sp.Symbol) -> Any:
    """Spike(...) -> s and Psi(...) -> g (the official s[t] and its surrogate slope)."""
    from ..ops import Psi, Spike

    expr = sp.sympify(expr).replace(lambda e: isinstance(e, Psi), lambda e: g)
    return expr.replace(lambda e: isinstance(e, Spike), lambda e: s)


def _lif_code_jacobian(g: sp.Symbol) -> Any:
    """dv[t]/dv[t-1] of the registered LIF (code convention, subtract reset, not detached,
    v_th = 1) with the previous spike's slope named g and the spike 0."""
    from ..symbolic import jacobian, symbolic_model

    lif = symbolic_model(
        "lif", convention="code", reset="subtract", detach_reset=False, v_th=sp.Integer(1)
    )
    J = jacobian(lif)[0, 0]
    return subthreshold(_name_spikes(J, g, sp.Integer(0)))
