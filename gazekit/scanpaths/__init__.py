"""The one scanpath type that flows through gazekit: loaders produce it, collate pads it, models consume and
produce it, metrics score it.

Units (fixed, never converted silently):
    * ``x``, ``y``: pixels in the image (origin top-left, x right, y down), float64.
    * ``t_start``, ``duration``: milliseconds, float64. ``t_start`` is whatever clock the source used (for
      example the tracker clock, or 0 at image onset); it is never shifted.
    * absent values (a dataset without durations, a trial without a target) are NaN; padding is 0 and is
      excluded by ``mask``. Nothing is invented.

The package imports nothing else of gazekit apart from the error types and geometry. Modules: ``_core`` (the
type), ``_validation`` (policies), ``_table`` (table I/O), ``_columns`` (column names).
"""

from gazekit.scanpaths._columns import (  # noqa: F401 (re-exported for other modules)
    FIX_PREFIX,
    FIXATION_COLUMNS,
    SCANPATH_NUMERIC_COLUMNS,
    SP_PREFIX,
    STRING_ATTRS,
    TABLE_COLUMNS,
)
from gazekit.scanpaths._core import Scanpaths
from gazekit.scanpaths._table import _as_strings, _is_blank, read_table, write_table  # noqa: F401
from gazekit.scanpaths._validation import ValidationReport, _compact  # noqa: F401

# The public path is gazekit.scanpaths (pickles, docs and class_path strings name it, not the private module).
Scanpaths.__module__ = ValidationReport.__module__ = __name__

__all__ = ["Scanpaths", "ValidationReport", "TABLE_COLUMNS", "read_table", "write_table"]
