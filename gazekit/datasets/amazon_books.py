"""Amazon book-cover collage search (Sattar et al.; annotations by Stauden, Barz & Sonntag, KI 2018).

100 collages (about 2560 x 1600 px) of 84 book covers in 6 rows x 14 columns; six subjects searched each collage
for one cover. ``Amazon.json`` holds ``image -> {fixations: {subject: [[x, y], ...]}, ground_truth: [box],
size, target}``. There are no durations (NaN) and no images in the shared copy.

Object boxes: the per-collage grid masks of the OAT repository are not shipped, so gazekit reconstructs the grid
as a regular 14 x 6 lattice fitted (least squares) to the 100 annotated target boxes, which all sit on it; the
fit residuals are in ``meta["grid_fit_residual_px"]``. The annotated target box replaces its lattice cell. Each fixation is
snapped to the cover holding it, else the nearest one (edge distance, as OAT does): ``fixation_attrs["object"]`` is the 0-based cover index ``row * 14 + col`` and x, y stay the recorded
gaze position. ``scanpath_attrs["layout"]`` is JSON ``{"grid": [rows, cols], "target_pos", "boxes"}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from gazekit.datasets._common import check_policy
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError, DatasetNotFoundError
from gazekit.progress import track
from gazekit.scanpaths import Scanpaths, ValidationReport

ROWS, COLS = 6, 14


def _target_box(entry: dict, path: Path, name: str) -> np.ndarray:
    gt = entry.get("ground_truth")
    if not isinstance(gt, list) or len(gt) != 1 or not isinstance(gt[0], dict):
        raise DataFormatError("expected a list with one box", file=path, record=name, field="ground_truth")
    try:
        box = np.array([float(gt[0][k]) for k in ("xmin", "ymin", "xmax", "ymax")])
    except (KeyError, TypeError, ValueError) as err:
        raise DataFormatError(f"box needs numeric xmin, ymin, xmax, ymax ({err})", file=path, record=name,
                              field="ground_truth") from err
    if not (box[2] > box[0] and box[3] > box[1]):
        raise DataFormatError(f"degenerate box {box.tolist()}", file=path, record=name, field="ground_truth")
    return box


def fit_grid(target_boxes: np.ndarray, rows: int = ROWS, cols: int = COLS) -> tuple[np.ndarray, float]:
    """Fit a regular ``rows x cols`` lattice to boxes that lie on it.

    Each axis is fitted as ``start + pitch * index`` (least squares, index from a first pitch guess of
    extent / count), cover size = median box size. Returns the ``[rows * cols, 4]`` boxes (row-major) and the
    largest absolute residual of a box corner in px.
    """
    params = []
    for lo, hi, n in ((0, 2, cols), (1, 3, rows)):
        starts, ends = target_boxes[:, lo], target_boxes[:, hi]
        pitch0 = (ends.max() - starts.min()) / n
        index = np.clip(np.round((starts - starts.min()) / pitch0), 0, n - 1)
        a = np.stack([np.ones_like(index), index], 1)
        (start, pitch), *_ = np.linalg.lstsq(a, starts, rcond=None)
        params.append((start, pitch, float(np.median(ends - starts)), np.abs(a @ [start, pitch] - starts).max()))
    (x0, px, w, rx), (y0, py, h, ry) = params
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    bx, by = x0 + px * c.ravel(), y0 + py * r.ravel()
    return np.stack([bx, by, bx + w, by + h], 1), float(max(rx, ry))


@register_dataset("amazon_books", description="Amazon book-cover collage search (Sattar et al.; 100 collages, "
                  "6 subjects, 14x6 cover grid)", has_images=False, has_durations=False, object_level=True)
def load(root=None, *, on_invalid: str = "raise", cache: bool = True) -> GazeDataset:
    """Read ``Amazon.json``.

    Args:
        root: the ``amazon_books`` folder; default ``<data_root>/amazon_books``.
        on_invalid: ``"error"``/``"raise"`` (a fixation outside the collage raises :class:`DataFormatError`),
            ``"drop"`` (such fixations are dropped and counted in ``report``) or ``"clip"`` (clipped onto the
            collage and counted; non-finite ones dropped).
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    on_invalid = check_policy(on_invalid)
    root = resolve_root(root, "amazon_books")
    path = root / "Amazon.json"
    if not path.is_file():
        raise DatasetNotFoundError("amazon_books", root, "Amazon.json")
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataFormatError(f"not valid JSON: {err}", file=path) from err
    if not isinstance(doc, dict) or not doc:
        raise DataFormatError("expected an object mapping image names to trials", file=path)
    targets = np.stack([_target_box(e, path, n) for n, e in doc.items()])
    grid, residual = fit_grid(targets)
    centres = np.stack([(grid[:, 0] + grid[:, 2]) / 2, (grid[:, 1] + grid[:, 3]) / 2], 1)

    def build():
        report = ValidationReport()
        cols = {k: [] for k in ("xs", "ys", "obj", "image", "subject", "task", "tbox", "size", "layout")}
        for (name, entry), tbox in track(zip(doc.items(), targets), f"parsing {path.name}: images", len(doc)):
            try:
                w, h = float(entry["size"]["width"]), float(entry["size"]["height"])
            except (KeyError, TypeError, ValueError) as err:
                raise DataFormatError(f"needs numeric width and height ({err})", file=path, record=name,
                                      field="size") from err
            tc = (tbox[:2] + tbox[2:]) / 2
            target_pos = int(np.argmin(((centres - tc) ** 2).sum(1)))
            boxes = grid.copy()
            boxes[target_pos] = tbox  # the annotated box is exact; the lattice is a fit
            layout = json.dumps({"grid": [ROWS, COLS], "target_pos": target_pos, "boxes": np.round(boxes, 2).tolist()})
            fixations = entry.get("fixations")
            if not isinstance(fixations, dict):
                raise DataFormatError("expected {subject: [[x, y], ...]}", file=path, record=name, field="fixations")
            for subject, points in fixations.items():
                xy = np.asarray(points, dtype=float).reshape(-1, 2) if len(points) else np.zeros((0, 2))
                bad = ~np.isfinite(xy).all(1) | (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] > w) | (xy[:, 1] > h)
                if bad.any():
                    if on_invalid == "raise":
                        raise DataFormatError(f"fixation {xy[bad][0].tolist()} outside the {w:g}x{h:g} collage",
                                              file=path, record=f"{name} subject {subject}", field="fixations")
                    finite = np.isfinite(xy).all(1)
                    if on_invalid == "clip":  # clip finite positions onto the collage, drop the others
                        report.add("clipped_fixations", "outside the image", int((bad & finite).sum()))
                        report.add("dropped_fixations", "nan coordinate", int((~finite).sum()))
                        xy = np.clip(xy[finite], 0.0, [w, h])
                    else:
                        report.add("dropped_fixations", "outside the image", int(bad.sum()))
                        xy = xy[~bad]
                obj = snap_to_objects(xy[:, 0], xy[:, 1], boxes) if len(xy) else []
                cols["xs"].append(xy[:, 0])
                cols["ys"].append(xy[:, 1])
                cols["obj"].append(np.asarray(obj, float))
                cols["image"].append(name)
                cols["subject"].append(str(subject))
                cols["task"].append(str(entry.get("target", "")))
                cols["tbox"].append(tbox)
                cols["size"].append([w, h])
                cols["layout"].append(layout)
        sp = Scanpaths.from_sequences(
            cols["xs"], cols["ys"], dataset="amazon_books", image=cols["image"], subject=cols["subject"],
            trial=cols["image"], task=cols["task"], condition="present", target_box=np.stack(cols["tbox"]),
            image_size=np.asarray(cols["size"]), fixation_attrs={"object": cols["obj"]},
            scanpath_attrs={"layout": cols["layout"]})
        return sp, report

    sp, report = cached_scanpaths("amazon_books", [path], build, enabled=cache,
                                  options={"on_invalid": on_invalid, "reader_version": 2})  # bump on changes
    return GazeDataset(
        name="amazon_books", scanpaths=sp, root=root, images={}, templates={}, viewing_time_ms=None, report=report,
        meta={"grid": [ROWS, COLS], "object_boxes": np.round(grid, 2).tolist(), "grid_fit_residual_px": residual,
              "licence": "CC BY-NC-SA 4.0",
              "citation": "Sattar et al. CVPR 2015; Stauden, Barz & Sonntag, KI 2018"})


def snap_to_objects(x, y, boxes) -> np.ndarray:
    """Index of the box holding each (x, y) px point, else of the nearest box (distance to its edge, as OAT
    snaps); ties go to the lower index; NaN points give -1."""
    boxes = np.asarray(boxes, float)
    pts = np.stack([np.asarray(x, float), np.asarray(y, float)], -1)
    dx = np.maximum(np.maximum(boxes[:, 0] - pts[..., None, 0], pts[..., None, 0] - boxes[:, 2]), 0)
    dy = np.maximum(np.maximum(boxes[:, 1] - pts[..., None, 1], pts[..., None, 1] - boxes[:, 3]), 0)
    d = np.hypot(dx, dy)
    out = np.argmin(np.nan_to_num(d, nan=math.inf), axis=-1)
    return np.where(np.isfinite(pts).all(-1), out, -1)
