"""The paper's printed formulas and numbers, recomputed side by side (theory, section 3).

The paper is *Long Short-term Memory with Two-Compartment Spiking Neuron* (Zhang, Yang, Ma, Wu,
Li and Tan; arXiv 2307.07231), published as *TC-LIF: A Two-Compartment Spiking Neuron Model for
Long-Term Sequential Modelling* at AAAI 2024 (arXiv 2308.13250). It writes the per-step matrix
of its eq. 14, P = [[1 + b1 b2, b1], [2 b2 + b1 b2^2, 1 + b1 b2]], and bounds gradients with
its eq. 15, f(b1, b2) = b1 b2^2 + b1 b2 + 2 b2 + 1 (a *signed* column sum of P). Its
supplementary Table 7 is f at 16 initial (b1, b2) and at the (b1, b2) learned from them.
Tables 1 and 6 print parameter counts (in thousands), Table 2 energy formulas with the firing
rates of the recurrent S-MNIST networks. These are the paper's formulas, written here once (they
are the object of study, not the model); the model's own Jacobian comes from
``analysis.stability`` / ``analysis.symbolic``. ``lstmlif paper`` prints every printed number
next to its recomputation, with where it is printed, and, in a second group, the numbers the
theory derives here (periods, eigenvalues) that the paper did not print.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
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
    "TABLE7_TRAINED",
    "ARCHITECTURES",
    "Architecture",
    "parameter_count",
    "E_AC_PJ",
    "E_MAC_PJ",
    "FIRING_RATES",
    "ENERGY_PRINTED",
    "ENERGY_NETWORK",
    "layer_energy_pj",
    "network_energy_nj",
    "energy_table",
    "f_rounding_range",
    "PAPER",
    "paper_matrix_entries",
    "paper_matrix",
    "paper_f",
    "paper_column_sums",
    "E_matrix",
    "E_matrix_entries",
    "f_range_unit_square",
    "paper_column_max",
    "column_max_range",
    "quadrant_table",
    "paper_table",
    "RANGE_QUANTITIES",
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
#: (-sigmoid(c1), sigmoid(c2)), plus the rounded pair used for the periods of docs/theory.md.
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

#: docs/theory.md section 2: (beta1, beta2) -> (theta, period in steps), as printed.
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

#: The paper, named once for every output that mentions it.
PAPER = (
    '"Long Short-term Memory with Two-Compartment Spiking Neuron" (arXiv 2307.07231), '
    "published as TC-LIF at AAAI 2024 (arXiv 2308.13250)"
)

#: Table 7 after training (recurrent S-MNIST): initial (beta1, beta2) -> (learned (beta1, beta2),
#: the eq. 15 value printed beside them). The learned betas are printed to 3 decimals.
TABLE7_TRAINED: dict[tuple[float, float], tuple[tuple[float, float], float]] = dict(
    zip(
        TABLE7,
        (
            ((-0.184, 0.146), 1.262),
            ((-0.188, 0.307), 1.539),
            ((-0.203, 0.563), 1.948),
            ((-0.202, 0.835), 2.360),
            ((-0.379, 0.159), 1.248),
            ((-0.370, 0.318), 1.480),
            ((-0.383, 0.532), 1.751),
            ((-0.380, 0.700), 1.949),
            ((-0.621, 0.172), 1.219),
            ((-0.621, 0.342), 1.399),
            ((-0.634, 0.594), 1.587),
            ((-0.612, 0.761), 1.704),
            ((-0.812, 0.187), 1.194),
            ((-0.815, 0.360), 1.321),
            ((-0.812, 0.580), 1.416),
            ((-0.821, 0.801), 1.418),
        ),
        strict=True,
    )
)


@dataclass(frozen=True)
class Architecture:
    """A network of Tables 1 / 6: layer sizes (input, hidden..., output), the hidden layers
    (1-based) that also have a recurrent Linear(h, h) with bias, and the printed count in
    thousands of parameters."""

    name: str
    sizes: tuple[int, ...]
    recurrent: tuple[int, ...]
    printed_k: float


#: The architectures whose parameter counts Tables 1 and 6 print (thousands).
ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture("S/PS-MNIST feed-forward", (1, 40, 256, 128, 10), (), 44.8),
    Architecture("S/PS-MNIST feed-forward", (1, 64, 256, 256, 10), (), 85.1),
    Architecture("S/PS-MNIST recurrent", (1, 40, 200, 64, 10), (1, 2), 63.6),
    Architecture("S/PS-MNIST recurrent", (1, 64, 256, 256, 10), (1, 2), 155.1),
    Architecture("GSC feed-forward", (40, 300, 300, 12), (), 106.2),
    Architecture("GSC recurrent", (40, 300, 300, 12), (1,), 196.5),
    Architecture("SHD feed-forward", (700, 128, 128, 20), (), 108.8),
    Architecture("SHD recurrent", (700, 128, 128, 20), (1, 2), 141.8),
    Architecture("SSC feed-forward", (700, 128, 128, 35), (), 110.8),
    Architecture("SSC recurrent", (700, 128, 35), (1,), 110.8),
)

#: Table 2's energy per operation, in pJ: an accumulate (spike input) and a multiply-accumulate.
E_AC_PJ = 0.9
E_MAC_PJ = 4.6

#: Firing rates printed for the hidden layers of the recurrent S-MNIST networks (Table 2).
FIRING_RATES: dict[str, tuple[float, ...]] = {
    "lif": (0.219, 0.145, 0.004),
    "tclif": (0.294, 0.146, 0.030),
}

#: The energies Table 2 prints, in nJ per time step.
ENERGY_PRINTED: dict[str, float] = {"lif": 23.8, "tclif": 28.2, "lstm": 2834.7}

#: The network the printed firing rates belong to: recurrent S-MNIST 1-64-256-256-10.
ENERGY_NETWORK = ARCHITECTURES[3]


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


def paper_column_max(beta1: Any, beta2: Any) -> np.ndarray:
    """Eq. 15 as the paper defines it, the larger of `P`'s two signed column sums.

    `max(b1 b2^2 + b1 b2 + 2 b2 + 1, 1 + b1 + b1 b2)`, broadcast. Its printed formula
    (``paper_f``) is the first column, which is the larger one on the whole second quadrant.

    Parameters
    ----------
    beta1, beta2 : array_like
        Finite reals, broadcast together to shape P.

    Returns
    -------
    numpy.ndarray
        Shape P.
    """
    return np.max(paper_column_sums(beta1, beta2), axis=-1)


def column_max_range(quadrant: int) -> tuple[float, float]:
    """(inf, sup) of ``paper_column_max`` over the open unit square of a quadrant. Exact, no grid.

    Both column sums are linear in `beta1`, so for fixed `beta2` their maximum is convex in
    `beta1`: its least value is at `beta1 = 0`, at `beta1 = +-1`, or where the columns cross,
    `beta1 = 2 beta2 / (1 - beta2^2)`, with the value `(1 + beta2)/(1 - beta2)`, monotone in
    `beta2`. The candidates in `beta2` are the ends, the first column's vertex on the
    `beta1 = +-1` edge and the crossings on it (roots of `beta1 beta2^2 + 2 beta2 - beta1 = 0`);
    the greatest value is at a corner or at that vertex. The extremes lie on the square's
    boundary: not attained.

    Parameters
    ----------
    quadrant : int
        1, 2, 3 or 4 (the signs of `beta1`, `beta2`: `++`, `-+`, `--`, `+-`).

    Returns
    -------
    tuple of float
        (inf, sup).
    """
    if quadrant not in QUADRANT_VERDICTS:
        raise ValueError(f"quadrant must be 1, 2, 3 or 4, got {quadrant!r}")
    s1, s2, _ = QUADRANT_VERDICTS[quadrant]
    e = float(s1)
    inside = lambda b2: 0.0 <= b2 * s2 <= 1.0  # noqa: E731
    cands = {0.0, float(s2)}
    vertex = -(e + 2.0) / (2.0 * e)
    if inside(vertex):
        cands.add(vertex)
    for sign in (1.0, -1.0):
        root = (-1.0 + sign * math.sqrt(1.0 + e * e)) / e
        if inside(root):
            cands.add(root)

    def least(b2: float) -> float:  # min over beta1 in the closed edge range
        vals = [float(paper_column_max(0.0, b2)), float(paper_column_max(e, b2))]
        if abs(b2) < 1.0:
            cross = 2.0 * b2 / (1.0 - b2 * b2)
            if 0.0 <= cross * s1 <= 1.0:
                vals.append((1.0 + b2) / (1.0 - b2))
        return min(vals)

    lo = min(least(b2) for b2 in cands)
    hi = max(float(paper_column_max(b1, b2)) for b1 in (0.0, e) for b2 in cands)
    return lo, hi


def _f_reading(lo: float, hi: float) -> str:
    if lo >= 1.0:
        return "f > 1: bound grows as f^k"
    if lo >= -1.0 and hi <= 1.0:
        return "|f| < 1: bound shrinks as |f|^k"
    return "f crosses +-1"


def quadrant_table() -> list[dict[str, Any]]:
    """Per quadrant: the paper's verdict; eq. 15's value f (the larger signed column sum,
    ``paper_column_max``) over the open unit square, its range and what it implies; the
    first column alone (``paper_f``, the printed formula) and its range; f at (+-0.5, +-0.5);
    and the true sub-threshold spectrum of J over the square."""
    grid = np.linspace(0.05, 0.95, 19)
    rows = []
    for q, (s1, s2, verdict) in QUADRANT_VERDICTS.items():
        lo, hi = column_max_range(q)
        lo1, hi1 = f_range_unit_square(q)
        model = LSTMLIF(beta1=s1 * grid[:, None], beta2=s2 * grid[None, :])
        labels = set(np.unique(classify(model)).tolist())
        rho = np.max(np.abs(eigenvalues(model)), axis=-1)
        rows.append(
            {
                "quadrant": q,
                "signs": ("+" if s1 > 0 else "-") + ("+" if s2 > 0 else "-"),
                "paper_verdict": verdict,
                "f_at_half": float(paper_column_max(0.5 * s1, 0.5 * s2)),
                "f_inf": lo,
                "f_sup": hi,
                "f_reading": _f_reading(lo, hi),
                "first_column_inf": lo1,
                "first_column_sup": hi1,
                "spectrum": "/".join(sorted(labels)),
                "rho_min": float(rho.min()),
                "rho_max": float(rho.max()),
            }
        )
    return rows


def f_rounding_range(beta1: float, beta2: float, half_width: float = 5e-4) -> tuple[float, float]:
    """(min, max) of eq. 15's f over the box beta +- ``half_width`` (the values a pair printed to
    3 decimals can stand for). f is linear in beta1, so its extremes lie on the box's beta1 edges;
    there it is a quadratic in beta2 with its vertex at -(beta1 + 2) / (2 beta1). Exact."""
    b1, b2 = (float(v) for v in _floats(beta1, beta2))
    values = []
    for x in (b1 - half_width, b1 + half_width):
        cands = [b2 - half_width, b2 + half_width]
        if x != 0.0:
            vertex = -(x + 2.0) / (2.0 * x)
            if abs(vertex - b2) <= half_width:
                cands.append(vertex)
        values += [float(_f(x, y)) for y in cands]
    return min(values), max(values)


def parameter_count(
    sizes: tuple[int, ...], recurrent: tuple[int, ...] = (), logits: int = 2
) -> int:
    """Weights and biases of every Linear(sizes[i], sizes[i+1]), plus a Linear(h, h) with bias
    for each recurrent hidden layer (1-based), plus ``logits`` per hidden (TC-LIF) layer."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(f"sizes must be >= 3 positive layer widths, got {sizes}")
    hidden = len(sizes) - 2
    if any(not 1 <= layer <= hidden for layer in recurrent):
        raise ValueError(f"recurrent layers must be in 1..{hidden}, got {recurrent}")
    total = sum(m * n + n for m, n in zip(sizes[:-1], sizes[1:], strict=True))
    total += sum(sizes[layer] ** 2 + sizes[layer] for layer in set(recurrent))
    return total + logits * hidden


