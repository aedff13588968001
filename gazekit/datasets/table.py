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
from dataclasses import replace
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
    """Whether a DataFrame has the columns of gazekit's own long-form table (``Scanpaths.save``)."""
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


XY_UNITS = ("px", "normalized")


def parse_table(path, *, columns: dict | None = None, time_unit: str = "ms", dataset: str | None = None,
                image_size=None, ppd: float | None = None, on_invalid: str = "raise", xy_unit: str = "px",
                image_sizes: dict | None = None) -> tuple[Scanpaths, ValidationReport]:
    """Parse a long-form table file (see the module docstring) into (Scanpaths, ValidationReport)."""
    path = Path(path)
    return parse_frame(_read_any(path), source=path, columns=columns, time_unit=time_unit,
                       dataset=dataset or path.stem, image_size=image_size, ppd=ppd, on_invalid=on_invalid,
                       xy_unit=xy_unit, image_sizes=image_sizes)


def parse_frame(df, *, source: object = "<table>", columns: dict | None = None, time_unit: str = "ms",
                dataset: str = "", image_size=None, ppd: float | None = None, on_invalid: str = "raise",
                xy_unit: str = "px", image_sizes: dict | None = None) -> tuple[Scanpaths, ValidationReport]:
    """A pandas DataFrame in any long-form layout -> (Scanpaths, ValidationReport) (the Python entry of the
    column mapping; :func:`parse_table` reads a file and calls this).

    Args:
        columns: ``{gazekit field: column}``; unmapped fields are guessed from common names (module docstring).
        time_unit: unit of the time columns (``"ms"``, ``"s"``, ``"us"``, ``"ns"``).
        dataset: name written into the scanpaths.
        image_size: ``(width, height)`` of every image, when the table has no size columns.
        ppd: pixels per degree, when known.
        on_invalid: ``"error"`` (alias ``"raise"``), ``"drop"`` or ``"clip"``.
        xy_unit: ``"px"`` or ``"normalized"`` (0-1 of the image width and height; needs the image sizes).
        image_sizes: image name -> (width, height), e.g. read from the image files; fills sizes the table and
            ``image_size`` leave unknown.
    """
    import pandas as pd

    on_invalid = check_policy(on_invalid)
    if time_unit not in TIME_UNITS_MS:
        raise InvalidInputError(f"Expected argument `time_unit` (--time-unit) to be one of {list(TIME_UNITS_MS)} "
                                f"but got {time_unit!r}")
    if xy_unit not in XY_UNITS:
        raise InvalidInputError(f"Expected argument `xy_unit` (--xy-unit) to be one of {list(XY_UNITS)} but got "
                                f"{xy_unit!r}")
    if image_size is not None and len(image_size) != 2:
        raise InvalidInputError(f"image_size (--image-size) must be (width, height), got {image_size}")
    if not isinstance(df, pd.DataFrame) or len(df.columns) == 0:
        raise DataFormatError("the table has no columns", file=source)
    if len(df) == 0:
        raise DataFormatError(f"the table has no rows (only the header {list(df.columns)[:8]}): no fixations to "
                              "load", file=source)
    if columns is None and is_gazekit_table(df):
        sp = Scanpaths.from_table(df, source=source)
        if dataset:
            sp.dataset = [dataset] * len(sp)
        sp = _fill_sizes(sp, image_size, image_sizes)
        if xy_unit == "normalized":
            sp = _denormalize(sp, source)
        sp, report = sp.validate(on_invalid, source=source)
        return _nonempty(sp, report, source)
    m = resolve_columns(list(df.columns), columns)
    for required in ("x", "y"):
        if required not in m:
            raise DataFormatError(f"no column for {required!r}; name it with --columns '{{\"{required}\": "
                                  f"\"COLUMN\"}}' (columns={{'{required}': 'COLUMN'}} in Python); the columns are "
                                  f"{list(df.columns)}", file=source, field=required)
    num = {f: _numbers(df, m[f], source=source, field_name=f) for f in FIELDS if f in m and f not in STRING_ATTRS}
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
    builder = ScanpathBuilder(source, on_invalid, dataset)
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for rows in track(np.split(order, bounds) if n else [], f"parsing {getattr(source, 'name', source)}: scanpaths"):
        first = rows[0]
        box = [num[k][first] for k in ("target_x0", "target_y0", "target_x1", "target_y1")] \
            if all(k in num for k in ("target_x0", "target_y0", "target_x1", "target_y1")) else None
        size = image_size
        if size is None and "image_width" in num and "image_height" in num:
            size = (num["image_width"][first], num["image_height"][first])
        if (size is None or any(math.isnan(float(v)) for v in size)) and image_sizes:
            size = image_sizes.get(strings["image"][first], size)
        x, y = num["x"][rows], num["y"][rows]
        if xy_unit == "normalized":
            if size is None or any(math.isnan(float(v)) for v in size):
                raise DataFormatError(f"normalized x/y need the image size of {strings['image'][first]!r}: pass "
                                      "--images DIR or --image-size W,H (image_sizes=/image_size= in Python)",
                                      file=source, record=f"row {int(first)}", field="x")
            x, y = x * float(size[0]), y * float(size[1])
        builder.add(x, y, t_start[rows], duration[rows], **{a: strings[a][first] for a in strings}, target_box=box,
                    image_size=size, ppd=ppd, record=f"row {int(first)}")
    sp, report = builder.build()
    return _nonempty(sp, report, source)


