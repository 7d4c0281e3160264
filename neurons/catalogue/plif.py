"""PLIF: the LIF neuron with a learnable membrane time constant (Fang et al., ICCV 2021;
docs/catalogue.md).

With k = 1/tau = sigmoid(w) (one scalar w per layer), the official charge, fire and reset are

    H[t] = v[t-1] + k (X[t] - (v[t-1] - v_reset))      (decay_input=True)
    H[t] = v[t-1] - k (v[t-1] - v_reset) + X[t]        (decay_input=False)
    S[t] = H(H[t] - v_th)                               (">=": H(0) = 1, as here)
    hard: v[t] = S~ v_reset + (1 - S~) H[t];   soft (official v_reset=None): v[t] = H[t] - S~ v_th

with S~ = sg(S[t]) when ``detach_reset``. The carried state here is the pre-reset potential
H (named ``v``), so the spike is decided by the carried state; each step first applies the
previous step's reset. ``reset="zero"`` is the official hard reset to ``v_reset`` (0 in the
paper; the name says "zero" because the registry's reset switch has the values "zero" and
"subtract"); ``reset="subtract"`` is the official soft reset (v_reset=None), whose charge leaks
towards 0, so ``v_reset`` is then not a parameter. Below threshold J = 1 - k in (0, 1) for every
finite w.

Deviation: every state starts at 0, where the official code starts v at v_reset; the two agree
for the paper's v_reset = 0 (and always in soft mode). Defaults are the paper code's: w = 0
(tau_0 = 2), v_th = 1, hard reset to 0, detached, surrogate ATan(alpha = 2); spikingjelly's own
defaults are detach_reset=False and Sigmoid(alpha = 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..base import Coefficients, NeuronModel, PaperClaim, Param, ParamLike, choice, reset_spike
from ..ops import Ops
from ..parameterisations import Identity, Trainable
from ..registry import register
from ..symbolic import Claim

__all__ = ["PLIF", "PLIFCoefficients", "plif_step"]

_BLACK = "#000000"  # Okabe-Ito
_PSI = sp.Symbol("psi", real=True)
_S = sp.Symbol("S", real=True)


@dataclass(frozen=True, kw_only=True)
class PLIFCoefficients(Coefficients):
    """What ``plif_step`` reads: k = sigmoid(w), the threshold, the reset potential (0 in soft
    mode) and the decay_input switch."""

    k: Any
    v_th: Any
    v_reset: Any
    decay_input: bool


def plif_step(p: PLIFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """v' = S~ v_reset + (1 - S~) v (zero) or v - S~ v_th (subtract) with v, S~ of t-1 (S~
    detached when ``detach_reset``); H[t] = v' + k (I - (v' - v_reset)) (decay_input) or
    v' - k (v' - v_reset) + I; S[t] = H(H[t] - v_th)."""
    v, Sr = state["v"], reset_spike(p, state["S"], ops)
    if p.reset == "zero":
        v_post = Sr * p.v_reset + (1 - Sr) * v
    else:
        v_post = v - Sr * p.v_th
    if p.decay_input:
        H = v_post + p.k * (current - (v_post - p.v_reset))
    else:
        H = v_post - p.k * (v_post - p.v_reset) + current
    S_new = ops.spike(H - p.v_th, p.surrogate)
    return {"v": H, "S": S_new}, S_new


@register
@dataclass(frozen=True, eq=False, kw_only=True)
class PLIF(NeuronModel):
    """PLIF: w finite (1/tau = sigmoid(w); default 0, tau = 2), v_th > 0 (1), v_reset finite
    (0; hard reset only), decay_input True (default) or False."""

    w: ParamLike = 0.0
    v_th: ParamLike = 1.0
    v_reset: ParamLike = 0.0
    decay_input: bool = True
    convention: str = "code"
    reset: str = "zero"
    detach_reset: bool = True
    surrogate: Any = "arctan"

    name: ClassVar[str] = "plif"
    label: ClassVar[str] = "PLIF"
    color: ClassVar[str] = _BLACK
    group: ClassVar[str] = "catalogue"
    state_names: ClassVar[tuple[str, ...]] = ("v",)
    threshold_state: ClassVar[str] = "v"
    param_names: ClassVar[tuple[str, ...]] = ("w", "v_th", "v_reset")
    param_specs: ClassVar[dict[str, Param]] = {
        "w": Param(doc="1/tau = sigmoid(w)"),
        "v_th": Param(0.0, doc="threshold"),
        "v_reset": Param(doc="reset potential of the hard reset"),
        "decay_input": Param(doc="switch: the input is scaled by k (True) or not (False)"),
    }
    conventions: ClassVar[tuple[str, ...]] = ("code",)
    resets: ClassVar[tuple[str, ...]] = ("zero", "subtract")
    detach_options: ClassVar[tuple[bool, ...]] = (True, False)
    verify_params: ClassVar[dict[str, float]] = {"w": -1.0, "v_th": 1.0, "v_reset": -0.2}
    input_stats: ClassVar[tuple[float, float]] = (1.5, 1.5)
    trainable: ClassVar[dict[str, Trainable]] = {"w": Trainable("w", Identity())}
    layer_defaults: ClassVar[dict[str, Any]] = {"train": ("w",), "per_neuron": False}
    network_defaults: ClassVar[dict[str, Any]] = {"w": 0.0, "train": ("w",), "per_neuron": False}

    def _validate(self) -> None:
        owner = type(self).__name__
        value = self.decay_input
        if isinstance(value, np.bool_):
            value = bool(value)
        choice(owner, "decay_input", value, (True, False))
        self._set("decay_input", value)
        for name, spec in self.param_specs.items():
            if name != "decay_input" and getattr(self, name, None) is not None:
                self._set(name, spec.check(owner, name, getattr(self, name)))

    def params(self) -> dict[str, Any]:
        """w and v_th; v_reset too with the hard reset (the soft reset does not read it)."""
        names = self.param_names if self.reset == "zero" else ("w", "v_th")
        return {n: getattr(self, n) for n in names}

    def coefficients(self, ops: Ops) -> PLIFCoefficients:
        return PLIFCoefficients(
            k=ops.sigmoid(self.w),
            v_th=self.v_th,
            v_reset=self.v_reset if self.reset == "zero" else 0.0,
            decay_input=self.decay_input,
            **self.switches(),
        )

    step = staticmethod(plif_step)

    @staticmethod
    def spike_argument(p: PLIFCoefficients, state: dict, ops: Ops) -> Any:
        return state["v"] - p.v_th

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> PLIF:
        """The paper's fixed initialisation w = -ln(tau_0 - 1), tau_0 = 2 or 16 (half the draws
        each), v_th = 1, v_reset = 0."""
        tau0 = rng.choice(np.array([2.0, 16.0]), size=n)
        return cls(w=-np.log(tau0 - 1.0), v_th=np.ones(n), v_reset=np.zeros(n))

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """lambda = 1 - sigmoid(w) lies in (0, 1) for every finite w: every draw decays."""
        how = "closed form: lambda = 1 - sigmoid(w) in (0, 1) for every finite w"
        return {"growing": (0.0, how), "decaying": (1.0, how)}

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        def decays(ctx: Any) -> tuple[str, str]:
            decaying = ctx.stats["class"] == "decaying"
            return ("holds" if bool(np.all(decaying)) else "fails"), (
                f"every draw decays ({ctx.share(decaying, 'decaying')}): lambda = 1 - "
                "sigmoid(w) in (0, 1), memory horizon -1/ln(1 - 1/tau_0)"
            )

        return [
            PaperClaim(
                "Fang et al. 2021, abstract",
                "incorporating learnable membrane time constants can make the network less "
                "sensitive to initial values and can speed up learning",
                "a training claim, not a gradient-stability one",
            ),
            PaperClaim(
                "this toolkit (derive), PLIF",
                "Strict sub-threshold: lambda = 1 - k = 1 - 1/tau in (0, 1) for every finite w",
                "share of the initial draws that decay below threshold",
                decays,
            ),
        ]

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about PLIF (docs/catalogue.md), from the derivation ``d``."""
        P = d.model.params()
        w, vth = P["w"], P["v_th"]
        k = 1 / (1 + sp.exp(-w))
        lam = sp.simplify(d.J_sub[0, 0])
        sec = "PLIF (c)"
        out = [
            Claim(sec, "strict sub-threshold: lambda = 1 - k = 1 - sigmoid(w)", lam, 1 - k),
            Claim(
                sec,
                "lambda in (0, 1) for every finite w (|lambda| < 1 always, never >= 1; "
                "lambda -> 1 only as w -> -inf)",
                sp.simplify(lam - 1 / (1 + sp.exp(w))),
                0,
                "lambda = 1/(1 + e^w): 0 < lambda < 1 for real w; lim_{w -> -inf} lambda = 1",
                sp.simplify(lam - 1 / (1 + sp.exp(w))) == 0
                and sp.limit(lam, w, -sp.oo) == 1
                and sp.limit(lam, w, sp.oo) == 0,
            ),
        ]
        dJ = sp.expand(d.J_psi[0, 0])
        cut = 0 if d.model.detach_reset else 1
        if d.model.reset == "zero":
            v, v_reset = d.state["v"], P["v_reset"]
            expected = (1 - k) * ((1 - _S) + (v_reset - v) * _PSI * cut)
            text = "hard reset: dv[t]/dv[t-1] = (1-k) [(1 - s) + (v_reset - H) g 1(not detached)]"
        else:
            expected = (1 - k) * (1 - vth * _PSI * cut)
            text = "soft reset: dv[t]/dv[t-1] = (1-k)(1 - v_th g 1(not detached))"
        out.append(
            Claim(
                sec,
                text,
                dJ,
                sp.expand(expected),
                "on the carried pre-reset H the factors are those of step t-1 (s, g, H of the "
                "spike that resets); the catalogue's post-reset v has them at step t: the same "
                "product along a trajectory",
            )
        )
        return out
