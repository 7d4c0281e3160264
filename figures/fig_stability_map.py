"""Stability map of LSTM-LIF over (beta1, beta2): spectral radius of the true sub-threshold J,
oscillation period, transient amplification; the symbolic boundaries, the paper's eq. 15
criterion, Table 7 and the paper's settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from lstmlif.analysis.paper import PAPER_SETTINGS, TABLE7, paper_f, quadrant_table
from lstmlif.analysis.stability import (
    classify,
    log10_sup_power_norm,
    period,
    spectral_radius,
)
from lstmlif.neurons import LSTMLIF
from lstmlif.neurons.symbolic import jacobian, subthreshold, symbolic_model

from .files import save_all
from .style import OKABE_ITO, SEQUENTIAL, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "stability_map"
ORDER = 4
CAPTION = (
    "Sub-threshold stability of LSTM-LIF over (beta1, beta2) in [-2.5, 2.5]^2 (grid step 1/32). "
    "(a) log10 spectral radius of the true one-step Jacobian J = [[1, beta1], [beta2, 1 + "
    "beta1 beta2]]: exactly 0 (a complex pair on the unit circle, or a double eigenvalue 1) "
    "wherever -4 <= beta1 beta2 <= 0, above 0 elsewhere. (b) Oscillation period 2 pi / theta "
    "(steps, log10 colour) where the pair is complex. (c) log10 sup_k ||J^k||_2 over k <= 256 "
    "(longer than every period on the grid) in the bounded region, colours clipped at 2 (on the "
    "axes J is a Jordan block and ||J^k|| grows linearly in k); grey: growing. Black lines: "
    "the boundaries beta1 beta2 = 0 and beta1 beta2 = -4, i.e. the roots beta2 = 0 and beta2 = "
    "-4/beta1 of the discriminant (tr J)^2 - 4 det J = beta1 beta2 (beta1 beta2 + 4) that SymPy "
    "derives from the step function. Dashed: the paper's eq. 15 criterion f(beta1, beta2) = 1. "
    "Circles: the 16 Table 7 points; diamonds: the paper's four training settings. Each quadrant "
    "is labelled with the paper's verdict (from f) and the true J's verdict."
)

GRID_N = 80  # grid values i/32 for |i| <= 80: exact binary fractions, products exact
SUP_KMAX = 256
SUP_VMAX = 2.0  # colour limit: on the axes (beta1 beta2 = 0, a Jordan block) ||J^k|| grows as k
VERDICT_TEXT = {"marginal": "rotates, |λ| = 1", "growing": "grows, |λ| > 1"}


def symbolic_boundaries() -> dict[str, object]:
    """SymPy: J, its discriminant factored, and the boundary curves beta2(beta1) where it
    vanishes (the eigenvalues change from real to complex)."""
    m = symbolic_model("lstmlif")
    J = subthreshold(jacobian(m))
    disc = sp.factor(J.trace() ** 2 - 4 * J.det())
    b1 = next(s for s in disc.free_symbols if s.name == "beta1")
    b2 = next(s for s in disc.free_symbols if s.name == "beta2")
    roots = sp.solve(disc, b2)
    return {
        "J": J,
        "det": sp.simplify(J.det()),
        "discriminant": disc,
        "beta1": b1,
        "beta2": b2,
        "roots": roots,
    }


def grid(n: int = GRID_N, scale: int = 32) -> np.ndarray:
    """The 1-D grid i/scale for |i| <= n (both axes)."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"stability_map: n must be an int >= 2, got {n!r}")
    return np.arange(-n, n + 1) / scale


def compute(n: int = GRID_N, scale: int = 32, sup_kmax: int = SUP_KMAX) -> dict[str, np.ndarray]:
    """Maps on the grid (rows beta2, columns beta1): ``rho``, ``period`` (NaN where real),
    ``log10_sup`` (NaN where growing), ``label`` (str), ``f``; the symbolic boundary curves;
    Table 7 points and the paper's settings."""
    b = grid(n, scale)
    B1, B2 = np.meshgrid(b, b, indexing="xy")
    model = LSTMLIF(beta1=B1, beta2=B2)
    rho = spectral_radius(model)
    labels = classify(model)
    bounded = labels == "marginal"
    sup = np.full(B1.shape, np.nan)
    sub = LSTMLIF(beta1=B1[bounded], beta2=B2[bounded])
    sup[bounded] = log10_sup_power_norm(sub, ord=2, kmax=sup_kmax)
    sym = symbolic_boundaries()
    curves = {}
    line = np.linspace(-2.5, 2.5, 2001)
    line = line[line != 0]
    for i, root in enumerate(sym["roots"]):
        fn = sp.lambdify(sym["beta1"], root, "numpy")
        curves[f"boundary{i}/beta2"] = np.broadcast_to(np.asarray(fn(line), float), line.shape)
        curves[f"boundary{i}/expr"] = np.asarray(str(root))
    table = np.array([[b1, b2, v] for (b1, b2), v in TABLE7.items()])
    settings = np.array([s["betas"] for s in PAPER_SETTINGS.values()])
    quads = quadrant_table()
    return {
        "beta": b,
        "rho": rho,
        "log10_rho": np.log10(rho),
        "period": period(model),
        "log10_sup": sup,
        "label": labels,
        "f": paper_f(B1, B2),
        "boundary_beta1": line,
        **curves,
        "discriminant": np.asarray(str(sym["discriminant"])),
        "det": np.asarray(str(sym["det"])),
        "table7": table,
        "settings": settings,
        "setting_names": np.array(list(PAPER_SETTINGS)),
        "quadrant_paper": np.array([q["paper_verdict"] for q in quads]),
        "quadrant_true": np.array([q["spectrum"] for q in quads]),
        "quadrant_signs": np.array([q["signs"] for q in quads]),
        "sup_kmax": np.asarray(sup_kmax),
    }


