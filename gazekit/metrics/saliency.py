"""torchmetrics ``Metric`` classes for the saliency / density map metrics, generated from the registered map
metrics (maths in :mod:`gazekit.metrics.functional.saliency`; one class per ``metric_class=``), and the human
ceiling :class:`HumanKDEInformationGain`.

Each class sums the per-map values and counts the maps (states declared with ``add_state(dist_reduce_fx="sum")``,
so they sync across DDP ranks); ``compute()`` is the mean over maps (image average). Maps where a metric is
undefined (no fixations) are skipped and counted in ``num_undefined``.

>>> nss = NSS()
>>> nss.update(saliency_maps, fixations)    # [B, H, W] maps, Scanpaths (one row per map) or (x, y) [B, N]
>>> nss.compute()
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric

from gazekit.metrics._generate import generate_metric_classes
from gazekit.metrics.functional.density import KDE_MIX, loso_kde_log_likelihood

__all__ = ["HumanKDEInformationGain", "MapMean"]  # and the generated classes (end of module)

_BASE_KWARGS = ("compute_on_cpu", "dist_sync_on_step", "process_group", "dist_sync_fn", "distributed_available_fn",
                "sync_on_compute", "compute_with_cache")


class MapMean(Metric):
    """Mean over maps (or scanpaths) of a per-sample functional metric; subclasses set ``_fn``."""

    full_state_update = False
    higher_is_better: bool | None = True
    is_differentiable = False

    def __init__(self, **kwargs):
        base = {k: kwargs.pop(k) for k in list(kwargs) if k in _BASE_KWARGS}
        super().__init__(**base)
        self.options = kwargs
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_samples", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _values(self, *args) -> Tensor:  # generated classes call their registered function
        return self._fn(*args, **{**self.spec.defaults, **self.options})

    def update(self, *args) -> None:
        values = self._values(*args).to(self.total.device, torch.float64).reshape(-1)
        defined = ~torch.isnan(values)
        self.total += torch.where(defined, values, torch.zeros_like(values)).sum()
        self.count += defined.sum().to(torch.float64)
        self.num_samples += values.numel()

    def compute(self) -> Tensor:
        return self.total / self.count if self.count > 0 else torch.tensor(float("nan"), dtype=torch.float64)

    @property
    def num_undefined(self) -> Tensor:
        """How many samples had an undefined (NaN) value and were left out of the mean."""
        return self.num_samples - self.count


class HumanKDEInformationGain(Metric):
    """Human ceiling of the spatial information gain over a baseline, bits per fixation: the leave-one-subject-out
    KDE of :func:`gazekit.metrics.functional.density.loso_kde_log_likelihood`, summed over images (fixation
    weighted, as the free-viewing evaluator reports it). Options ``sigma_px`` (required), ``cell``, ``mix``.
    ``update(scanpaths_of_one_image, baseline_log_density)``."""

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, sigma_px: float, cell: int = 4, mix: float = KDE_MIX, **kwargs):
        super().__init__(**{k: v for k, v in kwargs.items() if k in _BASE_KWARGS})
        self.sigma_px, self.cell, self.mix = sigma_px, cell, mix
        for name in ("ll_human", "ll_base", "count"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scanpaths, baseline_log_density: Tensor) -> None:
        ll_human, ll_base, n = loso_kde_log_likelihood(scanpaths, baseline_log_density, self.sigma_px, cell=self.cell,
                                                       mix=self.mix)
        self.ll_human += ll_human
        self.ll_base += ll_base
        self.count += n

    def compute(self) -> Tensor:
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return (self.ll_human - self.ll_base) / self.count / math.log(2.0)


# one class per map metric registered with metric_class=... (NSS, CC, SIM, KLD, AUCJudd, AUC, ShuffledAUC, ...)
__all__ += sorted(generate_metric_classes("map", MapMean, globals()))
