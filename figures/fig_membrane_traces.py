"""Membrane traces: dendrite, soma and spikes of LSTM-LIF beside LIF, for a step input and a
brief pulse, in both conventions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmlif.neurons import LIF, LSTMLIF, simulate

from .files import save_all
from .style import OKABE_ITO, panel_label, plt, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "membrane_traces"
ORDER = 7
CAPTION = (
    "Membrane traces of LIF (alpha = 0.8, v_th = 1) and LSTM-LIF (beta1 = -0.5, beta2 = 0.5, "
    "gamma = 0.5, v_th = 1) for a step input (I = 0.3 from step 5 on) and a one-step pulse "
    "(I = 1.5 at step 5). Solid: paper convention, dashed: code convention; potentials are the "
    "pre-reset values compared with the threshold (dotted); ticks above mark spikes. The LIF "
    "potential relaxes monotonically; LSTM-LIF's soma rings at its resonance period (12.4 steps "
    "for these betas) and swings below rest after a spike; the conventions differ only after "
    "the first spike (code: the reset also moves the dendrite through beta1)."
)

STEP_AMPLITUDE = 0.3
PULSE_AMPLITUDE = 1.5
ONSET = 5


def inputs(T: int = 80) -> dict[str, np.ndarray]:
    """The two input currents (T,): a step from ``ONSET`` on and a one-step pulse at ``ONSET``."""
    if not isinstance(T, int) or T <= ONSET + 1:
        raise ValueError(f"membrane_traces: T must be an int > {ONSET + 1}, got {T!r}")
    step = np.zeros(T)
    step[ONSET:] = STEP_AMPLITUDE
    pulse = np.zeros(T)
    pulse[ONSET] = PULSE_AMPLITUDE
    return {"step": step, "pulse": pulse}


def models() -> dict[str, dict[str, object]]:
    """The two neurons in both conventions: {model: {convention: record}}."""
    return {
        "lif": {c: LIF(alpha=0.8, v_th=1.0, convention=c) for c in ("paper", "code")},
        "lstmlif": {
            c: LSTMLIF(beta1=-0.5, beta2=0.5, gamma=0.5, v_th=1.0, convention=c)
            for c in ("paper", "code")
        },
    }


def compute(T: int = 80) -> dict[str, np.ndarray]:
    """Traces keyed ``{input}/{model}/{convention}/{state}`` (T,), states v; d, s; S."""
    data: dict[str, np.ndarray] = {"t": np.arange(T)}
    for kind, current in inputs(T).items():
        data[f"{kind}/I"] = current
        for mname, by_conv in models().items():
            for conv, model in by_conv.items():
                trace = simulate(model, current)
                for sname, values in trace.states.items():
                    data[f"{kind}/{mname}/{conv}/{sname}"] = values
                data[f"{kind}/{mname}/{conv}/S"] = trace.spikes
    return data


def plot(data: dict[str, np.ndarray]) -> Figure:
    """Rows: step, pulse; columns: LIF, LSTM-LIF."""
    t = data["t"]
    state_colors = {"v": OKABE_ITO["blue"], "d": OKABE_ITO["green"], "s": OKABE_ITO["vermillion"]}
    state_labels = {"v": "membrane v", "d": "dendrite d", "s": "soma s"}
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(8.5, 5.8), sharex=True, sharey=True)
        for r, kind in enumerate(("step", "pulse")):
            for c, (mname, title) in enumerate((("lif", "LIF"), ("lstmlif", "LSTM-LIF"))):
                ax = axes[r, c]
                for conv, ls in (("paper", "-"), ("code", "--")):
                    for sname in ("v",) if mname == "lif" else ("d", "s"):
                        ax.plot(
                            t,
                            data[f"{kind}/{mname}/{conv}/{sname}"],
                            ls=ls,
                            color=state_colors[sname],
                            label=f"{state_labels[sname]} ({conv})",
                        )
                    spikes = np.nonzero(data[f"{kind}/{mname}/{conv}/S"])[0]
                    y = 1.75 if conv == "paper" else 1.95
                    ax.plot(spikes, np.full(len(spikes), y), "|", color="k", ms=7, mew=1.2)
                    if c == 1:
                        ax.text(t[-1] + 1, y, f"spikes ({conv})", va="center", fontsize=7)
                ax.axhline(1.0, color="0.4", ls=":", lw=1)
                ax.fill_between(
                    t, 0, data[f"{kind}/I"], step="mid", color="0.85", lw=0, label=r"input $I$"
                )
                ax.set_title(f"{title}, {kind} input")
                ax.set_ylim(-1.0, 2.1)
                if r == 1:
                    ax.set_xlabel(r"time step $t$ (steps)")
                if c == 0:
                    ax.set_ylabel(r"potential (units of $v_{th}$)")
                panel_label(ax, "abcd"[2 * r + c])
        handles, labels = [], []
        for ax in (axes[0, 0], axes[0, 1]):
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.legend(handles, labels, loc="lower center", ncol=4)
    return fig


def make(out_dir: Path, T: int = 80) -> dict:
    """Compute, plot and save (PNG, PDF, NPZ)."""
    data = compute(T)
    return save_all(plot(data), out_dir, NAME, data)
