"""Free-viewing priors shared by the baselines and the TPP model: a 2-D centre-bias Gaussian in image-normalised
coordinates, a log-normal over fixation durations and the mean saccade gap implied by the viewing time.

Kept free of Lightning so that inference-only code (``gazekit predict``) can use it without importing it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


def gaussian_logpdf(uv: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """Log-density of a 2-D Gaussian at ``uv [..., 2]``."""
    diff = uv - mean
    inv = torch.linalg.inv(cov)
    maha = torch.einsum("...i,ij,...j->...", diff, inv, diff)
    return -0.5 * maha - 0.5 * torch.logdet(cov) - math.log(2 * math.pi)


def fit_freeview_priors(scanpaths: Scanpaths, viewing_time_ms: float | None) -> dict:
    """Centre-bias Gaussian (image-normalised coordinates), log-normal durations and mean saccade gap.

    The gap is the median over scanpaths of ``(T - sum(d) - median(d) / 2) / n`` (clipped at 0): the time between
    fixations implied by the horizon when half a fixation is, on average, cut off at the end.
    """
    mask = scanpaths.mask
    size = scanpaths.image_size
    if torch.isnan(size).any():
        raise InvalidInputError("fitting priors needs image_size on every scanpath (it is NaN for some)")
    u = (scanpaths.x / size[:, :1])[mask]
    v = (scanpaths.y / size[:, 1:])[mask]
    ok = torch.isfinite(u) & torch.isfinite(v)
    if ok.sum() < 3:
        raise InvalidInputError("fitting priors needs at least 3 fixations with positions")
    uv = torch.stack([u[ok], v[ok]], 1).double()
    mean = uv.mean(0)
    cov = torch.cov(uv.T) + 1e-6 * torch.eye(2, dtype=uv.dtype)
    d = scanpaths.duration[mask]
    d = d[torch.isfinite(d) & (d > 0)]
    out = {"cb_mean": mean.tolist(), "cb_cov": cov.tolist(), "viewing_time_ms": viewing_time_ms,
           "n_fixations": int(ok.sum()), "n_scanpaths": len(scanpaths)}
    if d.numel() >= 2:
        log_d = d.log()
        out.update(logd_loc=float(log_d.mean()), logd_scale=float(log_d.std()))
        med = float(d.median())
        gaps = []
        if viewing_time_ms:
            for i in range(len(scanpaths)):
                n = int(scanpaths.lengths[i])
                di = scanpaths.duration[i, :n]
                if n and torch.isfinite(di).all():
                    gaps.append(max(0.0, (viewing_time_ms - float(di.sum()) - med / 2) / n))
        out["gap_ms"] = float(np.median(gaps)) if gaps else 0.0
    else:  # no durations: a neutral log-normal (never used for likelihoods, durations are NaN then)
        out.update(logd_loc=math.log(200.0), logd_scale=0.5, gap_ms=0.0)
    return out


def training_scanpaths(datamodule) -> tuple[Scanpaths, float | None]:
    """The training-split scanpaths and the viewing time (ms, None if unknown) of a gazekit DataModule: what
    ``on_fit_start`` hooks fit their priors on."""
    train = getattr(datamodule, "train_scanpaths", None)
    if train is None and hasattr(datamodule, "split"):  # a plain GazeDataModule
        train = datamodule.split("train").scanpaths
    if train is None:
        raise InvalidInputError("fitting priors needs the training scanpaths: call fit_priors(train_scanpaths) "
                                "first, or train with a DataModule exposing `train_scanpaths` or `split('train')`")
    viewing = getattr(datamodule, "viewing_time_ms", None)
    if viewing is None and hasattr(datamodule, "load"):
        viewing = datamodule.load().viewing_time_ms
    return train, viewing
