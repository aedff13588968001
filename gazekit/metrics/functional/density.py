"""Human fixation density: the leave-one-subject-out (LOSO) kernel density of the other subjects' fixations, the
human ceiling of static (spatial) information gain.

For each subject on one image, the other subjects' fixations are counted on ``cell x cell`` pixel cells,
blurred with a Gaussian of ``sigma_px / cell`` cells (zero outside the image), normalised inside the image and
spread evenly over each cell's pixels; the density is then mixed with ``mix`` (default 10 %) of a baseline
density (e.g. the centre bias) so that it is never zero:

    p_human(x) = (1 - mix) * KDE_others(x) + mix * p_base(x)

and every fixation of the subject is scored under it. The gain over the baseline, in bits per fixation, is
``(sum log p_human - sum log p_base) / n / ln 2``. It is a ceiling for static densities only: a conditional model
also knows where the subject looked before, which a KDE of other subjects ignores.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths

__all__ = ["KDE_MIX", "loso_kde_information_gain", "loso_kde_log_likelihood"]

KDE_MIX = 0.1  # baseline share of the human-ceiling density


def loso_kde_log_likelihood(scanpaths: Scanpaths, baseline_log_density: Tensor, sigma_px: float, *, cell: int = 4,
                            mix: float = KDE_MIX) -> tuple[float, float, int]:
    """Leave-one-subject-out KDE log-likelihood of the fixations on one image (see module docstring).

    Args:
        scanpaths: every scanpath recorded on the image, in the image's pixels (``subject`` set per row).
        baseline_log_density: ``[H, W]`` natural-log density per pixel of the baseline mixed in (and compared with).
        sigma_px: the kernel's sigma in pixels (the free-viewing evaluator uses 1 degree of visual angle).
        cell: cell size in pixels of the KDE grid.
        mix: the baseline's share of the mixture, in (0, 1].
    Returns:
        ``(sum log p_human, sum log p_base, n)``: sums in nats over the ``n`` scored fixations (those of subjects
        for whom at least one other subject has fixations on the image).
    """
    import cv2

    if not isinstance(scanpaths, Scanpaths):
        raise InvalidInputError(f"scanpaths must be Scanpaths, got {type(scanpaths).__name__}")
    if not isinstance(baseline_log_density, Tensor) or baseline_log_density.dim() != 2:
        raise InvalidInputError("baseline_log_density must be an [H, W] tensor")
    if not (sigma_px > 0 and cell >= 1 and 0 < mix <= 1):
        raise InvalidInputError(f"need sigma_px > 0, cell >= 1 and 0 < mix <= 1; got {sigma_px}, {cell}, {mix}")
    h, w = baseline_log_density.shape
    gh, gw = -(-h // cell), -(-w // cell)
    base = baseline_log_density.double().exp().numpy()
    mask = scanpaths.mask
    xi = scanpaths.x.floor().clamp(0, w - 1).long()
    yi = scanpaths.y.floor().clamp(0, h - 1).long()
    cy, cx = torch.div(yi, cell, rounding_mode="floor"), torch.div(xi, cell, rounding_mode="floor")
    ys_idx, xs_idx = np.arange(h) // cell, np.arange(w) // cell
    pixels_per_cell = np.bincount(ys_idx, minlength=gh)[:, None] * np.bincount(xs_idx, minlength=gw)[None, :]
    groups = {}
    for s in sorted(set(scanpaths.subject)):
        rows = [i for i, v in enumerate(scanpaths.subject) if v == s]
        sel = mask[rows]
        hist = np.zeros((gh, gw), dtype=np.float32)
        np.add.at(hist, (cy[rows][sel].numpy(), cx[rows][sel].numpy()), 1.0)
        groups[s] = (rows, sel, hist)
    total = sum(hist for _, _, hist in groups.values())
    ll_kde = ll_base = 0.0
    n = 0
    for rows, sel, hist in groups.values():
        others = total - hist
        if others.sum() == 0:
            continue
        kde = cv2.GaussianBlur(others, (0, 0), sigma_px / cell, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
        kde = kde / kde.sum() / pixels_per_cell
        ys, xs = yi[rows][sel].numpy(), xi[rows][sel].numpy()
        dens = (1 - mix) * kde[ys // cell, xs // cell] + mix * base[ys, xs]
        ll_kde += float(np.log(dens).sum())
        ll_base += float(np.log(base[ys, xs]).sum())
        n += len(ys)
    return ll_kde, ll_base, n


def loso_kde_information_gain(scanpaths: Scanpaths, baseline_log_density: Tensor, sigma_px: float, *,
                              cell: int = 4, mix: float = KDE_MIX) -> float:
    """Human-ceiling information gain over the baseline on one image, bits per fixation (NaN when no fixation is
    scored). Over several images, sum the parts of :func:`loso_kde_log_likelihood` (as the evaluator does) or use
    :class:`gazekit.metrics.saliency.HumanKDEInformationGain`."""
    ll_kde, ll_base, n = loso_kde_log_likelihood(scanpaths, baseline_log_density, sigma_px, cell=cell, mix=mix)
    return (ll_kde - ll_base) / n / math.log(2) if n else math.nan
