"""Fused CPU kernels (numba, parallel over rows): the blend reads the image and the small pyramid chain once.

Per output row, once for all channels: each pixel's level and blend weight (float32 math, vectorised) and the row's
runs of pixels that blend the same two levels. Per channel and run: both levels are upsampled horizontally into
short contiguous rows (fixed phases, no gathers) and blended; no full-resolution copy of any pyramid level exists.
The pyramid kernels live in :mod:`gazekit.ops._cpu_pyramid`. numba compiles on first use and caches the machine
code next to these files (``cache=True``), so later processes start at once.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# op.py looks every kernel up on this module, the pyramid ones included
from gazekit.ops._cpu_pyramid import pyr_down_level, pyr_down_level_adjoint  # noqa: F401

# numba's OpenMP layer next to torch's OpenMP runtime slows every later torch op ~1000x (measured: a 20x20 pad
# went from 13 us to 23 ms); the workqueue layer does not. It is not re-entrant, so op.py serialises calls.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

LN2 = math.log(2.0)
ROWS_PER_TASK = 16  # rows per parallel task: per-task scratch buffers are allocated once per task


@njit(inline="always", cache=True)
def _blend_weight(frac, pg):
    """(t, dt/dfrac): linear, or Perry & Geisler's transfer-calibrated weight (see reference.pg_blend_weight)."""
    if not pg:
        return frac, 1.0
    q = 2.0 ** (-2.0 * frac)
    a = 2.0 ** (-q)
    bq = 4.0 * q
    b = 2.0 ** (-bq)
    den = a - b
    t = (a - 0.5) / den
    da = 2.0 * LN2 * LN2 * a * q
    db = 2.0 * LN2 * LN2 * b * bq
    return t, (da * (0.5 - b) + (a - 0.5) * db) / (den * den)


@njit(inline="always", cache=True)
def _pixel_level(b, i, j, fix, valid, lam_map, use_map, n_levels, e2, scale, offset):
    """(raw level before clamping, clamped level, nearest fixation, distance px) of pixel (i, j) of image b."""
    if use_map:
        raw = lam_map[b, i, j]
        k = -1
        r = 0.0
    else:
        xc = j + 0.5
        yc = i + 0.5
        best = np.inf
        k = -1
        for f in range(fix.shape[1]):
            if valid[b, f]:
                dx = xc - fix[b, f, 0]
                dy = yc - fix[b, f, 1]
                d2 = dx * dx + dy * dy
                if d2 < best:
                    best = d2
                    k = f
        r = math.sqrt(best)
        raw = math.log2(1.0 + r * scale / e2) - offset
    lam = raw
    if not (lam >= 0.0):  # also maps NaN to 0 so indices stay in bounds
        lam = 0.0
    if lam > n_levels - 1:
        lam = n_levels - 1.0
    return raw, lam, k, r


@njit(inline="always", cache=True)
def _level_split(lam, n_levels):
    l0 = int(math.floor(lam))
    if l0 > n_levels - 2:
        l0 = n_levels - 2
    return l0, lam - l0


@njit(inline="always", cache=True)
def _tap(src, p, ra, rb, ca, cb, gy, gx):
    return (1.0 - gy) * ((1.0 - gx) * src[p, ra + ca] + gx * src[p, ra + cb]) + gy * (
        (1.0 - gx) * src[p, rb + ca] + gx * src[p, rb + cb])


@njit(cache=True, error_model="numpy")
def _split_float32(row, expo):
    """row <- mantissa in [1, 2), expo <- exponent, of float32 values >= 1; inf and NaN go to expo unchanged.
    Bit operations on a second view of the row, branch-free (vectorised)."""
    bits = row.view(np.uint32)
    for j in range(row.shape[0]):
        value = row[j]
        b = bits[j]
        finite = b < np.uint32(0x7F800000)
        expo[j] = np.float32(np.int32(b >> np.uint32(23)) - np.int32(127)) if finite else value
        bits[j] = (b & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)


@njit(cache=True, error_model="numpy")
def _split_levels(lam, lv, tt, n_levels, pg):
    """lv <- l0 = min(floor(lambda), L - 2), tt <- blend weight of level l0 + 1, from unclamped levels (NaN -> 0)."""
    top = np.float32(n_levels - 1)
    cap = np.int32(n_levels - 2)
    for j in range(lam.shape[0]):
        v = lam[j]
        v = v if v >= np.float32(0.0) else np.float32(0.0)  # also maps NaN to 0, so indices stay in bounds
        v = min(v, top)
        l0 = min(np.int32(v), cap)
        lv[j] = l0
        tt[j] = v - np.float32(l0)  # exact; float32 constants keep float32 data in float32
    if pg:
        for j in range(lam.shape[0]):
            tt[j], _ = _blend_weight(tt[j], pg)


