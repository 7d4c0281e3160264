"""The paper's printed formulas and numbers, recomputed side by side (THEORY.md section 3).

The paper (LSTM-LIF, arXiv 2307.07231) writes the per-step matrix of its eq. 14,
P = [[1 + b1 b2, b1], [2 b2 + b1 b2^2, 1 + b1 b2]], and bounds gradients with its eq. 15,
f(b1, b2) = b1 b2^2 + b1 b2 + 2 b2 + 1 (a *signed* column sum of P). Its supplementary Table 7
is f at 16 initial (b1, b2). These are the paper's formulas, written here once (they are the
object of study, not the model); the model's own Jacobian comes from ``analysis.stability`` /
``analysis.symbolic``. ``lstmlif paper`` prints every printed number next to its recomputation.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from lstmlif.neurons.models import LIF, LSTMLIF

from .stability import classify, eigenvalues, log10_power_norms, period, subthreshold_jacobian

__all__ = [
    "TABLE7",
    "TABLE7_BETA1",
    "TABLE7_BETA2",
    "PAPER_SETTINGS",
    "PERIODS",
    "QUADRANT_VERDICTS",
    "paper_matrix_entries",
    "paper_matrix",
    "paper_f",
    "paper_column_sums",
    "E_matrix",
    "E_matrix_entries",
    "f_range_unit_square",
    "quadrant_table",
    "paper_table",
    "add_arguments",
    "run",
]

#: Table 7 of the supplement: f at the initial (beta1, beta2), rows beta1, columns beta2.
TABLE7_BETA1 = (-0.2, -0.4, -0.6, -0.8)
TABLE7_BETA2 = (0.2, 0.4, 0.6, 0.8)
_TABLE7_ROWS = (
    (1.352, 1.688, 2.008, 2.312),
    (1.304, 1.576, 1.816, 2.024),
    (1.256, 1.464, 1.624, 1.736),
    (1.208, 1.352, 1.432, 1.448),
)
#: {(beta1, beta2): printed value} for the 16 entries of Table 7.
TABLE7: dict[tuple[float, float], float] = {
    (b1, b2): _TABLE7_ROWS[i][j]
    for i, b1 in enumerate(TABLE7_BETA1)
    for j, b2 in enumerate(TABLE7_BETA2)
}

#: The paper's training settings: logits (c1, c2) and the printed (beta1, beta2) =
#: (-sigmoid(c1), sigmoid(c2)), plus the rounded pair used for the periods of THEORY.md.
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {"logits": (0.0, 0.0), "betas": (-0.5, 0.5), "rounded": (-0.5, 0.5)},
    "S-MNIST recurrent": {
        "logits": (1.5, -0.5),
        "betas": (-0.8176, 0.3775),
        "rounded": (-0.8, 0.4),
    },
    "PS-MNIST recurrent": {
        "logits": (-1.4, 1.4),
        "betas": (-0.1978, 0.8022),
        "rounded": (-0.2, 0.8),
    },
    "GSC": {"logits": (1.4, 1.4), "betas": (-0.8022, 0.8022), "rounded": (-0.8, 0.8)},
}

#: THEORY.md section 2: (beta1, beta2) -> (theta, period in steps), as printed.
PERIODS: dict[tuple[float, float], tuple[float, float]] = {
    (-0.5, 0.5): (0.5054, 12.43),
    (-0.8, 0.4): (0.5735, 10.96),
    (-0.2, 0.8): (0.4027, 15.60),
    (-0.8, 0.8): (0.8230, 7.63),
}

#: The paper's quadrant verdicts (from f): quadrant -> (sign of beta1, sign of beta2, verdict).
QUADRANT_VERDICTS: dict[int, tuple[int, int, str]] = {
    1: (1, 1, "explodes"),
    2: (-1, 1, "trainable"),
    3: (-1, -1, "vanishes"),
    4: (1, -1, "explodes"),
}


# ----------------------------------------------------------------------------- the formulas


def paper_matrix_entries(beta1: Any, beta2: Any) -> list[list[Any]]:
    """Eq. 14 as nested lists [[P_dd, P_ds], [P_sd, P_ss]] in plain arithmetic (works for
    floats, arrays and SymPy symbols)."""
    return [
        [1 + beta1 * beta2, beta1],
        [2 * beta2 + beta1 * beta2**2, 1 + beta1 * beta2],
    ]


def E_matrix_entries(beta2: Any) -> list[list[Any]]:
    """E = [[1, 0], [beta2, 1]] as nested lists (P = J E), in plain arithmetic."""
    return [[1, 0], [beta2, 1]]


def _f(beta1: Any, beta2: Any) -> Any:
    return beta1 * beta2**2 + beta1 * beta2 + 2 * beta2 + 1


def _floats(*values: Any) -> list[np.ndarray]:
    out = []
    for v in values:
        try:
            if np.iscomplexobj(v):
                raise TypeError
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"beta1 and beta2 must be finite real numbers, got {v!r}") from None
        if not np.all(np.isfinite(arr)):
            raise ValueError("beta1 and beta2 must be finite real numbers")
        out.append(arr)
    return list(np.broadcast_arrays(*out))


def paper_matrix(beta1: Any, beta2: Any) -> np.ndarray:
    """The paper's eq. 14 matrix P, shape (..., 2, 2) broadcasting beta1, beta2."""
    b1, b2 = _floats(beta1, beta2)
    e = paper_matrix_entries(b1, b2)
    out = np.empty((*b1.shape, 2, 2))
    for i in range(2):
        for j in range(2):
            out[..., i, j] = e[i][j]
    return out


