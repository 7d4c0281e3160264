"""The paper's per-step matrix P (its eq. 14) against the true one-step Jacobian J, and its
criterion f (eq. 15) against the true spectral radius over the second quadrant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from lstmlif.analysis.flow import log10_product_norms
from lstmlif.analysis.paper import PAPER_SETTINGS, TABLE7, paper_f, paper_matrix
from lstmlif.analysis.stability import spectral_radius, subthreshold_jacobian
from lstmlif.neurons import LSTMLIF

from .files import save_all
from .style import COLORS, DIVERGING, OKABE_ITO, SEQUENTIAL, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "paper_matrix"
ORDER = 8
CAPTION = (
    "The paper's matrix against the true Jacobian. (a) log10 ||P^k||_2 (dashed) and "
    "log10 ||J^k||_2 (solid) against k for the paper's four (beta1, beta2) settings, P = "
    "[[1 + beta1 beta2, beta1], [2 beta2 + beta1 beta2^2, 1 + beta1 beta2]] (eq. 14) and J = "
    "[[1, beta1], [beta2, 1 + beta1 beta2]] from the step function: both have det = 1, but "
    "tr P = 2 + 2 beta1 beta2, so P rotates at a different frequency (and grows once beta1 beta2 "
    "< -2). (b) The paper's criterion f = beta1 beta2^2 + beta1 beta2 + 2 beta2 + 1 over the "
    "second quadrant (diverging colour centred on f = 1, dashed: f = 1; black: beta1 beta2 = -4; "
    "circles: Table 7, diamonds: settings). "
    "(c) log10 spectral radius of the true J over the same quadrant: exactly 0 wherever "
    "beta1 beta2 >= -4 (black line), whatever f says. (d) Every grid point of the second "
    "quadrant: f against rho(J) and rho(P); rho(J) = 1 across the bounded region "
    "beta1 beta2 >= -4 while f there takes values on both sides of 1, so f does not track the "
    "true spectrum."
)


def compute(kmax: int = 60, n: int = 161) -> dict[str, np.ndarray]:
    """``P_log10`` and ``J_log10`` (kmax, 4): log10 norms of powers k = 1..kmax for the
    settings; second-quadrant grid ``b1`` (n,) in [-2.5, 0), ``b2`` (n,) in (0, 2.5], maps
    ``f``, ``rho_J``, ``rho_P`` (rows beta2, columns beta1)."""
    if not (isinstance(kmax, int) and kmax >= 2 and isinstance(n, int) and n >= 3):
        raise ValueError("paper_matrix: kmax and n must be ints >= 2 and >= 3")
    betas = np.array([s["betas"] for s in PAPER_SETTINGS.values()])
    P = paper_matrix(betas[:, 0], betas[:, 1])
    J = subthreshold_jacobian(LSTMLIF(beta1=betas[:, 0], beta2=betas[:, 1]))
    data: dict[str, np.ndarray] = {
        "k": np.arange(1, kmax + 1),
        "betas": betas,
        "names": np.array(list(PAPER_SETTINGS)),
        "P_log10": log10_product_norms(np.broadcast_to(P, (kmax, *P.shape))),
        "J_log10": log10_product_norms(np.broadcast_to(J, (kmax, *J.shape))),
    }
    b1 = -2.5 + 2.5 * np.arange(n) / n  # [-2.5, 0)
    b2 = 2.5 * np.arange(1, n + 1) / n  # (0, 2.5]
    B1, B2 = np.meshgrid(b1, b2, indexing="xy")
    data.update(
        b1=b1,
        b2=b2,
        f=paper_f(B1, B2),
        rho_J=spectral_radius(LSTMLIF(beta1=B1, beta2=B2)),
        rho_P=np.max(np.abs(np.linalg.eigvals(paper_matrix(B1, B2))), axis=-1),
        table7=np.array([[a, b, v] for (a, b), v in TABLE7.items()]),
    )
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """(a) power norms, (b) f map, (c) rho(J) map, (d) f against rho."""
    b1, b2 = data["b1"], data["b2"]
    ext = (b1[0], 0.0, 0.0, b2[-1])
    with style():
        fig, axes = plt.subplots(1, 4, figsize=(17.0, 4.4))
        ax = axes[0]
        for i, name in enumerate(data["names"]):
            lab = f"{name} ({data['betas'][i, 0]:.4g}, {data['betas'][i, 1]:.4g})"
            ax.plot(data["k"], data["J_log10"][:, i], color=COLORS[i], label=f"$J$, {lab}")
            ax.plot(data["k"], data["P_log10"][:, i], color=COLORS[i], ls="--", lw=1.0)
        ax.plot([], [], "k--", lw=1.0, label=r"$P$ (paper's eq. 14), same colours")
        ax.set_xlabel(r"$k$ (steps)")
        ax.set_ylabel(r"$\log_{10} \|M^k\|_2$")
        ax.set_title(r"powers of $P$ and of the true $J$")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.55 * (hi - lo))  # room above the curves for the legend
        ax.legend(loc="upper right", fontsize=6)
        panel_label(ax, "a")

        def marks(ax):
            t7 = data["table7"]
            ax.plot(t7[:, 0], t7[:, 1], "o", ms=3.5, mfc="white", mec="k", mew=0.8)
            ax.plot(
                data["betas"][:, 0],
                data["betas"][:, 1],
                "D",
                ms=4.5,
                mfc=OKABE_ITO["yellow"],
                mec="k",
                mew=0.8,
            )
            x = np.linspace(-2.5, -1.6, 200)
            ax.plot(x, -4 / x, "k-", lw=1.1)
            ax.set_xlim(ext[0], ext[1])
            ax.set_ylim(ext[2], ext[3])
            ax.set_xlabel(r"$\beta_1$ (dimensionless)")
            ax.set_ylabel(r"$\beta_2$ (dimensionless)")
            ax.set_aspect("equal")
            ax.grid(False)

        ax = axes[1]
        f = data["f"]
        norm = TwoSlopeNorm(vmin=min(float(f.min()), 0.0), vcenter=1.0, vmax=float(f.max()))
        im = ax.imshow(f, origin="lower", extent=ext, cmap=DIVERGING, norm=norm)
        ax.contour(b1, b2, f, levels=[1.0], colors=["k"], linestyles="--")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(
            r"$f$ (dimensionless; diverging about $f = 1$, white)"
        )
        marks(ax)
        ax.set_title(r"paper's criterion $f$ (eq. 15)")
        panel_label(ax, "b")

        ax = axes[2]
        im = ax.imshow(np.log10(data["rho_J"]), origin="lower", extent=ext, cmap=SEQUENTIAL)
        ax.contour(b1, b2, f, levels=[1.0], colors=[OKABE_ITO["vermillion"]], linestyles="--")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(r"$\log_{10} \rho(J)$")
        marks(ax)
        ax.set_title(r"true spectral radius $\rho(J)$")
        panel_label(ax, "c")

        ax = axes[3]
        ax.plot(
            f.ravel(),
            data["rho_P"].ravel(),
            ".",
            ms=1.5,
            color=OKABE_ITO["sky"],
            label=r"$\rho(P)$, the paper's matrix",
        )
        ax.plot(
            f.ravel(),
            data["rho_J"].ravel(),
            ".",
            ms=1.5,
            color=OKABE_ITO["vermillion"],
            label=r"$\rho(J)$, the true Jacobian",
        )
        ax.axvline(1.0, color="k", ls=":", lw=1)
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("log")
        ax.set_xlabel(r"$f(\beta_1, \beta_2)$ (dimensionless, symlog)")
        ax.set_ylabel("spectral radius (dimensionless)")
        ax.set_title(r"second quadrant: $f$ against spectral radii")
        ax.legend(loc="upper left", markerscale=5)
        panel_label(ax, "d")
        fig.tight_layout()
    return fig


def make(out_dir: Path, kmax: int = 60, n: int = 161) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(kmax, n)
    return save_all(plot(data), out_dir, NAME, data)
