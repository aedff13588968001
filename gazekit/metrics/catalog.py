"""The metrics as a list, without importing torch: for ``gazekit score --list`` and other quick listings.

:func:`list_metrics` reads the ``@register_metric`` / ``@register_pair_metric`` decorators in the source of
:mod:`gazekit.metrics.functional` (their arguments are literals, or module-level constants holding literals) with
:mod:`ast`, so it costs a few milliseconds and imports neither torch nor the metric code. It gives exactly what the
registry (:mod:`gazekit.metrics.registry`) holds once the metrics are imported; a test checks the two agree. Metrics
registered at run time outside gazekit (e.g. by a test or a plug-in) are added when the registry is already loaded.

>>> from gazekit.metrics.catalog import list_metrics
>>> first = list_metrics("pair")[0]
>>> (first.name, first.better)
('dtw', 'lower')
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["MetricInfo", "list_metrics"]

_FUNCTIONAL = Path(__file__).resolve().parent / "functional"
_DECORATORS = {"register_metric": None, "register_pair_metric": "pair"}  # name -> implied kind
_FIELDS = ("kind", "higher_is_better", "outputs", "needs", "description", "metric_class", "inputs")


@dataclass(frozen=True)
class MetricInfo:
    """One metric as listed: what the registry's :class:`~gazekit.metrics.registry.MetricSpec` says, minus the
    function object."""

    name: str
    kind: str  # "pair", "map" or "conditional"
    higher_is_better: bool
    description: str = ""
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    metric_class: str | None = None  # the generated torchmetrics class in gazekit.metrics
    function: str = ""  # dotted path of the functional implementation

    @property
    def better(self) -> str:
        """``"higher"`` or ``"lower"``: which direction is better."""
        return "higher" if self.higher_is_better else "lower"


class CatalogError(ValueError):
    """A decorator argument the catalog cannot read without running the code."""


def _constants(tree: ast.Module) -> dict[str, object]:
    """Module-level ``NAME = <literal>`` assignments (e.g. ``MULTIMATCH_DIMENSIONS = (...)``)."""
    out = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        value = getattr(node, "value", None)
        for t in targets:
            if isinstance(t, ast.Name) and value is not None:
                try:
                    out[t.id] = ast.literal_eval(value)
                except ValueError:
                    pass
    return out


def _value(node: ast.expr, constants: dict, where: str):
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise CatalogError(f"{where}: decorator arguments must be literals or module-level constants "
                           f"(found {ast.unparse(node)!r})") from err


def _scan_file(path: Path, module: str) -> list[MetricInfo]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = None
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, (ast.Name, ast.Attribute))):
                continue
            fname = deco.func.id if isinstance(deco.func, ast.Name) else deco.func.attr
            if fname not in _DECORATORS:
                continue
            constants = _constants(tree) if constants is None else constants
            where = f"{path.name}:{deco.lineno}"
            if not deco.args:
                raise CatalogError(f"{where}: the metric name must be the first positional argument")
            kw = {k.arg: _value(k.value, constants, where) for k in deco.keywords if k.arg in _FIELDS}
            kind = _DECORATORS[fname] or kw.get("kind")
            found.append(MetricInfo(
                name=_value(deco.args[0], constants, where), kind=kind, higher_is_better=bool(kw["higher_is_better"]),
                description=kw.get("description", ""), outputs=tuple(kw.get("outputs", ())),
                needs=tuple(kw.get("needs", ())), inputs=tuple(kw.get("inputs", ())),
                metric_class=kw.get("metric_class"), function=f"{module}.{node.name}"))
    return found


@lru_cache(maxsize=4)
def _static(root: Path) -> tuple[MetricInfo, ...]:
    """Every decorated metric in the public modules of the functional package (as the registry imports them)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if any(part.startswith("_") for part in rel.parts[:-1]) or (
                rel.name.startswith("_") and rel.name != "__init__"):
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        out.extend(_scan_file(path, ".".join(["gazekit.metrics.functional", *parts])))
    return tuple(out)


def _live() -> list[MetricInfo]:
    """Entries of the registry when it is already imported and loaded (nothing is imported here)."""
    registry = sys.modules.get("gazekit.metrics.registry")
    if registry is None or not registry.METRICS._loaded:
        return []
    out = []
    for entry in registry.METRICS._entries.values():
        s = entry.info["spec"]
        out.append(MetricInfo(s.name, s.kind, s.higher_is_better, s.description, s.outputs, s.needs, s.inputs,
                              s.metric_class, f"{s.fn.__module__}.{s.fn.__qualname__}"))
    return out


def list_metrics(kind: str | None = None) -> list[MetricInfo]:
    """Every metric (of one ``kind``: ``"pair"``, ``"map"``, ``"conditional"``), sorted by name; torch-free."""
    merged = {m.name: m for m in _static(_FUNCTIONAL)}
    merged.update({m.name: m for m in _live()})
    return [m for _, m in sorted(merged.items()) if kind is None or m.kind == kind]
