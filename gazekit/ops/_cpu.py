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

    Per output row: first the level of every pixel, and from it the two horizontal taps (index, weight) of each of
    its two levels and the blend weight, once for all channels. Then, per channel, each level the row touches is
    interpolated vertically once into a short row buffer (level 0 is the image row itself, at offset 0; level l
    at ``l * W``), and every pixel is one branch-free expression of 4 loads from that buffer: the per-pixel work
    no longer depends on the level (the level-0 taps are (j, j) with weight 0, which reproduces x exactly).
    """
    n_b = fix.shape[0]
    height, width = ra.shape[1], ca.shape[1]
    n_c = x.shape[0] // n_b
    dt = x.dtype
    # per column and level: the two taps' positions in the row buffer and the right tap's weight, adjacent in memory
    # for the two levels a pixel blends
    tap_a = np.empty((width, n_levels), np.int32)
    tap_b = np.empty((width, n_levels), np.int32)
    tap_w = np.empty((width, n_levels), dt)
    for j in range(width):
        for level in range(n_levels):
            tap_a[j, level] = level * width + ca[level, j]
            tap_b[j, level] = level * width + cb[level, j]
            tap_w[j, level] = fx[level, j]
    for row in prange(n_b * height):
        b = row // height
        i = row % height
        lam_row = _level_row(b, i, fix, valid, lam_map, use_map, consts, centres_x, centres_y)
        ia0 = np.empty(width, np.int32)
        ib0 = np.empty(width, np.int32)
        ia1 = np.empty(width, np.int32)
        ib1 = np.empty(width, np.int32)
        w0 = np.empty(width, dt)
        w1 = np.empty(width, dt)
        tt = np.empty(width, dt)
        lv = np.empty(width, np.int32)
        top = n_levels - 1.0
        for j in range(width):  # level and blend weight (branch-free, vectorises)
            lam = lam_row[j]
            if not (lam >= 0.0):  # also maps NaN to 0 so indices stay in bounds
                lam = 0.0
            lam = min(lam, top)
            l0 = min(int(lam), n_levels - 2)
            lv[j] = l0
            tt[j] = lam - l0
        if pg:
            for j in range(width):
                tt[j], _ = _blend_weight(tt[j], pg)
        lo = n_levels
        hi = 0
        for j in range(width):  # the two levels' horizontal taps, in the row buffer
            l0 = lv[j]
            ia0[j] = tap_a[j, l0]
            ib0[j] = tap_b[j, l0]
            w0[j] = tap_w[j, l0]
            ia1[j] = tap_a[j, l0 + 1]
            ib1[j] = tap_b[j, l0 + 1]
            w1[j] = tap_w[j, l0 + 1]
            lo = min(lo, l0)
            hi = max(hi, l0)
        first = max(lo, 1)
        buf = np.empty((hi + 2) * width, dt)
        pix = i * width
        p0 = b * n_c
        for c in range(n_c):
            p = p0 + c
            if lo == 0:
                buf[:width] = x[p, pix:pix + width]
            for level in range(first, hi + 2):
                gy = fy[level, i]
                a0 = ra[level, i]
                a1 = rb[level, i]
                base = level * width
                for q in range(level_width[level]):
                    top_q = chain[p, a0 + q]
                    buf[base + q] = top_q + gy * (chain[p, a1 + q] - top_q)
            dst = out[p, pix:pix + width]
            for j in range(width):  # a + w (b - a): 4 loads from the buffer, no level-dependent branch
                a = buf[ia0[j]]
                u0 = a + w0[j] * (buf[ib0[j]] - a)
                a = buf[ia1[j]]
                u1 = a + w1[j] * (buf[ib1[j]] - a)
                dst[j] = u0 + tt[j] * (u1 - u0)


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
    # float32 constants (exact in float32): float32 data stays float32 (vectorises twice as wide), float64 is float64
    k0, k1, k2 = np.float32(0.0625), np.float32(0.25), np.float32(0.375)
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
        inner = min(max((ws - 1) // 2, 1), wd)  # j in [1, inner) needs no reflection: 2j - 2 >= 0, 2j + 2 < ws
        for j in range(1, inner):  # branch-free interior (vectorises)
            c = 2 * j
            dst[p, base + j] = k0 * (v[c - 2] + v[c + 2]) + k1 * (v[c - 1] + v[c + 1]) + k2 * v[c]
        for j in range(wd):  # the reflected edges
            if j == 0 or j >= inner:
                c = 2 * j
                dst[p, base + j] = (k0 * (v[_reflect(c - 2, ws)] + v[_reflect(c + 2, ws)])
                                    + k1 * (v[_reflect(c - 1, ws)] + v[_reflect(c + 1, ws)]) + k2 * v[_reflect(c, ws)])


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
