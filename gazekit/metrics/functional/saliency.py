"""Saliency / density map metrics, batched over maps: every function returns one value per map, ``[B]`` float64.

Inputs:
    saliency: ``[B, H, W]`` (or ``[H, W]``) saliency maps, any real values (higher = more salient).
    log_density: ``[B, H, W]`` natural-log probability per pixel (``logsumexp`` over a map = 0).
    fixations: a :class:`~gazekit.scanpaths.Scanpaths` with one row per map, or ``(x, y)`` ``[B, N]`` tensors in
        pixels with NaN padding (see :func:`fixations_per_image` to pool observers). A fixation at ``(x, y)``
        falls on pixel ``(floor(y), floor(x))``.

Definitions follow the MIT/Tuebingen benchmark and pysaliency 0.2.22 (the parity oracle, 1e-10); community
variants are keywords. A map without fixations scores NaN. Computation is float64 on the CPU (maps on a GPU are
copied): the per-map numpy kernels are faster than batched torch ones for these memory-bound reductions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._maps import (
    check_maps,
    check_same_shape,
    check_values,
    fixation_indices,
    fixations_per_image,
    to_density,
    values_at,
)
from gazekit.metrics.functional.roc import MapRanks, auc, auc_borji, auc_judd, map_ranks, shuffled_auc
from gazekit.metrics.registry import register_metric
from gazekit.scanpaths import Scanpaths

__all__ = [
    "MapRanks",
    "auc",
    "auc_borji",
    "auc_judd",
    "cc",
    "centre_bias_log_density",
    "emd",
    "fit_centre_bias",
    "fixations_per_image",
    "information_gain",
    "kld",
    "log_likelihood",
    "map_ranks",
    "nss",
    "shuffled_auc",
    "sim",
    "uniform_log_density",
]

MIT_EPS = 2.2204e-16  # the MIT benchmark's regulariser (MATLAB eps, rounded)
_LN2 = math.log(2.0)


def _points(saliency: Tensor, fixations, name: str = "fixations"):
    xi, yi, valid = fixation_indices(fixations, *saliency.shape, name=name)
    return values_at(saliency, xi, yi), valid, xi, yi


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    n = valid.sum(dim=1)
    total = torch.where(valid, values, torch.zeros_like(values)).sum(dim=1)
    return torch.where(n > 0, total / n.clamp(min=1), torch.full_like(total, math.nan))


def _rows(maps: Tensor) -> np.ndarray:
    """``[B, H*W]`` float64 numpy view of the maps (a copy only for GPU tensors). The per-map reductions run in
    numpy: its float64 log/min/sum kernels are several times faster than torch's on one CPU thread."""
    return maps.detach().reshape(maps.shape[0], -1).cpu().numpy()


def _mean_std(maps: Tensor, ddof: int) -> tuple[Tensor, Tensor]:
    """Per-map mean and std from one sum and one dot product (two fast passes, no temporaries); maps whose
    variance is tiny next to the squared mean, where that formula cancels, are redone with the two-pass one."""
    rows = _rows(maps)
    n = rows.shape[1]
    means, stds = np.empty(len(rows)), np.empty(len(rows))
    for i, row in enumerate(rows):
        s1 = row.sum()
        mean = s1 / n
        ss = np.dot(row, row) - s1 * mean  # sum of squared deviations
        if not ss > 1e-6 * mean * mean * n:  # cancellation risk (or a constant map): exact two-pass
            centred = row - mean
            ss = np.dot(centred, centred)
        means[i] = mean
        stds[i] = math.sqrt(max(ss, 0.0) / (n - ddof)) if n > ddof else 0.0
    return torch.from_numpy(means), torch.from_numpy(stds)


@register_metric("nss", kind="map", metric_class="NSS", higher_is_better=True, inputs=("saliency", "fixations"),
                 description="normalised scanpath saliency: mean z-scored map at the fixations")
