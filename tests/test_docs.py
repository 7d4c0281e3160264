"""The documentation site: every "section N" label the toolkit prints resolves to a heading of
the docs, and a built site shows its title, a figure and rendered maths in headless Chromium
without a network.

The build-and-screenshot test needs mkdocs (the ``docs`` extra) and Debian's ``chromium``; it is
skipped where either is missing. With ``LSTMLIF_SITE=DIR`` it checks a site built before (CI
builds it with ``make docs``, notebooks executed); without, it builds one here, notebooks not
executed (``LSTMLIF_DOCS_EXECUTE=false``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE_DIRS = ("lstmlif", "neurons", "analysis", "experiments", "figures")


def _hooks():
    spec = importlib.util.spec_from_file_location("lstmlif_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _anchors(page: Path) -> set[str]:
    """The ``{ #id }`` anchors of a Markdown page."""
    return set(re.findall(r"\{ #([a-z0-9-]+) \}", page.read_text(encoding="utf-8")))


def _theory_numbers(text: str) -> set[str]:
    """Section numbers cited as the theory's: "theory, section 2", "docs/theory.md sections 1-4",
    "the theory's section 3", "(section 2)" in a caption."""
    found = set()
    pattern = (
        r"(?:docs/)?theory(?:\.md)?(?:'s)?(?:,| closed forms)? \(?sections? ([0-9][0-9, and-]*)"
    )
    for group in re.findall(pattern, text):
        for a, b in re.findall(r"(\d+)(?:-(\d+))?", group):
            found.update(str(n) for n in range(int(a), int(b or a) + 1))
    return found


def test_theory_page_has_the_six_sections():
    anchors = _anchors(DOCS / "theory.md")
    assert {f"section-{n}" for n in range(1, 7)} <= anchors
    assert {"lstm-lif-settings", "conventions"} <= _anchors(DOCS / "models.md")


def test_every_theory_section_cited_in_code_output_and_captions_resolves():
    theory = {a.removeprefix("section-") for a in _anchors(DOCS / "theory.md")}
    cited: dict[str, set[str]] = {}
    for folder in PACKAGE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            numbers = _theory_numbers(path.read_text(encoding="utf-8"))
            if numbers:
                cited[str(path.relative_to(ROOT))] = numbers
    assert cited, "the pattern must find the docstrings that cite the theory"
    from lstmlif.analysis.paper import paper_table
    from lstmlif.figures.registry import discover

    outputs = " ".join(r["source"] for r in paper_table())
    outputs += " ".join(spec.caption for spec in discover().values())
    cited["lstmlif paper and the captions"] = _theory_numbers(outputs)
    assert cited["lstmlif paper and the captions"] >= {"1", "2"}
    missing = {where: sorted(n - theory) for where, n in cited.items() if n - theory}
    assert not missing, missing
    assert "models, LSTM-LIF settings" in outputs  # resolves to models.md#lstm-lif-settings


def test_every_section_label_derive_prints_resolves():
    from lstmlif.analysis.symbolic import derive
    from lstmlif.neurons import model_class, model_names

    hooks = _hooks()
    page = hooks.statements_page()
    anchors = set(re.findall(r"\{ #([a-z0-9-]+) \}", page))
    theory = _anchors(DOCS / "theory.md")
    labels = set()
    for name in model_names():
        labels |= {str(c.section) for c in model_class(name).claims(derive(name))}
    assert "NIR" in labels
    for label in labels:
        assert hooks.slug(label) in anchors, label
    # the theory's own statements print sections 1-4 (lstmlif derive lstmlif)
    from lstmlif.analysis.symbolic import derive_report

    numbered = {c["section"] for c in derive_report("lstmlif")["checks"]}
    assert numbered == {"1", "2", "3", "4"}
    assert {f"section-{n}" for n in numbered} <= theory


def test_generated_pages_follow_the_code():
    from lstmlif.cli import COMMANDS

    hooks = _hooks()
    cli = hooks.cli_page()
    for name in COMMANDS:
        assert f"## lstmlif {name} " in cli
    assert "--nir FILE" in cli and "(default: 10000)" in cli
    sources = hooks.figure_sources()
    assert {"gradient_distance", "gradient_maps", "stability_map"} <= {
        n for n, p in sources.items() if p is not None
    }
    gallery = hooks.gallery_page(sources)
    assert "![gradient_maps](figures/gradient_maps.png)" in gallery
    assert hooks.mathjax_source().name == "tex-svg.js"


def test_the_api_reference_sees_every_module_of_the_package():
    """mkdocstrings reads the package through the symlinked view ``docs/api/_src/lstmlif``
    (the subpackages live in top-level folders): every file of ``lstmlif/`` and every
    subpackage of pyproject's package-dir has its link there (the build makes missing ones: an
    sdist carries no links), pointing at the real file or folder."""
    hooks = _hooks()
    hooks.make_links()
    links = hooks.package_links()
    view = DOCS / "api" / "_src" / "lstmlif"
    wanted = {p.name for p in (ROOT / "lstmlif").iterdir() if p.suffix in (".py", ".typed")}
    wanted |= set(PACKAGE_DIRS[1:])
    assert wanted <= {link.name for link in links if link.parent == view}
    for link, target in links.items():
        assert link.is_symlink(), f"{link.relative_to(ROOT)} is missing"
        assert link.resolve() == target.resolve(), link.name


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if _chromium() is None:
        pytest.skip("no headless Chromium (Debian: apt-get install chromium)")
    given = os.environ.get("LSTMLIF_SITE")
    if given:
        path = Path(given).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"LSTMLIF_SITE={given} holds no built site")
        return path
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, LSTMLIF_DOCS_EXECUTE="false", NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _browser(*args: str) -> list[str]:
    # --host-resolver-rules sends every host name nowhere: the page must not need a network
    return [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--allow-file-access-from-files",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=20000",
        *args,
    ]