def paper_f(beta1: Any, beta2: Any) -> Any:
    """Eq. 15: f = beta1 beta2^2 + beta1 beta2 + 2 beta2 + 1, the signed sum of P's first
    column. NumPy in, NumPy out (broadcast); SymPy in, SymPy out."""
    if hasattr(beta1, "free_symbols") or hasattr(beta2, "free_symbols"):
        return _f(beta1, beta2)
    b1, b2 = _floats(beta1, beta2)
    return _f(b1, b2)


def paper_column_sums(beta1: Any, beta2: Any) -> np.ndarray:
    """Signed column sums of P, shape (..., 2); column 0 is f."""
    return np.sum(paper_matrix(beta1, beta2), axis=-2)


def E_matrix(beta2: Any) -> np.ndarray:
    """E = [[1, 0], [beta2, 1]] with P = J E, shape (..., 2, 2)."""
    (b2,) = _floats(beta2)
    e = E_matrix_entries(b2)
    out = np.empty((*b2.shape, 2, 2))
    for i in range(2):
        for j in range(2):
            out[..., i, j] = e[i][j]
    return out


def f_range_unit_square(quadrant: int) -> tuple[float, float]:
    """(inf, sup) of f over the open unit square of a quadrant (|beta1|, |beta2| < 1).

    f is linear in beta1, so its extremes lie on beta1 in {0, +-1}; there f is a quadratic in
    beta2 whose extremes are at the ends or at the vertex. Exact, no grid.
    """
    if quadrant not in QUADRANT_VERDICTS:
        raise ValueError(f"quadrant must be 1, 2, 3 or 4, got {quadrant!r}")
    s1, s2, _ = QUADRANT_VERDICTS[quadrant]
    values = []
    for b1 in (0.0, float(s1)):
        cands = [0.0, float(s2)]
        if b1 != 0.0:
            vertex = -(b1 + 2.0) / (2.0 * b1)
            if 0.0 <= vertex * s2 <= 1.0:
                cands.append(vertex)
        values += [float(_f(b1, b2)) for b2 in cands]
    return min(values), max(values)


def _f_reading(lo: float, hi: float) -> str:
    if lo >= 1.0:
        return "f > 1: bound grows as f^k"
    if lo >= -1.0 and hi <= 1.0:
        return "|f| < 1: bound shrinks as |f|^k"
    return "f crosses +-1"


def quadrant_table() -> list[dict[str, Any]]:
    """Per quadrant: the paper's verdict, f's range over the open unit square with what it
    implies, f at (+-0.5, +-0.5), and the true sub-threshold spectrum of J over the square."""
    grid = np.linspace(0.05, 0.95, 19)
    rows = []
    for q, (s1, s2, verdict) in QUADRANT_VERDICTS.items():
        lo, hi = f_range_unit_square(q)
        model = LSTMLIF(beta1=s1 * grid[:, None], beta2=s2 * grid[None, :])
        labels = set(np.unique(classify(model)).tolist())
        rho = np.max(np.abs(eigenvalues(model)), axis=-1)
        rows.append(
            {
                "quadrant": q,
                "signs": ("+" if s1 > 0 else "-") + ("+" if s2 > 0 else "-"),
                "paper_verdict": verdict,
                "f_at_half": float(paper_f(0.5 * s1, 0.5 * s2)),
                "f_inf": lo,
                "f_sup": hi,
                "f_reading": _f_reading(lo, hi),
                "spectrum": "/".join(sorted(labels)),
                "rho_min": float(rho.min()),
                "rho_max": float(rho.max()),
            }
        )
    return rows


# ----------------------------------------------------------------------------- the table


def _row(
    quantity: str, where: str, printed: Any, recomputed: Any, agrees: bool, source: str
) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "where": where,
        "printed": printed,
        "recomputed": recomputed,
        "agrees": bool(agrees),
        "source": source,
    }


def _agree(printed: float, value: float, decimals: int) -> bool:
    return abs(value - printed) <= 0.5 * 10.0**-decimals + 1e-12


