"""FDISS, the foveal-disc IoU scanpath score (fdiss 0.1.0's definition).

Each fixation is a disc of radius r (pixels; about 1 degree of visual angle). The IoU of two equal discs whose
centres are d apart is ``A / (2 pi r^2 - A)`` with ``A = 2 r^2 acos(d / 2r) - (d / 2) sqrt(4 r^2 - d^2)`` for
``0 < d < 2r``, 1 at d = 0 and 0 beyond 2r. Precision = mean over pred fixations of their best IoU with a target
fixation, recall = the same from the target side; FDISS is their harmonic mean (0 when both are 0). Symmetric,
in [0, 1], 1 for identical scanpaths.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._pairs import check_pair, padded, to_tensor
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["disc_iou", "fdiss"]


def disc_iou(d: np.ndarray, r: np.ndarray | float) -> np.ndarray:
    """IoU of two discs of radius ``r`` whose centres are ``d`` apart (same units)."""
    d = np.asarray(d, dtype=np.float64)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), d.shape)
    partial = (d > 0) & (d < 2 * r)
    dd = np.where(partial, d, 0.0)
    with np.errstate(invalid="ignore"):
        inter = 2 * r**2 * np.arccos(dd / (2 * r)) - (dd / 2) * np.sqrt(np.maximum(4 * r**2 - dd**2, 0))
        iou = inter / (2 * np.pi * r**2 - inter)
    return np.where(d == 0, 1.0, np.where(partial, iou, 0.0))


@register_pair_metric("fdiss", metric_class="FDISS", higher_is_better=True, needs=("ppd",),
                      description="foveal-disc IoU scanpath score (radius 1 degree)")
def fdiss(pred: Scanpaths, target: Scanpaths, *, radius: float | None = None, degrees: float = 1.0) -> Tensor:
    """FDISS of ``pred[i]`` and ``target[i]`` (``[B]``).

    Args:
        radius: disc radius in pixels; default ``degrees`` x the target's pixels per degree (``Scanpaths.ppd``).
        degrees: disc radius in degrees when ``radius`` is not given.
    Returns:
        ``[B]`` float64; 0 when exactly one scanpath is empty (as fdiss), NaN when both are.
    """
    check_pair(pred, target, "fdiss")
    b = len(target)
    if radius is None:
        ppd = target.ppd.cpu().numpy().astype(np.float64)
        if b and np.isnan(ppd).any():
            raise InvalidInputError("fdiss: target scanpaths have no ppd (pixels per degree); pass radius=PIXELS")
        r = ppd * degrees
    else:
        r = np.full(b, float(radius))
    if b and (not np.all(np.isfinite(r)) or np.any(r <= 0)):
        raise InvalidInputError(f"fdiss: the disc radius must be positive, got {r[(~np.isfinite(r)) | (r <= 0)][0]}")
    a, c = padded(pred), padded(target)
    d = np.sqrt((a.x[:, :, None] - c.x[:, None, :]) ** 2 + (a.y[:, :, None] - c.y[:, None, :]) ** 2)
    iou = disc_iou(d, r[:, None, None])
    n, m = a.lengths, c.lengths
    valid = (np.arange(d.shape[1])[None, :, None] < n[:, None, None]) & \
            (np.arange(d.shape[2])[None, None, :] < m[:, None, None])
    iou = np.where(valid, iou, -1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(np.arange(d.shape[1])[None] < n[:, None], iou.max(axis=2, initial=-1.0), 0.0).sum(1) / n
        rec = np.where(np.arange(d.shape[2])[None] < m[:, None], iou.max(axis=1, initial=-1.0), 0.0).sum(1) / m
        denom = prec + rec
        score = np.where(denom > 0, 2 * prec * rec / denom, 0.0)
    score = np.where((n == 0) | (m == 0), 0.0, score)
    score = np.where((n == 0) & (m == 0), math.nan, score)
    return to_tensor(score, target)
