"""Gradient norm versus temporal distance for single sub-threshold neurons, with the theory's
closed forms (sections 1 and 2) drawn over the computed points."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.analysis.flow import log10_product_norms
from lstmlif.analysis.paper import PAPER_SETTINGS
from lstmlif.analysis.stability import (
    lstmlif_power_closed_form,
    lstmlif_theta,
    subthreshold_jacobian,
)
from lstmlif.neurons import ALIF, LIF, LSTMLIF

from .files import save_all
from .style import COLORS, OKABE_ITO, model_color, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "gradient_distance"
ORDER = 1
CAPTION = (
    "Sub-threshold gradient reach of single neurons: log10 ||d x[T] / d x[T-k]||_2 against the "
    "temporal distance k (steps), computed as log-space products of the one-step Jacobian taken "
    "from the step function (markers), with the closed forms of the theory (section 2) drawn "
    "over them (lines). "
    "(a) LIF with alpha = 0.8 and exp(-1/20), slope log10(alpha) per step (0.8^10000 = "
    "10^-969.1) and ALIF's membrane channel (tau_m = 20, the same line as LIF exp(-1/20)); "
    "(b) ALIF's adaptation channel for tau_a = 200 and 700, slopes -1/(tau_a ln 10). "
    "(c, d) LSTM-LIF at the paper's four (beta1, beta2) settings: "
    "det J = 1 and a complex pair on the unit circle, so the norm neither vanishes nor explodes; "
    "it rotates between 1 (dotted, since det J = 1) and the closed-form bound "
    "sqrt(2/cos^2(theta/2) + (beta1^2 + beta2^2)/sin^2(theta)) (dashed) for all k up to 10,000; "
    "(d) shows every step: the lines are the minimum and maximum over each 50 steps. "
    "In (a) LIF with alpha = exp(-1/20) (wide line, squares) and ALIF's membrane (dashed, "
    "triangles) coincide."
)


def lstmlif_settings() -> dict[str, tuple[float, float]]:
    """The paper's four (beta1, beta2) settings by name."""
    return {name: tuple(s["betas"]) for name, s in PAPER_SETTINGS.items()}


def lstmlif_bound(beta1: float, beta2: float) -> float:
    """Upper bound on ||J^k||_2 for all k from the closed-form entries (Frobenius norm of the
    entry-wise maxima): sqrt(2 / cos^2(theta/2) + (beta1^2 + beta2^2) / sin^2(theta))."""
    theta = float(lstmlif_theta(beta1, beta2))
    return math.sqrt(2.0 / math.cos(theta / 2) ** 2 + (beta1**2 + beta2**2) / math.sin(theta) ** 2)


def _powers(J: np.ndarray, kmax: int) -> np.ndarray:
    """log10 ||J^k||_2 for k = 1..kmax, J (..., n, n) -> (kmax, ...)."""
    return log10_product_norms(np.broadcast_to(J, (kmax, *J.shape)), ord=2)


def compute(kmax: int = 10000) -> dict[str, np.ndarray]:
    """Computed curves (``*/computed``, k = 1..kmax) and closed forms (``*/closed``)."""
    if not isinstance(kmax, int) or kmax < 2:
        raise ValueError(f"gradient_distance: kmax must be an int >= 2, got {kmax!r}")
    k = np.arange(1, kmax + 1)
    data: dict[str, np.ndarray] = {"k": k}
    for label, model in (("lif_0.8", LIF(alpha=0.8)), ("lif_tau20", LIF(tau_m=20.0))):
        J = subthreshold_jacobian(model)
        alpha = 0.8 if label == "lif_0.8" else math.exp(-1 / 20)
        data[f"{label}/computed"] = _powers(J, kmax)
        data[f"{label}/closed"] = k * math.log10(alpha)
    for tau_a in (200.0, 700.0):
        J = subthreshold_jacobian(ALIF(tau_m=20.0, tau_a=tau_a))
        if J[0, 1] != 0 or J[1, 0] != 0:
            raise RuntimeError("ALIF's sub-threshold Jacobian should be diagonal")
        for ch, idx, tau in (("membrane", 0, 20.0), ("adaptation", 1, tau_a)):
            key = f"alif_tau_a{int(tau_a)}/{ch}"
            data[f"{key}/computed"] = _powers(J[idx : idx + 1, idx : idx + 1], kmax)
            data[f"{key}/closed"] = -k / (tau * math.log(10))
    settings = lstmlif_settings()
    betas = np.array(list(settings.values()))
    data["lstmlif/betas"] = betas
    J = subthreshold_jacobian(LSTMLIF(beta1=betas[:, 0], beta2=betas[:, 1]))
    data["lstmlif/computed"] = _powers(J, kmax)
    closed = lstmlif_power_closed_form(betas[:, 0][None], betas[:, 1][None], k[:, None])
    data["lstmlif/closed"] = np.log10(np.linalg.svd(closed, compute_uv=False)[..., 0])
    data["lstmlif/bound"] = np.log10([lstmlif_bound(b1, b2) for b1, b2 in betas])
    kk = np.linspace(1, min(kmax, 60), 600)
    data["lstmlif/k_smooth"] = kk
    data["lstmlif/closed_smooth"] = np.log10(
        np.linalg.svd(_closed_real_k(betas, kk), compute_uv=False)[..., 0]
    )
    return data


