"""Point-set and curve distances between scanpaths (pixels; lower = closer unless noted).

* **DTW**: sum of Euclidean fixation distances along the optimal warping path with steps (1, 0), (0, 1), (1, 1)
  all weighted 1 (step pattern ``symmetric1``, as ``similaritymeasures.dtw``); ``step_pattern="symmetric2"``
  weights the diagonal step 2 (dtw-python's default).
* **Discrete Fréchet** (Eiter & Mannila 1994): ``D[i, j] = max(d_ij, min(D[i-1, j], D[i-1, j-1], D[i, j-1]))``.
* **Hausdorff**: ``max(h(A, B), h(B, A))`` with ``h(A, B) = max_a min_b |a - b|``.
* **Eyenalysis** (Mathôt et al. 2012): ``(sum_a min_b |a - b| + sum_b min_a |a - b|) / max(|A|, |B|)``.
* **Time-delay embedding** (Wang et al. 2011, as in Zanca's FixaTons): for window length k, each k-window of
  ``pred`` is matched to the closest k-window of ``target`` with distance ``sqrt(sum_t d_t^2) / k``; the score is
  the mean (or ``mode="hausdorff"``: the max) over pred windows. **Scaled TDE** divides coordinates by the
  image's larger side and returns ``mean_k exp(-TDE_k)`` for k = 1 .. min length (a similarity, higher = closer).

Every function is batched: ``[B, N, M]`` distance stacks, DPs swept along anti-diagonals for all pairs at once.
Pairs where either scanpath is empty give NaN.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._pairs import check_choice, check_pair, padded, resolve_size, to_tensor
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["dtw", "eyenalysis", "frechet", "hausdorff", "scaled_time_delay_embedding", "time_delay_embedding"]


def _pairwise(pred: Scanpaths, target: Scanpaths, scale: np.ndarray | None = None):
    a, c = padded(pred), padded(target)
    ax, ay, cx, cy = a.x, a.y, c.x, c.y
    if scale is not None:
        ax, ay, cx, cy = ax / scale[:, None], ay / scale[:, None], cx / scale[:, None], cy / scale[:, None]
    d2 = (ax[:, :, None] - cx[:, None, :]) ** 2 + (ay[:, :, None] - cy[:, None, :]) ** 2
    return d2, a.lengths, c.lengths


def _valid(n, m, big_n, big_m):
    return (np.arange(big_n)[None, :, None] < n[:, None, None]) & (np.arange(big_m)[None, None, :] < m[:, None, None])


def _warp(cost: np.ndarray, n: np.ndarray, m: np.ndarray, kind: str) -> np.ndarray:
    """Anti-diagonal DP over ``[B, N, M]`` costs; returns the value at each pair's (n-1, m-1)."""
    b, big_n, big_m = cost.shape
    d = np.full((b, big_n + 1, big_m + 1), np.inf)
    d[:, 1, 1] = cost[:, 0, 0]
    for k in range(1, big_n + big_m - 1):
        i = np.arange(max(0, k - big_m + 1), min(big_n - 1, k) + 1)
        j = k - i
        diag, up, left = d[:, i, j], d[:, i, j + 1], d[:, i + 1, j]
        c = cost[:, i, j]
        if kind == "symmetric1":
            val = np.minimum(np.minimum(diag, up), left) + c
        elif kind == "symmetric2":
            val = np.minimum(np.minimum(diag + 2 * c, up + c), left + c)
        else:  # frechet
            val = np.maximum(np.minimum(np.minimum(diag, up), left), c)
        d[:, i + 1, j + 1] = val
    out = d[np.arange(b), n, m]
    return np.where((n == 0) | (m == 0), np.nan, out)


@register_pair_metric("dtw", metric_class="DTW",
                      higher_is_better=False, description="dynamic time warping distance (px, symmetric1)")
def dtw(pred: Scanpaths, target: Scanpaths, *, step_pattern: str = "symmetric1") -> Tensor:
    """Dynamic time warping distance in pixels (``[B]``); ``step_pattern`` ``"symmetric1"`` or ``"symmetric2"``."""
    check_pair(pred, target, "dtw")
    check_choice("dtw", "step_pattern", step_pattern, ("symmetric1", "symmetric2"))
    d2, n, m = _pairwise(pred, target)
    return to_tensor(_warp(np.sqrt(d2), n, m, step_pattern), target)


@register_pair_metric("frechet", metric_class="Frechet",
                      higher_is_better=False, description="discrete Frechet distance (px)")
def frechet(pred: Scanpaths, target: Scanpaths) -> Tensor:
    """Discrete Fréchet distance in pixels (``[B]``)."""
    check_pair(pred, target, "frechet")
    d2, n, m = _pairwise(pred, target)
    return to_tensor(_warp(np.sqrt(d2), n, m, "frechet"), target)


def _nearest(d: np.ndarray, n, m):
    """Per-pair nearest-neighbour distances: pred -> target ``[B, N]`` and target -> pred ``[B, M]`` (inf pad)."""
    valid = _valid(n, m, d.shape[1], d.shape[2])
    masked = np.where(valid, d, np.inf)
    return masked.min(axis=2), masked.min(axis=1)


