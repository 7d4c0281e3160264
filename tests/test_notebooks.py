"""The notebooks (stored as jupytext percent-format scripts) run top to bottom on a fresh kernel
without error, every cell that draws a figure shows it (an image output), and their stored form
is stable under a jupytext round trip (clean diffs).

The notebooks are executed by ``docs/hooks.py``'s ``execute_notebook`` (nbclient), which counts
in the kernel the figures each cell creates and leaves open (those Jupyter shows; a figure saved
to a file and closed is not one). With ``LSTMLIF_SITE=DIR`` (``make test``: the site
built just before, notebooks executed) the executed notebooks the site offers for download are
checked, after checking that their code is the current ``.py`` source; otherwise each notebook is
executed here.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("lstmlif_docs_hooks", ROOT / "docs/hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()
NOTEBOOKS = hooks.notebook_sources()


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


def _executed_on_site(path: Path):
    """The executed notebook the built site offers for ``path``, or None (no site given, or
    its notebooks were not executed)."""
    given = os.environ.get("LSTMLIF_SITE")
    if not given:
        return None
    copy = Path(given) / "notebooks" / path.stem / f"{path.stem}.ipynb"
    if not copy.is_file():
        pytest.fail(f"LSTMLIF_SITE={given} offers no {copy.name}")
    nb = nbformat.read(copy, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not any(c.get("execution_count") for c in code):
        return None  # built with LSTMLIF_DOCS_EXECUTE=false
    source = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    assert [c.source for c in code] == source, f"{copy} is not the current {path.name}"
    return nb


def _draws(source: str) -> bool:
    """Whether a notebook's source calls pyplot or a figure module's ``plot``."""
    return bool(re.search(r"\bplt\.\w+\(|\bfig_\w+\.plot\(", source))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_a_fresh_kernel_and_shows_every_figure(path, tmp_path):
    nb = _executed_on_site(path)
    if nb is None:
        nb = hooks.execute_notebook(path, tmp_path, timeout=300)  # raises on a failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert code and all(c.get("execution_count") for c in code)
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    drawing = [c for c in code if c.metadata.get("figures_to_show")]
    if _draws(path.read_text(encoding="utf-8")):
        assert drawing, f"{path.name} draws, but no cell was seen creating a figure"
    blank = [
        (c.execution_count, c.metadata["figures_to_show"], hooks.image_count(c))
        for c in drawing
        if hooks.image_count(c) < c.metadata["figures_to_show"]
    ]
    assert not blank, f"cells (number, figures to show, images shown) without images: {blank}"