def nss(saliency: Tensor, fixations, *, ddof: int = 0, reduction: str = "mean") -> Tensor:
    """Normalised scanpath saliency: the z-scored map averaged over the fixated pixels.

    ``NSS = mean_i (s(x_i) - mean(s)) / std(s)`` with ``std`` over all pixels using ``ddof`` (0 = MIT,
    pysaliency). A constant map has std 0 and scores 0 (it is not divided).

    Args:
        ddof: 0 (default, published) or 1 (Zanca's FixaTons port; HAT's cNSS uses torch's unbiased std).
        reduction: ``"mean"`` over fixations (default) or ``"sum"`` (HAT's ``NSS`` helper returns the sum).
    Returns:
        ``[B]`` float64.
    """
    saliency = check_maps(saliency, scan_values=False)
    if reduction not in ("mean", "sum"):
        raise InvalidInputError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    values, valid, _, _ = _points(saliency, fixations)
    mean, std = _mean_std(saliency, ddof)
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
        check_maps(saliency)  # a NaN/inf somewhere: the full scan names the map
    z = (values - mean[:, None]) / torch.where(std > 0, std, torch.ones_like(std))[:, None]
    if reduction == "sum":
        return torch.where(valid, z, torch.zeros_like(z)).sum(dim=1)
    return _masked_mean(z, valid)


@register_metric("cc", kind="map", metric_class="CC", higher_is_better=True, inputs=("saliency", "target"),
                 description="Pearson correlation of the map with the empirical fixation map")
def cc(saliency: Tensor, target: Tensor) -> Tensor:
    """Pearson correlation between two maps (e.g. a model map and the empirical fixation density).

    A constant ``saliency`` against a non-constant ``target`` scores 0 (as pysaliency); two constant maps score NaN.
    """
    saliency, target = check_maps(saliency), check_maps(target, "target")
    check_same_shape(saliency, target, ("saliency", "target"))
    out = []
    for a, b in zip(_rows(saliency), _rows(target)):  # per map, centred dot products
        a = a - a.mean()
        b = b - b.mean()
        aa, bb = np.dot(a, a), np.dot(b, b)
        if aa == 0:
            out.append(0.0 if bb > 0 else math.nan)
        else:
            out.append(float(np.dot(a, b) / math.sqrt(aa * bb)))
    return torch.tensor(out, dtype=torch.float64)


@register_metric("sim", kind="map", metric_class="SIM", higher_is_better=True, inputs=("saliency", "target"),
                 description="histogram intersection of the two maps as densities")
def sim(saliency: Tensor, target: Tensor) -> Tensor:
    """Similarity (histogram intersection): ``sum(min(p, q))`` of the two maps made into densities
    (shifted to a zero minimum when negative, divided by the sum; an all-zero map counts as uniform). In [0, 1]."""
    saliency, target = check_maps(saliency), check_maps(target, "target")
    check_same_shape(saliency, target, ("saliency", "target"))
    return torch.tensor([_sim_one(a, b) for a, b in zip(_rows(saliency), _rows(target))], dtype=torch.float64)


def _density_np(row: np.ndarray) -> np.ndarray:
    low = row.min()
    row = row - low if low < 0 else row
    total = row.sum()
    return row / total if total > 0 else np.full(row.shape, 1.0 / row.size)


def _sim_one(fa: np.ndarray, fb: np.ndarray) -> float:
    low_a, low_b = fa.min(), fb.min()
    fa = fa - low_a if low_a < 0 else fa
    fb = fb - low_b if low_b < 0 else fb
    sa, sb = fa.sum(), fb.sum()
    if not (sa > 0 and sb > 0):  # an all-zero map counts as uniform
        return float(np.minimum(_density_np(fa), _density_np(fb)).sum())
    # sum min(a / sa, b / sb) = sum min(a, b * sa / sb) / sa: one temporary instead of three
    scaled = fb * (sa / sb)
    return float(np.minimum(fa, scaled, out=scaled).sum() / sa)


@register_metric("kld", kind="map", metric_class="KLD", higher_is_better=False, inputs=("saliency", "target"),
                 description="KL divergence of the map from the empirical map (nats, MIT form)")
