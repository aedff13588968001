"""Score scanpath pairs across several processes (``gazekit score --devices N``).

Every process builds the same pair lists; :class:`ShardedPairScorer` scores one contiguous share of the pairs on
each rank and gathers the per-pair values, so every rank holds the full ``[P, K]`` table in the single-process
order. Means, per-group rows and KL histograms are then computed from the very same values as in one process: the
only possible difference is float rounding inside a metric whose chunks are padded differently (<= 1e-12 in the
tests). Sequence-score clusters, when fitted, are fitted image by image with the images split over the ranks.
The process group is any initialised :mod:`torch.distributed` group (gloo on CPU); ``gazekit score`` starts it with
Lightning Fabric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from gazekit.errors import GazekitError
from gazekit.metrics.pairing import Pairs, score_pairs
from gazekit.metrics.registry import PairMetricSpec
from gazekit.scanpaths import Scanpaths

__all__ = ["ShardedPairScorer", "shard_bounds"]


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous share of ``n`` items (sizes differ by at most one)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class ShardedPairScorer:
    """Drop-in replacement for :func:`~gazekit.metrics.pairing.score_pairs` that splits the pairs over the ranks
    of the default process group and returns the gathered ``[P, K]`` values on every rank.

    An error raised by the metric on any rank is re-raised on every rank (as :class:`GazekitError` when it was
    one), so no rank waits forever in the gather.
    """

    def __init__(self) -> None:
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("ShardedPairScorer needs an initialised torch.distributed process group")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def __call__(self, metric: str | PairMetricSpec, pred: Scanpaths, target: Scanpaths, pairs: Pairs, *,
                 options: dict | None = None, chunk_size: int = 4096,
                 progress: Callable[[int], None] | None = None) -> Tensor:

        start, stop = shard_bounds(len(pairs), self.rank, self.world_size)
        share = Pairs(pairs.pred_index[start:stop], pairs.target_index[start:stop], pairs.keys)
        parts = self._gather(lambda: score_pairs(metric, pred, target, share, options=options,
                                                 chunk_size=chunk_size, progress=progress))
        if progress is not None:  # the other ranks' pairs are done too
            progress(len(pairs) - (stop - start))
        return torch.cat(parts) if parts else torch.zeros(0, 1, dtype=torch.float64)

    def fit_clusters(self, human: Scanpaths, **kwargs):
        """:func:`~gazekit.metrics.functional.clusters.fit_clusters` with the images split over the ranks (every
        image is fitted independently, so the merged result is the single-process one); same on every rank."""

        from gazekit.metrics.functional.clusters import DEFAULT_KEY, fit_clusters, image_key

        key = kwargs.get("key", DEFAULT_KEY)
        keys = [image_key(human, i, key) for i in range(len(human))]
        mine = set(sorted(set(keys))[self.rank::self.world_size])
        subset = human[[i for i, k in enumerate(keys) if k in mine]]
        parts = self._gather(lambda: fit_clusters(subset, **kwargs))
        merged = {k: v for part in parts for k, v in part.clusters.items()}
        return replace(parts[0], clusters=dict(sorted(merged.items())),
                       meta={**parts[0].meta, "n_scanpaths": len(human)})

    def _gather(self, compute: Callable) -> list:
        """``compute()`` on every rank, gathered in rank order. An error on any rank is re-raised on every rank (a
        gazekit error with its own text, which ``evaluate`` reports as a skipped metric), so none waits forever."""
        import torch.distributed as dist

        try:
            result = compute()
        except Exception as err:  # noqa: BLE001  (sent to the other ranks, then re-raised below)
            result = _Failure(isinstance(err, GazekitError), str(err) if isinstance(err, GazekitError)
                              else f"{type(err).__name__}: {err}")
        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, result)
        failures = [part for part in parts if isinstance(part, _Failure)]
        if failures:
            if failures[0].gazekit:
                raise GazekitError(failures[0].message)
            raise RuntimeError(f"a rank failed: {failures[0].message}")
        return parts


@dataclass(frozen=True)
class _Failure:
    gazekit: bool
    message: str
