"""Pair predicted scanpaths with human scanpaths (same image and task) and score the pairs with any registered
pair metric.

A prediction is compared with every human scanpath recorded on the same image (and, where the predictions name
a task, the same task). Its score is the mean over those humans; a dataset score is the mean over predictions.
Predictions with no human on their image are counted in :attr:`Pairs.unmatched`, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.registry import PairMetricSpec, get_pair_metric
from gazekit.scanpaths import STRING_ATTRS, Scanpaths

__all__ = ["Pairs", "aggregate", "human_pairs", "metric_columns", "pair_scanpaths", "score_pairs"]

DEFAULT_KEYS = ("image", "task")


@dataclass
class Pairs:
    """Index pairs: row ``p`` scores ``pred[pred_index[p]]`` against ``target[target_index[p]]``.

    Attributes:
        keys: the attributes matched (e.g. ``("image", "task")``).
        unmatched: indices of predictions that found no partner.
    """

    pred_index: Tensor
    target_index: Tensor
    keys: tuple[str, ...]
    unmatched: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.pred_index.numel())


def _check_keys(keys: Sequence[str]) -> tuple[str, ...]:
    keys = tuple(keys)
    bad = [k for k in keys if k not in STRING_ATTRS]
    if bad or not keys:
        raise InvalidInputError(f"pairing keys must be a non-empty subset of {list(STRING_ATTRS)}, got {list(keys)}")
    return keys


def _key_rows(sp: Scanpaths, keys: tuple[str, ...]) -> list[tuple]:
    cols = [getattr(sp, k) for k in keys]
    return list(zip(*cols)) if cols else [()] * len(sp)


def pair_scanpaths(pred: Scanpaths, human: Scanpaths, *, keys: Sequence[str] = DEFAULT_KEYS) -> Pairs:
    """All (prediction, human) pairs that agree on ``keys``. A key that is empty ("") on every prediction (e.g. a
    free-viewing model that names no task) is not matched on."""
    keys = tuple(k for k in _check_keys(keys) if any(getattr(pred, k)))
    if not keys:
        raise InvalidInputError("predictions name no image (the 'image' attribute is empty everywhere): cannot pair "
                                "them with human scanpaths")
    groups: dict[tuple, list[int]] = {}
    for j, key in enumerate(_key_rows(human, keys)):
        groups.setdefault(key, []).append(j)
    pi, ti, unmatched = [], [], []
    for i, key in enumerate(_key_rows(pred, keys)):
        partners = groups.get(key)
        if not partners:
            unmatched.append(i)
            continue
        pi.extend([i] * len(partners))
        ti.extend(partners)
    return Pairs(torch.tensor(pi, dtype=torch.int64), torch.tensor(ti, dtype=torch.int64), keys, unmatched)


def human_pairs(human: Scanpaths, *, keys: Sequence[str] = DEFAULT_KEYS, by_subject: bool = True) -> Pairs:
    """Leave-one-subject-out pairs: every ordered pair of scanpaths of *different* subjects that agree on ``keys``
    (no self-comparison; HAT/IRL's maintainers exclude it, see Scanpath_Prediction issue #24). Scanpaths with
    an empty subject are treated as distinct observers. ``by_subject=False`` pairs every two *different
    scanpaths* instead (e.g. several samples of one model)."""
    keys = _check_keys(keys)
    groups: dict[tuple, list[int]] = {}
    for j, key in enumerate(_key_rows(human, keys)):
        groups.setdefault(key, []).append(j)
    subjects = human.subject
    pi, ti, unmatched = [], [], []
    for members in groups.values():
        arr = np.asarray(members)
        subj = np.asarray([(subjects[m] if by_subject else "") or f"\0{m}" for m in members])
        same = subj[:, None] == subj[None, :]
        a, b = np.nonzero(~same)
        pi.append(arr[a])
        ti.append(arr[b])
        lonely = arr[~(~same).any(axis=1)]
        unmatched.extend(int(v) for v in lonely)
    cat = (lambda parts: torch.from_numpy(np.concatenate(parts)).long() if parts else torch.zeros(0, dtype=torch.int64))
    pred_index, target_index = cat(pi), cat(ti)
    order = torch.argsort(pred_index, stable=True)
    return Pairs(pred_index[order], target_index[order], keys, sorted(unmatched))


def metric_columns(spec: PairMetricSpec) -> list[str]:
    """Column names of a metric's output: ``name`` or ``name/output`` for multi-output metrics."""
    return [f"{spec.name}/{o}" for o in spec.outputs] if spec.outputs else [spec.name]


def score_pairs(metric: str | PairMetricSpec, pred: Scanpaths, target: Scanpaths, pairs: Pairs, *,
                options: dict | None = None, chunk_size: int = 4096,
                progress: Callable[[int], None] | None = None) -> Tensor:
    """Run a registered pair metric on every pair, in chunks. Returns ``[P, K]`` float64 (``K = 1`` for
    single-valued metrics). ``progress(n)`` is called with the number of pairs done after each chunk."""
    spec = get_pair_metric(metric) if isinstance(metric, str) else metric
    opts = {**spec.defaults, **(options or {})}
    k = max(len(spec.outputs), 1)
    out = torch.empty(len(pairs), k, dtype=torch.float64)
    for start in range(0, len(pairs), chunk_size):
        stop = min(start + chunk_size, len(pairs))
        values = spec.fn(pred[pairs.pred_index[start:stop]], target[pairs.target_index[start:stop]], **opts)
        values = torch.as_tensor(values, dtype=torch.float64).reshape(stop - start, -1)
        if values.shape[1] != k:
            raise InvalidInputError(f"metric {spec.name!r} returned {values.shape[1]} columns, expected {k}")
        out[start:stop] = values
        if progress is not None:
            progress(stop - start)
    return out


def _nanmean_rows(values: Tensor, index: Tensor, n: int) -> Tensor:
    """Mean of ``values`` rows grouped by ``index`` (0..n-1), ignoring NaN; NaN for empty groups."""
    k = values.shape[1]
    ok = ~torch.isnan(values)
    total = torch.zeros(n, k, dtype=torch.float64).index_add_(0, index, torch.where(ok, values, 0.0))
    count = torch.zeros(n, k, dtype=torch.float64).index_add_(0, index, ok.double())
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def aggregate(values: Tensor, pairs: Pairs, pred: Scanpaths, *, by: str | None = None) -> dict[str, Tensor]:
    """Average pair scores: first per prediction (mean over its human partners), then over predictions.

    Args:
        by: ``None`` (one overall row, key ``"all"``) or ``"image"``, ``"subject"``, ``"task"`` (one row per
            value of that attribute of the predictions).
    Returns:
        group name -> ``[K]`` mean scores (NaN-ignoring).
    """
    per_pred = _nanmean_rows(values, pairs.pred_index, len(pred))
    matched = torch.zeros(len(pred), dtype=torch.bool)
    matched[pairs.pred_index] = True
    if by is None:
        labels = ["all"] * len(pred)
    elif by in ("image", "subject", "task"):
        labels = getattr(pred, by)
    else:
        raise InvalidInputError(f"by must be None, 'image', 'subject' or 'task', got {by!r}")
    names = sorted({labels[i] for i in range(len(pred)) if matched[i]})
    index = {name: g for g, name in enumerate(names)}
    rows = [i for i in range(len(pred)) if matched[i]]
    if not rows:
        return {}
    group = torch.tensor([index[labels[i]] for i in rows], dtype=torch.int64)
    means = _nanmean_rows(per_pred[rows], group, len(names))
    return {name: means[g] for name, g in index.items()}
