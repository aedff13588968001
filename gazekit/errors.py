"""gazekit's own, documented error types.

Every error gazekit raises on bad input is one of these, so callers (and the fuzz tests) can tell a
clear refusal from a bug. Each message names where the problem is: the file, the record and the field.
"""

from __future__ import annotations

__all__ = [
    "GazekitError",
    "DataFormatError",
    "DatasetNotFoundError",
    "DiskFullError",
    "InvalidInputError",
    "UntrustedCheckpointError",
    "UnknownNameError",
]


class GazekitError(Exception):
    """Base class of every error gazekit raises on purpose."""


class DataFormatError(GazekitError, ValueError):
    """A file or record does not follow its format.

    Args:
        message: what is wrong.
        file: the file being read (path or name), if any.
        record: which record (trial, line number, scanpath index), if known.
        field: which field of the record, if known.
    """

    def __init__(self, message: str, *, file: object = None, record: object = None, field: str | None = None):
        self.file, self.record, self.field = file, record, field
        where = []
        if file is not None:
            where.append(f"file {str(file)!r}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class DatasetNotFoundError(GazekitError, FileNotFoundError):
    """A dataset's files are not where they were looked for."""

    def __init__(self, name: str, root: object, missing: object, hint: str = ""):
        self.name, self.root, self.missing = name, root, missing
        msg = f"dataset {name!r}: {missing} not found under root {str(root)!r}."
        msg += " " + (hint or "Pass --root DIR (or root=...) pointing at the dataset folder, or set $GAZEKIT_DATA.")
        super().__init__(msg)


class DiskFullError(GazekitError, OSError):
    """An output could not be written because the disk (or the user's quota) is full. Nothing was written under
    the destination's name: it still holds its previous content, or does not exist."""

    def __init__(self, path: object):
        import errno

        self.path = path
        super().__init__(errno.ENOSPC, f"no space left on the device to write {str(path)!r}; nothing was written "
                                       f"there (free some space, or write somewhere else, and run again)")
        self.filename = str(path)

    def __str__(self) -> str:
        return self.args[1]


class InvalidInputError(GazekitError, ValueError):
    """An argument to a gazekit function has the wrong shape, type, dtype or value."""


class UntrustedCheckpointError(InvalidInputError):
    """A model or checkpoint file was refused because reading it could run code from the file (it holds Python
    objects beyond the tensors and plain values gazekit writes), or because its sha256 is not the one the caller
    vouched for. The message says how to load a file one trusts (``trust="<sha256>"``, ``--trust-checkpoint
    SHA256``, with the file's actual sha256); see docs/security.md."""


class UnknownNameError(GazekitError, KeyError):
    """A registry lookup (model, dataset, metric, preset) failed; the message lists close matches."""

    def __init__(self, kind: str, name: str, known: list[str]):
        import difflib

        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
        msg = f"unknown {kind} {name!r}."
        if close:
            msg += f" Did you mean: {', '.join(close)}?"
        msg += f" Known {kind}s: {', '.join(sorted(known)) or '(none)'}."
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]
