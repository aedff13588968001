"""Fixation-duration distribution metrics (durations in ms).

Every function takes durations as a :class:`~gazekit.scanpaths.Scanpaths` (all valid fixations are pooled) or
a 1-D tensor/array. NaN durations (a source without durations) are an error, not silently dropped.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths

__all__ = [
    "duration_ks",
    "duration_log_likelihood",
    "duration_summary",
    "duration_wasserstein",
    "fit_lognormal",
    "lognormal_log_likelihood",
    "pooled_durations",
]


def pooled_durations(durations, name: str = "durations") -> Tensor:
    """All valid durations as a 1-D float64 tensor; raises on NaN/non-positive values or an empty set."""
    if isinstance(durations, Scanpaths):
        values = durations.duration[durations.mask]
    else:
        values = torch.as_tensor(durations, dtype=torch.float64).reshape(-1)
    values = values.to(torch.float64)
    if values.numel() == 0:
        raise InvalidInputError(f"{name}: no fixation durations to compare")
    if torch.isnan(values).any():
        raise InvalidInputError(f"{name}: {int(torch.isnan(values).sum())} durations are NaN (the data has no "
                                f"durations?)")
    if (values <= 0).any() or torch.isinf(values).any():
        raise InvalidInputError(f"{name}: durations must be positive and finite (ms)")
    return values


def _ecdf_gap(a: Tensor, b: Tensor):
    grid = torch.sort(torch.cat([a, b])).values
    fa = torch.searchsorted(torch.sort(a).values, grid, right=True).double() / a.numel()
    fb = torch.searchsorted(torch.sort(b).values, grid, right=True).double() / b.numel()
    return grid, fa, fb


def duration_ks(pred, target) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup_t |F_pred(t) - F_target(t)|`` (0 = same distribution)."""
    a, b = pooled_durations(pred, "pred"), pooled_durations(target, "target")
    _, fa, fb = _ecdf_gap(a, b)
    return float((fa - fb).abs().max())


def duration_wasserstein(pred, target) -> float:
    """1-D Wasserstein-1 distance between the duration distributions, in ms (``integral |F_pred - F_target|``)."""
    a, b = pooled_durations(pred, "pred"), pooled_durations(target, "target")
    grid, fa, fb = _ecdf_gap(a, b)
    return float(((fa - fb).abs()[:-1] * torch.diff(grid)).sum())


def fit_lognormal(durations) -> tuple[float, float]:
    """Maximum-likelihood log-normal fit: ``(mu, sigma)`` of ``log(duration in ms)`` (sigma with ddof 0)."""
    logs = torch.log(pooled_durations(durations))
    sigma = float(logs.std(correction=0))
    if not sigma > 0:
        raise InvalidInputError("cannot fit a log-normal: all durations are equal")
    return float(logs.mean()), sigma


def lognormal_log_likelihood(durations, mu: float, sigma: float) -> float:
    """Mean log density (nats, per ms) of the durations under LogNormal(mu, sigma)."""
    if not sigma > 0:
        raise InvalidInputError(f"sigma must be > 0, got {sigma}")
    d = pooled_durations(durations)
    logs = torch.log(d)
    ll = -logs - math.log(sigma) - 0.5 * math.log(2 * math.pi) - (logs - mu) ** 2 / (2 * sigma ** 2)
    return float(ll.mean())


def duration_log_likelihood(pred, target) -> float:
    """Mean log-likelihood of the ``pred`` durations under a log-normal fitted to ``target`` (e.g. humans)."""
    mu, sigma = fit_lognormal(target)
    return lognormal_log_likelihood(pred, mu, sigma)


def duration_summary(durations) -> dict[str, float]:
    """Count, mean, median, std (ddof 1) and the log-normal fit of the durations."""
    d = pooled_durations(durations)
    mu, sigma = fit_lognormal(d) if d.numel() > 1 and d.std() > 0 else (math.nan, math.nan)
    return {"count": int(d.numel()), "mean": float(d.mean()), "median": float(torch.quantile(d, 0.5)),
            "std": float(d.std()) if d.numel() > 1 else math.nan, "lognormal_mu": mu, "lognormal_sigma": sigma}
