"""gazekit: models, data loaders, metrics and fused foveation ops for human gaze and visual search.

The top-level names are imported on first use (PEP 562), so ``import gazekit`` (and every ``gazekit.X``
sub-module that does not need it, e.g. the CLI's ``--help``) does not pay torch's import.
"""

from gazekit.errors import DataFormatError, DatasetNotFoundError, GazekitError, InvalidInputError, UnknownNameError

__version__ = "0.1.0"

__all__ = [
    "Scanpaths",
    "ValidationReport",
    "ScreenGeometry",
    "GazekitError",
    "DataFormatError",
    "DatasetNotFoundError",
    "InvalidInputError",
    "UnknownNameError",
]

_LAZY = {"Scanpaths": "gazekit.scanpaths", "ValidationReport": "gazekit.scanpaths",
         "ScreenGeometry": "gazekit.geometry"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gazekit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