def layer_energy_pj(
    neuron: str, m: int, n: int, rate_in: float = 1.0, rate_out: float = 0.0, recurrent: bool = True
) -> float:
    """Table 2's energy of one layer and time step, in pJ (m inputs, n neurons):

    - LSTM: 4 (m n + n n) E_MAC + 17 n E_MAC;
    - LIF: m n F_in E_AC + (n n + n) F_out E_AC + n E_MAC;
    - TC-LIF: m n F_in E_AC + (n n + 2 n) F_out E_AC + 2 n E_MAC.

    ``recurrent=False`` drops the n n (recurrent synapse) term of the spiking neurons."""
    nn = n * n if recurrent else 0
    if neuron == "lstm":
        return 4 * (m * n + n * n) * E_MAC_PJ + 17 * n * E_MAC_PJ
    k = {"lif": 1, "tclif": 2}.get(neuron)
    if k is None:
        raise ValueError(f"neuron must be 'lif', 'tclif' or 'lstm', got {neuron!r}")
    return m * n * rate_in * E_AC_PJ + (nn + k * n) * rate_out * E_AC_PJ + k * n * E_MAC_PJ


def network_energy_nj(
    neuron: str,
    sizes: tuple[int, ...],
    rates: tuple[float, ...] = (),
    recurrent: tuple[int, ...] = (),
    input_synapses: bool = True,
    output_layer: bool = False,
) -> float:
    """Sum of ``layer_energy_pj`` over the hidden layers of ``sizes``, in nJ per time step.

    ``rates``: the hidden layers' firing rates (spiking neurons); the first layer's input rate
    is 1 (an analog pixel every step), or its m n F_in E_AC term is left out
    (``input_synapses=False``). ``output_layer`` adds the readout Linear's accumulates,
    sizes[-2] sizes[-1] F_last E_AC (spiking) or its multiply-accumulates (LSTM)."""
    hidden = len(sizes) - 2
    if neuron != "lstm" and len(rates) != hidden:
        raise ValueError(f"give one firing rate per hidden layer ({hidden}), got {rates}")
    total = 0.0
    rate_in = 1.0
    for i in range(hidden):
        m, n = sizes[i], sizes[i + 1]
        rate_out = rates[i] if neuron != "lstm" else 0.0
        e = layer_energy_pj(neuron, m, n, rate_in, rate_out, recurrent=(i + 1) in recurrent)
        if i == 0 and not input_synapses and neuron != "lstm":
            e -= m * n * rate_in * E_AC_PJ
        total += e
        rate_in = rate_out
    if output_layer:
        m, n = sizes[-2], sizes[-1]
        total += m * n * (E_MAC_PJ if neuron == "lstm" else rate_in * E_AC_PJ)
    return total / 1000.0


