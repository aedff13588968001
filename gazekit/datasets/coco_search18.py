"""COCO-Search18 (Yang et al., CVPR 2020; Chen et al., Sci Rep 2021) in its original JSON format.

Each file is a JSON list of trials ``{name, subject, task, condition, bbox [x, y, w, h], X, Y, T, length,
correct, RT, split}``: ``X``/``Y`` in pixels of the 1680 x 1050 presentation frame (COCO images resized with zero
padding, aspect kept), ``T`` fixation durations in ms, the first fixation being the initial centre fixation.
Any split file works (``*_TP_*`` target-present, ``*_TA_*`` target-absent, train/validation, split 1 or 2); by
default every ``*.json`` file in ``root`` is read. The shared copy is target-present validation split 1: 3,258
scanpaths, 10 subjects, 18 categories.

Conversions: ``bbox [x, y, w, h]`` -> ``target_box (x, y, x + w, y + h)``; a trial without a box (target-absent
files) gets NaN. ``t_start`` is NaN (the files hold durations only). ``task`` is the target category,
``condition`` "present"/"absent", ``trial`` ``"<task>/<name>/<subject>"``; ``scanpath_attrs`` hold ``correct``,
``rt_ms``, ``split`` and ``file``. Incorrect trials are kept (community practice excludes them: pass
``correct_only=True``). Images are not shipped (``images`` is empty). A handful of fixations lie outside the
frame (5 in the shared file): the default ``on_invalid="clip"`` moves them onto the border and counts them.
"""

from __future__ import annotations

import math
from pathlib import Path

from gazekit.datasets._common import ScanpathBuilder, check_policy, load_json, numeric_vector, scalar, text
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError, DatasetNotFoundError, InvalidInputError
from gazekit.progress import track
from gazekit.scanpaths import Scanpaths, ValidationReport

WIDTH, HEIGHT = 1680, 1050
META = {"citation": "Yang et al., CVPR 2020; Chen et al., Sci Rep 2021", "licence": "none stated",
        "frame": "1680x1050, COCO images resized with zero padding, aspect kept"}


def parse_coco_search18(paths: list[Path], *, on_invalid: str = "clip", correct_only: bool = False):
    """Parse one or more COCO-Search18 JSON files into (Scanpaths, ValidationReport)."""
    builders = []
    for path in paths:
        doc = load_json(path)
        if not isinstance(doc, list):
            raise DataFormatError(f"expected a JSON list of trials, got {type(doc).__name__}", file=path)
        builder = ScanpathBuilder(path, on_invalid, "coco_search18")
        for i, trial in enumerate(track(doc, f"parsing {path.name}: trials")):
            record = f"{i}"
            try:
                if not isinstance(trial, dict):
                    raise DataFormatError(f"expected an object, got {type(trial).__name__}", file=path, record=record)

                def get(name):
                    if name not in trial:
                        raise DataFormatError("missing field", file=path, record=record, field=name)
                    return trial[name]

                name = text(get("name"), file=path, record=record, field="name")
                record = f"{i} (image {name!r})"
                subject = text(get("subject"), file=path, record=record, field="subject")
                task = text(get("task"), file=path, record=record, field="task")
                condition = text(trial.get("condition", "present"), file=path, record=record, field="condition")
                if condition not in ("present", "absent"):
                    raise DataFormatError(f"expected 'present' or 'absent', got {condition!r}", file=path,
                                          record=record, field="condition")
                xs, ys, ts = (numeric_vector(get(k), file=path, record=record, field=k) for k in ("X", "Y", "T"))
                box = None
                if trial.get("bbox") is not None:
                    bbox = numeric_vector(trial["bbox"], file=path, record=record, field="bbox")
                    if bbox.size != 4 or not (bbox[2] >= 0 and bbox[3] >= 0):
                        raise DataFormatError(f"expected [x, y, w, h] with w, h >= 0, got {bbox.tolist()}",
                                              file=path, record=record, field="bbox")
                    box = (bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3])
                if "length" in trial:
                    length = scalar(trial["length"], file=path, record=record, field="length")
                    if length != len(xs):
                        raise DataFormatError(f"length is {length:g} but X has {len(xs)} values", file=path,
                                              record=record, field="length")
                correct = scalar(trial["correct"], file=path, record=record, field="correct") \
                    if trial.get("correct") is not None else math.nan
                rt = scalar(trial["RT"], file=path, record=record, field="RT") \
                    if trial.get("RT") is not None else math.nan
                split = text(trial.get("split", ""), file=path, record=record, field="split")
            except DataFormatError as err:
                builder.bad_record(err, "missing or mistyped field")
                continue
            if correct_only and correct != 1:
                continue
            builder.add(xs, ys, None, ts, image=name, subject=subject, trial=f"{task}/{name}/{subject}", task=task,
                        condition=condition, target_box=box, image_size=(WIDTH, HEIGHT),
                        extra={"correct": "" if math.isnan(correct) else f"{correct:g}",
                               "rt_ms": "" if math.isnan(rt) else f"{rt:g}", "split": split, "file": path.name},
                        record=record)
        builders.append(builder.build())
    if not builders:
        return Scanpaths.empty(), ValidationReport()
    report = ValidationReport()
    for _, r in builders:
        report.merge(r)
    return Scanpaths.concat([sp for sp, _ in builders]), report


@register_dataset("coco_search18", description="COCO-Search18 visual search, original JSON (any split file, "
                  "target-present and -absent); 1680x1050 frame, no images", has_images=False, has_durations=True,
                  task="search")
def load(root=None, *, files=None, on_invalid: str = "clip", correct_only: bool = False,
         cache: bool = True) -> GazeDataset:
    """Read COCO-Search18 JSON files.

    Args:
        root: folder with the JSON files (default ``<data_root>/coco_search18``), or one JSON file.
        files: file name(s) or path(s) to read (relative to ``root``); default every ``*.json`` in ``root``.
        on_invalid: ``"clip"`` (default), ``"drop"`` or ``"raise"`` for fixations outside the frame etc.
        correct_only: keep only trials answered correctly (the usual training/evaluation protocol).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    check_policy(on_invalid)
    root = resolve_root(root, "coco_search18")
    if root.is_file():
        root, files = root.parent, [root.name] if files is None else files
    if files is None:
        paths = sorted(root.glob("*.json")) if root.is_dir() else []
        if not paths:
            raise DatasetNotFoundError("coco_search18", root, "*.json (COCO-Search18 fixation files)")
    else:
        names = [files] if isinstance(files, (str, Path)) else list(files)
        if not names:
            raise InvalidInputError("files is empty")
        paths = [Path(f) if Path(f).is_absolute() else root / f for f in names]
        for p in paths:
            if not p.is_file():
                raise DatasetNotFoundError("coco_search18", root, p.name)
    scanpaths, report = cached_scanpaths(
        "coco_search18", paths, lambda: parse_coco_search18(paths, on_invalid=on_invalid, correct_only=correct_only),
        enabled=cache, options={"on_invalid": on_invalid, "correct_only": correct_only})
    return GazeDataset("coco_search18", scanpaths, root, viewing_time_ms=None, report=report,
                       meta={**META, "files": [p.name for p in paths]})
