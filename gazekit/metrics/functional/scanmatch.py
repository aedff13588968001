"""ScanMatch (Cristino, Mathot, Theeuwes & Gilchrist 2010): Needleman-Wunsch alignment of grid-cell strings.

Definition (the MATLAB toolbox's, which GazeParser's Python port also follows):

* The image (``x_res`` x ``y_res`` pixels) is divided into ``x_bins`` x ``y_bins`` cells, numbered row-major from
  the top-left. A fixation at pixel ``(int(x), int(y))`` (clamped to the image) falls in column
  ``floor(int(x) * x_bins / x_res)`` and row ``floor(int(y) * y_bins / y_res)``.
* With ``temporal_bin`` (ms) > 0, each fixation's cell is repeated ``round(int(duration) / temporal_bin)`` times
  (round half to even, as numpy does), so durations shorter than half a bin vanish.
* Substitution score of cells a, b: ``|d(a, b) - max d| - (max d - threshold)`` = ``threshold - d(a, b)``, with d the
  Euclidean distance between cell indices; gap score ``gap`` (0).
* Score = max of the NW table / (max substitution score x length of the longer string). 1 = identical.

All pairs of a batch are aligned together (anti-diagonal sweeps, see ``_align.py``).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._align import needleman_wunsch_max
from gazekit.metrics.functional._pairs import check_pair, padded, require_durations, resolve_size, to_tensor
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["grid_cells", "scanmatch", "scanmatch_strings", "substitution_matrix"]


def substitution_matrix(x_bins: int, y_bins: int, threshold: float) -> np.ndarray:
    """``[x_bins * y_bins]^2`` substitution scores between row-major cells (see module docstring)."""
    cols = np.tile(np.arange(x_bins), y_bins)
    rows = np.repeat(np.arange(y_bins), x_bins)
    dist = np.sqrt((cols[:, None] - cols[None, :]) ** 2.0 + (rows[:, None] - rows[None, :]) ** 2.0)
    max_d = dist.max()
    return np.abs(dist - max_d) - (max_d - threshold)


def _bin_lookup(bins: int, res: int) -> np.ndarray:
    # bin of each integer pixel, computed as the toolbox does (floating steps of bins / res), so that pixels on a
    # bin edge land in the same bin as in the reference implementations
    return np.arange(0, bins, float(bins) / res).astype(np.int32)[:res]


def grid_cells(x: np.ndarray, y: np.ndarray, size, x_bins: int, y_bins: int) -> np.ndarray:
    """Row-major ScanMatch cell of each fixation (pixels truncated to integers and clamped to the image)."""
    x_res, y_res = int(size[0]), int(size[1])
    xi = np.clip(np.trunc(np.maximum(x, 0)), 0, x_res - 1).astype(np.int64)
    yi = np.clip(np.trunc(np.maximum(y, 0)), 0, y_res - 1).astype(np.int64)
    return _bin_lookup(y_bins, y_res)[yi] * x_bins + _bin_lookup(x_bins, x_res)[xi]


def scanmatch_strings(sp: Scanpaths, size: np.ndarray, x_bins: int, y_bins: int, temporal_bin: float):
    """Padded cell strings ``[B, S]`` (int64, -1 padding) and their lengths ``[B]``."""
    p = padded(sp)
    b, length = p.x.shape
    mask = np.arange(length)[None] < p.lengths[:, None]
    cells = np.zeros((b, length), dtype=np.int64)
    for w, h in np.unique(size, axis=0) if b else []:
        rows = np.flatnonzero((size[:, 0] == w) & (size[:, 1] == h))
        cells[rows] = grid_cells(p.x[rows], p.y[rows], (w, h), x_bins, y_bins)
    if temporal_bin:
        reps = np.round(np.trunc(np.maximum(p.duration, 0)) / float(temporal_bin)).astype(np.int64) * mask
    else:
        reps = mask.astype(np.int64)
    return repeat_padded(cells, reps)


def repeat_padded(codes: np.ndarray, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat ``codes[b, l]`` ``reps[b, l]`` times within each row; returns ``[B, S]`` (-1 padding), lengths."""
    b = codes.shape[0]
    lengths = reps.sum(axis=1)
    out = np.full((b, max(int(lengths.max(initial=0)), 1)), -1, dtype=np.int64)
    flat = np.repeat(codes.ravel(), reps.ravel())
    row = np.repeat(np.arange(b), lengths)
    pos = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[row, pos] = flat
    return out, lengths


@register_pair_metric("scanmatch", metric_class="ScanMatch", higher_is_better=True, needs=("image_size",),
                      description="ScanMatch without durations (16x12 grid, threshold 3.5)")
def scanmatch(pred: Scanpaths, target: Scanpaths, *, image_size=None, x_bins: int = 16, y_bins: int = 12,
              threshold: float = 3.5, temporal_bin: float = 0.0, gap: float = 0.0) -> Tensor:
    """ScanMatch similarity of ``pred[i]`` and ``target[i]`` in [0, 1] (1 = identical; can be < 0 with large
    grids and small thresholds).

    Args:
        pred, target: batches of equal size; pixels and ms.
        image_size: ``(width, height)`` of the grid area in pixels (or ``[B, 2]``); default the scanpaths'
            ``image_size``.
        x_bins, y_bins: grid columns and rows (the usual 16 x 12; TPP-Gaze's protocol uses 14 x 8).
        threshold: substitution threshold (3.5).
        temporal_bin: ms per repeated symbol; 0 ignores durations, 50 is the usual "with duration" setting.
        gap: gap score (0).
    Returns:
        ``[B]`` float64; NaN when both strings are empty, 0 when only one is.
    """
    check_pair(pred, target, "scanmatch")
    for name, v in (("x_bins", x_bins), ("y_bins", y_bins)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise InvalidInputError(f"scanmatch: {name} must be a positive integer, got {v!r}")
    if temporal_bin < 0:
        raise InvalidInputError(f"scanmatch: temporal_bin must be >= 0 ms, got {temporal_bin!r}")
    size = resolve_size(pred, target, image_size, "scanmatch")
    if temporal_bin:
        require_durations(pred, "pred", "scanmatch with temporal_bin")
        require_durations(target, "target", "scanmatch with temporal_bin")
    sub = substitution_matrix(x_bins, y_bins, threshold)
    a, na = scanmatch_strings(pred, size, x_bins, y_bins, temporal_bin)
    c, nc = scanmatch_strings(target, size, x_bins, y_bins, temporal_bin)
    best = needleman_wunsch_max(a, na, c, nc, sub, gap=gap)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = best / (sub.max() * np.maximum(na, nc))
    score = np.where((na == 0) & (nc == 0), np.nan, score)
    return to_tensor(score, target)


@register_pair_metric("scanmatch_duration", higher_is_better=True, needs=("image_size", "durations"),
                      description="ScanMatch with durations (16x12 grid, threshold 3.5, 50 ms bins)")
def scanmatch_duration(pred: Scanpaths, target: Scanpaths, *, temporal_bin: float = 50.0, **options) -> Tensor:
    """:func:`scanmatch` with ``temporal_bin=50`` ms by default."""
    return scanmatch(pred, target, temporal_bin=temporal_bin, **options)
