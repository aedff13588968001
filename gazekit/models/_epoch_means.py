"""Validation/test metrics that are means over a whole epoch and every process, reduced as sums and counts.

Lightning's epoch value of ``self.log(name, batch_mean, batch_size=b, sync_dist=True)`` is a batch-size-weighted
mean of per-batch means on each process, and then the plain mean of the per-process results: not the mean over
all items whenever batches or processes hold different numbers of the items averaged (fixations, searches).
:class:`EpochMeans` keeps, per name, a float64 sum and a count; at the epoch end one ``all_reduce`` sums both over
the processes, so the result equals one process's over the same items up to float64 summation order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["EpochMeans", "ValTestEpochMeans"]


class EpochMeans:
    """Sums and counts of the named quantities over one epoch.

    Args:
        names: every quantity, in a fixed order (every process reduces the same vector, including the names it
            saw no item of).
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(len(self.names), dtype=torch.float64)
        self.counts = torch.zeros(len(self.names), dtype=torch.float64)

    def add(self, name: str, total, count) -> None:
        """Add ``total`` (a sum of ``count`` items) to ``name``."""
        i = self.names.index(name)
        self.sums[i] += float(total)
        self.counts[i] += float(count)

    def add_values(self, name: str, values: Tensor) -> None:
        """Add every element of ``values`` (e.g. the per-fixation log-likelihoods of a batch)."""
        self.add(name, values.detach().double().sum(), values.numel())

    def compute(self, device: torch.device | str = "cpu") -> dict[str, float]:
        """``{name: sum / count}`` over every process of the default group (NaN where the count is 0), then
        reset. Every process must call this (it is a collective when a process group is initialised)."""
        both = torch.stack([self.sums, self.counts]).to(device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.SUM)
        sums, counts = both.cpu().tolist()
        self.reset()
        return {n: (s / c if c > 0 else math.nan) for n, s, c in zip(self.names, sums, counts)}

    def log(self, module, prefix: str, prog_bar: Sequence[str] = ()) -> dict[str, float]:
        """Compute and ``module.log`` each mean as ``f"{prefix}/{name}"`` (skipping names without items); returns
        every mean. The value is already the same on every process: ``reduce_fx="max"`` with ``sync_dist`` keeps
        it exactly (a mean of equal float32 values may round) and keeps Lightning from asking for a sync."""
        means = self.compute(module.device)
        for name, value in means.items():
            if not math.isnan(value):
                module.log(f"{prefix}/{name}", value, sync_dist=True, reduce_fx="max", prog_bar=name in prog_bar)
        return means


class ValTestEpochMeans:
    """Lightning hooks that log ``val/NAME`` and ``test/NAME`` as means over every item of the epoch on every rank.

    A mixin, listed before ``pl.LightningModule`` in the bases. The class names its quantities in
    ``epoch_mean_names`` (and those shown in the progress bar in ``epoch_mean_prog_bar``); its validation and test
    steps add their items to ``self._epoch_means(stage)`` (an :class:`EpochMeans`). Each epoch starts the sums
    afresh and ends by logging the means, which are also kept in ``self.epoch_metrics[stage]``.
    """

    epoch_mean_names: Sequence[str] = ()
    epoch_mean_prog_bar: Sequence[str] = ()

    def _epoch_means(self, stage: str) -> EpochMeans:
        if not hasattr(self, "_means"):
            self._means, self.epoch_metrics = {}, {}
        return self._means.setdefault(stage, EpochMeans(self.epoch_mean_names))

    def derived_epoch_means(self, means: dict[str, float]) -> dict[str, float]:
        """Quantities computed from the epoch's means (``{name: value}``), logged and kept with them; none here
        (a class whose loss combines means of different items, such as OAT's, returns it)."""
        return {}

    def _log_epoch_means(self, stage: str) -> None:
        means = self._epoch_means(stage).log(self, stage, prog_bar=self.epoch_mean_prog_bar)
        for name, value in self.derived_epoch_means(means).items():  # equal on every rank: computed from the sums
            self.log(f"{stage}/{name}", value, sync_dist=True, reduce_fx="max",
                     prog_bar=name in self.epoch_mean_prog_bar)
            means[name] = value
        self.epoch_metrics[stage] = means

    def on_validation_epoch_start(self) -> None:
        """Start the epoch's sums afresh."""
        self._epoch_means("val").reset()

    def on_validation_epoch_end(self) -> None:
        """Log ``val/NAME`` for every name in ``epoch_mean_names``: its mean over every item of every rank."""
        self._log_epoch_means("val")

    def on_test_epoch_start(self) -> None:
        """Start the epoch's sums afresh."""
        self._epoch_means("test").reset()

    def on_test_epoch_end(self) -> None:
        """Log ``test/NAME`` for every name in ``epoch_mean_names``: its mean over every item of every rank."""
        self._log_epoch_means("test")