def _fill_sizes(sp: Scanpaths, image_size, image_sizes: dict | None) -> Scanpaths:
    """Unknown ``image_size`` rows filled from ``image_size`` (all) or ``image_sizes`` (per image name)."""
    import torch

    unknown = torch.isnan(sp.image_size).any(dim=1)
    if not unknown.any() or (image_size is None and not image_sizes):
        return sp
    sizes = sp.image_size.clone()
    for i in unknown.nonzero().flatten().tolist():
        value = image_size if image_size is not None else image_sizes.get(sp.image[i])
        if value is not None:
            sizes[i] = torch.tensor([float(value[0]), float(value[1])], dtype=sizes.dtype)
    return replace(sp, image_size=sizes)


def _denormalize(sp: Scanpaths, source) -> Scanpaths:
    import torch

    unknown = torch.isnan(sp.image_size).any(dim=1) & (sp.lengths > 0)
    if unknown.any():
        i = int(unknown.nonzero()[0])
        raise DataFormatError(f"normalized x/y need the image size of {sp.image[i]!r}: pass --images DIR or "
                              "--image-size W,H", file=source, record=f"scanpath {i}", field="x")
    mask = sp.mask
    return replace(sp, x=sp.x * sp.image_size[:, 0:1] * mask, y=sp.y * sp.image_size[:, 1:2] * mask)


def _nonempty(sp: Scanpaths, report: ValidationReport, source) -> tuple[Scanpaths, ValidationReport]:
    """Empty inputs are an error that says so (and, when a policy removed everything, what it removed)."""
    if sp.num_fixations == 0:
        why = f" after the --on-invalid policy ({report})" if not report.empty else ""
        raise DataFormatError(f"no fixations left{why}: nothing to load", file=source)
    return sp, report


@register_dataset("table", description="any long-form fixation table (CSV/TSV/Parquet/JSON) with a column mapping; "
                  "root is the file; images=DIR adds the image files and their sizes", has_images=False)
