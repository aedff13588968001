"""Batched dynamic programming over many pairs at once (numpy, anti-diagonal sweeps).

Alignment DPs (Needleman-Wunsch, minimum-cost monotone paths) have one dependency per cell on its upper, left
and upper-left neighbours, so all cells on one anti-diagonal ``i + j = k`` are independent. Sweeping the
anti-diagonals of a padded ``[B, N, M]`` stack updates every pair of the batch in one numpy call per diagonal:
``N + M`` calls in total instead of ``B * N * M`` Python steps. Each cell sees the same floating-point
operations, in the same order, as the textbook per-pair loop, so results are bit-identical to it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["needleman_wunsch_max", "min_cost_path"]

_CHUNK_CELLS = 4_000_000  # pairs per chunk x cells per pair, to bound memory


def _chunks(b: int, cells: int):
    step = max(1, _CHUNK_CELLS // max(cells, 1))
    for start in range(0, b, step):
        yield slice(start, min(b, start + step))


def needleman_wunsch_max(a: np.ndarray, na: np.ndarray, c: np.ndarray, nc: np.ndarray,
                         sub: np.ndarray | None = None, gap: float = 0.0) -> np.ndarray:
    """Global alignment scores of ``B`` pairs of integer-coded sequences.

    ``F[i, 0] = gap * (i + 1)``, ``F[0, j] = gap * (j + 1)`` (the ScanMatch convention; with ``gap = 0`` every
    convention gives the same table), ``F[i, j] = max(F[i-1, j-1] + sub[a_i, c_j], F[i-1, j] + gap,
    F[i, j-1] + gap)``. Returns the maximum of each valid table (= ``F[n, m]`` when ``gap >= 0``).

    Args:
        a, c: ``[B, N]``, ``[B, M]`` int codes (padding: any value, ignored beyond ``na``, ``nc``).
        na, nc: ``[B]`` true lengths.
        sub: ``[K, K]`` substitution table indexed by codes; ``None`` scores 1 for equal codes and 0 otherwise
            (then the result is the longest-common-subsequence length).
        gap: gap score.
    Returns:
        ``[B]`` float64.
    """
    b = a.shape[0]
    if b == 0:
        return np.zeros(0)
    if gap == 0:
        return _nw_rows_gap0(a, na, c, nc, sub)
    out = np.zeros(b, dtype=np.float64)
    big_n, big_m = a.shape[1], c.shape[1]
    for sl in _chunks(b, (big_n + 1) * (big_m + 1)):
        out[sl] = _nw_diagonals(a[sl], na[sl], c[sl], nc[sl], sub, gap)
    return out


def _scores(ai: np.ndarray, c: np.ndarray, sub) -> np.ndarray:
    if sub is None:
        return (ai[:, None] == c).astype(np.float64)
    return sub[np.maximum(ai, 0)[:, None], np.maximum(c, 0)]


def _nw_rows_gap0(a, na, c, nc, sub):
    # With a zero gap, row i of the table is the running maximum of max(F[i-1, j-1] + s_ij, F[i-1, j]) along j,
    # so each row is two vectorised operations over the whole batch (max is exact: same values as the loop).
    b, big_n = a.shape
    big_m = c.shape[1]
    rows = np.arange(b)
    f = np.zeros((b, big_m + 1))
    out = np.zeros(b)
    for i in range(1, big_n + 1):
        g = np.maximum(f[:, :-1] + _scores(a[:, i - 1], c, sub), f[:, 1:])
        f[:, 1:] = np.maximum.accumulate(g, axis=1)
        done = na == i
        if done.any():
            out[done] = f[rows[done], nc[done]]
    return out


def _nw_diagonals(a, na, c, nc, sub, gap):
    b, big_n = a.shape
    big_m = c.shape[1]
    f = np.empty((b, big_n + 1, big_m + 1), dtype=np.float64)
    f[:, :, 0] = gap * (np.arange(big_n + 1) + 1.0)
    f[:, 0, :] = gap * (np.arange(big_m + 1) + 1.0)
    for k in range(2, big_n + big_m + 1):
        i = np.arange(max(1, k - big_m), min(big_n, k - 1) + 1)
        j = k - i
        ai, cj = a[:, i - 1], c[:, j - 1]
        s = (ai == cj).astype(np.float64) if sub is None else sub[np.maximum(ai, 0), np.maximum(cj, 0)]
        diag = f[:, i - 1, j - 1] + s
        up = f[:, i - 1, j] + gap
        left = f[:, i, j - 1] + gap
        f[:, i, j] = np.maximum(np.maximum(diag, left), up)
    valid = (np.arange(big_n + 1)[None, :, None] <= na[:, None, None]) & \
            (np.arange(big_m + 1)[None, None, :] <= nc[:, None, None])
    return np.where(valid, f, -np.inf).reshape(b, -1).max(axis=1)


def min_cost_path(cost: np.ndarray, n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cheapest monotone path (steps right, down, diagonal) from cell (0, 0) to (n-1, m-1) for ``B`` matrices.

    The path cost is the sum of ``cost`` over the cells entered after the start (this is the shortest path in
    MultiMatch's directed graph, whose edge weight is the cost of the cell it enters). Ties prefer the diagonal
    step, then the step down, then the step right.

    Args:
        cost: ``[B, N, M]`` non-negative costs (values outside ``n x m`` are ignored).
        n, m: ``[B]`` sizes, each >= 1.
    Returns:
        ``rows, cols``: ``[B, N + M - 1]`` int64 path cells in order from (0, 0), padded with -1, and
        ``path_len``: ``[B]`` number of cells on each path.
    """
    b, big_n, big_m = cost.shape
    p = big_n + big_m - 1
    rows_out = np.full((b, p), -1, dtype=np.int64)
    cols_out = np.full((b, p), -1, dtype=np.int64)
    plen = np.zeros(b, dtype=np.int64)
    for sl in _chunks(b, big_n * big_m):
        rows_out[sl], cols_out[sl], plen[sl] = _path_chunk(cost[sl], n[sl], m[sl])
    return rows_out, cols_out, plen


