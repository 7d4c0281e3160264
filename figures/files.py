"""Atomic writes for figures and their data.

Each file is written to a temporary file in the target folder, then ``os.replace``d over the
final name, so an interrupted run never leaves a half-written file. A figure's files form a
*set* (PNG, PDF and its data): ``publish_set`` moves a set made in a staging folder into the
output folder and records it in a hidden manifest (``.NAME.set``, written last) with each file's
size and SHA-256; ``complete_set`` tells whether the files on disk are exactly a recorded set, so
a run killed between two renames (a new PNG beside an old PDF) is never listed as complete.
``remove_stale`` deletes the hidden temporaries and staging folders that a killed run left.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstmlif.fileio import atomic_open

__all__ = [
    "atomic_open",
    "save_figure",
    "save_npz",
    "save_csv",
    "write_text",
    "save_all",
    "staging_dir",
    "publish_set",
    "complete_set",
    "remove_stale",
]

STAGING_PREFIX = ".staging-"


def save_figure(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (at ``style.DPI``, 300 dpi) and ``stem.pdf`` in ``out_dir``
    (atomically), each cropped to the figure's content (tight bounding box); closes it."""
    import matplotlib.pyplot as plt

    from .style import DPI

    paths = []
    try:
        for fmt in ("png", "pdf"):
            path = Path(out_dir) / f"{stem}.{fmt}"
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
            with atomic_open(path) as fh:
                fh.write(buf.getvalue())
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def save_npz(out_dir: Path, stem: str, arrays: Mapping[str, Any]) -> Path:
    """Write the arrays as ``stem.npz`` (compressed) in ``out_dir`` (atomically)."""
    path = Path(out_dir) / f"{stem}.npz"
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    with atomic_open(path) as fh:
        fh.write(buf.getvalue())
    return path


def save_csv(out_dir: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """Write a table as ``stem.csv`` in ``out_dir`` (atomically); floats with repr precision."""
    path = Path(out_dir) / f"{stem}.csv"
    with atomic_open(path, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (atomically)."""
    with atomic_open(Path(path), "w") as fh:
        fh.write(text)
    return Path(path)


def save_all(fig: Any, out_dir: Path, stem: str, data: Mapping[str, Any]) -> dict:
    """Write the figure (PNG, PDF) and its numbers (NPZ) and return ``make``'s result dict:
    {"paths": [png, pdf, npz], "data": data}."""
    paths = save_figure(fig, out_dir, stem)
    paths.append(save_npz(out_dir, stem, data))
    return {"paths": paths, "data": dict(data)}


# ----------------------------------------------------------------------------- figure sets


@contextlib.contextmanager
def staging_dir(out_dir: Path, name: str) -> Iterator[Path]:
    """A hidden folder in ``out_dir`` (same file system, so moves are renames) for one figure's
    files, removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(dir=out_dir, prefix=f"{STAGING_PREFIX}{name}-{os.getpid()}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / f".{name}.set"


def publish_set(out_dir: Path, name: str, staged: Sequence[Path]) -> list[Path]:
    """Move the staged files of figure ``name`` into ``out_dir`` (one rename each) and record
    the set in its manifest, written last; returns the final paths. Files of an earlier set of
    the same figure that the new one lacks are removed."""
    out_dir = Path(out_dir)
    record = {Path(p).name: [Path(p).stat().st_size, _digest(Path(p))] for p in staged}
    manifest = _manifest(out_dir, name)
    with contextlib.suppress(FileNotFoundError):
        manifest.unlink()  # the old set is no longer complete from here on
    final = []
    for p in staged:
        target = out_dir / Path(p).name
        os.replace(p, target)
        final.append(target)
    for old in out_dir.glob(f"{name}.*"):
        if old.name not in record:
            old.unlink()
    write_text(manifest, json.dumps({"figure": name, "files": record}, indent=1) + "\n")
    return final


def complete_set(out_dir: Path, name: str) -> list[str] | None:
    """The file names of figure ``name``'s set when every file of its manifest is on disk with
    the recorded size and SHA-256; None when the set is missing or incomplete."""
    out_dir = Path(out_dir)
    try:
        record = json.loads(_manifest(out_dir, name).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for fname, (size, digest) in record.items():
        path = out_dir / fname
        try:
            if path.stat().st_size != size or _digest(path) != digest:
                return None
        except OSError:
            return None
    return sorted(record)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out_dir: Path) -> list[Path]:
    """Remove what killed runs left in ``out_dir``: hidden ``.*.tmp`` temporaries and staging
    folders whose process is gone. Returns what was removed."""
    removed = []
    out_dir = Path(out_dir)
    for tmp in out_dir.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    for folder in out_dir.glob(f"{STAGING_PREFIX}*"):
        try:
            pid = int(folder.name[len(STAGING_PREFIX) :].split("-")[-2])
        except (ValueError, IndexError):
            pid = -1
        if pid != os.getpid() and not (pid > 0 and _alive(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
