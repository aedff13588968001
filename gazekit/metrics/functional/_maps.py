"""Shared input handling for the map metrics: checking saliency maps and turning fixations into pixel indices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths

_F64 = torch.float64


def check_maps(maps: Tensor, name: str = "saliency", *, allow_inf: bool = False, scan_values: bool = True) -> Tensor:
    """Return ``maps`` as a float64 ``[B, H, W]`` tensor (a single ``[H, W]`` map becomes ``[1, H, W]``).

    ``scan_values=False`` skips the pass over every pixel, for metrics that read only a few pixels (the caller
    then checks the values it reads with :func:`check_values`).

    Raises:
        InvalidInputError: wrong rank, empty maps, or NaN values (and +-inf unless ``allow_inf``).
    """
    if not isinstance(maps, Tensor):
        try:
            maps = torch.as_tensor(maps)
        except (TypeError, ValueError, RuntimeError) as err:
            raise InvalidInputError(f"{name} must be a tensor [B, H, W], got {type(maps).__name__}") from err
    if maps.dim() == 2:
        maps = maps[None]
    if maps.dim() != 3:
        raise InvalidInputError(f"{name} must have shape [B, H, W] (or [H, W]), got {tuple(maps.shape)}")
    if maps.shape[1] == 0 or maps.shape[2] == 0:
        raise InvalidInputError(f"{name} maps are empty: shape {tuple(maps.shape)}")
    if maps.is_complex() or maps.dtype == torch.bool:
        raise InvalidInputError(f"{name} must be real-valued, got dtype {maps.dtype}")
    maps = maps.to(_F64)
    if not scan_values:
        return maps
    # one cheap pass: a NaN (or inf) anywhere makes the sum non-finite; only then look closer
    total = maps.sum()
    if not torch.isfinite(total):
        if torch.isnan(maps).any():
            b = int(torch.isnan(maps).flatten(1).any(1).nonzero()[0])
            raise InvalidInputError(f"{name} map {b} contains NaN values")
        if not allow_inf and torch.isinf(maps).any():
            b = int(torch.isinf(maps).flatten(1).any(1).nonzero()[0])
            raise InvalidInputError(f"{name} map {b} contains infinite values")
    return maps


def check_values(values: Tensor, valid: Tensor, name: str, *, allow_inf: bool = False) -> None:
    """NaN (or inf) check on the map values a metric read (see ``check_maps(scan_values=False)``)."""
    bad = (torch.isnan(values) | (torch.isinf(values) & (not allow_inf))) & valid
    if bad.any():
        b, j = (int(v) for v in bad.nonzero()[0])
        raise InvalidInputError(f"{name} map {b} has a non-finite value ({float(values[b, j])}) at point {j}")


def check_same_shape(a: Tensor, b: Tensor, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise InvalidInputError(f"{names[0]} has shape {tuple(a.shape)} but {names[1]} has shape "
                                f"{tuple(b.shape)}; map metrics need maps of the same size (resize first)")


FixationsLike = Scanpaths | tuple[Tensor, Tensor] | Sequence


def fixation_indices(fixations: FixationsLike, batch: int, height: int, width: int,
                     name: str = "fixations") -> tuple[Tensor, Tensor, Tensor]:
    """Pixel indices of the fixations on each of ``batch`` maps of ``height x width``.

    Args:
        fixations: a :class:`Scanpaths` with one scanpath per map (row ``i`` belongs to map ``i``), or a tuple
            ``(x, y)`` of ``[B, N]`` tensors in pixels with NaN marking absent entries (padding).
        batch, height, width: the maps' shape.
    Returns:
        ``(x_idx, y_idx, valid)``, each ``[B, N]``; indices are ``floor`` of the pixel coordinates (pixel ``j``
        covers ``[j, j + 1)``; a coordinate exactly on the right/bottom border goes to the last pixel).
    Raises:
        InvalidInputError: wrong batch size, or a fixation outside the map.
    """
    # numpy for the index arithmetic: a dozen small torch ops cost more than the metric on small inputs
    if isinstance(fixations, Scanpaths):
        x, y, valid = (v.detach().cpu().numpy() for v in (fixations.x, fixations.y, fixations.mask))
        if np.isnan(x[valid]).any() or np.isnan(y[valid]).any():
            raise InvalidInputError(f"{name} contain NaN coordinates at valid fixations")
    elif isinstance(fixations, (tuple, list)) and len(fixations) == 2:
        x, y = (_as_f64(v) for v in fixations)
        if x.ndim == 1:
            x, y = x[None], y[None]
        if x.shape != y.shape or x.ndim != 2:
            raise InvalidInputError(f"{name} (x, y) must be two [B, N] tensors of the same shape, got "
                                    f"{tuple(x.shape)} and {tuple(y.shape)}")
        nan_x, nan_y = np.isnan(x), np.isnan(y)
        valid = ~(nan_x | nan_y)
        if (nan_x != nan_y).any():
            raise InvalidInputError(f"{name}: x is NaN where y is not (or vice versa)")
    else:
        raise InvalidInputError(f"{name} must be Scanpaths or a tuple (x, y) of [B, N] tensors, "
                                f"got {type(fixations).__name__}")
    if x.shape[0] != batch:
        raise InvalidInputError(f"{name} has {x.shape[0]} rows but there are {batch} maps (one row per map)")
    x = np.where(valid, x, 0.0)
    y = np.where(valid, y, 0.0)
    outside = valid & ((x < 0) | (y < 0) | (x > width) | (y > height))
    if outside.any():
        b, j = (int(v) for v in np.argwhere(outside)[0])
        raise InvalidInputError(f"{name}: fixation {j} of map {b} at (x={float(x[b, j])}, y={float(y[b, j])}) "
                                f"lies outside the {width}x{height} map")
    xi = np.minimum(np.floor(x).astype(np.int64), width - 1)
    yi = np.minimum(np.floor(y).astype(np.int64), height - 1)
    return torch.from_numpy(xi), torch.from_numpy(yi), torch.from_numpy(np.ascontiguousarray(valid))


def _as_f64(v) -> np.ndarray:
    if isinstance(v, Tensor):
        return v.detach().to("cpu", _F64).numpy()
    try:
        return np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"fixation coordinates must be numbers, got {type(v).__name__}") from err


def values_at(maps: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
    """``maps[b, yi[b, j], xi[b, j]]`` as ``[B, N]``."""
    b, h, w = maps.shape
    flat = (yi * w + xi).to(maps.device)
    return torch.gather(maps.reshape(b, h * w), 1, flat)


def density_one(smap: Tensor) -> Tensor:
    """:func:`to_density` of one map ``[H, W]`` (flattened result), without batch-sized temporaries."""
    flat = smap.reshape(-1)
    low = flat.min()
    if low < 0:
        flat = flat - low
    total = flat.sum()
    if total > 0:
        return flat / total
    return torch.full_like(flat, 1.0 / flat.numel())


def to_density(maps: Tensor) -> Tensor:
    """Saliency maps to probability maps the way the MIT benchmark does: shift so the minimum is 0 if negative,
    divide by the sum; an all-zero map becomes uniform."""
    b = maps.shape[0]
    flat = maps.reshape(b, -1)
    low = flat.min(dim=1, keepdim=True).values
    flat = torch.where(low < 0, flat - low, flat)
    total = flat.sum(dim=1, keepdim=True)
    uniform = torch.full_like(flat, 1.0 / flat.shape[1])
    flat = torch.where(total > 0, flat / torch.where(total > 0, total, torch.ones_like(total)), uniform)
    return flat.reshape(maps.shape)


def fixations_per_image(scanpaths: Scanpaths, images: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Pool the fixations of every scanpath on each named image into ``(x, y)`` ``[len(images), N]`` tensors
    (NaN padded), the form the map metrics take when several observers viewed the same image."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(scanpaths.image):
        groups.setdefault(name, []).append(i)
    mask = scanpaths.mask
    xs, ys = [], []
    for name in images:
        rows = groups.get(name, [])
        if rows:
            sel = torch.tensor(rows)
            xs.append(scanpaths.x[sel][mask[sel]])
            ys.append(scanpaths.y[sel][mask[sel]])
        else:
            xs.append(torch.zeros(0, dtype=_F64))
            ys.append(torch.zeros(0, dtype=_F64))
    n = max((len(v) for v in xs), default=0)
    x = torch.full((len(images), n), float("nan"), dtype=_F64)
    y = torch.full((len(images), n), float("nan"), dtype=_F64)
    for i, (vx, vy) in enumerate(zip(xs, ys)):
        x[i, : len(vx)], y[i, : len(vy)] = vx, vy
    return x, y
