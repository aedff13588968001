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
_BLOCK = 1024  # pixels per block: their cell indices are computed in one vectorised loop, then counted
_NEG = -(2**30)  # start count of a cell holding a threshold (maps have fewer than 2**30 pixels)


def _cell(v, lo_t, scale, last):  # pragma: no cover - inlined by numba
    """Grid cell of a value, a non-decreasing function of ``v`` in ``0 .. last``: ``floor(1 + (v - lo_t) * scale)``
    clamped, so 0 holds only values below the smallest threshold (which itself is in cell 1) and ``last`` only
    values above the largest (in ``last - 2`` or ``last - 1``): the many pixels below or above every threshold are
    never compared exactly. A NaN value gets a valid index too (the kernel checks finiteness separately)."""
    y = (v - lo_t) * scale + 1.0
    y = y if y >= 0.0 else 0.0
    return np.int32(y if y <= last else last)


def _rank_counts_kernel(maps, thr, nthr, n_less, n_le):  # pragma: no cover - compiled by numba
    """For row b: ``n_less[b, k]`` = #pixels < thr[b, k], ``n_le[b, k]`` = #pixels <= thr[b, k] (k < nthr[b],
    thresholds sorted ascending). Returns the first row with a NaN or infinite pixel, or -1.

    Per block of pixels: (1) every pixel's grid cell, a branch-free loop that LLVM vectorises (a NaN or
    infinite pixel gets the extra cell ``cells``); (2) a histogram of the cells, in two copies so that
    neighbouring pixels of a smooth map (often the same cell) do not wait on each other's increments, while
    the pixels whose cell holds a threshold are listed (branch-free); (3) those few are compared exactly.
    Equal thresholds (tied fixations) are counted once."""
    rows, n = maps.shape
    bad = -1
    cbuf = np.empty(_BLOCK, np.int32)
    amb = np.empty(_BLOCK, np.int32)
    t = np.empty(thr.shape[1])
    # work arrays for the largest grid, allocated once (short rows, such as the negatives of shuffled AUC, are
    # many); each row clears the part it uses
    max_cells = max(4 * thr.shape[1], min(_MIN_CELLS, n // 8)) + 2
    first = np.empty(max_cells + 1, np.int32)  # int32 (k < 2**31 fixations): the grid stays in L1
    has_thr = np.empty(max_cells + 1, np.bool_)
    per_cell = np.empty((2, max_cells + 1), np.int32)
    hist_le = np.empty(thr.shape[1] + 1, np.int64)
    hist_lt = np.empty(thr.shape[1] + 1, np.int64)
    for b in range(rows):
        k_all = nthr[b]
        if k_all == 0:
            continue
        k = 0  # distinct thresholds
        for j in range(k_all):
            if k == 0 or thr[b, j] != t[k - 1]:
                t[k] = thr[b, j]
                k += 1
        lo_t = t[0]
        cells = max(4 * k, min(_MIN_CELLS, n // 8))  # short rows (negatives at fixations): a small grid
        span = t[k - 1] - lo_t
        scale = (cells - 1) / span if span > 0 and span < np.inf else 0.0
        cells += 2  # and the cells below and above all thresholds
        last = cells - 1.0
        # first[c] = #thresholds in cells < c; has_thr[c]: cell c holds a threshold (cell `cells`: non-finite)
        first[: cells + 1] = 0
        for j in range(k):
            first[_cell(t[j], lo_t, scale, last) + 1] += 1
        for c in range(cells):
            first[c + 1] += first[c]
        # pixels per cell (n < 2**30), two copies; a cell holding a threshold starts at -2**30, so the count read
        # for the increment also tells whether the pixel must be compared exactly
        per_cell[:, : cells + 1] = 0
        has_thr[cells] = False
        for c in range(cells):
            has_thr[c] = first[c + 1] > first[c]
            if has_thr[c]:
                per_cell[0, c] = _NEG
                per_cell[1, c] = _NEG
        hist_le[: k + 1] = 0  # pixels by #thresholds <= v
        hist_lt[: k + 1] = 0  # ... and by #thresholds < v
        bad_cell = np.int32(cells)
        row = maps[b]
        for s in range(0, n, _BLOCK):
            m = min(_BLOCK, n - s)
            blk = row[s:s + m]  # a view: indices from 0 keep the loop free of gathers
            for i in range(m):
                v = blk[i]
                c = _cell(v, lo_t, scale, last)
                cbuf[i] = c if abs(v) < np.inf else bad_cell
            na = 0
            for i in range(0, m - 1, 2):  # branch-free: every pixel is listed, the list grows for the few
                c0 = cbuf[i]
                c1 = cbuf[i + 1]
                p0 = per_cell[0, c0]
                per_cell[0, c0] = p0 + 1
                amb[na] = i
                na += p0 < 0
                p1 = per_cell[1, c1]
                per_cell[1, c1] = p1 + 1
                amb[na] = i + 1
                na += p1 < 0
            if m % 2:
                c0 = cbuf[m - 1]
                p0 = per_cell[0, c0]
                per_cell[0, c0] = p0 + 1
                amb[na] = m - 1
                na += p0 < 0
            for a in range(na):  # thresholds share the pixel's cell: compare exactly
                i = amb[a]
                v = blk[i]
                c = cbuf[i]
                le = first[c]
                lt = le
                for j in range(first[c], first[c + 1]):
                    le += t[j] <= v
                    lt += t[j] < v
                hist_le[le] += 1
                hist_lt[lt] += 1
        if per_cell[0, cells] + per_cell[1, cells] > 0 and bad < 0:
            bad = b
        for c in range(cells):  # a pixel of a cell without a threshold has first[c] thresholds below it
            if not has_thr[c]:
                cnt = per_cell[0, c] + per_cell[1, c]
                hist_le[first[c]] += cnt
                hist_lt[first[c]] += cnt
        d = -1  # distinct threshold of each threshold
        acc_le = 0
        acc_lt = 0
        for j in range(k_all):
            if d < 0 or thr[b, j] != t[d]:
                d += 1
                acc_le += hist_le[d]
                acc_lt += hist_lt[d]
            n_less[b, j] = acc_le  # v < t_d  <=>  #{t <= v} <= d
            n_le[b, j] = acc_lt  # v <= t_d  <=>  #{t < v} <= d
    return bad


def _gather_kernel(rows, idx, out):  # pragma: no cover - compiled by numba
    """out[b, j] = rows[b, idx[j]], four rows at a time: four independent cache misses per address."""
    n_rows = rows.shape[0]
    quad = n_rows - n_rows % 4
    for b in range(0, quad, 4):
        r0, r1, r2, r3 = rows[b], rows[b + 1], rows[b + 2], rows[b + 3]
        o0, o1, o2, o3 = out[b], out[b + 1], out[b + 2], out[b + 3]
        for j in range(idx.size):
            a = idx[j]
            o0[j] = r0[a]
            o1[j] = r1[a]
            o2[j] = r2[a]
            o3[j] = r3[a]
    for b in range(quad, n_rows):
        r = rows[b]
        o = out[b]
        for j in range(idx.size):
            o[j] = r[idx[j]]


if njit is not None:
    _cell = njit(inline="always")(_cell)
    _kernel = njit(cache=True, nogil=True, error_model="numpy")(_rank_counts_kernel)
    _gather = njit(cache=True, nogil=True)(_gather_kernel)
else:
    _kernel = _gather = None


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


def gather_columns(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``rows[:, idx]`` for float64 ``rows [B, N]`` and int64 indices in ``[0, N)`` (checked by the caller).
    The reads are scattered cache misses; the kernel keeps four in flight per address (``np.take`` copies
    element by element: 1.5-2x slower on the benchmark's 100 maps x 2,000 fixations)."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if _gather is None:
        return np.take(rows, idx, axis=1)
    out = np.empty((rows.shape[0], idx.size))
    _gather(rows, idx, out)
    return out


def rank_counts(maps: np.ndarray, thresholds: list[np.ndarray], *, use_kernel: bool = True
                ) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Per row ``b`` of ``maps [B, N]`` (float64) and its sorted, finite ``thresholds[b]``: the number of pixels
    ``< t`` and ``<= t`` for every threshold ``t``. Returns ``(n_less, n_le, bad)``, lists of int64 arrays, and
    the first row containing a NaN/infinite pixel (-1 if none; rows without thresholds are not scanned)."""
    b = maps.shape[0]
    kmax = max((len(t) for t in thresholds), default=0)
    thr = np.zeros((b, kmax))
    nthr = np.zeros(b, np.int64)
    for i, t in enumerate(thresholds):
        thr[i, : len(t)] = t
        nthr[i] = len(t)
    n_less, n_le, bad = rank_counts_padded(maps, thr, nthr, use_kernel=use_kernel)
    return [n_less[i, : nthr[i]] for i in range(b)], [n_le[i, : nthr[i]] for i in range(b)], bad


def rank_counts_padded(maps: np.ndarray, thr: np.ndarray, nthr: np.ndarray, *, use_kernel: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`rank_counts` with the thresholds as one array ``thr [B, K]``, row ``b`` sorted in its first
    ``nthr[b]`` entries (the rest is ignored). Returns ``n_less`` and ``n_le`` as ``[B, K]`` int64 arrays (zero
    past ``nthr[b]``) and the first non-finite row."""
    b, k = thr.shape
    if maps.shape[1] >= 2**30:
        raise ValueError(f"maps of {maps.shape[1]} pixels: the counting kernel takes fewer than 2**30")
    thr = np.ascontiguousarray(thr if k else np.zeros((b, 1)), dtype=np.float64)
    nthr = np.ascontiguousarray(nthr, dtype=np.int64)
    n_less = np.zeros(thr.shape, np.int64)
    n_le = np.zeros(thr.shape, np.int64)
    maps = np.ascontiguousarray(maps, dtype=np.float64)
    if use_kernel and _kernel is not None:
        bad = int(_kernel(maps, thr, nthr, n_less, n_le))
    else:
        bad = _rank_counts_sorted(maps, thr, nthr, n_less, n_le)
    return n_less[:, :k], n_le[:, :k], bad


def build_kernel() -> bool:
    """Compile (or load from numba's on-disk cache) the counting kernel; ``scripts/install.sh`` runs this once.
    Returns False when numba is unavailable (the sort fallback is used)."""
    if _kernel is None:
        return False
    rank_counts(np.zeros((1, 4)), [np.array([0.0])])
    gather_columns(np.zeros((1, 4)), np.zeros(1, np.int64))
    return True
