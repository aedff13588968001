"""Input handling shared by the scanpath-pair metrics: checks, padded numpy views, image sizes.

Every pair metric takes two :class:`~gazekit.Scanpaths` batches of equal size and scores ``pred[i]`` against
``target[i]``. The maths runs in float64 numpy on padded ``[B, L]`` arrays; results go back as torch tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


@dataclass
class Padded:
    """One batch as float64 numpy arrays: ``x, y, duration`` ``[B, L]`` (padding 0) and ``lengths`` ``[B]``."""

    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray
    lengths: np.ndarray

    def xy(self, i: int) -> np.ndarray:
        n = int(self.lengths[i])
        return np.stack([self.x[i, :n], self.y[i, :n]], axis=1)


def check_pair(pred: Scanpaths, target: Scanpaths, metric: str) -> None:
    """Both arguments are Scanpaths batches of the same size with no NaN coordinate."""
    for name, sp in (("pred", pred), ("target", target)):
        if not isinstance(sp, Scanpaths):
            raise InvalidInputError(f"{metric}: `{name}` must be a gazekit.Scanpaths batch, got {type(sp).__name__}")
    if len(pred) != len(target):
        raise InvalidInputError(f"{metric}: pred has {len(pred)} scanpaths but target has {len(target)}; row i of "
                                f"pred is scored against row i of target")
    for name, sp in (("pred", pred), ("target", target)):
        mask = sp.mask
        bad = (torch.isnan(sp.x) | torch.isnan(sp.y) | torch.isinf(sp.x) | torch.isinf(sp.y)) & mask
        if bad.any():
            i, j = (int(v) for v in bad.nonzero()[0])
            raise InvalidInputError(f"{metric}: {name} scanpath {i} (image {sp.image[i]!r}) has a non-finite "
                                    f"coordinate at fixation {j}; drop or fix it first (Scanpaths.validate)")


def padded(sp: Scanpaths) -> Padded:
    mask = sp.mask.cpu().numpy()
    x = np.where(mask, sp.x.detach().cpu().numpy(), 0.0)
    y = np.where(mask, sp.y.detach().cpu().numpy(), 0.0)
    d = np.where(mask, sp.duration.detach().cpu().numpy(), 0.0)
    if x.shape[1] == 0:  # a batch of empty scanpaths: keep one padding column so that [B, N, M] stacks exist
        x, y, d = (np.zeros((x.shape[0], 1)) for _ in range(3))
    return Padded(x.astype(np.float64), y.astype(np.float64), d.astype(np.float64),
                  sp.lengths.cpu().numpy().astype(np.int64))


def require_durations(sp: Scanpaths, name: str, metric: str) -> None:
    d = sp.duration[sp.mask]
    if d.numel() and (torch.isnan(d).any() or (d < 0).any()):
        raise InvalidInputError(f"{metric}: {name} needs a non-negative duration (ms) for every fixation; "
                                f"some are NaN (absent) or negative. Use a variant without durations.")


def resolve_size(pred: Scanpaths, target: Scanpaths, size, metric: str) -> np.ndarray:
    """Per-pair (width, height) in pixels, ``[B, 2]``.

    ``size`` given (``(w, h)`` or ``[B, 2]``) wins. Otherwise the target's ``image_size`` is used, and a pred whose
    known ``image_size`` differs from its target's raises (rescale first with ``Scanpaths.rescale``).
    """
    b = len(target)
    if size is not None:
        arr = np.asarray(size, dtype=np.float64)
        if arr.shape == (2,):
            arr = np.broadcast_to(arr, (b, 2)).copy()
        if arr.shape != (b, 2) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise InvalidInputError(f"{metric}: image/screen size must be (width, height) > 0 or a [B, 2] array, "
                                    f"got {size!r}")
        return arr
    tsize = target.image_size.cpu().numpy().astype(np.float64)
    psize = pred.image_size.cpu().numpy().astype(np.float64)
    both = ~np.isnan(tsize).any(1) & ~np.isnan(psize).any(1)
    mismatch = both & ~np.isclose(tsize, psize, rtol=0, atol=1e-9).all(1)
    if mismatch.any():
        i = int(np.flatnonzero(mismatch)[0])
        raise InvalidInputError(f"{metric}: pair {i} compares scanpaths on images of different sizes (pred "
                                f"{psize[i].tolist()} vs target {tsize[i].tolist()}); rescale one of them with "
                                f"Scanpaths.rescale(width, height) first")
    tsize = np.where(np.isnan(tsize), psize, tsize)
    if b and np.isnan(tsize).any():
        i = int(np.flatnonzero(np.isnan(tsize).any(1))[0])
        raise InvalidInputError(f"{metric}: pair {i} has no image_size; pass the size explicitly "
                                f"(e.g. screen_size=(width, height) / image_size=(width, height))")
    if b and (tsize <= 0).any():
        raise InvalidInputError(f"{metric}: image sizes must be positive, got {tsize[(tsize <= 0).any(1)][0]}")
    return tsize


def to_tensor(values: np.ndarray, like: Scanpaths) -> Tensor:
    return torch.as_tensor(np.ascontiguousarray(values), dtype=torch.float64, device=like.device)


def nan_tensor(*shape) -> Tensor:
    return torch.full(shape, math.nan, dtype=torch.float64)


def check_choice(metric: str, name: str, value, choices) -> None:
    if value not in choices:
        raise InvalidInputError(f"{metric}: expected `{name}` to be one of {list(choices)}, got {value!r}")
