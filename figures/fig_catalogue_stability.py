"""Stability maps of adLIF (a against beta) and of SE- / EF-adLIF (A = q a against tau_u or
tau_w), the spectral radius of the sub-threshold J taken from each step function, with the
catalogue's analytic boundaries drawn over it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from lstmlif.analysis.stability import spectral_radius
from lstmlif.neurons.catalogue.adlif import ADLIF_INIT, AdLIF
from lstmlif.neurons.catalogue.seadlif import SE_INIT, EFAdLIF, SEAdLIF

from .files import save_all
from .style import DIVERGING, OKABE_ITO, model_color, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "catalogue_stability"
ORDER = 21
CAPTION = (
    "Sub-threshold stability of adLIF and SE- / EF-adLIF: colour is log10 of the spectral "
    "radius of the one-step Jacobian J at rest, taken from each model's step function (blue: "
    "decays, red: grows), with the catalogue's analytic boundaries drawn over it (black). "
    "(a) adLIF over (beta, a) at alpha = 0.8898 (the centre of its official range): "
    "|lambda| < 1 iff a > beta - 1; dashed box: the official initialisation ranges, whose "
    "lower part grows. (b, c) SE-adLIF over A = q a (symmetric-log axis) against tau_u "
    "(tau_w = 60) and tau_w (tau_u = 25): stable iff -1 < A < (1 + alpha)(1 + beta)/D, "
    "D = (1 - alpha)(1 - beta). (d, e) EF-adLIF, the same axes: stable iff "
    "-1 < A < (1 - alpha beta)/D. Dashed boxes: the official ranges tau_u in [5, 25], tau_w in "
    "[60, 300], A in [0, 120] (q = 120). (f) The upper bounds on A of SE and EF against tau_u "
    "for tau_w = 60 and 300, with the official box: EF's bound crosses it, SE's lies far above."
)

ALPHA = 0.5 * sum(ADLIF_INIT["alpha"])
Q = 120.0
TAU_W_FIXED = 60.0
TAU_U_FIXED = 25.0
CLIP = 0.1  # colour limits of log10 rho


def se_upper(tau_u, tau_w):
    """SE-adLIF's upper bound on A: (1 + alpha)(1 + beta) / ((1 - alpha)(1 - beta))."""
    al, be = np.exp(-1 / np.asarray(tau_u, float)), np.exp(-1 / np.asarray(tau_w, float))
    return (1 + al) * (1 + be) / ((1 - al) * (1 - be))


def ef_upper(tau_u, tau_w):
    """EF-adLIF's upper bound on A: (1 - alpha beta) / ((1 - alpha)(1 - beta))."""
    al, be = np.exp(-1 / np.asarray(tau_u, float)), np.exp(-1 / np.asarray(tau_w, float))
    return (1 - al * be) / ((1 - al) * (1 - be))


