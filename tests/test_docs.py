"""The documentation site: every "section N" label the toolkit prints resolves to a heading of
the docs; a built site has no broken internal link (``broken_links``: every local href/src and
every #fragment), shows no Markdown table as text, offers each notebook (executed, with its
figures) beside its source, and shows its title, a figure and rendered maths in headless Chromium
without a network.

With ``LSTMLIF_SITE=DIR`` the site tests check a site built before (``make test`` builds it with
``make docs``, notebooks executed); without, one is built here (mkdocs, the ``docs`` extra),
notebooks not executed (``LSTMLIF_DOCS_EXECUTE=false``). The screenshot test needs Debian's
``chromium`` and is skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE_DIRS = ("lstmlif", "neurons", "analysis", "experiments", "figures", "online")


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
    if _chromium() is None:
        pytest.skip("no headless Chromium (Debian: apt-get install chromium)")
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


def test_notebook_pages_offer_the_notebooks_and_show_their_figures(site):
    import json

    hooks = _hooks()
    books = hooks.notebook_sources()
    assert len(books) >= 3
    for book in books:
        page = site / "notebooks" / book.stem / "index.html"
        text = page.read_text(encoding="utf-8")
        assert "cdnjs" not in text and "Load mathjax" not in text
        assert f'href="{book.stem}.ipynb"' in text and f'href="../{book.stem}.py"' in text
        executed = json.loads((page.parent / f"{book.stem}.ipynb").read_text(encoding="utf-8"))
        assert (site / "notebooks" / f"{book.stem}.py").read_text() == book.read_text()
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        if not any(c.get("execution_count") for c in code):
            continue  # a quick build (LSTMLIF_DOCS_EXECUTE=false)
        assert re.search(r'class="[^"]*jp-OutputArea-output', text)
        assert "executed, with its outputs" in text
        images = sum(hooks.image_count(c) for c in code)
        shown = len(re.findall(r"<img[^>]+src=\"data:image/(?:png|svg)", text))
        assert shown >= images, f"{book.name}: {shown} images on the page, {images} in the notebook"


class _Links(HTMLParser):
    """The ids and the local link targets (href of a, link; src of img, script) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        key = {"a": "href", "link": "href", "img": "src", "script": "src"}.get(tag)
        if key and a.get(key) is not None:
            self.links.append(a[key])


def broken_links(site: Path) -> list[tuple[str, str]]:
    """(page, link) for every link of the site's pages to a missing file or to a missing
    ``#fragment`` of a page; links with a scheme (http:, data:, ...) are not followed. The 404
    page is left out: its links are absolute by design (it is served for any path)."""
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            parsed[path] = _Links()
            parsed[path].feed(path.read_text(encoding="utf-8", errors="replace"))
        return parsed[path]

    broken = []
    for page in sorted(site.rglob("*.html")):
        if page == site / "404.html":
            continue
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((str(page.relative_to(site)), link))
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in parse(target).ids:
                    broken.append((str(page.relative_to(site)), link))
    return broken


def test_the_site_has_no_broken_link(site):
    assert len(list(site.rglob("*.html"))) >= 20
    assert broken_links(site) == []


def test_the_link_checker_finds_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">x</h2><a href="#here">ok</a>')
    (tmp_path / "index.html").write_text(
        '<a href="a/">ok</a><a href="a/#here">ok</a><a href="https://x.org/y">not followed</a>'
        '<a href="1 - S~[t-1]">broken</a><a href="a/#gone">no anchor</a><img src="b.png">'
    )
    assert broken_links(tmp_path) == [
        ("index.html", "1 - S~[t-1]"),
        ("index.html", "a/#gone"),
        ("index.html", "b.png"),
    ]


def test_markdown_tables_render_as_tables(site):
    """No page shows a Markdown table as text (a "|---|" row), the docs' own tables and the
    notebooks' table outputs (where executed) are HTML tables."""
    assert "<table" in (site / "catalogue" / "index.html").read_text(encoding="utf-8")
    code = re.compile(  # code shown as code: highlighted source, its copy-button text
        r"<(script|pre|code)\b.*?</\1>|<div class=\"clipboard-copy-txt\".*?</div>", re.S
    )
    for page in sorted(site.rglob("*.html")):
        text = code.sub("", page.read_text(encoding="utf-8"))
        where = page.relative_to(site)
        assert not re.search(r"\|\s*:?-{3,}:?\s*\|", text), f"{where}: a table as text"
    books = _hooks().notebook_sources()
    for book in books:
        text = (site / "notebooks" / book.stem / "index.html").read_text(encoding="utf-8")
        first_output = re.search(r'class="[^"]*jp-OutputArea-output', text)
        if first_output and "display(Markdown(" in book.read_text():
            outputs = text[first_output.start() :]
            assert "<table" in outputs, f"{book.name}: its Markdown tables are not tables"
