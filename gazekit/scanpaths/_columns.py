"""Column names of the long-form scanpath table and small tensor helpers shared by the scanpaths modules."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Per-scanpath string attributes, in table order.
STRING_ATTRS = ("dataset", "image", "subject", "trial", "task", "condition")
# The long-form table: one row per fixation. A scanpath with no fixations is one row with index -1.
FIXATION_COLUMNS = ("index", "x", "y", "t_start_ms", "duration_ms")
SCANPATH_NUMERIC_COLUMNS = (
    "target_x0", "target_y0", "target_x1", "target_y1",
    "image_width", "image_height", "ppd",
    "screen_width_px", "screen_height_px", "screen_width_cm", "screen_height_cm", "screen_distance_cm",
)  # fmt: skip
TABLE_COLUMNS = STRING_ATTRS + FIXATION_COLUMNS + SCANPATH_NUMERIC_COLUMNS
FIX_PREFIX, SP_PREFIX = "fix:", "sp:"  # extra per-fixation (numeric) and per-scanpath (string) columns

_F64 = torch.float64


def _nan(*shape) -> Tensor:
    return torch.full(shape, math.nan, dtype=_F64)

