"""Fused CPU kernels (numba, parallel over rows): one pass that reads the image and the small pyramid chain.

Per output pixel the level, the two adjacent levels and their 8 bilinear taps are computed once, then every channel
costs 8 loads and 1 store; no full-resolution copy of any pyramid level exists. numba compiles on first use and
caches the machine code next to this file (``cache=True``), so later processes start at once.
"""

from __future__ import annotations

import math

import os

import numba
import numpy as np
from numba import njit, prange

# numba's OpenMP layer next to torch's OpenMP runtime slows every later torch op ~1000x (measured: a 20x20 pad
# went from 13 us to 23 ms); the workqueue layer does not. It is not re-entrant, so op.py serialises calls.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

LN2 = math.log(2.0)


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


@njit(inline="always", cache=True, error_model="numpy")
def _level_row(b, i, fix, valid, lam_map, use_map, consts, centres_x, centres_y):
    """Unclamped levels of row i of image b, in the data's own precision (float32 math vectorises and is cheaper).

    consts = (scale / e2, offset, 1); centres_x/y = pixel centres (j + 0.5), all in the data's dtype.
    """
    width = centres_x.shape[0]
    row = np.empty(width, centres_x.dtype)
    if use_map:
        for j in range(width):
            row[j] = lam_map[b, i, j]
        return row
    for j in range(width):
        row[j] = np.inf
    for k in range(fix.shape[1]):
        if valid[b, k]:
            fxk = fix[b, k, 0]
            dy = centres_y[i] - fix[b, k, 1]
            dy2 = dy * dy
            for j in range(width):
                dx = centres_x[j] - fxk
                d2 = dx * dx + dy2
                if d2 < row[j]:
                    row[j] = d2
    for j in range(width):
        row[j] = math.log2(consts[2] + math.sqrt(row[j]) * consts[0]) - consts[1]
    return row


@njit(parallel=True, cache=True, error_model="numpy")
def blend_forward(x, chain, fix, valid, lam_map, use_map, n_levels, e2, scale, offset, pg,
                  ra, rb, fy, ca, cb, fx, level_width, consts, centres_x, centres_y, out):
    """out = (1 - t) U_l0 + t U_l0+1 (see gazekit.ops.reference); x, out ``[B*C, H*W]``, chain ``[B*C, N]``.

    Per output row: the level of every pixel first (shared by the channels); then, per channel, each level the row
    touches is interpolated vertically once into a short row buffer (``W / 2^l`` values), so a pixel costs two
    horizontal taps per level instead of four 2-D taps.
    """
    n_b = fix.shape[0]
    height, width = ra.shape[1], ca.shape[1]
    n_c = x.shape[0] // n_b
    for row in prange(n_b * height):
        b = row // height
        i = row % height
        lv = np.empty(width, np.int64)
        tt = np.empty(width, np.float64)
        lam_row = _level_row(b, i, fix, valid, lam_map, use_map, consts, centres_x, centres_y)
        lo = n_levels
        hi = 0
        for j in range(width):
            lam = lam_row[j]
            if not (lam >= 0.0):  # also maps NaN to 0 so indices stay in bounds
                lam = 0.0
            if lam > n_levels - 1:
                lam = n_levels - 1.0
            l0, frac = _level_split(lam, n_levels)
            t, _ = _blend_weight(frac, pg)
            lv[j] = l0
            tt[j] = t
            lo = min(lo, l0)
            hi = max(hi, l0)
        first = max(lo, 1)
        rows = np.empty((n_c, n_levels, width), x.dtype)
        pix = i * width
        p0 = b * n_c
        for c in range(n_c):
            for level in range(first, hi + 2):
                gy = fy[level, i]
                a0 = ra[level, i]
                a1 = rb[level, i]
                for q in range(level_width[level]):
                    rows[c, level, q] = (1.0 - gy) * chain[p0 + c, a0 + q] + gy * chain[p0 + c, a1 + q]
        for j in range(width):
            l0 = lv[j]
            t = tt[j]
            l1 = l0 + 1
            g1 = fx[l1, j]
            c0 = ca[l1, j]
            c1 = cb[l1, j]
            if l0 == 0:
                for c in range(n_c):
                    u1 = (1.0 - g1) * rows[c, l1, c0] + g1 * rows[c, l1, c1]
                    out[p0 + c, pix + j] = (1.0 - t) * x[p0 + c, pix + j] + t * u1
            else:
                g0 = fx[l0, j]
                d0 = ca[l0, j]
                d1 = cb[l0, j]
                for c in range(n_c):
                    u1 = (1.0 - g1) * rows[c, l1, c0] + g1 * rows[c, l1, c1]
                    u0 = (1.0 - g0) * rows[c, l0, d0] + g0 * rows[c, l0, d1]
                    out[p0 + c, pix + j] = (1.0 - t) * u0 + t * u1


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


@njit(parallel=True, cache=True, error_model="numpy")
def pyr_down_level(src, src_off, hs, ws, dst, dst_off, hd, wd):
    """One pyramid step on every plane: dst = down2(binomial5 (x) binomial5 * src), reflect padding.

    src, dst: ``[P, *]`` planes (images or chains), levels stored row-major from the given offsets. Per output row the
    five source rows are first combined vertically (contiguous, vectorisable), then filtered horizontally at stride 2.
    """
    k0, k1, k2 = 0.0625, 0.25, 0.375
    planes = src.shape[0]
    for row in prange(planes * hd):
        p = row // hd
        i = row % hd
        r0 = src_off + _reflect(2 * i - 2, hs) * ws
        r1 = src_off + _reflect(2 * i - 1, hs) * ws
        r2 = src_off + _reflect(2 * i, hs) * ws
        r3 = src_off + _reflect(2 * i + 1, hs) * ws
        r4 = src_off + _reflect(2 * i + 2, hs) * ws
        v = np.empty(ws, dst.dtype)
        for q in range(ws):
            v[q] = k0 * (src[p, r0 + q] + src[p, r4 + q]) + k1 * (src[p, r1 + q] + src[p, r3 + q]) + k2 * src[p, r2 + q]
        base = dst_off + i * wd
        for j in range(wd):
            c = 2 * j
            if c >= 2 and c + 2 < ws:
                acc = k0 * (v[c - 2] + v[c + 2]) + k1 * (v[c - 1] + v[c + 1]) + k2 * v[c]
            else:
                acc = (k0 * (v[_reflect(c - 2, ws)] + v[_reflect(c + 2, ws)])
                       + k1 * (v[_reflect(c - 1, ws)] + v[_reflect(c + 1, ws)]) + k2 * v[_reflect(c, ws)])
            dst[p, base + j] = acc


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
