"""Atomic writes for figures and their data: write a temporary file in the target folder, then
``os.replace`` it over the final name, so an interrupted run never leaves a half-written file."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_open", "save_figure", "save_npz", "save_csv", "write_text", "save_all"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is
    removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
