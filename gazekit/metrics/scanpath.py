"""torchmetrics ``Metric`` classes for scanpath similarity, generated from the registered pair metrics
(:mod:`gazekit.metrics.registry`; one class per ``metric_class=`` on a ``@register_pair_metric``).

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

from gazekit.metrics._generate import generate_metric_classes
from gazekit.scanpaths import Scanpaths


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
        return self._fn(pred, target, **{**self.spec.defaults, **self.options})

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


# one class per pair metric registered with metric_class=... (MultiMatch, ScanMatch, SequenceScore, DTW, ...)
__all__ = sorted(generate_metric_classes("pair", _PairMean, globals()))  # noqa: PLE0605
