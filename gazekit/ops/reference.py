"""Plain-torch reference of the foveation maths (the definition every fast kernel is tested against).

Conventions (shared by every backend):

* Pixel ``(row i, col j)`` has its centre at ``(x, y) = (j + 0.5, i + 0.5)`` px, origin at the top-left corner.
* Pyramid: ``G_0 = x``; ``G_l = down2(b5 * G_{l-1})`` with the binomial kernel ``[1, 4, 6, 4, 1] / 16`` applied
  separably, reflect padding (replicate when a side is shorter than 3 px) and stride 2, so level ``l`` has
  ``ceil(h_{l-1} / 2)`` rows.
* Level map: ``e = min_k |p - f_k|`` over the valid fixations ``f_k`` (px, or degrees with ``ppd``);
  ``lambda = clamp(log2(1 + e / e2) - offset, 0, L - 1)``. No valid fixation means ``e = inf`` (all periphery).
* Output: ``(1 - t) U_{l0} + t U_{l0+1}`` with ``l0 = min(floor(lambda), L - 2)``, ``t = w(lambda - l0)`` and ``U_l``
  level ``l`` sampled bilinearly exactly as ``F.interpolate(..., mode="bilinear", align_corners=False)``.
  ``w`` is the identity (``blend="linear"``) or Perry & Geisler's transfer-calibrated weight (``blend="pg"``, see
  :func:`pg_blend_weight`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BINOMIAL5",
    "pyr_down",
    "gaussian_pyramid",
    "level_sizes",
    "eccentricity",
    "level_from_eccentricity",
    "pg_blend_weight",
    "perry_geisler_level_offset",
    "blend_levels",
    "foveate_reference",
    "gaussian_blur",
    "neva_blur_weight",
    "foveate_neva_reference",
]

BINOMIAL5 = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)

# Perry & Geisler (2002) contrast-threshold model: CT(f, e) = CT0 exp(alpha f (e + e2) / e2).
PG_CT0 = 1.0 / 75.0
PG_ALPHA = 0.106
PG_E2_DEG = 2.3


def _pad_1d(x: Tensor, dim: int, pad: int) -> Tensor:
    """Reflect-pad dimension ``dim`` (-1 or -2) by ``pad`` on both sides; replicate when too short to reflect."""
    size = x.shape[dim]
    mode = "reflect" if size > pad else "replicate"
    spec = (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad)
    return F.pad(x, spec, mode=mode)


def pyr_down(x: Tensor) -> Tensor:
    """One Gaussian-pyramid step: binomial 5-tap blur (separable, reflect padding) and stride-2 subsampling.

    Args:
        x: ``[B, C, H, W]`` float images.

    Returns:
        ``[B, C, ceil(H / 2), ceil(W / 2)]``.
    """
    b, c, h, w = x.shape
    k = torch.tensor(BINOMIAL5, dtype=x.dtype, device=x.device)
    y = x.reshape(b * c, 1, h, w)
    y = F.conv2d(_pad_1d(y, -1, 2), k.view(1, 1, 1, 5), stride=(1, 2))
    y = F.conv2d(_pad_1d(y, -2, 2), k.view(1, 1, 5, 1), stride=(2, 1))
    return y.reshape(b, c, y.shape[-2], y.shape[-1])


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """``(h_l, w_l)`` of pyramid levels ``0 .. levels - 1``."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def gaussian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """Levels ``[G_0 = x, G_1, ..., G_{levels-1}]`` of the Gaussian pyramid (each at its own resolution)."""
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(pyr_down(pyramid[-1]))
    return pyramid


def _safe_sqrt(d2: Tensor) -> Tensor:
    # sqrt'(0) is inf; a fixation exactly on a pixel centre must not turn the gradient into NaN.
    positive = d2 > 0
    return torch.where(positive, torch.where(positive, d2, torch.ones_like(d2)).sqrt(), torch.zeros_like(d2))


def eccentricity(
    fixations: Tensor, valid: Tensor | None, height: int, width: int, scale: float = 1.0
) -> Tensor:
    """Distance of every pixel centre to its nearest valid fixation.

    Args:
        fixations: ``[B, F, 2]`` (x, y) px, origin top-left.
        valid: ``[B, F]`` bool or None (all valid).
        height, width: image size in px.
        scale: units per px of the result (``1 / ppd`` for degrees, 1 for px).

    Returns:
        ``[B, H, W]`` eccentricity; ``inf`` where an image has no valid fixation.
    """
    dtype, device = fixations.dtype, fixations.device
    xs = torch.arange(width, dtype=dtype, device=device) + 0.5
    ys = torch.arange(height, dtype=dtype, device=device) + 0.5
    dx = xs.view(1, 1, 1, width) - fixations[..., 0].view(*fixations.shape[:2], 1, 1)
    dy = ys.view(1, 1, height, 1) - fixations[..., 1].view(*fixations.shape[:2], 1, 1)
    d2 = dx * dx + dy * dy  # [B, F, H, W]
    if valid is not None:
        d2 = torch.where(valid.view(*valid.shape, 1, 1), d2, torch.full_like(d2, math.inf))
    if d2.shape[1] == 0:
        return torch.full((fixations.shape[0], height, width), math.inf, dtype=dtype, device=device)
    nearest = d2.min(dim=1).values
    return _safe_sqrt(nearest) * scale


def level_from_eccentricity(ecc: Tensor, levels: int, e2: float, offset: float = 0.0) -> Tensor:
    """``clamp(log2(1 + ecc / e2) - offset, 0, levels - 1)`` (fractional pyramid level, 0 = full resolution)."""
    return (torch.log2(1.0 + ecc / e2) - offset).clamp(0.0, levels - 1)


def pg_blend_weight(frac: Tensor) -> Tensor:
    """Perry & Geisler's transfer-calibrated weight of the coarser of two adjacent levels.

    Level ``l`` is modelled with a Gaussian transfer function at half amplitude one octave per level below full
    resolution, ``T_l = exp(-ln2 * 4^(l - lambda))`` at the pixel's cutoff frequency ``2^-lambda``. The blend makes the
    mixture's transfer at the cutoff exactly 0.5: ``t = (T_l0 - 0.5) / (T_l0 - T_l0+1)`` (P&G 2002, eq. for B_i).
    ``t(0) = 0``, ``t(1) = 1``, monotone.

    Args:
        frac: ``lambda - l0`` in [0, 1].
    """
    t_fine = torch.exp2(-torch.exp2(-2.0 * frac))
    t_coarse = torch.exp2(-torch.exp2(2.0 - 2.0 * frac))
    return (t_fine - 0.5) / (t_fine - t_coarse)


def perry_geisler_level_offset(ppd: float, ct0: float = PG_CT0, alpha: float = PG_ALPHA) -> float:
    """``offset`` that makes ``lambda`` Perry & Geisler's level: log2 of display Nyquist over the eye's cutoff.

    The cutoff at eccentricity e (deg) is ``e2 ln(1/CT0) / (alpha (e + e2))`` cycles/deg and the display's Nyquist
    is ``ppd / 2``, so ``lambda = log2(1 + e / e2) - log2(2 ln(1/CT0) / (alpha ppd))``. Use with ``e2 = 2.3`` deg.
    """
    return math.log2(2.0 * math.log(1.0 / ct0) / (alpha * ppd))


def _upsample(level: Tensor, height: int, width: int) -> Tensor:
    if level.shape[-2:] == (height, width):
        return level
    return F.interpolate(level, size=(height, width), mode="bilinear", align_corners=False)


def blend_levels(pyramid: list[Tensor], level: Tensor, blend: str = "linear") -> Tensor:
    """Blend the two pyramid levels adjacent to the fractional ``level`` map, each sampled bilinearly.

    One full-resolution level is alive at a time (the "stream" formulation); exact and differentiable.

    Args:
        pyramid: levels from :func:`gaussian_pyramid`, ``pyramid[0]`` is ``[B, C, H, W]``.
        level: ``[B, H, W]`` fractional level, already clamped to ``[0, len(pyramid) - 1]``.
        blend: ``"linear"`` or ``"pg"``.
    """
    n_levels = len(pyramid)
    height, width = pyramid[0].shape[-2:]
    l0 = level.detach().floor().clamp(max=n_levels - 2)
    frac = level - l0
    t = pg_blend_weight(frac) if blend == "pg" else frac
    t = t.unsqueeze(1).to(pyramid[0].dtype)
    l0 = l0.unsqueeze(1)
    out = torch.zeros_like(pyramid[0])
    for index, g in enumerate(pyramid):
        weight = torch.where(l0 == index, 1.0 - t, torch.zeros_like(t))
        if index > 0:
            weight = weight + torch.where(l0 == index - 1, t, torch.zeros_like(t))
        out = out + weight * _upsample(g, height, width)
    return out


def foveate_reference(
    images: Tensor,
    fixations: Tensor | None,
    valid: Tensor | None = None,
    *,
    levels: int = 6,
    e2: float = 10.0,
    scale: float = 1.0,
    offset: float = 0.0,
    blend: str = "linear",
    level_map: Tensor | None = None,
) -> Tensor:
    """Pyramid foveation (``level_map=None``) or map mode, in plain torch; see the module docstring.

    Args:
        images: ``[B, C, H, W]`` float.
        fixations: ``[B, F, 2]`` (x, y) px; ignored in map mode.
        valid: ``[B, F]`` bool or None.
        levels: pyramid levels L >= 2.
        e2: half-resolution eccentricity, in the units of ``eccentricity * scale``.
        scale: units per px (``1 / ppd`` for degrees).
        offset: subtracted from ``log2(1 + e / e2)``.
        blend: ``"linear"`` or ``"pg"``.
        level_map: ``[B, H, W]`` fractional levels (map mode); clamped to ``[0, L - 1]``.
    """
    height, width = images.shape[-2:]
    if level_map is None:
        ecc = eccentricity(fixations, valid, height, width, scale)
        level = level_from_eccentricity(ecc, levels, e2, offset)
    else:
        level = level_map.clamp(0.0, levels - 1)
    return blend_levels(gaussian_pyramid(images, levels), level, blend)


def gaussian_blur(images: Tensor, kernel_size: int = 41, sigma: float = 10.0) -> Tensor:
    """Full-resolution separable Gaussian blur with reflect padding (NeVA's blurred copy).

    Args:
        images: ``[B, C, H, W]``.
        kernel_size: odd tap count (NevaClip: 41; NeVA: 5).
        sigma: std of the Gaussian in px (NevaClip: 10; NeVA: 5).
    """
    b, c, h, w = images.shape
    r = kernel_size // 2
    taps = torch.arange(-r, r + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-(taps**2) / (2.0 * sigma * sigma))
    k = k / k.sum()
    y = images.reshape(b * c, 1, h, w)
    y = F.conv2d(_pad_1d(y, -1, r), k.view(1, 1, 1, -1))
    y = F.conv2d(_pad_1d(y, -2, r), k.view(1, 1, -1, 1))
    return y.reshape(b, c, h, w)


def neva_blur_weight(
    fixations: Tensor,
    valid: Tensor | None,
    height: int,
    width: int,
    *,
    sigma: float = 0.2,
    amplitude: float = 1.0,
    forgetting: float = 0.0,
    detach_memory: bool = True,
) -> Tensor:
    """NeVA's per-pixel weight of the blurred copy: ``clip(1 - (M + a exp(-d^2 / sigma)), 0, 1)``.

    Distances are measured on NeVA's grid: each axis mapped to ``[-1, 1]`` (pixel centre ``j`` at
    ``-1 + 2 j / (W - 1)``), so ``sigma`` is in those squared units. The last valid fixation of each row is the
    current one; the memory ``M`` runs over the earlier valid ones in order, ``M <- M * forgetting + mask``.

    Returns:
        ``[B, H, W]`` weight of the blurred image.
    """
    b, n_fix, _ = fixations.shape
    dtype, device = fixations.dtype, fixations.device
    u = -1.0 + 2.0 * torch.arange(width, dtype=dtype, device=device) / max(width - 1, 1)
    v = -1.0 + 2.0 * torch.arange(height, dtype=dtype, device=device) / max(height - 1, 1)
    fu = -1.0 + 2.0 * (fixations[..., 0] - 0.5) / max(width - 1, 1)
    fv = -1.0 + 2.0 * (fixations[..., 1] - 0.5) / max(height - 1, 1)
    if valid is None:
        valid = torch.ones(b, n_fix, dtype=torch.bool, device=device)
    memory = torch.zeros(b, height, width, dtype=dtype, device=device)
    current = torch.zeros_like(memory)
    for k in range(n_fix):
        d2 = (u.view(1, 1, width) - fu[:, k].view(b, 1, 1)) ** 2 + (v.view(1, height, 1) - fv[:, k].view(b, 1, 1)) ** 2
        mask = amplitude * torch.exp(-d2 / sigma)
        ok = valid[:, k].view(b, 1, 1)
        mask = torch.where(ok, mask, torch.zeros_like(mask))
        # Roll the previous "current" fixation into the memory once a newer valid fixation arrives.
        old = current.detach() if detach_memory else current
        memory = torch.where(ok, memory * forgetting + old, memory)
        current = torch.where(ok, mask, current)
    return (1.0 - (memory + current)).clamp(0.0, 1.0)


def foveate_neva_reference(
    images: Tensor,
    fixations: Tensor,
    valid: Tensor | None = None,
    *,
    blurred: Tensor | None = None,
    kernel_size: int = 41,
    blur_sigma: float = 10.0,
    sigma: float = 0.2,
    amplitude: float = 1.0,
    forgetting: float = 0.0,
    detach_memory: bool = True,
) -> Tensor:
    """NeVA foveation: ``x + (blur(x) - x) * clip(1 - (M + a exp(-d^2 / sigma)), 0, 1)``; see :func:`neva_blur_weight`.

    ``blurred`` may be passed to reuse one blur across optimisation steps (NeVA computes it once per image).
    """
    height, width = images.shape[-2:]
    if blurred is None:
        blurred = gaussian_blur(images, kernel_size, blur_sigma)
    weight = neva_blur_weight(
        fixations, valid, height, width, sigma=sigma, amplitude=amplitude, forgetting=forgetting,
        detach_memory=detach_memory,
    )
    return images + (blurred - images) * weight.unsqueeze(1).to(images.dtype)
