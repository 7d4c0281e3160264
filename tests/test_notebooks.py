"""The notebooks (stored as jupytext percent-format scripts) run top to bottom on a fresh kernel
without error, and their stored form is stable under a jupytext round trip (clean diffs)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.py"))


def test_there_is_one_notebook_per_workflow():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) >= 3
    for topic in ("gradient_flow", "verify_gradients", "stability"):
        assert any(topic in n for n in names), f"no notebook about {topic}: {names}"


def _body(text: str) -> str:
    """The text after the YAML header (which carries jupytext's version stamp)."""
    lines = text.splitlines()
    assert lines[0] == "# ---", "a percent-format notebook starts with its header"
    end = lines.index("# ---", 1)
    return "\n".join(lines[end + 1 :])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_round_trips_through_jupytext(path):
    # Stored as jupytext writes it: opening and saving the notebook changes no cell text.
    text = path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    assert len(nb.cells) >= 5 and "kernelspec" in nb.metadata
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert _body(jupytext.writes(nb, fmt="py:percent")) == _body(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_a_fresh_kernel(path, tmp_path):
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    executed = [c for c in nb.cells if c.cell_type == "code"]
    assert executed and all(c.get("execution_count") for c in executed)
    assert elapsed < 90, f"{path.name} took {elapsed:.0f} s"
