"""Atomic file output: a file gazekit writes is either absent, the old version, or the complete new one.

Every writer in gazekit goes through this module. The bytes are written to a hidden temporary file in the same
directory (``.NAME.PID-RANDOM.tmpSUFFIX``; the suffix is kept so libraries that pick the format from the extension
still work), flushed and fsynced, then moved over the destination with :func:`os.replace` (atomic on POSIX and
Windows when source and destination are on the same file system, which a sibling temporary file guarantees).
If anything fails or the process is interrupted by an exception (``KeyboardInterrupt`` included), the temporary
file is removed and the error re-raised; a process killed outright (``SIGKILL``, power loss) can leave a hidden
``.tmp`` file behind, but never a truncated file under the real name.

A full disk (``ENOSPC``) or exhausted quota (``EDQUOT``) becomes :class:`~gazekit.errors.DiskFullError`, which
names the destination.

Three entry points::

    write_text(path, text)                  # str
    write_bytes(path, data)                 # bytes
    with atomic_path(path) as tmp:          # any library that wants a path: np.save, PIL, matplotlib,
        df.to_parquet(tmp)                  #   pandas, pyarrow, torch.save
    with atomic_open(path, "w") as f:       # a file object (text or binary)
        json.dump(obj, f)
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gazekit.errors import DiskFullError

__all__ = ["atomic_path", "atomic_open", "write_text", "write_bytes", "temporary_sibling"]

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def temporary_sibling(path: str | Path) -> Path:
    """A fresh hidden name next to ``path`` that keeps its suffix (unique per process and call)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


def _is_disk_full(err: BaseException) -> bool:
    """True when ``err`` or an error it was raised from/while handling is ENOSPC/EDQUOT (libraries such as
    pyarrow or PIL sometimes wrap the OSError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL:
            return True
        if "No space left on device" in str(err) or "Disk quota exceeded" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends normally, the file written there replaces
    ``path`` atomically.

    Args:
        path: the destination.
        make_parents: create missing parent folders first.

    Raises:
        DiskFullError: the disk or quota is full (the destination is untouched, no temporary file is left).

    Any other error from the block is re-raised unchanged, after the temporary file is removed.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {str(path)!r}")
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        _remove(tmp)
        if _is_disk_full(err):
            raise DiskFullError(path) from err
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = None, newline: str | None = None,
                make_parents: bool = True):
    """``open(path, mode)`` that publishes the file only when the block ends without an error.

    ``mode`` is ``"w"``/``"wt"`` (text, UTF-8 unless ``encoding`` says otherwise) or ``"wb"``."""
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w', 'wt' or 'wb', got {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, make_parents=make_parents) as tmp:
        with open(tmp, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)
