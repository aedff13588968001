"""torchmetrics ``Metric`` classes for scanpath similarity, on top of the functional implementations.

Each class accumulates summed states (``sum`` and ``count`` of the defined pair scores, declared with
``add_state(dist_reduce_fx="sum")`` so they sync across DDP ranks) and ``compute()`` returns the mean over all
pairs seen. Pairs where the metric is undefined (NaN, e.g. MultiMatch on scanpaths shorter than 3 fixations) are
skipped and counted in ``num_undefined``.

>>> metric = MultiMatch(screen_size=(800, 600))
>>> metric.update(pred_scanpaths, human_scanpaths)   # row i against row i
>>> metric.compute()                                 # {"vector": ..., "direction": ..., ...}
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from gazekit.metrics.functional.fdiss import fdiss
from gazekit.metrics.functional.geometric import (
    dtw,
    eyenalysis,
    frechet,
    hausdorff,
    scaled_time_delay_embedding,
    time_delay_embedding,
)
from gazekit.metrics.functional.multimatch import MULTIMATCH_DIMENSIONS, multimatch
from gazekit.metrics.functional.scanmatch import scanmatch
from gazekit.metrics.functional.sequence import edit_distance, semantic_sequence_score, sequence_score
from gazekit.scanpaths import Scanpaths

__all__ = [
    "DTW",
    "FDISS",
    "TDE",
    "EditDistance",
    "Eyenalysis",
    "Frechet",
    "Hausdorff",
    "MultiMatch",
    "ScaledTDE",
    "ScanMatch",
    "SemanticSequenceScore",
    "SequenceScore",
]


class _PairMean(Metric):
    """Mean of a pair metric over all (pred, target) pairs passed to ``update``."""

    full_state_update = False
    outputs: tuple[str, ...] = ()

    def __init__(self, **kwargs):
        metric_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _METRIC_BASE_KWARGS}
        super().__init__(**metric_kwargs)
        self.options = kwargs
        width = max(len(self.outputs), 1)
        self.add_state("total", default=torch.zeros(width, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(width, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_pairs", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _score(self, pred: Scanpaths, target: Scanpaths) -> Tensor:
        raise NotImplementedError

    def update(self, pred: Scanpaths, target: Scanpaths) -> None:
        values = self._score(pred, target).to(self.total.device, torch.float64)
        values = values.reshape(values.shape[0], -1)
        defined = ~torch.isnan(values)
        self.total += torch.where(defined, values, torch.zeros_like(values)).sum(dim=0)
        self.count += defined.sum(dim=0).to(torch.float64)
        self.num_pairs += values.shape[0]

    @property
    def num_undefined(self) -> Tensor:
        return self.num_pairs - self.count

    def compute(self):
        mean = self.total / self.count
        if self.outputs:
            return {name: mean[k] for k, name in enumerate(self.outputs)}
        return mean[0]


_METRIC_BASE_KWARGS = ("compute_on_cpu", "dist_sync_on_step", "process_group", "dist_sync_fn",
                       "distributed_available_fn", "sync_on_compute", "compute_with_cache")


class MultiMatch(_PairMean):
    """Mean MultiMatch similarity (vector, direction, length, position, duration); options as
    :func:`gazekit.metrics.functional.multimatch` (``screen_size``, ``simplify``, ``t_dir``, ``t_dur``, ``t_amp``,
    ``padding``)."""

    higher_is_better = True
    is_differentiable = False
    outputs = MULTIMATCH_DIMENSIONS

    def _score(self, pred, target):
        return multimatch(pred, target, **self.options)


class ScanMatch(_PairMean):
    """Mean ScanMatch score; options as :func:`gazekit.metrics.functional.scanmatch` (``image_size``,
    ``x_bins=16``, ``y_bins=12``, ``threshold=3.5``, ``temporal_bin`` ms: 0 = without duration, 50 = with)."""

    higher_is_better = True
    is_differentiable = False

    def _score(self, pred, target):
        return scanmatch(pred, target, **self.options)


class SequenceScore(_PairMean):
    """Mean sequence score; options as :func:`gazekit.metrics.functional.sequence_score` (``clusters``: a frozen
    :class:`~gazekit.metrics.functional.clusters.SequenceClusters` or fixture path, ``truncate``,
    ``temporal_bin``)."""

    higher_is_better = True
    is_differentiable = False

    def _score(self, pred, target):
        return sequence_score(pred, target, **self.options)


class SemanticSequenceScore(_PairMean):
    """Mean semantic sequence score; options as :func:`gazekit.metrics.functional.semantic_sequence_score`."""

    higher_is_better = True
    is_differentiable = False

    def _score(self, pred, target):
        return semantic_sequence_score(pred, target, **self.options)


class EditDistance(_PairMean):
    """Mean string edit distance on an n x n grid (``grid=5``, ``normalize``, ``cells``); lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return edit_distance(pred, target, **self.options)


class DTW(_PairMean):
    """Mean dynamic time warping distance in pixels (``step_pattern="symmetric1"``); lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return dtw(pred, target, **self.options)


class Frechet(_PairMean):
    """Mean discrete Fréchet distance in pixels; lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return frechet(pred, target, **self.options)


class Hausdorff(_PairMean):
    """Mean symmetric Hausdorff distance in pixels; lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return hausdorff(pred, target, **self.options)


class Eyenalysis(_PairMean):
    """Mean Eyenalysis distance in pixels; lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return eyenalysis(pred, target, **self.options)


class TDE(_PairMean):
    """Mean time-delay embedding distance in pixels (``k=3``, ``mode="mean"``); lower is better."""

    higher_is_better = False
    is_differentiable = False

    def _score(self, pred, target):
        return time_delay_embedding(pred, target, **self.options)


class ScaledTDE(_PairMean):
    """Mean scaled time-delay embedding similarity in (0, 1]; higher is better."""

    higher_is_better = True
    is_differentiable = False

    def _score(self, pred, target):
        return scaled_time_delay_embedding(pred, target, **self.options)


class FDISS(_PairMean):
    """Mean foveal-disc IoU scanpath score (``radius`` px or ``degrees`` x ppd); higher is better."""

    higher_is_better = True
    is_differentiable = False

    def _score(self, pred, target):
        return fdiss(pred, target, **self.options)