def energy_table() -> list[dict[str, Any]]:
    """Table 2 recomputed: LIF and TC-LIF on the recurrent S-MNIST network with the printed
    firing rates, under the four ways of counting (first layer's input synapses, readout layer);
    LSTM on each S-MNIST architecture of Table 1. Each entry: neuron, network, accounting,
    nJ, printed nJ, agrees (rounds to the printed value at one decimal)."""
    net = ENERGY_NETWORK
    out = []
    for neuron in ("lif", "tclif"):
        for inputs in (True, False):
            for readout in (False, True):
                value = network_energy_nj(
                    neuron, net.sizes, FIRING_RATES[neuron], net.recurrent, inputs, readout
                )
                how = (
                    ("input synapses" if inputs else "no input synapses")
                    + ", "
                    + ("with readout" if readout else "hidden layers")
                )
                out.append(
                    {
                        "neuron": neuron,
                        "network": f"{net.name} {_arch_label(net)}",
                        "accounting": how,
                        "nJ": value,
                        "printed": ENERGY_PRINTED[neuron],
                        "agrees": _agree(ENERGY_PRINTED[neuron], value, 1),
                    }
                )
    seen = set()
    for arch in ARCHITECTURES:
        if not arch.name.startswith("S/PS-MNIST") or arch.sizes in seen:
            continue
        seen.add(arch.sizes)
        value = network_energy_nj("lstm", arch.sizes, recurrent=tuple(range(1, len(arch.sizes))))
        out.append(
            {
                "neuron": "lstm",
                "network": "-".join(map(str, arch.sizes)) + ", LSTM layers",
                "accounting": "hidden layers",
                "nJ": value,
                "printed": ENERGY_PRINTED["lstm"],
                "agrees": _agree(ENERGY_PRINTED["lstm"], value, 1),
            }
        )
    return out


