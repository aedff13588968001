"""objarray reader: hand-checked records of the real data, layout geometry, and clear errors on bad files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gazekit.datasets import load_dataset
from gazekit.datasets.objarray import object_boxes, object_centres, render_layout
from gazekit.errors import DataFormatError, DatasetNotFoundError
from tests.conftest import require_data


def test_layout_geometry_matches_the_data_format_description():
    c = object_centres()
    # position 2 is 90 degrees clockwise from 12 o'clock: "full East" of the 1024x768 screen centre
    np.testing.assert_allclose(c[1], [512 + 230, 384])
    np.testing.assert_allclose(c[4], [512 - 230, 384])
    # position 1 at 30 degrees: up and to the right
    np.testing.assert_allclose(c[0], [512 + 230 * 0.5, 384 - 230 * math.sqrt(3) / 2])
    np.testing.assert_allclose(np.hypot(c[:, 0] - 512, c[:, 1] - 384), 230)
    b = object_boxes()
    np.testing.assert_allclose(b[:, 2] - b[:, 0], 156)


@pytest.fixture(scope="module")
def objarray():
    require_data("objarray", "subjectsdata", "LISTCORRECTFILES.txt")
    return load_dataset("objarray")


def test_counts(objarray):
    sp = objarray.scanpaths
    assert len(sp) == 29 * 440 == 12760  # 29 listed sessions of 440 trials
    assert sp.num_fixations == 35798
    assert sp.condition.count("absent") == 4060
    assert len(set(sp.subject)) == 16
    assert objarray.report.empty
    assert len(objarray.meta["object_images"]) == 40


def test_first_trial_of_hc_block10_by_hand(objarray):
    """DATAFORMAT.txt's example: results{1} of ResultsSaccades_HC_blk10.mat."""
    sp = objarray.scanpaths
    i = sp.image.index("HC_blk10_001")
    row = sp.scanpath(i)
    assert row["subject"] == "HC" and row["trial"] == "blk10-200" and row["condition"] == "present"
    assert row["task"] == "object23"
    np.testing.assert_array_equal(row["object"], [3, 4, 5, 0, 2])  # fixatedobjects [4 5 6 1 3], 0-based
    np.testing.assert_array_equal(row["object_id"], [37, 27, 8, 32, 23])  # probes [32 25 23 37 27 8]
    # position 4 sits at 210 degrees: x = 512 - 230 sin 30, y = 384 + 230 cos 30
    np.testing.assert_allclose([row["x"][0], row["y"][0]], [397.0, 384 + 230 * math.sqrt(3) / 2])
    np.testing.assert_allclose(row["t_start"], [228.6098, 493.74652, 714.74237, 905.93669, 1094.34024], atol=1e-3)
    np.testing.assert_allclose(row["duration"][:4], [257.0171, 208.1649, 183.0698, 167.6509], atol=1e-3)
    assert np.isnan(row["duration"][4])  # the trial ended on the target: no end time
    np.testing.assert_allclose(row["target_box"], [549, 384 + 199.18584 - 78, 705, 384 + 199.18584 + 78], atol=1e-3)
    layout = json.loads(row["layout"])
    assert layout["probes"] == [32, 25, 23, 37, 27, 8] and layout["target"] == 23 and layout["target_pos"] == 2
    assert objarray.templates["HC_blk10_001"].name == "23.normal.png"


def test_absent_trials_have_no_target_box(objarray):
    sp = objarray.scanpaths
    absent = np.array([c == "absent" for c in sp.condition])
    assert np.isnan(sp.target_box.numpy()[absent]).all()
    assert not np.isnan(sp.target_box.numpy()[~absent]).any()
    layouts = [json.loads(s) for s in sp.scanpath_attrs["layout"]]
    assert all((lay["target_pos"] is None) == a for lay, a in zip(layouts, absent))
    assert all(lay["target"] not in lay["probes"] for lay, a in zip(layouts, absent) if a)


def test_render_layout_places_objects(objarray):
    img = render_layout(objarray.root, [1, 2, 3, 4, 5, 6])
    assert img.shape == (768, 1024, 3)
    assert img[384, 512, 0] == pytest.approx(0.5)  # screen centre is background
    x0, y0, x1, y1 = object_boxes()[1].round().astype(int)
    assert not np.allclose(img[y0:y1, x0:x1], 0.5)


def test_missing_root_names_what_is_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="LISTCORRECTFILES"):
        load_dataset("objarray", root=tmp_path)


def _fake_session(root, fixated):
    import scipy.io as sio

    (root / "subjectsdata").mkdir(parents=True)
    (root / "objectimages").mkdir()
    (root / "subjectsdata" / "LISTCORRECTFILES.txt").write_text("ResultsSaccades_Zed_blk1.mat\n")
    rec = {"probes": np.array([[1, 2, 3, 4, 5, 6]]), "target": np.array([[3]]), "targetpos": np.array([[3]]),
           "fixatedobjects": np.array([fixated]), "fixationstarts": np.array([[0.1 * (k + 1) for k in
                                                                               range(len(fixated))]]),
           "fixationends": np.array([[0.1 * (k + 1) + 0.05 for k in range(len(fixated) - 1)]]),
           "timetofind": np.array([[0.3]]), "oldnumber": np.array([[7]])}
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = rec
    sio.savemat(root / "subjectsdata" / "ResultsSaccades_Zed_blk1.mat", {"results": cell})


def test_bad_position_raises_or_is_counted(tmp_path):
    _fake_session(tmp_path, [1, 9, 3])
    with pytest.raises(DataFormatError, match="ResultsSaccades_Zed_blk1.mat.*record 1.*fixatedobjects"):
        load_dataset("objarray", root=tmp_path, cache=False)
    ds = load_dataset("objarray", root=tmp_path, cache=False, on_invalid="drop")
    assert ds.report.dropped_fixations == {"object position outside 1..6": 1}
    row = ds.scanpaths.scanpath(0)
    np.testing.assert_array_equal(row["object"], [0, 2])
    np.testing.assert_allclose(row["duration"], [50.0, math.nan])


def test_corrupt_file_is_a_data_format_error(tmp_path):
    _fake_session(tmp_path, [1, 2])
    (tmp_path / "subjectsdata" / "ResultsSaccades_Zed_blk1.mat").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="ResultsSaccades_Zed_blk1.mat"):
        load_dataset("objarray", root=tmp_path, cache=False)