@njit(cache=True, error_model="numpy")
def _log2_split_float32(row, expo, offset, lv, tt, n_levels):
    """lv, tt <- the split of lambda = expo + log2(row) - offset, row in [1, 2) (from _split_float32).

    ln(m) = 2 atanh((m - 1) / (m + 1)) on m in [sqrt(1/2), sqrt(2)), 5 terms (truncation < 1e-9): numba has no vector
    log2 without Intel's SVML, and this is branch-free float32 (vectorised), within 1 ulp of log2f here. Then the
    clamp and split of _split_levels, fused."""
    c3, c5, c7, c9 = np.float32(1 / 3), np.float32(1 / 5), np.float32(1 / 7), np.float32(1 / 9)
    two_log2e = np.float32(2.0 / LN2)
    top = np.float32(n_levels - 1)
    cap = np.int32(n_levels - 2)
    for j in range(row.shape[0]):
        m = row[j]
        big = m > np.float32(1.4142135)
        m = np.float32(0.5) * m if big else m
        e = expo[j] + np.float32(1.0) if big else expo[j]
        s = (m - np.float32(1.0)) / (m + np.float32(1.0))
        s2 = s * s
        poly = np.float32(1.0) + s2 * (c3 + s2 * (c5 + s2 * (c7 + s2 * c9)))
        v = (e + s * poly * two_log2e if expo[j] < np.float32(128.0) else expo[j]) - offset
        v = v if v >= np.float32(0.0) else np.float32(0.0)  # also maps NaN to 0, so indices stay in bounds
        v = min(v, top)
        l0 = min(np.int32(v), cap)
        lv[j] = l0
        tt[j] = v - np.float32(l0)


def _levels_from_distance(row, scratch, offset, lv, tt, n_levels, pg):
    """lv, tt <- split of clamp(log2(row) - offset) for row = 1 + eccentricity / e2; an overload picks float32
    (vectorised, above) or float64 (libm log2)."""
    raise NotImplementedError  # only the numba overload runs


@overload(_levels_from_distance)
def _levels_from_distance_impl(row, scratch, offset, lv, tt, n_levels, pg):
    if row.dtype == types.float32:
        def impl(row, scratch, offset, lv, tt, n_levels, pg):
            _split_float32(row, scratch)
            _log2_split_float32(row, scratch, offset, lv, tt, n_levels)
            if pg:
                for j in range(tt.shape[0]):
                    tt[j], _ = _blend_weight(tt[j], pg)
        return impl

    def impl(row, scratch, offset, lv, tt, n_levels, pg):
        for j in range(row.shape[0]):
            row[j] = math.log2(row[j]) - offset
        _split_levels(row, lv, tt, n_levels, pg)
    return impl


@njit(inline="always", cache=True, error_model="numpy")
def _row_levels(b, i, fix, valid, lam_map, use_map, consts, centres_x, centres_y, n_levels, pg, row, scratch, lv, tt):
    """lv, tt <- per pixel of row i of image b: the lower level l0 and the blend weight of level l0 + 1, in the data's
    own precision (float32 math vectorises). consts = (scale / e2, offset, 1); centres_x/y = pixel centres (j + 0.5),
    all in the data's dtype."""
    width = centres_x.shape[0]
    if use_map:
        _split_levels(lam_map[b, i], lv, tt, n_levels, pg)
        return
    for j in range(width):
        row[j] = np.inf
    for k in range(fix.shape[1]):
        if valid[b, k]:
            fxk = fix[b, k, 0]
            dy = centres_y[i] - fix[b, k, 1]
            dy2 = dy * dy
            for j in range(width):
                dx = centres_x[j] - fxk
                row[j] = min(row[j], dx * dx + dy2)
    for j in range(width):
        row[j] = consts[2] + math.sqrt(row[j]) * consts[0]
    _levels_from_distance(row, scratch, consts[1], lv, tt, n_levels, pg)


