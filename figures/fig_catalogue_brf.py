"""Stability maps of the resonators: BRF over (omega, |b_offset|), RF over the same axes, and both
in the damping coordinate b, the spectral radius of the sub-threshold J at rest taken from each
step function, with the catalogue's boundaries p(omega) and p^-(omega) drawn over it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from lstmlif.analysis.stability import spectral_radius
from lstmlif.neurons.catalogue.brf import (
    BRF,
    BRF_INIT,
    RF,
    divergence_boundary,
    lower_boundary,
)

from .files import save_all
from .style import DIVERGING, OKABE_ITO, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "catalogue_brf"
ORDER = 22
CAPTION = (
    "Sub-threshold stability of the resonate-and-fire neurons at dt = 0.01: colour is log10 of "
    "the spectral radius of the one-step Jacobian J at rest, taken from each model's step "
    "function (blue: decays, red: grows), with the catalogue's boundaries drawn over it "
    "(black). The oscillating pair is 1 + dt b +- i dt omega with damping b; |lambda| < 1 iff "
    "p^-(omega) < b < p(omega), p(omega) = (-1 + sqrt(1 - (dt omega)^2))/dt and p^-(omega) = "
    "(-1 - sqrt(1 - (dt omega)^2))/dt. (a) BRF over (omega, |b_offset|) (symmetric-log axis): "
    "b = p(omega) - |b_offset|, so |b_offset| = 0 is exactly the upper boundary p(omega) "
    "(|lambda| = 1) and the lower one p^- is |b_offset| = 2 sqrt(1 - (dt omega)^2)/dt; BRF's "
    "third eigenvalue 0.9 bounds the radius below. Dashed boxes: the official initialisation "
    "ranges (S/PS-MNIST, SHD, ECG), all inside the decaying band. (b) RF over the same axes: "
    "b = -|b_offset|, stable iff -p(omega) < |b_offset| < -p^-(omega), i.e. it grows iff "
    "dt omega^2 > |b_offset| (2 - dt |b_offset|) (roughly omega^2 > 200 |b_offset|): most of the "
    "S/PS-MNIST box grows. (c) Both in the damping coordinate b (computed from RF with "
    "|b_offset| = -b): the disc |lambda| < 1 between p^- and p; dashed: BRF's b = p(omega) - "
    "|b_offset| at |b_offset| = 0.1, 1 and 3, just below the upper boundary (symmetric-log "
    "axis)."
)

DT = 0.01
CLIP = 0.05  # colour limits of log10 rho


def b_offset_grid(n: int) -> np.ndarray:
    """|b_offset| from 0 to 250: linear on [0, 1], logarithmic above."""
    return np.unique(
        np.concatenate([np.linspace(0.0, 1.0, n // 4 + 1), np.logspace(0, np.log10(250.0), n)])
    )


def compute(n: int = 160) -> dict[str, np.ndarray]:
    """Grids (columns omega, rows the y axis), spectral radii and boundary curves.

    ``omega`` (n); ``c`` (|b_offset| grid); ``brf/rho``, ``rf/rho`` (len(c), n);
    ``brf/upper`` (= 0: p(omega)), ``brf/lower`` (2 sqrt(1 - (dt omega)^2)/dt: p^-);
    ``rf/lower`` (-p(omega)), ``rf/upper`` (-p^-(omega)); ``b`` (damping grid), ``b/rho``
    (len(b), n), ``p``, ``p_minus`` on the omega grid and ``brf_b/<c>`` the BRF dampings
    p(omega) - c for c in 0.1, 1, 3."""
    if not isinstance(n, int) or n < 8:
        raise ValueError(f"catalogue_brf: n must be an int >= 8, got {n!r}")
    omega = np.linspace(0.5, 100.0, n)
    c = b_offset_grid(n)
    W, C = np.meshgrid(omega, c, indexing="xy")
    data: dict[str, np.ndarray] = {"omega": omega, "c": c, "dt": np.asarray(DT)}
    data["brf/rho"] = spectral_radius(BRF(omega=W, b_offset=C, dt=DT))
    data["rf/rho"] = spectral_radius(RF(omega=W, b_offset=C, dt=DT))
    p, pm = divergence_boundary(omega, DT), lower_boundary(omega, DT)
    data["p"], data["p_minus"] = p, pm
    data["brf/upper"] = np.zeros_like(omega)
    data["brf/lower"] = p - pm
    data["rf/lower"], data["rf/upper"] = -p, -pm
    b = -np.unique(
        np.concatenate([np.linspace(0.0, 1.0, n // 4 + 1), np.logspace(0, np.log10(220.0), n)])
    )[::-1]
    Wb, Bb = np.meshgrid(omega, b, indexing="xy")
    data["b"] = b
    data["b/rho"] = spectral_radius(RF(omega=Wb, b_offset=-Bb, dt=DT))
    for off in (0.1, 1.0, 3.0):
        data[f"brf_b/{off:g}"] = p - off
    return data


def _map(ax, x, y, rho, norm):
    with np.errstate(divide="ignore"):
        z = np.clip(np.log10(rho), -CLIP, CLIP)
    im = ax.pcolormesh(x, y, z, cmap=DIVERGING, norm=norm, shading="nearest", rasterized=True)
    ax.grid(False)
    return im


def _boxes(ax) -> None:
    for task, r in BRF_INIT.items():
        (w0, w1), (c0, c1) = r["omega"], r["b_offset"]
        ax.add_patch(
            Rectangle(
                (w0, c0), w1 - w0, c1 - c0, fill=False, ls="--", lw=1.1, ec=OKABE_ITO["black"]
            )
        )
        ax.annotate(task, (w1, c1), fontsize=7, ha="left", va="bottom")


def plot(data: dict[str, np.ndarray]) -> Figure:
    norm = TwoSlopeNorm(vmin=-CLIP, vcenter=0.0, vmax=CLIP)
    omega, c = data["omega"], data["c"]
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.8))
        # BRF's boundary p(omega) bounds the damping from above, RF's from below
        panels = (
            ("brf", "upper", r"$b = p(\omega)$: $|b_{offset}| = 0$", "lower", r"$b = p^-(\omega)$"),
            ("rf", "lower", r"$|b_{offset}| = -p(\omega)$", "upper", r"$-p^-(\omega)$"),
        )
        for ax, (key, solid, solid_label, dotted, dotted_label) in zip(
            axes[:2], panels, strict=True
        ):
            im = _map(ax, omega, c, data[f"{key}/rho"], norm)  # one norm: either feeds the bar
            ax.plot(omega, data[f"{key}/{solid}"], color="k", lw=1.6, label=solid_label)
            ax.plot(omega, data[f"{key}/{dotted}"], color="k", lw=1.6, ls=":", label=dotted_label)
            _boxes(ax)
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(0, c[-1])
            ax.set_xlabel(r"$|\omega|$")
            ax.set_ylabel(r"$|b_{offset}|$")
            ax.set_title(key.upper())
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.72), fontsize=7)
        ax = axes[2]
        _map(ax, omega, data["b"], data["b/rho"], norm)
        ax.plot(omega, data["p"], color="k", lw=1.6, label=r"$p(\omega)$")
        ax.plot(omega, data["p_minus"], color="k", lw=1.6, ls=":", label=r"$p^-(\omega)$")
        for off, ls in (("0.1", "--"), ("1", "-."), ("3", (0, (1, 1)))):
            ax.plot(
                omega,
                data[f"brf_b/{off}"],
                color=OKABE_ITO["orange"],
                ls=ls,
                lw=1.2,
                label=rf"BRF, $|b_{{offset}}|$ = {off}",
            )
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(data["b"][0], 0.0)
        ax.set_xlabel(r"$|\omega|$")
        ax.set_ylabel("damping b")
        ax.set_title("the damping coordinate (RF: b = -|b_offset|)")
        ax.legend(loc="lower left", fontsize=7)
        for ax, letter in zip(axes, "abc", strict=True):
            panel_label(ax, letter)
        fig.tight_layout(rect=(0, 0, 0.93, 1))
        cax = fig.add_axes((0.945, 0.15, 0.01, 0.7))
        fig.colorbar(im, cax=cax, extend="both").set_label(
            r"$\log_{10}$ spectral radius of $J$ (clipped at $\pm$0.05)"
        )
    return fig


def make(out_dir: Path, n: int = 160) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(n)
    return save_all(plot(data), out_dir, NAME, data)
