"""The SymPy view: a model's update map obtained by running its step function on symbols.

The spike is ``Spike(x)`` (H with H(0) = 1) whose derivative is the abstract ``Psi(x)``; a
detached reset is ``StopGradient``. Differentiating the map gives the spike-aware Jacobian;
``subthreshold`` sets Psi = 0 and S = 0; ``with_surrogate`` substitutes a surrogate's psi.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import sympy as sp

from .base import SWITCHES, NeuronModel
from .ops import SYMPY_MATH, SYMPY_OPS, Psi, Spike, StopGradient
from .registry import get_model, model_class
from .surrogates import Surrogate

__all__ = [
    "Claim",
    "symbolic_model",
    "state_symbols",
    "update_map",
    "jacobian",
    "subthreshold",
    "with_surrogate",
    "evaluate",
    "Spike",
    "Psi",
    "StopGradient",
]

_REAL = dict(real=True)


@dataclass(frozen=True)
class Claim:
    """A statement about a model that ``lstmlif derive`` proves from its derivation.

    ``derived`` is read off the derivation (J, its determinant, a root...), ``expected`` is what
    the statement says; SymPy decides ``simplify(derived - expected) == 0`` unless ``holds`` is
    given (an argument that is not a plain identity, stated in ``how``). ``section`` names where
    the statement comes from (a theory section, or a catalogue entry such as ``"adLIF (c)"``).
    """

    section: str
    claim: str
    derived: Any
    expected: Any
    how: str = ""
    holds: bool | None = None


def symbolic_model(name: str | NeuronModel | type[NeuronModel], **switches: Any) -> NeuronModel:
    """A model whose parameters are SymPy symbols named as in its ``param_names``.

    ``name`` is a registered name, a model or a class; ``switches`` sets convention, reset,
    detach_reset, surrogate, or fixes some parameters to numbers. A symbol is positive where the
    parameter's range (``param_specs``) is; every other symbol is real. Numeric fields that are
    not parameters (``dt``) keep their defaults as exact SymPy numbers.
    """
    cls = model_class(name)
    params: dict[str, Any] = {}
    for pname in cls.param_names:
        spec = cls.param_specs[pname]
        params[pname] = (
            sp.Symbol(pname, positive=True) if spec.positive else sp.Symbol(pname, **_REAL)
        )
    for f in fields(cls):
        default = f.default
        if f.init and f.name not in params and f.name not in SWITCHES:
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                params[f.name] = sp.nsimplify(default)  # exact numbers, e.g. dt = 1
    params.update(switches)
    return get_model(cls.name, **params)


def state_symbols(model: NeuronModel, suffix: str = "") -> dict[str, sp.Symbol]:
    """Symbols for the previous step's pre-reset potentials, e.g. {"d": d, "s": s}."""
    return {n: sp.Symbol(n + suffix, **_REAL) for n in model.state_names}


def update_map(
    model: NeuronModel, current: sp.Expr | None = None
) -> tuple[dict[str, sp.Symbol], dict[str, sp.Expr], sp.Expr]:
    """The map x[t-1] -> x[t] on symbols: returns (previous-state symbols, new potentials,
    new spike). S[t-1] = Spike(threshold argument of x[t-1]), so psi enters the Jacobian."""
    x = state_symbols(model)
    I = sp.Symbol("I", **_REAL) if current is None else current
    p = model.coefficients(SYMPY_OPS)
    state: dict[str, Any] = dict(x)
    state["S"] = SYMPY_OPS.spike(model.spike_argument(p, state, SYMPY_OPS), p.surrogate)
    new, S = model.step(p, state, I, SYMPY_OPS)
    return x, {n: sp.expand(new[n]) for n in model.state_names}, S


def jacobian(model: NeuronModel) -> sp.Matrix:
    """d x[t] / d x[t-1] (state order ``model.state_names``), spike-aware (contains Psi, Spike)."""
    x, new, _ = update_map(model)
    names = model.state_names
    return sp.Matrix([[sp.diff(new[i], x[j]) for j in names] for i in names])


def subthreshold(expr: Any) -> Any:
    """Set psi = 0 and every spike to 0 (no spike near threshold)."""
    expr = sp.sympify(expr)
    expr = expr.replace(lambda e: isinstance(e, Psi), lambda e: sp.Integer(0))
    expr = expr.replace(lambda e: isinstance(e, Spike), lambda e: sp.Integer(0))
    return expr.replace(lambda e: isinstance(e, StopGradient), lambda e: e.args[0])


def with_surrogate(expr: Any, surrogate: Surrogate) -> Any:
    """Replace the abstract Psi(x) by the surrogate's closed form psi(x)."""
    expr = sp.sympify(expr)
    return expr.replace(
        lambda e: isinstance(e, Psi), lambda e: surrogate.psi(e.args[0], SYMPY_MATH)
    )


def evaluate(expr: Any, values: dict, surrogate: Surrogate | None = None) -> Any:
    """Substitute numbers (``{symbol or name: value}``) and evaluate to floats.

    Psi is replaced by ``surrogate`` (if given) before substitution; detaches become identity.
    """
    expr = sp.sympify(expr)
    if surrogate is not None:
        expr = with_surrogate(expr, surrogate)
    subs = {}
    free = {s.name: s for s in expr.free_symbols}
    for k, v in values.items():
        key = free.get(k) if isinstance(k, str) else k
        if key is not None:
            subs[key] = sp.Float(v, 30) if isinstance(v, float) else v
    out = expr.subs(subs)
    out = out.replace(lambda e: isinstance(e, StopGradient), lambda e: e.args[0])
    return out.evalf() if isinstance(out, sp.Basic) else out
