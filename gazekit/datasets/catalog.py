"""The registered datasets as a list, without importing them (nor torch): for ``gazekit data list``.

:func:`list_dataset_infos` reads the ``@register_dataset("name", description=..., ...)`` decorators in the source of
the modules the registry (:data:`gazekit.datasets.registry.DATASETS`) imports, with :mod:`ast`: a few milliseconds
instead of importing every reader (and torch through the scanpath type). The decorator arguments must be literals;
if one is not, the listing imports the readers instead (always correct, only slower). Entries registered at run time
(a plug-in, a test) are included when the registry is already loaded. A test checks that the catalog equals the
registry.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

__all__ = ["list_dataset_infos"]

_PACKAGE = Path(__file__).resolve().parent


class _NotLiteral(ValueError):
    pass


def _scan(path: Path) -> dict[str, dict]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = {}
    for node in ast.walk(tree):
        for deco in getattr(node, "decorator_list", ()):
            func = getattr(deco, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if not isinstance(deco, ast.Call) or name != "register_dataset":
                continue
            try:
                key = ast.literal_eval(deco.args[0])
                found[key] = {k.arg: ast.literal_eval(k.value) for k in deco.keywords}
            except (ValueError, IndexError, TypeError, SyntaxError) as err:
                raise _NotLiteral(f"{path.name}:{deco.lineno}") from err
    return found


def _static(skip: set[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        if path.stem.startswith("_") or path.stem in skip or path.stem == "catalog":
            continue
        if any(part.startswith("_") for part in path.relative_to(_PACKAGE).parts[:-1]):
            continue
        if "register_dataset" in path.read_text(encoding="utf-8"):
            out.update(_scan(path))
    return out


def list_dataset_infos() -> dict[str, dict]:
    """``{name: info}`` of every registered dataset, sorted by name (``info``: what the reader registered, e.g.
    ``description``, ``has_images``); torch-free unless a decorator argument is not a literal."""
    from gazekit.datasets.registry import DATASETS

    if DATASETS._loaded:
        merged = {e.name: dict(e.info) for e in DATASETS._entries.values()}
    else:
        try:
            merged = _static(DATASETS.skip)
        except _NotLiteral:
            merged = {name: dict(DATASETS.get(name).info) for name in DATASETS.names()}
        merged.update({e.name: dict(e.info) for e in DATASETS._entries.values()})  # registered at run time
    return dict(sorted(merged.items()))


if __name__ == "__main__":  # pragma: no cover
    for n, i in list_dataset_infos().items():
        print(n, i, file=sys.stdout)
