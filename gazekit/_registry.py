"""A small, typed name registry shared by datasets, models and readers (timm-style decorators).

Modules register themselves on import; ``Registry.ensure_loaded`` imports every module of the owning
package once, so adding a file is all it takes to add an entry (no central list to edit).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gazekit.errors import GazekitError, UnknownNameError


@dataclass
class Entry:
    name: str
    obj: Any
    info: dict = field(default_factory=dict)


class Registry:
    """Name -> entry, filled by ``@registry.register(name, **info)`` in the modules of ``package``."""

    def __init__(self, kind: str, package: str, skip: tuple[str, ...] = ()):
        self.kind, self.package = kind, package
        self.skip = set(skip)  # modules that register nothing (importing them would only cost start-up time)
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, name: str, **info) -> Callable:
        def deco(obj):
            if name in self._entries and self._entries[name].obj is not obj:
                raise GazekitError(f"{self.kind} {name!r} is registered twice "
                                   f"({self._entries[name].obj!r} and {obj!r})")
            self._entries[name] = Entry(name, obj, dict(info))
            return obj

        return deco

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.walk_packages(pkg.__path__, prefix=self.package + "."):
            short = mod.name.rsplit(".", 1)[-1]
            if not short.startswith("_") and short not in self.skip:
                importlib.import_module(mod.name)

    def names(self, pattern: str = "*") -> list[str]:
        self.ensure_loaded()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> Entry:
        self.ensure_loaded()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, list(self._entries))
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        self.ensure_loaded()
        return name in self._entries