def _closed_real_k(betas: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The closed-form entries evaluated at real k (a smooth curve through the integer points)."""
    b1, b2 = betas[:, 0][None], betas[:, 1][None]
    theta = lstmlif_theta(b1, b2)
    kk = k[:, None]
    out = np.empty((len(k), len(betas), 2, 2))
    out[..., 0, 0] = np.cos((kk - 0.5) * theta) / np.cos(theta / 2)
    out[..., 1, 1] = np.cos((kk + 0.5) * theta) / np.cos(theta / 2)
    out[..., 0, 1] = b1 * np.sin(kk * theta) / np.sin(theta)
    out[..., 1, 0] = b2 * np.sin(kk * theta) / np.sin(theta)
    return out


YLABEL = r"$\log_{10}\,\|\partial x_T\,/\,\partial x_{T-k}\|_2$"
XLABEL = r"temporal distance $k$ (steps)"


def envelope(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first k of each bin, min, max) of ``values`` (k = 1..K along axis 0) over consecutive
    bins of ``width`` steps: every step is inside its bin's band, so nothing is aliased."""
    n = len(values) // width * width
    if n == 0:
        raise ValueError(f"envelope: width {width} exceeds the {len(values)} values")
    bins = values[:n].reshape(n // width, width, *values.shape[1:])
    start = 1 + width * np.arange(n // width)
    return start, bins.min(axis=1), bins.max(axis=1)


def plot(data: dict[str, np.ndarray]) -> Figure:
    """(a) LIF, ALIF membrane; (b) ALIF adaptation; (c) LSTM-LIF, first 60 steps; (d) all k as
    the min-max envelope of every step."""
    k = data["k"]
    kmax = int(k[-1])
    every = max(1, kmax // 20)
    with style():
        fig, grid = plt.subplots(2, 2, figsize=(10.5, 7.4))
        axes = grid.ravel()
        # (key, label, colour, marker, line style, line width, marker offset): LIF exp(-1/20) and
        # ALIF's membrane (tau_m = 20) are the same line, drawn wide underneath and dashed on
        # top, with their markers at alternating k, so both stay visible.
        groups = (
            (
                axes[0],
                "LIF and ALIF membrane: exponential vanishing",
                [
                    ("lif_0.8", r"LIF, $\alpha = 0.8$", model_color("lif"), "o", "-", 1.2, 0),
                    (
                        "lif_tau20",
                        r"LIF, $\alpha = e^{-1/20}$",
                        OKABE_ITO["sky"],
                        "s",
                        "-",
                        4.0,
                        0,
                    ),
                    (
                        "alif_tau_a200/membrane",
                        r"ALIF membrane, $\tau_m = 20$ (the same slope)",
                        model_color("alif"),
                        "^",
                        "--",
                        1.3,
                        every // 2,
                    ),
                ],
            ),
            (
                axes[1],
                r"ALIF adaptation channel ($\tau_m = 20$)",
                [
                    (
                        "alif_tau_a200/adaptation",
                        r"$\tau_a = 200$",
                        OKABE_ITO["orange"],
                        "v",
                        "-",
                        1.2,
                        0,
                    ),
                    (
                        "alif_tau_a700/adaptation",
                        r"$\tau_a = 700$",
                        OKABE_ITO["purple"],
                        "D",
                        "-",
                        1.2,
                        0,
                    ),
                ],
            ),
        )
        for ax, title, curves in groups:
            for key, label, color, marker, ls, lw, offset in curves:
                sel = slice(every - 1 - offset, None, every)
                ax.plot(k, data[f"{key}/closed"], color=color, lw=lw, ls=ls, label=label)
                ax.plot(k[sel], data[f"{key}/computed"][sel], marker, color=color, ms=4, mfc="none")
            ax.plot([], [], "ko", mfc="none", ms=4, label="computed (markers)")
            ax.plot([], [], "k-", lw=1.2, label="closed form (lines)")
            ax.set_xlabel(XLABEL)
            ax.set_ylabel(YLABEL)
            ax.set_title(title)
            ax.legend(loc="lower left")
        panel_label(axes[0], "a")
        panel_label(axes[1], "b")

        names = list(lstmlif_settings())
        betas = data["lstmlif/betas"]
        width = max(1, kmax // 200)
        for col, ax in enumerate(axes[2:]):
            for i, name in enumerate(names):
                color = COLORS[i]
                lab = f"{name}: ({betas[i, 0]:.4g}, {betas[i, 1]:.4g})"
                if col == 0:
                    n = min(60, kmax)
                    ax.plot(
                        k[:n], data["lstmlif/computed"][:n, i], "o", color=color, ms=3, mfc="none"
                    )
                    ax.plot(
                        data["lstmlif/k_smooth"],
                        data["lstmlif/closed_smooth"][:, i],
                        color=color,
                        lw=1.1,
                        label=lab,
                    )
                else:
                    start, lo, hi = envelope(data["lstmlif/computed"][:, i], width)
                    ax.fill_between(start, lo, hi, step="post", color=color, alpha=0.08, lw=0)
                    ax.step(start, hi, where="post", color=color, lw=1.2, label=lab)
                    ax.step(start, lo, where="post", color=color, lw=0.7)
                ax.axhline(data["lstmlif/bound"][i], color=color, ls="--", lw=0.9)
            ax.axhline(0.0, color="k", ls=":", lw=0.9)
            ax.set_xlabel(XLABEL)
            ax.set_ylabel(YLABEL)
        axes[2].set_title("LSTM-LIF: bounded rotation (first 60 steps)")
        axes[2].legend(
            loc="upper right", fontsize=6.5, title=r"$(\beta_1, \beta_2)$", title_fontsize=7
        )
        axes[3].set_title(f"LSTM-LIF: every k up to {kmax} (min and max of each {width} steps)")
        top = float(np.max(data["lstmlif/bound"]))
        for ax in axes[2:]:
            ax.set_ylim(-0.1, top * 1.35 + 0.05)
        panel_label(axes[2], "c")
        panel_label(axes[3], "d")
        fig.tight_layout()
    return fig


def make(out_dir: Path, kmax: int = 10000) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(kmax)
    return save_all(plot(data), out_dir, NAME, data)
