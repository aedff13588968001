"""The one registry of metrics: scanpath-pair, map and conditional metrics, by name.

Every functional metric registers itself where it is defined, with ``@register_metric(name, kind=..., ...)`` in a
module of :mod:`gazekit.metrics.functional`; the registry (the shared :class:`gazekit._registry.Registry`) imports
every public module of that package on first use, so adding a file is all it takes. From the same entries:

* ``gazekit score``, the protocols and the human baseline run pair metrics by name (:func:`get_pair_metric`);
* the torchmetrics ``Metric`` classes (``metric_class=`` names one) are generated in :mod:`gazekit.metrics.scanpath`
  (pair), :mod:`gazekit.metrics.saliency` (map) and :mod:`gazekit.metrics.conditional` (conditional);
* :mod:`gazekit.metrics.catalog` lists them without importing torch (it reads the decorators' literal arguments).

Kinds and the function each one registers:

* ``"pair"``: ``fn(pred: Scanpaths, target: Scanpaths, **options) -> Tensor``; row ``i`` scores ``pred[i]`` against
  ``target[i]``; shape ``[B]``, or ``[B, K]`` with ``outputs`` naming the K columns (MultiMatch's five
  dimensions). Pairs where the metric is undefined give NaN.
* ``"map"``: ``fn(maps [B, H, W], fixations or target maps, ..., **options) -> Tensor [B]``, one value per map.
* ``"conditional"``: ``fn(maps [B, L, H, W], scanpaths, ..., **options) -> Tensor [B]``, one value per scanpath.

This module imports no metric implementation (the functional modules import it), so there is no import loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gazekit._registry import Registry
from gazekit.errors import GazekitError, UnknownNameError

__all__ = ["KINDS", "METRICS", "MetricSpec", "PairMetricSpec", "get_metric", "get_pair_metric", "list_metrics",
           "list_pair_metrics", "metric_specs", "register_metric", "register_pair_metric"]

KINDS = ("pair", "map", "conditional")
REGISTER_FUNCTIONS = ("register_metric", "register_pair_metric")  # the decorators (catalog.py reads them)

METRICS = Registry("metric", "gazekit.metrics.functional")


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric (see the module docstring for ``kind`` and the function's signature)."""

    name: str
    fn: Callable
    higher_is_better: bool
    outputs: tuple[str, ...] = ()  # column names when the metric returns [B, K]
    needs: tuple[str, ...] = ()  # what the data must carry, e.g. ("durations",), ("image_size",)
    description: str = ""
    defaults: dict = field(default_factory=dict)
    kind: str = "pair"
    metric_class: str | None = None  # name of the generated torchmetrics class, if any
    inputs: tuple[str, ...] = ()  # map/conditional: the positional arguments of fn and of Metric.update


PairMetricSpec = MetricSpec  # the name pairing, protocols and the distributed scorer use


def register_metric(name: str, *, kind: str, higher_is_better: bool, outputs: tuple[str, ...] = (),
                    needs: tuple[str, ...] = (), description: str = "", metric_class: str | None = None,
                    inputs: tuple[str, ...] = (), **defaults) -> Callable:
    """Decorator registering a functional metric under ``name``. Keep the arguments literal (strings, booleans,
    tuples of strings, or module-level constants holding them): :mod:`gazekit.metrics.catalog` reads them from the
    source to list the metrics without importing torch. ``defaults`` are keyword options every call gets."""
    if kind not in KINDS:
        raise GazekitError(f"metric {name!r}: kind must be one of {list(KINDS)}, got {kind!r}")

    def deco(fn):
        spec = MetricSpec(name, fn, bool(higher_is_better), tuple(outputs), tuple(needs), description,
                          dict(defaults), kind, metric_class, tuple(inputs))
        METRICS.register(name, spec=spec)(fn)
        return fn

    return deco


def register_pair_metric(name: str, *, higher_is_better: bool, outputs: tuple[str, ...] = (),
                         needs: tuple[str, ...] = (), description: str = "", metric_class: str | None = None,
                         **defaults) -> Callable:
    """:func:`register_metric` with ``kind="pair"``."""
    return register_metric(name, kind="pair", higher_is_better=higher_is_better, outputs=outputs, needs=needs,
                           description=description, metric_class=metric_class, **defaults)


def get_metric(name: str) -> MetricSpec:
    """The spec of the metric ``name``, of any kind (unknown names are refused with close matches)."""
    return METRICS.get(name).info["spec"]


def get_pair_metric(name: str) -> MetricSpec:
    """The spec of the pair metric ``name`` (unknown names, and metrics of another kind, are refused)."""
    spec = get_metric(name)
    if spec.kind != "pair":
        raise UnknownNameError("pair metric", name, list_pair_metrics())
    return spec


def metric_specs(kind: str | None = None) -> list[MetricSpec]:
    """Every registered metric (of one ``kind``), sorted by name."""
    specs = [get_metric(n) for n in METRICS.names()]
    return [s for s in specs if kind is None or s.kind == kind]


def list_metrics(kind: str | None = None) -> list[str]:
    """Names of every registered metric (of one ``kind``). Imports the metrics; the torch-free listing is
    :func:`gazekit.metrics.catalog.list_metrics`."""
    return [s.name for s in metric_specs(kind)]


def list_pair_metrics() -> list[str]:
    """Names of every registered pair metric."""
    return list_metrics("pair")
