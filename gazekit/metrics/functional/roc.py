"""ROC metrics of saliency maps: AUC-Judd, the all-threshold AUC, shuffled AUC and AUC-Borji, batched over maps.

Inputs and conventions as :mod:`gazekit.metrics.functional.saliency` (one value per map, ``[B]`` float64, NaN for a
map without fixations). Definitions follow the MIT benchmark and pysaliency 0.2.22 (the parity oracle, 1e-10).

Speed: AUC-Judd and the all-threshold AUC need, for each fixated saliency value, how many pixels lie below it and
how many equal it. :func:`map_ranks` counts these in one pass per map (numba kernel, no sort of the map's pixels;
:mod:`gazekit.metrics.functional._roc`) and the result is shared: pass ``ranks=`` to :func:`auc_judd` and
:func:`auc` to score the same maps with both for the cost of one. Shuffled AUC is computed for all maps at once:
with explicit negatives, one comparison of each map's few positives and negatives (a batched sort when they are
many); with ``other_fixations="others"``, one kernel reads every map at the pooled fixations of the set once and
counts them against the map's positives (:func:`gazekit.metrics.functional._roc.others_auc`), instead of building
a negative set per map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._maps import check_maps, check_values, fixation_indices, values_at
from gazekit.metrics.functional._roc import gather_columns, others_auc, rank_counts_padded
from gazekit.metrics.registry import register_metric

__all__ = ["MapRanks", "auc", "auc_borji", "auc_judd", "map_ranks", "shuffled_auc"]

_NONFINITE = "contains NaN or infinite values"
_BROADCAST_MAX = 4096  # positives x negatives per map up to which shuffled AUC compares them all directly


@dataclass
class MapRanks:
    """What the ROC metrics need to know about ``B`` maps and their fixations (from :func:`map_ranks`).

    Attributes:
        n_pixels: pixels per map.
        positives: per map, the saliency at each valid fixation, sorted ascending (one entry per fixation).
        n_less, n_le: per map and positive, the number of the map's pixels ``<`` and ``<=`` it.
        fixated: per map, the saliency of its distinct fixated pixels, sorted ascending.
    """

    n_pixels: int
    positives: list[np.ndarray]
    n_less: list[np.ndarray]
    n_le: list[np.ndarray]
    fixated: list[np.ndarray]


def map_ranks(saliency: Tensor, fixations) -> MapRanks:
    """Rank counts of every map at its fixations, one streaming pass per map (see the module docstring).

    Raises:
        InvalidInputError: a map with a NaN or infinite value (when it has fixations), bad fixations.
    """
    saliency = check_maps(saliency, scan_values=False)  # the counting pass finds NaN/inf
    b, h, w = saliency.shape
    xi, yi, valid = fixation_indices(fixations, b, h, w)
    rows = saliency.detach().reshape(b, h * w).cpu().numpy()
    n = h * w
    # every map's fixated addresses at once, ascending, padding (address n) last
    lin = np.sort(np.where(valid.numpy(), (yi * w + xi).numpy(), n), axis=1)
    pad = lin == n
    vals = np.take_along_axis(rows, np.minimum(lin, n - 1), axis=1)
    bad = ~pad & ~np.isfinite(vals)
    if bad.any():
        raise InvalidInputError(f"saliency map {int(np.argmax(bad.any(axis=1)))} {_NONFINITE}")
    vals[pad] = math.inf  # padding sorts last
    distinct = ~pad
    distinct[:, 1:] &= lin[:, 1:] != lin[:, :-1]  # the first fixation on each pixel
    positives = np.sort(vals, axis=1)
    fixated = np.sort(np.where(distinct, vals, math.inf), axis=1)
    n_pos, n_fix = (~pad).sum(axis=1), distinct.sum(axis=1)
    n_less, n_le, bad_row = rank_counts_padded(rows, positives, n_pos)
    if bad_row >= 0:
        raise InvalidInputError(f"saliency map {bad_row} {_NONFINITE}")
    return MapRanks(n, [positives[i, : n_pos[i]] for i in range(b)], [n_less[i, : n_pos[i]] for i in range(b)],
                    [n_le[i, : n_pos[i]] for i in range(b)], [fixated[i, : n_fix[i]] for i in range(b)])


def _check_ranks(ranks: MapRanks | None, saliency, fixations) -> MapRanks:
    if ranks is None:
        return map_ranks(saliency, fixations)
    if not isinstance(ranks, MapRanks):
        raise InvalidInputError(f"ranks must be a MapRanks from map_ranks(), got {type(ranks).__name__}")
    return ranks


def _trapezoid_from_top(tp: np.ndarray, fp: np.ndarray) -> float:
    """ROC area through (0, 0), the points in descending threshold order, (1, 1)."""
    tp = np.concatenate([[0.0], tp[::-1], [1.0]])
    fp = np.concatenate([[0.0], fp[::-1], [1.0]])
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1])) / 2.0)


def _judd_one(r: MapRanks, i: int, variant: str) -> float:
    ps, fixated = r.positives[i], r.fixated[i]
    n_neg = r.n_pixels - fixated.size
    if ps.size == 0 or n_neg == 0:
        return math.nan
    all_ge = r.n_pixels - r.n_less[i]  # pixels >= each (ascending) positive
    if variant == "judd":  # thresholds: one per fixation; negatives: the unfixated pixels
        neg_ge = all_ge - (fixated.size - np.searchsorted(fixated, ps, side="left"))
        tp = (ps.size - np.searchsorted(ps, ps, side="left")) / ps.size
    else:  # MATLAB/Zanca: thresholds at the distinct fixated pixels (a binary fixation map)
        n = fixated.size
        all_ge = all_ge[np.searchsorted(ps, fixated, side="left")]  # the counts of an equal positive
        i_desc = np.arange(n - 1, -1, -1)  # 0-based rank of each ascending threshold in the descending order
        neg_ge = all_ge - (i_desc + 1 if variant == "mit" else i_desc)
        tp = (i_desc + 1) / n
    return _trapezoid_from_top(tp.astype(np.float64), neg_ge / n_neg)


@register_metric("auc_judd", kind="map", metric_class="AUCJudd", higher_is_better=True,
                 inputs=("saliency", "fixations"),
                 description="AUC-Judd: thresholds at fixated values, unfixated pixels negative")
def auc_judd(saliency: Tensor, fixations, *, variant: str = "judd", ranks: MapRanks | None = None) -> Tensor:
    """AUC-Judd: ROC area with thresholds at the fixated saliency values and unfixated pixels as negatives.

    ``TP(t) = #fixations with s >= t / #fixations``, ``FP(t) = #unfixated pixels with s >= t / #unfixated pixels``,
    for every fixated value ``t``, plus the points (0, 0) and (1, 1); trapezoid rule. No random jitter is added:
    ties are counted exactly (``>=``).

    Args:
        variant: ``"judd"`` (default; positives one per fixation, as pysaliency ``general_roc(judd=1)``, equal to
            the MIT MATLAB formula when fixated values are distinct), ``"mit"`` (the MATLAB formula on the
            binary fixation map: ``TP_i = i / N_fix``, ``FP_i = (#pixels >= t_i - i) / (N_pix - N_fix)``, i 1-based)
            or ``"zanca"`` (FixaTons/HAT port, which subtracts ``i - 1``: one extra false positive per threshold).
        ranks: :func:`map_ranks` of the same maps and fixations, to share one counting pass with :func:`auc`.
    """
    if variant not in ("judd", "mit", "zanca"):
        raise InvalidInputError(f"variant must be 'judd', 'mit' or 'zanca', got {variant!r}")
    r = _check_ranks(ranks, saliency, fixations)
    return torch.tensor([_judd_one(r, i, variant) for i in range(len(r.positives))], dtype=torch.float64)


def _auc_counts(less: np.ndarray, equal: np.ndarray, n_pos: int, n_neg: int) -> float:
    """All-threshold ROC area = P(pos > neg) + 0.5 P(pos == neg) from per-positive counts of negatives."""
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return float((less + 0.5 * equal).sum() / n_pos / n_neg)


def _auc_explicit(saliency: Tensor, fixations, negatives) -> Tensor:
    """All-threshold AUC against explicit negative locations, every map at once: a broadcast comparison of the
    few positives with the few negatives of each map, or one batched sort when they are many."""
    b, h, w = saliency.shape
    xi, yi, valid = fixation_indices(fixations, b, h, w)
    nxi, nyi, nvalid = fixation_indices(negatives, b, h, w, name="negatives")
    if xi.shape[1] * nxi.shape[1] > _BROADCAST_MAX:
        pos, neg = values_at(saliency, xi, yi), values_at(saliency, nxi, nyi)
        check_values(pos, valid, "saliency")
        check_values(neg, nvalid, "saliency")
        return _auc_values(pos, valid, neg, nvalid)
    rows = saliency.detach().reshape(b, h * w).cpu().numpy()
    valid, nvalid = valid.numpy(), nvalid.numpy()
    pos = np.take_along_axis(rows, yi.numpy() * w + xi.numpy(), axis=1)  # [B, K]
    neg = np.take_along_axis(rows, nyi.numpy() * w + nxi.numpy(), axis=1)  # [B, M]
    for values, ok in ((pos, valid), (neg, nvalid)):
        bad = ok & ~np.isfinite(values)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidInputError(f"saliency map {i} has a non-finite value ({values[i, j]}) at point {j}")
    pos[~valid] = math.nan  # padding: NaN compares false with everything, so it counts nowhere
    neg[~nvalid] = math.nan
    below = np.count_nonzero(neg[:, None, :] < pos[:, :, None], axis=(1, 2))  # [B, K, M] comparisons
    at = np.count_nonzero(neg[:, None, :] == pos[:, :, None], axis=(1, 2))
    n_pos, n_neg = valid.sum(axis=1), nvalid.sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    out = np.full(b, math.nan)
    out[ok] = (below[ok] + 0.5 * at[ok]) / n_pos[ok] / n_neg[ok]
    return torch.from_numpy(out)


def _auc_values(pos: Tensor, valid: Tensor, neg: Tensor, nvalid: Tensor) -> Tensor:
    srt = torch.where(nvalid, neg, torch.full_like(neg, math.inf)).sort(dim=1).values  # padding sorts last
    p = torch.where(valid, pos, torch.zeros_like(pos)).contiguous()
    less = torch.searchsorted(srt, p, right=False).double()
    equal = torch.searchsorted(srt, p, right=True).double() - less
    total = torch.where(valid, less + 0.5 * equal, torch.zeros_like(less)).sum(dim=1)
    n_pos, n_neg = valid.sum(dim=1).double(), nvalid.sum(dim=1).double()
    ok = (n_pos > 0) & (n_neg > 0)
    return torch.where(ok, total / n_pos.clamp(min=1) / n_neg.clamp(min=1), torch.full_like(total, math.nan))


def _auc_others(saliency: Tensor, fixations) -> Tensor:
    """Negatives of map ``i`` = the fixations of every other map. The pooled locations (every map's fixations,
    ascending addresses) are read on every map once (each map's own fixations among them, so its positives are
    read from there), every map's values are counted against its sorted positives in one pass, and the map's own
    fixations are then taken out of the counts: one numba kernel (:func:`others_auc`), or the same steps in
    numpy without numba."""
    b, h, w = saliency.shape
    xi, yi, valid = fixation_indices(fixations, b, h, w)
    ok = valid.numpy()
    lin = yi.numpy() * w + xi.numpy()
    n_pos = ok.sum(axis=1)
    pooled = np.sort(lin[ok])  # ascending addresses: the gather streams through each map
    n_neg = pooled.size - n_pos
    out = np.full(b, math.nan)
    has = (n_pos > 0) & (n_neg > 0)
    if not has.any():
        return torch.from_numpy(out)
    rows = saliency.detach().reshape(b, h * w).cpu().numpy()
    where = np.searchsorted(pooled, np.where(ok, lin, 0))  # [B, K]: each fixation's position in the pool
    fused = others_auc(rows, pooled, np.sort(np.where(ok, where, pooled.size), axis=1), n_pos)
    if fused is not None:
        out, code = fused
        if code <= -2:
            raise InvalidInputError(f"saliency map {-2 - code} {_NONFINITE} at its fixations")
        if code >= 0:
            raise InvalidInputError(f"saliency map {code} {_NONFINITE} at the other maps' fixations")
        return torch.from_numpy(out)
    neg = gather_columns(rows, pooled)  # [B, F]  (without numba: the same steps in numpy)
    pos = np.take_along_axis(neg, where, axis=1)  # [B, K]
    bad = ok & ~np.isfinite(pos)
    if bad.any():
        raise InvalidInputError(f"saliency map {int(np.argmax(bad.any(axis=1)))} {_NONFINITE} at its fixations")
    ps = np.sort(np.where(ok, pos, math.inf), axis=1)  # padding sorts last
    less, le, bad_row = rank_counts_padded(neg, ps, n_pos)
    if bad_row >= 0:
        raise InvalidInputError(f"saliency map {bad_row} {_NONFINITE} at the other maps' fixations")
    # the map's own fixations are among the pooled ones but are not its negatives: in a sorted row, the own
    # positives below a value are the index where its run of equal values starts, those <= it where it ends
    k = ps.shape[1]
    col = np.arange(k)
    new = np.ones(ps.shape, bool)
    new[:, 1:] = ps[:, 1:] != ps[:, :-1]
    less = less - np.maximum.accumulate(np.where(new, col, 0), axis=1)
    end = np.ones(ps.shape, bool)
    end[:, :-1] = new[:, 1:]
    le = le - np.minimum.accumulate(np.where(end, col + 1, k)[:, ::-1], axis=1)[:, ::-1]
    total = np.where(col < n_pos[:, None], less + 0.5 * (le - less), 0.0).sum(axis=1)
    out[has] = total[has] / n_pos[has] / n_neg[has]
    return torch.from_numpy(out)


@register_metric("auc", kind="map", metric_class="AUC", higher_is_better=True, inputs=("saliency", "fixations"),
                 description="ROC area over all thresholds, all pixels negative (exact AUC-Borji)")
def auc(saliency: Tensor, fixations, *, negatives="all", ranks: MapRanks | None = None) -> Tensor:
    """ROC area over all thresholds (every distinct value), positives = saliency at the fixations.

    Args:
        negatives: ``"all"`` pixels (the exact, unsampled form of AUC-Borji; pysaliency ``nonfixations='uniform'``),
            ``"unfixated"`` pixels, ``"others"`` (the fixations of the other maps of the batch: shuffled AUC), or
            explicit negative locations (Scanpaths or ``(x, y)`` ``[B, M]``, NaN padded) such as fixations from
            other images (shuffled AUC).
        ranks: :func:`map_ranks` of the same maps and fixations (``"all"``/``"unfixated"``), shared with
            :func:`auc_judd`.
    """
    saliency = check_maps(saliency, scan_values=False).cpu()  # the counting pass finds NaN/inf; else read pixels
    if isinstance(negatives, str) and negatives == "others":
        return _auc_others(saliency, fixations)
    if not isinstance(negatives, str):
        return _auc_explicit(saliency, fixations, negatives)
    if negatives not in ("all", "unfixated"):
        raise InvalidInputError(f"negatives must be 'all', 'unfixated', 'others' or explicit locations, "
                                f"got {negatives!r}")
    r = _check_ranks(ranks, saliency, fixations)
    out = []
    for i, ps in enumerate(r.positives):
        less, equal, n_neg = r.n_less[i], r.n_le[i] - r.n_less[i], r.n_pixels
        if negatives == "unfixated":
            fx = r.fixated[i]
            f_less = np.searchsorted(fx, ps, side="left")
            less, equal = less - f_less, equal - (np.searchsorted(fx, ps, side="right") - f_less)
            n_neg -= fx.size
        out.append(_auc_counts(less, equal, ps.size, n_neg))
    return torch.tensor(out, dtype=torch.float64)


@register_metric("shuffled_auc", kind="map", metric_class="ShuffledAUC", higher_is_better=True,
                 inputs=("saliency", "fixations", "other_fixations"),
                 description="shuffled AUC: fixations on other images negative")
def shuffled_auc(saliency: Tensor, fixations, other_fixations="others") -> Tensor:
    """Shuffled AUC: all-threshold ROC area with negatives = fixations recorded on other images, which discounts
    centre bias. ``other_fixations``: ``"others"`` (default: for each map, the fixations of all other maps of the
    batch, gathered once for the whole set; the maps must show the images at one size) or explicit locations,
    one row per map. See :func:`auc`."""
    return auc(saliency, fixations, negatives=other_fixations)


@register_metric("auc_borji", kind="map", metric_class="AUCBorji", higher_is_better=True,
                 inputs=("saliency", "fixations"),
                 description="AUC-Borji: random pixels negative, 100 splits")
def auc_borji(saliency: Tensor, fixations, *, n_splits: int = 100, step: float = 0.1,
              generator: torch.Generator | None = None, seed: int = 0) -> Tensor:
    """AUC-Borji (MIT MATLAB definition): the map is rescaled to [0, 1]; for each of ``n_splits`` splits, as many
    uniformly random pixels (with replacement) as fixations are negatives; thresholds ``0:step:max``; trapezoid
    with (0, 0) and (1, 1); mean over splits. Random: pass ``generator`` or ``seed`` for reproducible values
    (the exact expectation is :func:`auc` with ``negatives="all"``)."""
    saliency = check_maps(saliency)
    if n_splits < 1 or not step > 0:
        raise InvalidInputError(f"n_splits must be >= 1 and step > 0, got {n_splits}, {step}")
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    b, h, w = saliency.shape
    xi, yi, valid = fixation_indices(fixations, b, h, w)
    pos = values_at(saliency, xi, yi)
    flat = saliency.flatten(1)
    low, high = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    span = high - low
    norm = torch.where(span > 0, (flat - low) / torch.where(span > 0, span, torch.ones_like(span)),
                       torch.zeros_like(flat))
    pos = torch.where(span > 0, (pos - low) / torch.where(span > 0, span, torch.ones_like(span)),
                      torch.zeros_like(pos))
    # a common grid 0, step, ... up to 1: thresholds above a split's maximum only add (0, 0) points (no area)
    thresholds = torch.arange(0, 1 + step / 2, step, dtype=torch.float64).flip(0)
    out = []
    for i in range(b):
        p = pos[i][valid[i]]
        n = p.numel()
        if n == 0:
            out.append(math.nan)
            continue
        idx = torch.randint(0, flat.shape[1], (n_splits, n), generator=gen)
        neg = norm[i][idx]  # [splits, n]
        tp = (p[None, :] >= thresholds[:, None]).double().mean(dim=1)  # [T]
        fp = (neg[:, None, :] >= thresholds[None, :, None]).double().mean(dim=2)  # [splits, T]
        zeros, ones = torch.zeros(n_splits, 1, dtype=torch.float64), torch.ones(n_splits, 1, dtype=torch.float64)
        tp_all = torch.cat([zeros, tp[None].expand(n_splits, -1), ones], dim=1)
        fp_all = torch.cat([zeros, fp, ones], dim=1)
        out.append(float(torch.trapezoid(tp_all, fp_all, dim=1).mean()))
    return torch.tensor(out, dtype=torch.float64)
