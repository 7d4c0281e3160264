"""SymPy derivations of the gradient recursions (docs/theory.md sections 1-4).

Everything starts from ``neurons.symbolic``: the same step function the simulations run, executed
on SymPy symbols, with a spike whose derivative is the abstract surrogate ``Psi``. From that
update map this module derives, per model and convention / reset / detach switch:

- the spike-aware one-step Jacobian J_t = d x[t] / d x[t-1] (psi = surrogate derivative at the
  previous step's threshold argument, S = the previous spike) and the sub-threshold J (psi = 0,
  S = 0), their determinants and traces, J's characteristic polynomial, eigenvalues and Jury
  margins;
- for LSTM-LIF, proofs of the Chebyshev closed forms of J^k and of the impulse response
  (induction: the k = 0 case and J^{k+1} = J J^k for symbolic k, after rationalising the
  trigonometric functions), and of everything the theory's section 3 says about the paper's P and f.

Any number of states: for n >= 3 the characteristic polynomial is the product of those of the
diagonal blocks of J in block-triangular form (the strongly connected components of its pattern),
the eigenvalues are found block by block, and the stability margins are given per block (the
Jury margins of a 2 x 2 block, Schur-Cohn reflection coefficients of a larger one).

Each statement of the theory is a ``Check`` (claim, derived expression, expected expression, holds).
``lstmlif derive MODEL`` prints them (text, ``--latex`` or ``--json``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any

import sympy as sp

from lstmlif.neurons import (
    ALIF,
    CONVENTIONS,
    LIF,
    LSTMLIF,
    RESETS,
    TwoCompartment,
    model_class,
    model_names,
)
from lstmlif.neurons.ops import SYMPY_OPS
from lstmlif.neurons.symbolic import (
    Claim,
    Psi,
    Spike,
    StopGradient,
    jacobian,
    symbolic_model,
    update_map,
)

from .paper import E_matrix_entries, paper_matrix_entries

__all__ = [
    "PSI",
    "S_PREV",
    "S_NEW",
    "PSI_NEW",
    "LAM",
    "Check",
    "Derivation",
    "derive",
    "to_display",
    "model_checks",
    "lstmlif_closed_form_proofs",
    "paper_proofs",
    "derive_report",
    "schur_cohn_coefficients",
    "latex_lines",
    "add_arguments",
    "run",
]

PSI = sp.Symbol("psi", real=True)
S_PREV = sp.Symbol("S", real=True)
S_NEW = sp.Symbol("S_new", real=True)
PSI_NEW = sp.Symbol("psi_new", real=True)
LAM = sp.Symbol("lambda")


@dataclass(frozen=True)
class Check:
    """One identity or property the toolkit derives (docs/theory.md, or a model's ``claims``),
    derived and compared; not a paper's claim. ``holds`` is decided by SymPy
    (``simplify(derived - expected) == 0`` or an explicit argument in ``how``)."""

    section: str
    claim: str
    derived: Any
    expected: Any
    holds: bool
    how: str = "simplify(derived - expected) == 0"


@dataclass(frozen=True)
class Derivation:
    """The symbolic objects of one model and switch setting (raw: Psi(...), Spike(...))."""

    model: Any
    state: dict[str, sp.Symbol]
    current: sp.Symbol
    update: dict[str, sp.Expr]
    J: sp.Matrix
    J_sub: sp.Matrix
    b: sp.Matrix
    z_prev: Any = None

    @property
    def J_psi(self) -> sp.Matrix:
        """J_t with Psi(...) -> psi and the previous spike -> S (detaches removed); a spike the
        step takes of its new state (argument other than ``z_prev``, the previous state's
        threshold argument) -> S_new, its slope -> psi_new."""
        return self.J.applyfunc(lambda e: _plain(e, self.z_prev))

    @property
    def det(self) -> sp.Expr:
        return sp.factor(sp.expand(self.J_psi.det()))

    @property
    def det_sub(self) -> sp.Expr:
        return sp.factor(sp.expand(self.J_sub.det()))

    @property
    def trace(self) -> sp.Expr:
        return sp.expand(self.J_psi.trace())

    @property
    def trace_sub(self) -> sp.Expr:
        return sp.expand(self.J_sub.trace())

    @property
    def n(self) -> int:
        """The number of carried states (J is n x n)."""
        return self.J_sub.shape[0]

    @cached_property
    def blocks(self) -> list[tuple[str, ...]]:
        """The diagonal blocks of J_sub in block-triangular form, as tuples of state names.

        The strongly connected components of J_sub's non-zero pattern (i -> j when
        J_sub[i, j] != 0), ordered so that the permuted J_sub is block upper-triangular; hence
        det(lambda I - J_sub) is the product of the blocks' characteristic polynomials. An
        irreducible J is one block."""
        return [tuple(self.model.state_names[i] for i in b) for b in _triangular_blocks(self.J_sub)]

    def block(self, names: tuple[str, ...]) -> sp.Matrix:
        """The square sub-matrix of J_sub on the states ``names`` (e.g. one of ``blocks``)."""
        idx = [self.model.state_names.index(n) for n in names]
        return self.J_sub.extract(idx, idx)

    @cached_property
    def charpoly_factors(self) -> list[sp.Expr]:
        """det(lambda I - B) for each diagonal block B of ``blocks`` (their product is
        ``charpoly``)."""
        return [_charpoly(self.block(b)) for b in self.blocks]

    @property
    def charpoly(self) -> sp.Expr:
        """det(lambda I - J_sub) as a polynomial expression in ``LAM`` (for n >= 3 the expanded
        product of the block factors, ``charpoly_factors``)."""
        if self.n <= 2:
            return _charpoly(self.J_sub)
        return sp.expand(sp.Mul(*self.charpoly_factors))

    @property
    def eigenvalues(self) -> list[sp.Expr]:
        """The eigenvalues of J_sub with multiplicity: the roots of the characteristic polynomial
        (n <= 2), of each block's factor for n >= 3, falling back to the block's
        ``eigenvals()`` where ``roots`` does not find them all (ValueError if neither does)."""
        if self.n <= 2:
            return _poly_roots(self.charpoly)
        out: list[sp.Expr] = []
        for names, factor in zip(self.blocks, self.charpoly_factors, strict=True):
            out += _block_eigenvalues(self.block(names), factor, names)
        return out

    @property
    def jury(self) -> dict[str, sp.Expr]:
        """Stability margins of J_sub: every one > 0 iff every |lambda| < 1.

        n = 1: ``margin`` = 1 - |J|; n = 2: the Jury margins ``det_margin`` = 1 - |det J| and
        ``trace_margin`` = 1 + det J - |tr J|. n >= 3: the same per diagonal block of
        ``blocks`` (keys suffixed by the block's states): 1 - |b| for a 1 x 1 block, the two
        Jury margins for a 2 x 2 block, and for a larger block the Schur-Cohn margins
        1 - |k_m| of the reflection coefficients k_m (m = n..1) of its characteristic
        polynomial (all |k_m| < 1 iff all roots lie strictly inside the unit circle)."""
        if self.J_sub.shape == (1, 1):
            return {"margin": 1 - sp.Abs(self.J_sub[0, 0])}
        if self.n == 2:
            det, tr = self.det_sub, self.trace_sub
            return {
                "det_margin": sp.simplify(1 - sp.Abs(det)),
                "trace_margin": sp.simplify(1 + det - sp.Abs(tr)),
            }
        out: dict[str, sp.Expr] = {}
        for names, factor in zip(self.blocks, self.charpoly_factors, strict=True):
            tag = "[" + ", ".join(names) + "]"
            B = self.block(names)
            if len(names) == 1:
                out[f"margin{tag}"] = sp.simplify(1 - sp.Abs(B[0, 0]))
            elif len(names) == 2:
                det = sp.factor(sp.expand(B.det()))
                tr = sp.expand(B.trace())
                out[f"det_margin{tag}"] = sp.simplify(1 - sp.Abs(det))
                out[f"trace_margin{tag}"] = sp.simplify(1 + det - sp.Abs(tr))
            else:
                for m, k in schur_cohn_coefficients(factor):
                    out[f"schur_cohn_margin_{m}{tag}"] = sp.simplify(1 - sp.Abs(k))
        return out


def _charpoly(M: sp.Matrix) -> sp.Expr:
    """det(lambda I - M), expanded. SymPy's ``charpoly`` can fail to order its factors when the
    entries hold exponentials of symbols (it asks for the truth of a symbolic inequality); the
    Berkowitz determinant of lambda I - M is then used (the same polynomial)."""
    try:
        return sp.expand(M.charpoly(LAM).as_expr())
    except TypeError:
        n = M.shape[0]
        return sp.expand((LAM * sp.eye(n) - M).det(method="berkowitz"))


def _poly_roots(charpoly: sp.Expr) -> list[sp.Expr]:
    roots = sp.roots(sp.Poly(charpoly, LAM))
    out: list[sp.Expr] = []
    for r, mult in roots.items():
        out += [sp.simplify(r)] * mult
    return out


def _block_eigenvalues(B: sp.Matrix, factor: sp.Expr, names: tuple[str, ...]) -> list[sp.Expr]:
    """The eigenvalues of one diagonal block: its entry (1 x 1), the roots of its factor, or
    ``B.eigenvals()`` where ``roots`` is incomplete."""
    if B.shape == (1, 1):
        return [sp.simplify(B[0, 0])]
    out = _poly_roots(factor)
    if len(out) == B.shape[0]:
        return out
    try:
        found = B.eigenvals()
    except (sp.MatrixError, NotImplementedError) as err:
        raise ValueError(
            f"derive: the eigenvalues of the block ({', '.join(names)}) of J have no closed "
            f"form SymPy can find ({err})"
        ) from None
    out = []
    for r, mult in found.items():
        out += [sp.simplify(r)] * mult
    if len(out) != B.shape[0]:
        raise ValueError(
            f"derive: found {len(out)} of the {B.shape[0]} eigenvalues of the block "
            f"({', '.join(names)}) of J"
        )
    return out


def _triangular_blocks(J: sp.Matrix) -> list[tuple[int, ...]]:
    """Index sets of the strongly connected components of J's non-zero pattern, in an order
    that makes the permuted J block upper-triangular (a component only reaches later ones)."""
    n = J.shape[0]
    reach = [[i == j or not _zero(J[i, j]) for j in range(n)] for i in range(n)]
    for k in range(n):  # transitive closure (Warshall)
        for i in range(n):
            if reach[i][k]:
                for j in range(n):
                    reach[i][j] = reach[i][j] or reach[k][j]
    blocks: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for i in range(n):
        if i not in seen:
            comp = tuple(j for j in range(n) if reach[i][j] and reach[j][i])
            seen.update(comp)
            blocks.append(comp)
    # a block that reaches more blocks comes first (upper-triangular: entries (i, j), i before j)
    heads = [b[0] for b in blocks]
    return sorted(blocks, key=lambda b: (-sum(reach[b[0]][h] for h in heads), b[0]))


def schur_cohn_coefficients(charpoly: sp.Expr) -> list[tuple[int, sp.Expr]]:
    """The reflection coefficients (m, k_m), m = n..1, of the monic polynomial ``charpoly`` in
    ``LAM`` (Schur-Cohn step-down): with a_i the coefficients of lambda^(n-i), k_m = a_m and
    a_i <- (a_i - k_m a_(m-i)) / (1 - k_m^2). Every root lies strictly inside the unit circle
    iff |k_m| < 1 for every m (for n = 2: k_2 = det J, k_1 = -tr J / (1 + det J))."""
    poly = sp.Poly(charpoly, LAM)
    lead = poly.LC()
    a = [sp.cancel(c / lead) for c in poly.all_coeffs()]
    out: list[tuple[int, sp.Expr]] = []
    for m in range(len(a) - 1, 0, -1):
        k = sp.simplify(a[m])
        out.append((m, k))
        a = [sp.Integer(1)] + [sp.cancel((a[i] - k * a[m - i]) / (1 - k**2)) for i in range(1, m)]
    return out


def _plain(expr: Any, prev: Any = None) -> Any:
    """Detaches removed, Psi -> psi and Spike -> S; with ``prev`` (the previous state's threshold
    argument) a Spike or Psi of any other argument (the new spike of a step that reads it)
    becomes S_new or psi_new instead."""
    expr = sp.sympify(expr)
    if prev is not None:

        def new(e: Any) -> bool:
            return isinstance(e, Psi | Spike) and sp.expand(e.args[0] - prev) != 0

        expr = expr.replace(lambda e: new(e) and isinstance(e, Psi), lambda e: PSI_NEW).replace(
            lambda e: new(e) and isinstance(e, Spike), lambda e: S_NEW
        )
    expr = expr.replace(lambda e: isinstance(e, StopGradient), lambda e: e.args[0])
    expr = expr.replace(lambda e: isinstance(e, Psi), lambda e: PSI)
    expr = expr.replace(lambda e: isinstance(e, Spike), lambda e: S_PREV)
    return sp.expand(expr)


def _sub(expr: Any, prev: Any = None) -> Any:
    """Sub-threshold: psi = 0, S = 0, and so for the new spike (after ``_plain``)."""
    return sp.expand(_plain(expr, prev).subs({PSI: 0, S_PREV: 0, PSI_NEW: 0, S_NEW: 0}))


def _reads_new_spike(d: Derivation) -> bool:
    """Whether the update reads the spike of its own new state (S_new appears)."""
    return any(S_NEW in _plain(e, d.z_prev).free_symbols for e in d.update.values())


def _key(model_name: str) -> str:
    return model_class(model_name).name


@lru_cache(maxsize=64)
def _derive_cached(key: str, convention: str, reset: str, detach_reset: bool) -> Derivation:
    model = symbolic_model(key, convention=convention, reset=reset, detach_reset=detach_reset)
    x, new, _ = update_map(model)
    J = jacobian(model)
    names = model.state_names
    current = sp.Symbol("I", real=True)
    z_prev = sp.expand(model.spike_argument(model.coefficients(SYMPY_OPS), dict(x), SYMPY_OPS))
    J_sub = J.applyfunc(lambda e: _sub(e, z_prev))
    b = sp.Matrix([_sub(sp.diff(new[n], current), z_prev) for n in names])
    return Derivation(model, x, current, new, J, J_sub, b, z_prev)


def default_switches(model_name: str) -> dict[str, Any]:
    """The convention, reset and detach_reset a registered model is built with by default."""
    defaults = {f.name: f.default for f in fields(model_class(model_name))}
    return {k: defaults[k] for k in ("convention", "reset", "detach_reset")}


def derive(
    model_name: str,
    convention: str | None = None,
    reset: str | None = None,
    detach_reset: bool | None = None,
) -> Derivation:
    """Run the model's step function on symbols and differentiate (cached per switch set).

    ``model_name``: any registered name (``lstmlif.neurons.model_names()``); ``convention``,
    ``reset`` and ``detach_reset`` default to the model's own (``"paper"``, ``"subtract"``,
    False for the paper's models)."""
    defaults = default_switches(model_name)
    convention = defaults["convention"] if convention is None else convention
    reset = defaults["reset"] if reset is None else reset
    detach_reset = defaults["detach_reset"] if detach_reset is None else detach_reset
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {list(CONVENTIONS)}")
    resets = model_class(model_name).resets
    if reset not in resets:
        raise ValueError(f"unknown reset {reset!r}; choose one of {list(resets)}")
    if not isinstance(detach_reset, bool):
        raise ValueError(f"detach_reset must be True or False, got {detach_reset!r}")
    return _derive_cached(_key(model_name), convention, reset, detach_reset)


def _display_subs(d: Derivation) -> dict[sp.Expr, sp.Symbol]:
    """exp(-dt/tau) -> alpha, rho for ALIF (readability only)."""
    if isinstance(d.model, ALIF):
        p = d.model.coefficients(SYMPY_OPS)
        return {p.alpha: sp.Symbol("alpha", positive=True), p.rho: sp.Symbol("rho", positive=True)}
    return {}


def to_display(expr: Any, d: Derivation) -> Any:
    """``expr`` with Psi -> psi, Spike -> S, detaches removed and ALIF's exp(-1/tau) named."""
    if isinstance(expr, sp.MatrixBase):
        out = expr.applyfunc(lambda e: _plain(e, d.z_prev))
    else:
        out = _plain(expr, d.z_prev)
    subs = _display_subs(d)
    return out.subs(subs) if subs else out


# ----------------------------------------------------------------------------- checks


def _zero(expr: Any) -> bool:
    if isinstance(expr, sp.MatrixBase):
        return all(_zero(e) for e in expr)
    return sp.simplify(sp.expand(expr)) == 0


def _eq(section: str, claim: str, derived: Any, expected: Any, how: str | None = None) -> Check:
    diff = derived - expected
    kw = {} if how is None else {"how": how}
    return Check(section, claim, derived, expected, _zero(diff), **kw)


def _symbols(d: Derivation) -> dict[str, sp.Expr]:
    """The model's coefficients as SymPy objects (fixed numbers, e.g. LSTM-LIF's alpha = 1,
    become exact rationals)."""
    p = d.model.coefficients(SYMPY_OPS).as_dict()
    out: dict[str, sp.Expr] = {}
    for k, v in p.items():
        if isinstance(v, sp.Basic):
            out[k] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = sp.nsimplify(v)
    return out


def model_checks(
    model_name: str,
    convention: str | None = None,
    reset: str | None = None,
    detach_reset: bool | None = None,
) -> list[Check]:
    """The theory's section 1, 2 and 4 statements that apply to this model and switch setting."""
    d = derive(model_name, convention, reset, detach_reset)
    m = d.model
    convention, reset, detach_reset = m.convention, m.reset, bool(m.detach_reset)
    s = _symbols(d)
    checks: list[Check] = []
    spike_claims = reset == "subtract" and not detach_reset
    if isinstance(m, LIF):
        a, vth = s["alpha"], s["v_th"]
        checks.append(_eq("1", "J = alpha", d.J_sub[0, 0], a))
        if spike_claims:
            expected = a - vth * PSI if convention == "paper" else a * (1 - vth * PSI)
            text = "alpha - v_th psi" if convention == "paper" else "alpha (1 - v_th psi)"
            checks.append(_eq("4", f"dU[t]/dU[t-1] = {text}", d.J_psi[0, 0], expected))
        if detach_reset and reset == "subtract":
            checks.append(_eq("4", "detached reset: J_t = alpha (no psi)", d.J_psi[0, 0], a))
        if detach_reset and reset == "zero":
            claim = "detached hard reset: membrane path alpha (1 - S)"
            checks.append(_eq("4", claim, d.J_psi[0, 0], a * (1 - S_PREV)))
    elif isinstance(m, ALIF):
        p = m.coefficients(SYMPY_OPS)
        checks.append(_eq("1", "J = diag(alpha, rho)", d.J_sub, sp.diag(p.alpha, p.rho)))
        off = sp.Matrix([d.J_psi[0, 1], d.J_psi[1, 0]]).subs({PSI: 0, S_PREV: 0})
        checks.append(
            _eq(
                "1",
                "u and a are coupled only through a spike (S or psi terms)",
                off,
                sp.zeros(2, 1),
            )
        )
    elif isinstance(m, TwoCompartment):
        a1, a2, b1, b2 = s["alpha1"], s["alpha2"], s["beta1"], s["beta2"]
        g, vth = s["gamma"], s["v_th"]
        lstm = isinstance(m, LSTMLIF)
        J_claim = (
            sp.Matrix([[a1, b1], [a1 * b2, a2 + b1 * b2]])
            if not lstm
            else sp.Matrix([[1, b1], [b2, 1 + b1 * b2]])
        )
        if lstm:
            labels = ("J = [[1, b1], [b2, 1 + b1 b2]]", "det J = 1 exactly", "tr J = 2 + b1 b2")
        else:
            labels = (
                "J = [[a1, b1], [a1 b2, a2 + b1 b2]]",
                "det J = alpha1 alpha2",
                "tr J = alpha1 + alpha2 + beta1 beta2",
            )
        checks.append(_eq("1", labels[0], d.J_sub, J_claim))
        checks.append(_eq("1", labels[1], d.det_sub, a1 * a2))
        checks.append(_eq("1", labels[2], d.trace_sub, a1 + a2 + b1 * b2))
        checks += _spectrum_checks(d, lstm)
        if spike_claims:
            if convention == "paper":
                Jt = sp.Matrix(
                    [[a1, b1 - g * PSI], [a1 * b2, a2 + b2 * (b1 - g * PSI) - vth * PSI]]
                )
                checks.append(_eq("4", "spike-aware J_t (paper)", d.J_psi, Jt))
                checks.append(
                    _eq("4", "det J_t = alpha1 (alpha2 - v_th psi)", d.det, a1 * (a2 - vth * PSI))
                )
            else:
                checks.append(
                    _eq(
                        "4",
                        "det J_t = alpha1 alpha2 (1 - v_th psi)",
                        d.det,
                        a1 * a2 * (1 - vth * PSI),
                    )
                )
            if lstm:
                checks.append(_eq("4", "LSTM-LIF: det J_t = 1 - v_th psi", d.det, 1 - vth * PSI))
        if detach_reset and reset == "subtract":
            checks.append(_eq("4", "detached reset: J_t = sub-threshold J", d.J_psi, d.J_sub))
        if reset == "soma":
            checks += _soma_reset_checks(model_name, d, detach_reset)
    return checks


def _soma_reset_checks(model_name: str, d: Derivation, detach_reset: bool) -> list[Check]:
    """The official TC-LIF hard reset (reset="soma"): gamma unused, equal to reset="zero" at
    gamma = 0, and det J_t = alpha1 alpha2 (1 - S - s psi) (1 - S when detached)."""
    s = _symbols(d)
    m = d.model
    gamma_free = all(s["gamma"] not in e.free_symbols for e in d.update.values())
    zero = derive(model_name, m.convention, "zero", detach_reset)
    names = m.state_names
    soma_map = sp.Matrix([d.update[n] for n in names])
    zero_map = sp.Matrix([zero.update[n] for n in names]).subs(s["gamma"], 0)
    keep = 1 - S_PREV - (0 if detach_reset else d.state["s"] * PSI)
    return [
        Check(
            "4",
            "soma reset (official TC-LIF hard reset): gamma does not enter the update",
            soma_map,
            soma_map,
            gamma_free,
            "gamma is not a free symbol of the update map",
        ),
        _eq("4", "soma reset = zero reset at gamma = 0", soma_map, zero_map),
        _eq(
            "4",
            "soma reset: det J_t = alpha1 alpha2 (1 - S - s psi)"
            if not detach_reset
            else "soma reset, detached: det J_t = alpha1 alpha2 (1 - S)",
            d.det,
            s["alpha1"] * s["alpha2"] * keep,
        ),
    ]


def _from_claim(c: Claim) -> Check:
    """A model's own ``Claim`` (``NeuronModel.claims``) as a decided ``Check``."""
    if c.holds is not None:
        return Check(c.section, c.claim, c.derived, c.expected, bool(c.holds), c.how)
    check = _eq(c.section, c.claim, c.derived, c.expected)
    return check if not c.how else Check(**{**check.__dict__, "how": c.how})


def _spectrum_checks(d: Derivation, lstm: bool) -> list[Check]:
    """Section 2: characteristic polynomial, where the eigenvalues lie, |lambda| for a pair."""
    s = _symbols(d)
    a1, a2, b1, b2 = s["alpha1"], s["alpha2"], s["beta1"], s["beta2"]
    out: list[Check] = []
    tr = d.trace_sub
    # The derived roots are conjugate when complex, so |lambda|^2 = lambda1 lambda2 (Vieta).
    lam1, lam2 = d.eigenvalues
    out.append(
        _eq(
            "2",
            "complex pair: |lambda| = sqrt(alpha1 alpha2)",
            sp.expand(lam1 * lam2),
            a1 * a2,
            "product of the two derived roots (= |lambda|^2 for a conjugate pair) - alpha1 alpha2",
        )
    )
    if not lstm:
        return out
    p = d.charpoly
    out.append(
        _eq(
            "2", "char. poly lambda^2 - (2 + b1 b2) lambda + 1", p, LAM**2 - (2 + b1 * b2) * LAM + 1
        )
    )
    disc = sp.factor(sp.discriminant(p, LAM))
    out.append(
        _eq(
            "2",
            "discriminant b1 b2 (b1 b2 + 4) < 0 iff -4 < b1 b2 < 0 (complex pair)",
            disc,
            b1 * b2 * (b1 * b2 + 4),
        )
    )
    out.append(
        _eq("2", "complex pair: cos theta = Re lambda = 1 + b1 b2 / 2", tr / 2, 1 + b1 * b2 / 2)
    )
    out.append(
        _eq(
            "2",
            "b1 b2 > 0: p(1) = -b1 b2 < 0, so 1 lies between the real roots (growth)",
            p.subs(LAM, 1),
            -b1 * b2,
        )
    )
    out.append(
        _eq(
            "2",
            "b1 b2 < -4: p(-1) = 4 + b1 b2 < 0, so a root lies below -1",
            p.subs(LAM, -1),
            4 + b1 * b2,
        )
    )
    return out


# ----------------------------------------------------------------------------- LSTM-LIF proofs

_PHI = sp.Symbol("phi", positive=True)  # theta / 2, 0 < phi < pi/2
_X = sp.Symbol("x", real=True)  # k * theta
_T = sp.Symbol("t", positive=True)  # tan(phi / 2)


def _rationalise(expr: Any) -> Any:
    """Expand trig of sums, then sin(phi), cos(phi) -> Weierstrass in t: a rational identity."""
    expr = sp.expand_trig(sp.sympify(expr))
    expr = expr.subs({sp.sin(_PHI): 2 * _T / (1 + _T**2), sp.cos(_PHI): (1 - _T**2) / (1 + _T**2)})
    return sp.cancel(sp.together(expr))


def _closed_form(b1: sp.Symbol, b2: Any, x: Any) -> sp.Matrix:
    """The docs/theory.md section 2 closed form with k theta = x, theta = 2 phi."""
    return sp.Matrix(
        [
            [sp.cos(x - _PHI) / sp.cos(_PHI), b1 * sp.sin(x) / sp.sin(2 * _PHI)],
            [b2 * sp.sin(x) / sp.sin(2 * _PHI), sp.cos(x + _PHI) / sp.cos(_PHI)],
        ]
    )


@lru_cache(maxsize=1)
def lstmlif_closed_form_proofs() -> tuple[Check, ...]:
    """Induction proofs of the closed forms of J^k and of d s[t+k] / d I[t] for LSTM-LIF.

    J and b = d x[t] / d I[t] come from the step function. With theta = 2 phi in (0, pi) and
    beta2 = -4 sin^2(phi) / beta1 (i.e. cos theta = 1 + beta1 beta2 / 2), C(x) is the claimed
    J^k at x = k theta; C(0) = I and C(x + theta) = J C(x) for symbolic x prove C = J^k for every
    k >= 0. sin, cos of phi are rationalised (Weierstrass t = tan(phi/2)) so that the identities
    are decided by polynomial cancellation; cos(phi), sin(2 phi) != 0 on the range.
    """
    d = derive("lstmlif")
    s = _symbols(d)
    b1, b2 = s["beta1"], s["beta2"]
    b2_phi = -4 * sp.sin(_PHI) ** 2 / b1
    J = d.J_sub.subs(b2, b2_phi)
    C = _closed_form(b1, b2_phi, _X)
    checks = [
        Check(
            "2",
            "theta: cos(theta) = 1 + beta1 beta2 / 2 with beta1 beta2 = -4 sin^2(theta/2)",
            sp.cos(2 * _PHI),
            1 + b1 * b2_phi / 2,
            _zero(_rationalise(sp.cos(2 * _PHI) - (1 + b1 * b2_phi / 2))),
            "rationalised difference cancels",
        ),
        Check(
            "2",
            "closed form at k = 0 is the identity",
            C.subs(_X, 0),
            sp.eye(2),
            _zero(C.subs(_X, 0).applyfunc(_rationalise) - sp.eye(2)),
            "rationalised difference cancels",
        ),
        Check(
            "2",
            "closed form at k = 1 is J (from the step function)",
            C.subs(_X, 2 * _PHI),
            J,
            _zero((C.subs(_X, 2 * _PHI) - J).applyfunc(_rationalise)),
            "rationalised difference cancels",
        ),
    ]
    step = (C.subs(_X, _X + 2 * _PHI) - J * C).applyfunc(_rationalise)
    checks.append(
        Check(
            "2",
            "recurrence J^{k+1} = J J^k holds for symbolic k (induction)",
            C.subs(_X, _X + 2 * _PHI),
            J * C,
            _zero(step),
            "rationalised difference cancels",
        )
    )
    # Chebyshev / Cayley-Hamilton form: J^k = (sin(k th) J - sin((k-1) th) I) / sin(th).
    cheb = (sp.sin(_X) * J - sp.sin(_X - 2 * _PHI) * sp.eye(2)) / sp.sin(2 * _PHI)
    checks.append(
        Check(
            "2",
            "Cayley-Hamilton: J^k = U_{k-1}(cos th) J - U_{k-2}(cos th) I",
            C,
            cheb,
            _zero((C - cheb).applyfunc(_rationalise)),
            "rationalised difference cancels",
        )
    )
    b = d.b.subs(b2, b2_phi)
    impulse = (C * b)[1]
    claim = b2_phi * sp.sin(_X + 2 * _PHI) / sp.sin(2 * _PHI)
    checks.append(
        Check(
            "2",
            "impulse response d s[t+k]/d I[t] = beta2 sin((k+1) theta) / sin(theta)",
            impulse,
            claim,
            _zero(_rationalise(impulse - claim)),
            "(J^k b)[s] with b = dx[t]/dI[t] from the step; rationalised difference cancels",
        )
    )
    checks.append(
        Check(
            "2",
            "input vector b = d(d, s)[t] / d I[t] = (1, beta2)",
            d.b,
            sp.Matrix([1, b2]),
            _zero(d.b - sp.Matrix([1, b2])),
        )
    )
    return tuple(checks)


@lru_cache(maxsize=1)
def paper_proofs() -> tuple[Check, ...]:
    """docs/theory.md section 3 from the step function: P = d(d[j], s[j]) / d(d[j-1], s[j-2]) = J E,
    P != J, det P = 1, tr P = 2 + 2 b1 b2, f = P's first signed column sum, inf f = 1 on the
    open second quadrant (|beta| < 1), not attained."""
    d = derive("lstmlif")
    s = _symbols(d)
    b1, b2 = s["beta1"], s["beta2"]
    model = d.model
    names = model.state_names
    # Two sub-threshold steps j-2 -> j-1 -> j, then the change of variables d[j-2] -> d[j-1].
    d2, s2, d1, I1, I0 = sp.symbols("d_jm2 s_jm2 d_jm1 I_jm1 I_j", real=True)
    first = {n: _sub(e) for n, e in d.update.items()}
    step1 = {n: first[n].subs({d.state["d"]: d2, d.state["s"]: s2, d.current: I1}) for n in names}
    step2 = {
        n: first[n].subs(
            {d.state["d"]: step1["d"], d.state["s"]: step1["s"], d.current: I0}, simultaneous=True
        )
        for n in names
    }
    d2_of = sp.solve(sp.Eq(step1["d"], d1), d2)[0]
    out = [sp.expand(step2[n].subs(d2, d2_of)) for n in names]
    P_step = sp.Matrix([[sp.diff(o, v) for v in (d1, s2)] for o in out])
    s1 = sp.expand(step1["s"].subs(d2, d2_of))
    E_step = sp.Matrix([[1, 0], [sp.diff(s1, d1), sp.diff(s1, s2)]])
    P = sp.Matrix(paper_matrix_entries(b1, b2))
    E = sp.Matrix(E_matrix_entries(b2))
    J = d.J_sub
    f = b1 * b2**2 + b1 * b2 + 2 * b2 + 1
    g = sp.expand(sp.factor(f - 1) / b2)
    checks = [
        _eq(
            "3", "eq. 14 P = d(d[j], s[j]) / d(d[j-1], s[j-2]) (two steps of the model)", P_step, P
        ),
        _eq("3", "E = d(d[j-1], s[j-1]) / d(d[j-1], s[j-2]) = [[1, 0], [beta2, 1]]", E_step, E),
        _eq("3", "P = J E", P, J * E),
        Check(
            "3",
            "P is not the one-step Jacobian: P - J != 0",
            P - J,
            sp.zeros(2, 2),
            not _zero(P - J),
            "P - J = [[b1 b2, 0], [b2 + b1 b2^2, 0]] is not identically 0",
        ),
        _eq("3", "det P = 1", sp.factor(P.det()), 1),
        _eq("3", "tr P = 2 + 2 beta1 beta2", sp.expand(P.trace()), 2 + 2 * b1 * b2),
        _eq(
            "3",
            "tr J = 2 + beta1 beta2 (so P and J have different spectra)",
            sp.expand(J.trace()),
            2 + b1 * b2,
        ),
        _eq("3", "f (eq. 15) = signed sum of P's first column", P[0, 0] + P[1, 0], f),
        _eq(
            "3", "f - 1 = beta2 (beta1 (1 + beta2) + 2)", sp.factor(f - 1), b2 * (b1 * (1 + b2) + 2)
        ),
    ]
    # On -1 < b1 < 0 < b2 < 1: g = b1 (1 + b2) + 2 increases in b1 (dg/db1 = 1 + b2 > 0), so
    # g > g(b1 = -1) = 1 - b2 > 0; hence f - 1 = b2 g > 0. As b2 -> 0+, f -> 1 for every b1.
    dg = sp.diff(g, b1)
    g_edge = sp.expand(g.subs(b1, -1))
    lim = sp.limit(f, b2, 0, "+")
    holds = sp.expand(dg - (1 + b2)) == 0 and sp.expand(g_edge - (1 - b2)) == 0 and lim == 1
    checks.append(
        Check(
            "3",
            "f > 1 on the open second quadrant with |beta| < 1, inf f = 1 (b2 -> 0+), not attained",
            lim,
            sp.Integer(1),
            bool(holds),
            "dg/db1 = 1 + b2 > 0, g(b1 = -1) = 1 - b2 > 0, lim_{b2->0+} f = 1",
        )
    )
    f_far = f.subs({b1: -3, b2: 1})
    checks.append(
        Check(
            "3",
            "without |beta| < 1 the bound fails: f(-3, 1) < 1 in the second quadrant",
            f_far,
            sp.Integer(-3),
            f_far < 1 and f_far == -3,
            "direct evaluation",
        )
    )
    return tuple(checks)


# ----------------------------------------------------------------------------- report


def _fmt(expr: Any, latex: bool) -> Any:
    if isinstance(expr, sp.MatrixBase):
        if latex:
            return sp.latex(expr)
        return [[_fmt(e, False) for e in row] for row in expr.tolist()]
    if isinstance(expr, (list, tuple)):
        return [_fmt(e, latex) for e in expr]
    return sp.latex(expr) if latex else sp.sstr(expr)


def _check_dict(c: Check, d: Derivation, latex: bool) -> dict[str, Any]:
    return {
        "section": c.section,
        "claim": c.claim,
        "derived": _fmt(to_display(c.derived, d), latex),
        "expected": _fmt(to_display(c.expected, d), latex),
        "holds": bool(c.holds),
        "how": c.how,
    }


def derive_report(model_name: str, *, latex: bool = False, **switches: Any) -> dict[str, Any]:
    """The derivation as plain data: update map, J_t, sub-threshold J, det, trace, char. poly,
    eigenvalues, Jury margins and every applicable theory check (strings; LaTeX if ``latex``).

    ``switches``: convention ("paper"/"code"), reset (one of the model's ``resets``),
    detach_reset (bool). For n >= 3 states the report adds ``blocks`` (the diagonal blocks of the
    block-triangular J) and ``charpoly_factors`` (their characteristic polynomials).
    """
    unknown = set(switches) - {"convention", "reset", "detach_reset"}
    if unknown:
        raise ValueError(
            f"unknown switch(es) {sorted(unknown)}; use convention, reset, detach_reset"
        )
    d = derive(model_name, **switches)
    m = d.model
    rep: dict[str, Any] = {
        "model": type(m).__name__,
        "convention": m.convention,
        "reset": m.reset,
        "detach_reset": bool(m.detach_reset),
        "state": list(m.state_names),
        "notation": "psi = surrogate derivative at the previous step's threshold argument; "
        "S = the previous spike S[t-1]; x[t] = pre-reset potentials"
        + (
            "; S_new, psi_new = the spike S[t] the step reads and its surrogate slope"
            if _reads_new_spike(d)
            else ""
        ),
        "update_map": {n: _fmt(to_display(e, d), latex) for n, e in d.update.items()},
        "jacobian": _fmt(to_display(d.J, d), latex),
        "det": _fmt(to_display(d.det, d), latex),
        "trace": _fmt(to_display(d.trace, d), latex),
        "jacobian_subthreshold": _fmt(to_display(d.J_sub, d), latex),
        "det_subthreshold": _fmt(to_display(d.det_sub, d), latex),
        "trace_subthreshold": _fmt(to_display(d.trace_sub, d), latex),
        "charpoly": _fmt(to_display(d.charpoly, d), latex),
        "eigenvalues": _fmt([to_display(e, d) for e in d.eigenvalues], latex),
        "jury": {k: _fmt(to_display(v, d), latex) for k, v in d.jury.items()},
    }
    if d.n >= 3:
        rep["blocks"] = [list(b) for b in d.blocks]
        rep["charpoly_factors"] = _fmt([to_display(f, d) for f in d.charpoly_factors], latex)
    checks = list(model_checks(model_name, **switches))
    checks += [_from_claim(c) for c in type(m).claims(d)]
    if isinstance(m, LSTMLIF):
        checks += lstmlif_closed_form_proofs()
        checks += paper_proofs()
    rep["checks"] = [_check_dict(c, d, latex) for c in checks]
    return rep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif derive MODEL [--convention] [--reset] [--detach-reset] [--latex]``."""
    parser.add_argument("model", help="a registered model: " + ", ".join(model_names()))
    parser.add_argument(
        "--convention", choices=CONVENTIONS, default=None, help="default: the model's own"
    )
    resets = dict.fromkeys(RESETS)
    for name in model_names():
        resets.update(dict.fromkeys(model_class(name).resets))
    parser.add_argument(
        "--reset", choices=tuple(resets), default=None, help="default: the model's own"
    )
    parser.add_argument(
        "--detach-reset",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="no gradient through the reset (--no-detach-reset: through it); default: the "
        "model's own",
    )
    parser.add_argument("--latex", action="store_true", help="expressions in LaTeX")


def _matrix_text(rows: Any) -> list[str]:
    if isinstance(rows, str):
        return ["  " + rows]
    return ["  [" + ",  ".join(r) + "]" for r in rows]


def latex_lines(rep: dict[str, Any]) -> list[str]:
    """A LaTeX fragment (an ``align*`` block and an itemised list of the checks) from a
    ``derive_report(..., latex=True)`` dictionary."""
    state = ", ".join(rep["state"])
    lines = [
        f"% {rep['model']}: convention={rep['convention']}, reset={rep['reset']}, "
        f"detach_reset={rep['detach_reset']}; state ({state})",
        f"% {rep['notation']}",
        "\\begin{align*}",
    ]
    lines += [f"  {n}[t] &= {e} \\\\" for n, e in rep["update_map"].items()]
    lines += [
        f"  J_t = \\frac{{\\partial ({state})[t]}}{{\\partial ({state})[t-1]}} "
        f"&= {rep['jacobian']} \\\\",
        f"  \\det J_t &= {rep['det']}, \\quad \\operatorname{{tr}} J_t = {rep['trace']} \\\\",
        f"  J\\big|_{{\\psi = 0,\\, S = 0}} &= {rep['jacobian_subthreshold']} \\\\",
        f"  \\det J &= {rep['det_subthreshold']}, \\quad "
        f"\\operatorname{{tr}} J = {rep['trace_subthreshold']} \\\\",
        f"  \\det(\\lambda I - J) &= {rep['charpoly']} \\\\",
        "  \\lambda &\\in \\left\\{" + ",\\; ".join(rep["eigenvalues"]) + "\\right\\}",
        "\\end{align*}",
        "\\begin{itemize}",
    ]
    for c in rep["checks"]:
        mark = "holds" if c["holds"] else "\\textbf{fails}"
        claim = c["claim"].replace("_", "\\_").replace("^", "\\^{}")
        lines.append(f"  \\item[{mark}] (\\S{c['section']}) {claim}")
    lines.append("\\end{itemize}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the derivation (plain text, LaTeX with ``--latex``, JSON with ``--json``)."""
    rep = derive_report(
        args.model,
        latex=args.latex,
        convention=args.convention,
        reset=args.reset,
        detach_reset=args.detach_reset,
    )
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    if args.latex:
        print("\n".join(latex_lines(rep)))
        return 0
    lines = [
        f"{rep['model']}: convention={rep['convention']}, reset={rep['reset']}, "
        f"detach_reset={rep['detach_reset']}; state ({', '.join(rep['state'])})",
        rep["notation"],
        "",
        "update map x[t-1] -> x[t]:",
    ]
    lines += [f"  {n}[t] = {e}" for n, e in rep["update_map"].items()]
    lines.append("spike-aware Jacobian J_t = dx[t]/dx[t-1]:")
    lines += _matrix_text(rep["jacobian"])
    lines.append(f"  det = {rep['det']}")
    lines.append(f"  tr  = {rep['trace']}")
    lines.append("sub-threshold Jacobian J (psi = 0, S = 0):")
    lines += _matrix_text(rep["jacobian_subthreshold"])
    lines.append(f"  det = {rep['det_subthreshold']}")
    lines.append(f"  tr  = {rep['trace_subthreshold']}")
    lines.append(f"  characteristic polynomial: {rep['charpoly']}")
    if "blocks" in rep:
        lines.append(
            "  block-triangular J, blocks "
            + ";  ".join("(" + ", ".join(b) + ")" for b in rep["blocks"])
            + ": factors "
            + ";  ".join(f"({f})" for f in rep["charpoly_factors"])
        )
    lines.append("  eigenvalues: " + ";  ".join(rep["eigenvalues"]))
    lines.append(
        "  Jury margins (all > 0 <=> |lambda| < 1): "
        + ";  ".join(f"{k} = {v}" for k, v in rep["jury"].items())
    )
    lines.append("")
    lines.append(
        "Identities and properties the toolkit derives from the step function and proves with "
        "SymPy (its own statements, not a paper's claims: `lstmlif compare` judges those):"
    )
    for c in rep["checks"]:
        mark = "holds" if c["holds"] else "FAILS"
        lines.append(f"  [{mark}] section {c['section']}: {c['claim']}")
    n_bad = sum(not c["holds"] for c in rep["checks"])
    lines.append(
        f"\n{len(rep['checks'])} identities and properties derived here, {n_bad} not confirmed"
    )
    print("\n".join(lines))
    return 0
