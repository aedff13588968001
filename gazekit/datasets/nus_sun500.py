"""NUS scene saliency free viewing on 500 SUN2012 images (Liang, Jiang, Liang & Zhao, 2015), MIT licence.

Files: ``tidy/fixations.mat`` (``fixations``: a 500 x 12 cell, image x subject slot; each cell an N x 4 matrix
**``[y, x, onset_s, duration_s]`` (y first)**, or empty), ``tidy/imgInfo.mat`` (``imgInfo.size``: 500 x 2
``[height, width]``) and ``stimuli/001.jpg`` ... ``500.jpg`` (130 different sizes, 311 are 256 x 256, up to
3264 x 2448).

Conventions:
    * Row ``i`` of the cell is image ``{i:03d}.jpg``; column ``j`` is subject slot ``j`` (``subject`` is the
      1-based slot number). The 52 empty cells (a subject without data for that image) are skipped and counted
      in ``report`` (``dropped_scanpaths["empty cell"]``): 5,948 scanpaths and 43,894 fixations remain.
    * Positions are 1-based pixels in the image file's own pixel frame: x is column 2 and y column 1, and 1 is
      subtracted from both. ``imgInfo.size`` is checked against each image file's size (a disagreement is an
      error naming the image). Six fixations lie less than one pixel left of / above the first pixel centre
      (1-based values in (0, 1)); after the offset they are in (-1, 0) and are moved onto the border and counted
      in ``report`` (``clipped_fixations["within 1 px of the border"]``). Anything further outside is left to the
      ``on_invalid`` policy.
    * Onsets and durations are seconds in the file; gazekit stores ms (``t_start`` from image onset).
    * No screen geometry is known (each image was scaled to fill the screen, so pixels per degree differ per
      image): ``ppd`` and ``screen`` are NaN; work in image-normalised units.
    * About 3 s of viewing (``viewing_time_ms`` = 3000; the last fixation of a scanpath ends by 3.01 s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit.datasets._common import ScanpathBuilder, check_policy, numeric_vector, require_file
from gazekit.datasets._images import image_size
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError
from gazekit.progress import track

VIEWING_TIME_MS = 3000.0
BORDER_SLACK_PX = 1.0
META = {"licence": "MIT", "citation": "Liang, Jiang, Liang & Zhao, Saliency prediction with scene structural "
        "guidance, 2015 (NUS scene saliency, SUN2012 images)",
        "coordinates": "file columns [y, x, onset_s, duration_s]; 1-based px, 1 subtracted; s -> ms",
        "ppd_note": "unknown: each image was scaled to fill the screen; use image-normalised units"}


def _sizes(path: Path) -> np.ndarray:
    info = _load_unsqueezed(path).get("imgInfo")
    if isinstance(info, np.ndarray) and info.size == 1:
        info = info.reshape(-1)[0]
    if info is None or not hasattr(info, "size"):
        raise DataFormatError("no variable 'imgInfo' with a field 'size'", file=path, field="imgInfo.size")
    size = np.asarray(info.size)
    if size.ndim != 2 or size.shape[1] != 2 or size.dtype.kind not in "iuf":
        raise DataFormatError(f"expected an N x 2 numeric [height, width] matrix, got shape {size.shape}",
                              file=path, field="imgInfo.size")
    return size.astype(np.float64)


def _load_unsqueezed(path: Path) -> dict:
    """The cell array keeps its 2-D shape (a squeezed 1 x 12 cell would lose which axis is the subject)."""
    import scipy.io

    try:
        return scipy.io.loadmat(str(path), squeeze_me=False, struct_as_record=False)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, MatReadError... on corrupt files
        raise DataFormatError(f"cannot read MATLAB file: {type(err).__name__}: {err}", file=path) from err


def parse_nus_sun500(fix_path: Path, info_path: Path, stimuli: Path, *, on_invalid: str = "raise"):
    """Parse the fixation cell array into (Scanpaths, ValidationReport); see the module docstring."""
    mat = _load_unsqueezed(fix_path)
    if "fixations" not in mat:
        raise DataFormatError("no variable 'fixations'", file=fix_path, field="fixations")
    cells = mat["fixations"]
    if not isinstance(cells, np.ndarray) or cells.ndim != 2:
        raise DataFormatError(f"expected a 2-D cell array (images x subjects), got {type(cells).__name__} "
                              f"{getattr(cells, 'shape', '')}", file=fix_path, field="fixations")
    hw = _sizes(info_path)
    if len(hw) != cells.shape[0]:
        raise DataFormatError(f"imgInfo.size has {len(hw)} rows but fixations has {cells.shape[0]} images",
                              file=info_path, field="imgInfo.size")
    builder = ScanpathBuilder(fix_path, on_invalid, "nus_sun500")
    slack = 0
    for i in track(range(cells.shape[0]), f"parsing {fix_path.name}: images"):
        img = f"{i + 1:03d}.jpg"
        height, width = hw[i]
        file = stimuli / img
        if file.is_file():
            fw, fh = image_size(file)
            if (fw, fh) != (width, height):
                raise DataFormatError(f"imgInfo.size says [h, w] = [{height:g}, {width:g}] but the image file is "
                                      f"{fw} x {fh} (w x h)", file=info_path, record=f"imgInfo.size({i + 1}, :) "
                                      f"(image {img!r})", field="size")
        for j in range(cells.shape[1]):
            record = f"fixations{{{i + 1},{j + 1}}} (image {img!r})"
            try:
                cell = np.asarray(cells[i, j])
                if cell.size == 0:
                    builder.report.add("dropped_scanpaths", "empty cell")
                    continue
                values = numeric_vector(cell, file=fix_path, record=record, field="[y, x, onset_s, duration_s]")
                if cell.ndim != 2 or cell.shape[1] != 4:
                    raise DataFormatError(f"expected N x 4 values [y, x, onset_s, duration_s], got shape "
                                          f"{cell.shape}", file=fix_path, record=record, field="fixations")
                rows = values.reshape(-1, 4)
            except DataFormatError as err:
                builder.bad_record(err, "missing or mistyped field")
                continue
            x, y = rows[:, 1] - 1.0, rows[:, 0] - 1.0
            near = ((x < 0) & (x >= -BORDER_SLACK_PX)) | ((y < 0) & (y >= -BORDER_SLACK_PX))
            slack += int(near.sum())
            x = np.where((x < 0) & (x >= -BORDER_SLACK_PX), 0.0, x)
            y = np.where((y < 0) & (y >= -BORDER_SLACK_PX), 0.0, y)
            builder.add(x, y, rows[:, 2] * 1000.0, rows[:, 3] * 1000.0, image=img, subject=str(j + 1),
                        trial=f"{img}/{j + 1}", task="freeview", image_size=(width, height), record=record)
    scanpaths, report = builder.build()
    if slack:
        report.add("clipped_fixations", "within 1 px of the border", slack)
    return scanpaths, report


@register_dataset("nus_sun500", description="NUS scene saliency free viewing on 500 SUN2012 images (130 sizes), "
                  "12 subject slots, onsets, about 3 s; no screen geometry", has_images=True, has_durations=True,
                  task="freeview")
def load(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read NUS-SUN500 from ``root`` (default ``<data_root>/nus_sun500``); see the module docstring.

    Args:
        root: folder holding ``tidy/fixations.mat``, ``tidy/imgInfo.mat`` and ``stimuli/``.
        on_invalid: ``"raise"``, ``"drop"`` or ``"clip"`` (see :mod:`gazekit.datasets._common`).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    check_policy(on_invalid)
    root = resolve_root(root, "nus_sun500")
    fix_path = require_file("nus_sun500", root, "tidy/fixations.mat")
    info_path = require_file("nus_sun500", root, "tidy/imgInfo.mat")
    stimuli = root / "stimuli"
    files = sorted(stimuli.glob("*.jpg")) if stimuli.is_dir() else []
    scanpaths, report = cached_scanpaths(
        "nus_sun500", [fix_path, info_path, *files],
        lambda: parse_nus_sun500(fix_path, info_path, stimuli, on_invalid=on_invalid),
        enabled=cache, options={"on_invalid": on_invalid})
    images = {img: stimuli / img for img in sorted(set(scanpaths.image)) if (stimuli / img).is_file()}
    meta = {**META, "images_without_file": len(set(scanpaths.image)) - len(images)}
    return GazeDataset("nus_sun500", scanpaths, root, images=images, viewing_time_ms=VIEWING_TIME_MS,
                       report=report, meta=meta)
