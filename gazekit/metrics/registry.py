"""Registry of scanpath-pair metrics, so ``gazekit score``, protocols and the human baseline can run any of them
by name.

A pair metric is ``fn(pred: Scanpaths, target: Scanpaths, **options) -> Tensor``: row ``i`` of the result scores
``pred[i]`` against ``target[i]``; shape ``[B]`` for one value per pair or ``[B, K]`` with ``outputs`` naming the K
columns (e.g. MultiMatch's five dimensions). Pairs where the metric is undefined give NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gazekit.errors import UnknownNameError


@dataclass(frozen=True)
class PairMetricSpec:
    name: str
    fn: Callable
    higher_is_better: bool
    outputs: tuple[str, ...] = ()  # column names when the metric returns [B, K]
    needs: tuple[str, ...] = ()  # e.g. ("durations",), ("image_size",)
    description: str = ""
    defaults: dict = field(default_factory=dict)


_PAIR_METRICS: dict[str, PairMetricSpec] = {}


def register_pair_metric(name: str, *, higher_is_better: bool, outputs: tuple[str, ...] = (),
                         needs: tuple[str, ...] = (), description: str = "", **defaults):
    """Decorator registering ``fn(pred, target, **options) -> Tensor`` as the pair metric ``name``; ``defaults`` are
    options passed on every call.
    """
    def deco(fn):
        _PAIR_METRICS[name] = PairMetricSpec(name, fn, higher_is_better, tuple(outputs), tuple(needs), description,
                                             dict(defaults))
        return fn

    return deco


def _load() -> None:
    import gazekit.metrics.functional  # noqa: F401  (registers everything)


def get_pair_metric(name: str) -> PairMetricSpec:
    """The spec of the pair metric ``name`` (unknown names are refused with close matches)."""
    _load()
    if name not in _PAIR_METRICS:
        raise UnknownNameError("metric", name, list(_PAIR_METRICS))
    return _PAIR_METRICS[name]


def list_pair_metrics() -> list[str]:
    """Names of every registered pair metric."""
    _load()
    return sorted(_PAIR_METRICS)