def kld(saliency: Tensor, target: Tensor, *, eps: float = MIT_EPS, reverse: bool = False) -> Tensor:
    """Image-based KL divergence of the model from the empirical map (MIT benchmark form).

    ``KLD = sum g * log(eps + g / (s + eps))`` with ``g`` = density of ``target`` (the empirical map) and ``s`` =
    density of ``saliency``; nats; lower is better.

    Args:
        eps: regulariser, 2.2204e-16 (MIT, pysaliency ``MIT_KLDiv``); Zanca's port uses 1e-12.
        reverse: swap the roles (KL(saliency || target)), as rAm1n/saliency's ``entropy(sal, gt)`` does.
    """
    saliency, target = check_maps(saliency), check_maps(target, "target")
    check_same_shape(saliency, target, ("saliency", "target"))
    out = []
    for a, b in zip(_rows(saliency), _rows(target)):
        s, g = _density_np(a), _density_np(b)
        if reverse:
            s, g = g, s
        t = s + eps
        np.divide(g, t, out=t)
        t += eps
        out.append(float(np.dot(g, np.log(t, out=t))))
    return torch.tensor(out, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------------- ROC
# AUC-Judd, AUC, shuffled AUC and AUC-Borji live in gazekit.metrics.functional.roc (re-exported here).


# ---------------------------------------------------------------------------------------------------- likelihood
def _check_log_density(log_density: Tensor, name: str, check_normalized: bool, atol: float = 1e-6) -> Tensor:
    log_density = check_maps(log_density, name, allow_inf=True, scan_values=False)
    if check_normalized:  # one exp pass per map; NaN or +inf anywhere also fails it
        for i, row in enumerate(_rows(log_density)):
            top = row.max()
            total = top + math.log(np.exp(row - top).sum()) if np.isfinite(top) else top
            if not abs(total) <= atol:
                raise InvalidInputError(f"{name} map {i} is not a normalised log density: logsumexp = {total:.3g} "
                                        f"(expected 0; NaN/inf values?); normalise with log_density - "
                                        f"logsumexp(log_density) or pass check_normalized=False")
    return log_density


def _check_log_values(values: Tensor, valid: Tensor, name: str) -> None:
    bad = (torch.isnan(values) | torch.isposinf(values)) & valid
    if bad.any():
        b, j = (int(v) for v in bad.nonzero()[0])
        raise InvalidInputError(f"{name} map {b} has value {float(values[b, j])} at fixation {j}")


@register_metric("log_likelihood", kind="map", metric_class="LogLikelihood", higher_is_better=True,
                 inputs=("log_density", "fixations"),
                 description="mean log-likelihood of the fixations (nats)")
def log_likelihood(log_density: Tensor, fixations, *, unit: str = "nats", check_normalized: bool = True) -> Tensor:
    """Mean log probability of the fixated pixels under each map (pysaliency's per-pixel log-likelihood).

    Args:
        unit: ``"nats"`` (default, as pysaliency) or ``"bits"``.
    """
    if unit not in ("nats", "bits"):
        raise InvalidInputError(f"unit must be 'nats' or 'bits', got {unit!r}")
    log_density = _check_log_density(log_density, "log_density", check_normalized)
    values, valid, _, _ = _points(log_density, fixations)
    _check_log_values(values, valid, "log_density")
    ll = _masked_mean(values, valid)
    return ll / _LN2 if unit == "bits" else ll


def uniform_log_density(height: int, width: int) -> Tensor:
    """``[H, W]`` log density of the uniform model, ``-log(H W)`` everywhere."""
    return torch.full((height, width), -math.log(height * width), dtype=torch.float64)


def fit_centre_bias(scanpaths: Scanpaths) -> dict:
    """Fit a 2-D Gaussian to all fixations in normalised image coordinates (x / width, y / height).

    Returns ``{"mean": [mx, my], "cov": [[sxx, sxy], [sxy, syy]]}`` (ddof 0), the input of
    :func:`centre_bias_log_density`. Needs ``image_size`` on every scanpath.
    """
    mask = scanpaths.mask
    size = scanpaths.image_size
    if torch.isnan(size[scanpaths.lengths > 0]).any():
        raise InvalidInputError("fit_centre_bias needs image_size on every scanpath")
    u = (scanpaths.x / size[:, :1])[mask]
    v = (scanpaths.y / size[:, 1:])[mask]
    if u.numel() < 2:
        raise InvalidInputError(f"fit_centre_bias needs at least 2 fixations, got {u.numel()}")
    pts = torch.stack([u, v], dim=1)
    mean = pts.mean(dim=0)
    centred = pts - mean
    cov = centred.T @ centred / pts.shape[0]
    return {"mean": mean.tolist(), "cov": cov.tolist()}


def centre_bias_log_density(height: int, width: int, *, mean=(0.5, 0.5), cov=((1 / 16, 0.0), (0.0, 1 / 16))) -> Tensor:
    """``[H, W]`` log density of a Gaussian centre bias, evaluated at pixel centres and normalised over the
    image. ``mean``/``cov`` are in normalised coordinates (x / width, y / height); the default is an isotropic
    Gaussian with sigma = 1/4 of each side; use :func:`fit_centre_bias` to fit them to data."""
    mean_t = torch.as_tensor(mean, dtype=torch.float64)
    cov_t = torch.as_tensor(cov, dtype=torch.float64)
    if mean_t.shape != (2,) or cov_t.shape != (2, 2):
        raise InvalidInputError(f"mean must have 2 values and cov 2x2, got {tuple(mean_t.shape)}, {tuple(cov_t.shape)}")
    if torch.linalg.eigvalsh(cov_t).min() <= 0:
        raise InvalidInputError("cov must be positive definite")
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    d = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1) - mean_t  # [H, W, 2]
    quad = torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov_t), d)
    logits = -0.5 * quad
    return logits - torch.logsumexp(logits.flatten(), 0)


