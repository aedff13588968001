"""Object-array visual search (Miconi, Groomes & Kreiman, Cerebral Cortex 2016): six objects on a circle.

Layout facts (from the dataset's ``DATAFORMAT.txt`` and the shared data README): a 1024 x 768 px screen, six
objects 156 px wide centred 230 px from the screen centre, at 30, 90, ..., 330 degrees clockwise from 12 o'clock
(90 degrees is "full East"). ``probes[k]`` is the object id (1-40, ``objectimages/<id>.normal.png``) at position
``k``. Each recorded fixation is the *position* (1-6) of the object whose box the gaze entered; there is no raw
gaze position, so gazekit places each fixation at the centre of that object.

Output conventions (one :class:`~gazekit.scanpaths.Scanpaths` row per trial):
    * ``fixation_attrs["object"]``: 0-based position index into the layout's box list (what models point at);
      ``fixation_attrs["object_id"]``: the object image id (1-40), comparable across sessions.
    * ``x``, ``y``: the centre of the fixated object (px); ``t_start`` from ``fixationstarts`` (ms from array
      onset); ``duration`` = ``fixationends - fixationstarts`` (ms), NaN where the source has no end time (the
      last fixation usually has none because the trial ended on it).
    * ``condition``: ``"present"``/``"absent"``; ``task``: ``"object<target id>"``; ``trial``:
      ``"blk<block>-<trial id>"`` (the same trial, same objects and target, is shown to every session of a
      block with positions re-randomised); ``image``: ``"<subject><session>_blk<block>_<k>"``, one per shown array.
    * ``scanpath_attrs["layout"]``: JSON ``{"probes", "target", "target_pos" (0-based or null), "block",
      "trial_id", "boxes"}``; ``scanpath_attrs["session"]``: ``"1"`` or ``"2"``.
Only the 29 sessions in ``LISTCORRECTFILES.txt`` are read (the other files are incomplete or buggy).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import MappingProxyType

import numpy as np

from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError, DatasetNotFoundError, InvalidInputError
from gazekit.progress import track
from gazekit.scanpaths import Scanpaths, ValidationReport

SCREEN_W, SCREEN_H = 1024, 768
ECCENTRICITY_PX = 230.0
OBJECT_SIZE_PX = 156.0
N_POSITIONS = 6
ANGLES_DEG = tuple(30.0 + 60.0 * k for k in range(N_POSITIONS))  # clockwise from 12 o'clock
_NAME = re.compile(r"ResultsSaccades_(?P<subject>.+?)(?P<session>2?)_blk(?P<block>\d+)\.mat$")


def object_centres(width: float = SCREEN_W, height: float = SCREEN_H) -> np.ndarray:
    """``[6, 2]`` (x, y) px centres of the six array positions (origin top-left, y down)."""
    theta = np.radians(ANGLES_DEG)
    return np.stack([width / 2 + ECCENTRICITY_PX * np.sin(theta), height / 2 - ECCENTRICITY_PX * np.cos(theta)], 1)


def object_boxes() -> np.ndarray:
    """``[6, 4]`` (x0, y0, x1, y1) px boxes of the six positions (156 px squares)."""
    c = object_centres()
    h = OBJECT_SIZE_PX / 2
    return np.concatenate([c - h, c + h], axis=1)


def object_image_path(root: str | Path, object_id: int) -> Path:
    """The image file of object ``object_id`` under the data set folder ``root``."""
    return Path(root) / "objectimages" / f"{int(object_id)}.normal.png"


def render_layout(root: str | Path, probes, background: float = 0.5) -> np.ndarray:
    """Draw the search array: ``[768, 1024, 3]`` float32 RGB in [0, 1], object ``probes[k]`` in box ``k``.

    The objects' grey-level PNGs are resized to the 156 px box; ``background`` is the grey level (0-1) of the
    screen (a documented choice: the paper's screen colour is not in the data files).
    """
    import cv2

    if len(probes) != N_POSITIONS:
        raise InvalidInputError(f"a layout has {N_POSITIONS} objects, got {len(probes)}")
    canvas = np.full((SCREEN_H, SCREEN_W, 3), background, np.float32)
    size = int(OBJECT_SIZE_PX)
    for (x0, y0, _, _), oid in zip(object_boxes(), probes):
        path = object_image_path(root, oid)
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DataFormatError("object image missing or unreadable", file=path)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x0, y0 = round(x0), round(y0)
        canvas[y0:y0 + size, x0:x0 + size] = img[:, :, None]
    return canvas


def _field(rec, name, path, k) -> np.ndarray:
    try:
        value = np.asarray(rec[name])
        while value.dtype == object and value.size == 1:
            value = np.asarray(value.ravel()[0])
        return value.ravel()
    except (ValueError, KeyError, IndexError) as err:
        raise DataFormatError(f"field missing ({err})", file=path, record=k + 1, field=name) from err


def _read_session(path: Path, on_invalid: str, report: ValidationReport, out: dict) -> None:
    import scipy.io as sio

    match = _NAME.search(path.name)
    if not match:
        raise DataFormatError("file name does not match ResultsSaccades_<subject>[2]_blk<N>.mat", file=path)
    subject, block = match["subject"], int(match["block"])
    session = "2" if match["session"] else "1"
    try:
        results = sio.loadmat(str(path))["results"].ravel()
    except (KeyError, ValueError, OSError, TypeError, sio.matlab.MatReadError) as err:
        raise DataFormatError(f"cannot read the 'results' cell array: {err}", file=path) from err
    boxes = object_boxes()
    centres = object_centres()
    for k, cell in enumerate(results):
        rec = np.asarray(cell).ravel()[0]
        probes = _field(rec, "probes", path, k).astype(int)
        if probes.size != N_POSITIONS:
            raise DataFormatError(f"expected {N_POSITIONS} probes, got {probes.size}", file=path, record=k + 1,
                                  field="probes")
        target = int(_field(rec, "target", path, k)[0])
        target_pos = int(_field(rec, "targetpos", path, k)[0])
        present = target_pos > 0
        if present and (target_pos > N_POSITIONS or probes[target_pos - 1] != target):
            raise DataFormatError(f"targetpos {target_pos} does not hold target {target} (probes {probes.tolist()})",
                                  file=path, record=k + 1, field="targetpos")
        pos = _field(rec, "fixatedobjects", path, k).astype(int)
        starts = _field(rec, "fixationstarts", path, k).astype(float)
        ends = _field(rec, "fixationends", path, k).astype(float)
        if starts.size != pos.size:
            raise DataFormatError(f"{starts.size} fixation starts for {pos.size} fixated objects", file=path,
                                  record=k + 1, field="fixationstarts")
        bad = (pos < 1) | (pos > N_POSITIONS)
        if bad.any():
            if on_invalid == "raise":
                raise DataFormatError(f"fixated position {pos[bad][0]} is not in 1..{N_POSITIONS}", file=path,
                                      record=k + 1, field="fixatedobjects")
            report.add("dropped_fixations", "object position outside 1..6", int(bad.sum()))
        dur = np.full(pos.size, math.nan)
        n_end = min(ends.size, pos.size)
        nxt = np.append(starts[1:], np.inf)
        ok = (ends[:n_end] > starts[:n_end]) & (ends[:n_end] <= nxt[:n_end] + 1e-9)
        dur[:n_end] = np.where(ok, (ends[:n_end] - starts[:n_end]) * 1000.0, math.nan)
        keep = ~bad
        idx = pos[keep] - 1
        out["xs"].append(centres[idx, 0])
        out["ys"].append(centres[idx, 1])
        out["t"].append(starts[keep] * 1000.0)
        out["d"].append(dur[keep])
        out["object"].append(idx.astype(float))
        out["object_id"].append(probes[idx].astype(float))
        out["image"].append(f"{subject}{'' if session == '1' else '2'}_blk{block}_{k + 1:03d}")
        out["subject"].append(subject)
        out["trial"].append(f"blk{block}-{int(_field(rec, 'oldnumber', path, k)[0])}")
        out["task"].append(f"object{target}")
        out["condition"].append("present" if present else "absent")
        out["target_box"].append(boxes[target_pos - 1] if present else [math.nan] * 4)
        out["session"].append(session)
        out["layout"].append(json.dumps({
            "probes": probes.tolist(), "target": target, "target_pos": target_pos - 1 if present else None,
            "block": block, "trial_id": int(_field(rec, "oldnumber", path, k)[0]),
            "boxes": np.round(boxes, 3).tolist()}))


@register_dataset("objarray", description="Miconi et al. 2016 six-object circular array search (object-level "
                  "fixations, 16 subjects, 29 sessions)", has_images=False, has_durations=True, object_level=True)
def load(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read the object-array search data.

    Args:
        root: the ``objarray`` folder (holding ``subjectsdata/`` and ``objectimages/``); default
            ``<data_root>/objarray``.
        on_invalid: ``"raise"`` (a fixated position outside 1-6 raises :class:`DataFormatError`) or ``"drop"``
            (such fixations are dropped and counted in ``report``).
        cache: parse once and keep a Parquet copy in the gazekit cache.

    Returns:
        A :class:`GazeDataset`; ``templates`` maps each shown array to its target's object image and
        ``meta["object_images"]`` maps object id (str) -> image path (read-only). ``images`` is empty: the arrays
        are not stored as pictures (use :func:`render_layout`).
    """
    if on_invalid not in ("raise", "drop"):
        raise InvalidInputError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
    root = resolve_root(root, "objarray")
    listing = root / "subjectsdata" / "LISTCORRECTFILES.txt"
    if not listing.is_file():
        raise DatasetNotFoundError("objarray", root, "subjectsdata/LISTCORRECTFILES.txt")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    files = [root / "subjectsdata" / n for n in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DatasetNotFoundError("objarray", root, f"session file(s) {missing[:3]} listed in LISTCORRECTFILES.txt")

    def build():
        report = ValidationReport()
        out = {k: [] for k in ("xs", "ys", "t", "d", "object", "object_id", "image", "subject", "trial", "task",
                               "condition", "target_box", "session", "layout")}
        for f in track(files, "parsing objarray: session files"):
            _read_session(f, on_invalid, report, out)
        sp = Scanpaths.from_sequences(
            out["xs"], out["ys"], out["t"], out["d"], dataset="objarray", image=out["image"], subject=out["subject"],
            trial=out["trial"], task=out["task"], condition=out["condition"],
            target_box=np.asarray(out["target_box"], float).reshape(-1, 4), image_size=[SCREEN_W, SCREEN_H],
            fixation_attrs={"object": out["object"], "object_id": out["object_id"]},
            scanpath_attrs={"layout": out["layout"], "session": out["session"]})
        return sp, report

    sp, report = cached_scanpaths("objarray", [listing, *files], build, enabled=cache,
                                  options={"on_invalid": on_invalid, "reader_version": 1})
    object_images = {int(p.name.split(".")[0]): p for p in sorted((root / "objectimages").glob("*.normal.png"))}
    templates = {}
    for img, task in zip(sp.image, sp.task):
        tid = int(task[len("object"):])
        if tid in object_images:
            templates[img] = object_images[tid]
    return GazeDataset(
        name="objarray", scanpaths=sp, root=root, images={}, templates=templates, viewing_time_ms=None,
        report=report,
        # a read-only mapping, so `gazekit data info` shows the folder instead of 40 paths
        meta={"object_images": MappingProxyType({str(k): str(v) for k, v in object_images.items()}),
              "object_images_dir": str(root / "objectimages"), "sessions": len(files),
              "screen_px": [SCREEN_W, SCREEN_H], "eccentricity_px": ECCENTRICITY_PX,
              "object_size_px": OBJECT_SIZE_PX, "object_boxes": np.round(object_boxes(), 2).tolist(),
              "citation": "Miconi, Groomes & Kreiman, Cerebral Cortex 26(7):3064-3082, 2016"})


def layouts(dataset: GazeDataset) -> list[dict]:
    """The decoded ``layout`` attribute of every scanpath (probes, target, target_pos, block, trial_id, boxes)."""
    if "layout" not in dataset.scanpaths.scanpath_attrs:
        raise InvalidInputError(f"dataset {dataset.name!r} has no 'layout' scanpath attribute")
    return [json.loads(s) for s in dataset.scanpaths.scanpath_attrs["layout"]]
