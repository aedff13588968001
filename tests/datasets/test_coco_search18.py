"""COCO-Search18 original JSON: counts on split 1, bbox conversion, present/absent, any split file, bad input."""

from __future__ import annotations

import json
import math

import pytest

from gazekit import DataFormatError, DatasetNotFoundError
from gazekit.datasets import load_dataset
from gazekit.datasets.coco_search18 import load as load_coco
from tests.conftest import require_data

SPLIT1 = "coco_search18_fixations_TP_validation_split1.json"


@pytest.fixture(scope="module")
def coco():
    require_data("coco_search18", SPLIT1)
    return load_dataset("coco_search18")


def test_split1_counts(coco):
    sp = coco.scanpaths
    assert len(sp) == 3258
    assert sp.num_fixations == 12111
    assert len(set(sp.subject)) == 10 and len(set(sp.task)) == 18 and len(set(sp.image)) == 315
    assert set(sp.condition) == {"present"} and sp.has_targets and sp.has_durations and not sp.has_onsets
    assert coco.images == {}  # COCO images are not shipped
    assert coco.report.clipped_fixations == {"outside the image": 5}
    assert sum(c == "1" for c in sp.scanpath_attrs["correct"]) == 3028


def test_first_trial_values_and_bbox_conversion(coco):
    first = coco.scanpaths.scanpath(0)
    # raw: name 000000211326.jpg, subject 2, task bottle, bbox [377, 0, 288, 213], X[0] 848.3, Y[0] 530.0, T[0] 168
    assert (first["image"], first["subject"], first["task"]) == ("000000211326.jpg", "2", "bottle")
    assert first["target_box"].tolist() == [377.0, 0.0, 665.0, 213.0]
    assert first["x"].tolist() == [848.3, 738.5, 1154.2, 532.0, 520.5]
    assert first["duration"].tolist() == [168.0, 157.0, 67.0, 208.0, 643.0]
    assert first["image_size"].tolist() == [1680.0, 1050.0] and first["rt_ms"] == "920"


def test_correct_only(tmp_path):
    path = require_data("coco_search18", SPLIT1)
    data = load_coco(path, correct_only=True)  # root may be the file itself
    assert len(data) == 3028


def _trial(**overrides) -> dict:
    trial = {"name": "img.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [10, 20, 30, 40],
             "X": [840.0, 100.0], "Y": [525.0, 200.0], "T": [200, 150], "length": 2, "correct": 1, "RT": 700,
             "split": "train"}
    trial.update(overrides)
    return trial


def _write(path, trials) -> None:
    path.write_text(json.dumps(trials))


def test_present_and_absent_files_together(tmp_path):
    _write(tmp_path / "coco_search18_fixations_TP_train_split2.json", [_trial()])
    _write(tmp_path / "coco_search18_fixations_TA_train_split2.json",
           [_trial(condition="absent", bbox=None), {k: v for k, v in _trial(condition="absent").items() if k != "bbox"}])
    data = load_coco(tmp_path, cache=False)
    sp = data.scanpaths
    assert sorted(sp.condition) == ["absent", "absent", "present"]
    present = sp.condition.index("present")
    assert sp.target_box[present].tolist() == [10.0, 20.0, 40.0, 60.0]
    assert all(math.isnan(v) for i, c in enumerate(sp.condition) if c == "absent" for v in sp.target_box[i].tolist())
    only_ta = load_coco(tmp_path, files="coco_search18_fixations_TA_train_split2.json", cache=False)
    assert set(only_ta.scanpaths.condition) == {"absent"}
    with pytest.raises(DatasetNotFoundError):
        load_coco(tmp_path, files="nope.json", cache=False)


@pytest.mark.parametrize("bad, field", [
    ({"X": [1.0, 2.0, 3.0]}, "length"),
    ({"Y": [1.0], "length": 2}, "y"),
    ({"T": ["a", "b"]}, "T"),
    ({"bbox": [1, 2, 3]}, "bbox"),
    ({"condition": "maybe"}, "condition"),
    ({"subject": 1.5}, "subject"),
])
def test_bad_records_name_file_record_and_field(tmp_path, bad, field):
    _write(tmp_path / "f.json", [_trial(), _trial(**bad)])
    with pytest.raises(DataFormatError, match=rf"f.json', record 1 \(image 'img.jpg'\), field '{field}'"):
        load_coco(tmp_path, on_invalid="raise", cache=False)
    data = load_coco(tmp_path, on_invalid="drop", cache=False)
    assert len(data) == 1 and sum(data.report.dropped_scanpaths.values()) == 1


def test_missing_field_truncated_file_and_wrong_top_level(tmp_path):
    trial = _trial()
    del trial["X"]
    _write(tmp_path / "f.json", [trial])
    with pytest.raises(DataFormatError, match="field 'X'"):
        load_coco(tmp_path, on_invalid="raise", cache=False)
    (tmp_path / "f.json").write_text(json.dumps([_trial()])[:-7])
    with pytest.raises(DataFormatError, match="cannot parse JSON"):
        load_coco(tmp_path, cache=False)
    _write(tmp_path / "f.json", {"trials": []})
    with pytest.raises(DataFormatError, match="expected a JSON list"):
        load_coco(tmp_path, cache=False)


def test_nan_and_outside_fixations(tmp_path):
    (tmp_path / "f.json").write_text(json.dumps([_trial(X=[float("nan"), 2000.0])]))  # Python's json writes NaN
    with pytest.raises(DataFormatError, match="nan coordinate"):
        load_coco(tmp_path, on_invalid="raise", cache=False)
    clipped = load_coco(tmp_path, cache=False)
    assert clipped.scanpaths.x[0, :1].tolist() == [1680.0]
    assert clipped.report.to_dict() == {"dropped_fixations": {"nan coordinate": 1},
                                        "clipped_fixations": {"outside the image": 1}, "dropped_scanpaths": {}}
