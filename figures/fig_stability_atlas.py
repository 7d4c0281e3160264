"""Stability atlas of the general two-compartment neuron over its leaks (alpha1, alpha2) for a
few couplings (beta1, beta2), and ALIF's memory horizons over (tau_m, tau_a)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from lstmlif.analysis.stability import LABELS, classify, memory_horizon, spectral_radius
from lstmlif.neurons import ALIF, TwoCompartment

from .files import save_all
from .style import OKABE_ITO, SEQUENTIAL, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "stability_atlas"
ORDER = 5
CAPTION = (
    "Stability atlas of the general two-compartment neuron (paper eqs. 7-9) below threshold. "
    "Top row: regions over the leaks (alpha1, alpha2) in (0, 1]^2 for four couplings (beta1, "
    "beta2), classified by the Jury / Schur-Cohn conditions |det J| < 1, |tr J| < 1 + det J on "
    "J = [[alpha1, beta1], [alpha1 beta2, alpha2 + beta1 beta2]]: decaying (real eigenvalues "
    "inside the unit circle), oscillating-decaying (complex pair inside, |lambda| = "
    "sqrt(alpha1 alpha2)), marginal (on the circle) and growing. Middle row: the numerically "
    "computed spectral radius behind them (log10), with the rho = 1 contour. The corner alpha1 = "
    "alpha2 = 1 is LSTM-LIF (star; for beta1 beta2 in [-4, 0] the only marginal point). "
    "Bottom: ALIF's memory horizon -1/ln rho(J) = max(tau_m, tau_a) "
    "steps over (tau_m, tau_a) (dt = 1), and the horizons against tau_a for tau_m = 20."
)

COUPLINGS = ((-0.5, 0.5), (0.5, 0.5), (-0.5, -0.5), (-2.5, 2.0))
REGION_COLORS = {
    "decaying": OKABE_ITO["sky"],
    "oscillating-decaying": OKABE_ITO["green"],
    "marginal": OKABE_ITO["yellow"],
    "growing": OKABE_ITO["vermillion"],
}


def compute(n_alpha: int = 200, n_tau: int = 120) -> dict[str, np.ndarray]:
    """``alpha`` (n_alpha,) in (0, 1] (the last value exactly 1); per coupling c:
    ``c{i}/label`` and ``c{i}/rho`` (rows alpha2, columns alpha1); ``couplings``;
    ALIF: ``tau`` (n_tau,) log-spaced in [2, 2000], ``alif_horizon`` (rows tau_a, columns
    tau_m)."""
    if not (isinstance(n_alpha, int) and n_alpha >= 2 and isinstance(n_tau, int) and n_tau >= 2):
        raise ValueError("stability_atlas: n_alpha and n_tau must be ints >= 2")
    alpha = np.arange(1, n_alpha + 1) / n_alpha
    A1, A2 = np.meshgrid(alpha, alpha, indexing="xy")
    data: dict[str, np.ndarray] = {"alpha": alpha, "couplings": np.array(COUPLINGS)}
    for i, (b1, b2) in enumerate(COUPLINGS):
        model = TwoCompartment(alpha1=A1, alpha2=A2, beta1=b1, beta2=b2)
        data[f"c{i}/label"] = classify(model)
        data[f"c{i}/rho"] = spectral_radius(model)
    tau = np.geomspace(2.0, 2000.0, n_tau)
    TM, TA = np.meshgrid(tau, tau, indexing="xy")
    data["tau"] = tau
    data["alif_horizon"] = memory_horizon(ALIF(tau_m=TM, tau_a=TA))
    tau_a = np.geomspace(10.0, 2000.0, 60)
    data["alif_line_tau_a"] = tau_a
    data["alif_line_horizon"] = memory_horizon(ALIF(tau_m=20.0, tau_a=tau_a))
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Rows: regions, log10 rho, ALIF horizons; columns: the couplings."""
    alpha = data["alpha"]
    ext = (0.0, 1.0, 0.0, 1.0)
    n = len(data["couplings"])
    cmap = ListedColormap([REGION_COLORS[lab] for lab in LABELS])
    norm = BoundaryNorm(np.arange(len(LABELS) + 1) - 0.5, len(LABELS))
    with style():
        fig = plt.figure(figsize=(3.0 * n, 9.6))
        gs = fig.add_gridspec(3, n, height_ratios=[1, 1, 1.05])
        letters = iter("ijkl")
        for i, (b1, b2) in enumerate(data["couplings"]):
            labels = data[f"c{i}/label"]
            codes = np.vectorize(LABELS.index)(labels)
            ax = fig.add_subplot(gs[0, i])
            ax.imshow(
                codes, origin="lower", extent=ext, cmap=cmap, norm=norm, interpolation="nearest"
            )
            ax.set_title(rf"$(\beta_1, \beta_2) = ({b1:g}, {b2:g})$")
            ax2 = fig.add_subplot(gs[1, i])
            with np.errstate(divide="ignore"):
                lr = np.log10(data[f"c{i}/rho"])
            im = ax2.imshow(lr, origin="lower", extent=ext, cmap=SEQUENTIAL)
            if lr.min() < 0 < lr.max():
                ax2.contour(alpha, alpha, lr, levels=[0.0], colors="w", linewidths=1.2)
            fig.colorbar(im, ax=ax2, fraction=0.046, pad=0.03).set_label(
                r"$\log_{10}$ spectral radius"
            )
            ax2.set_title(r"$\log_{10}$ spectral radius $\rho(J)$")
            for a in (ax, ax2):
                a.set_xlabel(r"$\alpha_1$ (dendritic leak per step)")
                a.set_ylabel(r"$\alpha_2$ (somatic leak per step)")
                a.grid(False)
                a.plot([1.0], [1.0], "k*", ms=8, clip_on=False)
                a.set_aspect("equal")
            panel_label(ax, "abcd"[i])
            panel_label(ax2, "efgh"[i])
        fig.legend(
            [Patch(color=REGION_COLORS[lab]) for lab in LABELS]
            + [plt.Line2D([], [], marker="*", color="k", ls="", ms=8)],
            [*LABELS, r"LSTM-LIF ($\alpha_1 = \alpha_2 = 1$)"],
            loc="upper center",
            ncol=5,
        )
        tau = data["tau"]
        ax = fig.add_subplot(gs[2, : max(1, n // 2)])
        im = ax.pcolormesh(
            tau, tau, np.log10(data["alif_horizon"]), cmap=SEQUENTIAL, shading="nearest"
        )
        ax.contour(
            tau, tau, np.log10(data["alif_horizon"]), levels=[1, 2, 3], colors="w", linewidths=0.8
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\tau_m$ (steps)")
        ax.set_ylabel(r"$\tau_a$ (steps)")
        ax.set_title(r"ALIF memory horizon $-1/\ln \rho(J)$")
        ax.grid(False)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(r"$\log_{10}$ horizon (steps)")
        panel_label(ax, next(letters))
        ax = fig.add_subplot(gs[2, max(1, n // 2) :])
        ax.loglog(
            data["alif_line_tau_a"],
            data["alif_line_horizon"],
            "o",
            ms=3.5,
            mfc="none",
            color=OKABE_ITO["green"],
            label=r"computed, $\tau_m = 20$",
        )
        ax.loglog(
            data["alif_line_tau_a"],
            np.maximum(20.0, data["alif_line_tau_a"]),
            "-",
            color="k",
            lw=1,
            label=r"$\max(\tau_m, \tau_a)$",
        )
        for t, lab in ((200.0, r"$\tau_a = 200$"), (700.0, r"$\tau_a = 700$")):
            ax.axvline(t, color="0.5", ls=":", lw=1)
            ax.text(t, 12, lab, rotation=90, fontsize=7, va="bottom", ha="right")
        ax.set_xlabel(r"$\tau_a$ (steps)")
        ax.set_ylabel("memory horizon (steps)")
        ax.set_title(r"ALIF horizon against $\tau_a$")
        ax.legend(loc="upper left")
        panel_label(ax, next(letters))
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def make(out_dir: Path, n_alpha: int = 200, n_tau: int = 120) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(n_alpha, n_tau)
    return save_all(plot(data), out_dir, NAME, data)
