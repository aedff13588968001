"""Fused CPU pyramid kernels (numba): one pyramid step on every plane and its transpose.

Imported by :mod:`gazekit.ops._cpu`, which is where :mod:`gazekit.ops.op` looks the kernels up.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ROWS_PER_TASK = 16  # rows per parallel task: per-task scratch buffers are allocated once per task


@njit(inline="always", cache=True)
def _reflect(idx, n):
    """Index into a side of length n padded by 2: reflect (edge not repeated), replicate when n < 3."""
    if n >= 3:
        if idx < 0:
            return -idx
        if idx >= n:
            return 2 * (n - 1) - idx
        return idx
    return min(max(idx, 0), n - 1)


@njit(inline="always", cache=True)
def _edge_column(v, j, ws, k0, k1, k2):
    """Output column j of the horizontal pyramid filter at stride 2 over the row v, with reflection."""
    c = 2 * j
    return (k0 * (v[_reflect(c - 2, ws)] + v[_reflect(c + 2, ws)])
            + k1 * (v[_reflect(c - 1, ws)] + v[_reflect(c + 1, ws)]) + k2 * v[_reflect(c, ws)])


@njit(cache=True, error_model="numpy")
def _pyr_rows(first, last, src, src_off, hs, ws, dst, dst_off, hd, wd):
    """Output rows [first, last) of the flattened (plane, row) range of pyr_down_level: one parallel task, its
    scratch rows allocated once. Loops run over zero-based ranges of slices, so numba emits no wraparound code for
    negative indices (which keeps LLVM from vectorising)."""
    # float32 constants (exact in float32): float32 data stays float32 (vectorises twice as wide), float64 is float64
    k0, k1, k2 = np.float32(0.0625), np.float32(0.25), np.float32(0.375)
    n_even = (ws + 1) // 2
    n_odd = ws // 2
    inner = min(max((ws - 1) // 2, 1), wd)  # j in [1, inner) needs no reflection: 2j - 2 >= 0, 2j + 2 < ws
    v = np.empty(ws, dst.dtype)
    even = np.empty(n_even, dst.dtype)
    odd = np.empty(max(n_odd, 1), dst.dtype)
    for row in range(first, last):
        p = row // hd
        i = row % hd
        r0 = src_off + _reflect(2 * i - 2, hs) * ws
        r1 = src_off + _reflect(2 * i - 1, hs) * ws
        r2 = src_off + _reflect(2 * i, hs) * ws
        r3 = src_off + _reflect(2 * i + 1, hs) * ws
        r4 = src_off + _reflect(2 * i + 2, hs) * ws
        s0 = src[p, r0 : r0 + ws]
        s1 = src[p, r1 : r1 + ws]
        s2 = src[p, r2 : r2 + ws]
        s3 = src[p, r3 : r3 + ws]
        s4 = src[p, r4 : r4 + ws]
        for q in range(ws):
            v[q] = k0 * (s0[q] + s4[q]) + k1 * (s1[q] + s3[q]) + k2 * s2[q]
        for m in range(n_odd):
            even[m] = v[2 * m]
            odd[m] = v[2 * m + 1]
        if n_even > n_odd:
            even[n_even - 1] = v[ws - 1]
        base = dst_off + i * wd
        out = dst[p, base : base + wd]
        interior = out[1:inner]  # out[m + 1]: v[2m + 2 -+ 2] = even[m + 1 -+ 1], v[2m + 1 (+ 2)] = odd[m (+ 1)]
        for m in range(inner - 1):
            interior[m] = k0 * (even[m] + even[m + 2]) + k1 * (odd[m] + odd[m + 1]) + k2 * even[m + 1]
        out[0] = _edge_column(v, 0, ws, k0, k1, k2)  # the reflected edges: column 0 and the last one or two
        for j in range(inner, wd):
            out[j] = _edge_column(v, j, ws, k0, k1, k2)


@njit(parallel=True, cache=True, error_model="numpy")
def pyr_down_level(src, src_off, hs, ws, dst, dst_off, hd, wd):
    """One pyramid step on every plane: dst = down2(binomial5 (x) binomial5 * src), reflect padding.

    src, dst: ``[P, *]`` planes (images or chains), levels stored row-major from the given offsets. Per output row the
    five source rows are first combined vertically (contiguous, vectorised), the result is split into its even and odd
    columns, and the horizontal filter at stride 2 becomes contiguous loops over those (vectorised); only the reflected
    edge columns take the general formula.
    """
    n_rows = src.shape[0] * hd
    n_tasks = (n_rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(n_tasks):
        _pyr_rows(task * ROWS_PER_TASK, min(n_rows, task * ROWS_PER_TASK + ROWS_PER_TASK), src, src_off, hs, ws, dst,
                  dst_off, hd, wd)


@njit(parallel=True, cache=True)
def pyr_down_level_adjoint(gdst, dst_off, hd, wd, gsrc, src_off, hs, ws):
    """Transpose of pyr_down_level: gsrc += A^T gdst (parallel over planes, so the scatter never races)."""
    k = (0.0625, 0.25, 0.375, 0.25, 0.0625)
    planes = gdst.shape[0]
    for p in prange(planes):
        for i in range(hd):
            for a in range(5):
                r = src_off + _reflect(2 * i + a - 2, hs) * ws
                for j in range(wd):
                    g = k[a] * gdst[p, dst_off + i * wd + j]
                    for b in range(5):
                        gsrc[p, r + _reflect(2 * j + b - 2, ws)] += k[b] * g
