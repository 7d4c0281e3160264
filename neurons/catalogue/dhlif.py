"""DH-LIF: the LIF neuron with B dendritic branches of their own time constants (DH-SNN, Zheng
et al., Nature Communications 2024; docs/catalogue.md).

The official layers compute, with beta_b = sigmoid(tau_n[b]), alpha = sigmoid(tau_m) (logits,
no clamp) and R_m = 1, per step in order

    d_b[t] = beta_b d_b[t-1] + (1 - beta_b) I_b[t]                  (b = 1..B)
    l[t]   = sum_b d_b[t]
    mem[t] = mem[t-1] alpha + (1 - alpha) R_m l[t] - v_th s[t-1]   (soft reset with the
                                                                    PREVIOUS spike, not detached)
    s[t]   = H(mem[t] - v_th)

The carried state (d_1..d_B, mem) decides s[t] (mem is the pre-reset potential). The branch
currents: in the official code branch b sums a disjoint random 1/B of the layer's inputs
(``W_mask x``). A neuron model here receives one current I[t] per neuron (the synaptic sum), so
each branch is given the fixed equal share I_b[t] = I[t] / B (a layer whose mask splits the
inputs evenly and whose weights are equal across branches); the dynamics of d, l, mem and s are
the official ones exactly. The number of branches B is a class constant: ``DHLIF`` has B = 4
(registered as ``dhlif``); ``dhlif_class(B)`` builds (and caches) the class for any B >= 1, with
parameters ``tau_n1 .. tau_nB``, ``tau_m``, ``v_th`` and states ``d1 .. dB``, ``mem``
(register it with ``neurons.register`` to use it by name).

Below threshold J = [[diag(beta), 0], [(1 - alpha) R_m beta^T, alpha]], block lower-triangular:
eigenvalues beta_1..beta_B and alpha, all in (0, 1). The spike path adds -v_th psi to
J[mem, mem].

Deviations: H(0) = 1 here, the code's ``gt(0)`` has H(0) = 0 (they differ only at equality);
every state starts at 0, where the official mem and s start at U[0, 1) (and d at U[0, 1) when
B = 1). The surrogate is the multi-Gaussian "MG" (``multi_gaussian``: sigma 0.5, h 0.15, s 6,
scale 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..base import Coefficients, NeuronModel, PaperClaim, Param, ParamLike
from ..ops import Ops
from ..parameterisations import Identity, Trainable
from ..registry import register
from ..symbolic import Claim

__all__ = ["DHLIF", "DHLIFCoefficients", "dhlif_class", "dhlif_step", "DHLIF_INIT", "R_M"]

_VERMILLION = "#D55E00"  # Okabe-Ito; distinct within the catalogue group
R_M = 1.0
"""The membrane resistance R_m (1 in the official code)."""
R_M_R = sp.Integer(1)  # the same, exact (SymPy view)

#: The official SHD initialisation: tau_n ~ U[2, 6] per neuron and branch, tau_m ~ U[0, 4].
DHLIF_INIT: dict[str, tuple[float, float]] = {"tau_n": (2.0, 6.0), "tau_m": (0.0, 4.0)}


@dataclass(frozen=True, kw_only=True)
class DHLIFCoefficients(Coefficients):
    """Base of what ``dhlif_step`` reads: alpha = sigmoid(tau_m), 1 - alpha, v_th and the input
    share 1/B; the class of each B (``dhlif_class``) adds the scalar fields beta1..betaB
    (beta_b = sigmoid(tau_n[b])) and one_minus_beta1..one_minus_betaB."""

    alpha: Any
    one_minus_alpha: Any
    v_th: Any
    share: Any


def dhlif_step(p: DHLIFCoefficients, state: dict, current: Any, ops: Ops) -> tuple[dict, Any]:
    """d_b[t] = beta_b d_b[t-1] + (1 - beta_b) I[t]/B;  l = sum_b d_b[t];
    mem[t] = mem[t-1] alpha + (1 - alpha) R_m l - v_th S[t-1];  S[t] = H(mem[t] - v_th)."""
    branch = current * p.share
    new: dict[str, Any] = {}
    total = None
    b = 1
    while f"d{b}" in state:
        d = getattr(p, f"beta{b}") * state[f"d{b}"] + getattr(p, f"one_minus_beta{b}") * branch
        new[f"d{b}"] = d
        total = d if total is None else total + d
        b += 1
    mem = state["mem"] * p.alpha + p.one_minus_alpha * R_M * total - p.v_th * state["S"]
    S_new = ops.spike(mem - p.v_th, p.surrogate)
    new["mem"] = mem
    new["S"] = S_new
    return new, S_new


@dataclass(frozen=True, eq=False, kw_only=True)
class _DHLIFBase(NeuronModel):
    """Fields, step and metadata shared by the DH-LIF classes of every B (``dhlif_class``)."""

    tau_m: ParamLike = 2.0
    v_th: ParamLike = 1.0
    convention: str = "paper"
    surrogate: Any = "multi_gaussian"

    B: ClassVar[int] = 0
    _coefficient_type: ClassVar[type[DHLIFCoefficients]] = DHLIFCoefficients
    group: ClassVar[str] = "catalogue"
    threshold_state: ClassVar[str] = "mem"
    conventions: ClassVar[tuple[str, ...]] = ("paper",)
    resets: ClassVar[tuple[str, ...]] = ("subtract",)
    detach_options: ClassVar[tuple[bool, ...]] = (False,)
    input_stats: ClassVar[tuple[float, float]] = (1.5, 2.0)

    def coefficients(self, ops: Ops) -> DHLIFCoefficients:
        betas = {f"beta{b}": ops.sigmoid(getattr(self, f"tau_n{b}")) for b in range(1, self.B + 1)}
        alpha = ops.sigmoid(self.tau_m)
        share = sp.Rational(1, self.B) if ops.name == "sympy" else 1.0 / self.B
        return self._coefficient_type(
            **betas,
            **{f"one_minus_{k}": 1 - v for k, v in betas.items()},
            alpha=alpha,
            one_minus_alpha=1 - alpha,
            v_th=self.v_th,
            share=share,
            **self.switches(),
        )

    step = staticmethod(dhlif_step)

    @staticmethod
    def spike_argument(p: DHLIFCoefficients, state: dict, ops: Ops) -> Any:
        return state["mem"] - p.v_th

    @classmethod
    def sample_init(cls, rng: np.random.Generator, n: int) -> NeuronModel:
        """The official SHD initialisation per neuron: tau_n[b] ~ U[2, 6] for every branch,
        tau_m ~ U[0, 4]; v_th = 1."""
        lo, hi = DHLIF_INIT["tau_n"]
        draws = {f"tau_n{i + 1}": rng.uniform(lo, hi, size=n) for i in range(cls.B)}
        return cls(**draws, tau_m=rng.uniform(*DHLIF_INIT["tau_m"], size=n), v_th=np.ones(n))

    @classmethod
    def init_population(cls) -> dict[str, tuple[float, str]]:
        """J is block lower-triangular with eigenvalues sigmoid(tau_n[b]) and sigmoid(tau_m),
        all in (0, 1) for finite parameters: every draw decays."""
        how = "closed form: eigenvalues sigmoid(tau_n[b]), sigmoid(tau_m) in (0, 1)"
        return {"growing": (0.0, how), "decaying": (1.0, how)}

    @classmethod
    def paper_claims(cls) -> list[PaperClaim]:
        def timescales(ctx: Any) -> tuple[str, str]:
            decaying = np.asarray(ctx.stats["class"]) == "decaying"
            share = float(np.mean(decaying))
            P = ctx.draws.params()
            beta = np.stack([np.asarray(P[f"tau_n{b}"], dtype=float) for b in range(1, cls.B + 1)])
            horizons = -1.0 / np.log(1.0 / (1.0 + np.exp(-beta)))  # -1/ln sigmoid(tau_n[b])
            spread = horizons.max(axis=0) / horizons.min(axis=0)
            distinct = bool(np.all(spread > 1.0))
            verdict = "holds" if share == 1.0 and distinct else "fails"
            return verdict, (
                f"{ctx.share(decaying, 'decaying')} decay; in every draw the B = {cls.B} branches "
                f"have distinct time scales {distinct} (branch horizons -1/ln sigmoid(tau_n[b]) "
                f"{horizons.min():.3g}..{horizons.max():.3g} steps, median ratio max/min "
                f"{np.median(spread):.3g}); the learning itself is not tested here"
            )

        return [
            PaperClaim(
                "Zheng et al. 2024, abstract",
                "The model enables multi-timescale dynamics by automatically learning "
                "heterogeneous timing factors on different dendritic branches.",
                "the branch decays at the official initialisation: eigenvalues sigmoid(tau_n[b]) "
                "(derive) give one time scale per branch",
                timescales,
            ),
        ]

    @classmethod
    def claims(cls, d: Any) -> list[Claim]:
        """The catalogue's statements about DH-LIF (docs/catalogue.md), from derivation ``d``."""
        sec = "DH-LIF (c)"
        B = cls.B
        P = d.model.params()
        taus = [P[f"tau_n{i + 1}"] for i in range(B)]
        tau_m, vth = P["tau_m"], P["v_th"]

        def sig(x: Any) -> Any:
            return 1 / (1 + sp.exp(-x))

        betas = [sig(t) for t in taus]
        alpha = sig(tau_m)
        J = sp.zeros(B + 1, B + 1)
        for i, b in enumerate(betas):
            J[i, i] = b
            J[B, i] = (1 - alpha) * R_M_R * b
        J[B, B] = alpha
        lam = d.eigenvalues
        expected = [*betas, alpha]
        matched = len(lam) == B + 1 and all(
            sum(sp.simplify(e - x) == 0 for e in lam) >= expected.count(x) for x in expected
        )
        y = sp.Symbol("y", real=True)
        unit = bool(sig(y).is_positive and sp.simplify(1 - sig(y)).is_positive)
        limits = [sp.limit(b, t, sp.oo) for b, t in zip(betas, taus, strict=True)]
        upper = all(v == 1 for v in limits) and sp.limit(alpha, tau_m, sp.oo) == 1
        mem = d.model.state_names.index("mem")
        psi = sp.Symbol("psi", real=True)
        spike_path = sp.expand(d.J_psi[mem, mem] - d.J_sub[mem, mem])
        share = sp.Rational(1, B)
        b_vec = sp.Matrix(
            [*((1 - b) * share for b in betas), (1 - alpha) * sum((1 - b) * share for b in betas)]
        )
        return [
            Claim(
                sec,
                f"J = [[diag(beta), 0], [(1 - alpha) R_m beta^T, alpha]] (B = {B}, beta_b = "
                "sigmoid(tau_n[b]), alpha = sigmoid(tau_m), R_m = 1)",
                d.J_sub,
                J,
            ),
            Claim(
                sec,
                "J is block lower-triangular: one 1 x 1 diagonal block per state",
                sp.Integer(len(d.blocks)),
                sp.Integer(B + 1),
                "the strongly connected components of J's pattern (derive's blocks)",
                len(d.blocks) == B + 1,
            ),
            Claim(
                sec,
                "eigenvalues beta_1..beta_B and alpha",
                sp.Matrix([lam]),
                sp.Matrix([expected]),
                "each expected value is among the derived eigenvalues (with multiplicity)",
                matched,
            ),
            Claim(
                sec,
                "all eigenvalues in (0, 1): |lambda| < 1 always (a sigmoid of a real logit)",
                sig(y),
                sig(y),
                "0 < sigmoid(y) < 1 for every real y (SymPy decides the signs)",
                unit,
            ),
            Claim(
                sec,
                "|lambda| -> 1 only as tau -> +inf",
                sp.Matrix([limits]),
                sp.ones(1, B),
                "lim_{tau -> +inf} sigmoid(tau) = 1, and sigmoid(tau) < 1 for finite tau",
                upper,
            ),
            Claim(
                sec,
                "spike path: J[mem, mem] gains -v_th psi (the soft reset with the previous spike)",
                spike_path,
                -vth * psi,
            ),
            Claim(
                sec,
                "input vector dx[t]/dI[t] = ((1 - beta_b)/B, ..., (1 - alpha) sum_b "
                "(1 - beta_b)/B) (the equal branch share of I, this toolkit's reading of the "
                "masked input)",
                d.b,
                b_vec,
            ),
        ]


