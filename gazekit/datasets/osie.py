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

Other data sets stored in this layout (a user's own folder, EyeCrowd, ...) are read by
:func:`load_osie_format` with an :class:`OsieFormat` holding their own name, licence, citation, pixels per degree
and viewing time. Image sizes are read from the image files (header only, EXIF rotation applied); 800 x 600 is
assumed only for an OSIE image whose file is absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from gazekit.datasets._common import ScanpathBuilder, check_policy, load_mat, numeric_vector, require_file, text
from gazekit.datasets._images import ImageIndex, image_sizes, index_images, list_images
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError
from gazekit.paths import SAMPLE_DIR
from gazekit.progress import track

WIDTH, HEIGHT = 800, 600
PPD = 24.0
VIEWING_TIME_MS = 3000.0


@dataclass(frozen=True)
class OsieFormat:
    """What the OSIE-format reader needs to know about one data set stored in that layout.

    Attributes:
        name: data set name written into the scanpaths and the ``GazeDataset``.
        licence, citation: reported by ``gazekit data info`` (in ``meta``).
        ppd: pixels per degree, or None when unknown; ``ppd_note`` says where the value comes from.
        viewing_time_ms: how long each image was shown, or None when not stated.
        fixations_file, stimuli_dir: paths relative to the data set folder.
        default_size: ``(width, height)`` used only for images whose file is absent (None: unknown size, so
            positions of those images are not checked against a border).
        xy_offset: subtracted from x and y (1.0 for 1-based MATLAB pixel indices, 0.0 for positions kept as
            recorded).
        skip_absent_images: skip the entries whose image file is absent (counted in ``meta``); for files that
            cover more images than the folder holds.
        description: one line for ``meta``.
    """

    name: str
    licence: str = "not stated"
    citation: str = ""
    ppd: float | None = None
    ppd_note: str = ""
    viewing_time_ms: float | None = None
    fixations_file: str = "fixations.mat"
    stimuli_dir: str = "stimuli"
    default_size: tuple[int, int] | None = None
    xy_offset: float = 0.0
    skip_absent_images: bool = False
    description: str = ""

    def meta(self) -> dict:
        """What ``GazeDataset.meta`` reports for this data set: licence, citation, format, and notes."""
        out = {"licence": self.licence, "citation": self.citation, "format": "osie (fixations.mat + stimuli/)"}
        if self.ppd_note:
            out["ppd_note"] = self.ppd_note
        if self.description:
            out["description"] = self.description
        return out


OSIE = OsieFormat(
    name="osie", licence="MIT", citation="Xu et al., Predicting human gaze beyond pixels, JoV 2014", ppd=PPD,
    ppd_note="24 px/deg from the original toolbox's Gaussian; not checked against the paper",
    viewing_time_ms=VIEWING_TIME_MS, default_size=(WIDTH, HEIGHT))
META = OSIE.meta()


def _entries(value) -> list:
    """A squeezed MATLAB cell/struct array as a Python list (a single struct becomes a one-element list)."""
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def parse_osie(path: Path, *, on_invalid: str = "raise", dataset: str = "osie", fmt: OsieFormat | None = None,
               sizes: dict[str, tuple[int, int]] | None = None, present: set[str] | None = None):
    """Parse a ``fixations.mat`` in the OSIE layout into (Scanpaths, ValidationReport).

    Args:
        fmt: the data set's metadata (default: OSIE's, under the name ``dataset``).
        sizes: image name -> (width, height) read from the image files; images not in it get
            ``fmt.default_size``.
        present: image names whose files exist; with ``fmt.skip_absent_images`` the entries of other images
            are skipped and counted (``dropped_scanpaths["image file absent"]``, one per subject slot).
    """
    fmt = fmt or replace(OSIE, name=dataset)
    sizes = sizes or {}
    mat = load_mat(path)
    if "fixations" not in mat:
        raise DataFormatError(f"no variable 'fixations' (found {sorted(k for k in mat if not k.startswith('__'))})",
                              file=path, field="fixations")
    builder = ScanpathBuilder(path, on_invalid, fmt.name)
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
        if fmt.skip_absent_images and present is not None and img not in present:
            builder.report.add("dropped_scanpaths", "image file absent", len(_entries(subjects)))
            continue
        size = sizes.get(img, fmt.default_size)
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
            builder.add(values["fix_x"] - fmt.xy_offset, values["fix_y"] - fmt.xy_offset, None,
                        values["fix_duration"], image=img, subject=str(j + 1), trial=f"{img}/{j + 1}",
                        task="freeview", image_size=size, ppd=fmt.ppd, record=rec)
    return builder.build()


def _entry_images(mat: dict) -> list[str]:
    """Image names of a loaded fixations.mat (unreadable names are left to the parser, which reports them)."""
    names = []
    for entry in _entries(mat.get("fixations", [])):
        value = getattr(entry, "img", None)
        if isinstance(value, (str, np.str_)):
            names.append(str(value))
    return names


def load_osie_format(fmt: OsieFormat, root, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read any data set stored in the OSIE layout (``fmt.fixations_file`` + ``fmt.stimuli_dir``) as a
    :class:`GazeDataset` named and described by ``fmt``, with image sizes read from the image files.

    Image names match files by name, then by stem (see :mod:`gazekit.datasets._images`). Scanpaths of images
    without a file get ``fmt.default_size`` (or an unknown size) unless ``fmt.skip_absent_images``. The parse is
    cached; the cache entry depends on the fixation file and on every image file (path, size, mtime).
    """
    check_policy(on_invalid)
    root = Path(root).expanduser()
    path = require_file(fmt.name, root, fmt.fixations_file)
    stimuli = root / fmt.stimuli_dir
    files = list_images(stimuli) if stimuli.is_dir() else []

    def build():
        names = _entry_images(load_mat(path))
        index = index_images(stimuli, names, files=files) if files else ImageIndex()
        return parse_osie(path, on_invalid=on_invalid, fmt=fmt, sizes=image_sizes(index.files),
                          present=set(index.files))

    options = {"on_invalid": on_invalid, "format": asdict(fmt)}
    scanpaths, report = cached_scanpaths(fmt.name, [path, *files], build, enabled=cache, options=options)
    index = index_images(stimuli, set(scanpaths.image), files=files) if files else ImageIndex()
    meta = {**fmt.meta(), "images_without_file": len(index.missing) if files else len(set(scanpaths.image))}
    if index.missing:
        meta["images_without_file_examples"] = index.missing[:5]
    return GazeDataset(fmt.name, scanpaths, root, images=dict(index.files), viewing_time_ms=fmt.viewing_time_ms,
                       report=report, meta=meta)


def _load(name: str, root: Path, on_invalid: str, cache: bool) -> GazeDataset:
    return load_osie_format(replace(OSIE, name=name), root, on_invalid=on_invalid, cache=cache)


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
