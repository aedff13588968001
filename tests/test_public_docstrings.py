"""Every public name has a docstring, so the generated API reference (docs/reference, mkdocstrings) documents it.

Public: a module whose dotted path has no part starting with ``_``; in it, the names of its ``__all__`` if it has
one, else the functions and classes it defines whose names do not start with ``_``; in a public class, the methods
and properties it defines whose names do not start with ``_``. A method that overrides a documented one of a base
class (``forward``, ``training_step``, ``setup``, ...) inherits that documentation (``inspect.getdoc``), as the
reader of the reference would look it up there.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gazekit


def public_modules() -> list[str]:
    names = ["gazekit"]
    for info in pkgutil.walk_packages(gazekit.__path__, prefix="gazekit."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _public_members(module) -> list[tuple[str, object]]:
    if hasattr(module, "__all__"):
        return [(name, getattr(module, name)) for name in module.__all__]
    return [(name, obj) for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__]


def undocumented(module_name: str) -> list[str]:
    """Dotted paths of the public names of one module that have no docstring."""
    module = importlib.import_module(module_name)
    missing = [] if (module.__doc__ or "").strip() else [f"{module_name} (module docstring)"]
    for name, obj in _public_members(module):
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue  # constants and instances are described by their module's or owner's docstring
        if not (inspect.getdoc(obj) or "").strip():  # named where it is defined (re-exports name it once)
            missing.append(f"{obj.__module__}.{obj.__qualname__}")
        if inspect.isclass(obj) and obj.__module__ == module_name:
            for attr, value in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(value) or isinstance(
                        value, (property, classmethod, staticmethod))):
                    continue
                if not (inspect.getdoc(getattr(obj, attr)) or "").strip():
                    missing.append(f"{module_name}.{name}.{attr}")
    return missing


def test_every_public_name_has_a_docstring():
    missing = sorted({path for name in public_modules() for path in undocumented(name)})
    assert not missing, ("public names without a docstring (they would be missing from the API reference); "
                         "document them or make them private:\n  " + "\n  ".join(missing))


def test_the_check_sees_a_missing_docstring(tmp_path, monkeypatch):
    (tmp_path / "toydoc.py").write_text(
        '"""Toy."""\n\n\n'
        'def shown():\n    """Documented."""\n\n\n'
        'def bare():\n    pass\n\n\n'
        'def _private():\n    pass\n\n\n'
        'class Thing:\n    """A thing."""\n\n'
        '    def method(self):\n        """Documented once, here."""\n\n'
        '    def other(self):\n        pass\n\n'
        '    @property\n    def size(self):\n        return 1\n\n'
        '    def __repr__(self):\n        return "t"\n\n\n'
        'class Child(Thing):\n    """A child."""\n\n'
        '    def method(self):\n        return 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    # Child.method inherits Thing.method's docstring; private and dunder names are not public
    assert undocumented("toydoc") == ["toydoc.bare", "toydoc.Thing.other", "toydoc.Thing.size"]