def A_grid(n: int) -> np.ndarray:
    """A from -3 to 10^4: linear on [-3, 1], logarithmic above."""
    return np.unique(np.concatenate([np.linspace(-3.0, 1.0, n // 4 + 1), np.logspace(0, 4, n)]))


def compute(n: int = 160) -> dict[str, np.ndarray]:
    """Grids and spectral radii (rows: the y axis) and the boundary curves.

    ``adlif/beta``, ``adlif/a``, ``adlif/rho``, ``adlif/boundary`` (a = beta - 1 on the beta
    grid); for m in (se, ef) and x in (tau_u, tau_w): ``m_x/x``, ``m_x/A``, ``m_x/rho``,
    ``m_x/upper`` (the analytic upper bound on the x grid); ``bounds/tau_u`` and the SE / EF
    upper bounds at tau_w = 60 and 300."""
    if not isinstance(n, int) or n < 8:
        raise ValueError(f"catalogue_stability: n must be an int >= 8, got {n!r}")
    data: dict[str, np.ndarray] = {}
    beta = np.linspace(0.95, 0.9999, n)
    a = np.linspace(-1.0, 1.0, n + 1)
    B, Aa = np.meshgrid(beta, a, indexing="xy")
    data["adlif/beta"], data["adlif/a"] = beta, a
    data["adlif/rho"] = spectral_radius(AdLIF(alpha=ALPHA, beta=B, a=Aa, b=1.0))
    data["adlif/boundary"] = beta - 1.0
    data["adlif/alpha"] = np.asarray(ALPHA)
    A = A_grid(n)
    axes = {
        "tau_u": (np.linspace(2.0, 40.0, n), {"tau_w": TAU_W_FIXED}),
        "tau_w": (np.linspace(20.0, 400.0, n), {"tau_u": TAU_U_FIXED}),
    }
    for key, cls, bound in (("se", SEAdLIF, se_upper), ("ef", EFAdLIF, ef_upper)):
        for x_name, (x, fixed) in axes.items():
            X, AA = np.meshgrid(x, A, indexing="xy")
            taus = {x_name: X, **{k: np.full(X.shape, v) for k, v in fixed.items()}}
            model = cls(**taus, a=AA / Q, q=Q)
            tag = f"{key}_{x_name}"
            data[f"{tag}/x"], data[f"{tag}/A"] = x, A
            data[f"{tag}/rho"] = spectral_radius(model)
            tu = x if x_name == "tau_u" else TAU_U_FIXED
            tw = x if x_name == "tau_w" else TAU_W_FIXED
            data[f"{tag}/upper"] = bound(tu, tw)
    tau_u = np.linspace(2.0, 40.0, 400)
    data["bounds/tau_u"] = tau_u
    for tw in (60.0, 300.0):
        data[f"bounds/se_tau_w{int(tw)}"] = se_upper(tau_u, tw)
        data[f"bounds/ef_tau_w{int(tw)}"] = ef_upper(tau_u, tw)
    return data


def _map(ax, x, y, rho, fig, norm) -> None:
    with np.errstate(divide="ignore"):
        z = np.clip(np.log10(rho), -CLIP, CLIP)
    im = ax.pcolormesh(x, y, z, cmap=DIVERGING, norm=norm, shading="nearest", rasterized=True)
    ax.grid(False)
    return im


def _box(ax, x0, x1, y0, y1) -> None:
    ax.add_patch(
        Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=1.1, ec=OKABE_ITO["black"])
    )


def plot(data: dict[str, np.ndarray]) -> Figure:
    norm = TwoSlopeNorm(vmin=-CLIP, vcenter=0.0, vmax=CLIP)
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(14.0, 8.2))
        ax = axes[0, 0]
        im = _map(ax, data["adlif/beta"], data["adlif/a"], data["adlif/rho"], fig, norm)
        ax.plot(data["adlif/beta"], data["adlif/boundary"], color="k", lw=1.4, label="a = beta - 1")
        _box(ax, *ADLIF_INIT["beta"], *ADLIF_INIT["a"])
        ax.set_xlabel(r"$\beta$ (adaptation decay)")
        ax.set_ylabel("a (coupling u -> w)")
        ax.set_title(rf"adLIF, $\alpha$ = {float(data['adlif/alpha']):.4f}")
        ax.legend(loc="upper left")
        panels = [
            (axes[0, 1], "se_tau_u", r"$\tau_u$ (steps)", rf"SE-adLIF, $\tau_w$ = {TAU_W_FIXED:g}"),
            (axes[0, 2], "se_tau_w", r"$\tau_w$ (steps)", rf"SE-adLIF, $\tau_u$ = {TAU_U_FIXED:g}"),
            (axes[1, 0], "ef_tau_u", r"$\tau_u$ (steps)", rf"EF-adLIF, $\tau_w$ = {TAU_W_FIXED:g}"),
            (axes[1, 1], "ef_tau_w", r"$\tau_w$ (steps)", rf"EF-adLIF, $\tau_u$ = {TAU_U_FIXED:g}"),
        ]
        for ax, tag, xlabel, title in panels:
            x, A = data[f"{tag}/x"], data[f"{tag}/A"]
            _map(ax, x, A, data[f"{tag}/rho"], fig, norm)
            ax.plot(x, data[f"{tag}/upper"], color="k", lw=1.4)
            ax.axhline(-1.0, color="k", lw=1.4)
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(A[0], A[-1])
            x_name = tag.split("_", 1)[1]
            lo, hi = SE_INIT[x_name]
            _box(ax, lo, hi, 0.0, Q)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("A = q a")
            ax.set_title(title)
        ax = axes[1, 2]
        tu = data["bounds/tau_u"]
        for tw, ls in ((60, "-"), (300, "--")):
            ax.plot(
                tu,
                data[f"bounds/se_tau_w{tw}"],
                ls=ls,
                color=model_color("se-adlif"),
                label=rf"SE, $\tau_w$ = {tw}",
            )
            ax.plot(
                tu,
                data[f"bounds/ef_tau_w{tw}"],
                ls=ls,
                color=model_color("ef-adlif"),
                label=rf"EF, $\tau_w$ = {tw}",
            )
        _box(ax, *SE_INIT["tau_u"], 0.0, Q)
        ax.set_yscale("log")
        ax.set_xlabel(r"$\tau_u$ (steps)")
        ax.set_ylabel("upper bound on A")
        ax.set_title("upper stability bounds on A")
        ax.legend(loc="upper left")
        for ax, letter in zip(axes.ravel(), "abcdef", strict=True):
            panel_label(ax, letter)
        fig.tight_layout(rect=(0, 0, 0.93, 1))
        cax = fig.add_axes((0.945, 0.15, 0.012, 0.7))
        fig.colorbar(im, cax=cax, extend="both").set_label(
            r"$\log_{10}$ spectral radius of $J$ (clipped at $\pm$0.1)"
        )
    return fig


def make(out_dir: Path, n: int = 160) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(n)
    return save_all(plot(data), out_dir, NAME, data)
