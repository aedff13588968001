"""Helpers shared by the dataset readers: MATLAB/JSON file access with gazekit errors, and a builder that
collects scanpaths record by record and applies the ``on_invalid`` policy.

Policies (every reader takes ``on_invalid``):
    * ``"error"`` (default; alias ``"raise"``): the first bad record or fixation raises :class:`DataFormatError` naming the file,
      the record and the field.
    * ``"drop"``: bad fixations (NaN coordinates, non-positive durations, outside the image) are removed; bad
      records (mismatched X/Y/T lengths, missing or mistyped fields) are removed whole. Both are counted in the
      dataset's ``report`` by reason.
    * ``"clip"``: like ``"drop"`` but fixations outside the image are clipped onto its border (and counted).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from gazekit.errors import DataFormatError, DatasetNotFoundError, InvalidInputError
from gazekit.scanpaths import Scanpaths, ValidationReport
from gazekit.scanpaths._validation import normalize_policy

POLICIES = ("error", "drop", "clip")  # "raise" is accepted as an alias of "error"


def check_policy(on_invalid: str) -> str:
    """The policy's internal name (``"raise"`` for ``"error"``); unknown names raise InvalidInputError."""
    return normalize_policy(on_invalid)


def require_file(name: str, root: Path, relative: str, hint: str = "") -> Path:
    path = root / relative
    if not path.is_file():
        raise DatasetNotFoundError(name, root, relative, hint)
    return path


def load_mat(path: Path) -> dict:
    """``scipy.io.loadmat`` (squeezed, structs as objects); any failure becomes a DataFormatError."""
    import scipy.io

    try:
        return scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, MatReadError... on corrupt files
        raise DataFormatError(f"cannot read MATLAB file: {type(err).__name__}: {err}", file=path) from err


def load_json(path: Path):
    try:
        return json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise DataFormatError(f"cannot parse JSON: {err}", file=path) from err


def numeric_vector(value, *, file, record, field: str) -> np.ndarray:
    """A MATLAB/JSON value as a 1-D float64 array (a scalar becomes length 1, an empty matrix length 0)."""
    if isinstance(value, bool) or value is None:
        raise DataFormatError(f"expected numbers, got {type(value).__name__}", file=file, record=record, field=field)
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            bad = next(v for v in value if isinstance(v, bool) or not isinstance(v, (int, float)))
            raise DataFormatError(f"expected a list of numbers, found {bad!r}", file=file, record=record,
                                  field=field)
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"dtype {arr.dtype}")
        return arr.astype(np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"expected numbers, got {type(value).__name__} ({err})", file=file, record=record,
                              field=field) from err


def scalar(value, *, file, record, field: str) -> float:
    arr = numeric_vector(value, file=file, record=record, field=field)
    if arr.size != 1:
        raise DataFormatError(f"expected one number, got {arr.size}", file=file, record=record, field=field)
    return float(arr[0])


def text(value, *, file, record, field: str) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, np.ndarray) and value.size == 0:
        return ""
    raise DataFormatError(f"expected text, got {type(value).__name__}", file=file, record=record, field=field)


class ScanpathBuilder:
    """Collects scanpaths one record at a time and builds the validated batch.

    ``bad_record`` raises under ``"raise"`` and counts a dropped scanpath otherwise; ``build`` runs
    :meth:`Scanpaths.validate` with the same policy and merges the counts.
    """

    def __init__(self, source: object, on_invalid: str, dataset: str):
        self.source, self.on_invalid, self.dataset = source, check_policy(on_invalid), dataset
        self.report = ValidationReport()
        self.xs, self.ys, self.ts, self.ds = [], [], [], []
        self.attrs: dict[str, list] = {k: [] for k in ("image", "subject", "trial", "task", "condition")}
        self.rows: dict[str, list] = {"target_box": [], "image_size": [], "ppd": [], "screen": []}
        self.extra: dict[str, list[str]] = {}

    def bad_record(self, err: DataFormatError, reason: str) -> None:
        if self.on_invalid == "raise":
            raise err
        self.report.add("dropped_scanpaths", reason)

    def add(self, x, y, t=None, d=None, *, image="", subject="", trial="", task="", condition="", target_box=None,
            image_size=None, ppd=None, screen=None, extra: dict[str, str] | None = None, record=None) -> bool:
        """Add one scanpath; returns False (after counting or raising) when X/Y/T/D lengths disagree."""
        n = len(x)
        for name, seq in (("y", y), ("t", t), ("duration", d)):
            if seq is not None and len(seq) != n:
                self.bad_record(DataFormatError(f"{name} has {len(seq)} values but x has {n}", file=self.source,
                                                record=record, field=name), "mismatched lengths")
                return False
        self.xs.append(np.asarray(x, dtype=np.float64))
        self.ys.append(np.asarray(y, dtype=np.float64))
        nan = np.full(n, math.nan)
        self.ts.append(nan if t is None else np.asarray(t, dtype=np.float64))
        self.ds.append(nan if d is None else np.asarray(d, dtype=np.float64))
        for key, value in (("image", image), ("subject", subject), ("trial", trial), ("task", task),
                           ("condition", condition)):
            self.attrs[key].append(str(value))
        self.rows["target_box"].append([math.nan] * 4 if target_box is None else list(target_box))
        self.rows["image_size"].append([math.nan] * 2 if image_size is None else list(image_size))
        self.rows["ppd"].append(math.nan if ppd is None else float(ppd))
        self.rows["screen"].append([math.nan] * 5 if screen is None else list(screen))
        count = len(self.xs) - 1
        for key in set(self.extra) | set(extra or {}):
            self.extra.setdefault(key, [""] * count).append((extra or {}).get(key, ""))
        return True

    def build(self) -> tuple[Scanpaths, ValidationReport]:
        if not self.xs:
            return Scanpaths.empty(), self.report
        sp = Scanpaths.from_sequences(
            self.xs, self.ys, self.ts, self.ds, dataset=self.dataset, **self.attrs,
            target_box=np.asarray(self.rows["target_box"], dtype=np.float64),
            image_size=np.asarray(self.rows["image_size"], dtype=np.float64),
            ppd=np.asarray(self.rows["ppd"], dtype=np.float64),
            screen=np.asarray(self.rows["screen"], dtype=np.float64), scanpath_attrs=self.extra,
        )
        sp, report = sp.validate(self.on_invalid, source=self.source)
        return sp, self.report.merge(report)
