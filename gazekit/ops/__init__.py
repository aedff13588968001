"""Foveation ops: render images as seen from fixations, with resolution falling with eccentricity.

* :func:`foveate` / :class:`Foveate`: Gaussian-pyramid foveation (Perry & Geisler style), a user level map, or NeVA's
  one-blur Gaussian-mask blend. Differentiable w.r.t. the images and the fixation coordinates.
* :func:`eccentricity_pool`: eccNet's eccentricity-dependent average pooling of feature maps.

Coordinates are pixels, origin at the top-left corner, pixel ``(i, j)`` centred at ``(j + 0.5, i + 0.5)``; the
maths is defined in :mod:`gazekit.ops.reference`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.ops.pooling import ECCNET_VGG16, eccentricity_pool, pool_sizes
from gazekit.ops.reference import (
    foveate_neva_reference,
    foveate_reference,
    gaussian_blur,
    gaussian_pyramid,
    perry_geisler_level_offset,
)

__all__ = [
    "build_cpu_kernels",
    "foveate",
    "Foveate",
    "eccentricity_pool",
    "pool_sizes",
    "ECCNET_VGG16",
    "gaussian_blur",
    "gaussian_pyramid",
    "perry_geisler_level_offset",
    "foveate_reference",
]

MODES = ("pyramid", "map", "neva")
BLENDS = ("linear", "pg")
BACKENDS = ("auto", "op", "reference")
DEFAULT_E2_PX = 10.0  # Perry's C++ default half-resolution eccentricity, in px
DEFAULT_E2_DEG = 2.3  # Perry & Geisler's e2 in degrees


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check_images(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor):
        raise InvalidInputError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise InvalidInputError(f"images must be [B, C, H, W], got shape {tuple(images.shape)}")
    if images.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise InvalidInputError(f"images must be float16/bfloat16/float32/float64, got {images.dtype}")
    if images.shape[-1] == 0 or images.shape[-2] == 0:
        raise InvalidInputError(f"images must have H, W >= 1, got shape {tuple(images.shape)}")
    return images.contiguous()


def _check_fixations(fixations: Tensor, valid: Tensor | None, batch: int, device: torch.device):
    if not isinstance(fixations, Tensor):
        raise InvalidInputError(f"fixations must be a torch.Tensor, got {type(fixations).__name__}")
    if fixations.dim() == 2 and fixations.shape[-1] == 2:
        fixations = fixations.unsqueeze(1)
        if valid is not None and valid.dim() == 1:
            valid = valid.unsqueeze(1)
    if fixations.dim() != 3 or fixations.shape[-1] != 2 or fixations.shape[0] != batch:
        raise InvalidInputError(
            f"fixations must be [B, F, 2] (x, y) px with B = {batch} (or [B, 2]), got shape {tuple(fixations.shape)}"
        )
    if not fixations.is_floating_point():
        raise InvalidInputError(f"fixations must be a float tensor (px), got {fixations.dtype}")
    if fixations.device != device:
        raise InvalidInputError(f"fixations are on {fixations.device} but images on {device}")
    if valid is not None:
        shape_ok = isinstance(valid, Tensor) and tuple(valid.shape) == tuple(fixations.shape[:2])
        if not shape_ok or valid.dtype != torch.bool:
            raise InvalidInputError(
                f"valid must be a bool tensor of shape {tuple(fixations.shape[:2])}, got "
                f"{getattr(valid, 'dtype', type(valid))} {tuple(getattr(valid, 'shape', ()))}"
            )
        valid = valid.to(device)
    if not torch.compiler.is_compiling():
        finite = torch.isfinite(fixations).all(-1)
        bad = ~finite if valid is None else (valid & ~finite)
        if bool(bad.any()):
            b, k = (int(i) for i in bad.nonzero()[0])
            raise InvalidInputError(
                f"fixation [{b}, {k}] is NaN or infinite but counted as valid; pass valid=<bool mask> "
                "(e.g. Scanpaths.mask) to mark padding"
            )
    return fixations, valid


def foveate(
    images: Tensor,
    fixations: Tensor | None = None,
    valid: Tensor | None = None,
    *,
    mode: str = "pyramid",
    levels: int = 6,
    e2: float | None = None,
    ppd: float | None = None,
    level_offset: float = 0.0,
    blend: str = "linear",
    level_map: Tensor | None = None,
    blurred: Tensor | None = None,
    kernel_size: int = 41,
    blur_sigma: float = 10.0,
    sigma: float = 0.2,
    amplitude: float = 1.0,
    forgetting: float = 0.0,
    detach_memory: bool = True,
    backend: str = "auto",
) -> Tensor:
    """Render ``images`` as seen from ``fixations``; differentiable w.r.t. images and fixations.

    Args:
        images: ``[B, C, H, W]`` float16/bfloat16/float32/float64 (half types are computed in float32 and returned
            in their own dtype). Any memory format; the result is contiguous.
        fixations: ``[B, F, 2]`` or ``[B, 2]`` (x, y) in px, origin top-left (pixel centres at +0.5). May lie off the
            image. Not needed in ``"map"`` mode.
        valid: ``[B, F]`` bool, which fixations count (None = all). Invalid entries may hold NaN; a valid NaN raises.
        mode: ``"pyramid"`` (level from the eccentricity to the nearest valid fixation), ``"map"`` (user
            ``level_map``) or ``"neva"`` (NeVA: blend with one blurred copy; the last valid fixation is current,
            earlier ones form the memory).
        levels: pyramid levels L >= 2 (level 0 = full resolution, level l = 2^-l).
        e2: half-resolution eccentricity (level 1 at ``e = e2`` when ``level_offset = 0``), in degrees when ``ppd``
            is given, else px. Default 2.3 deg (Perry & Geisler) or 10 px (Perry's C++). ``math.inf`` returns the
            images unchanged.
        ppd: pixels per degree of visual angle; None measures eccentricity in px.
        level_offset: subtracted from the level; 1 reproduces Perry's C++ ``log2((e + e2) / (2 e2))``;
            :func:`perry_geisler_level_offset` gives P&G's display-calibrated value.
        blend: ``"linear"`` or ``"pg"`` (Perry & Geisler's transfer-calibrated weights).
        level_map: ``[B, H, W]`` or ``[B, 1, H, W]`` fractional levels for ``"map"`` mode (clamped to [0, L-1]).
        blurred, kernel_size, blur_sigma, sigma, amplitude, forgetting, detach_memory: NeVA mode. ``blurred`` reuses
            a precomputed :func:`gaussian_blur`; defaults follow NevaClip (41 px kernel, sigma 10 px; mask
            ``exp(-d^2 / 0.2)`` on a [-1, 1] grid; no forgetting).
        backend: ``"auto"`` (the registered op ``gazekit::foveate_blend``: fused CPU kernel or Triton on CUDA),
            ``"op"`` (same) or ``"reference"`` (plain torch).

    Returns:
        ``[B, C, H, W]`` foveated images, dtype of ``images``.
    """
    images = _check_images(images)
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {MODES}, got {mode!r}")
    if blend not in BLENDS:
        raise InvalidInputError(f"blend must be one of {BLENDS}, got {blend!r}")
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    batch, _, height, width = images.shape
    out_dtype = images.dtype
    compute = _compute_dtype(out_dtype)
    x = images.to(compute)

    if mode == "neva":
        if fixations is None:
            raise InvalidInputError("mode='neva' needs fixations")
        fixations, valid = _check_fixations(fixations, valid, batch, images.device)
        if blurred is not None:
            if tuple(blurred.shape) != tuple(images.shape):
                raise InvalidInputError(f"blurred must have the images' shape {tuple(images.shape)}")
            blurred = blurred.to(compute)
        if kernel_size < 1 or kernel_size % 2 == 0 or blur_sigma <= 0 or sigma <= 0:
            raise InvalidInputError("kernel_size must be odd >= 1, blur_sigma and sigma > 0")
        out = foveate_neva_reference(
            x, fixations.to(compute), valid, blurred=blurred, kernel_size=kernel_size, blur_sigma=blur_sigma,
            sigma=sigma, amplitude=amplitude, forgetting=forgetting, detach_memory=detach_memory,
        )
        return out.to(out_dtype)

    if not isinstance(levels, int) or levels < 2:
        raise InvalidInputError(f"levels must be an int >= 2, got {levels!r}")
    if e2 is None:
        e2 = DEFAULT_E2_DEG if ppd is not None else DEFAULT_E2_PX
    if not e2 > 0:
        raise InvalidInputError(f"e2 must be > 0, got {e2}")
    if ppd is not None and not (ppd > 0 and math.isfinite(ppd)):
        raise InvalidInputError(f"ppd must be a positive number, got {ppd}")
    scale = 1.0 / ppd if ppd is not None else 1.0

    lam = None
    if mode == "map":
        if level_map is None:
            raise InvalidInputError("mode='map' needs level_map [B, H, W]")
        if level_map.dim() == 4 and level_map.shape[1] == 1:
            level_map = level_map[:, 0]
        if tuple(level_map.shape) != (batch, height, width) or not level_map.is_floating_point():
            raise InvalidInputError(f"level_map must be a float [B, H, W] = {(batch, height, width)} tensor, got "
                                    f"{level_map.dtype} {tuple(level_map.shape)}")
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(level_map).all()):
            raise InvalidInputError("level_map holds NaN or infinite values")
        lam = level_map.to(compute).contiguous()
        fix = val = None
    else:
        if fixations is None:
            raise InvalidInputError("mode='pyramid' needs fixations [B, F, 2]")
        fixations, valid = _check_fixations(fixations, valid, batch, images.device)
        fix, val = fixations.to(compute).contiguous(), valid

    if batch == 0:
        return images.clone()
    if backend == "reference" or not _op_available():
        out = foveate_reference(x, fix, val, levels=levels, e2=e2, scale=scale, offset=level_offset, blend=blend,
                                level_map=lam)
    else:
        from gazekit.ops.op import foveate_op

        out = foveate_op(x, fix, val, lam, levels=levels, e2=e2, scale=scale, offset=level_offset, blend=blend)
    return out.to(out_dtype)


def build_cpu_kernels() -> bool:
    """Compile (or load from numba's on-disk cache) every CPU kernel variant; ``scripts/install.sh`` runs this once.

    Returns False, with a warning, when the fused CPU path is unavailable (the reference is used instead).
    """
    from gazekit.ops.op import cpu_kernel_available

    if not cpu_kernel_available():
        return False
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(1, 2, 5, 6, dtype=dtype, requires_grad=True)
        f = torch.tensor([[[2.0, 3.0]]], dtype=dtype, requires_grad=True)
        lam = torch.full((1, 5, 6), 0.5, dtype=dtype, requires_grad=True)
        for out in (foveate(x, f, levels=3), foveate(x, mode="map", level_map=lam, levels=3)):
            out.sum().backward()
    return True


def _op_available() -> bool:
    try:
        import gazekit.ops.op  # noqa: F401
    except ImportError:
        return False
    return True


class Foveate(nn.Module):
    """Module form of :func:`foveate`; the keyword arguments are fixed at construction.

    Example:
        >>> fov = Foveate(levels=6, e2=2.3, ppd=30.0, blend="pg")
        >>> out = fov(images, fixations)  # [B, C, H, W]
    """

    def __init__(self, mode: str = "pyramid", **kwargs):
        super().__init__()
        if mode not in MODES:
            raise InvalidInputError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.kwargs = kwargs

    def forward(
        self, images: Tensor, fixations: Tensor | None = None, valid: Tensor | None = None,
        level_map: Tensor | None = None,
    ) -> Tensor:
        kwargs = dict(self.kwargs)
        if level_map is not None:
            kwargs["level_map"] = level_map
        return foveate(images, fixations, valid, mode=self.mode, **kwargs)

    def extra_repr(self) -> str:
        return ", ".join([f"mode={self.mode!r}"] + [f"{k}={v!r}" for k, v in self.kwargs.items()])