def _arch_label(arch: Architecture) -> str:
    """``1-64-256-256-10, rec. 1, 2`` (the recurrent hidden layers, 1-based)."""
    rec = ", ".join(str(r) for r in arch.recurrent)
    return "-".join(map(str, arch.sizes)) + (f", rec. {rec}" if rec else "")


# ----------------------------------------------------------------------------- the table

PRINTED = "printed in the paper"
DERIVED = "derived here"

#: What "agrees" compares, per group (printed above each group of the table).
AGREES: dict[str, str] = {
    PRINTED: (
        "agrees: the recomputation rounds to the printed value at its printed precision "
        "(Table 7 after training: the printed f lies in f's range over the learned betas' "
        "rounding box), or the computation supports the printed claim"
    ),
    DERIVED: (
        "agrees: the computation gives the value the theory pages state (theory, sections 1-2; "
        "models, LSTM-LIF settings) to the stated digits; the paper printed none of these"
    ),
}


def _row(
    quantity: str,
    where: str,
    printed: Any,
    recomputed: Any,
    agrees: bool | None,
    source: str,
    group: str = PRINTED,
    ranges: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    return {
        "group": group,
        "quantity": quantity,
        "where": where,
        "printed": printed,
        "recomputed": recomputed,
        "agrees": None if agrees is None else bool(agrees),
        "source": source,
        "ranges": list(ranges),
    }


#: The quantities a row's ``ranges`` can name: eq. 15's value (the larger signed column sum of
#: P) and the first column alone (the printed formula).
RANGE_QUANTITIES = {"column_max": paper_column_max, "first_column": paper_f}


def _range(
    quantity: str, beta1: tuple[float, float], beta2: tuple[float, float], lo: float, hi: float,
    closed: bool,
) -> dict[str, Any]:  # fmt: skip
    """A range a row states, as data: ``quantity`` (a key of ``RANGE_QUANTITIES``) lies in
    [inf, sup] over the box beta1 x beta2, attained (closed) or approached on the box's edge
    only (open: the values inside lie strictly between)."""
    return {
        "quantity": quantity,
        "beta1": sorted(beta1),
        "beta2": sorted(beta2),
        "inf": lo,
        "sup": hi,
        "closed": closed,
    }


def _agree(printed: float, value: float, decimals: int) -> bool:
    return abs(value - printed) <= 0.5 * 10.0**-decimals + 1e-12


def _printed_rows() -> list[dict[str, Any]]:
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
                "Table 7 (supplement), at initialisation",
            )
        )
    for (i1, i2), ((b1, b2), printed) in TABLE7_TRAINED.items():
        value = float(paper_f(b1, b2))
        lo, hi = f_rounding_range(b1, b2)
        box = _range("first_column", (b1 - 5e-4, b1 + 5e-4), (b2 - 5e-4, b2 + 5e-4), lo, hi, True)
        rows.append(
            _row(
                "f after training (Table 7)",
                f"init ({i1:g}, {i2:g}) -> learned ({b1:.3f}, {b2:.3f})",
                printed,
                value,
                lo - 5e-4 - 1e-12 <= printed <= hi + 5e-4 + 1e-12,
                "Table 7 (supplement), after training (recurrent S-MNIST)",
                ranges=(box,),
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
            "eq. 14 vs the step function",
        )
    )
    lo, hi = f_range_unit_square(2)
    rows.append(
        _row(
            "inf f, open 2nd quadrant",
            "|beta| < 1, b2 -> 0+",
            "f > 1 (a bound above 1)",
            lo,
            lo > 1.0,
            "eq. 15",
            ranges=(_range("first_column", (-1.0, 0.0), (0.0, 1.0), lo, hi, False),),
        )
    )
    for qrow in quadrant_table():
        s1, s2, _ = QUADRANT_VERDICTS[qrow["quadrant"]]
        box = ((0.0, float(s1)), (0.0, float(s2)))
        stated = (
            _range("column_max", *box, qrow["f_inf"], qrow["f_sup"], False),
            _range("first_column", *box, qrow["first_column_inf"], qrow["first_column_sup"], False),
        )
        rows.append(
            _row(
                f"quadrant {qrow['quadrant']} ({qrow['signs']})",
                f"f = larger column sum in ({qrow['f_inf']:.4g}, {qrow['f_sup']:.4g}); first "
                f"column in ({qrow['first_column_inf']:.4g}, {qrow['first_column_sup']:.4g})",
                qrow["paper_verdict"],
                f"f: {qrow['f_reading']}; J: {qrow['spectrum']}",
                _quadrant_agrees(qrow),
                "eq. 15 applied per quadrant (the paper's quadrant study)",
                ranges=stated,
            )
        )
    for arch in ARCHITECTURES:
        count = parameter_count(arch.sizes, arch.recurrent)
        rows.append(
            _row(
                "parameters (printed in K)",
                f"{arch.name} {_arch_label(arch)}",
                arch.printed_k,
                count,
                _agree(arch.printed_k, count / 1000.0, 1),
                "Tables 1 and 6 (supplement)",
            )
        )
    for e in energy_table():
        label = {"lif": "LIF", "tclif": "TC-LIF", "lstm": "LSTM"}[e["neuron"]]
        where = e["network"].removeprefix(ENERGY_NETWORK.name + " ") + "; " + e["accounting"]
        rows.append(
            _row(
                f"energy {label} (nJ/step)",
                where,
                e["printed"],
                e["nJ"],
                e["agrees"],
                "Table 2 (formulas, E_AC = 0.9 pJ, E_MAC = 4.6 pJ)",
            )
        )
    ratio = ENERGY_PRINTED["lstm"] / ENERGY_PRINTED["tclif"]
    rows.append(
        _row(
            "LSTM / TC-LIF energy",
            "2834.7 nJ / 28.2 nJ, as printed",
            "> 100x",
            ratio,
            ratio > 100.0,
            "Table 2 and its text",
        )
    )
    return rows


