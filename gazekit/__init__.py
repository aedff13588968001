"""gazekit: models, data loaders, metrics and fused foveation ops for human gaze and visual search."""

from gazekit.errors import DataFormatError, DatasetNotFoundError, GazekitError, InvalidInputError, UnknownNameError
from gazekit.geometry import ScreenGeometry
from gazekit.scanpaths import Scanpaths, ValidationReport

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
