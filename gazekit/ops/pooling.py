"""eccNet-style eccentricity-dependent average pooling of feature maps.

eccNet (Gupta et al., visual search asymmetry) replaces VGG16's pooling layers by average pooling whose window grows
with the distance to the fixation, in 1-degree rings outside a fovea. Its implementation runs one pooling per window
size over the whole map and masks rings; here every output location reads its own window from an integral image,
so the cost does not grow with the number of rings and nothing is materialised per ring.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["eccentricity_pool", "pool_sizes", "ECCNET_VGG16"]

# eccNet's VGG16 schedule for its five pool layers: slope of the window size with eccentricity and feature-map px
# per degree at that layer (30 px/deg at the input); rf_min 2, stride 2, fovea 4 deg, rings of 1 deg.
ECCNET_VGG16 = {
    "slope": (0.0, 0.0, 0.07, 0.16, 0.32),
    "deg2px": (30.0, 15.0, 8.0, 4.0, 2.0),
}


def _output_size(size: int, rf_min: int, stride: int) -> int:
    return max((size - rf_min) // stride + 1, 1)


def pool_sizes(
    ecc_px: Tensor, *, deg2px: float, slope: float, rf_min: int = 2, fovea_deg: float = 4.0, ring_deg: float = 1.0
) -> Tensor:
    """Window size (px of the input map) for each eccentricity (px of the input map).

    Inside the fovea (radius ``fovea_deg / 2`` deg) the window is ``rf_min``. Outside, the eccentricity is rounded up
    to the outer edge ``r`` of its ``ring_deg``-wide ring and the window is
    ``rf_min + round(slope * (2 r - fovea_deg * deg2px))`` (eccNet's rule, with ``fovea_deg`` the fovea's diameter).
    """
    r_fovea = 0.5 * fovea_deg * deg2px
    ring_px = ring_deg * deg2px
    ring = torch.ceil(((ecc_px - r_fovea) / ring_px).clamp(min=0.0))
    r_outer = r_fovea + ring * ring_px
    size = rf_min + torch.round(slope * (2.0 * r_outer - fovea_deg * deg2px)).clamp(min=0.0)
    return torch.where(ecc_px <= r_fovea, torch.full_like(size, rf_min), size).long()


def eccentricity_pool(
    features: Tensor,
    fixations: Tensor,
    valid: Tensor | None = None,
    *,
    deg2px: float,
    slope: float,
    rf_min: int = 2,
    stride: int = 2,
    fovea_deg: float = 4.0,
    ring_deg: float = 1.0,
    image_size: tuple[int, int] | None = None,
) -> Tensor:
    """Average pooling whose window grows with eccentricity (eccNet), differentiable w.r.t. ``features``.

    Output location ``(i, j)`` pools the window of size ``k`` (see :func:`pool_sizes`) centred where the base window
    ``[i s, i s + rf_min)`` is centred, clipped to the map (the average is over in-map pixels only). Its eccentricity
    is the distance from that centre to the nearest valid fixation. With ``slope = 0`` this is
    ``avg_pool2d(features, rf_min, stride)``.

    Args:
        features: ``[B, C, h, w]`` float feature maps.
        fixations: ``[B, 2]`` or ``[B, F, 2]`` (x, y), in px of ``features`` (pixel centres at +0.5), or in px of the
            image when ``image_size=(H, W)`` is given (then scaled by ``w / W``, ``h / H``).
        valid: ``[B, F]`` bool or None (all valid). An image without a valid fixation is pooled as all-periphery.
        deg2px: feature-map px per degree of visual angle at this layer.
        slope: growth of the window with eccentricity (see :data:`ECCNET_VGG16`).
        rf_min, stride: base window and stride (VGG: 2, 2).
        fovea_deg, ring_deg: fovea diameter and ring width in degrees.

    Returns:
        ``[B, C, (h - rf_min) // stride + 1, (w - rf_min) // stride + 1]``. Not differentiable w.r.t. fixations
        (the window size is an integer).
    """
    from gazekit.errors import InvalidInputError

    if features.dim() != 4 or not features.is_floating_point():
        raise InvalidInputError(f"features must be a float [B, C, h, w] tensor, got {tuple(features.shape)} "
                                f"{features.dtype}")
    if fixations.dim() == 2:
        fixations = fixations.unsqueeze(1)
        valid = None if valid is None else valid.reshape(-1, 1)
    if fixations.dim() != 3 or fixations.shape[-1] != 2 or fixations.shape[0] != features.shape[0]:
        raise InvalidInputError(f"fixations must be [B, 2] or [B, F, 2] with B = {features.shape[0]}, got "
                                f"{tuple(fixations.shape)}")
    if rf_min < 1 or stride < 1 or deg2px <= 0:
        raise InvalidInputError("rf_min and stride must be >= 1 and deg2px > 0")
    b, c, h, w = features.shape
    fix = fixations.detach().to(torch.float64)
    if image_size is not None:
        fix = fix * fix.new_tensor([w / image_size[1], h / image_size[0]])
    if valid is not None:
        valid = valid.to(torch.bool)
    ok = torch.isfinite(fix).all(-1) if valid is None else valid
    if bool((ok & ~torch.isfinite(fix).all(-1)).any()):
        raise InvalidInputError("a fixation marked valid is NaN or infinite; mark it invalid with `valid`")
    h_out, w_out = _output_size(h, rf_min, stride), _output_size(w, rf_min, stride)
    cy = torch.arange(h_out, dtype=torch.float64, device=features.device) * stride + 0.5 * rf_min
    cx = torch.arange(w_out, dtype=torch.float64, device=features.device) * stride + 0.5 * rf_min
    fx = torch.where(ok, fix[..., 0], torch.zeros_like(fix[..., 0]))
    fy = torch.where(ok, fix[..., 1], torch.zeros_like(fix[..., 1]))
    d2 = (cx.view(1, 1, 1, -1) - fx[..., None, None]) ** 2 + (cy.view(1, 1, -1, 1) - fy[..., None, None]) ** 2
    d2 = torch.where(ok[..., None, None], d2, torch.full_like(d2, math.inf))
    ecc = d2.min(dim=1).values.sqrt() if d2.shape[1] else torch.full((b, h_out, w_out), math.inf, dtype=d2.dtype)
    ecc = ecc.clamp(max=4.0 * (h + w))  # all-periphery stays finite
    size = pool_sizes(ecc, deg2px=deg2px, slope=slope, rf_min=rf_min, fovea_deg=fovea_deg, ring_deg=ring_deg)
    size = size.clamp(max=2 * max(h, w) + rf_min)
    start_shift = torch.div(size - rf_min, 2, rounding_mode="floor")
    iy = torch.arange(h_out, device=features.device).view(1, -1, 1) * stride - start_shift
    ix = torch.arange(w_out, device=features.device).view(1, 1, -1) * stride - start_shift
    y0, y1 = iy.clamp(0, h), (iy + size).clamp(0, h)
    x0, x1 = ix.clamp(0, w), (ix + size).clamp(0, w)
    # Integral image with a zero first row/column, accumulated in float64 so big windows stay exact.
    acc = torch.zeros(b, c, h + 1, w + 1, dtype=torch.float64, device=features.device)
    acc[:, :, 1:, 1:] = features.to(torch.float64).cumsum(2).cumsum(3)
    flat = acc.reshape(b, c, -1)

    def corner(yy: Tensor, xx: Tensor) -> Tensor:
        idx = (yy * (w + 1) + xx).reshape(b, 1, -1).expand(b, c, -1)
        return flat.gather(2, idx)

    total = corner(y1, x1) - corner(y0, x1) - corner(y1, x0) + corner(y0, x0)
    count = ((y1 - y0) * (x1 - x0)).reshape(b, 1, -1).to(torch.float64)
    return (total / count).reshape(b, c, h_out, w_out).to(features.dtype)