def _derived_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
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
                    "models, LSTM-LIF settings (logits of the official training commands)",
                    DERIVED,
                )
            )
    for (b1, b2), (theta_p, period_p) in PERIODS.items():
        m = LSTMLIF(beta1=b1, beta2=b2)
        lam = eigenvalues(m)[0]
        theta = float(abs(np.angle(lam)))
        per = float(period(m))
        where = f"b1={b1:g}, b2={b2:g}"
        src = "theory, section 2"
        rows.append(_row("theta", where, theta_p, theta, _agree(theta_p, theta, 4), src, DERIVED))
        rows.append(_row("period", where, period_p, per, _agree(period_p, per, 2), src, DERIVED))
    for b1, b2 in ((0.5, 0.5), (-0.5, -0.5)):
        lam = eigenvalues(LSTMLIF(beta1=b1, beta2=b2))
        where = f"b1={b1:g}, b2={b2:g}"
        for printed, value in zip((1.6404, 0.6096), sorted(lam.real, reverse=True), strict=True):
            value = float(value)
            rows.append(
                _row(
                    "real eigenvalue",
                    where,
                    printed,
                    value,
                    _agree(printed, value, 4),
                    "theory, section 2",
                    DERIVED,
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
            "theory, section 1",
            DERIVED,
        )
    )
    return rows


