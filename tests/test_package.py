"""The one import package: ``lstmlif`` and its subpackages import from any folder, the generic
top-level names of the checkout's folders do not, and the version is one string everywhere."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import lstmlif


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_subpackages_import_from_another_folder(tmp_path):
    code = (
        "import lstmlif, lstmlif.neurons, lstmlif.analysis, lstmlif.experiments, lstmlif.figures;"
        "print(lstmlif.__version__, len(lstmlif.neurons.model_names()))"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    version, count = done.stdout.split()
    assert version == lstmlif.__version__ and int(count) >= 17


@pytest.mark.parametrize("name", ["neurons", "analysis", "figures", "experiments"])
def test_generic_top_level_names_are_not_installed(name, tmp_path):
    done = _python(f"import {name}", tmp_path)
    assert done.returncode != 0
    assert f"No module named '{name}'" in done.stderr


def test_version_on_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lstmlif", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"lstmlif {lstmlif.__version__}"
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        assert lstmlif.__version__ == tomllib.load(f)["project"]["version"]


def test_metadata_names_authors_keywords_and_the_tested_python():
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["authors"] and all(a.get("name") for a in project["authors"])
    assert len(project["keywords"]) >= 5
    classifiers = project["classifiers"]
    versions = [c.rsplit(" :: ", 1)[1] for c in classifiers if c.count(".") == 1 and "Python" in c]
    assert versions, "the Python versions tested"
    lowest = tuple(map(int, project["requires-python"].removeprefix(">=").split(".")))
    assert all(tuple(map(int, v.split("."))) >= lowest for v in versions)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions, (
        "this Python runs the tests: name it in the classifiers"
    )
    # no URL unless a documentation page works offline: the site is built locally
    assert "urls" not in project
