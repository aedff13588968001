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


@njit(parallel=True, cache=True)
def blend_forward(x, chain, fix, valid, lam_map, use_map, n_levels, e2, scale, offset, pg,
                  ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w, out):
    """out[b, c, i, j] = (1 - t) U_l0 + t U_l0+1 (see gazekit.ops.reference)."""
    n_b, n_c, height, width = x.shape
    for row in prange(n_b * height):
        b = row // height
        i = row % height
        for j in range(width):
            _, lam, _, _ = _pixel_level(b, i, j, fix, valid, lam_map, use_map, n_levels, e2, scale, offset)
            l0, frac = _level_split(lam, n_levels)
            t, _ = _blend_weight(frac, pg)
            l1 = l0 + 1
            # taps of the coarser level (always >= 1)
            w1 = lvl_w[l1]
            base1 = lvl_off[l1]
            a1 = base1 + ry0[l1, i] * w1
            b1 = base1 + ry1[l1, i] * w1
            c0 = rx0[l1, j]
            c1 = rx1[l1, j]
            gy1 = fy[l1, i]
            gx1 = fx[l1, j]
            if l0 == 0:
                for c in range(n_c):
                    u1 = (1.0 - gy1) * ((1.0 - gx1) * chain[b, c, a1 + c0] + gx1 * chain[b, c, a1 + c1]) + gy1 * (
                        (1.0 - gx1) * chain[b, c, b1 + c0] + gx1 * chain[b, c, b1 + c1])
                    out[b, c, i, j] = (1.0 - t) * x[b, c, i, j] + t * u1
            else:
                w0 = lvl_w[l0]
                base0 = lvl_off[l0]
                a0 = base0 + ry0[l0, i] * w0
                b0 = base0 + ry1[l0, i] * w0
                d0 = rx0[l0, j]
                d1 = rx1[l0, j]
                gy0 = fy[l0, i]
                gx0 = fx[l0, j]
                for c in range(n_c):
                    u0 = (1.0 - gy0) * ((1.0 - gx0) * chain[b, c, a0 + d0] + gx0 * chain[b, c, a0 + d1]) + gy0 * (
                        (1.0 - gx0) * chain[b, c, b0 + d0] + gx0 * chain[b, c, b0 + d1])
                    u1 = (1.0 - gy1) * ((1.0 - gx1) * chain[b, c, a1 + c0] + gx1 * chain[b, c, a1 + c1]) + gy1 * (
                        (1.0 - gx1) * chain[b, c, b1 + c0] + gx1 * chain[b, c, b1 + c1])
                    out[b, c, i, j] = (1.0 - t) * u0 + t * u1


@njit(inline="always", cache=True)
def _sample(x, chain, b, c, i, j, level, ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w):
    if level == 0:
        return x[b, c, i, j]
    w = lvl_w[level]
    a = lvl_off[level] + ry0[level, i] * w
    bb = lvl_off[level] + ry1[level, i] * w
    c0 = rx0[level, j]
    c1 = rx1[level, j]
    gy = fy[level, i]
    gx = fx[level, j]
    return (1.0 - gy) * ((1.0 - gx) * chain[b, c, a + c0] + gx * chain[b, c, a + c1]) + gy * (
        (1.0 - gx) * chain[b, c, bb + c0] + gx * chain[b, c, bb + c1])


@njit(inline="always", cache=True)
def _scatter(gx_img, gchain, b, c, i, j, level, g, ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w):
    if level == 0:
        gx_img[b, c, i, j] += g
        return
    w = lvl_w[level]
    a = lvl_off[level] + ry0[level, i] * w
    bb = lvl_off[level] + ry1[level, i] * w
    c0 = rx0[level, j]
    c1 = rx1[level, j]
    gy = fy[level, i]
    gx = fx[level, j]
    gchain[b, c, a + c0] += g * (1.0 - gy) * (1.0 - gx)
    gchain[b, c, a + c1] += g * (1.0 - gy) * gx
    gchain[b, c, bb + c0] += g * gy * (1.0 - gx)
    gchain[b, c, bb + c1] += g * gy * gx


@njit(parallel=True, cache=True)
def blend_backward(grad, x, chain, fix, valid, lam_map, use_map, n_levels, e2, scale, offset, pg,
                   ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w, gx_img, gchain, gfix, glam):
    """Gradients of blend_forward w.r.t. the image (level-0 term), the chain, the fixations or the level map.

    Parallel over images, so the scatter into each image's chain never races. Outputs must be zero-initialised.
    """
    n_b, n_c, height, width = x.shape
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
                    g = grad[b, c, i, j]
                    u0 = _sample(x, chain, b, c, i, j, l0, ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w)
                    u1 = _sample(x, chain, b, c, i, j, l0 + 1, ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w)
                    g_lam += g * (u1 - u0)
                    _scatter(gx_img, gchain, b, c, i, j, l0, (1.0 - t) * g, ry0, ry1, fy, rx0, rx1, fx, lvl_off,
                             lvl_w)
                    _scatter(gx_img, gchain, b, c, i, j, l0 + 1, t * g, ry0, ry1, fy, rx0, rx1, fx, lvl_off, lvl_w)
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
