"""Generic long-form scanpath tables (CSV/TSV, Parquet, JSON): one row per fixation, any column names, any
time unit, loaded without code.

Two kinds of file are read:
    * gazekit's own table (what ``Scanpaths.save`` / ``gazekit data convert`` write): read exactly.
    * any other table, through a column mapping ``{gazekit field: source column}``. Fields: ``x``, ``y``
      (required), ``image``, ``subject``, ``trial``, ``task``, ``condition``, ``t_start``, ``t_end``,
      ``duration``, ``index``, ``target_x0/y0/x1/y1``, ``image_width``, ``image_height``. Unmapped fields are
      guessed from common names (``participant``/``subject``/``RECORDING_SESSION_LABEL`` -> subject,
      ``stimulus``/``image`` -> image, ``start``/``onset`` -> t_start, ``end`` -> t_end, ...). MIT1003-style
      ``participant, stimulus, x, y, start, end, duration`` needs no mapping at all.

Times are converted from ``time_unit`` (``"ms"``, ``"s"``, ``"us"``, ``"ns"``) to milliseconds; a missing
duration is ``t_end - t_start`` when both exist, else NaN (never invented). Rows of a scanpath (same image,
subject, trial, task, condition) are ordered by ``index`` if mapped, else by ``t_start`` if present, else file
order. ``image_size`` / ``ppd`` options fill per-scanpath geometry the file lacks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gazekit.datasets._common import ScanpathBuilder, check_policy
from gazekit.datasets.base import GazeDataset, cached_scanpaths
from gazekit.datasets.registry import DATASETS, register_dataset
from gazekit.errors import DataFormatError, InvalidInputError, UnknownNameError
from gazekit.progress import track
from gazekit.scanpaths import STRING_ATTRS, Scanpaths, ValidationReport, read_table

TIME_UNITS_MS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "ns": 1e-6}
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".json")
FIELDS = ("x", "y", "image", "subject", "trial", "task", "condition", "t_start", "t_end", "duration", "index",
          "target_x0", "target_y0", "target_x1", "target_y1", "image_width", "image_height")
# Lower-case aliases tried, in order, for fields the mapping does not name.
ALIASES = {
    "x": ("x", "fix_x", "fixation_x", "start_x", "current_fix_x", "gaze_x", "pos_x"),
    "y": ("y", "fix_y", "fixation_y", "start_y", "current_fix_y", "gaze_y", "pos_y"),
    "image": ("image", "stimulus", "stimuli", "img", "image_name", "filename", "name"),
    "subject": ("subject", "participant", "subj", "observer", "recording_session_label", "sub"),
    "trial": ("trial", "trial_index", "trial_id", "trialid"),
    "task": ("task", "target", "target_name", "category"),
    "condition": ("condition",),
    "t_start": ("t_start_ms", "t_start", "start", "onset", "start_time", "current_fix_start"),
    "t_end": ("t_end", "end", "offset", "end_time", "current_fix_end"),
    "duration": ("duration_ms", "duration", "dur", "fix_duration", "current_fix_duration"),
    "index": ("index", "fixation_index", "fix_index", "current_fix_index"),
    "target_x0": ("target_x0",), "target_y0": ("target_y0",), "target_x1": ("target_x1",),
    "target_y1": ("target_y1",), "image_width": ("image_width",), "image_height": ("image_height",),
}


def _read_any(path: Path):
    """A table file as a DataFrame of raw values (CSV/TSV as strings; tab-separated when .tsv or when the
    header has tabs)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".txt"):
        return read_table(path)
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataFormatError(f"cannot parse as tab-separated text: {err}", file=path) from err


def is_gazekit_table(df) -> bool:
    return all(c in df.columns for c in STRING_ATTRS + ("index", "x", "y"))


def resolve_columns(columns_present, mapping: dict | None) -> dict[str, str]:
    """Full mapping ``field -> column``: the user's mapping, plus aliases for fields it leaves out."""
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise InvalidInputError(f"unknown field(s) {unknown} in the column mapping; fields are {list(FIELDS)}")
    present = {str(c).strip().lower(): c for c in columns_present}
    for field_name, column in mapping.items():
        if column not in columns_present:
            raise InvalidInputError(f"column {column!r} (mapped to {field_name!r}) is not in the table; "
                                    f"columns are {list(columns_present)}")
    used = set(mapping.values())
    for field_name in FIELDS:
        if field_name in mapping:
            continue
        for alias in ALIASES[field_name]:
            if alias in present and present[alias] not in used:
                mapping[field_name] = present[alias]
                used.add(present[alias])
                break
    return mapping


def _numbers(df, column, *, source, field_name) -> np.ndarray:
    import pandas as pd

    from gazekit.scanpaths import _is_blank

    converted = pd.to_numeric(df[column], errors="coerce")
    if converted.isna().any():
        bad = converted.isna() & ~_is_blank(df[column])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFormatError(f"value {df[column].iloc[row]!r} is not a number", file=source,
                                  record=f"row {row}", field=str(column))
    return converted.to_numpy(dtype=np.float64, na_value=math.nan)


