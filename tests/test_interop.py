"""Interop with pysaliency and pymovements (issue 15): lossless round trips on real data, objects made by the
packages themselves read by their conventions, and a gazekit model scored by pysaliency's own metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gazekit import InvalidInputError, Scanpaths
from gazekit.datasets import load_dataset
from gazekit.paths import data_root

pysaliency = pytest.importorskip("pysaliency", reason="pysaliency (a test oracle) is not installed")
pm = pytest.importorskip("pymovements", reason="pymovements (a test oracle) is not installed")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def assert_same(a: Scanpaths, b: Scanpaths) -> None:
    pd.testing.assert_frame_equal(a.to_table(), b.to_table(), check_dtype=False)


@pytest.fixture(scope="module")
def sample():
    return load_dataset("osie-sample")


def test_pysaliency_round_trip_on_real_data_with_stimuli(sample):
    sp = sample.scanpaths
    trains, stimuli = sp.to_pysaliency(sample.images)
    assert isinstance(trains, pysaliency.FixationTrains) and len(trains.x) == sp.num_fixations == 1689
    assert len(stimuli) == 12 and stimuli.sizes[0] == (600, 800)
    first = sp.scanpath(0)
    assert trains.x[:3].tolist() == first["x"][:3].tolist() and trains.duration[:3].tolist() == [246.0, 136.0, 179.0]
    assert_same(sp, Scanpaths.from_pysaliency(trains, stimuli))
    with pytest.raises(InvalidInputError, match="no image file"):
        sp.to_pysaliency({})


def test_pysaliency_round_trip_keeps_targets_tasks_and_onsets():
    if not (data_root() / "coco_search18").is_dir():
        pytest.skip(f"real data not found at {data_root() / 'coco_search18'}")
    sp = load_dataset("coco_search18").scanpaths[:300]
    assert sp.has_targets and len(set(sp.task)) > 1
    trains, stimuli = sp.to_pysaliency()
    assert stimuli is None
    assert_same(sp, Scanpaths.from_pysaliency(trains))
    assert_same(sp, Scanpaths.from_pymovements(sp.to_pymovements()))


def test_foreign_pysaliency_trains_use_its_conventions(sample, tmp_path):
    files = [str(sample.images["1001.jpg"]), str(sample.images["1002.jpg"])]
    stimuli = pysaliency.FileStimuli(files)
    nan = np.nan
    trains = pysaliency.FixationTrains(
        np.array([[10.0, 20.0], [30.0, nan]]), np.array([[11.0, 21.0], [31.0, nan]]),
        np.array([[0.0, 0.25], [0.1, nan]]), np.array([0, 1]), np.array([3, 4]),
        scanpath_fixation_attributes={"durations": np.array([[0.2, 0.3], [0.4, nan]])},
        scanpath_attribute_mapping={"durations": "duration"})
    sp = Scanpaths.from_pysaliency(trains, stimuli, dataset="mine", time_unit="s")
    assert sp.image == ["1001.jpg", "1002.jpg"] and sp.subject == ["3", "4"] and sp.dataset == ["mine", "mine"]
    assert sp.image_size.tolist() == [[800.0, 600.0], [800.0, 600.0]] and sp.lengths.tolist() == [2, 1]
    assert sp.t_start[0].tolist() == [0.0, 250.0] and sp.duration[0].tolist() == pytest.approx([200.0, 300.0])
    assert sp.duration[1, 0] == pytest.approx(400.0)
    with pytest.raises(InvalidInputError, match="FixationTrains"):
        Scanpaths.from_pysaliency(pysaliency.Fixations.create_without_history([1.0], [2.0], [0]))


def test_pymovements_round_trip_on_real_data(sample):
    sp = sample.scanpaths
    events = sp.to_pymovements()
    assert isinstance(events, pm.Events) and len(events.frame) == 1689
    assert events.frame["name"].unique().to_list() == ["fixation"]
    assert events.frame["location"][0].to_list() == [395.5, 265.7]
    assert_same(sp, Scanpaths.from_pymovements(events))


def test_foreign_pymovements_events(tmp_path):
    import polars as pl

    frame = pl.DataFrame({"participant": ["a", "a", "a", "b"], "name": ["fixation", "saccade", "fixation", "fixation"],
                          "onset": [0.5, 0.7, 0.0, 0.1], "offset": [0.7, 0.75, 0.3, 0.2],
                          "duration": [0.2, 0.05, 0.3, 0.1], "location_x": [5.0, 0.0, 1.0, 9.0],
                          "location_y": [6.0, 0.0, 2.0, 9.0], "image": ["i", "i", "i", "i"]})
    events = pm.Events(data=frame, trial_columns=["participant", "image"])
    sp = Scanpaths.from_pymovements(events, time_unit="s")
    assert sp.image == ["i", "i"] and sp.trial == ["a", "b"] and sp.lengths.tolist() == [2, 1]
    assert sp.x[0].tolist() == [1.0, 5.0] and sp.t_start[0].tolist() == pytest.approx([0.0, 500.0])
    assert sp.duration[0].tolist() == pytest.approx([300.0, 200.0])
    with pytest.raises(InvalidInputError, match="no fixation position"):
        Scanpaths.from_pymovements(frame.drop(["location_x", "location_y"]))


@pytest.mark.parametrize("name", ["tpp-tiny", pytest.param("tpp-osie", marks=pytest.mark.slow)])
def test_a_gazekit_model_scored_by_pysaliency_equals_gazekit(sample, name):
    from gazekit.images import load_image
    from gazekit.metrics.functional.conditional import conditional_information_gain, conditional_log_likelihood
    from gazekit.models.pysaliency_adapter import as_pysaliency_model
    from gazekit.models.registry import load_predictor

    sp = sample.scanpaths
    sub = sp[[i for i in range(len(sp)) if sp.image[i] == "1001.jpg"][:2]].truncate(4)
    model = load_predictor(name)
    trains, stimuli = sub.to_pysaliency(sample.images)
    adapted = as_pysaliency_model(model)
    theirs = adapted.log_likelihoods(stimuli, trains)
    image = load_image(sample.images["1001.jpg"])
    with torch.no_grad():
        maps = model.conditional_log_density(image[None].expand(len(sub), -1, -1, -1), sub)
    ours = conditional_log_likelihood(maps, sub, start=0, reduction="none")
    assert len(theirs) == 8 and np.allclose(theirs, ours.numpy(), atol=1e-5)
    ig_theirs = adapted.information_gain(stimuli, trains)
    ig_ours = conditional_information_gain(maps, sub, start=0, reduction="sum") / 8
    assert ig_theirs == pytest.approx(float(ig_ours), abs=1e-5)
