"""Interiors indoor-scene visual search (Sclar, Bujia, Vita, Solovey & Kamienkowski, Front. Syst. Neurosci.
2022; the ViSioNS "Interiors" set), MIT licence.

Files: ``info_all_subj.mat`` (struct array ``info_per_subj_final``, one entry per trial: ``subj, image_name,
target_name, target_rect, target_found, search_rt, nsaccades_allowed, trial_order, x, y, t, dur``),
``images/`` (134 grayscale 1024 x 768), ``templates/`` (134 target templates, 72 x 72 px) and
``targets_categories.json`` (image -> target object name). 57 subjects, 7,455 trials, 47,383 fixations.

Coordinate convention (documented conversion): the file stores MATLAB 1-based pixel positions (pixel (1, 1)
is the top-left pixel); gazekit is 0-based (origin at the top-left corner), so **1 is subtracted from x, y and
every ``target_rect`` corner**. ``target_rect`` ``[x0, y0, x1, y1]`` has ``x1 - x0 = 72``, the template side, so
the converted box spans exactly the template (checked in the tests: the image crop at the converted box equals
the template best at offset (0, 0)). The recorded positions are clipped by the source to
``[0, 1024] x [0, 768]`` (1-based), so after conversion a few dozen fixations sit at -1, just left of / above the
image: the default policy ``on_invalid="clip"`` moves them onto the border and counts them in ``report``
(``"raise"`` and ``"drop"`` are available).

Other fields: ``t_start`` is the tracker clock in ms (not shifted); ``task`` is the target object name from
``targets_categories.json`` (the template file stem if the image is not listed there); ``condition`` is
``"present"`` (every trial has a target); ``trial`` is ``"<subj>/<trial_order>"``; ``scanpath_attrs`` hold
``template`` (file name), ``target_found`` ("0"/"1"), ``search_rt_ms`` and ``nsaccades_allowed``. The screen
was 1280 x 960 or 1280 x 1024 px with the image centred; its physical size and distance are not in the files, so
``screen`` and ``ppd`` are NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit.datasets._common import (ScanpathBuilder, check_policy, load_json, load_mat, numeric_vector,
                                      require_file, scalar, text)
from gazekit.datasets.base import GazeDataset, cached_scanpaths, resolve_root
from gazekit.datasets.registry import register_dataset
from gazekit.errors import DataFormatError
from gazekit.progress import track

WIDTH, HEIGHT = 1024, 768
META = {"licence": "MIT", "citation": "Sclar et al., Modeling human visual search in natural scenes, "
        "Front. Syst. Neurosci. 2022", "coordinates": "converted from 1-based MATLAB pixels by subtracting 1"}


def _categories(root: Path) -> dict[str, str]:
    path = root / "targets_categories.json"
    if not path.is_file():
        return {}
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise DataFormatError("expected an object image -> {target_object}", file=path)
    out = {}
    for image, entry in doc.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("target_object"), str):
            raise DataFormatError("expected {'target_object': name}", file=path, record=image, field="target_object")
        out[image] = entry["target_object"]
    return out


def parse_interiors(path: Path, *, categories: dict[str, str] | None = None, on_invalid: str = "clip"):
    """Parse ``info_all_subj.mat`` into (Scanpaths, ValidationReport); see the module docstring."""
    mat = load_mat(path)
    if "info_per_subj_final" not in mat:
        raise DataFormatError("no variable 'info_per_subj_final'", file=path, field="info_per_subj_final")
    trials = mat["info_per_subj_final"]
    trials = list(trials.reshape(-1)) if isinstance(trials, np.ndarray) else [trials]
    categories = categories or {}
    builder = ScanpathBuilder(path, on_invalid, "interiors")
    for i, trial in enumerate(track(trials, f"parsing {path.name}: trials")):
        record = f"info_per_subj_final({i + 1})"
        try:
            def get(name):
                if not hasattr(trial, name):
                    raise DataFormatError("missing field", file=path, record=record, field=name)
                return getattr(trial, name)

            subj = text(get("subj"), file=path, record=record, field="subj")
            image = text(get("image_name"), file=path, record=record, field="image_name")
            template = text(get("target_name"), file=path, record=record, field="target_name")
            rect = numeric_vector(get("target_rect"), file=path, record=record, field="target_rect")
            if rect.size != 4:
                raise DataFormatError(f"expected 4 numbers [x0, y0, x1, y1], got {rect.size}", file=path,
                                      record=record, field="target_rect")
            order = scalar(get("trial_order"), file=path, record=record, field="trial_order")
            found = scalar(get("target_found"), file=path, record=record, field="target_found")
            rt = scalar(get("search_rt"), file=path, record=record, field="search_rt")
            allowed = scalar(get("nsaccades_allowed"), file=path, record=record, field="nsaccades_allowed")
            seq = {name: numeric_vector(get(name), file=path, record=record, field=name)
                   for name in ("x", "y", "t", "dur")}
        except DataFormatError as err:
            builder.bad_record(err, "missing or mistyped field")
            continue
        task = categories.get(image) or Path(template).stem
        builder.add(seq["x"] - 1.0, seq["y"] - 1.0, seq["t"], seq["dur"], image=image, subject=subj,
                    trial=f"{subj}/{order:g}", task=task, condition="present", target_box=rect - 1.0,
                    image_size=(WIDTH, HEIGHT),
                    extra={"template": template, "target_found": f"{found:g}", "search_rt_ms": repr(rt * 1000.0),
                           "nsaccades_allowed": f"{allowed:g}"},
                    record=f"{record} (subject {subj!r}, image {image!r})")
    return builder.build()


@register_dataset("interiors", description="Interiors indoor-scene visual search: 57 subjects, 134 images, 7,455 "
                  "trials, target templates and boxes, 1024x768", has_images=True, has_durations=True, task="search")
def load(root=None, *, on_invalid: str = "clip", cache: bool = True) -> GazeDataset:
    """Read Interiors from ``root`` (default ``<data_root>/interiors``).

    Args:
        root: folder holding ``info_all_subj.mat``, ``images/``, ``templates/``.
        on_invalid: ``"clip"`` (default; see the module docstring for why), ``"drop"`` or ``"raise"``.
        cache: parse once and keep a Parquet copy in the gazekit cache.
    """
    check_policy(on_invalid)
    root = resolve_root(root, "interiors")
    path = require_file("interiors", root, "info_all_subj.mat")
    categories = _categories(root)
    sources = [path] + ([root / "targets_categories.json"] if (root / "targets_categories.json").is_file() else [])
    scanpaths, report = cached_scanpaths(
        "interiors", sources, lambda: parse_interiors(path, categories=categories, on_invalid=on_invalid),
        enabled=cache, options={"on_invalid": on_invalid})
    images = {img: root / "images" / img for img in sorted(set(scanpaths.image)) if (root / "images" / img).is_file()}
    templates = {}
    for img, tpl in zip(scanpaths.image, scanpaths.scanpath_attrs.get("template", [])):
        if img not in templates and (root / "templates" / tpl).is_file():
            templates[img] = root / "templates" / tpl
    return GazeDataset("interiors", scanpaths, root, images=images, templates=templates, viewing_time_ms=None,
                       report=report, meta=dict(META))