def parse_table(path, *, columns: dict | None = None, time_unit: str = "ms", dataset: str | None = None,
                image_size=None, ppd: float | None = None, on_invalid: str = "raise") -> tuple[Scanpaths,
                                                                                              ValidationReport]:
    """Parse a long-form table (see the module docstring) into (Scanpaths, ValidationReport)."""
    import pandas as pd

    path = Path(path)
    check_policy(on_invalid)
    if time_unit not in TIME_UNITS_MS:
        raise InvalidInputError(f"Expected argument `time_unit` to be one of {list(TIME_UNITS_MS)} "
                                f"but got {time_unit!r}")
    df = _read_any(path)
    if not isinstance(df, pd.DataFrame) or len(df.columns) == 0:
        raise DataFormatError("the table has no columns", file=path)
    if columns is None and is_gazekit_table(df):
        sp = Scanpaths.from_table(df, source=path)
        if dataset:
            sp.dataset = [dataset] * len(sp)
        return sp.validate(on_invalid, source=path)
    m = resolve_columns(list(df.columns), columns)
    for required in ("x", "y"):
        if required not in m:
            raise DataFormatError(f"no column for {required!r}; pass a mapping such as columns={{'{required}': "
                                  f"'<column>'}} (columns are {list(df.columns)})", file=path, field=required)
    num = {f: _numbers(df, m[f], source=path, field_name=f) for f in FIELDS if f in m and f not in STRING_ATTRS}
    scale = TIME_UNITS_MS[time_unit]
    n = len(df)
    t_start = num["t_start"] * scale if "t_start" in num else np.full(n, math.nan)
    if "duration" in num:
        duration = num["duration"] * scale
    elif "t_end" in num and "t_start" in num:
        duration = (num["t_end"] - num["t_start"]) * scale
    else:
        duration = np.full(n, math.nan)
    strings = {a: (df[m[a]].astype(object).where(df[m[a]].notna(), "").astype(str).to_numpy() if a in m
                   else np.full(n, "", dtype=object)) for a in STRING_ATTRS if a != "dataset"}
    order_key = num.get("index", t_start if "t_start" in num else np.arange(n, dtype=np.float64))
    keys = pd.DataFrame({a: strings[a] for a in strings})
    group = keys.groupby(list(strings), sort=False).ngroup().to_numpy()
    order = np.lexsort((np.arange(n), order_key, group))
    name = dataset or path.stem
    builder = ScanpathBuilder(path, on_invalid, name)
    if image_size is not None and len(image_size) != 2:
        raise InvalidInputError(f"image_size must be (width, height), got {image_size}")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for rows in track(np.split(order, bounds) if n else [], f"parsing {path.name}: scanpaths"):
        first = rows[0]
        box = [num[k][first] for k in ("target_x0", "target_y0", "target_x1", "target_y1")] \
            if all(k in num for k in ("target_x0", "target_y0", "target_x1", "target_y1")) else None
        size = image_size
        if size is None and "image_width" in num and "image_height" in num:
            size = (num["image_width"][first], num["image_height"][first])
        builder.add(num["x"][rows], num["y"][rows], t_start[rows], duration[rows],
                    **{a: strings[a][first] for a in strings}, target_box=box, image_size=size, ppd=ppd,
                    record=f"row {int(first)}")
    return builder.build()


@register_dataset("table", description="any long-form fixation table (CSV/TSV/Parquet/JSON) with a column mapping; "
                  "root is the file", has_images=False)
def load(root=None, *, columns: dict | None = None, time_unit: str = "ms", dataset: str | None = None,
         image_size=None, ppd: float | None = None, images_dir=None, on_invalid: str = "raise",
         cache: bool = True) -> GazeDataset:
    """Load a fixation table.

    Args:
        root: the table file (``.csv``, ``.tsv``, ``.parquet``, ``.json``).
        columns: ``{gazekit field: column}`` (see module docstring); unmapped fields are guessed.
        time_unit: unit of the time columns: ``"ms"``, ``"s"``, ``"us"`` or ``"ns"``.
        dataset: name written into the scanpaths (default: the file stem).
        image_size: ``(width, height)`` px of every image, when the table has no such columns.
        ppd: pixels per degree, when known.
        images_dir: folder with the image files named in the ``image`` column (optional).
        on_invalid: ``"raise"``, ``"drop"`` or ``"clip"``.
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    if root is None:
        raise InvalidInputError("the 'table' dataset needs root=<path to a table file>")
    path = Path(root).expanduser()
    if not path.is_file():
        raise DataFormatError("file does not exist", file=path)
    options = {"columns": columns, "time_unit": time_unit, "dataset": dataset, "image_size": image_size, "ppd": ppd,
               "on_invalid": on_invalid}
    sp, report = cached_scanpaths("table", [path], lambda: parse_table(path, **options), enabled=cache,
                                  options=options)
    images = {}
    if images_dir is not None:
        folder = Path(images_dir)
        images = {img: folder / img for img in sorted(set(sp.image)) if img and (folder / img).is_file()}
    return GazeDataset(dataset or path.stem, sp, path.parent, images=images, report=report,
                       meta={"file": str(path), "time_unit": time_unit})


def open_dataset(name_or_path: str, root=None, **kwargs) -> GazeDataset:
    """A registered dataset by name, or a table file by path (``gazekit data info``/``convert`` use this)."""
    if name_or_path in DATASETS:
        return DATASETS.get(name_or_path).obj(root=root, **kwargs)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() in TABLE_SUFFIXES or path.is_file():
        if not path.exists():
            raise DataFormatError("file does not exist", file=path)
        return load(path, **kwargs)
    raise UnknownNameError("dataset", name_or_path, DATASETS.names())
