"""Registry of raw eye-tracker readers: ``@register_reader("eyelink_asc", suffixes=(".asc",))`` on a function
``read(path, **options) -> RawRecording``; :func:`read_raw` picks the reader by name, suffix or file header."""

from __future__ import annotations

from pathlib import Path

from gazekit._registry import Registry
from gazekit.errors import DataFormatError, InvalidInputError

READERS = Registry("raw reader", "gazekit.datasets.raw")

__all__ = ["READERS", "guess_format", "list_readers", "read_raw", "reader_info", "register_reader"]


def register_reader(name: str, *, suffixes: tuple[str, ...] = (), sniff=None, **info):
    """Register a reader. ``suffixes`` ('.asc') and ``sniff(first_line) -> bool`` let :func:`read_raw` choose it."""
    return READERS.register(name, suffixes=tuple(suffixes), sniff=sniff, **info)


def list_readers(pattern: str = "*") -> list[str]:
    """Names of the registered raw readers matching the wildcard ``pattern``."""
    return READERS.names(pattern)


def reader_info(name: str) -> dict:
    """What a raw reader registered about itself (suffixes, description, ...)."""
    return {k: v for k, v in READERS.get(name).info.items() if k != "sniff"}


_GENERIC_SUFFIXES = (".tsv", ".csv", ".txt", ".tsv.gz", ".csv.gz")


def guess_format(path: str | Path) -> str:
    """Reader name for ``path``: by suffix, then (for ambiguous suffixes such as .tsv) by the header line."""
    path = Path(path)
    fname = path.name.lower()
    candidates = [n for n in READERS.names() if any(fname.endswith(s) for s in READERS.get(n).info["suffixes"])]
    generic = fname.endswith(_GENERIC_SUFFIXES)  # any tool writes .tsv/.csv: the header must say which format
    if len(candidates) == 1 and not (generic and READERS.get(candidates[0]).info.get("sniff")):
        return candidates[0]
    if not path.is_file():
        raise DataFormatError("file does not exist", file=path)
    import gzip

    opener = gzip.open if fname.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError as err:
        raise DataFormatError(f"cannot read: {err}", file=path) from err
    for name in candidates or READERS.names():
        sniff = READERS.get(name).info.get("sniff")
        if sniff is not None and sniff(first):
            return name
    raise DataFormatError(f"cannot tell the format from the suffix or the first line {first[:80]!r}: it is not "
                          f"{' or '.join(candidates) if candidates else 'a known raw format'}; pass --format NAME "
                          f"(format= in Python), NAME one of {READERS.names()}", file=path)


def read_raw(path: str | Path, format: str | None = None, **options):
    """Read a raw eye-tracker file into a :class:`~gazekit.datasets.raw.recording.RawRecording`.

    Args:
        path: the file.
        format: reader name (``list_readers()``); guessed from the suffix or header when None.
        options: reader options (e.g. ``geometry=ScreenGeometry(...)``, ``on_error="drop"``).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataFormatError("is a folder, not a raw recording: give one file (for example one trial's .tsv or a "
                              "session's .asc)", file=path)
    if not path.exists():
        raise DataFormatError("file does not exist", file=path)
    if format is None:
        format = guess_format(path)
    elif format not in READERS:
        READERS.get(format)  # raises UnknownNameError with close matches
    reader = READERS.get(format).obj
    try:
        return reader(path, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise InvalidInputError(f"reader {format!r}: {err}") from err
        raise
