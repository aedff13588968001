"""What every dataset reader returns (the parse-once cache they share is :mod:`gazekit.datasets.cache`).

A reader is a function registered with ``@register_dataset(name, ...)``::

    def load(root=None, *, on_invalid="raise", cache=True, **options) -> GazeDataset

``root`` defaults to the dataset's folder under :func:`gazekit.paths.data_root`. Readers know no model and no
metric; they produce :class:`~gazekit.scanpaths.Scanpaths` and say what they dropped in ``report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gazekit.datasets.cache import CACHE_VERSION, cached_scanpaths
from gazekit.paths import data_root
from gazekit.scanpaths import Scanpaths, ValidationReport

__all__ = ["GazeDataset", "resolve_root", "cached_scanpaths", "CACHE_VERSION"]


@dataclass
class GazeDataset:
    """A loaded dataset.

    Attributes:
        name: registry name (e.g. ``"osie"``).
        scanpaths: every scanpath, in the canonical type.
        root: folder the data was read from.
        images: image name (the ``image`` field of the scanpaths) -> image file path; empty when the dataset
            ships no images.
        templates: image name -> target template image path (search datasets), else empty.
        viewing_time_ms: how long each image was shown (NaN-free float) or None when trials were self-terminated.
        report: what a validation policy dropped or clipped while loading.
        meta: anything else worth knowing (screen geometry, licence, citation, object layouts...).
    """

    name: str
    scanpaths: Scanpaths
    root: Path
    images: dict[str, Path] = field(default_factory=dict)
    templates: dict[str, Path] = field(default_factory=dict)
    viewing_time_ms: float | None = None
    report: ValidationReport = field(default_factory=ValidationReport)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scanpaths)

    def summary(self) -> dict:
        """Counts and properties, as ``gazekit data info`` prints them."""
        sp = self.scanpaths
        sizes = sorted({(float(w), float(h)) for w, h in sp.image_size.tolist()})
        return {
            "name": self.name,
            "root": str(self.root),
            "images": len(set(sp.image)),
            "image_files": len(self.images),
            "subjects": len(set(sp.subject)),
            "scanpaths": len(sp),
            "fixations": sp.num_fixations,
            "has_durations": sp.has_durations,
            "has_onsets": sp.has_onsets,
            "has_targets": sp.has_targets,
            "tasks": len(set(sp.task)),
            "conditions": sorted(set(sp.condition)),
            "image_sizes": [list(s) for s in sizes[:5]] + (["..."] if len(sizes) > 5 else []),
            "viewing_time_ms": self.viewing_time_ms,
            "validation": self.report.to_dict(),
            **{k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool, list, dict))},
        }


def resolve_root(root, default_subdir: str) -> Path:
    """``root`` if given, else ``data_root() / default_subdir``."""
    return Path(root).expanduser() if root is not None else data_root() / default_subdir
