"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks: [docs/hooks.py]``).

They generate the pages that must follow the code, so the site can never disagree with it:

- ``cli.md``: every subcommand's ``--help``, from the parsers themselves;
- ``gallery.md``: every figure the registry discovers, with its caption; the image is
  ``figures/out/NAME.png`` when ``lstmlif figures`` has drawn it, else the committed copy in
  ``docs/figures/``;
- ``statements.md``: every registered model's own statements, which ``lstmlif derive`` proves,
  under the section label that ``derive`` prints (so each label resolves to an anchor there; the
  theory's numbered sections are the headings of ``theory.md``);
- the placeholders ``{{ lstmlif_paper_table }}`` (docs/paper.md) and
  ``{{ lstmlif_nir_report }}`` (docs/nir.md) become ``lstmlif paper``'s table and the NIR
  report of the committed snntorch file;
- the notebook pages: every ``notebooks/NAME.py`` (the source, a jupytext script) is executed
  here top to bottom on a fresh kernel (``execute_notebook``: nbclient, the figures each cell
  is to show counted in the kernel) into ``NAME.ipynb``, which mkdocs-jupyter renders with its
  outputs and which each page offers for download beside the ``.py`` source
  (``LSTMLIF_DOCS_EXECUTE=false``: not executed, for a quick look).

MathJax comes from a Python package (``django-static-mathjax``: MathJax 3's self-contained
``tex-svg.js``), copied into ``assets/mathjax/``: the site renders its maths without a network.
The notebook pages' own loaders of MathJax and mermaid (nbconvert points them at a CDN) are
removed; the site's MathJax typesets the notebooks too, and nothing is fetched from a network.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

try:
    from mkdocs.plugins import event_priority
except ImportError:  # the helpers below are also used by the tests, with or without mkdocs

    def event_priority(priority: float) -> Any:
        return lambda f: f


ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NIR_ASSET = "assets/nir/snntorch_net.nir"
MATHJAX = "assets/mathjax/tex-svg.js"
_MATHJAX_BLOCK = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL
)
# nbconvert's loader of mermaid diagrams, which imports from a CDN (the notebooks draw none)
_MERMAID_LOADER = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>", re.DOTALL
)


# ----------------------------------------------------------------------------- generators


