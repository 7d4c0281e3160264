"""No file of the repository refers to a file outside it: the theory, the model equations and the
catalogue that code, tests, notebooks and docs cite are pages of the docs (``docs/theory.md``,
``docs/models.md``, ``docs/catalogue.md``), so the citations name those."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Built from parts, so that this file does not match itself.
_NAMES = "|".join(["THE" + "ORY", "CATA" + "LOGUE", "MOD" + "ELS", "DES" + "IGN"])
OUTSIDE = re.compile(
    rf"\b(?:{_NAMES})\.md\b"  # a document of another tree
    r"|\bshared/(?:sp" r"ec|no" r"tes)\b"  # its folders
    rf"|\b(?:{_NAMES})(?:'s)? sections?\b|\b(?:{_NAMES})'s\b"  # "<NAME> section 3", "<NAME>'s"
)  # fmt: skip
# Files exempt from the check: none (the README cites the docs pages too).
EXCLUDED: set[str] = set()


def _tracked_text_files() -> list[Path]:
    try:
        names = (
            subprocess.run(
                ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
            )
            .stdout.decode()
            .split("\0")
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an unpacked sdist): the files are checked in one")
    out = []
    for name in filter(None, names):
        path = ROOT / name
        if name in EXCLUDED or path.is_symlink() or not path.is_file():
            continue
        if path.suffix in {".py", ".md", ".toml", ".yml", ".yaml", ".cff", ".txt", ".in", ""}:
            out.append(path)
    return out


def test_no_repository_file_refers_to_a_file_outside_it():
    files = _tracked_text_files()
    assert len(files) > 50
    found = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n + 1}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_pattern_finds_the_old_citations():
    name = "THE" + "ORY"
    for text in (
        f"{name}.md section 3",
        f"see {name}'s closed forms",
        f"({'CATA' + 'LOGUE'} section 4 (c))",
        "shared/" + "spec/x",
    ):
        assert OUTSIDE.search(text), text
    for text in ("docs/theory.md section 3", "THEORY_COLOR", '"THEORY" not in r["source"]'):
        assert not OUTSIDE.search(text), text
