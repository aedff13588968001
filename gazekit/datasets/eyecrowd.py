"""EyeCrowd, "Saliency in Crowd" free viewing (Jiang, Xu & Zhao, ECCV 2014), MIT licence.

Files (the OSIE layout, read by :func:`gazekit.datasets.osie.load_osie_format`): ``eye/fixations.mat``
(``fixations{i}`` with ``.img`` and 16 ``.subjects{j}`` holding ``.fix_x``, ``.fix_y`` and ``.fix_duration`` in
ms), ``stimuli/NNN.jpg`` (1024 x 768) and ``labels.mat`` (hand-labelled face boxes: ``labels(i).img``,
``.nFaces`` and ``.faces(k)`` with ``left, top, width, height, center`` and the flags ``isFrontalFace,
isProfileFace, isBackFace, isOccluded``).

Conventions:
    * The fixation and label files cover all 500 images of the source; the shared copy holds 300 image files.
      Entries whose image file is absent are skipped and counted in ``report`` (``dropped_scanpaths["image
      file absent"]``, one per subject slot): 300 images x 16 subjects = 4,800 scanpaths and 76,358 fixations
      remain.
    * Positions are 1-based MATLAB pixels: 1 is subtracted from x, y and from the face boxes' left/top.
    * No onsets (``t_start`` is NaN); durations in ms. ``subject`` is the 1-based slot number.
    * Pixels per degree: 26, from the source toolbox's 1-degree Gaussian (not stated as screen geometry).
    * The viewing time is not stated (``viewing_time_ms`` is None); it is longer than OSIE's 3 s: scanpaths hold
      15.9 fixations on average and a median of 3.75 s of fixation time (99th percentile 4.28 s).

Face boxes: :func:`face_boxes` reads them per image; the loaded :class:`GazeDataset` carries them in
``meta["faces"]`` (a :class:`FaceBoxes`, image name -> ``(n, 4)`` float64 ``[x0, y0, x1, y1]`` 0-based px and
``(n, 4)`` bool flags) and ``meta["face_boxes"]`` (the number of boxes on the images present). Boxes are kept as
labelled: some extend a few pixels past the image border (the labellers' boxes of cut-off faces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gazekit.datasets._common import load_mat, numeric_vector, scalar, text
from gazekit.datasets.base import GazeDataset, resolve_root
from gazekit.datasets.osie import OsieFormat, load_osie_format
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError

WIDTH, HEIGHT = 1024, 768
PPD = 26.0
FLAGS = ("isFrontalFace", "isProfileFace", "isBackFace", "isOccluded")

EYECROWD = OsieFormat(
    name="eyecrowd", licence="MIT", citation="Jiang, Xu & Zhao, Saliency in crowd, ECCV 2014", ppd=PPD,
    ppd_note="26 px/deg from the source toolbox's 1-degree Gaussian; not stated as screen geometry",
    viewing_time_ms=None, fixations_file="eye/fixations.mat", stimuli_dir="stimuli",
    default_size=(WIDTH, HEIGHT), xy_offset=1.0, skip_absent_images=True,
    description="crowd scenes (about 15-27 faces each), 16 subjects; viewing time not stated (longer than 3 s)")


@dataclass(frozen=True)
class FaceBoxes:
    """Hand-labelled faces per image: ``boxes[img]`` ``(n, 4)`` ``[x0, y0, x1, y1]`` (0-based px) and
    ``flags[img]`` ``(n, 4)`` bool in the order of :data:`FLAGS` (frontal, profile, back, occluded)."""

    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(b) for b in self.boxes.values())

    def subset(self, images) -> FaceBoxes:
        """The boxes and flags of the given images only."""
        keep = set(images)
        return FaceBoxes({k: v for k, v in self.boxes.items() if k in keep},
                         {k: v for k, v in self.flags.items() if k in keep})


def _as_list(value) -> list:
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def face_boxes(path: str | Path) -> FaceBoxes:
    """Read ``labels.mat`` (see the module docstring); every image of the file, present or not."""
    path = Path(path)
    mat = load_mat(path)
    if "labels" not in mat:
        raise DataFormatError("no variable 'labels'", file=path, field="labels")
    boxes, flags = {}, {}
    for i, entry in enumerate(_as_list(mat["labels"])):
        record = f"labels({i + 1})"
        img = text(getattr(entry, "img", None), file=path, record=record, field="img")
        n = int(scalar(getattr(entry, "nFaces", None), file=path, record=record, field="nFaces"))
        faces = [] if n == 0 else _as_list(getattr(entry, "faces", None))
        if len(faces) != n:
            raise DataFormatError(f"nFaces is {n} but faces holds {len(faces)}", file=path, record=record,
                                  field="faces")
        rows, marks = [], []
        for k, face in enumerate(faces):
            rec = f"{record}.faces({k + 1}) (image {img!r})"
            vals = {}
            for name in ("left", "top", "width", "height", *FLAGS):
                if not hasattr(face, name):
                    raise DataFormatError("missing field", file=path, record=rec, field=name)
                vals[name] = scalar(getattr(face, name), file=path, record=rec, field=name)
            if not np.isfinite([vals["left"], vals["top"], vals["width"], vals["height"]]).all() or \
                    vals["width"] <= 0 or vals["height"] <= 0:
                raise DataFormatError(f"box {[vals['left'], vals['top'], vals['width'], vals['height']]} is not a "
                                      "finite box of positive size", file=path, record=rec, field="width/height")
            x0, y0 = vals["left"] - 1.0, vals["top"] - 1.0
            rows.append([x0, y0, x0 + vals["width"], y0 + vals["height"]])
            marks.append([bool(vals[f]) for f in FLAGS])
        if img in boxes:
            raise DataFormatError("image labelled twice", file=path, record=record, field="img")
        boxes[img] = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        flags[img] = np.asarray(marks, dtype=bool).reshape(-1, len(FLAGS))
    return FaceBoxes(boxes, flags)


@register_dataset("eyecrowd", description="EyeCrowd (Saliency in Crowd) free viewing: 300 crowd images x 16 "
                  "subjects, 1024x768, face boxes, 26 px/deg", has_images=True, has_durations=True, task="freeview")
def load(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read EyeCrowd from ``root`` (default ``<data_root>/eyecrowd``); see the module docstring.

    Args:
        root: folder holding ``eye/fixations.mat``, ``stimuli/`` and (optionally) ``labels.mat``.
        on_invalid: ``"raise"``, ``"drop"`` or ``"clip"`` (see :mod:`gazekit.datasets._common`).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    root = resolve_root(root, "eyecrowd")
    data = load_osie_format(EYECROWD, root, on_invalid=on_invalid, cache=cache)
    labels = root / "labels.mat"
    if labels.is_file():
        faces = face_boxes(labels).subset(set(data.scanpaths.image))
        data.meta["faces"] = faces
        data.meta["face_boxes"] = len(faces)
    return data