@register_metric("information_gain", kind="map", metric_class="InformationGain", higher_is_better=True,
                 inputs=("log_density", "fixations"),
                 description="information gain over a baseline (bits/fixation)")
def information_gain(log_density: Tensor, fixations, baseline="uniform", *, check_normalized: bool = True) -> Tensor:
    """Information gain over a baseline in bits per fixation: ``mean_i (log p(x_i) - log p_base(x_i)) / ln 2``.

    Args:
        baseline: ``"uniform"`` (default), ``"centre_bias"`` (default Gaussian of :func:`centre_bias_log_density`),
            or a log-density tensor ``[H, W]`` / ``[B, H, W]`` (e.g. a fitted centre bias or a pooled-dataset model).
    """
    log_density = _check_log_density(log_density, "log_density", check_normalized)
    b, h, w = log_density.shape
    if isinstance(baseline, str):
        if baseline == "uniform":
            base = uniform_log_density(h, w)
        elif baseline in ("centre_bias", "center_bias"):
            base = centre_bias_log_density(h, w)
        else:
            raise InvalidInputError(f"baseline must be 'uniform", "centre_bias' or a log-density tensor, "
                                    f"got {baseline!r}")
        base = base.expand(b, h, w)
    else:
        base = _check_log_density(baseline, "baseline", check_normalized)
        if base.shape[0] == 1:
            base = base.expand(b, -1, -1)
        check_same_shape(log_density, base, ("log_density", "baseline"))
    values, valid, xi, yi = _points(log_density, fixations)
    base_values = values_at(base.contiguous(), xi, yi)
    _check_log_values(values, valid, "log_density")
    _check_log_values(base_values, valid, "baseline")
    gain = (values - base_values) / _LN2
    return _masked_mean(gain, valid)


# ---------------------------------------------------------------------------------------------------- EMD
@register_metric("emd", kind="map", metric_class="EMD", higher_is_better=False, inputs=("saliency", "target"),
                 description="earth mover's distance between the maps as densities (cells)")
def emd(saliency: Tensor, target: Tensor, *, size: tuple[int, int] = (24, 32)) -> Tensor:
    """Earth mover's distance between the two maps as densities, downsampled (area average) to ``size`` = (H, W)
    cells, Euclidean ground distance in cells. Exact optimal transport via POT (``pip install pot``), an optional
    dependency: gazekit does not ship its own transport solver."""
    try:
        import ot
    except ImportError as err:
        raise InvalidInputError("emd needs the optional package POT: pip install pot") from err
    saliency, target = check_maps(saliency), check_maps(target, "target")
    check_same_shape(saliency, target, ("saliency", "target"))
    small = [torch.nn.functional.adaptive_avg_pool2d(to_density(m)[:, None], size)[:, 0] for m in (saliency, target)]
    a, b = (to_density(m).flatten(1).numpy() for m in small)
    gy, gx = torch.meshgrid(torch.arange(size[0], dtype=torch.float64), torch.arange(size[1], dtype=torch.float64),
                            indexing="ij")
    pts = torch.stack([gy.flatten(), gx.flatten()], dim=1)
    cost = torch.cdist(pts, pts).numpy()
    return torch.tensor([float(ot.emd2(a[i], b[i], cost)) for i in range(a.shape[0])], dtype=torch.float64)
