"""OSIE free viewing (Xu, Jiang, Wang, Kankanhalli & Zhao, JoV 2014), MIT licence.

Files: ``fixations.mat`` (MATLAB cell array ``fixations{i}`` with ``.img`` and ``.subjects{j}`` holding
``.fix_x``, ``.fix_y`` in px and ``.fix_duration`` in ms) and ``stimuli/<img>`` (800 x 600 JPEG).
The shared copy holds 600 images x 15 subjects, each image viewed for 3 s.

Conventions: x, y are kept as recorded (the values are eye-tracker positions with one decimal, not 1-based
MATLAB indices, so no offset is applied); ``t_start`` is NaN (the file has no onsets, and summing durations
would invent them by ignoring saccade time); ``subject`` is the 1-based position in ``subjects`` (the file
has no subject names); ``trial`` is ``"<img>/<subject>"``; ``task`` is ``"freeview"``. Pixels per degree: 24,
the value of the original toolbox's 1-degree Gaussian (not stated in the paper).

``osie-sample`` reads the same format from the handful of images shipped inside gazekit (``gazekit/_sample``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit.datasets._common import ScanpathBuilder, check_policy, load_mat, numeric_vector, require_file, text
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError
from gazekit.paths import SAMPLE_DIR
from gazekit.progress import track

WIDTH, HEIGHT = 800, 600
PPD = 24.0
VIEWING_TIME_MS = 3000.0
META = {"licence": "MIT", "citation": "Xu et al., Predicting human gaze beyond pixels, JoV 2014",
        "ppd_note": "24 px/deg from the original toolbox's Gaussian; not checked against the paper"}


def _entries(value) -> list:
    """A squeezed MATLAB cell/struct array as a Python list (a single struct becomes a one-element list)."""
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def parse_osie(path: Path, *, on_invalid: str = "raise", dataset: str = "osie"):
    """Parse an OSIE ``fixations.mat`` into (Scanpaths, ValidationReport)."""
    mat = load_mat(path)
    if "fixations" not in mat:
        raise DataFormatError(f"no variable 'fixations' (found {sorted(k for k in mat if not k.startswith('__'))})",
                              file=path, field="fixations")
    builder = ScanpathBuilder(path, on_invalid, dataset)
    entries = _entries(mat["fixations"])
    for i, entry in enumerate(track(entries, f"parsing {path.name}: images")):
        record = f"fixations{{{i + 1}}}"
        try:
            img = text(getattr(entry, "img", None), file=path, record=record, field="img")
            subjects = getattr(entry, "subjects", None)
            if subjects is None:
                raise DataFormatError("missing field", file=path, record=record, field="subjects")
        except DataFormatError as err:
            builder.bad_record(err, "missing or mistyped field")
            continue
        for j, subj in enumerate(_entries(subjects)):
            rec = f"{record}.subjects{{{j + 1}}} (image {img!r})"
            try:
                values = {}
                for name in ("fix_x", "fix_y", "fix_duration"):
                    if not hasattr(subj, name):
                        raise DataFormatError("missing field", file=path, record=rec, field=name)
                    values[name] = numeric_vector(getattr(subj, name), file=path, record=rec, field=name)
            except DataFormatError as err:
                builder.bad_record(err, "missing or mistyped field")
                continue
            builder.add(values["fix_x"], values["fix_y"], None, values["fix_duration"], image=img, subject=str(j + 1),
                        trial=f"{img}/{j + 1}", task="freeview", image_size=(WIDTH, HEIGHT), ppd=PPD, record=rec)
    return builder.build()


def _load(name: str, root: Path, on_invalid: str, cache: bool) -> GazeDataset:
    check_policy(on_invalid)
    path = require_file(name, root, "fixations.mat")
    scanpaths, report = cached_scanpaths(name, [path], lambda: parse_osie(path, on_invalid=on_invalid, dataset=name),
                                         enabled=cache, options={"on_invalid": on_invalid})
    stimuli = root / "stimuli"
    images = {img: stimuli / img for img in sorted(set(scanpaths.image)) if (stimuli / img).is_file()}
    return GazeDataset(name, scanpaths, root, images=images, viewing_time_ms=VIEWING_TIME_MS, report=report,
                       meta=dict(META))


@register_dataset("osie", description="OSIE free viewing, 600 images x 15 subjects, 800x600, 3 s", has_images=True,
                  has_durations=True, task="freeview")
def load(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read OSIE from ``root`` (default ``<data_root>/osie``): ``fixations.mat`` and ``stimuli/``.

    Args:
        root: folder holding ``fixations.mat`` and ``stimuli/``.
        on_invalid: ``"raise"``, ``"drop"`` or ``"clip"`` (see :mod:`gazekit.datasets._common`).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    return _load("osie", resolve_root(root, "osie"), on_invalid, cache)


@register_dataset("osie-sample", description="OSIE images and all their scanpaths shipped inside gazekit (demo, "
                  "fresh-machine tests)", has_images=True, has_durations=True, task="freeview")
def load_sample(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """The OSIE sample shipped in ``gazekit/_sample/osie`` (same format as :func:`load`)."""
    return _load("osie-sample", Path(root) if root is not None else SAMPLE_DIR / "osie", on_invalid, cache)
