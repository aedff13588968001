"""Triton kernels of the fused blend (CUDA; tested on CPU with ``TRITON_INTERPRET=1``).

Grid ``(cdiv(H * W, BLOCK), B)``. Each program computes the level, the two adjacent levels and their bilinear taps
for BLOCK pixels once, then loops over the channels: per channel 8 loads from the chain (4 when the finer level is
the image itself) and one store. The backward recomputes all of that, writes the image's level-0 gradient directly,
scatters the chain gradient with ``atomic_add`` (not bit-deterministic) and reduces the fixation gradient per
program before one atomic per fixation. Reads: the image once plus the chain (~1/3 image); writes: the output once.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from gazekit.ops._layout import sample_tables

__all__ = ["blend_forward", "blend_backward"]

LN2 = 0.6931471805599453
BLOCK = 256


@triton.jit
def _level_of_pixels(b, i, j, mask, fix_ptr, valid_ptr, lam_ptr, offs, HW, n_fix, e2, scale, offset,
                     n_levels: tl.constexpr, USE_MAP: tl.constexpr):
    """(raw level, clamped level, nearest fixation, distance px) for a block of pixels of image b."""
    if USE_MAP:
        raw = tl.load(lam_ptr + b * HW + offs, mask=mask, other=0.0).to(tl.float32)
        kbest = tl.zeros_like(offs)
        r = tl.zeros_like(raw)
    else:
        xc = j.to(tl.float32) + 0.5
        yc = i.to(tl.float32) + 0.5
        best = tl.full(xc.shape, float("inf"), tl.float32)
        kbest = tl.full(offs.shape, -1, tl.int32)
        for k in range(n_fix):
            fx = tl.load(fix_ptr + (b * n_fix + k) * 2).to(tl.float32)
            fy = tl.load(fix_ptr + (b * n_fix + k) * 2 + 1).to(tl.float32)
            ok = tl.load(valid_ptr + b * n_fix + k) != 0
            dx = xc - fx
            dy = yc - fy
            d2 = dx * dx + dy * dy
            better = (d2 < best) & ok
            best = tl.where(better, d2, best)
            kbest = tl.where(better, k, kbest)
        r = tl.sqrt(best)
        raw = tl.log2(1.0 + r * scale / e2) - offset
    lam = tl.where(raw >= 0.0, raw, 0.0)  # NaN -> 0 keeps indices in bounds
    lam = tl.minimum(lam, n_levels - 1.0)
    return raw, lam, kbest, r


@triton.jit
def _blend_weight(frac, PG: tl.constexpr):
    if PG:
        q = tl.exp2(-2.0 * frac)
        a = tl.exp2(-q)
        bb = tl.exp2(-4.0 * q)
        den = a - bb
        t = (a - 0.5) / den
        da = 2.0 * LN2 * LN2 * a * q
        db = 2.0 * LN2 * LN2 * bb * 4.0 * q
        dt = (da * (0.5 - bb) + (a - 0.5) * db) / (den * den)
    else:
        t = frac
        dt = tl.full(frac.shape, 1.0, tl.float32)
    return t, dt


@triton.jit
def _taps(level, i, j, mask, ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr, H, W):
    ra = tl.load(ra_ptr + level * H + i, mask=mask, other=0)
    rb = tl.load(rb_ptr + level * H + i, mask=mask, other=0)
    gy = tl.load(fy_ptr + level * H + i, mask=mask, other=0.0).to(tl.float32)
    ca = tl.load(ca_ptr + level * W + j, mask=mask, other=0)
    cb = tl.load(cb_ptr + level * W + j, mask=mask, other=0)
    gx = tl.load(fx_ptr + level * W + j, mask=mask, other=0.0).to(tl.float32)
    return ra + ca, ra + cb, rb + ca, rb + cb, gy, gx


@triton.jit
def _bilinear(ptr, i00, i01, i10, i11, gy, gx, mask):
    v00 = tl.load(ptr + i00, mask=mask, other=0.0).to(tl.float32)
    v01 = tl.load(ptr + i01, mask=mask, other=0.0).to(tl.float32)
    v10 = tl.load(ptr + i10, mask=mask, other=0.0).to(tl.float32)
    v11 = tl.load(ptr + i11, mask=mask, other=0.0).to(tl.float32)
    return (1.0 - gy) * ((1.0 - gx) * v00 + gx * v01) + gy * ((1.0 - gx) * v10 + gx * v11)


@triton.jit
def _blend_fwd_kernel(x_ptr, chain_ptr, fix_ptr, valid_ptr, lam_ptr, out_ptr,
                      ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr,
                      H, W, N, n_fix, e2, scale, offset,
                      C: tl.constexpr, n_levels: tl.constexpr, USE_MAP: tl.constexpr, PG: tl.constexpr,
                      BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    b = tl.program_id(1)
    HW = H * W
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < HW
    i = offs // W
    j = offs % W
    raw, lam, kbest, r = _level_of_pixels(b, i, j, mask, fix_ptr, valid_ptr, lam_ptr, offs, HW, n_fix, e2, scale,
                                          offset, n_levels, USE_MAP)
    l0 = tl.minimum(tl.floor(lam), n_levels - 2.0)
    t, _ = _blend_weight(lam - l0, PG)
    l0i = l0.to(tl.int32)
    fine_is_image = l0i == 0
    a00, a01, a10, a11, ay, ax = _taps(l0i, i, j, mask, ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr, H, W)
    c00, c01, c10, c11, cy, cx = _taps(l0i + 1, i, j, mask, ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr, H, W)
    for c in tl.static_range(C):
        plane = (b * C + c).to(tl.int64)
        u1 = _bilinear(chain_ptr + plane * N, c00, c01, c10, c11, cy, cx, mask)
        u0_img = tl.load(x_ptr + plane * HW + offs, mask=mask & fine_is_image, other=0.0).to(tl.float32)
        u0_pyr = _bilinear(chain_ptr + plane * N, a00, a01, a10, a11, ay, ax, mask & (~fine_is_image))
        u0 = tl.where(fine_is_image, u0_img, u0_pyr)
        out = (1.0 - t) * u0 + t * u1
        tl.store(out_ptr + plane * HW + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _scatter4(ptr, i00, i01, i10, i11, gy, gx, g, mask):
    tl.atomic_add(ptr + i00, g * (1.0 - gy) * (1.0 - gx), mask=mask)
    tl.atomic_add(ptr + i01, g * (1.0 - gy) * gx, mask=mask)
    tl.atomic_add(ptr + i10, g * gy * (1.0 - gx), mask=mask)
    tl.atomic_add(ptr + i11, g * gy * gx, mask=mask)


@triton.jit
def _blend_bwd_kernel(grad_ptr, x_ptr, chain_ptr, fix_ptr, valid_ptr, lam_ptr,
                      gx_ptr, gchain_ptr, gfix_ptr, glam_ptr,
                      ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr,
                      H, W, N, n_fix, e2, scale, offset,
                      C: tl.constexpr, n_levels: tl.constexpr, USE_MAP: tl.constexpr, PG: tl.constexpr,
                      BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    b = tl.program_id(1)
    HW = H * W
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < HW
    i = offs // W
    j = offs % W
    raw, lam, kbest, r = _level_of_pixels(b, i, j, mask, fix_ptr, valid_ptr, lam_ptr, offs, HW, n_fix, e2, scale,
                                          offset, n_levels, USE_MAP)
    l0 = tl.minimum(tl.floor(lam), n_levels - 2.0)
    t, dt = _blend_weight(lam - l0, PG)
    l0i = l0.to(tl.int32)
    fine_is_image = l0i == 0
    a00, a01, a10, a11, ay, ax = _taps(l0i, i, j, mask, ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr, H, W)
    c00, c01, c10, c11, cy, cx = _taps(l0i + 1, i, j, mask, ra_ptr, rb_ptr, fy_ptr, ca_ptr, cb_ptr, fx_ptr, H, W)
    g_lam = tl.zeros(offs.shape, tl.float32)
    for c in tl.static_range(C):
        plane = (b * C + c).to(tl.int64)
        g = tl.load(grad_ptr + plane * HW + offs, mask=mask, other=0.0).to(tl.float32)
        u1 = _bilinear(chain_ptr + plane * N, c00, c01, c10, c11, cy, cx, mask)
        u0_img = tl.load(x_ptr + plane * HW + offs, mask=mask & fine_is_image, other=0.0).to(tl.float32)
        u0_pyr = _bilinear(chain_ptr + plane * N, a00, a01, a10, a11, ay, ax, mask & (~fine_is_image))
        u0 = tl.where(fine_is_image, u0_img, u0_pyr)
        g_lam += g * (u1 - u0)
        g_img = tl.where(fine_is_image, (1.0 - t) * g, 0.0)
        tl.store(gx_ptr + plane * HW + offs, g_img.to(gx_ptr.dtype.element_ty), mask=mask)
        g_chain = gchain_ptr + plane * N
        _scatter4(g_chain, a00, a01, a10, a11, ay, ax, (1.0 - t) * g, mask & (~fine_is_image))
        _scatter4(g_chain, c00, c01, c10, c11, cy, cx, t * g, mask)
    inside = (raw >= 0.0) & (raw <= n_levels - 1.0)
    g_lam = tl.where(inside, g_lam * dt, 0.0)
    if USE_MAP:
        tl.store(glam_ptr + b * HW + offs, g_lam.to(glam_ptr.dtype.element_ty), mask=mask)
    else:
        ok = mask & inside & (r > 0.0) & (kbest >= 0)
        safe_r = tl.where(ok, r, 1.0)
        g_r = tl.where(ok, g_lam / ((e2 + r * scale) * LN2) * scale / safe_r, 0.0)
        xc = j.to(tl.float32) + 0.5
        yc = i.to(tl.float32) + 0.5
        for k in range(n_fix):
            fx = tl.load(fix_ptr + (b * n_fix + k) * 2).to(tl.float32)
            fy = tl.load(fix_ptr + (b * n_fix + k) * 2 + 1).to(tl.float32)
            sel = ok & (kbest == k)
            sx = tl.sum(tl.where(sel, g_r * (fx - xc), 0.0), axis=0)
            sy = tl.sum(tl.where(sel, g_r * (fy - yc), 0.0), axis=0)
            tl.atomic_add(gfix_ptr + (b * n_fix + k) * 2, sx)
            tl.atomic_add(gfix_ptr + (b * n_fix + k) * 2 + 1, sy)


def _common(x, chain, fix, valid, lam, levels):
    b, c, h, w = x.shape
    tables = sample_tables(h, w, levels, x.dtype, x.device)
    if lam is None:
        fix_t = fix.contiguous()
        valid_t = (torch.ones(fix.shape[:2], dtype=torch.int8, device=x.device) if valid is None
                   else valid.to(torch.int8).contiguous())
        lam_t = x.new_zeros(1)
        n_fix = fix.shape[1]
    else:
        fix_t, valid_t, lam_t, n_fix = x.new_zeros(2), torch.zeros(1, dtype=torch.int8, device=x.device), lam, 0
        lam_t = lam.contiguous()
    grid = (triton.cdiv(h * w, BLOCK), b)
    return tables, fix_t, valid_t, lam_t, n_fix, grid


def blend_forward(x: Tensor, chain: Tensor, fix, valid, lam, levels: int, e2: float, scale: float, offset: float,
                  pg: bool) -> Tensor:
    """Launch the forward kernel; see gazekit.ops.op.foveate_blend. Computes in float32."""
    x, chain = x.contiguous(), chain.contiguous()
    tables, fix_t, valid_t, lam_t, n_fix, grid = _common(x, chain, fix, valid, lam, levels)
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    _blend_fwd_kernel[grid](
        x, chain, fix_t, valid_t, lam_t, out,
        tables["ra"], tables["rb"], tables["fy"], tables["ca"], tables["cb"], tables["fx"],
        x.shape[2], x.shape[3], chain.shape[2], n_fix, float(e2), float(scale), float(offset),
        C=x.shape[1], n_levels=levels, USE_MAP=lam is not None, PG=bool(pg), BLOCK=BLOCK,
    )
    return out


def blend_backward(grad: Tensor, x: Tensor, chain: Tensor, fix, valid, lam, levels: int, e2: float, scale: float,
                   offset: float, pg: bool):
    """Launch the backward kernel; returns (grad x, grad chain, grad fixations or empty, grad level map or empty)."""
    x, chain, grad = x.contiguous(), chain.contiguous(), grad.contiguous()
    tables, fix_t, valid_t, lam_t, n_fix, grid = _common(x, chain, fix, valid, lam, levels)
    gx = torch.empty_like(x)
    gchain = torch.zeros(chain.shape, dtype=torch.float32, device=x.device)
    gfix = torch.zeros(fix.shape if lam is None else (0,), dtype=torch.float32, device=x.device)
    glam = torch.zeros(lam.shape if lam is not None else (0,), dtype=x.dtype, device=x.device)
    _blend_bwd_kernel[grid](
        grad, x, chain, fix_t, valid_t, lam_t, gx, gchain, gfix if lam is None else x.new_zeros(2, dtype=torch.float32),
        glam if lam is not None else x.new_zeros(1),
        tables["ra"], tables["rb"], tables["fy"], tables["ca"], tables["cb"], tables["fx"],
        x.shape[2], x.shape[3], chain.shape[2], n_fix, float(e2), float(scale), float(offset),
        C=x.shape[1], n_levels=levels, USE_MAP=lam is not None, PG=bool(pg), BLOCK=BLOCK,
    )
    return gx, gchain.to(chain.dtype), gfix.to(x.dtype), glam
