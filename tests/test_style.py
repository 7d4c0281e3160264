"""The figure style leaves the backend's state alone: a backend chosen, or interactive mode
switched on, while ``style()`` is open stays so afterwards (Jupyter's inline backend does both at
a notebook's first figure; restoring them hid every later figure), and the style's own keys get
their earlier values back."""

from __future__ import annotations

import subprocess
import sys


def test_style_restores_its_keys_and_leaves_backend_and_interactive_alone():
    code = """
import matplotlib
import matplotlib.pyplot as plt
from lstmlif.figures.style import style

matplotlib.rcParams["font.size"] = 13.0
plt.ioff()
with style():
    assert matplotlib.rcParams["font.size"] == 9.0
    assert matplotlib.rcParams["savefig.dpi"] == 300
    matplotlib.use("svg")  # as a backend resolving itself at the first figure
    plt.ion()  # as the inline backend does
    fig, ax = plt.subplots()
    ax.plot([0, 1])
assert plt.isinteractive(), "interactive mode was switched off again"
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert matplotlib.rcParams["font.size"] == 13.0
with style():
    plt.subplots()
assert plt.isinteractive()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
