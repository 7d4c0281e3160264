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
