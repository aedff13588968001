"""torchmetrics ``Metric`` classes comparing fixation-duration distributions (definitions in
:mod:`gazekit.metrics.functional.duration`). The durations themselves are the state (``dist_reduce_fx="cat"``),
because KS and likelihood fits need the whole samples; they sync across DDP ranks by concatenation.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gazekit.metrics.functional import duration as F
from gazekit.metrics.saliency import _BASE_KWARGS
from gazekit.scanpaths import Scanpaths

__all__ = ["DurationKS", "DurationLogLikelihood", "DurationWasserstein"]


class _DurationPair(Metric):
    full_state_update = False
    is_differentiable = False

    def __init__(self, **kwargs):
        super().__init__(**{k: kwargs.pop(k) for k in list(kwargs) if k in _BASE_KWARGS})
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        self.add_state("pred_durations", default=[], dist_reduce_fx="cat")
        self.add_state("target_durations", default=[], dist_reduce_fx="cat")

    def update(self, pred: Scanpaths | Tensor, target: Scanpaths | Tensor) -> None:
        self.pred_durations.append(F.pooled_durations(pred, "pred"))
        self.target_durations.append(F.pooled_durations(target, "target"))

    def _samples(self) -> tuple[Tensor, Tensor]:
        return dim_zero_cat(self.pred_durations), dim_zero_cat(self.target_durations)


class DurationKS(_DurationPair):
    """Two-sample KS statistic between predicted and human durations (lower is better)."""

    higher_is_better = False

    def compute(self) -> Tensor:
        return torch.tensor(F.duration_ks(*self._samples()), dtype=torch.float64)


class DurationWasserstein(_DurationPair):
    """Wasserstein-1 distance (ms) between predicted and human durations (lower is better)."""

    higher_is_better = False

    def compute(self) -> Tensor:
        return torch.tensor(F.duration_wasserstein(*self._samples()), dtype=torch.float64)


class DurationLogLikelihood(_DurationPair):
    """Mean log-likelihood (nats) of predicted durations under a log-normal fitted to the human durations."""

    higher_is_better = True

    def compute(self) -> Tensor:
        return torch.tensor(F.duration_log_likelihood(*self._samples()), dtype=torch.float64)
