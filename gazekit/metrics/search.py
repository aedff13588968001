"""torchmetrics ``Metric`` classes for visual-search metrics (definitions in
:mod:`gazekit.metrics.functional.search`). States are sums and counts (``dist_reduce_fx="sum"``), so they sync
across DDP ranks; curves are pooled over all scanpaths (the per-task average of HAT is available in the
functional :func:`~gazekit.metrics.functional.search.target_fixation_curve` with ``by_task=True``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from gazekit.metrics.functional import search as F
from gazekit.metrics.saliency import _BASE_KWARGS, MapMean
from gazekit.scanpaths import Scanpaths

__all__ = ["FixationsToTarget", "ScanpathRatio", "TargetFixationProbability"]


class TargetFixationProbability(Metric):
    """TFP curve, TFP-AUC (sum of the curve, HAT) and target-found rate over every scanpath seen.

    ``update(scanpaths)``; ``compute()`` -> ``{"curve": [max_steps], "tfp_auc": ..., "found_rate": ...}``.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, max_steps: int = 6, *, inclusive: bool = False, **kwargs):
        super().__init__(**{k: kwargs.pop(k) for k in list(kwargs) if k in _BASE_KWARGS})
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        self.max_steps, self.inclusive = int(max_steps), inclusive
        self.add_state("hits", default=torch.zeros(self.max_steps, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("found", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scanpaths: Scanpaths) -> None:
        steps = F.steps_to_target(scanpaths, inclusive=self.inclusive).to(self.hits.device)
        ks = torch.arange(1, self.max_steps + 1, dtype=torch.float64, device=self.hits.device)
        self.hits += (steps[:, None] <= ks[None]).sum(dim=0).to(torch.float64)
        self.found += torch.isfinite(steps).sum().to(torch.float64)
        self.total += steps.numel()

    def compute(self) -> dict[str, Tensor]:
        curve = self.hits / self.total
        return {"curve": curve, "tfp_auc": curve.sum(), "found_rate": self.found / self.total}


class ScanpathRatio(MapMean):
    """Mean scanpath ratio over scanpaths that reach the target after at least one saccade. ``update(scanpaths)``."""

    def _values(self, scanpaths):
        return F.scanpath_ratio(scanpaths, **self.options)


class FixationsToTarget(MapMean):
    """Mean number of fixations to the target over scanpaths that find it (lower is better)."""

    higher_is_better = False

    def _values(self, scanpaths):
        return F.fixations_to_target(scanpaths, **self.options)