def _path_chunk(cost, n, m):
    b, big_n, big_m = cost.shape
    inf = np.inf
    # d is padded by one row/column of +inf on top/left so that neighbours outside the matrix never win.
    d = np.full((b, big_n + 1, big_m + 1), inf, dtype=np.float64)
    d[:, 1, 1] = 0.0
    for k in range(1, big_n + big_m - 1):
        i = np.arange(max(0, k - big_m + 1), min(big_n - 1, k) + 1)
        j = k - i
        best = np.minimum(np.minimum(d[:, i, j], d[:, i + 1, j]), d[:, i, j + 1])  # diag, up... as min
        d[:, i + 1, j + 1] = best + cost[:, i, j]
    # Backtrack all pairs together from their own end cells.
    rows = np.arange(b)
    ci, cj = n - 1, m - 1
    steps = big_n + big_m - 1
    rev_i = np.full((b, steps), -1, dtype=np.int64)
    rev_j = np.full((b, steps), -1, dtype=np.int64)
    rev_i[:, 0], rev_j[:, 0] = ci, cj
    for s in range(1, steps):
        active = (ci > 0) | (cj > 0)
        if not active.any():
            break
        cand = np.stack([d[rows, ci, cj], d[rows, ci, cj + 1], d[rows, ci + 1, cj]], axis=1)  # diag, up, left
        choice = np.argmin(cand, axis=1)
        ni = np.where(choice == 2, ci, ci - 1)
        nj = np.where(choice == 1, cj, cj - 1)
        ci = np.where(active, ni, ci)
        cj = np.where(active, nj, cj)
        rev_i[active, s], rev_j[active, s] = ci[active], cj[active]
    plen = (rev_i >= 0).sum(axis=1)
    # Reverse each path so that it starts at (0, 0).
    idx = plen[:, None] - 1 - np.arange(steps)[None, :]
    ok = idx >= 0
    idx = np.where(ok, idx, 0)
    out_i = np.where(ok, np.take_along_axis(rev_i, idx, axis=1), -1)
    out_j = np.where(ok, np.take_along_axis(rev_j, idx, axis=1), -1)
    return out_i, out_j, plen


def levenshtein(a: np.ndarray, na: np.ndarray, c: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """Edit distances (unit insert, delete and substitute) of ``B`` pairs of integer-coded sequences.

    Row i of the table is ``D[i, j] = min_k<=j (G[k] + j - k)`` with ``G`` the best of the steps from row i - 1,
    i.e. ``j + cummin(G - k)``: one vectorised running minimum per row for the whole batch (exact integers).
    """
    b, big_n = a.shape
    big_m = c.shape[1]
    rows = np.arange(b)
    j = np.arange(big_m + 1, dtype=np.float64)
    d = np.broadcast_to(j, (b, big_m + 1)).copy()
    out = d[rows, nc].copy()  # na == 0: distance = len(c)
    for i in range(1, big_n + 1):
        g = np.empty_like(d)
        g[:, 0] = i
        g[:, 1:] = np.minimum(d[:, 1:] + 1, d[:, :-1] + (a[:, i - 1, None] != c))
        d = j + np.minimum.accumulate(g - j, axis=1)
        done = na == i
        if done.any():
            out[done] = d[rows[done], nc[done]]
    return out
