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

__all__ = ["EpochMeans"]


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
