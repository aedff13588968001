"""amazon_books reader: real counts, the fitted 14 x 6 cover grid, snapping, and clear errors on bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gazekit.datasets import load_dataset
from gazekit.datasets.amazon_books import fit_grid, snap_to_objects
from gazekit.errors import DataFormatError, DatasetNotFoundError
from tests.conftest import require_data


def test_fit_grid_recovers_a_known_lattice():
    start, pitch, size = np.array([24.0, 19.0]), np.array([182.0, 263.0]), np.array([160.0, 244.0])
    rng = np.random.default_rng(0)
    cells = np.stack([rng.integers(0, 14, 40), rng.integers(0, 6, 40)], 1)
    x0 = start + pitch * cells
    boxes = np.concatenate([x0, x0 + size], 1)
    grid, residual = fit_grid(boxes)
    assert grid.shape == (84, 4) and residual < 1e-6
    np.testing.assert_allclose(grid[0], [24, 19, 184, 263])
    np.testing.assert_allclose(grid[6 * 14 - 1], [24 + 13 * 182, 19 + 5 * 263, 24 + 13 * 182 + 160, 19 + 5 * 263 + 244])


def test_snap_to_objects_nearest_centre():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    np.testing.assert_array_equal(snap_to_objects([1, 14, 16, np.nan], [5, 5, 5, 5], boxes), [0, 0, 1, -1])


@pytest.fixture(scope="module")
def amazon():
    require_data("amazon_books", "Amazon.json")
    return load_dataset("amazon_books")


def test_counts_and_fields(amazon):
    sp = amazon.scanpaths
    assert len(sp) == 600 and len(set(sp.image)) == 100 and len(set(sp.subject)) == 6
    assert sp.num_fixations == 8683
    assert not sp.has_durations and np.isnan(sp.duration[sp.mask].numpy()).all()
    assert set(sp.condition) == {"present"}
    assert amazon.images == {} and amazon.report.empty
    row = sp.scanpath(sp.image.index("1.jpg"))
    np.testing.assert_array_equal(row["target_box"], [2184, 22, 2339, 262])
    np.testing.assert_array_equal(row["image_size"], [2559, 1600])
    assert row["task"] == "target_0.jpg"
    np.testing.assert_array_equal([row["x"][0], row["y"][0]], [1289, 770])


def test_grid_holds_every_target(amazon):
    grid = np.asarray(amazon.meta["object_boxes"])
    assert grid.shape == (84, 4)
    assert amazon.meta["grid_fit_residual_px"] < 25  # covers sit on a regular lattice within 25 px
    sp = amazon.scanpaths
    for i in range(0, len(sp), 6):
        layout = json.loads(sp.scanpath_attrs["layout"][i])
        tb = sp.target_box[i].numpy()
        cx, cy = (tb[0] + tb[2]) / 2, (tb[1] + tb[3]) / 2
        x0, y0, x1, y1 = grid[layout["target_pos"]]
        assert x0 < cx < x1 and y0 < cy < y1


def test_fixations_inside_the_target_snap_to_it(amazon):
    sp = amazon.scanpaths
    hits = 0
    for i in range(len(sp)):
        row = sp.scanpath(i)
        tb = row["target_box"]
        inside = (row["x"] > tb[0]) & (row["x"] < tb[2]) & (row["y"] > tb[1]) & (row["y"] < tb[3])
        target_pos = json.loads(row["layout"])["target_pos"]
        assert (row["object"][inside] == target_pos).all()
        hits += inside.any()
    assert hits / len(sp) > 0.9  # almost every subject's scanpath reaches the target


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Amazon.json"):
        load_dataset("amazon_books", root=tmp_path)
    (tmp_path / "Amazon.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_dataset("amazon_books", root=tmp_path, cache=False)
    doc = {"1.jpg": {"fixations": {"1": [[10, 10], [5000, 10]]}, "size": {"width": 2560, "height": 1600},
                     "ground_truth": [{"xmin": 24, "xmax": 184, "ymin": 19, "ymax": 263}], "target": "t.jpg"}}
    (tmp_path / "Amazon.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="record 1.jpg subject 1.*fixations"):
        load_dataset("amazon_books", root=tmp_path, cache=False)
    ds = load_dataset("amazon_books", root=tmp_path, cache=False, on_invalid="drop")
    assert ds.report.dropped_fixations == {"outside the image": 1} and ds.scanpaths.num_fixations == 1
    doc["1.jpg"]["ground_truth"] = [{"xmin": 50, "xmax": 40, "ymin": 0, "ymax": 10}]
    (tmp_path / "Amazon.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="degenerate"):
        load_dataset("amazon_books", root=tmp_path, cache=False)
