"""Rank counts for the ROC metrics: for each map and each of its thresholds (the saliency at the fixations), how
many pixels lie below and at or below it; one pass over the map, no sort of its pixels.

AUC-Judd, the all-threshold AUC and their variants need only these counts (the thresholds are few, the pixels
many), so :func:`rank_counts` replaces a sort of every map (O(N log N), several ms for 480x640 on one core) by one
streaming pass (O(N) plus a few comparisons per pixel): the thresholds are placed on a uniform grid of cells
between the smallest and the largest; a pixel's cell, computed with the same monotone formula, tells which
thresholds are certainly below and above it (a cell index is a non-decreasing function of the value, so a lower
cell holds only lower values), and only thresholds in its own cell are compared exactly. The counts
are exact integers, so every metric built on them equals the sort-based definition bit for bit in its counts.

Kernels are compiled by numba on first use (cached on disk); without numba the same counts come from a sort.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a declared dependency; the sort fallback keeps the metrics working where it cannot load
    from numba import njit
except Exception:  # noqa: BLE001
    njit = None

_MIN_CELLS = 8192  # grid cells between the smallest and largest threshold (fine: few pixels share a threshold's)


def _rank_counts_kernel(maps, thr, nthr, n_less, n_le):  # pragma: no cover - compiled by numba
    """For row b: ``n_less[b, k]`` = #pixels < thr[b, k], ``n_le[b, k]`` = #pixels <= thr[b, k] (k < nthr[b],
    thresholds sorted ascending). Returns the first row with a NaN or infinite pixel, or -1."""
    rows, n = maps.shape
    bad = -1
    for b in range(rows):
        k = nthr[b]
        if k == 0:
            continue
        t = thr[b]
        lo_t = t[0]
        cells = max(4 * k, min(_MIN_CELLS, n // 8))  # short rows (negatives at fixations): a small grid
        span = t[k - 1] - lo_t
        scale = (cells - 1) / span if span > 0 and span < np.inf else 0.0
        # first[c] = #thresholds in cells < c (cell of a value: its offset from the smallest threshold, scaled)
        first = np.zeros(cells + 1, np.int32)  # int32 (k < 2**31 fixations): the grid stays in L1
        for j in range(k):
            first[min(max(int((t[j] - lo_t) * scale), 0), cells - 1) + 1] += 1
        for c in range(cells):
            first[c + 1] += first[c]
        per_cell = np.zeros(cells, np.int64)  # pixels of cells without a threshold
        hist_le = np.zeros(k + 1, np.int64)  # the other pixels by #thresholds <= v
        hist_lt = np.zeros(k + 1, np.int64)  # ... and by #thresholds < v
        probe = 0.0  # NaN when a pixel is NaN or infinite
        top = cells - 1.0
        row = maps[b]
        for i in range(n):
            v = row[i]
            probe += v * 0.0
            x = (v - lo_t) * scale
            x = x if x >= 0.0 else 0.0  # also NaN (from a NaN pixel, or inf * 0): a valid index; probe flags it
            c = int(x if x <= top else top)  # monotone in v: other cells' thresholds are < or > v
            le = first[c]
            end = first[c + 1]
            if le == end:
                per_cell[c] += 1
            else:  # thresholds share the pixel's cell: compare exactly
                lt = le
                for j in range(le, end):
                    le += t[j] <= v
                    lt += t[j] < v
                hist_le[le] += 1
                hist_lt[lt] += 1
        if not probe == 0.0 and bad < 0:
            bad = b
        for c in range(cells):  # a pixel in an empty cell has first[c] thresholds below it, none equal
            hist_le[first[c]] += per_cell[c]
            hist_lt[first[c]] += per_cell[c]
        acc_le = 0
        acc_lt = 0
        for j in range(k):
            acc_le += hist_le[j]
            acc_lt += hist_lt[j]
            n_less[b, j] = acc_le  # v < t_j  <=>  #{t <= v} <= j
            n_le[b, j] = acc_lt  # v <= t_j  <=>  #{t < v} <= j
    return bad


_kernel = njit(cache=True, nogil=True, error_model="numpy")(_rank_counts_kernel) if njit is not None else None


def _rank_counts_sorted(maps: np.ndarray, thr: np.ndarray, nthr: np.ndarray, n_less, n_le) -> int:
    """The same counts from a sort of every row (the fallback without numba, and the tests' reference)."""
    bad = -1
    for b in range(maps.shape[0]):
        k = int(nthr[b])
        if k == 0:
            continue
        srt = np.sort(maps[b])
        if not (np.isfinite(srt[0]) and np.isfinite(srt[-1])) and bad < 0:  # NaN sorts last
            bad = b
        n_less[b, :k] = np.searchsorted(srt, thr[b, :k], side="left")
        n_le[b, :k] = np.searchsorted(srt, thr[b, :k], side="right")
    return bad


def rank_counts(maps: np.ndarray, thresholds: list[np.ndarray], *, use_kernel: bool = True
                ) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Per row ``b`` of ``maps [B, N]`` (float64) and its sorted, finite ``thresholds[b]``: the number of pixels
    ``< t`` and ``<= t`` for every threshold ``t``. Returns ``(n_less, n_le, bad)``, lists of int64 arrays, and
    the first row containing a NaN/infinite pixel (-1 if none; rows without thresholds are not scanned)."""
    b = maps.shape[0]
    kmax = max((len(t) for t in thresholds), default=0)
    thr = np.zeros((b, max(kmax, 1)))
    nthr = np.zeros(b, np.int64)
    for i, t in enumerate(thresholds):
        thr[i, : len(t)] = t
        nthr[i] = len(t)
    n_less = np.zeros((b, max(kmax, 1)), np.int64)
    n_le = np.zeros((b, max(kmax, 1)), np.int64)
    maps = np.ascontiguousarray(maps, dtype=np.float64)
    if use_kernel and _kernel is not None:
        bad = int(_kernel(maps, thr, nthr, n_less, n_le))
    else:
        bad = _rank_counts_sorted(maps, thr, nthr, n_less, n_le)
    return [n_less[i, : nthr[i]] for i in range(b)], [n_le[i, : nthr[i]] for i in range(b)], bad


def build_kernel() -> bool:
    """Compile (or load from numba's on-disk cache) the counting kernel; ``scripts/install.sh`` runs this once.
    Returns False when numba is unavailable (the sort fallback is used)."""
    if _kernel is None:
        return False
    rank_counts(np.zeros((1, 4)), [np.array([0.0])])
    return True
