"""torchmetrics ``Metric`` classes for the saliency / density map metrics (maths in
:mod:`gazekit.metrics.functional.saliency`).

Each class sums the per-map values and counts the maps (states declared with ``add_state(dist_reduce_fx="sum")``,
so they sync across DDP ranks); ``compute()`` is the mean over maps (image average). Maps where a metric is
undefined (no fixations) are skipped and counted in ``num_undefined``.

>>> nss = NSS()
>>> nss.update(saliency_maps, fixations)    # [B, H, W] maps, Scanpaths (one row per map) or (x, y) [B, N]
>>> nss.compute()
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from gazekit.metrics.functional import saliency as F
from gazekit.metrics.functional.density import KDE_MIX, loso_kde_log_likelihood

__all__ = [
    "AUC",
    "CC",
    "KLD",
    "NSS",
    "SIM",
    "AUCBorji",
    "AUCJudd",
    "HumanKDEInformationGain",
    "InformationGain",
    "LogLikelihood",
    "MapMean",
    "ShuffledAUC",
]

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

    def _values(self, *args) -> Tensor:
        raise NotImplementedError

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


class NSS(MapMean):
    """Normalised scanpath saliency (options: ``ddof``, ``reduction``). ``update(saliency, fixations)``."""

    def _values(self, saliency, fixations):
        return F.nss(saliency, fixations, **self.options)


class CC(MapMean):
    """Pearson correlation of two maps. ``update(saliency, target_map)``."""

    def _values(self, saliency, target):
        return F.cc(saliency, target)


class SIM(MapMean):
    """Histogram intersection of two maps as densities. ``update(saliency, target_map)``."""

    def _values(self, saliency, target):
        return F.sim(saliency, target)


class KLD(MapMean):
    """KL divergence of the model map from the empirical map (options: ``eps``, ``reverse``); lower is better."""

    higher_is_better = False

    def _values(self, saliency, target):
        return F.kld(saliency, target, **self.options)


class AUCJudd(MapMean):
    """AUC-Judd (option ``variant``: "judd", "mit", "zanca"). ``update(saliency, fixations)``."""

    def _values(self, saliency, fixations):
        return F.auc_judd(saliency, fixations, **self.options)


class AUC(MapMean):
    """All-threshold AUC (option ``negatives``: "all" or "unfixated"). ``update(saliency, fixations)``."""

    def _values(self, saliency, fixations):
        return F.auc(saliency, fixations, **self.options)


class ShuffledAUC(MapMean):
    """Shuffled AUC. ``update(saliency, fixations, other_fixations)`` (negatives: fixations on other images)."""

    def _values(self, saliency, fixations, other_fixations):
        return F.shuffled_auc(saliency, fixations, other_fixations)


class AUCBorji(MapMean):
    """AUC-Borji with random negatives (options ``n_splits``, ``step``, ``seed``)."""

    def _values(self, saliency, fixations):
        return F.auc_borji(saliency, fixations, **self.options)


class LogLikelihood(MapMean):
    """Mean log-likelihood per map (options ``unit``, ``check_normalized``). ``update(log_density, fixations)``."""

    def _values(self, log_density, fixations):
        return F.log_likelihood(log_density, fixations, **self.options)


class InformationGain(MapMean):
    """Information gain in bits over ``baseline`` ("uniform", "centre_bias" or a log-density tensor).
    ``update(log_density, fixations)``."""

    def _values(self, log_density, fixations):
        return F.information_gain(log_density, fixations, **self.options)


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
        return (self.ll_human - self.ll_base) / self.count / F._LN2
