"""Metrics: functional maths in ``gazekit.metrics.functional``, torchmetrics ``Metric`` classes here.

Every metric is registered once, on its functional implementation (:mod:`gazekit.metrics.registry`); the Metric
classes are generated from those entries and :mod:`gazekit.metrics.catalog` lists them without importing torch.
The Metric classes need torchmetrics, whose import pulls in torchvision and torch._dynamo (tens of seconds on a
loaded machine), so they are loaded on first access: ``from gazekit.metrics import MultiMatch`` works as usual,
while ``gazekit score`` and the functional metrics never pay for it. A name is looked up in the catalog (generated
classes: the module of their kind) and otherwise in the ``__all__`` of the modules below, so there is no list of
names to keep here.
"""

from __future__ import annotations

import importlib

# modules whose __all__ is re-exported, cheapest first; generated classes live in the module of their kind
_MODULES = ("protocols", "human", "saliency", "scanpath", "conditional", "search", "duration")
_KIND_MODULE = {"pair": "scanpath", "map": "saliency", "conditional": "conditional"}


def _generated() -> dict[str, str]:
    from gazekit.metrics.catalog import list_metrics

    return {m.metric_class: _KIND_MODULE[m.kind] for m in list_metrics() if m.metric_class}


def _static_all(module: str) -> list[str]:
    """The literal ``__all__`` of a module of this package, read from its source (nothing imported)."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:
                return []
    return []


def _names() -> list[str]:
    extra = [n for m in _MODULES for n in _static_all(m)]
    return sorted(set(_generated()) | set(extra))


def __getattr__(name: str):
    if name == "__all__":
        return _names()
    if name.startswith("__"):
        raise AttributeError(name)
    generated = _generated()
    candidates = [generated[name]] if name in generated else [m for m in _MODULES if name in _static_all(m)]
    for module_name in candidates:
        module = importlib.import_module(f"gazekit.metrics.{module_name}")
        if name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'gazekit.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_names()))