def mathjax_source() -> Path:
    """The path of MathJax 3's ``tex-svg.js`` inside the ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the docs need MathJax from PyPI: pip install django-static-mathjax "
            "(or: pip install -e '.[docs]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "static/mathjax/es5/tex-svg.js"
    if not path.is_file():
        raise RuntimeError(f"MathJax's tex-svg.js not found at {path}")
    return path


def slug(label: str) -> str:
    """The anchor of a section label: lower case, runs of other characters become '-'."""
    return "section-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def cli_page() -> str:
    """Markdown: ``lstmlif --help`` and every subcommand's ``--help``."""
    from lstmlif.cli import COMMANDS, build_parser

    os.environ["COLUMNS"] = "100"
    lines = [
        "# Command line",
        "",
        "`lstmlif` (also `python -m lstmlif`). Every subcommand takes `--json`; bad input exits",
        "with status 2 and a message that names the problem. Numbers may be negative or in",
        "exponent form (`--logits 1 -1e3`), and every option shows its default. This page is",
        "generated from the parsers when the site is built.",
        "",
        "```text",
        build_parser().format_help().rstrip(),
        "```",
        "",
    ]
    for name in COMMANDS:
        parser = build_parser(name)
        sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
        lines += [
            f"## lstmlif {name} {{ #{name} }}",
            "",
            "```text",
            sub.choices[name].format_help().rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


def figure_sources() -> dict[str, Path | None]:
    """Figure name -> its PNG: figures/out/ (drawn by ``lstmlif figures``), else docs/figures/,
    else None; in the registry's order."""
    from lstmlif.figures.registry import discover

    out = {}
    for name in discover():
        found = None
        for folder in (ROOT / "figures" / "out", ROOT / "docs" / "figures"):
            if (folder / f"{name}.png").is_file():
                found = folder / f"{name}.png"
                break
        out[name] = found
    return out


def gallery_page(sources: dict[str, Path | None]) -> str:
    """Markdown: every figure with its caption."""
    from lstmlif.figures.registry import discover

    specs = discover()
    lines = [
        "# Figure gallery",
        "",
        "Every figure of `lstmlif figures`, with its caption. `make figures` draws them all into",
        "`figures/out/` (PNG at 300 dpi, PDF, and the numbers behind each as NPZ or CSV).",
        "",
    ]
    for name, path in sources.items():
        lines += [f"## {name} {{ #{name.replace('_', '-')} }}", ""]
        if path is not None:
            lines += [f"![{name}](figures/{name}.png)", ""]
        else:
            lines += [f"*Not drawn here yet: `lstmlif figures --only {name}`.*", ""]
        lines += [specs[name].caption, ""]
    return "\n".join(lines)


def statements_page() -> str:
    """Markdown: every registered model's own statements (``claims``), which ``lstmlif derive``
    proves, under the section label ``derive`` prints; the theory's numbered sections link to
    the theory page."""
    from lstmlif.analysis.symbolic import derive
    from lstmlif.neurons import model_class, model_names

    by_section: dict[str, list[tuple[str, str]]] = {}
    for name in model_names():
        cls = model_class(name)
        for c in cls.claims(derive(name)):
            by_section.setdefault(str(c.section), []).append((f"{cls.label or name}", c.claim))
    lines = [
        "# Derived statements",
        "",
        "`lstmlif derive MODEL` runs a model's step function on SymPy symbols and proves the",
        "statements of the [theory](theory.md) that apply to it (it prints them under the",
        "theory's section numbers: [1](theory.md#section-1), [2](theory.md#section-2),",
        "[3](theory.md#section-3), [4](theory.md#section-4)) and the statements a model makes",
        "about itself, listed below under the section label `derive` prints. Generated from the",
        "registry when the site is built; `lstmlif derive MODEL` says which hold.",
        "",
    ]
    for label in sorted(by_section, key=str.lower):
        lines += [f"## Section {label} {{ #{slug(label)} }}", ""]
        for model, claim in by_section[label]:
            lines.append(f"- {model}: {_escape(claim)}")
        lines.append("")
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Claim text as Markdown text: characters Markdown would read as markup escaped."""
    return re.sub(r"([\\`*_\[\]<>|$])", r"\\\1", text)


def paper_table() -> str:
    """``lstmlif paper`` as printed (a text block)."""
    from lstmlif.analysis import paper

    buf = io.StringIO()
    with redirect_stdout(buf):
        paper.run(_Args(json=False, only_disagreements=False))
    return "```text\n" + buf.getvalue().rstrip() + "\n```"


def nir_report(path: Path) -> str:
    """``lstmlif inspect --nir FILE --as snntorch`` as printed."""
    from lstmlif.analysis.interop import run_nir

    buf = io.StringIO()
    args = _Args(
        json=False, model=None, nir=str(path), dt=None, discretization=None, kmax=10000,
        reach_decades=3.0, library="snntorch",
    )  # fmt: skip
    with redirect_stdout(buf):
        run_nir(args)
    text = buf.getvalue().replace(str(path), NIR_ASSET.rsplit("/", 1)[1])
    return "```text\n" + text.rstrip() + "\n```"


class _Args:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


# ----------------------------------------------------------------------------- notebooks

# Run in the kernel before the notebook's first cell: every later cell run starts a new count
# (IPython's pre_run_cell event); ``pyplot.figure`` (which ``subplots`` and every other pyplot
# constructor call) notes each figure the cell creates. The count is the number of those
# figures the cell shows with ``pyplot.show`` plus those still open when its code is done (the
# post_execute event, before the inline backend's own, which shows the open figures): the
# figures Jupyter is to show (a figure that a cell saves to a file and closes is not one).
_COUNT_FIGURES = """\
import matplotlib.pyplot as _lstmlif_plt
from IPython import get_ipython as _lstmlif_ipython
_lstmlif_figures, _lstmlif_made = [], []
def _lstmlif_open():
    return [f for f in _lstmlif_made if _lstmlif_plt.fignum_exists(f.number)]
def _lstmlif_start(info):
    _lstmlif_made.clear()
    _lstmlif_figures.append(0)
def _lstmlif_end():
    if _lstmlif_figures:
        _lstmlif_figures[-1] += len(_lstmlif_open())
_lstmlif_ipython().events.register("pre_run_cell", _lstmlif_start)
_lstmlif_ipython().events.register("post_execute", _lstmlif_end)
def _lstmlif_counting(make):
    def figure(*args, **kwargs):
        fig = make(*args, **kwargs)
        _lstmlif_made.append(fig)
        return fig
    return figure
def _lstmlif_showing(show):
    def shown(*args, **kwargs):
        opened = _lstmlif_open()
        _lstmlif_figures[-1] += len(opened)
        _lstmlif_made[:] = [f for f in _lstmlif_made if f not in opened]
        return show(*args, **kwargs)
    return shown
_lstmlif_plt.figure = _lstmlif_counting(_lstmlif_plt.figure)
_lstmlif_plt.show = _lstmlif_showing(_lstmlif_plt.show)
"""
_REPORT_FIGURES = "import json as _lstmlif_json; print(_lstmlif_json.dumps(_lstmlif_figures))"


def notebook_sources() -> list[Path]:
    """The notebooks: every ``notebooks/*.py`` not starting with ``_``, in name order."""
    return sorted(NOTEBOOKS.glob("[!_]*.py"))


def image_count(cell: Any) -> int:
    """The number of images (PNG or SVG) among a code cell's outputs."""
    return sum(
        1
        for o in cell.get("outputs", [])
        if {"image/png", "image/svg+xml"} & set(o.get("data", {}))
    )


def execute_notebook(path: Path, workdir: Path, timeout: int = 300) -> Any:
    """Read the jupytext script ``path`` and run it top to bottom on a fresh ``python3`` kernel
    (nbclient, working folder ``workdir``, no ``MPLBACKEND``: Jupyter's inline backend, as a
    reader gets it); a failing cell raises ``CellExecutionError``.

    Returns the executed notebook (``nbformat``, version 4). The figures each code cell creates
    and leaves open, which Jupyter shows, are counted in the kernel (a wrapper of
    ``pyplot.figure`` in a cell run before the first and removed afterwards, as is the cell that
    reports the counts) and stored as the cell's ``metadata["figures_to_show"]`` where not
    zero: a test compares them with the images.
    """
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_COUNT_FIGURES))
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT_FIGURES))
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    # the kernel a reader starts: matplotlib's backend left to ipykernel (inline), whatever
    # MPLBACKEND the caller runs under (the tests set Agg)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    client.execute(env=env)
    report = nb.cells.pop()
    nb.cells.pop(0)
    text = "".join(o.get("text", "") for o in report.outputs if o.get("name") == "stdout")
    created = json.loads(text)[:-1]  # one count per cell run, the reporting cell's last
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    if len(created) != len(ran):
        raise RuntimeError(f"{path.name}: {len(ran)} cells ran, {len(created)} were counted")
    for cell, n in zip(ran, created, strict=True):
        cell.execution_count -= 1  # the counting cell ran first
        for o in cell.outputs:
            if o.get("execution_count"):
                o["execution_count"] -= 1
        if n:
            cell.metadata["figures_to_show"] = n
    return nb


def write_notebook(path: Path, out_dir: Path, execute: bool) -> Path:
    """``out_dir/NAME.ipynb`` from ``notebooks/NAME.py``: executed (``execute_notebook``) or,
    with ``execute=False``, converted only."""
    import jupytext
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    if execute:
        nb = execute_notebook(path, out_dir)
    else:
        nb = jupytext.read(path)
    target = out_dir / f"{path.stem}.ipynb"
    nbformat.write(nb, target)
    return target


def _executing() -> bool:
    return os.environ.get("LSTMLIF_DOCS_EXECUTE", "true").lower() not in ("false", "0", "no")


_built: dict[str, Path] = {}  # temporary folders of the current build


# ----------------------------------------------------------------------------- mkdocs events


def package_links() -> dict[Path, Path]:
    """The symbolic links the site reads through: ``docs/notebooks`` (the notebooks' folder) and
    ``docs/api/_src/lstmlif/`` (mkdocstrings' view of the package: every file of ``lstmlif/`` and
    every subpackage folder of pyproject's ``package-dir``); link -> target."""
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        dirs = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    view = ROOT / "docs" / "api" / "_src" / "lstmlif"
    links = {ROOT / "docs" / "notebooks": NOTEBOOKS}
    for p in sorted((ROOT / "lstmlif").iterdir()):
        if p.suffix in (".py", ".typed"):
            links[view / p.name] = p
    for package, folder in dirs.items():
        if package.count(".") == 1:
            links[view / package.split(".", 1)[1]] = ROOT / folder
    return links


def make_links() -> None:
    """Make the links of ``package_links`` that are missing (an sdist carries none)."""
    for link, target in package_links().items():
        if not link.is_symlink() and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(target, link.parent))


def on_config(config: Any) -> Any:
    """Make the symbolic links the site reads through where missing; fill the "Notebooks" entry
    of the nav with a page per notebooks/*.py, in name order."""
    make_links()
    books = notebook_sources()
    for i, entry in enumerate(config["nav"] or []):
        if isinstance(entry, dict) and "Notebooks" in entry:
            config["nav"][i] = {"Notebooks": [f"notebooks/{p.stem}.ipynb" for p in books]}
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns notebooks into pages
def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    def add(src_uri: str, **kw: Any) -> None:
        old = files.get_file_from_path(src_uri)
        if old is not None:
            files.remove(old)
        files.append(File.generated(config, src_uri, **kw))

    add(MATHJAX, abs_src_path=str(mathjax_source()))
    sources = figure_sources()
    for name, path in sources.items():
        if path is not None and path.parent != ROOT / "docs" / "figures":
            add(f"figures/{name}.png", abs_src_path=str(path))
    add("gallery.md", content=gallery_page(sources))
    add("cli.md", content=cli_page())
    add("statements.md", content=statements_page())
    # the notebooks, as files of a temporary source folder (mkdocs-jupyter's wrapper of a file
    # sees the path of a file with a source folder, not that of a generated one)
    root = Path(tempfile.mkdtemp(prefix="lstmlif-notebooks-"))
    _built["notebooks"] = root
    for path in notebook_sources():
        write_notebook(path, root / "notebooks", _executing())
        uri = f"notebooks/{path.stem}.ipynb"
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        files.append(File(uri, str(root), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "{{ lstmlif_paper_table }}" in markdown:
        markdown = markdown.replace("{{ lstmlif_paper_table }}", paper_table())
    if "{{ lstmlif_nir_report }}" in markdown:
        markdown = markdown.replace(
            "{{ lstmlif_nir_report }}", nir_report(Path(config["docs_dir"]) / NIR_ASSET)
        )
    return markdown


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """A notebook page starts with its downloads: the executed notebook and the source."""
    uri = page.file.src_uri
    if not (uri.startswith("notebooks/") and uri.endswith(".ipynb")):
        return html
    stem = Path(uri).stem
    state = "executed, with its outputs" if _executing() else "not executed in this build"
    links = (
        f'<p class="lstmlif-downloads">Download: <a href="{stem}.ipynb" download>{stem}.ipynb'
        f"</a> (the notebook {state}) &middot; "
        f'<a href="../{stem}.py" download>{stem}.py</a> (its source, a jupytext script: '
        f"<code>jupytext --to ipynb {stem}.py</code>)</p>"
    )
    return links + html


def on_post_build(config: Any) -> None:
    folder = _built.pop("notebooks", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def on_build_error(error: Exception) -> None:
    on_post_build({})


def on_post_page(output: str, page: Any, config: Any) -> str:
    # nbconvert's notebook template loads MathJax 2 (and mermaid) from a CDN; the site's own
    # MathJax typesets the notebooks, and they draw no mermaid diagram
    return _MERMAID_LOADER.sub("", _MATHJAX_BLOCK.sub("", output))