@njit(inline="always", cache=True, error_model="numpy")
def _phases(p, n_k, s, w):
    """w[s k + r] = p[k] + (r + 1/2) / s (p[k + 1] - p[k]) for k < n_k, r < s, s in (2, 4, 8): s stores per k at fixed
    phases, which LLVM vectorises as interleaved stores (a loop over r would be unrolled and vectorised over k
    as scatters instead)."""
    if s == 2:
        for k in range(n_k):
            d = p[k + 1] - p[k]
            w[2 * k] = p[k] + np.float32(0.25) * d
            w[2 * k + 1] = p[k] + np.float32(0.75) * d
    elif s == 4:
        for k in range(n_k):
            d = p[k + 1] - p[k]
            w[4 * k] = p[k] + np.float32(0.125) * d
            w[4 * k + 1] = p[k] + np.float32(0.375) * d
            w[4 * k + 2] = p[k] + np.float32(0.625) * d
            w[4 * k + 3] = p[k] + np.float32(0.875) * d
    else:
        for k in range(n_k):
            d = p[k + 1] - p[k]
            w[8 * k] = p[k] + np.float32(0.0625) * d
            w[8 * k + 1] = p[k] + np.float32(0.1875) * d
            w[8 * k + 2] = p[k] + np.float32(0.3125) * d
            w[8 * k + 3] = p[k] + np.float32(0.4375) * d
            w[8 * k + 4] = p[k] + np.float32(0.5625) * d
            w[8 * k + 5] = p[k] + np.float32(0.6875) * d
            w[8 * k + 6] = p[k] + np.float32(0.8125) * d
            w[8 * k + 7] = p[k] + np.float32(0.9375) * d


@njit(inline="always", cache=True, error_model="numpy")
def _ramp(p, n_k, t, q):
    """q[t k + m] = p[k] + m / t (p[k + 1] - p[k]) for k < n_k, m < t, and q[t n_k] = p[n_k] (t in 2, 4, 8 unrolled):
    the row resampled at t points per interval, interval ends included, so that linear interpolation of q at any
    point is linear interpolation of p there."""
    if t == 2:
        for k in range(n_k):
            q[2 * k] = p[k]
            q[2 * k + 1] = p[k] + np.float32(0.5) * (p[k + 1] - p[k])
    elif t == 4:
        for k in range(n_k):
            d = p[k + 1] - p[k]
            q[4 * k] = p[k]
            q[4 * k + 1] = p[k] + np.float32(0.25) * d
            q[4 * k + 2] = p[k] + np.float32(0.5) * d
            q[4 * k + 3] = p[k] + np.float32(0.75) * d
    elif t == 8:
        for k in range(n_k):
            d = p[k + 1] - p[k]
            q[8 * k] = p[k]
            q[8 * k + 1] = p[k] + np.float32(0.125) * d
            q[8 * k + 2] = p[k] + np.float32(0.25) * d
            q[8 * k + 3] = p[k] + np.float32(0.375) * d
            q[8 * k + 4] = p[k] + np.float32(0.5) * d
            q[8 * k + 5] = p[k] + np.float32(0.625) * d
            q[8 * k + 6] = p[k] + np.float32(0.75) * d
            q[8 * k + 7] = p[k] + np.float32(0.875) * d
    else:
        inv = np.float32(1.0) / np.float32(t)  # exact: t is a power of two
        for k in range(n_k):
            d = p[k + 1] - p[k]
            for m in range(t):
                q[t * k + m] = p[k] + np.float32(m) * inv * d
    q[t * n_k] = p[n_k]


@njit(inline="always", cache=True, error_model="numpy")
def _upsample(pbuf, base, n, level, exact, ca, cb, fx, a, e, u, q):
    """Level ``level``'s vertically interpolated row (``pbuf[base + 1 : base + 1 + n]``, edge-padded by one on each
    side) sampled horizontally at output columns [a, e) into ``u`` (``q``: scratch); returns the offset: column
    a + j is ``u[off + j]``.

    Exact levels (output width = 2^level x level width) are linear interpolations with fixed phases: output column
    ``s k + r - s/2`` is ``P[k] + (r + 1/2) / s (P[k + 1] - P[k])`` with P the padded row, written block by block
    with contiguous stores (vectorised, no gathers); for s = 8 t > 8 the row is first resampled at t points per
    interval (ends included), after which it is the s = 8 case (the same values up to rounding). Other levels and
    short runs read the bilinear tables. Loops run over zero-based ranges of slices: numba then knows the indices
    are not negative and emits no wraparound code, which would keep LLVM from vectorising.
    """
    s = 1 << level
    if exact and e - a >= s:
        half = s >> 1
        k0 = (a + half) >> level
        n_k = ((e - 1 + half) >> level) - k0 + 1
        p = pbuf[base + k0 : base + k0 + n_k + 1]
        if s <= 8:
            _phases(p, n_k, s, u)
        else:
            t = s >> 3
            _ramp(p, n_k, t, q)
            _phases(q, t * n_k, 8, u)
        return a + half - s * k0
    p = pbuf[base + 1 : base + 1 + n]
    left_col = ca[level, a:e]
    right_col = cb[level, a:e]
    weight = fx[level, a:e]
    for j in range(e - a):
        left = p[left_col[j]]
        u[j] = left + weight[j] * (p[right_col[j]] - left)
    return 0


