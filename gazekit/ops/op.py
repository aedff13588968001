"""``torch.library`` registration of the fused blend: ``gazekit::foveate_blend`` and its backward op.

The pyramid is built with ordinary torch ops (so autograd and ``torch.compile`` see it); the op blends the image and
the flat pyramid chain (see :mod:`gazekit.ops._layout`) at the per-pixel level. Kernels: numba on CPU
(:mod:`gazekit.ops._cpu`), Triton on CUDA (:mod:`gazekit.ops._triton`), and the plain-torch reference anywhere
else or when a kernel cannot be built (with a warning).
"""

from __future__ import annotations

import math
import sys
import threading
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gazekit.ops._layout import build_chain, chain_offsets, sample_tables, unpack_chain
from gazekit.ops.reference import BINOMIAL5, blend_levels, eccentricity, level_from_eccentricity

__all__ = [
    "foveate_op",
    "foveate_blend",
    "foveate_blend_backward",
    "pyramid_chain",
    "pyramid_chain_backward",
    "cpu_kernel_available",
    "triton_available",
]

_STATE: dict[str, object] = {}
_NUMBA_LOCK = threading.Lock()  # numba's workqueue threading layer must not be entered by two threads at once


def cpu_kernel_available() -> bool:
    """Whether the numba CPU kernel imports (it compiles on first use)."""
    if "cpu" not in _STATE:
        try:
            from gazekit.ops import _cpu

            _STATE["cpu"] = _cpu
        except Exception as err:  # numba missing or broken: fall back to the reference, once, loudly
            warnings.warn(f"gazekit.ops: fused CPU foveation kernel unavailable ({err!r}); using the plain-torch "
                          "reference (slower, more memory)", RuntimeWarning, stacklevel=3)
            _STATE["cpu"] = None
    return _STATE["cpu"] is not None


