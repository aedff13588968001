"""String metrics of scanpaths: sequence score (SS), semantic sequence score (SemSS) and string edit distance (SED).

* **SS** (Yang et al. 2020): fixations become the index of their nearest cluster centre (frozen per-image
  MeanShift clusters, :mod:`gazekit.metrics.functional.clusters`); the score is the Needleman-Wunsch alignment
  with match 1, mismatch 0 and gap 0 divided by the longer string's length. With those scores NW equals the
  longest common subsequence, so SS = LCS / max(len).
* **SemSS** (HAT, Gazeformer): the same with a fixation's symbol = the semantic label under it
  (``label_map[int(y), int(x)]``, e.g. COCO panoptic segments at 512 x 320) or a per-fixation attribute.
* Time variants of both repeat each symbol ``floor(duration / temporal_bin)`` times (HAT uses ``int(T / 50)``).
* **SED** (Zanca's FixaTons): the image is split into an n x n grid (integer steps ``width // n``,
  ``height // n``), each fixation becomes its cell, and the score is the Levenshtein distance of the strings
  (lower = closer; ``normalize=True`` divides by the longer length).

All pairs are aligned together (row-scan DP, see ``_align.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._align import levenshtein, needleman_wunsch_max
from gazekit.metrics.functional._pairs import (
    check_choice,
    check_pair,
    padded,
    require_durations,
    resolve_size,
    to_tensor,
)
from gazekit.metrics.functional.clusters import BUILTIN_CLUSTERS, DEFAULT_KEY, SequenceClusters, fit_clusters, image_key
from gazekit.metrics.functional.scanmatch import repeat_padded
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["edit_distance", "grid_letters", "lcs_ratio", "semantic_sequence_score", "sequence_score"]


def _codes_and_reps(sp: Scanpaths, codes: np.ndarray, truncate: int | None, temporal_bin: float | None):
    p = padded(sp)
    length = p.x.shape[1]
    n = p.lengths if truncate is None else np.minimum(p.lengths, truncate)
    mask = np.arange(length)[None] < n[:, None]
    if temporal_bin:
        reps = np.floor(np.maximum(p.duration, 0) / float(temporal_bin)).astype(np.int64) * mask
    else:
        reps = mask.astype(np.int64)
    return repeat_padded(codes, reps)


def lcs_ratio(a: np.ndarray, na: np.ndarray, c: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """NW (match 1, mismatch 0, gap 0) / max length for padded integer strings; NaN when both are empty."""
    best = needleman_wunsch_max(a, na, c, nc, None, gap=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = best / np.maximum(na, nc)
    return np.where((na == 0) & (nc == 0), np.nan, score)


def _string_score(pred, target, pred_codes, target_codes, truncate, temporal_bin, metric):
    if truncate is not None and (not isinstance(truncate, (int, np.integer)) or truncate < 1):
        raise InvalidInputError(f"{metric}: truncate must be a positive number of fixations or None, got {truncate!r}")
    if temporal_bin:
        if temporal_bin < 0:
            raise InvalidInputError(f"{metric}: temporal_bin must be > 0 ms, got {temporal_bin!r}")
        require_durations(pred, "pred", f"{metric} with temporal_bin")
        require_durations(target, "target", f"{metric} with temporal_bin")
    a, na = _codes_and_reps(pred, pred_codes, truncate, temporal_bin)
    c, nc = _codes_and_reps(target, target_codes, truncate, temporal_bin)
    return to_tensor(lcs_ratio(a, na, c, nc), target)


def _resolve_clusters(clusters, target: Scanpaths, key) -> SequenceClusters:
    if isinstance(clusters, SequenceClusters):
        return clusters
    if isinstance(clusters, str) and clusters in BUILTIN_CLUSTERS:
        return SequenceClusters.builtin(clusters)
    if isinstance(clusters, (str, Path)) and str(clusters) != "fit":
        return SequenceClusters.load(clusters)
    if isinstance(clusters, str) and clusters == "fit":
        # cluster the distinct target scanpaths (convenience; freeze a fixture for reported numbers)
        seen, rows = set(), []
        p = padded(target)
        for i in range(len(target)):
            n = int(p.lengths[i])
            sig = (image_key(target, i, key), p.x[i, :n].tobytes(), p.y[i, :n].tobytes())
            if sig not in seen:
                seen.add(sig)
                rows.append(i)
        return fit_clusters(target[rows], key=key)
    raise InvalidInputError("sequence_score: `clusters` must be a SequenceClusters, the path of a saved cluster "
                            "fixture, or 'fit' (cluster the target scanpaths); build fixtures with fit_clusters()")


@register_pair_metric("sequence_score", metric_class="SequenceScore", higher_is_better=True, needs=("clusters",),
                      description="sequence score SS: NW (1/0/0) of per-image MeanShift cluster strings / max length")
def sequence_score(pred: Scanpaths, target: Scanpaths, *, clusters="fit", key: Sequence[str] | None = None,
                   truncate: int | None = None, temporal_bin: float | None = None) -> Tensor:
    """Sequence score of ``pred[i]`` against ``target[i]`` in [0, 1] (1 = same cluster string).

    Args:
        pred, target: batches of equal size, pixels in the frame the clusters were built in.
        clusters: frozen :class:`SequenceClusters`, the path of its JSON fixture or the name of a shipped one
            (``"coco_search18"``), looked up with the target's image key; ``"fit"`` clusters the distinct target
            scanpaths on the fly (convenient, but freeze a fixture for numbers you report).
        key: image-key fields (default: the clusters' own, normally dataset, image, task).
        truncate: score only the first ``truncate`` fixations (protocols use 2/4/6 for search, 4/8/16 free view).
        temporal_bin: ms; repeat each symbol ``floor(duration / temporal_bin)`` times (SS "with duration").
    Returns:
        ``[B]`` float64; NaN when both strings are empty.
    """
    check_pair(pred, target, "sequence_score")
    cl = _resolve_clusters(clusters, target, tuple(key) if key else DEFAULT_KEY)
    key = tuple(key) if key else cl.key
    pp, tp = padded(pred), padded(target)
    codes_p = np.zeros(pp.x.shape, np.int64)
    codes_t = np.zeros(tp.x.shape, np.int64)
    rows_by_key: dict[str, list[int]] = {}
    for i in range(len(target)):
        rows_by_key.setdefault(image_key(target, i, key), []).append(i)
    for k, rows in rows_by_key.items():
        rows = np.asarray(rows)
        ic = cl[k]
        for src, dst in ((pp, codes_p), (tp, codes_t)):
            xy = np.stack([src.x[rows], src.y[rows]], axis=-1).reshape(-1, 2)
            dst[rows] = ic.symbols(xy).reshape(len(rows), -1)
    return _string_score(pred, target, codes_p, codes_t, truncate, temporal_bin, "sequence_score")


def _labels_from_maps(sp: Scanpaths, label_maps, key) -> np.ndarray:
    p = padded(sp)
    out = np.zeros(p.x.shape, np.int64)
    for i in range(len(sp)):
        k = image_key(sp, i, key)
        seg = label_maps(k) if callable(label_maps) else label_maps.get(k)
        if seg is None:
            raise InvalidInputError(f"semantic_sequence_score: no label map for image key {k!r}")
        seg = np.asarray(seg)
        if seg.ndim != 2:
            raise InvalidInputError(f"semantic_sequence_score: label map for {k!r} must be 2-D [H, W], "
                                    f"got shape {seg.shape}")
        n = int(p.lengths[i])
        yi = np.clip(np.trunc(p.y[i, :n]).astype(np.int64), 0, seg.shape[0] - 1)
        xi = np.clip(np.trunc(p.x[i, :n]).astype(np.int64), 0, seg.shape[1] - 1)
        out[i, :n] = seg[yi, xi]
    return out


@register_pair_metric("semantic_sequence_score", metric_class="SemanticSequenceScore",
                      higher_is_better=True, needs=("label_maps",),
                      description="semantic sequence score SemSS: SS with segmentation labels as symbols")
def semantic_sequence_score(pred: Scanpaths, target: Scanpaths, *,
                            label_maps: Mapping[str, np.ndarray] | Callable[[str], np.ndarray] | None = None,
                            label_attr: str | None = None, key: Sequence[str] = ("image",),
                            truncate: int | None = None, temporal_bin: float | None = None) -> Tensor:
    """Semantic sequence score in [0, 1].

    Args:
        label_maps: image key -> ``[H, W]`` integer label map in the scanpaths' pixel frame (or a function of
            the key); a fixation's symbol is ``label_map[int(y), int(x)]`` (clamped to the map).
        label_attr: alternatively, a per-fixation attribute (``Scanpaths.fixation_attrs``) holding the label.
        key: fields forming the image key used to look up ``label_maps`` (default the image name).
        truncate, temporal_bin: as in :func:`sequence_score`.
    """
    check_pair(pred, target, "semantic_sequence_score")
    if (label_maps is None) == (label_attr is None):
        raise InvalidInputError("semantic_sequence_score: pass exactly one of label_maps or label_attr")
    if label_attr is not None:
        codes = []
        for name, sp in (("pred", pred), ("target", target)):
            if label_attr not in sp.fixation_attrs:
                raise InvalidInputError(f"semantic_sequence_score: {name} has no fixation attribute "
                                        f"{label_attr!r} (has {sorted(sp.fixation_attrs)})")
            values = sp.fixation_attrs[label_attr].cpu().numpy()
            if np.isnan(values[sp.mask.cpu().numpy()]).any():
                raise InvalidInputError(f"semantic_sequence_score: {name}.{label_attr} has NaN labels")
            codes.append(np.nan_to_num(values).astype(np.int64))
        pc, tc = codes
    else:
        pc, tc = _labels_from_maps(pred, label_maps, key), _labels_from_maps(target, label_maps, key)
    return _string_score(pred, target, pc, tc, truncate, temporal_bin, "semantic_sequence_score")


def grid_letters(x: np.ndarray, y: np.ndarray, size, grid: int = 5, cells: str = "floor") -> np.ndarray:
    """SED cell codes ``row * grid + col`` of fixations (pixels truncated to int, steps ``size // grid``).

    ``cells="floor"``: each coordinate binned separately (the n x n regions of the definition; positions past
    the last full step go to the last row/column). ``cells="zanca"``: ``int(x / w_step + (y / h_step) * n)`` as
    the Python-3 ports of FixaTons (HAT, ChenLSTM) compute it, which mixes rows when ``y / h_step`` is fractional.
    """
    w, h = int(size[0]), int(size[1])
    ws, hs = w // grid, h // grid
    if ws < 1 or hs < 1:
        raise InvalidInputError(f"edit_distance: image {w}x{h} is too small for a {grid}x{grid} grid")
    xi = np.trunc(np.maximum(x, 0)).astype(np.int64)
    yi = np.trunc(np.maximum(y, 0)).astype(np.int64)
    if cells == "zanca":
        return (xi / ws + (yi / hs) * grid).astype(np.int64)
    return np.minimum(yi // hs, grid - 1) * grid + np.minimum(xi // ws, grid - 1)


@register_pair_metric("edit_distance", metric_class="EditDistance", higher_is_better=False, needs=("image_size",),
                      description="string edit distance (Levenshtein) on an n x n grid (n = 5)")
def edit_distance(pred: Scanpaths, target: Scanpaths, *, grid: int = 5, image_size=None, normalize: bool = False,
                  cells: str = "floor") -> Tensor:
    """String edit distance between the grid strings of ``pred[i]`` and ``target[i]`` (0 = same string).

    Args:
        grid: n for the n x n grid.
        image_size: ``(width, height)`` (or ``[B, 2]``); default the scanpaths' ``image_size``.
        normalize: divide by the longer string's length (NaN when both are empty).
        cells: ``"floor"`` (definition) or ``"zanca"`` (Python-3 FixaTons port), see :func:`grid_letters`.
    Returns:
        ``[B]`` float64 edit distances.
    """
    check_pair(pred, target, "edit_distance")
    check_choice("edit_distance", "cells", cells, ("floor", "zanca"))
    if not isinstance(grid, (int, np.integer)) or grid < 1:
        raise InvalidInputError(f"edit_distance: grid must be a positive integer, got {grid!r}")
    size = resolve_size(pred, target, image_size, "edit_distance")
    pp, tp = padded(pred), padded(target)
    codes = []
    for p in (pp, tp):
        c = np.zeros(p.x.shape, np.int64)
        for w, h in np.unique(size, axis=0) if len(size) else []:
            rows = np.flatnonzero((size[:, 0] == w) & (size[:, 1] == h))
            c[rows] = grid_letters(p.x[rows], p.y[rows], (w, h), grid, cells)
        codes.append(c)
    dist = levenshtein(codes[0], pp.lengths, codes[1], tp.lengths)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = dist / np.maximum(pp.lengths, tp.lengths)
        dist = np.where((pp.lengths == 0) & (tp.lengths == 0), np.nan, dist)
    return to_tensor(dist, target)