@cache
def dhlif_class(B: int) -> type[_DHLIFBase]:
    """The DH-LIF class with ``B`` branches (cached; B = 4 is the registered ``DHLIF``):
    parameters tau_n1..tau_nB (default 4.0, the centre of U[2, 6]), tau_m (2.0), v_th (1.0);
    states d1..dB, mem; registry name ``dhlif`` for B = 4 and ``dhlif-b{B}`` otherwise (not
    registered: ``neurons.register(dhlif_class(8))``)."""
    if isinstance(B, bool) or not isinstance(B, int | np.integer) or B < 1:
        raise ValueError(f"DH-LIF: the number of branches B must be an integer >= 1, got {B!r}")
    B = int(B)
    taus = tuple(f"tau_n{i + 1}" for i in range(B))
    specs = {
        t: Param(doc=f"logit of branch {i + 1}'s decay beta = sigmoid(tau_n)")
        for i, t in enumerate(taus)
    }
    specs.update(
        tau_m=Param(doc="logit of the membrane decay alpha = sigmoid(tau_m)"),
        v_th=Param(0.0, doc="threshold"),
    )
    centre_n = 0.5 * sum(DHLIF_INIT["tau_n"])
    centre_m = 0.5 * sum(DHLIF_INIT["tau_m"])
    trainable = {t: Trainable(t, Identity()) for t in (*taus, "tau_m")}
    name = "DHLIF" if B == 4 else f"DHLIF{B}"
    namespace = {
        "__doc__": (
            f"DH-LIF with B = {B} branches: tau_n1..tau_n{B} finite (branch decay logits; "
            f"default {centre_n:g}), tau_m finite (membrane decay logit; {centre_m:g}), v_th > 0 "
            "(1). State (d1..dB, mem); soft reset with the previous spike, not detached."
        ),
        "__module__": __name__,
        "B": B,
        "name": "dhlif" if B == 4 else f"dhlif-b{B}",
        "label": "DH-LIF" if B == 4 else f"DH-LIF (B = {B})",
        "color": _VERMILLION,
        "state_names": (*(f"d{i + 1}" for i in range(B)), "mem"),
        "param_names": (*taus, "tau_m", "v_th"),
        "param_specs": specs,
        "verify_params": {
            **{t: float(v) for t, v in zip(taus, np.linspace(0.5, 3.0, B), strict=True)},
            "tau_m": 1.0,
            "v_th": 1.0,
        },
        "trainable": trainable,
        "layer_defaults": {"train": (*taus, "tau_m"), "per_neuron": True},
        "network_defaults": {
            **dict.fromkeys(taus, centre_n),
            "tau_m": centre_m,
            "v_th": 1.0,
            "train": (*taus, "tau_m"),
            "per_neuron": True,
        },
    }
    coef = make_dataclass(
        f"{name}Coefficients",
        [(f"{k}{b}", Any) for k in ("beta", "one_minus_beta") for b in range(1, B + 1)],
        bases=(DHLIFCoefficients,),
        frozen=True,
        kw_only=True,
        namespace={"__module__": __name__},
    )
    namespace["_coefficient_type"] = coef
    cls = make_dataclass(
        name,
        [(t, ParamLike, centre_n) for t in taus],
        bases=(_DHLIFBase,),
        frozen=True,
        eq=False,
        kw_only=True,
        namespace=namespace,
    )
    return cls


DHLIF = register(dhlif_class(4))