def _overlay(ax, data: dict[str, np.ndarray], legend: bool = False) -> None:
    line = data["boundary_beta1"]
    ax.axhline(0, color="k", lw=1.1)
    ax.axvline(0, color="k", lw=1.1)
    for key in sorted(k for k in data if k.startswith("boundary") and k.endswith("/beta2")):
        y = np.asarray(data[key], float)
        if np.allclose(y, 0):
            continue
        for side in (line < 0, line > 0):
            ax.plot(
                line[side],
                y[side],
                color="k",
                lw=1.1,
                label=r"$\beta_1 \beta_2 = -4$ (SymPy)" if legend and side[0] else None,
            )
    b = data["beta"]
    ax.contour(
        b,
        b,
        data["f"],
        levels=[1.0],
        colors=[OKABE_ITO["vermillion"]],
        linestyles="--",
        linewidths=1.2,
    )
    if legend:
        ax.plot([], [], "--", color=OKABE_ITO["vermillion"], label=r"paper eq. 15: $f = 1$")
    t7 = data["table7"]
    ax.plot(
        t7[:, 0],
        t7[:, 1],
        "o",
        ms=3.5,
        mfc="white",
        mec="k",
        mew=0.8,
        label="Table 7 points" if legend else None,
    )
    st = data["settings"]
    ax.plot(
        st[:, 0],
        st[:, 1],
        "D",
        ms=4.5,
        mfc=OKABE_ITO["yellow"],
        mec="k",
        mew=0.8,
        label="paper's settings" if legend else None,
    )
    ax.set_xlim(b[0], b[-1])
    ax.set_ylim(b[0], b[-1])
    ax.set_xlabel(r"$\beta_1$ (dimensionless)")
    ax.set_ylabel(r"$\beta_2$ (dimensionless)")
    ax.set_aspect("equal")
    ax.grid(False)


def plot(data: dict[str, np.ndarray]) -> Figure:
    """(a) log10 rho, (b) period, (c) log10 sup_k ||J^k||."""
    b = data["beta"]
    ext = (b[0], b[-1], b[0], b[-1])
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(14.5, 5.0))
        # det J = 1, so rho(J) >= 1 and log10 rho >= 0 everywhere: a magnitude, not signed data
        # (sequential map; 0, the marginal band, at its dark end)
        im = axes[0].imshow(
            data["log10_rho"], origin="lower", extent=ext, cmap=SEQUENTIAL, vmin=0.0
        )
        fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.03).set_label(
            r"$\log_{10}$ spectral radius of $J$ ($\geq 0$: $\det J = 1$)"
        )
        _overlay(axes[0], data, legend=True)
        for sign, paper, true in zip(
            data["quadrant_signs"], data["quadrant_paper"], data["quadrant_true"], strict=True
        ):
            x = 1.25 if sign[0] == "+" else -1.25
            y = 2.05 if sign[1] == "+" else -2.05
            axes[0].text(
                x,
                y,
                f"paper: {paper}\ntrue J: {VERDICT_TEXT.get(true, true)}",
                ha="center",
                va="center",
                fontsize=6.5,
                bbox=dict(fc="white", ec="0.6", alpha=0.85, lw=0.5),
            )
        axes[0].set_title(r"spectral radius ($\log_{10}$)")

        with np.errstate(divide="ignore", invalid="ignore"):
            im = axes[1].imshow(
                np.log10(data["period"]), origin="lower", extent=ext, cmap=SEQUENTIAL
            )
        fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.03).set_label(
            r"$\log_{10}$ period (steps)"
        )
        _overlay(axes[1], data)
        axes[1].set_title("oscillation period where the pair is complex")

        cmap = plt.get_cmap(SEQUENTIAL).with_extremes(bad="0.8")
        im = axes[2].imshow(
            np.ma.masked_invalid(data["log10_sup"]),
            origin="lower",
            extent=ext,
            cmap=cmap,
            vmin=0.0,
            vmax=SUP_VMAX,
        )
        fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.03, extend="max").set_label(
            rf"$\log_{{10}} \sup_{{k \leq {int(data['sup_kmax'])}}} \|J^k\|_2$"
        )
        _overlay(axes[2], data)
        axes[2].set_title("transient amplification (grey: growing)")
        for ax, letter in zip(axes, "abc", strict=True):
            panel_label(ax, letter)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4)
    return fig


def make(out_dir: Path, n: int = GRID_N, scale: int = 32, sup_kmax: int = SUP_KMAX) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(n, scale, sup_kmax)
    return save_all(plot(data), out_dir, NAME, data)