def load(root=None, *, columns: dict | None = None, time_unit: str = "ms", dataset: str | None = None,
         image_size=None, ppd: float | None = None, images_dir=None, on_invalid: str = "raise",
         xy_unit: str = "px", cache: bool = True) -> GazeDataset:
    """Load a fixation table, optionally with its folder of images (a table plus images is a data set).

    Args:
        root: the table file (``.csv``, ``.tsv``, ``.parquet``, ``.json``).
        columns: ``{gazekit field: column}`` (see module docstring); unmapped fields are guessed.
        time_unit: unit of the time columns: ``"ms"``, ``"s"``, ``"us"`` or ``"ns"``.
        dataset: name written into the scanpaths (default: the file stem).
        image_size: ``(width, height)`` px of every image, when the table has no such columns.
        ppd: pixels per degree, when known.
        images_dir: folder (searched recursively) with the image files named in the ``image`` column; names
            match files by relative path, then by file name, then by stem (``i05`` finds ``i05.jpeg``). Sizes the
            table does not give are read from the files.
        on_invalid: ``"error"`` (alias ``"raise"``), ``"drop"`` or ``"clip"``.
        xy_unit: ``"px"`` or ``"normalized"`` (0-1 of the image size).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    from gazekit.datasets._images import ImageIndex, image_sizes, index_images, list_images

    if root is None:
        raise InvalidInputError("the 'table' dataset needs root=<path to a table file> (--root FILE)")
    path = Path(root).expanduser()
    if path.is_dir():
        raise DataFormatError("is a folder, not a table file (give the .csv/.tsv/.parquet/.json file)", file=path)
    if not path.is_file():
        raise DataFormatError("file does not exist", file=path)
    folder = Path(images_dir).expanduser() if images_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise DataFormatError("image folder does not exist (--images DIR)", file=folder)
    files = list_images(folder) if folder is not None else []
    name = dataset or path.stem
    options = {"columns": columns, "time_unit": time_unit, "dataset": name, "image_size": image_size, "ppd": ppd,
               "on_invalid": check_policy(on_invalid), "xy_unit": xy_unit, "images_dir": str(folder)}

    def build():
        sizes = None
        if files:
            df = _read_any(path)
            m = resolve_columns(list(df.columns), columns) if not (columns is None and is_gazekit_table(df)) \
                else {"image": "image"}
            names = set(df[m["image"]].astype(str)) if "image" in m else set()
            sizes = image_sizes(index_images(folder, names, files=files).files)
        return parse_table(path, **{k: v for k, v in options.items() if k != "images_dir"}, image_sizes=sizes)

    sp, report = cached_scanpaths("table", [path, *files], build, enabled=cache, options=options)
    index = index_images(folder, set(sp.image), files=files) if folder is not None else ImageIndex()
    meta = {"file": str(path), "time_unit": time_unit, "xy_unit": xy_unit}
    if folder is not None:
        meta.update({"images_dir": str(folder), "images_without_file": len(index.missing),
                     "images_ambiguous": len(index.ambiguous)})
        if index.missing:
            meta["images_without_file_examples"] = index.missing[:5]
    return GazeDataset(name, sp, path.parent, images=dict(index.files), report=report, meta=meta)


def open_dataset(name_or_path: str, root=None, **kwargs) -> GazeDataset:
    """A registered dataset by name, or a table file by path (every command's data source goes through this).

    ``images_dir`` (``--images``) applies to tables; a registered dataset reads its images from its own folder."""
    from gazekit.datasets.registry import _normalized

    kwargs = _normalized(kwargs)
    if name_or_path == "table":
        return load(root, **kwargs)
    if name_or_path in DATASETS:
        table_only = sorted(k for k in ("images_dir", "columns", "time_unit", "xy_unit", "image_size")
                            if kwargs.get(k) is not None)
        if table_only:
            raise InvalidInputError(f"{', '.join(table_only)} (--images, --columns, --time-unit, --xy-unit, "
                                    f"--image-size) apply to table files; dataset {name_or_path!r} reads its own "
                                    "files (point --root at another folder of the same layout instead)")
        return DATASETS.get(name_or_path).obj(root=root, **kwargs)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() in TABLE_SUFFIXES or path.exists():
        if not path.exists():
            raise DataFormatError("file does not exist", file=path)
        return load(path, **kwargs)
    raise UnknownNameError("dataset", name_or_path, DATASETS.names())
