"""What every dataset reader returns, and the parse-once cache they share.

A reader is a function registered with ``@register_dataset(name, ...)``::

    def load(root=None, *, on_invalid="raise", cache=True, **options) -> GazeDataset

``root`` defaults to the dataset's folder under :func:`gazekit.paths.data_root`. Readers know no model and no
metric; they produce :class:`~gazekit.scanpaths.Scanpaths` and say what they dropped in ``report``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gazekit.errors import GazekitError
from gazekit.paths import cache_dir, data_root
from gazekit.scanpaths import Scanpaths, ValidationReport

CACHE_VERSION = 1  # bump when the parsed representation changes


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


def cached_scanpaths(key: str, sources: list[Path], build: Callable[[], tuple[Scanpaths, ValidationReport]], *,
                     enabled: bool = True, options: dict | None = None) -> tuple[Scanpaths, ValidationReport]:
    """Parse once: the result of ``build()`` is stored as Parquet in the cache, keyed by ``key``, the reader
    ``options`` and each source file's path, size and modification time (so an edited file is re-parsed)."""
    if not enabled:
        return build()
    h = hashlib.sha256()
    h.update(f"{key}|v{CACHE_VERSION}|{json.dumps(options or {}, sort_keys=True, default=str)}".encode())
    for src in sources:
        st = Path(src).stat()
        h.update(f"|{Path(src).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    base = cache_dir() / f"{key}-{h.hexdigest()[:16]}"
    table, report_file = base.with_suffix(".parquet"), base.with_suffix(".report.json")
    if table.exists() and report_file.exists():
        try:
            report = ValidationReport(**json.loads(report_file.read_text()))
            return Scanpaths.load(table), report
        except (GazekitError, ValueError, TypeError, OSError):
            pass  # a damaged cache entry is rebuilt, never trusted
    scanpaths, report = build()
    # unique temporary names + atomic renames: parallel processes (pytest -n, DataLoader workers) may build the
    # same entry at once; the report lands before the table, so a visible table always has its report
    unique = f".{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    tmp_report = base.with_name(base.name + unique + ".json")
    tmp_report.write_text(json.dumps(report.to_dict()))
    tmp_report.replace(report_file)
    tmp = base.with_name(base.name + unique + ".parquet")
    scanpaths.save(tmp)
    tmp.replace(table)
    return scanpaths, report