@register_pair_metric("hausdorff", metric_class="Hausdorff",
                      higher_is_better=False, description="symmetric Hausdorff distance (px)")
def hausdorff(pred: Scanpaths, target: Scanpaths) -> Tensor:
    """Symmetric Hausdorff distance in pixels (``[B]``)."""
    check_pair(pred, target, "hausdorff")
    d2, n, m = _pairwise(pred, target)
    to_t, to_p = _nearest(np.sqrt(d2), n, m)
    h1 = np.where(np.arange(to_t.shape[1])[None] < n[:, None], to_t, -np.inf).max(axis=1, initial=-np.inf)
    h2 = np.where(np.arange(to_p.shape[1])[None] < m[:, None], to_p, -np.inf).max(axis=1, initial=-np.inf)
    out = np.maximum(h1, h2)
    return to_tensor(np.where((n == 0) | (m == 0), np.nan, out), target)


@register_pair_metric("eyenalysis", metric_class="Eyenalysis",
                      higher_is_better=False, description="Eyenalysis double-mapping distance (px)")
def eyenalysis(pred: Scanpaths, target: Scanpaths) -> Tensor:
    """Eyenalysis distance in pixels (``[B]``): summed nearest-neighbour distances both ways / longer length."""
    check_pair(pred, target, "eyenalysis")
    d2, n, m = _pairwise(pred, target)
    to_t, to_p = _nearest(np.sqrt(d2), n, m)
    s1 = np.where(np.arange(to_t.shape[1])[None] < n[:, None], to_t, 0.0).sum(axis=1)
    s2 = np.where(np.arange(to_p.shape[1])[None] < m[:, None], to_p, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (s1 + s2) / np.maximum(n, m)
    return to_tensor(np.where((n == 0) | (m == 0), np.nan, out), target)


def _tde_all_k(d2: np.ndarray, n: np.ndarray, m: np.ndarray, k_max: int, mode: str) -> np.ndarray:
    """``[B, k_max]`` TDE distances for k = 1..k_max (NaN where k exceeds a scanpath's length)."""
    b, big_n, big_m = d2.shape
    out = np.full((b, k_max), np.nan)
    window = np.zeros((b, big_n, big_m))
    for k in range(1, k_max + 1):
        window = window[:, : big_n - k + 1, : big_m - k + 1] + d2[:, k - 1:, k - 1:]
        dist = np.sqrt(window) / k
        ok_i = np.arange(big_n - k + 1)[None] <= (n - k)[:, None]  # pred windows
        ok_j = np.arange(big_m - k + 1)[None] <= (m - k)[:, None]  # target windows
        best = np.where(ok_j[:, None, :], dist, np.inf).min(axis=2)  # [B, pred windows]
        if mode == "mean":
            count = ok_i.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                val = np.where(ok_i, best, 0.0).sum(axis=1) / count
        else:
            val = np.where(ok_i, best, -np.inf).max(axis=1)
        defined = (n >= k) & (m >= k)
        out[:, k - 1] = np.where(defined, val, np.nan)
    return out


@register_pair_metric("time_delay_embedding", metric_class="TDE", higher_is_better=False,
                      description="time-delay embedding distance (px, k = 3)")
def time_delay_embedding(pred: Scanpaths, target: Scanpaths, *, k: int = 3, mode: str = "mean") -> Tensor:
    """Time-delay embedding distance in pixels (``[B]``) of ``pred`` (simulated) to ``target`` (human).

    Args:
        k: window length (fixations); pairs with a scanpath shorter than k give NaN.
        mode: ``"mean"`` or ``"hausdorff"`` over pred windows.
    """
    check_pair(pred, target, "time_delay_embedding")
    check_choice("time_delay_embedding", "mode", mode, ("mean", "hausdorff"))
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"time_delay_embedding: k must be a positive integer, got {k!r}")
    d2, n, m = _pairwise(pred, target)
    if k > min(d2.shape[1], d2.shape[2]):
        return to_tensor(np.full(len(target), np.nan), target)
    return to_tensor(_tde_all_k(d2, n, m, k, mode)[:, k - 1], target)


@register_pair_metric("scaled_time_delay_embedding", metric_class="ScaledTDE",
                      higher_is_better=True, needs=("image_size",),
                      description="scaled TDE similarity: mean over k of exp(-TDE_k), coordinates / max image side")
def scaled_time_delay_embedding(pred: Scanpaths, target: Scanpaths, *, image_size=None) -> Tensor:
    """Scaled time-delay embedding similarity in (0, 1] (``[B]``; 1 = identical).

    Args:
        image_size: ``(width, height)`` (or ``[B, 2]``) whose larger side scales the coordinates; default the
            scanpaths' ``image_size``.
    """
    check_pair(pred, target, "scaled_time_delay_embedding")
    size = resolve_size(pred, target, image_size, "scaled_time_delay_embedding")
    d2, n, m = _pairwise(pred, target, scale=size.max(axis=1))
    k_max = max(min(d2.shape[1], d2.shape[2]), 1)
    per_k = np.exp(-_tde_all_k(d2, n, m, k_max, "mean"))
    kk = np.minimum(n, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.nansum(per_k, axis=1) / kk
    return to_tensor(np.where(kk == 0, np.nan, out), target)