def paper_table() -> list[dict[str, Any]]:
    """Every printed number with its recomputation: Table 7 (16 entries), the logits -> betas
    mapping, THEORY's four periods and angles, the real eigenvalues 1.6404 / 0.6096, 0.8^784,
    P versus J, and the quadrant verdicts by f and by the spectrum."""
    rows: list[dict[str, Any]] = []
    for (b1, b2), printed in TABLE7.items():
        value = float(paper_f(b1, b2))
        rows.append(
            _row(
                "f (Table 7)",
                f"b1={b1:g}, b2={b2:g}",
                printed,
                value,
                _agree(printed, value, 3),
                "paper, Table 7",
            )
        )
    for name, st in PAPER_SETTINGS.items():
        c1, c2 = st["logits"]
        m = LSTMLIF.from_logits(c1, c2)
        for label, printed, value in (
            ("beta1 = -sigmoid(c1)", st["betas"][0], float(m.beta1)),
            ("beta2 = sigmoid(c2)", st["betas"][1], float(m.beta2)),
        ):
            rows.append(
                _row(
                    label,
                    f"{name}: c=({c1:g}, {c2:g})",
                    printed,
                    value,
                    _agree(printed, value, 4),
                    "paper settings (MODELS.md)",
                )
            )
    for (b1, b2), (theta_p, period_p) in PERIODS.items():
        m = LSTMLIF(beta1=b1, beta2=b2)
        lam = eigenvalues(m)[0]
        theta = float(abs(np.angle(lam)))
        per = float(period(m))
        where = f"b1={b1:g}, b2={b2:g}"
        rows.append(_row("theta", where, theta_p, theta, _agree(theta_p, theta, 4), "THEORY 2"))
        rows.append(_row("period", where, period_p, per, _agree(period_p, per, 2), "THEORY 2"))
    for b1, b2 in ((0.5, 0.5), (-0.5, -0.5)):
        lam = eigenvalues(LSTMLIF(beta1=b1, beta2=b2))
        where = f"b1={b1:g}, b2={b2:g}"
        for printed, value in zip((1.6404, 0.6096), sorted(lam.real, reverse=True), strict=True):
            value = float(value)
            rows.append(
                _row(
                    "real eigenvalue", where, printed, value, _agree(printed, value, 4), "THEORY 2"
                )
            )
    log10_784 = float(log10_power_norms(subthreshold_jacobian(LIF(alpha=0.8)), 784, 1)[-1])
    value = 10.0**log10_784
    rows.append(
        _row(
            "alpha^784 (LIF)",
            "alpha=0.8",
            1.05e-76,
            value,
            math.isclose(value, 1.05e-76, rel_tol=0.5e-2),
            "THEORY 1",
        )
    )
    J = subthreshold_jacobian(LSTMLIF(beta1=-0.5, beta2=0.5))
    gap = float(np.max(np.abs(paper_matrix(-0.5, 0.5) - J)))
    rows.append(
        _row(
            "max |P - J|",
            "b1=-0.5, b2=0.5",
            "P (eq. 14) is the one-step Jacobian",
            gap,
            gap < 1e-12,
            "paper eq. 14 vs the step function",
        )
    )
    lo, _hi = f_range_unit_square(2)
    rows.append(
        _row(
            "inf f, open 2nd quadrant",
            "|beta| < 1, b2 -> 0+",
            "f > 1 (a bound above 1)",
            lo,
            lo > 1.0,
            "paper eq. 15",
        )
    )
    for qrow in quadrant_table():
        rows.append(
            _row(
                f"quadrant {qrow['quadrant']} ({qrow['signs']})",
                f"f in ({qrow['f_inf']:.3g}, {qrow['f_sup']:.3g})",
                qrow["paper_verdict"],
                f"f: {qrow['f_reading']}; J: {qrow['spectrum']}",
                _quadrant_agrees(qrow),
                "paper quadrant study vs the true spectrum",
            )
        )
    return rows


def _quadrant_agrees(qrow: dict[str, Any]) -> bool:
    """Does the true spectrum support the paper's verdict? explodes <-> growing,
    vanishes <-> decaying, trainable <-> marginal (bounded rotation)."""
    expected = {"explodes": "growing", "vanishes": "decaying", "trainable": "marginal"}
    return qrow["spectrum"] == expected[qrow["paper_verdict"]]


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif paper``: no options besides ``--json``."""
    parser.add_argument(
        "--only-disagreements", action="store_true", help="show only rows that disagree"
    )


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def run(args: argparse.Namespace) -> int:
    """Print the side-by-side table (plain text, or JSON with ``--json``)."""
    rows = paper_table()
    if args.only_disagreements:
        rows = [r for r in rows if not r["agrees"]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("quantity", "where", "printed", "recomputed", "agrees")
    cells = [head] + [tuple(_cell(r[k]) for k in head) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for i, c in enumerate(cells):
        print("  ".join(s.ljust(w) for s, w in zip(c, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    n_bad = sum(not r["agrees"] for r in rows)
    print(f"\n{len(rows)} rows, {n_bad} where the printed value and the computation disagree")
    return 0
