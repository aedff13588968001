"""Interiors: counts on the real data, the 1-based -> 0-based conversion, templates and boxes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazekit import DataFormatError
from gazekit.datasets import load_dataset
from gazekit.datasets.interiors import load as load_interiors
from tests.conftest import require_data
from tests.datasets._mat import interiors_trial, row, write_interiors


@pytest.fixture(scope="module")
def interiors():
    require_data("interiors", "info_all_subj.mat")
    return load_dataset("interiors")


def test_counts_on_real_data(interiors):
    sp = interiors.scanpaths
    assert len(sp) == 7455
    assert sp.num_fixations == 47383
    assert len(set(sp.subject)) == 57 and len(set(sp.image)) == 134
    assert len(interiors.images) == 134 and len(interiors.templates) == 134
    assert set(sp.condition) == {"present"} and sp.has_targets and sp.has_durations and sp.has_onsets
    assert int((sp.lengths == 0).sum()) == 5  # five trials ended before any fixation was recorded
    # the source clips positions to [0, 1024] x [0, 768] (1-based); 68 land at -1 after conversion
    assert interiors.report.clipped_fixations == {"outside the image": 68}
    assert interiors.report.dropped_fixations == {} and interiors.report.dropped_scanpaths == {}


def test_first_trial_is_converted_to_zero_based(interiors):
    sp = interiors.scanpaths
    first = sp.scanpath(sp.trial.index("AFR/1"))
    assert first["image"] == "grayscale_11_opensource.jpg"
    # raw: x = [624.5, 508.6, ...], y = [759.9, 435.0, ...], target_rect = [229, 560, 301, 632] (1-based)
    assert first["x"][:2].tolist() == pytest.approx([623.5, 507.6])
    assert first["y"][:2].tolist() == pytest.approx([758.9, 434.0])
    assert first["target_box"].tolist() == [228.0, 559.0, 300.0, 631.0]
    assert first["t_start"][:2].tolist() == [228727.0, 230222.0] and first["duration"][0] == 1449.0
    assert first["template"] == "grayscale_11_opensource_template_1.jpg" and first["target_found"] == "1"


def test_boxes_span_the_template_and_contain_found_targets(interiors):
    sp = interiors.scanpaths
    width = sp.target_box[:, 2] - sp.target_box[:, 0]
    assert torch.all(width == 72)  # the template side
    found = [i for i, f in enumerate(sp.scanpath_attrs["target_found"]) if f == "1" and int(sp.lengths[i]) > 0]
    last = sp.lengths[found] - 1
    x, y = sp.x[found, last], sp.y[found, last]
    box = sp.target_box[found]
    centre_dist = torch.hypot(x - (box[:, 0] + box[:, 2]) / 2, y - (box[:, 1] + box[:, 3]) / 2)
    # an oracle for the axis order: with x/y swapped only ~8% of last fixations are near the target
    assert float((centre_dist < 72).double().mean()) > 0.9


def test_converted_box_crops_the_template_exactly(interiors):
    """Independent oracle for the 1-based -> 0-based conversion: the image crop at the converted box matches the
    target template best at offset (0, 0) among all shifts of up to 2 px (a missing -1 would give (1, 1))."""
    import cv2

    sp = interiors.scanpaths
    first_trial = {}
    for i, img in enumerate(sp.image):
        first_trial.setdefault(img, i)
    for img in sorted(first_trial)[:8]:
        image = cv2.imread(str(interiors.images[img]), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        template = cv2.imread(str(interiors.templates[img]), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        x0, y0 = (int(v) for v in sp.target_box[first_trial[img], :2].tolist())
        errors = {}
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                crop = image[y0 + dy:y0 + dy + 72, x0 + dx:x0 + dx + 72]
                if crop.shape == template.shape:
                    errors[(dx, dy)] = float(np.abs(crop - template).mean())
        assert min(errors, key=errors.get) == (0, 0), (img, errors)


@pytest.mark.slow  # parses the 7,455 trials a second time (cached afterwards)
def test_drop_policy_on_real_data():
    require_data("interiors", "info_all_subj.mat")
    dropped = load_dataset("interiors", on_invalid="drop")
    assert dropped.scanpaths.num_fixations == 47383 - 68
    assert dropped.report.dropped_fixations == {"outside the image": 68}


# ---------------------------------------------------------------- bad input (synthetic files)
def test_conversion_on_a_synthetic_file(tmp_path):
    write_interiors(tmp_path / "info_all_subj.mat", [interiors_trial()])
    sp = load_interiors(tmp_path, cache=False).scanpaths
    assert sp.x[0].tolist() == [512.0, 149.0] and sp.y[0].tolist() == [384.0, 239.0]
    assert sp.target_box[0].tolist() == [100.0, 200.0, 172.0, 272.0]
    assert sp.scanpath_attrs["search_rt_ms"] == ["1500.0"]


def test_mismatched_x_y_t_lengths(tmp_path):
    write_interiors(tmp_path / "info_all_subj.mat", [interiors_trial(), interiors_trial(t=row([1, 2, 3]))])
    with pytest.raises(DataFormatError, match=r"info_per_subj_final\(2\).*field 't'.*3 values but x has 2"):
        load_interiors(tmp_path, on_invalid="raise", cache=False)
    data = load_interiors(tmp_path, on_invalid="drop", cache=False)
    assert len(data) == 1 and data.report.dropped_scanpaths == {"mismatched lengths": 1}


def test_missing_field_and_bad_rect(tmp_path):
    trial = interiors_trial()
    del trial["dur"]
    write_interiors(tmp_path / "info_all_subj.mat", [trial])
    with pytest.raises(DataFormatError, match="field 'dur'"):
        load_interiors(tmp_path, on_invalid="raise", cache=False)
    write_interiors(tmp_path / "info_all_subj.mat", [interiors_trial(target_rect=row([1, 2, 3]))])
    with pytest.raises(DataFormatError, match="field 'target_rect'"):
        load_interiors(tmp_path, on_invalid="raise", cache=False)
    data = load_interiors(tmp_path, on_invalid="drop", cache=False)
    assert len(data) == 0 and data.report.dropped_scanpaths == {"missing or mistyped field": 1}


def test_raise_policy_names_outside_fixation(tmp_path):
    write_interiors(tmp_path / "info_all_subj.mat", [interiors_trial(x=row([0.0, 10.0]))])
    with pytest.raises(DataFormatError, match="outside the image"):
        load_interiors(tmp_path, on_invalid="raise", cache=False)
    clipped = load_interiors(tmp_path, cache=False)
    assert clipped.scanpaths.x[0].tolist() == [0.0, 9.0]
    assert np.isfinite(clipped.scanpaths.t_start[0].numpy()).all()
