"""Batched dynamic programming over many pairs at once (numpy, anti-diagonal sweeps).

Alignment DPs (Needleman-Wunsch, minimum-cost monotone paths) have one dependency per cell on its upper, left
and upper-left neighbours, so all cells on one anti-diagonal ``i + j = k`` are independent. Sweeping the
anti-diagonals of a padded ``[B, N, M]`` stack updates every pair of the batch in one numpy call per diagonal:
``N + M`` calls in total instead of ``B * N * M`` Python steps. Each cell sees the same floating-point
operations, in the same order, as the textbook per-pair loop, so results are bit-identical to it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["min_cost_path", "needleman_wunsch_max"]

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
        return _by_size(_nw_rows_gap0, a, na, c, nc, sub)
    out = np.zeros(b, dtype=np.float64)
    big_n, big_m = a.shape[1], c.shape[1]
    for sl in _chunks(b, (big_n + 1) * (big_m + 1)):
        out[sl] = _nw_diagonals(a[sl], na[sl], c[sl], nc[sl], sub, gap)
    return out


_PAIRS_PER_CHUNK = 256


def _by_size(fn, a, na, c, nc, *args):
    """Run ``fn`` on chunks of pairs sorted by length, each cropped to its own longest strings (less padding)."""
    out = np.zeros(a.shape[0], dtype=np.float64)
    order = np.argsort(np.maximum(na, nc), kind="stable")
    for start in range(0, len(order), _PAIRS_PER_CHUNK):
        rows = order[start:start + _PAIRS_PER_CHUNK]
        wa, wc = max(int(na[rows].max()), 1), max(int(nc[rows].max()), 1)
        out[rows] = fn(a[rows, :wa], na[rows], c[rows, :wc], nc[rows], *args)
    return out


def _nw_rows_gap0(a, na, c, nc, sub):
    # With a zero gap, row i of the table is the running maximum of max(F[i-1, j-1] + s_ij, F[i-1, j]) along j,
    # so each row is two vectorised operations over the whole batch (max is exact: same values as the loop).
    b, big_n = a.shape
    big_m = c.shape[1]
    rows = np.arange(b)
    f = np.zeros((b, big_m + 1))
    out = np.zeros(b)
    flat_sub = None if sub is None else np.ascontiguousarray(sub).reshape(-1)
    c_pos = np.maximum(c, 0)
    for i in range(1, big_n + 1):
        if flat_sub is None:
            score = (a[:, i - 1, None] == c).astype(np.float64)
        else:
            score = flat_sub.take(np.maximum(a[:, i - 1], 0)[:, None] * sub.shape[1] + c_pos)
        g = np.maximum(f[:, :-1] + score, f[:, 1:])
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
        rows_out[sl], cols_out[sl], plen[sl], _ = _min_cost_path_pairs_last(
            np.ascontiguousarray(np.moveaxis(cost[sl], 0, -1)), n[sl], m[sl])
    return rows_out, cols_out, plen


def _min_cost_path_pairs_last(c, n, m):
    big_n, big_m, b = c.shape
    n_diag = big_n + big_m - 1
    lo = np.maximum(0, np.arange(n_diag) - big_m + 1)
    hi = np.minimum(big_n - 1, np.arange(n_diag))
    dk = np.full((n_diag, big_n + 1, b), np.inf)
    dk[0, 1] = 0.0
    inf_row = np.full((big_n + 1, b), np.inf)
    for k in range(1, n_diag):
        a, z = lo[k], hi[k] + 1
        i = np.arange(a, z)
        prev1 = dk[k - 1]
        prev2 = dk[k - 2] if k >= 2 else inf_row
        out = dk[k, a + 1:z + 1]
        np.minimum(prev2[a:z], prev1[a:z], out=out)
        np.minimum(out, prev1[a + 1:z + 1], out=out)
        out += c[i, k - i]
    return _backtrack(dk, n, m)


def min_cost_path_vectors(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, n: np.ndarray,
                          m: np.ndarray):
    """:func:`min_cost_path` for the cost ``|a_i - b_j|`` (Euclidean distance of 2-D vectors), computed on the
    fly one anti-diagonal at a time.

    Args:
        ax, ay: ``[N, B]`` components of the first sequences (pairs on the last, contiguous axis).
        bx, by: ``[M, B]`` components of the second sequences.
        n, m: ``[B]`` true lengths (>= 1).
    Returns:
        as :func:`min_cost_path`, plus ``tied``: ``[B]`` bool, True where another path has the same cost.
    """
    big_n, b = ax.shape
    big_m = bx.shape[0]
    n_diag = big_n + big_m - 1
    lo = np.maximum(0, np.arange(n_diag) - big_m + 1)
    hi = np.minimum(big_n - 1, np.arange(n_diag))
    # Skewed layout: diagonal k = i + j is dk[k], cell (i, k - i) at index i + 1 (index 0 is +inf, the virtual
    # cell left of row 0), so every step works on contiguous slices instead of gathers.
    dk = np.full((n_diag, big_n + 1, b), np.inf)
    dk[0, 1] = 0.0  # the start cell costs nothing (MultiMatch's graph: edge weight = cost of the cell entered)
    inf_row = np.full((big_n + 1, b), np.inf)
    for k in range(1, n_diag):
        a, z = lo[k], hi[k] + 1
        stop = k - z if k - z >= 0 else None
        cost = ax[a:z] - bx[k - a:stop:-1]  # cells (i, k - i), i = a .. z - 1: b rows k - a down to k - z + 1
        np.square(cost, out=cost)
        dy = ay[a:z] - by[k - a:stop:-1]
        np.square(dy, out=dy)
        cost += dy
        np.sqrt(cost, out=cost)
        prev1 = dk[k - 1]
        prev2 = dk[k - 2] if k >= 2 else inf_row
        out = dk[k, a + 1:z + 1]
        np.minimum(prev2[a:z], prev1[a:z], out=out)  # diagonal and up neighbours
        np.minimum(out, prev1[a + 1:z + 1], out=out)  # left neighbour
        out += cost
    return _backtrack(dk, n, m)


def _backtrack(dk, n, m):
    """Cheapest paths from the skewed table ``dk`` ``[K, N + 1, B]``, all pairs stepping back together."""
    n_diag, width, b = dk.shape
    flat = dk.reshape(-1)
    diag_stride = width * b
    rows = np.arange(b)
    ci, cj = n - 1, m - 1
    rev_i = np.zeros((b, n_diag), dtype=np.int64)
    rev_j = np.zeros((b, n_diag), dtype=np.int64)
    rev_i[:, 0], rev_j[:, 0] = ci, cj
    plen = np.ones(b, dtype=np.int64)
    tied = np.zeros(b, dtype=bool)
    for s in range(1, n_diag):
        active = (ci > 0) | (cj > 0)
        if not active.any():
            break
        k = ci + cj
        base = (k * width + ci) * b + rows
        up = flat[np.maximum(base - diag_stride, 0)]
        left = flat[np.maximum(base - diag_stride + b, 0)]
        diag = np.where(k >= 2, flat[np.maximum(base - 2 * diag_stride, 0)], np.inf)
        # argmin over (diagonal, up, left), first on ties
        best_du = np.minimum(diag, up)
        go_left = left < best_du
        go_up = ~go_left & (up < diag)
        # equal-cost alternatives: the path is not unique (callers may need a specific tie rule)
        tied |= active & ((left == best_du) | ((up == diag) & ~go_left)) & (np.minimum(left, best_du) < np.inf)
        ci = ci - (active & ~go_left)
        cj = cj - (active & ~go_up)
        rev_i[:, s], rev_j[:, s] = ci, cj
        plen += active
    # reverse each path so that it starts at (0, 0)
    idx = plen[:, None] - 1 - np.arange(n_diag)[None, :]
    ok = idx >= 0
    idx = np.where(ok, idx, 0)
    out_i = np.where(ok, np.take_along_axis(rev_i, idx, axis=1), -1)
    out_j = np.where(ok, np.take_along_axis(rev_j, idx, axis=1), -1)
    return out_i, out_j, plen, tied


def levenshtein(a: np.ndarray, na: np.ndarray, c: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """Edit distances (unit insert, delete and substitute) of ``B`` pairs of integer-coded sequences.

    Row i of the table is ``D[i, j] = min_k<=j (G[k] + j - k)`` with ``G`` the best of the steps from row i - 1,
    i.e. ``j + cummin(G - k)``: one vectorised running minimum per row for the whole batch (exact integers).
    """
    if a.shape[0] == 0:
        return np.zeros(0)
    return _by_size(_levenshtein_rows, a, na, c, nc)


def _levenshtein_rows(a, na, c, nc):
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
