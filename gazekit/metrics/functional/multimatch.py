"""MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012): five similarity dimensions of two scanpaths.

Definition (as in the MATLAB toolbox and its Python port multimatch-gaze, which this reproduces to 1e-9):

1. Each scanpath of n >= 3 fixations becomes n - 1 saccade vectors (start point = fixation i, components
   ``dx, dy``, length ``rho``, direction ``theta = atan2(dy, dx)``) and the n fixation durations.
2. Optional simplification (``simplify=True``): repeatedly merge consecutive saccades whose angle is below
   ``t_dir`` degrees when the fixation between them is shorter than ``t_dur`` (direction pass), then saccades
   shorter than ``t_amp`` pixels next to a short fixation (length pass), until nothing changes.
3. Alignment: the cheapest monotone path (steps right, down, diagonal) through the matrix of vector differences
   ``|v1_i - v2_j|`` from the first to the last saccade pair.
4. Along that path, the medians of: vector difference (normalised by 2 x screen diagonal), angle difference
   (by pi), length difference (by the diagonal), start-position distance (by the diagonal) and
   ``|d1 - d2| / max(d1, d2)`` of the fixation starting each saccade. Each score is ``1 - median``; 1 = identical.

Scanpaths with fewer than 3 fixations give NaN (variant ``padding="hat"`` instead pads them as IRL/HAT do).
The alignment runs for all pairs at once (anti-diagonal sweeps, see ``_align.py``).
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._align import min_cost_path_vectors
from gazekit.metrics.functional._pairs import (
    check_choice,
    check_pair,
    padded,
    require_durations,
    resolve_size,
    to_tensor,
)
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["MULTIMATCH_DIMENSIONS", "multimatch", "simplify_scanpath"]

MULTIMATCH_DIMENSIONS = ("vector", "direction", "length", "position", "duration")


def _saccades(x: np.ndarray, y: np.ndarray, dur: np.ndarray) -> dict:
    dx, dy = np.diff(x), np.diff(y)
    return {"dx": list(dx), "dy": list(dy), "x": list(x[:-1]), "y": list(y[:-1]),
            "rho": list(np.sqrt(dx**2 + dy**2)), "theta": list(np.arctan2(dy, dx)), "dur": list(dur)}


_SAC_KEYS = ("dx", "dy", "x", "y", "theta", "rho")


def _copy_saccade(src: dict, dst: dict, i: int, j: int) -> None:
    for key in _SAC_KEYS:
        dst[key].insert(j, src[key][i])
    dst["dur"].insert(j, src["dur"][i])


def _merge(src: dict, dst: dict, i: int, j: int) -> None:
    """Saccade i and i + 1 become one saccade at position j (start of i, summed vector, duration of fixation i)."""
    vx, vy = src["dx"][i] + src["dx"][i + 1], src["dy"][i] + src["dy"][i + 1]
    for key, value in (("dx", vx), ("dy", vy), ("x", src["x"][i]), ("y", src["y"][i]),
                       ("theta", math.atan2(vy, vx)), ("rho", math.sqrt(vx**2 + vy**2))):
        dst[key].insert(j, value)
    dst["dur"].insert(j, src["dur"][i])


def _empty() -> dict:
    return {k: [] for k in (*_SAC_KEYS, "dur")}


def _angle_deg(ax, ay, bx, by) -> float:
    norms = math.hypot(ax, ay) * math.hypot(bx, by)
    if norms == 0:  # a zero-length saccade has no direction: never merge on angle
        return math.inf
    cos = (ax * bx + ay * by) / norms
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def _direction_pass(p: dict, t_dir: float, t_dur: float) -> dict:
    n = len(p["x"])
    if n < 1:
        return p
    out, i, j = _empty(), 0, 0
    while i < n:
        if i < n - 1 and _angle_deg(p["dx"][i], p["dy"][i], p["dx"][i + 1], p["dy"][i + 1]) < t_dir \
                and p["dur"][i + 1] < t_dur:
            _merge(p, out, i, j)
            i, j = i + 2, j + 1
        else:
            _copy_saccade(p, out, i, j)
            i, j = i + 1, j + 1
    out["dur"].append(p["dur"][-1])
    return out


def _length_pass(p: dict, t_amp: float, t_dur: float) -> dict:
    n = len(p["x"])
    if n < 1:
        return p
    out, i, j = _empty(), 0, 0
    while i < n:
        short = p["rho"][i] < t_amp
        if i == n - 1:
            # The last short saccade is folded into the previous one. With a single saccade there is no previous
            # one (multimatch-gaze raises IndexError there); gazekit keeps it unchanged.
            if short and j >= 1 and n >= 2 and (p["dur"][-1] < t_dur or p["dur"][-2] < t_dur):
                vx, vy = p["dx"][-2] + p["dx"][-1], p["dy"][-2] + p["dy"][-1]
                out["dx"][j - 1], out["dy"][j - 1] = vx, vy
                out["theta"][j - 1], out["rho"][j - 1] = math.atan2(vy, vx), math.sqrt(vx**2 + vy**2)
                out["dur"].insert(j, p["dur"][i - 1])
                i, j = i + 1, j - 1
            else:
                _copy_saccade(p, out, i, j)
                i, j = i + 1, j + 1
        elif short and (p["dur"][i + 1] < t_dur or p["dur"][i] < t_dur):
            _merge(p, out, i, j)
            i, j = i + 2, j + 1
        else:
            _copy_saccade(p, out, i, j)
            i, j = i + 1, j + 1
    out["dur"].append(p["dur"][-1])
    return out


def simplify_scanpath(x, y, duration, *, t_dir: float = 45.0, t_dur: float = 300.0, t_amp: float = 0.0) -> dict:
    """MultiMatch simplification of one scanpath (units: pixels, degrees, and the unit of ``duration``).

    Returns a dict of lists: saccade ``dx, dy, x, y, theta, rho`` and the fixation durations ``dur``.
    """
    path = _saccades(np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(duration, np.float64))
    prev = len(path["dur"])
    while True:
        path = _length_pass(_direction_pass(path, t_dir, t_dur), t_amp, t_dur)
        if len(path["dur"]) == prev:
            return path
        prev = len(path["dur"])


def _features(x, y, dur, lengths, simplify, t_dir, t_dur, t_amp):
    """Padded saccade features ``[B, S]`` (dx, dy, x, y, theta, rho, dur) and saccade counts."""
    b = x.shape[0]
    if not simplify:
        dx, dy = np.diff(x, axis=1), np.diff(y, axis=1)
        feats = {"dx": dx, "dy": dy, "x": x[:, :-1], "y": y[:, :-1], "theta": np.arctan2(dy, dx),
                 "rho": np.sqrt(dx**2 + dy**2), "dur": dur[:, :-1]}
        return feats, np.maximum(lengths - 1, 0)
    paths = [simplify_scanpath(x[i, :n], y[i, :n], dur[i, :n], t_dir=t_dir, t_dur=t_dur, t_amp=t_amp)
             if n >= 3 else _empty() for i, n in enumerate(lengths)]
    counts = np.array([len(p["x"]) for p in paths], dtype=np.int64)
    s = max(int(counts.max(initial=0)), 1)
    feats = {}
    for key in (*_SAC_KEYS, "dur"):
        arr = np.zeros((b, s))
        for i, p in enumerate(paths):
            values = p[key][: counts[i]]
            arr[i, : len(values)] = values
        feats[key] = arr
    return feats, counts


def _median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row medians of the first ``counts[b]`` entries (numpy's definition: mean of the two middle values);
    NaN where one of them is NaN (e.g. absent durations)."""
    valid = np.arange(values.shape[1])[None] < counts[:, None]
    has_nan = (np.isnan(values) & valid).any(axis=1)
    padded_values = np.where(valid & ~np.isnan(values), values, np.inf)
    s = np.sort(padded_values, axis=1)
    lo = np.clip((counts - 1) // 2, 0, None)
    hi = np.clip(counts // 2, 0, values.shape[1] - 1)
    rows = np.arange(values.shape[0])
    return np.where(has_nan, np.nan, (s[rows, lo] + s[rows, hi]) / 2)


def _hat_pad(x, y, lengths):
    """IRL/HAT convention: coordinates as float32, scanpaths shorter than 3 padded with (1, 1) fixations."""
    b, length = x.shape
    width = max(length, 3)
    px, py = np.ones((b, width)), np.ones((b, width))
    px[:, :length] = x.astype(np.float32).astype(np.float64)
    py[:, :length] = y.astype(np.float32).astype(np.float64)
    short = lengths < 3
    fill = np.arange(width)[None] >= lengths[:, None]
    px = np.where(fill & short[:, None], 1.0, px)
    py = np.where(fill & short[:, None], 1.0, py)
    return px, py, np.ones((b, width)), np.where(short, 3, lengths)


_PAIRS_PER_CHUNK = 256
_CHUNK_CELLS = 4_000_000


def _dijkstra_path(ax, ay, bx, by) -> np.ndarray:
    """Alignment path (flat cell indices) found by scipy's Dijkstra on MultiMatch's directed graph, with edges
    listed per node in the order right, down, diagonal (as the toolbox builds it), so that among equal-cost paths
    the same one is returned."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n, m = len(ax), len(bx)
    cost = np.sqrt(np.abs(ax[:, None] - bx[None, :]) ** 2 + np.abs(ay[:, None] - by[None, :]) ** 2)
    node = np.arange(n * m).reshape(n, m)
    src, dst, w = [], [], []
    for i in range(n):
        for j in range(m):
            moves = ([(i, j + 1), (i + 1, j), (i + 1, j + 1)] if i < n - 1 and j < m - 1 else
                     [(i, j + 1)] if i == n - 1 and j < m - 1 else [(i + 1, j)] if j == m - 1 and i < n - 1 else [])
            for a, c in moves:
                src.append(node[i, j])
                dst.append(node[a, c])
                w.append(cost[a, c])
    src.append(n * m - 1)
    dst.append(n * m - 1)
    w.append(0.0)
    graph = coo_matrix((np.asarray(w), (np.asarray(src), np.asarray(dst))), shape=(n * m, n * m)).tocsr()
    _, pred = dijkstra(graph, directed=True, indices=0, return_predecessors=True)
    path, cur = [], n * m - 1
    while cur >= 0:
        path.append(cur)
        cur = pred[cur]
    return np.asarray(path[::-1], dtype=np.int64)


def _score_chunk(fa: dict, fc: dict, na: np.ndarray, nc: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """The five MultiMatch scores ``[B, 5]`` for pairs of saccade feature arrays (``[B, S]`` each)."""
    big_n, big_m = int(na.max()), int(nc.max())
    fa = {k: v[:, :big_n] for k, v in fa.items()}
    fc = {k: v[:, :big_m] for k, v in fc.items()}
    rows_p, cols_p, plen, tied = min_cost_path_vectors(
        np.ascontiguousarray(fa["dx"].T), np.ascontiguousarray(fa["dy"].T), np.ascontiguousarray(fc["dx"].T),
        np.ascontiguousarray(fc["dy"].T), na, nc)
    for b in np.flatnonzero(tied):
        # Several alignments cost the same: take the one the reference's Dijkstra search returns.
        path = _dijkstra_path(fa["dx"][b, :na[b]], fa["dy"][b, :na[b]], fc["dx"][b, :nc[b]], fc["dy"][b, :nc[b]])
        rows_p[b], cols_p[b], plen[b] = -1, -1, len(path)
        rows_p[b, :len(path)], cols_p[b, :len(path)] = path // nc[b], path % nc[b]
    r = np.arange(len(na))[:, None]
    ri, ci = np.maximum(rows_p, 0), np.maximum(cols_p, 0)
    along_vec = np.sqrt((fa["dx"][r, ri] - fc["dx"][r, ci]) ** 2 + (fa["dy"][r, ri] - fc["dy"][r, ci]) ** 2)
    t1, t2 = fa["theta"][r, ri], fc["theta"][r, ci]
    t1 = np.where(t1 < 0, math.pi + (math.pi + t1), t1)  # angles to [0, 2 pi)
    t2 = np.where(t2 < 0, math.pi + (math.pi + t2), t2)
    ang = np.abs(t1 - t2)
    ang = np.where(ang > math.pi, 2 * math.pi - ang, ang)
    lng = np.abs(fa["rho"][r, ri] - fc["rho"][r, ci])
    pos = np.sqrt((fa["x"][r, ri] - fc["x"][r, ci]) ** 2 + (fa["y"][r, ri] - fc["y"][r, ci]) ** 2)
    d1, d2 = fa["dur"][r, ri], fc["dur"][r, ci]
    with np.errstate(invalid="ignore", divide="ignore"):
        dur = np.abs(d1 - d2) / np.abs(np.maximum(d1, d2))
    return np.stack([
        1 - _median(along_vec, plen) / (2 * dg),
        1 - _median(ang, plen) / math.pi,
        1 - _median(lng, plen) / dg,
        1 - _median(pos, plen) / dg,
        1 - _median(dur, plen),
    ], axis=1)


@register_pair_metric("multimatch", metric_class="MultiMatch",
                      higher_is_better=True, outputs=MULTIMATCH_DIMENSIONS, needs=("image_size",),
                      description="MultiMatch vector/direction/length/position/duration similarity (1 = identical)")
def multimatch(pred: Scanpaths, target: Scanpaths, *, screen_size=None, simplify: bool = False,
               t_dir: float = 45.0, t_dur: float = 300.0, t_amp: float | None = None,
               padding: str = "none") -> Tensor:
    """MultiMatch similarity of ``pred[i]`` and ``target[i]`` on five dimensions.

    Args:
        pred, target: batches of equal size; positions in pixels, durations in ms.
        screen_size: ``(width, height)`` in pixels used for normalisation (or ``[B, 2]``); default: the
            scanpaths' ``image_size`` (pred and target must agree).
        simplify: scanpath simplification ("grouping") before alignment.
        t_dir: direction threshold in degrees (simplification).
        t_dur: fixation-duration threshold in ms (simplification; multimatch-gaze takes seconds).
        t_amp: amplitude threshold in pixels (simplification); default 10% of the screen diagonal,
            the toolbox's recommendation.
        padding: ``"none"`` (published definition: NaN for scanpaths shorter than 3 fixations) or ``"hat"``
            (IRL/HAT: float32 coordinates, short scanpaths padded with fixations at (1, 1), durations ignored;
            the duration column is NaN because HAT reports four dimensions).
    Returns:
        ``[B, 5]`` float64 columns ``vector, direction, length, position, duration`` in [0, 1]; NaN where a
        scanpath has fewer than 3 fixations (``padding="none"``) or no durations (duration column only).
    """
    check_pair(pred, target, "multimatch")
    check_choice("multimatch", "padding", padding, ("none", "hat"))
    size = resolve_size(pred, target, screen_size, "multimatch")
    diag = np.sqrt(size[:, 0] ** 2 + size[:, 1] ** 2)
    a, c = padded(pred), padded(target)
    use_duration = padding == "none"
    if use_duration and simplify:
        for name, sp in (("pred", pred), ("target", target)):
            require_durations(sp, name, "multimatch (simplify=True)")
    if padding == "hat":
        ax, ay, ad, an = _hat_pad(a.x, a.y, a.lengths)
        cx, cy, cd, cn = _hat_pad(c.x, c.y, c.lengths)
    else:
        ax, ay, ad, an = a.x, a.y, a.duration, a.lengths
        cx, cy, cd, cn = c.x, c.y, c.duration, c.lengths
    _validate_thresholds(t_dir, t_dur, t_amp)
    b = len(target)
    out = np.full((b, 5), np.nan)
    valid = (an >= 3) & (cn >= 3)
    if not valid.any():
        return to_tensor(out, target)
    amp = 0.1 * diag if t_amp is None else np.full(b, float(t_amp))
    if simplify and np.unique(amp).size > 1:
        # thresholds depend on the screen: simplify groups of equal screens separately
        for value in np.unique(amp):
            rows = np.flatnonzero(amp == value)
            out[rows] = multimatch(pred[rows.tolist()], target[rows.tolist()], screen_size=size[rows],
                                   simplify=True, t_dir=t_dir, t_dur=t_dur, t_amp=float(value),
                                   padding=padding).numpy()
        return to_tensor(out, target)
    amp0 = float(amp[0]) if b else 0.0
    idx = np.flatnonzero(valid)
    fa, na = _features(ax[idx], ay[idx], ad[idx], an[idx], simplify, t_dir, t_dur, amp0)
    fc, nc = _features(cx[idx], cy[idx], cd[idx], cn[idx], simplify, t_dir, t_dur, amp0)
    res = np.empty((len(idx), 5))
    # Pairs sorted by size and aligned in chunks, each padded only to its own longest scanpaths.
    longest = np.maximum(na, nc)
    order = np.argsort(longest, kind="stable")
    start = 0
    while start < len(order):
        # the DP table of a chunk is (2 S) x (S + 1) x pairs floats: bound it (~32 MB) for very long scanpaths
        end = min(start + _PAIRS_PER_CHUNK, len(order))
        size = int(longest[order[end - 1]])
        end = start + max(1, min(end - start, _CHUNK_CELLS // max(2 * size * (size + 1), 1)))
        rows = order[start:end]
        start = end
        res[rows] = _score_chunk({k: v[rows] for k, v in fa.items()}, {k: v[rows] for k, v in fc.items()},
                                 na[rows], nc[rows], diag[idx][rows])
    if not use_duration:
        res[:, 4] = np.nan
    out[idx] = res
    return to_tensor(out, target)


def _validate_thresholds(t_dir, t_dur, t_amp):
    for name, v in (("t_dir", t_dir), ("t_dur", t_dur), ("t_amp", 0.0 if t_amp is None else t_amp)):
        if not (isinstance(v, (int, float)) and v >= 0):
            raise InvalidInputError(f"multimatch: {name} must be a non-negative number, got {v!r}")
