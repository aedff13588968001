"""The parse-once dataset cache: a Parquet table plus a JSON manifest per entry, safe under kills and concurrency.

An entry is named ``KEY-DIGEST`` in :func:`gazekit.paths.cache_dir`. ``DIGEST`` hashes the entry's *identity*:
the cache format version, the reader (the sha256 of the source file of the module that defines the parse
function, so any change to a reader invalidates its caches), the reader's options, and each source file's
resolved path, size and modification time. The manifest (``KEY-DIGEST.json``) repeats that identity and holds the
sha256 of the table and the validation report; it is written last, so it is the commit record of the entry.

An entry is used only when its manifest parses, names the same identity, and the table's sha256 matches: a
truncated, damaged or stale entry is rebuilt, never trusted. Building takes an exclusive lock on
``KEY-DIGEST.lock`` (``fcntl.flock``; the kernel drops it when the holder dies, even by SIGKILL), so two processes
asking for the same entry build it once and the second reads the first one's result; every file is written
through :mod:`gazekit._atomic`, so even without the lock (platforms without ``fcntl``) readers see whole files.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from gazekit._atomic import write_text
from gazekit.errors import GazekitError
from gazekit.paths import cache_dir
from gazekit.scanpaths import Scanpaths, ValidationReport

__all__ = ["CACHE_VERSION", "cached_scanpaths", "cache_identity"]

CACHE_VERSION = 2  # bump when the parsed representation or the entry layout changes
_FORMAT = "gazekit-dataset-cache"


def _reader_version(build: Callable) -> str:
    """sha256 (16 hex) of the source file of the module that defines ``build`` ("" when it has none)."""
    module = sys.modules.get(getattr(build, "__module__", "") or "")
    try:
        source = Path(inspect.getsourcefile(module)) if module is not None else None
    except TypeError:
        source = None
    if source is None or not source.is_file():
        return ""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


def cache_identity(key: str, sources: list[Path], build: Callable, options: dict | None = None) -> dict:
    """What an entry depends on (JSON-ready); equal identities share an entry."""
    files = []
    for src in sources:
        st = Path(src).stat()
        files.append({"path": str(Path(src).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"key": key, "cache_version": CACHE_VERSION, "reader": _reader_version(build),
            "options": json.loads(json.dumps(options or {}, sort_keys=True, default=str)), "sources": files}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_entry(table: Path, manifest: Path, identity: dict) -> tuple[Scanpaths, ValidationReport] | None:
    """The entry's content, or None when it is missing, damaged or not for ``identity``."""
    try:
        doc = json.loads(manifest.read_text())
        if doc.get("format") != _FORMAT or doc.get("identity") != identity:
            return None
        if _sha256(table) != doc["table_sha256"]:
            return None
        return Scanpaths.load(table), ValidationReport(**doc["report"])
    except (GazekitError, ValueError, TypeError, KeyError, AttributeError, OSError):
        return None  # absent or damaged: rebuilt, never trusted


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    try:
        import fcntl
    except ImportError:  # no advisory locks here: atomic renames still keep every visible file whole
        yield
        return
    try:
        f = open(lock_path, "a+b")
    except OSError:  # a read-only or full cache folder: build without the lock (writing will fail and be reported)
        yield
        return
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_stale(folder: Path, key: str, keep: str, identity: dict) -> None:
    """Delete other entries of ``key`` for the same source paths and options (their files have since changed,
    or the reader has): they can never be used again."""
    same = ({"path": s["path"]} for s in identity["sources"])
    wanted = (identity["options"], list(same))
    for manifest in folder.glob(f"{key}-*.json"):
        if manifest.stem == keep or manifest.name.startswith("."):
            continue
        try:
            doc = json.loads(manifest.read_text())
            other = doc["identity"]
            if other.get("key") != key or (other["options"], [{"path": s["path"]} for s in other["sources"]]) != wanted:
                continue
        except (ValueError, KeyError, TypeError, OSError):
            continue
        for suffix in (".parquet", ".json", ".lock"):
            with contextlib.suppress(OSError):
                manifest.with_suffix(suffix).unlink()


def cached_scanpaths(key: str, sources: list[Path], build: Callable[[], tuple[Scanpaths, ValidationReport]], *,
                     enabled: bool = True, options: dict | None = None) -> tuple[Scanpaths, ValidationReport]:
    """Parse once: ``build()``'s result is stored in the cache and returned from there while its identity
    (reader, ``options``, each source file's path, size and modification time) is unchanged.

    Args:
        key: the cache entry's name prefix (the dataset name).
        sources: every file the parse reads.
        build: parses the sources; returns ``(scanpaths, report)``.
        enabled: False parses without touching the cache.
        options: the reader options that change the result.
    """
    if not enabled:
        return build()
    identity = cache_identity(key, sources, build, options)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir()
    name = f"{key}-{digest}"
    table, manifest = folder / f"{name}.parquet", folder / f"{name}.json"
    hit = _read_entry(table, manifest, identity)
    if hit is not None:
        return hit
    with _exclusive(folder / f"{name}.lock"):
        hit = _read_entry(table, manifest, identity)  # another process may have built it while this one waited
        if hit is not None:
            return hit
        scanpaths, report = build()
        try:
            scanpaths.save(table)
            doc = {"format": _FORMAT, "identity": identity, "table_sha256": _sha256(table),
                   "report": report.to_dict()}
            write_text(manifest, json.dumps(doc, indent=1))
        except OSError as err:  # DiskFullError included: the data are parsed, only the cache copy is missing
            warnings.warn(f"could not write the dataset cache entry {str(table)!r} ({err}); the data were parsed "
                          f"and are used, and will be parsed again next time", RuntimeWarning, stacklevel=2)
            return scanpaths, report
        _remove_stale(folder, key, name, identity)
    return scanpaths, report