@njit(cache=True, error_model="numpy")
def _blend_rows(first, last, x, chain, fix, valid, lam_map, use_map, n_levels, pg, ra, rb, fy, ca, cb, fx,
                level_width, exact, consts, centres_x, centres_y, pofs, out):
    """Rows [first, last) of the flattened (image, row) range; see blend_forward. One parallel task: its scratch rows
    are allocated once for all its rows."""
    n_b = fix.shape[0]
    height, width = ra.shape[1], ca.shape[1]
    n_c = x.shape[0] // n_b
    dt = x.dtype
    spare = 1 << (n_levels - 1)  # the fixed-phase writes overrun a run by up to one block
    lam = np.empty(width, dt)
    scratch = np.empty(width, dt)
    lv = np.empty(width, np.int32)
    tt = np.empty(width, dt)
    run_start = np.empty(width + 1, np.int64)
    run_level = np.empty(width, np.int64)
    pbuf = np.empty(max(pofs[n_levels], 1), dt)
    u0 = np.empty(width + 2 * spare, dt)
    u1 = np.empty(width + 2 * spare, dt)
    qbuf = np.empty(width // 8 + 2 * spare + 2, dt)
    for row in range(first, last):
        b = row // height
        i = row % height
        _row_levels(b, i, fix, valid, lam_map, use_map, consts, centres_x, centres_y, n_levels, pg, lam, scratch, lv,
                    tt)
        n_runs = 0
        prev = -1
        lo = n_levels
        hi = 0
        for j in range(width):
            if lv[j] != prev:
                prev = lv[j]
                run_start[n_runs] = j
                run_level[n_runs] = prev
                n_runs += 1
                lo = min(lo, prev)
                hi = max(hi, prev)
        run_start[n_runs] = width
        pix = i * width
        for c in range(n_c):
            p = b * n_c + c
            for level in range(max(lo, 1), hi + 2):  # vertical interpolation, once per level and row
                n = level_width[level]
                base = pofs[level]
                gy = fy[level, i]
                upper = chain[p, ra[level, i] : ra[level, i] + n]
                lower = chain[p, rb[level, i] : rb[level, i] + n]
                row_buf = pbuf[base + 1 : base + 1 + n]
                for q in range(n):
                    row_buf[q] = upper[q] + gy * (lower[q] - upper[q])
                pbuf[base] = row_buf[0]
                pbuf[base + n + 1] = row_buf[n - 1]
            for r in range(n_runs):
                a = run_start[r]
                e = run_start[r + 1]
                level = run_level[r]
                off1 = _upsample(pbuf, pofs[level + 1], level_width[level + 1], level + 1, exact[level + 1],
                                 ca, cb, fx, a, e, u1, qbuf)
                fine = u1[off1 : off1 + e - a]  # level + 1
                weight = tt[a:e]
                dst = out[p, pix + a : pix + e]
                if level == 0:
                    src = x[p, pix + a : pix + e]
                    for j in range(e - a):
                        dst[j] = src[j] + weight[j] * (fine[j] - src[j])
                else:
                    off0 = _upsample(pbuf, pofs[level], level_width[level], level, exact[level],
                                     ca, cb, fx, a, e, u0, qbuf)
                    coarse = u0[off0 : off0 + e - a]
                    for j in range(e - a):
                        dst[j] = coarse[j] + weight[j] * (fine[j] - coarse[j])


@njit(parallel=True, cache=True, error_model="numpy")
def blend_forward(x, chain, fix, valid, lam_map, use_map, n_levels, pg, ra, rb, fy, ca, cb, fx, level_width,
                  exact, consts, centres_x, centres_y, out):
    """out = (1 - t) U_l0 + t U_l0+1 (see gazekit.ops.reference); x, out ``[B*C, H*W]``, chain ``[B*C, N]``.

    Per output row, once for all channels: every pixel's level (vectorised distance, square root and log2), its
    blend weight, and the row's runs of pixels with the same pair of levels. Per channel: each level the row touches
    is interpolated vertically once into a short padded row (level 0 is the image row itself), then every run
    samples its two levels horizontally into two contiguous rows (fixed-phase linear interpolation for levels whose
    width divides the image's, the bilinear tables otherwise) and blends them: contiguous loops without per-pixel
    branches or gathers, which LLVM vectorises. ``exact[l]``: level l's columns follow the fixed-phase pattern.
    """
    pofs = np.zeros(n_levels + 1, np.int64)  # start of level l's padded row in the per-task buffer
    for level in range(1, n_levels):
        pofs[level + 1] = pofs[level] + level_width[level] + 2
    n_rows = fix.shape[0] * ra.shape[1]
    n_tasks = (n_rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(n_tasks):
        _blend_rows(task * ROWS_PER_TASK, min(n_rows, task * ROWS_PER_TASK + ROWS_PER_TASK), x, chain, fix, valid,
                    lam_map, use_map, n_levels, pg, ra, rb, fy, ca, cb, fx, level_width, exact, consts, centres_x,
                    centres_y, pofs, out)


@njit(inline="always", cache=True)
def _sample(x, chain, p, i, j, level, ra, rb, fy, ca, cb, fx):
    if level == 0:
        return x[p, ra[0, i] + j]
    return _tap(chain, p, ra[level, i], rb[level, i], ca[level, j], cb[level, j], fy[level, i], fx[level, j])


@njit(inline="always", cache=True)
def _scatter(gx_img, gchain, p, i, j, level, g, ra, rb, fy, ca, cb, fx):
    if level == 0:
        gx_img[p, ra[0, i] + j] += g
        return
    a = ra[level, i]
    bb = rb[level, i]
    c0 = ca[level, j]
    c1 = cb[level, j]
    gy = fy[level, i]
    gx = fx[level, j]
    gchain[p, a + c0] += g * (1.0 - gy) * (1.0 - gx)
    gchain[p, a + c1] += g * (1.0 - gy) * gx
    gchain[p, bb + c0] += g * gy * (1.0 - gx)
    gchain[p, bb + c1] += g * gy * gx


@njit(parallel=True, cache=True, error_model="numpy")
def blend_backward(grad, x, chain, fix, valid, lam_map, use_map, n_levels, e2, scale, offset, pg,
                   ra, rb, fy, ca, cb, fx, level_width, gx_img, gchain, gfix, glam):
    """Gradients of blend_forward w.r.t. the image (level-0 term), the chain, the fixations or the level map.

    Parallel over images, so the scatter into each image's chain never races. Outputs must be zero-initialised.
    """
    n_b = fix.shape[0]
    height, width = ra.shape[1], ca.shape[1]
    n_c = x.shape[0] // n_b
    for b in prange(n_b):
        acc = np.zeros((fix.shape[1], 2))  # fixation gradient of this image, accumulated in float64
        for i in range(height):
            yc = i + 0.5
            for j in range(width):
                raw, lam, k, r = _pixel_level(b, i, j, fix, valid, lam_map, use_map, n_levels, e2, scale, offset)
                l0, frac = _level_split(lam, n_levels)
                t, dt = _blend_weight(frac, pg)
                g_lam = 0.0
                for c in range(n_c):
                    p = b * n_c + c
                    g = grad[p, ra[0, i] + j]
                    u0 = _sample(x, chain, p, i, j, l0, ra, rb, fy, ca, cb, fx)
                    u1 = _sample(x, chain, p, i, j, l0 + 1, ra, rb, fy, ca, cb, fx)
                    g_lam += g * (u1 - u0)
                    _scatter(gx_img, gchain, p, i, j, l0, (1.0 - t) * g, ra, rb, fy, ca, cb, fx)
                    _scatter(gx_img, gchain, p, i, j, l0 + 1, t * g, ra, rb, fy, ca, cb, fx)
                # clamp passes the gradient on its closed interval, as torch.clamp does
                if not (raw >= 0.0 and raw <= n_levels - 1):
                    continue
                g_lam *= dt
                if use_map:
                    glam[b, i, j] = g_lam
                elif k >= 0 and r > 0.0:
                    e = r * scale
                    g_r = g_lam / ((e2 + e) * LN2) * scale
                    acc[k, 0] += g_r * (fix[b, k, 0] - (j + 0.5)) / r
                    acc[k, 1] += g_r * (fix[b, k, 1] - yc) / r
        if not use_map:
            for f in range(fix.shape[1]):
                gfix[b, f, 0] = acc[f, 0]
                gfix[b, f, 1] = acc[f, 1]