def _dom(page: Path) -> str:
    proc = subprocess.run(
        _browser("--dump-dom", page.as_uri()), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_site_title_figure_and_rendered_maths_in_headless_chromium(site, tmp_path):
    theory = _dom(site / "theory" / "index.html")
    assert "<title>Theory - lstmlif</title>" in theory
    rendered = theory.count("<mjx-container")
    assert rendered >= 40, f"MathJax typeset {rendered} formulas"  # ~80 on the page
    assert "<svg" in theory.split("<mjx-container", 1)[1][:2000]  # typeset as SVG
    assert not re.search(r"<g[^>]*data-mml-node=\"merror\"", theory)  # no TeX error
    gallery = _dom(site / "gallery" / "index.html")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', gallery)
    assert any("gradient_maps.png" in src for src in images)
    for src in images:
        assert (site / "gallery" / src).resolve().is_file(), src
    home = _dom(site / "index.html")
    assert "Long Short-term Memory with Two-Compartment Spiking Neuron" in home
    assert "<mjx-container" in home
    shot = tmp_path / "theory.png"
    proc = subprocess.run(
        _browser(
            f"--screenshot={shot}",
            "--window-size=1280,1600",
            (site / "theory" / "index.html").as_uri(),
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    from PIL import Image, ImageStat

    with Image.open(shot) as im:
        assert im.size == (1280, 1600)
        spread = ImageStat.Stat(im.convert("L")).stddev[0]
        assert spread > 10, "a blank page"


def test_notebooks_are_pages_with_their_outputs_when_executed(site):
    books = sorted((site / "notebooks").glob("*/index.html"))
    assert len(books) >= 3
    text = books[0].read_text(encoding="utf-8")
    assert "cdnjs" not in text and "Load mathjax" not in text
    executed = os.environ.get("LSTMLIF_DOCS_EXECUTE", "true").lower() != "false"
    if os.environ.get("LSTMLIF_SITE") and executed:  # built by make docs: executed
        assert "jp-OutputArea-output" in text and "<img" in text
