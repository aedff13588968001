"""Human fixation densities as maps, and the static-map protocol of the free-viewing evaluation.

``human_log_density`` builds the same density as :func:`gazekit.metrics.functional.density.loso_kde_log_likelihood`
(fixations counted on ``cell x cell`` pixel cells, Gaussian blur of ``sigma_px``, zero outside the image,
normalised, spread evenly over each cell's pixels, mixed with ``mix`` of a baseline density) as an ``[H, W]``
log-density, from any set of fixations: the other subjects' (the leave-one-subject-out human map) or all
subjects' (the reference for the human-density gain at sampled fixations).

:class:`StaticMapScores` scores static maps (no history) image by image, leave one subject out: for each subject
with at least one other subject on the image, every method's map is scored at that subject's fixations, and the
human map is the density of the *other* subjects, so all columns face the same fixations:

* NSS and information gain over the centre bias (bits): means over every scored fixation;
* AUC-Judd, shuffled AUC (negatives: fixations recorded on the other evaluated images, placed by image-normalised
  position, at most ``max_negatives``) and CC (against the held-out subject's fixation density, a KDE with the same
  sigma): means over (image, subject) pairs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gazekit.metrics.functional.density import KDE_MIX
from gazekit.metrics.functional.saliency import auc_judd, cc, nss, shuffled_auc
from gazekit.scanpaths import Scanpaths

LN2 = math.log(2.0)
STATIC_METRICS = ("AUC-Judd", "shuffled AUC", "NSS", "CC", "IG over centre bias (bits/fixation)")


def kde_probability(xs, ys, height: int, width: int, sigma_px: float, *, cell: int = 4) -> np.ndarray:
    """``[H, W]`` float64 probabilities of a Gaussian KDE of the points (zeros when there are none)."""
    import cv2

    gh, gw = -(-height // cell), -(-width // cell)
    xi = np.clip(np.floor(np.asarray(xs, dtype=np.float64)), 0, width - 1).astype(int)
    yi = np.clip(np.floor(np.asarray(ys, dtype=np.float64)), 0, height - 1).astype(int)
    hist = np.zeros((gh, gw), dtype=np.float32)
    np.add.at(hist, (yi // cell, xi // cell), 1.0)
    if hist.sum() == 0:
        return np.zeros((height, width))
    kde = cv2.GaussianBlur(hist, (0, 0), sigma_px / cell, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
    ys_idx, xs_idx = np.arange(height) // cell, np.arange(width) // cell
    per_cell = np.bincount(ys_idx, minlength=gh)[:, None] * np.bincount(xs_idx, minlength=gw)[None, :]
    kde = kde / kde.sum() / per_cell
    return kde[ys_idx][:, xs_idx]


def human_log_density(xs, ys, baseline_log_density: Tensor, sigma_px: float, *, cell: int = 4,
                      mix: float = KDE_MIX) -> Tensor:
    """``[H, W]`` float64 log of ``(1 - mix) * KDE(points) + mix * baseline`` (the baseline alone without points)."""
    h, w = baseline_log_density.shape
    base = baseline_log_density.double().exp().numpy()
    kde = kde_probability(xs, ys, h, w, sigma_px, cell=cell)
    dens = (1 - mix) * kde + mix * base if kde.sum() > 0 else base
    return torch.from_numpy(np.log(np.maximum(dens, 1e-300)))


def density_gain_bits(xs, ys, human: Tensor, baseline: Tensor) -> tuple[float, int]:
    """Sum over the points of ``log2(p_human / p_baseline)`` and their number (points in pixels of the maps)."""
    h, w = human.shape
    xi = np.clip(np.floor(np.asarray(xs, dtype=np.float64)), 0, w - 1).astype(int)
    yi = np.clip(np.floor(np.asarray(ys, dtype=np.float64)), 0, h - 1).astype(int)
    diff = human.double().numpy()[yi, xi] - baseline.double().numpy()[yi, xi]
    return float(diff.sum() / LN2), len(xi)


class StaticMapScores:
    """Accumulates the static-map metrics of several methods over images (see the module docstring)."""

    def __init__(self, sigma_px: float, *, cell: int = 4, mix: float = KDE_MIX, max_negatives: int = 2000,
                 seed: int = 0):
        self.sigma_px, self.cell, self.mix, self.max_negatives = sigma_px, cell, mix, max_negatives
        self.rng = np.random.default_rng(seed)
        self.sums: dict[str, dict[str, float]] = {}
        self.counts: dict[str, dict[str, int]] = {}

    def _add(self, method: str, metric: str, value: float, n: int = 1) -> None:
        if math.isnan(value):
            return
        self.sums.setdefault(method, {}).setdefault(metric, 0.0)
        self.counts.setdefault(method, {}).setdefault(metric, 0)
        self.sums[method][metric] += value
        self.counts[method][metric] += n

    def add_image(self, scanpaths: Scanpaths, maps: dict[str, Tensor], centre_bias: Tensor,
                  negatives_uv: np.ndarray) -> None:
        """Score one image.

        Args:
            scanpaths: every human scanpath on the image, in the maps' pixels.
            maps: method name -> ``[H, W]`` log-density (summing to 1 over the pixels); the human map is added.
            centre_bias: ``[H, W]`` log-density of the centre bias (the IG baseline and the KDE's mixture partner).
            negatives_uv: ``[M, 2]`` image-normalised positions of fixations on other images (shuffled AUC).
        """
        h, w = centre_bias.shape
        mask = scanpaths.mask
        neg = negatives_uv
        if len(neg) > self.max_negatives:
            neg = neg[self.rng.choice(len(neg), self.max_negatives, replace=False)]
        neg_xy = (torch.from_numpy(np.minimum(neg[:, 0] * w, w - 1e-6))[None],
                  torch.from_numpy(np.minimum(neg[:, 1] * h, h - 1e-6))[None])
        subjects = sorted(set(scanpaths.subject))
        rows_of = {s: [i for i, v in enumerate(scanpaths.subject) if v == s] for s in subjects}
        pts = {s: (scanpaths.x[rows_of[s]][mask[rows_of[s]]].numpy(), scanpaths.y[rows_of[s]][mask[rows_of[s]]].numpy())
               for s in subjects}
        for s in subjects:
            xs, ys = pts[s]
            others = [t for t in subjects if t != s and len(pts[t][0])]
            if not len(xs) or not others:
                continue
            ox = np.concatenate([pts[t][0] for t in others])
            oy = np.concatenate([pts[t][1] for t in others])
            human = human_log_density(ox, oy, centre_bias, self.sigma_px, cell=self.cell, mix=self.mix)
            target = torch.from_numpy(kde_probability(xs, ys, h, w, self.sigma_px, cell=self.cell))[None]
            fix = (torch.from_numpy(np.minimum(xs, w - 1e-6))[None], torch.from_numpy(np.minimum(ys, h - 1e-6))[None])
            for method, logd in {**maps, "human": human}.items():
                logd = logd.double()[None]
                prob = logd.exp()
                n = len(xs)
                self._add(method, "NSS", float(nss(prob, fix)) * n, n)
                self._add(method, "AUC-Judd", float(auc_judd(prob, fix)))
                self._add(method, "shuffled AUC", float(shuffled_auc(prob, fix, neg_xy)))
                self._add(method, "CC", float(cc(prob, target)))
                gain, _ = density_gain_bits(xs, ys, logd[0], centre_bias)
                self._add(method, "IG over centre bias (bits/fixation)", gain, n)

    def rows(self) -> list[dict]:
        """One row per metric: ``{"metric": name, method: mean, ..., "higher_is_better": True}``."""
        out = []
        for metric in STATIC_METRICS:
            row = {"metric": f"static map: {metric}"}
            for method in self.sums:
                n = self.counts[method].get(metric, 0)
                row[method] = self.sums[method][metric] / n if n else math.nan
            out.append({**row, "higher_is_better": True})
        return out
