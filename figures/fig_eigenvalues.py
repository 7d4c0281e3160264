"""Eigenvalues of the sub-threshold Jacobian in the complex plane as beta1*beta2 sweeps from 0.5
to -4.5 (LSTM-LIF), beside LIF and ALIF."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.analysis.stability import eigenvalues, subthreshold_jacobian
from lstmlif.neurons import ALIF, LIF, LSTMLIF, TwoCompartment

from .files import save_all
from .style import OKABE_ITO, SEQUENTIAL, model_color, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "eigenvalues"
ORDER = 6
CAPTION = (
    "Eigenvalues of the sub-threshold one-step Jacobian in the complex plane (unit circle "
    "dashed). (a) LSTM-LIF as beta1 beta2 sweeps from 0.5 to -4.5 (colour): two real "
    "eigenvalues lambda and 1/lambda (one outside the circle) for beta1 beta2 > 0, meeting at 1 "
    "for beta1 beta2 = 0, a complex pair running around the unit circle (det J = 1) for "
    "-4 < beta1 beta2 < 0, meeting at -1 for beta1 beta2 = -4, and two real negative "
    "eigenvalues (one below -1) beyond. Grey: the same sweep for the leaky two-compartment "
    "neuron with alpha1 = alpha2 = 0.95, whose complex pair sits on the circle of radius 0.95. "
    "(b) LIF (alpha = 0.8 and exp(-1/20)) and ALIF (tau_m = 20, tau_a = 200 and 700): real "
    "eigenvalues inside the circle (alpha, rho), with a zoom near 1. (c) Modulus and angle of "
    "LSTM-LIF's eigenvalues against beta1 beta2 (only the product matters: beta2 = 1 here)."
)


def compute(n: int = 501) -> dict[str, np.ndarray]:
    """``product`` (n,) from 0.5 to -4.5; ``lstmlif`` (n, 2) complex eigenvalues (beta1 =
    product, beta2 = 1); ``leaky`` the same with alpha1 = alpha2 = 0.95; ``lif`` and ``alif``
    eigenvalues with their labels."""
    if not isinstance(n, int) or n < 3:
        raise ValueError(f"eigenvalues: n must be an int >= 3, got {n!r}")
    product = np.linspace(0.5, -4.5, n)
    data: dict[str, np.ndarray] = {"product": product}
    data["lstmlif"] = eigenvalues(LSTMLIF(beta1=product, beta2=1.0))
    data["leaky"] = eigenvalues(TwoCompartment(alpha1=0.95, alpha2=0.95, beta1=product, beta2=1.0))
    data["lif"] = np.concatenate(
        [eigenvalues(LIF(alpha=0.8)), eigenvalues(LIF(tau_m=20.0))]
    ).ravel()
    data["lif_labels"] = np.array(["LIF alpha = 0.8", "LIF alpha = exp(-1/20)"])
    vals, labels = [], []
    for tau_a in (200.0, 700.0):
        model = ALIF(tau_m=20.0, tau_a=tau_a)
        J = subthreshold_jacobian(model)  # diagonal: (alpha, rho) on the (u, a) channels
        for lam in eigenvalues(model):
            channel = int(np.argmin(np.abs(np.diag(J) - lam)))
            vals.append(lam)
            labels.append(
                "ALIF membrane alpha (tau_m = 20)"
                if channel == 0
                else f"ALIF adaptation rho (tau_a = {tau_a:g})"
            )
    data["alif"] = np.array(vals)
    data["alif_labels"] = np.array(labels)
    return data


_SYMBOLS = (
    ("exp(-1/20)", r"$e^{-1/20}$"),
    ("alpha", r"$\alpha$"),
    ("rho", r"$\rho$"),
    ("tau_m", r"$\tau_m$"),
    ("tau_a", r"$\tau_a$"),
)


def _mathtext(label: str) -> str:
    """A data label ("ALIF adaptation rho (tau_a = 200)") with its symbols as mathtext."""
    for plain, tex in _SYMBOLS:
        label = label.replace(plain, tex)
    return label


def _circle(ax, radius: float = 1.0, **kw) -> None:
    t = np.linspace(0, 2 * math.pi, 400)
    ax.plot(radius * np.cos(t), radius * np.sin(t), **kw)


def plot(data: dict[str, np.ndarray]) -> Figure:
    """(a) LSTM-LIF sweep, (b) LIF and ALIF, (c) modulus and angle against the product."""
    p = data["product"]
    lam = data["lstmlif"]
    with style():
        fig, axes = plt.subplots(
            1, 3, figsize=(15.0, 4.8), gridspec_kw={"width_ratios": [1.6, 1, 1]}
        )
        ax = axes[0]
        _circle(ax, color="k", ls="--", lw=1)
        leaky = data["leaky"]
        ax.plot(
            leaky.real.ravel(),
            leaky.imag.ravel(),
            ".",
            color="0.75",
            ms=1.5,
            zorder=1,
            label=r"two-compartment, $\alpha_1 = \alpha_2 = 0.95$",
        )
        sc = None
        for j in range(lam.shape[1]):
            sc = ax.scatter(
                lam[:, j].real,
                lam[:, j].imag,
                c=p,
                cmap=SEQUENTIAL,
                s=6,
                vmin=p.min(),
                vmax=p.max(),
                zorder=2,
            )
        fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.03).set_label(r"$\beta_1 \beta_2$")
        for val, txt, offset in (
            (0.5, "0.5", (-10, 10)),
            (0.0, "0", (-4, -16)),
            (-4.0, "-4", (-10, 10)),
            (-4.5, "-4.5", (-20, -16)),
        ):
            i = int(np.argmin(np.abs(p - val)))
            ax.annotate(
                rf"$\beta_1\beta_2 = {txt}$",
                (lam[i, 0].real, lam[i, 0].imag),
                fontsize=7,
                xytext=offset,
                textcoords="offset points",
                arrowprops=dict(arrowstyle="-", lw=0.5),
            )
        ax.set_aspect("equal")
        ax.set_xlim(-2.3, 2.4)
        ax.set_ylim(-1.6, 1.6)
        ax.set_xlabel(r"Re $\lambda$")
        ax.set_ylabel(r"Im $\lambda$")
        ax.set_title(r"LSTM-LIF: eigenvalues as $\beta_1 \beta_2$ sweeps 0.5 $\to$ $-4.5$")
        ax.legend(loc="lower left")
        panel_label(ax, "a")

        ax = axes[1]
        _circle(ax, color="k", ls="--", lw=1)
        markers = iter("osv^Dp")
        for vals, labels, color in (
            (data["lif"], data["lif_labels"], model_color("lif")),
            (data["alif"], data["alif_labels"], model_color("alif")),
        ):
            seen = set()
            for v, lab in zip(vals, labels, strict=True):
                if lab in seen:
                    continue
                seen.add(lab)
                ax.plot(
                    v.real,
                    v.imag,
                    next(markers),
                    color=color,
                    mfc="none",
                    ms=7,
                    label=f"{_mathtext(lab)}: {v.real:.4f}",
                )
        ax.set_xlim(0.7, 1.02)
        ax.set_ylim(-0.16, 0.16)
        ax.set_aspect("equal")
        ax.set_xlabel(r"Re $\lambda$")
        ax.set_ylabel(r"Im $\lambda$")
        ax.set_title("LIF and ALIF: real, inside the circle (zoom)")
        ax.legend(loc="upper left", fontsize=6.5)
        panel_label(ax, "b")

        ax = axes[2]
        ax.plot(p, np.abs(lam[:, 0]), color=model_color("lstmlif"), label=r"$|\lambda|$ (larger)")
        ax.plot(
            p, np.abs(lam[:, 1]), color=OKABE_ITO["orange"], ls="--", label=r"$|\lambda|$ (smaller)"
        )
        ax.plot(
            p,
            np.abs(np.angle(lam[:, 0])) / math.pi,
            color=OKABE_ITO["blue"],
            label=r"$|\arg \lambda| / \pi$",
        )
        ax.axvspan(-4, 0, color="0.9", lw=0, label=r"$-4 \leq \beta_1 \beta_2 \leq 0$")
        ax.axhline(1.0, color="k", ls=":", lw=1)
        ax.set_xlabel(r"$\beta_1 \beta_2$ (dimensionless)")
        ax.set_ylabel(r"modulus; angle / $\pi$ (dimensionless)")
        ax.set_title("LSTM-LIF: modulus and angle")
        ax.set_xlim(p.max(), p.min())
        ax.legend(loc="upper left", fontsize=6.5)
        panel_label(ax, "c")
        fig.tight_layout()
    return fig


def make(out_dir: Path, n: int = 501) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(n)
    return save_all(plot(data), out_dir, NAME, data)
