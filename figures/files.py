"""Atomic writes for figures and their data.

Each file is written to a temporary file in the target folder, then ``os.replace``d over the
final name, so an interrupted run never leaves a half-written file. A figure's files form a
*set* (PNG, PDF and its data): ``publish_set`` moves a set made in a staging folder into the
output folder and records it in a hidden manifest (``.NAME.set``, written last) with each file's
size and SHA-256; ``complete_set`` tells whether the files on disk are exactly a recorded set, so
a run killed between two renames (a new PNG beside an old PDF) is never listed as complete.
``remove_stale`` deletes the hidden temporaries and staging folders that a killed run left.
Only files a manifest lists are ever removed: a user's file that shares a figure's prefix
(``membrane_traces.notes.txt``) is left alone. A write error names the file's place in the
output folder, never the staging folder it was made in.
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
from typing import IO, Any

import numpy as np

from lstmlif.fileio import atomic_open, oserror_naming

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


def _target(path: Path) -> Path:
    """Where a file made in a staging folder will live: the output folder, same name."""
    path = Path(path)
    if path.parent.name.startswith(STAGING_PREFIX):
        return path.parent.parent / path.name
    return path


@contextlib.contextmanager
def _writing(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """``atomic_open(path, mode)`` whose OSError names the file's final place (``_target``)."""
    path = Path(path)
    try:
        with atomic_open(path, mode) as fh:
            yield fh
    except OSError as err:
        if err.filename in (str(path), None):
            raise oserror_naming(err, _target(path)) from None
        raise


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
            with _writing(path) as fh:
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
    with _writing(path) as fh:
        fh.write(buf.getvalue())
    return path


def save_csv(out_dir: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """Write a table as ``stem.csv`` in ``out_dir`` (atomically); floats with repr precision."""
    path = Path(out_dir) / f"{stem}.csv"
    with _writing(path, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (atomically)."""
    with _writing(Path(path), "w") as fh:
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


def _recorded(out_dir: Path, name: str) -> dict[str, Any]:
    """The files of figure ``name``'s manifest ({} when there is none or it is unreadable)."""
    try:
        record = json.loads(_manifest(out_dir, name).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return record if isinstance(record, dict) else {}


def publish_set(out_dir: Path, name: str, staged: Sequence[Path]) -> list[Path]:
    """Move the staged files of figure ``name`` into ``out_dir`` (one rename each) and record
    the set in its manifest, written last; returns the final paths. Files of the earlier set
    (those its manifest lists) that the new one lacks are removed; no other file is touched,
    so a user's ``NAME.notes.txt`` or ``NAME.svg`` beside the figure stays. A target name that
    is a folder (or anything but a file) is refused by name (ValueError) before any move."""
    out_dir = Path(out_dir)
    for p in staged:
        target = out_dir / Path(p).name
        if target.is_dir() or (target.exists() and not target.is_file()):
            kind = "a folder" if target.is_dir() else "not a regular file"
            raise ValueError(
                f"cannot write figure file {target}: it is {kind}; move it away or choose "
                "another --out"
            )
    record = {Path(p).name: [Path(p).stat().st_size, _digest(Path(p))] for p in staged}
    manifest = _manifest(out_dir, name)
    earlier = _recorded(out_dir, name)
    with contextlib.suppress(FileNotFoundError):
        manifest.unlink()  # the old set is no longer complete from here on
    final = []
    for p in staged:
        target = out_dir / Path(p).name
        try:
            os.replace(p, target)
        except OSError as err:
            raise oserror_naming(err, target) from None
        final.append(target)
    for old in earlier:
        path = out_dir / old
        # only a plain name of this figure's own set (a manifest is data: never a path out)
        if old not in record and Path(old).name == old and old.startswith(f"{name}."):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()
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