def _kernel_cached(kernel) -> bool:
    """Whether numba's on-disk cache holds machine code of this kernel's current source (False when unknown)."""
    try:
        return bool(kernel._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - numba internals moved: say that we compile (the message is only advice)
        return False


def _kernel(name: str):
    """A numba kernel by name. When a kernel has no machine code in numba's cache yet (first use after installing
    or upgrading), its first call compiles it; the first such call of the process says so on stderr, once."""
    kernel = getattr(_STATE["cpu"], name)
    checked = _STATE.setdefault("checked", set())
    if name not in checked:
        checked.add(name)
        if not _STATE.get("announced") and not _kernel_cached(kernel):
            _STATE["announced"] = True
            where = getattr(getattr(kernel, "stats", None), "cache_path", None) or "numba's cache"
            print(f"gazekit.ops: compiling the fused CPU foveation kernels with numba (first use only, up to a "
                  f"minute; the machine code is cached in {where})", file=sys.stderr, flush=True)
    return kernel


def triton_available() -> bool:
    """Whether the Triton kernels import (they only launch on CUDA tensors)."""
    if "triton" not in _STATE:
        try:
            from gazekit.ops import _triton

            _STATE["triton"] = _triton
        except Exception:
            _STATE["triton"] = None
    return _STATE["triton"] is not None


def _new_buffer(shape, dtype: torch.dtype) -> Tensor:
    """An uninitialised contiguous CPU tensor for a kernel to fill. Transparent huge pages (``madvise`` on a fresh
    mapping) were tried here and removed: they cut the CPU time of faulting in a fresh 75 MB output (33 -> 19 ms)
    but, once other work had fragmented memory, the kernel's compaction stalls made a call slower in wall time
    (8x3x768x1024 interleaved with the reference method: 173 ms with them, 115 ms without)."""
    return torch.empty(shape, dtype=dtype)


def _numba_threads() -> None:
    import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _planes(t: Tensor):
    """numpy view ``[B*C, rest]`` of a contiguous ``[B, C, ...]`` tensor (shares memory)."""
    t = t.detach().contiguous()
    return t.numpy().reshape(t.shape[0] * t.shape[1], -1)


def _numba_args(x, chain, fix, valid, lam, levels, e2, scale, offset, pg):
    import numpy as np

    b = x.shape[0]
    np_dtype = x.detach().numpy().dtype
    if lam is None:
        fix_np = fix.detach().contiguous().numpy()
        valid_np = (torch.ones(fix.shape[:2], dtype=torch.bool) if valid is None else valid.contiguous()).numpy()
        lam_np = np.zeros((1, 1, 1), dtype=np_dtype)
    else:
        fix_np = np.zeros((b, 0, 2), dtype=np_dtype)
        valid_np = np.zeros((b, 0), dtype=np.bool_)
        lam_np = lam.detach().contiguous().numpy()
    tab = sample_tables(x.shape[-2], x.shape[-1], levels, x.dtype, x.device)
    tables = [tab[k].numpy() for k in ("ra", "rb", "fy", "ca", "cb", "fx", "level_width")]
    return (_planes(x), _planes(chain), fix_np, valid_np, lam_np, lam is not None, levels, float(e2), float(scale),
            float(offset), bool(pg), *tables)


def _row_consts(x, chain, fix, valid, lam, levels, e2, scale, offset, pg):
    """(scale / e2, offset, 1), the pixel-centre x and y coordinates, in the data's dtype (forward kernel)."""
    h, w = x.shape[-2:]
    consts = torch.tensor([scale / e2, offset, 1.0], dtype=x.dtype).numpy()
    return (consts, (torch.arange(w, dtype=x.dtype) + 0.5).numpy(), (torch.arange(h, dtype=x.dtype) + 0.5).numpy())


def _forward_args(x, chain, fix, valid, lam, levels, e2, scale, offset, pg):
    """Arguments of the numba blend_forward kernel, all but the output."""
    kargs = _numba_args(x, chain, fix, valid, lam, levels, e2, scale, offset, pg)
    sizes = chain_offsets(x.shape[-2], x.shape[-1], levels)[1]
    # level l's columns follow the fixed-phase pattern when the image is exactly 2^l times as wide
    exact = np.array([x.shape[-1] == (w << level) for level, (_, w) in enumerate(sizes)], dtype=np.bool_)
    return (*kargs[:7], kargs[10], *kargs[11:], exact,
            *_row_consts(x, chain, fix, valid, lam, levels, e2, scale, offset, pg))


def _torch_forward(x, chain, fix, valid, lam, levels, e2, scale, offset, pg) -> Tensor:
    height, width = x.shape[-2:]
    pyramid = [x] + unpack_chain(chain, height, width, levels)
    if lam is None:
        level = level_from_eccentricity(eccentricity(fix, valid, height, width, scale), levels, e2, offset)
    else:
        level = lam.clamp(0.0, levels - 1)
    return blend_levels(pyramid, level, "pg" if pg else "linear")


def _torch_backward(grad, x, chain, fix, valid, lam, levels, e2, scale, offset, pg):
    """Explicit adjoint of _torch_forward in torch ops (op implementations run below autograd, so no autograd)."""
    import math

    height, width = x.shape[-2:]
    empty = x.new_zeros(0)
    if lam is None:
        xs = torch.arange(width, dtype=fix.dtype, device=fix.device) + 0.5
        ys = torch.arange(height, dtype=fix.dtype, device=fix.device) + 0.5
        dx = xs.view(1, 1, 1, -1) - fix[..., 0, None, None]
        dy = ys.view(1, 1, -1, 1) - fix[..., 1, None, None]
        d2 = dx * dx + dy * dy
        if valid is not None:
            d2 = torch.where(valid[..., None, None], d2, torch.full_like(d2, math.inf))
        if d2.shape[1]:
            best, k = d2.min(dim=1)
        else:
            best, k = x.new_full((x.shape[0], height, width), math.inf), None
        r = best.sqrt()
        raw = torch.log2(1.0 + r * scale / e2) - offset
    else:
        raw = lam
    level = raw.clamp(0.0, levels - 1)
    l0 = level.floor().clamp(max=levels - 2)
    frac = level - l0
    if pg:
        q = torch.exp2(-2.0 * frac)
        a, b = torch.exp2(-q), torch.exp2(-4.0 * q)
        t = (a - 0.5) / (a - b)
        ln2sq = math.log(2.0) ** 2
        da, db = 2 * ln2sq * a * q, 2 * ln2sq * b * 4.0 * q
        dt = (da * (0.5 - b) + (a - 0.5) * db) / (a - b) ** 2
    else:
        t, dt = frac, torch.ones_like(frac)
    t, l0 = t.unsqueeze(1), l0.unsqueeze(1)
    pyramid = [x] + unpack_chain(chain, height, width, levels)
    g_lam = torch.zeros_like(level)
    gx = torch.zeros_like(x)
    gchain_levels = []
    for index, g in enumerate(pyramid):
        weight = torch.where(l0 == index, 1.0 - t, torch.zeros_like(t))
        sign = torch.where(l0 == index, -1.0, 0.0)
        if index > 0:
            weight = weight + torch.where(l0 == index - 1, t, torch.zeros_like(t))
            sign = sign + torch.where(l0 == index - 1, 1.0, 0.0)
        if index == 0:
            gx = grad * weight
            up = g
        else:
            up = torch.nn.functional.interpolate(g, size=(height, width), mode="bilinear", align_corners=False)
            gchain_levels.append(torch.ops.aten.upsample_bilinear2d_backward(
                grad * weight, [height, width], list(g.shape), False, None, None).flatten(2))
        g_lam = g_lam + (grad * up * sign).sum(1)
    gchain = torch.cat(gchain_levels, dim=2)
    inside = (raw >= 0) & (raw <= levels - 1)
    g_lam = torch.where(inside, g_lam * dt, torch.zeros_like(g_lam))
    if lam is not None:
        return gx, gchain, empty, g_lam
    if k is None:
        return gx, gchain, torch.zeros_like(fix), empty
    ok = inside & (r > 0) & torch.isfinite(r)
    safe_r = torch.where(ok, r, torch.ones_like(r))
    g_r = torch.where(ok, g_lam / ((e2 + r * scale) * math.log(2.0)) * scale / safe_r, torch.zeros_like(r))
    px = xs.view(1, 1, -1) - torch.gather(fix[..., 0], 1, k.flatten(1)).view_as(r)
    py = ys.view(1, -1, 1) - torch.gather(fix[..., 1], 1, k.flatten(1)).view_as(r)
    gfix = torch.zeros_like(fix)
    gfix[..., 0] = torch.zeros_like(fix[..., 0]).scatter_add(1, k.flatten(1), (-g_r * px).flatten(1))
    gfix[..., 1] = torch.zeros_like(fix[..., 1]).scatter_add(1, k.flatten(1), (-g_r * py).flatten(1))
    return gx, gchain, gfix, empty


def _cpu_forward(*args) -> Tensor | None:
    if not cpu_kernel_available():
        return None
    x = args[0]
    out = _new_buffer(tuple(x.shape), x.dtype)
    with _NUMBA_LOCK:
        _numba_threads()
        _kernel("blend_forward")(*_forward_args(*args), _planes(out))
    return out


@torch.library.custom_op("gazekit::foveate_blend", mutates_args=())
def foveate_blend(
    x: Tensor, chain: Tensor, fixations: Tensor | None, valid: Tensor | None, level_map: Tensor | None,
    levels: int, e2: float, scale: float, offset: float, pg: bool,
) -> Tensor:
    """Blend ``x`` ``[B, C, H, W]`` and its pyramid chain ``[B, C, N]`` at the per-pixel level.

    The level comes from ``fixations`` ``[B, F, 2]`` px (+ ``valid`` ``[B, F]`` bool) or from ``level_map``
    ``[B, H, W]`` when that is given; see :mod:`gazekit.ops.reference` for the maths.
    """
    args = (x, chain, fixations, valid, level_map, levels, e2, scale, offset, pg)
    if x.device.type == "cpu":
        out = _cpu_forward(*args)
        if out is not None:
            return out
    elif x.device.type == "cuda" and x.dtype != torch.float64 and triton_available():
        return _STATE["triton"].blend_forward(*args)
    return _torch_forward(*args).contiguous()


@foveate_blend.register_fake
def _(x, chain, fixations, valid, level_map, levels, e2, scale, offset, pg):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("gazekit::foveate_blend_backward", mutates_args=())
def foveate_blend_backward(
    grad: Tensor, x: Tensor, chain: Tensor, fixations: Tensor | None, valid: Tensor | None, level_map: Tensor | None,
    levels: int, e2: float, scale: float, offset: float, pg: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of ``foveate_blend`` w.r.t. (x, chain, fixations, level_map); absent inputs get empty tensors."""
    args = (x, chain, fixations, valid, level_map, levels, e2, scale, offset, pg)
    empty = x.new_zeros(0)
    grad = grad.contiguous()
    if x.device.type == "cpu" and cpu_kernel_available():
        gx, gchain = torch.zeros_like(x), torch.zeros_like(chain)
        gfix = torch.zeros_like(fixations) if fixations is not None and level_map is None else empty
        glam = torch.zeros_like(level_map) if level_map is not None else empty
        gfix_np = gfix.numpy() if gfix.numel() else torch.zeros(x.shape[0], 0, 2, dtype=x.dtype).numpy()
        glam_np = glam.numpy() if glam.numel() else torch.zeros(1, 1, 1, dtype=x.dtype).numpy()
        with _NUMBA_LOCK:
            _numba_threads()
            _kernel("blend_backward")(_planes(grad), *_numba_args(*args), _planes(gx), _planes(gchain), gfix_np,
                                         glam_np)
        return gx, gchain, gfix, glam
    if x.device.type == "cuda" and x.dtype != torch.float64 and triton_available():
        return _STATE["triton"].blend_backward(grad, *args)
    return _torch_backward(grad, *args)


@foveate_blend_backward.register_fake
def _(grad, x, chain, fixations, valid, level_map, levels, e2, scale, offset, pg):
    empty = x.new_empty(0)
    gfix = torch.empty_like(fixations) if fixations is not None and level_map is None else empty
    glam = torch.empty_like(level_map) if level_map is not None else empty
    return torch.empty_like(x), torch.empty_like(chain), gfix, glam


def _setup_context(ctx, inputs, output):
    x, chain, fixations, valid, level_map, levels, e2, scale, offset, pg = inputs
    ctx.save_for_backward(x, chain, fixations, valid, level_map)
    ctx.params = (levels, e2, scale, offset, pg)


def _backward(ctx, grad):
    x, chain, fixations, valid, level_map = ctx.saved_tensors
    gx, gchain, gfix, glam = foveate_blend_backward(grad, x, chain, fixations, valid, level_map, *ctx.params)
    gfix = gfix if fixations is not None and level_map is None else None
    glam = glam if level_map is not None else None
    return gx, gchain, gfix, None, glam, None, None, None, None, None


foveate_blend.register_autograd(_backward, setup_context=_setup_context)


@torch.library.custom_op("gazekit::pyramid_chain", mutates_args=())
def pyramid_chain(x: Tensor, levels: int) -> Tensor:
    """Pyramid levels ``1 .. L-1`` of ``x`` ``[B, C, H, W]`` in one ``[B, C, N]`` chain (fused kernel on CPU)."""
    if x.device.type != "cpu" or not cpu_kernel_available():
        return build_chain(x, levels).contiguous()
    b, c, h, w = x.shape
    offsets, sizes = chain_offsets(h, w, levels)
    chain = _new_buffer((b, c, offsets[-1]), x.dtype)
    planes = x.detach().contiguous().numpy().reshape(b * c, h * w)
    flat = chain.numpy().reshape(b * c, offsets[-1])
    with _NUMBA_LOCK:
        _numba_threads()
        for level in range(1, levels):
            src, src_off = (planes, 0) if level == 1 else (flat, offsets[level - 1])
            _kernel("pyr_down_level")(src, src_off, *sizes[level - 1], flat, offsets[level], *sizes[level])
    return chain


@pyramid_chain.register_fake
def _(x, levels):
    offsets, _ = chain_offsets(x.shape[-2], x.shape[-1], levels)
    return x.new_empty(x.shape[0], x.shape[1], offsets[-1])


def _pad_adjoint(grad: Tensor, dim: int, size: int) -> Tensor:
    """Transpose of reference._pad_1d (reflect by 2, or replicate when the side is shorter than 3)."""
    padding = [2, 2, 0, 0] if dim == -1 else [0, 0, 2, 2]
    shape = list(grad.shape)
    shape[dim] = size
    like = grad.new_empty(shape)
    if size > 2:
        return torch.ops.aten.reflection_pad2d_backward(grad, like, padding)
    return torch.ops.aten.replication_pad2d_backward(grad, like, padding)


def _pyr_down_adjoint_torch(grad: Tensor, hs: int, ws: int) -> Tensor:
    """Transpose of reference.pyr_down on ``[P, 1, hd, wd]`` planes (explicit, so it runs below autograd)."""
    k = torch.tensor(BINOMIAL5, dtype=grad.dtype, device=grad.device)
    hd, wd = grad.shape[-2:]
    g = F.conv_transpose2d(grad, k.view(1, 1, 5, 1), stride=(2, 1), output_padding=(hs + 1 - 2 * hd, 0))
    g = _pad_adjoint(g, -2, hs)
    g = F.conv_transpose2d(g, k.view(1, 1, 1, 5), stride=(1, 2), output_padding=(0, ws + 1 - 2 * wd))
    return _pad_adjoint(g, -1, ws)


@torch.library.custom_op("gazekit::pyramid_chain_backward", mutates_args=())
def pyramid_chain_backward(grad: Tensor, x: Tensor, levels: int) -> Tensor:
    """Gradient of ``pyramid_chain`` w.r.t. ``x`` (the pyramid is linear, so only x's shape matters)."""
    b, c, h, w = x.shape
    offsets, sizes = chain_offsets(h, w, levels)
    grad = grad.contiguous()
    if x.device.type == "cpu" and cpu_kernel_available():
        acc = grad.clone().reshape(b * c, offsets[-1])
        gx = torch.zeros_like(x, memory_format=torch.contiguous_format)
        acc_np, gx_np = acc.numpy(), gx.numpy().reshape(b * c, h * w)
        with _NUMBA_LOCK:
            _numba_threads()
            for level in range(levels - 1, 0, -1):
                dst, dst_off = (gx_np, 0) if level == 1 else (acc_np, offsets[level - 1])
                _kernel("pyr_down_level_adjoint")(acc_np, offsets[level], *sizes[level], dst, dst_off,
                                                     *sizes[level - 1])
        return gx
    g = None
    for level in range(levels - 1, 0, -1):
        own = grad[:, :, offsets[level] : offsets[level + 1]].reshape(b * c, 1, *sizes[level])
        g = own if g is None else g + own
        g = _pyr_down_adjoint_torch(g, *sizes[level - 1])
    return g.reshape(b, c, h, w)


@pyramid_chain_backward.register_fake
def _(grad, x, levels):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _pyr_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])
    ctx.levels = inputs[1]


def _pyr_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return pyramid_chain_backward(grad, x, ctx.levels), None


pyramid_chain.register_autograd(_pyr_backward, setup_context=_pyr_setup)


def foveate_op(
    x: Tensor, fixations: Tensor | None, valid: Tensor | None, level_map: Tensor | None, *,
    levels: int, e2: float, scale: float, offset: float, blend: str,
) -> Tensor:
    """Pyramid (torch ops) + fused blend op; inputs already validated and in the compute dtype."""
    chain = pyramid_chain(x, levels) if x.device.type == "cpu" and cpu_kernel_available() else build_chain(x, levels)
    return foveate_blend(x, chain, fixations, valid, level_map, levels, float(e2), float(scale), float(offset),
                         blend == "pg")
