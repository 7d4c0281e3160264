"""One style for every figure: the Okabe-Ito colour-blind-safe palette, labelled axes with units,
maths in labels written as mathtext (``r"$\\log_{10} \\|J^k\\|_2$"``), perceptually uniform
sequential colour maps (viridis) for magnitudes and a diverging map (``DIVERGING``) only for
signed data centred on a meaningful zero. PNGs are written at ``DPI`` (300) with a tight bounding
box (``files.save_figure``); legends go inside the axes or inside the figure's own margin.

Use ``with style(): fig, axes = plt.subplots(...)``; nothing is changed globally.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib
import matplotlib.pyplot as plt

from lstmlif.neurons import model_class

__all__ = [
    "OKABE_ITO",
    "COLORS",
    "THEORY_COLOR",
    "model_color",
    "model_label",
    "SEQUENTIAL",
    "DIVERGING",
    "DPI",
    "style",
    "panel_label",
    "plt",
]

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
COLORS = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]
"""The colour cycle, most distinguishable first (yellow left out: poor on white)."""

THEORY_COLOR = OKABE_ITO["black"]
"""The colour of closed forms and analytic curves drawn over measured data."""


def model_color(name: str) -> str:
    """A registered model's plot colour (its class's ``color``)."""
    return model_class(name).color


def model_label(name: str) -> str:
    """A registered model's plot label (its class's ``label``, else its registry name)."""
    cls = model_class(name)
    return cls.label or cls.name


SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
"""For signed data only (values on both sides of a meaningful zero), centred on that zero."""

DPI = 300
"""Resolution of every PNG (PDFs are vector)."""

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "image.cmap": SEQUENTIAL,
    "pdf.fonttype": 42,
    "mathtext.fontset": "dejavusans",
    "mathtext.default": "it",
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context in which figures get the project's style; afterwards the keys of the style (and
    only those) get their earlier values back.

    Only the style's own keys are saved and restored, never ``backend`` or ``interactive``: a
    backend chosen while the context is open (Jupyter's inline backend resolves itself at the
    first figure and turns interactive mode on) stays chosen, so every later figure of a
    notebook is shown, not only the first (``plt.rc_context`` would restore every rcParam).
    """
    saved = {key: matplotlib.rcParams[key] for key in _RC}
    matplotlib.rcParams.update(_RC)
    try:
        yield
    finally:
        matplotlib.rcParams.update(saved)


def panel_label(ax: plt.Axes, letter: str) -> None:
    """A bold panel letter (a, b, ...) in the axes' top-left corner, outside the plot area."""
    ax.text(
        -0.12, 1.04, letter, transform=ax.transAxes, fontweight="bold", fontsize=10, va="bottom"
    )
