"""Plumbing shared by the ``gazekit`` sub-commands: resolving a data source, printing a table, writing JSON/CSV
outputs and reporting progress. Commands use these instead of their own copies, so every command reads the same
sources, formats numbers the same way, writes files atomically and draws the same progress bars.

Everything here imports its dependencies (rich, pandas, torch through the scanpath type) inside the functions:
importing this module costs nothing, so ``gazekit --help`` and listings stay fast.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


# ---------------------------------------------------------------------------------------------- sources
def open_source(source: str, root=None, **options):
    """A data source named on the command line -> :class:`~gazekit.datasets.base.GazeDataset`.

    ``source`` is a registered dataset name (see ``gazekit data list``; ``root`` overrides its folder) or the path
    of a scanpath table (.csv/.tsv/.parquet/.json: gazekit's own table, or any long-form fixation table read
    through ``options['columns']``, see :mod:`gazekit.datasets.table`). ``options`` go to the reader
    (``on_invalid``, ``cache``, ``columns``, ``time_unit``, ...). Unknown names fail with close matches.
    """
    from gazekit.datasets.table import open_dataset

    return open_dataset(str(source), root=root, **options)


def load_scanpaths(source: str, *, on_invalid: str = "error", **options):
    """The scanpaths of a source (see :func:`open_source`) -> :class:`~gazekit.scanpaths.Scanpaths`.

    Every source goes through the one validation path: a saved gazekit table too (a prediction with a fixation
    outside its image or a negative duration is refused under ``"error"``, dropped or clipped under the other
    policies). Table files are not copied into the cache.
    """
    options.setdefault("cache", not Path(str(source)).expanduser().is_file())
    return open_source(str(source), on_invalid=on_invalid, **options).scanpaths


# ---------------------------------------------------------------------------------------------- tables
def format_cell(value, digits: int = 4, none: str = "-") -> str:
    """One table cell: reals with ``digits`` decimals, NaN as ``-``, ``None`` as ``none``, integers and text as
    they are."""
    if value is None:
        return none
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def print_table(columns: Sequence, rows: Sequence[Sequence], *, title: str | None = None, console=None,
                **table_options) -> None:
    """Print a rich table. ``columns``: names, or ``(name, column options)`` pairs (e.g. ``{"justify":
    "right"}``); ``rows``: already formatted cells (see :func:`format_cell`); ``console`` defaults to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, **table_options)
    for col in columns:
        name, opts = (col, {}) if isinstance(col, str) else col
        table.add_column(name, **opts)
    for row in rows:
        table.add_row(*[str(c) for c in row])
    (console or Console()).print(table)


# ---------------------------------------------------------------------------------------------- outputs
def json_clean(value):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    return value


def write_json(path, obj, *, indent: int = 2, strict: bool = False) -> Path:
    """Write ``obj`` as JSON, atomically (the file is absent, the old one, or complete). ``strict``: NaN/inf become
    ``null`` and non-JSON values their ``str`` (what ``evaluate --json`` writes)."""
    from gazekit._atomic import write_text

    text = (json.dumps(json_clean(obj), indent=indent, default=str, allow_nan=False) if strict
            else json.dumps(obj, indent=indent))
    write_text(path, text)
    return Path(path)


def write_csv(path, rows: Sequence[dict]) -> Path:
    """Write a list of records as CSV (one column per key), atomically."""
    import pandas as pd

    from gazekit._atomic import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(list(rows)).to_csv(tmp, index=False)
    return Path(path)


# ---------------------------------------------------------------------------------------------- progress
@contextmanager
def progress_callback(enabled: bool = True) -> Iterator[Callable[[str, int | None, int], None] | None]:
    """A ``progress(label, total, advance)`` callback drawing one bar per label (:mod:`gazekit.progress`: stderr,
    terminal only, ``GAZEKIT_PROGRESS`` overrides); yields ``None`` when ``enabled`` is false or bars are off."""
    from gazekit.progress import bars_enabled, new_progress

    if not enabled or not bars_enabled():
        yield None
        return
    with new_progress() as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, total, advance: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.advance(tasks[label], advance)

        yield progress
