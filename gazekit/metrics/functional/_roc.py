"""Rank counts for the ROC metrics: for each map and each of its thresholds (the saliency at the fixations), how
many pixels lie below and at or below it; one pass over the map, no sort of its pixels.

AUC-Judd, the all-threshold AUC and their variants need only these counts (the thresholds are few, the pixels
many), so :func:`rank_counts` replaces a sort of every map (O(N log N), several ms for 480x640 on one core) by one
streaming pass (O(N) plus a few comparisons per pixel): the thresholds are placed on a uniform grid of cells
between the smallest and the largest; a pixel's cell, computed with the same monotone formula, tells which
thresholds are certainly below and above it (a cell index is a non-decreasing function of the value, so a lower
cell holds only lower values), and only thresholds in its own cell are compared exactly. The counts
are exact integers, so every metric built on them equals the sort-based definition bit for bit in its counts.
:func:`others_auc` uses the same per-row counter for shuffled AUC against the pooled fixations of a set of maps.

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


def _work(k_max, n):  # pragma: no cover - compiled by numba
    """Work arrays of :func:`_count_row` for rows of ``n`` values and up to ``k_max`` thresholds, allocated once
    (short rows, such as the negatives of shuffled AUC, are many); each row clears the part it uses."""
    max_cells = max(4 * k_max, min(_MIN_CELLS, n // 8)) + 2
    return (np.empty(max(k_max, 1)), np.empty(max_cells + 1, np.int32), np.empty(max_cells + 1, np.bool_),
            np.empty((2, max_cells + 1), np.int32), np.empty(k_max + 1, np.int64), np.empty(k_max + 1, np.int64),
            np.empty(_BLOCK, np.int32), np.empty(_BLOCK, np.int32))


def _count_row(row, thr, k_all, n_less, n_le, t, first, has_thr, per_cell, hist_le, hist_lt, cbuf, amb
               ):  # pragma: no cover - compiled by numba
    """``n_less[j]`` = #values of ``row`` < ``thr[j]``, ``n_le[j]`` = #values <= ``thr[j]`` for the ``k_all > 0``
    ascending thresholds; returns True when ``row`` holds a NaN or infinite value.

    Per block of values: (1) every value's grid cell, a branch-free loop that LLVM vectorises (a NaN or
    infinite value gets the extra cell ``cells``); (2) a histogram of the cells, in two copies so that
    neighbouring pixels of a smooth map (often the same cell) do not wait on each other's increments, while
    the values whose cell holds a threshold are listed (branch-free); (3) those few are compared exactly.
    Equal thresholds (tied fixations) are counted once."""
    n = row.size
    k = 0  # distinct thresholds
    for j in range(k_all):
        if k == 0 or thr[j] != t[k - 1]:
            t[k] = thr[j]
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
    # values per cell (n < 2**30), two copies; a cell holding a threshold starts at -2**30, so the count read
    # for the increment also tells whether the value must be compared exactly
    per_cell[:, : cells + 1] = 0
    has_thr[cells] = False
    for c in range(cells):
        has_thr[c] = first[c + 1] > first[c]
        if has_thr[c]:
            per_cell[0, c] = _NEG
            per_cell[1, c] = _NEG
    hist_le[: k + 1] = 0  # values by #thresholds <= v
    hist_lt[: k + 1] = 0  # ... and by #thresholds < v
    bad_cell = np.int32(cells)
    for s in range(0, n, _BLOCK):
        m = min(_BLOCK, n - s)
        blk = row[s:s + m]  # a view: indices from 0 keep the loop free of gathers
        for i in range(m):
            v = blk[i]
            c = _cell(v, lo_t, scale, last)
            cbuf[i] = c if abs(v) < np.inf else bad_cell
        na = 0
        for i in range(0, m - 1, 2):  # branch-free: every value is listed, the list grows for the few
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
        for a in range(na):  # thresholds share the value's cell: compare exactly
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
    for c in range(cells):  # a value of a cell without a threshold has first[c] thresholds below it
        if not has_thr[c]:
            cnt = per_cell[0, c] + per_cell[1, c]
            hist_le[first[c]] += cnt
            hist_lt[first[c]] += cnt
    d = -1  # distinct threshold of each threshold
    acc_le = 0
    acc_lt = 0
    for j in range(k_all):
        if d < 0 or thr[j] != t[d]:
            d += 1
            acc_le += hist_le[d]
            acc_lt += hist_lt[d]
        n_less[j] = acc_le  # v < t_d  <=>  #{t <= v} <= d
        n_le[j] = acc_lt  # v <= t_d  <=>  #{t < v} <= d
    return per_cell[0, cells] + per_cell[1, cells] > 0


def _rank_counts_kernel(maps, thr, nthr, n_less, n_le):  # pragma: no cover - compiled by numba
    """For row b: ``n_less[b, k]`` = #pixels < thr[b, k], ``n_le[b, k]`` = #pixels <= thr[b, k] (k < nthr[b],
    thresholds sorted ascending; :func:`_count_row`). Returns the first row with a NaN or infinite pixel, or -1."""
    t, first, has_thr, per_cell, hist_le, hist_lt, cbuf, amb = _work(thr.shape[1], maps.shape[1])
    bad = -1
    for b in range(maps.shape[0]):
        if nthr[b] > 0 and _count_row(maps[b], thr[b], nthr[b], n_less[b], n_le[b], t, first, has_thr, per_cell,
                                      hist_le, hist_lt, cbuf, amb) and bad < 0:
            bad = b
    return bad


def _others_kernel(rows, pooled, own, n_own, out):  # pragma: no cover - compiled by numba
    """Shuffled AUC of every row against the pooled fixations of the others, in one pass: ``own[b, :n_own[b]]``
    are the positions in ``pooled`` (ascending addresses) of row b's own fixations. Four rows at a time, their
    values at every pooled address are gathered (four independent cache misses per address), row b's positives
    are read from there and sorted, every pooled value is counted against them (:func:`_count_row`), and the
    row's own fixations are taken out of the counts: in the sorted positives, those below a value end where its
    run of equal values starts, those at or below it where the run ends. ``out[b]`` = AUC (NaN without
    positives or negatives). Returns -1, or ``b`` when row b is NaN/infinite at another map's fixation, or
    ``-2 - b`` when at one of its own."""
    n_rows = rows.shape[0]
    f = pooled.size
    k_max = own.shape[1]
    t, first, has_thr, per_cell, hist_le, hist_lt, cbuf, amb = _work(k_max, f)
    vals = np.empty((4, f))
    ps = np.empty(max(k_max, 1))
    n_less = np.empty(max(k_max, 1), np.int64)
    n_le = np.empty(max(k_max, 1), np.int64)
    for q in range(0, n_rows, 4):
        nq = min(4, n_rows - q)
        if nq == 4:
            r0, r1, r2, r3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
            v0, v1, v2, v3 = vals[0], vals[1], vals[2], vals[3]
            for j in range(f):
                a = pooled[j]
                v0[j] = r0[a]
                v1[j] = r1[a]
                v2[j] = r2[a]
                v3[j] = r3[a]
        else:
            for r in range(nq):
                for j in range(f):
                    vals[r, j] = rows[q + r, pooled[j]]
        for r in range(nq):
            b = q + r
            k = n_own[b]
            if k == 0 or k == f:
                out[b] = np.nan
                continue
            for j in range(k):
                ps[j] = vals[r, own[b, j]]
                if not abs(ps[j]) < np.inf:
                    return -2 - b
            p = ps[:k]
            p.sort()
            if _count_row(vals[r], p, k, n_less, n_le, t, first, has_thr, per_cell, hist_le, hist_lt, cbuf, amb):
                return b
            twice = 0  # 2 * (#negatives below + 0.5 #equal), summed over the positives: an exact integer
            j = 0
            while j < k:  # a run of equal positives [j, end): the same counts, own ones taken out
                end = j + 1
                while end < k and p[end] == p[j]:
                    end += 1
                twice += (end - j) * ((n_less[j] - j) + (n_le[j] - end))
                j = end
            out[b] = twice * 0.5 / k / (f - k)
    return -1


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
    _work = njit(nogil=True)(_work)
    _count_row = njit(nogil=True, error_model="numpy")(_count_row)
    _kernel = njit(cache=True, nogil=True, error_model="numpy")(_rank_counts_kernel)
    _others = njit(cache=True, nogil=True, error_model="numpy")(_others_kernel)
    _gather = njit(cache=True, nogil=True)(_gather_kernel)
else:
    _kernel = _gather = _others = None


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


def others_auc(rows: np.ndarray, pooled: np.ndarray, own: np.ndarray, n_own: np.ndarray
               ) -> tuple[np.ndarray, int] | None:
    """Shuffled AUC of every row of ``rows [B, N]`` against the values at the ``pooled`` addresses (ascending,
    every map's fixations) less its own, ``own[b, :n_own[b]]`` being their positions in ``pooled``
    (:func:`_others_kernel`). Returns ``(auc [B], code)`` (``code`` as the kernel's), or None without numba."""
    if _others is None:
        return None
    out = np.empty(rows.shape[0])
    code = int(_others(np.ascontiguousarray(rows, dtype=np.float64), np.ascontiguousarray(pooled, dtype=np.int64),
                       np.ascontiguousarray(own, dtype=np.int64), np.ascontiguousarray(n_own, dtype=np.int64), out))
    return out, code


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
    others_auc(np.zeros((2, 4)), np.array([0, 1]), np.array([[0], [1]]), np.array([1, 1]))
    return True
