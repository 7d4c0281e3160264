"""Writing files safely, shared by the figures, the experiment store and every ``--json``.

- ``check_writable(folder, what)``: create the folder and prove it writable before any work,
  or a ValueError naming it.
- ``atomic_open`` / ``atomic_write``: write through a temporary file in the same folder and
  ``os.replace`` it over the target, so a reader (or a killed run) sees the old file or the
  new one, never a part of one.
- ``jsonable``: a nested structure as strict JSON takes it (non-finite floats as strings).

Standard library only, so importing it costs nothing (the CLI imports it at start-up).
"""

from __future__ import annotations

import contextlib
import errno
import math
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_write",
    "check_writable",
    "describe_oserror",
    "jsonable",
    "oserror_naming",
]


def check_writable(folder: str | Path, what: str) -> Path:
    """Create ``folder`` (and its parents) and write and delete a probe file in it, before any
    work; ``what`` names the folder's use in the messages ("results", "figures"). A ValueError
    naming the path otherwise: an empty name, a file in the way, no permission, a read-only or
    full file system. Returns the folder as a Path."""
    if str(folder).strip() == "":
        raise ValueError(f"the {what} folder name is empty; give a folder, e.g. --out out")
    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.is_symlink() and not parent.exists():
            raise ValueError(
                f"cannot write {what} into {folder}: {parent} is a symbolic link to "
                f"{os.readlink(parent)}, which does not exist (a dangling link)"
            )
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write {what} into {folder}: {parent} is a file")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(f"cannot write {what} into {folder}: {reason}") from None
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (text modes in UTF-8); on success it is flushed to
    disk and replaces ``path`` with the usual permissions (0666 less the umask, not mkstemp's
    0600); on any error it is removed and ``path`` is left as it was. An OSError that names no
    file (a full disk, a quota, an I/O error while writing) is raised again naming ``path``,
    never the temporary file; a folder at ``path`` is refused by name before anything is
    written."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way of the file", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise oserror_naming(err, path) from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise (err if err.filename and err.filename != tmp else oserror_naming(err, path)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def oserror_naming(err: OSError, path: str | Path) -> OSError:
    """``err`` as an OSError of the same kind (the errno picks the subclass) naming ``path``,
    the target, not a temporary or staging file."""
    return OSError(err.errno, err.strerror or str(err) or type(err).__name__, str(path))


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through ``atomic_open``; an OSError (disk full, read-only)
    becomes a ValueError naming the path, and no temporary file is left."""
    try:
        with atomic_open(path, "w") as fh:
            fh.write(text)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(f"cannot write {path}: {reason}") from None


def describe_oserror(err: OSError) -> str:
    """One line for an OSError: "PATH: reason" (both paths of a rename), or the reason alone
    when it names no file; never an empty part or a doubled colon."""
    reason = err.strerror or str(err) or type(err).__name__
    names = [str(n) for n in (err.filename, getattr(err, "filename2", None)) if n]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def jsonable(obj: Any) -> Any:
    """``obj`` (nested dicts, lists, tuples, numbers) as strict JSON takes it: dict keys as
    strings, tuples as lists, NumPy scalars as Python numbers, and every non-finite float as
    the string "nan", "inf" or "-inf" (JSON has no such numbers)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        v = float(obj)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return obj
