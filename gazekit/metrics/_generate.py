"""Generate the torchmetrics ``Metric`` classes from the registry's specs (one class per spec that names a
``metric_class``), so a metric's name, direction and documentation are written once, on its functional
implementation."""

from __future__ import annotations

from gazekit.metrics.registry import MetricSpec, metric_specs

_WHAT = {"pair": "pairs", "map": "maps", "conditional": "scanpaths"}


def _doc(spec: MetricSpec) -> str:
    fn = f"{spec.fn.__module__}.{spec.fn.__name__}"
    inputs = ", ".join(spec.inputs) if spec.inputs else "pred, target"
    outputs = f"; ``compute()`` returns a dict over {', '.join(spec.outputs)}" if spec.outputs else ""
    return (f"{spec.description[:1].upper()}{spec.description[1:]} ({'higher' if spec.higher_is_better else 'lower'}"
            f" is better): the mean over all {_WHAT[spec.kind]} of :func:`{fn}`, whose keyword options the "
            f"constructor takes (registry name ``{spec.name}``). ``update({inputs})``{outputs}.")


def generate_metric_classes(kind: str, base: type, namespace: dict) -> list[str]:
    """Create a subclass of ``base`` for every spec of ``kind`` with a ``metric_class`` in ``namespace`` (the
    calling module's globals); returns the class names. ``base`` calls ``self._fn`` with ``self.options``."""
    names = []
    for spec in metric_specs(kind):
        if not spec.metric_class:
            continue
        namespace[spec.metric_class] = type(spec.metric_class, (base,), {
            "__module__": namespace["__name__"], "__qualname__": spec.metric_class, "__doc__": _doc(spec),
            "spec": spec, "_fn": staticmethod(spec.fn), "higher_is_better": spec.higher_is_better,
            "is_differentiable": False, "outputs": spec.outputs,
        })
        names.append(spec.metric_class)
    return names
