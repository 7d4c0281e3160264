"""The source distribution is complete and the package works after a non-editable install.

One sdist is built from this checkout (setuptools' ``build_sdist``) and installed with ``pip``
(no dependencies, no build isolation) into a fresh virtual environment that sees this
environment's packages (numpy, torch, pytest, ...) through a path file, but not its editable
``lstmlif``. Then:

- the sdist holds what its own tests and docs need (notebooks, docs, results, CITATION.cff,
  CHANGELOG.md, ...), and a representative subset of the tests passes from its unpacked folder
  (the package, the docs' generated pages and section labels, the notebooks' jupytext form, the
  README's experiment tables against the committed results, the figure style: the whole suite
  from there would double ``make test``'s time);
- ``python -m lstmlif`` and ``import lstmlif.analysis`` work from the checkout's root, whose
  partial ``lstmlif/`` folder comes first on ``sys.path``, as from any other folder.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# From the unpacked sdist, the tests of what the sdist must carry for its checkout-like use:
# the package and its version, the figure style, the notebooks' jupytext form, and the docs'
# links, theory sections and anchors (the site build, the notebooks' execution and every
# long-running test are left to the checkout's own run).
SUBSET = [
    "tests/test_package.py",
    "tests/test_style.py",
    "tests/test_notebooks.py",
    "tests/test_docs.py",
]
SUBSET_SELECT = (
    "not executes and (package or style or round_trips or workflow or theory or api_reference)"
)


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """The sdist, its unpacked folder and a venv's python with it installed (not editable)."""
    tmp = tmp_path_factory.mktemp("sdist")
    done = _run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; "
            "print(build_meta.build_sdist(sys.argv[1]))",
            str(tmp / "dist"),
        ],
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sdist = tmp / "dist" / done.stdout.strip().splitlines()[-1]
    venv = tmp / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_run([str(python), "-c", where], cwd=tmp).stdout.strip())
    # this environment's packages, without processing its path files (no editable finder)
    (purelib / "_base_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(purelib), str(sdist)],
        cwd=tmp,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    return {"sdist": sdist, "python": python, "unpacked": unpacked, "purelib": purelib}


def test_the_sdist_holds_what_its_tests_and_docs_need(installed):
    with tarfile.open(installed["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    wanted = {
        "CITATION.cff",
        "CHANGELOG.md",
        "README.md",
        "LICENSE",
        "Makefile",
        "mkdocs.yml",
        "docs/hooks.py",
        "docs/theory.md",
        "docs/models.md",
        "docs/catalogue.md",
        "tests/conftest.py",
    }
    wanted |= {str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[!_]*.py")}
    assert wanted <= names, sorted(wanted - names)
    assert any(n.startswith("results/recall/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_the_installed_package_is_not_the_checkout(installed):
    code = "import lstmlif; print(lstmlif.__file__)"
    done = _run([str(installed["python"]), "-c", code], cwd=installed["purelib"].parent)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed["purelib"])


def test_command_and_subpackages_after_a_non_editable_install(installed, tmp_path):
    python = str(installed["python"])
    # the checkout's root: its partial lstmlif/ folder is found first
    done = _run([python, "-m", "lstmlif", "inspect", "lif"], cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "lif" in done.stdout.lower()
    code = "import lstmlif.analysis, lstmlif.neurons; print('ok')"
    done = _run([python, "-c", code], cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    # any other folder: the installed package alone
    code = "import runpy, sys; sys.argv = ['lstmlif', '--version']; import lstmlif.analysis; "
    code += "runpy.run_module('lstmlif', run_name='__main__')"
    done = _run([python, "-c", code], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("lstmlif "), done.stdout


def test_command_and_subpackages_from_the_checkout_root_here():
    """The same from this environment (an editable install, or a checkout run in place)."""
    done = _run([sys.executable, "-m", "lstmlif", "inspect", "lif"], cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    done = _run([sys.executable, "-c", "import lstmlif.analysis"], cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_subset_of_the_tests_passes_from_the_unpacked_sdist(installed):
    done = _run(
        [str(installed["python"]), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-k", SUBSET_SELECT, *SUBSET],
        cwd=installed["unpacked"],
        timeout=600,
    )  # fmt: skip
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
