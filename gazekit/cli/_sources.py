"""The data options every command that reads scanpaths shares (``data``, ``score``, ``evaluate``, ``plot``):
the validation policy, the column mapping and units of a user's table, and the folder of images that makes a
table a data set. One definition, so the flags, their help and their defaults are the same everywhere.

    --on-invalid error|drop|clip   what to do with an invalid fixation (NaN or infinite values, non-positive
                                   duration, outside the image): stop with an error naming it (default), drop it,
                                   or clip it onto the image border; counts are printed and written to JSON
    --columns MAPPING              table columns for gazekit fields: JSON '{"x": "fx"}' or x=fx,y=fy
    --time-unit ms|s|us|ns         unit of the table's time columns
    --xy-unit px|normalized        unit of the table's x/y columns (normalized: 0-1 of the image size)
    --image-size W,H               size of every image, when neither the table nor an image folder gives it
    --images DIR                   folder of the images named in the table (recursive; names match by stem)
"""

from __future__ import annotations

import json

POLICY_CHOICES = ("error", "drop", "clip")
TABLE_OPTIONS = ("columns", "time_unit", "xy_unit", "image_size", "images_dir")


def add_source_options(parser, *, images: bool = True) -> None:
    """Add the shared data options to an argparse parser (see module docstring)."""
    group = parser.add_argument_group("data options (tables and policies)")
    group.add_argument("--on-invalid", choices=POLICY_CHOICES, default=None, metavar="{error,drop,clip}",
                       help="invalid fixations (NaN or infinite values, non-positive duration, outside the image): "
                            "error stops and names the file, record and field (the default for tables; a registered data set keeps "
                            "its documented default); drop removes them; clip "
                            "moves positions onto the image border and drops the rest; counts are printed and "
                            "written to JSON")
    group.add_argument("--columns", default=None, metavar="MAPPING",
                       help="tables: which column holds which field, as x=fx,y=fy or JSON '{\"x\": \"fx\"}'; "
                            "fields: image subject trial task condition x y t_start t_end duration index "
                            "image_width image_height target_x0 target_y0 target_x1 target_y1 (unmapped fields are "
                            "guessed from common names)")
    group.add_argument("--time-unit", default=None, choices=("ms", "s", "us", "ns"),
                       help="tables: unit of the time columns (default ms)")
    group.add_argument("--xy-unit", default=None, choices=("px", "normalized"),
                       help="tables: unit of x and y (default px; normalized means 0-1 of the image size)")
    group.add_argument("--image-size", default=None, metavar="W,H",
                       help="tables: width and height in px of every image (when the table has no size columns "
                            "and no --images folder gives them)")
    if images:
        group.add_argument("--images", default=None, metavar="DIR",
                           help="tables: folder of the images named in the table's image column (searched "
                                "recursively; a name without extension matches a file by stem); image sizes are "
                                "read from the files; a table plus --images is a data set")


def parse_columns(text: str | None) -> dict | None:
    """``--columns``: a JSON object or ``field=column,field=column``."""
    from gazekit.errors import InvalidInputError

    if text is None:
        return None
    text = text.strip()
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as err:
            raise InvalidInputError(f"--columns is not valid JSON ({err}); write x=fx,y=fy or "
                                    "'{\"x\": \"fx\", \"y\": \"fy\"}'") from err
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise InvalidInputError("--columns must map field names to column names, e.g. x=fx,y=fy")
        return mapping
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise InvalidInputError(f"--columns: {part!r} is not FIELD=COLUMN (e.g. x=fx,y=fy)")
        mapping[field.strip()] = column.strip()
    return mapping


def parse_size(text: str | None):
    from gazekit.errors import InvalidInputError

    if text is None:
        return None
    try:
        w, h = (float(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise InvalidInputError(f"--image-size must be W,H in px (e.g. 1024,768), got {text!r}") from None
    if not (w > 0 and h > 0):
        raise InvalidInputError(f"--image-size must be positive, got {text!r}")
    return (w, h)


def source_options(args, *, cache: bool | None = None) -> dict:
    """Reader options from the parsed shared flags (only the ones given, so readers keep their defaults)."""
    options = {"on_invalid": getattr(args, "on_invalid", None),
               "columns": parse_columns(getattr(args, "columns", None)),
               "time_unit": getattr(args, "time_unit", None), "xy_unit": getattr(args, "xy_unit", None),
               "image_size": parse_size(getattr(args, "image_size", None)),
               "images_dir": getattr(args, "images", None)}
    if cache is not None:
        options["cache"] = cache
    return {k: v for k, v in options.items() if v is not None}


def is_registered(source: str) -> bool:
    from gazekit.datasets.registry import DATASETS

    return str(source) in DATASETS and str(source) != "table"


def open_sources(sources: dict[str, str | None], args, *, root=None, cache: bool = False) -> dict:
    """Open several command-line sources (label -> name or file; None skipped) with the shared options.

    Table-only options apply to the table sources; when every source is a registered data set and one of them
    is given, that is an error naming the flags (nothing is ignored silently)."""
    from gazekit.cli._common import open_source
    from gazekit.errors import InvalidInputError

    options = source_options(args, cache=cache)
    table_only = {k: v for k, v in options.items() if k in TABLE_OPTIONS}
    given = {k: v for k, v in sources.items() if v is not None}
    if table_only and given and all(is_registered(v) for v in given.values()):
        flags = ", ".join("--" + ("images" if k == "images_dir" else k.replace("_", "-")) for k in table_only)
        raise InvalidInputError(f"{flags} apply to table files, and {', '.join(map(repr, given.values()))} "
                                "are registered data sets (point --root at another folder of the same layout)")
    out = {}
    for label, source in given.items():
        opts = {k: v for k, v in options.items() if k not in TABLE_OPTIONS} if is_registered(source) else options
        out[label] = open_source(source, root=root if label == next(iter(given)) else None, **opts)
    return out


def validation_line(label: str, data) -> str | None:
    """One line saying what the policy dropped or clipped in a loaded source (None when nothing)."""
    report = data.report
    extra = data.meta.get("images_without_file") if isinstance(data.meta, dict) else None
    parts = [] if report.empty else [str(report)]
    if extra:
        parts.append(f"{extra} image name(s) matched no file in --images "
                     f"(e.g. {', '.join(data.meta.get('images_without_file_examples', []))})")
    return f"{label} ({data.name}): " + "; ".join(parts) if parts else None


def validation_json(sources: dict) -> dict:
    """``{label: {dropped_fixations, clipped_fixations, dropped_scanpaths, scanpaths, fixations}}`` for JSON."""
    return {label: {**data.report.to_dict(), "scanpaths": len(data.scanpaths),
                    "fixations": data.scanpaths.num_fixations} for label, data in sources.items()}