def paper_table() -> list[dict[str, Any]]:
    """Every number the paper printed with its recomputation (group "printed in the paper"):
    Table 7 at initialisation and after training (32 entries), P versus J (eq. 14), inf f
    (eq. 15), the quadrant verdicts by f and by the spectrum, the parameter counts of Tables 1
    and 6, the energies of Table 2 under each way of counting, and the "> 100x" ratio; then the
    numbers derived here (group "derived here"): the logits -> betas mapping, the four periods
    and angles, the real eigenvalues 1.6404 / 0.6096 and 0.8^784. Each row: group, quantity,
    where, printed, recomputed, agrees (bool, or None where nothing can be compared), source."""
    return _printed_rows() + _derived_rows()


def _quadrant_agrees(qrow: dict[str, Any]) -> bool:
    """Does the true spectrum support the paper's verdict? explodes <-> growing,
    vanishes <-> decaying, trainable <-> marginal (bounded rotation)."""
    expected = {"explodes": "growing", "vanishes": "decaying", "trainable": "marginal"}
    return qrow["spectrum"] == expected[qrow["paper_verdict"]]


# ----------------------------------------------------------------------------- command line

DESCRIPTION = (
    f"Each number printed in the paper {PAPER} (Table 7 before and after training, eqs. 14 "
    "and 15, the quadrant study, the parameter counts of Tables 1 and 6, the energies of "
    "Table 2), recomputed and shown side by side with where it is printed; then the numbers "
    "derived here that the paper did not print."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``lstmlif paper [--only-disagreements] [--json]``."""
    parser.description = DESCRIPTION
    parser.add_argument(
        "--only-disagreements", action="store_true", help="show only rows that disagree"
    )


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "NO", None: "n/a"}[v]
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def run(args: argparse.Namespace) -> int:
    """Print the side-by-side table in two groups (plain text, or JSON with ``--json``)."""
    rows = paper_table()
    if args.only_disagreements:
        rows = [r for r in rows if r["agrees"] is False]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("quantity", "where", "printed", "recomputed", "agrees", "source")
    cells = [head] + [tuple(_cell(r[k]) for k in head) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(s.ljust(w) for s, w in zip(c, widths, strict=True)).rstrip()

    print(f"The paper: {PAPER}.")
    for group in (PRINTED, DERIVED):
        mine = [r for r in rows if r["group"] == group]
        if not mine:
            continue
        print(f"\n{group.capitalize()} ({len(mine)} rows). {AGREES[group]}.\n")
        print(line(head))
        print("  ".join("-" * w for w in widths))
        for r in mine:
            print(line(tuple(_cell(r[k]) for k in head)))
    n_bad = sum(r["agrees"] is False for r in rows)
    print(f"\n{len(rows)} rows, {n_bad} where the printed value and the computation disagree")
    return 0
