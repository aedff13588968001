"""OSIE and the shipped osie-sample: counts on real data, values against the raw file, bad input, cache."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from gazekit import DataFormatError, DatasetNotFoundError
from gazekit.datasets import load_dataset
from gazekit.datasets.osie import load as load_osie
from gazekit.paths import SAMPLE_DIR
from tests.conftest import require_data
from tests.datasets._mat import write_osie


@pytest.fixture(scope="module")
def osie():
    require_data("osie", "fixations.mat")
    return load_dataset("osie")


def test_osie_counts_on_real_data(osie):
    sp = osie.scanpaths
    assert len(set(sp.image)) == 600 and len(set(sp.subject)) == 15
    assert len(sp) == 600 * 15
    assert sp.num_fixations == 84351
    assert len(osie.images) == 600 and all(p.is_file() for p in list(osie.images.values())[:5])
    assert sp.has_durations and not sp.has_onsets and not sp.has_targets
    assert torch.all(sp.image_size == torch.tensor([800.0, 600.0], dtype=torch.float64))
    assert osie.viewing_time_ms == 3000.0 and osie.report.empty


def test_osie_values_match_the_raw_file(osie):
    first = osie.scanpaths[[osie.scanpaths.trial.index("1001.jpg/1")]].scanpath(0)
    # values read off fixations{1}.subjects{1} of the original file
    assert first["x"][:3].tolist() == [395.5, 390.6, 370.8]
    assert first["y"][:3].tolist() == [265.7, 326.4, 404.2]
    assert first["duration"][:3].tolist() == [246.0, 136.0, 179.0]
    assert len(first["x"]) == 12 and math.isnan(first["t_start"][0]) and first["ppd"] == 24.0


def test_sample_is_small_licensed_and_complete():
    sample = load_dataset("osie-sample")
    files = [p for p in (SAMPLE_DIR / "osie").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    assert "MIT License" in (SAMPLE_DIR / "osie" / "LICENSE").read_text()
    assert len(set(sample.scanpaths.image)) == 12 and len(sample) == 12 * 15
    assert sample.scanpaths.num_fixations == 1689
    assert set(sample.images) == set(sample.scanpaths.image)


def test_sample_equals_the_full_dataset_subset(osie):
    sample = load_dataset("osie-sample").scanpaths
    full = osie.scanpaths
    where = {t: i for i, t in enumerate(full.trial)}
    sub = full[[where[t] for t in sample.trial]]
    assert torch.equal(sub.lengths, sample.lengths)
    assert torch.equal(sub.x, sample.x) and torch.equal(sub.y, sample.y) and torch.equal(sub.duration, sample.duration)


# ---------------------------------------------------------------- bad input
GOOD = {"fix_x": [10.0, 20.0], "fix_y": [30.0, 40.0], "fix_duration": [100, 200]}


def test_missing_folder_and_truncated_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="fixations.mat"):
        load_osie(tmp_path, cache=False)
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [GOOD]})
    data = (tmp_path / "fixations.mat").read_bytes()
    (tmp_path / "fixations.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="fixations.mat"):
        load_osie(tmp_path, cache=False)


def test_mismatched_lengths_raise_or_are_counted(tmp_path):
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [GOOD, {**GOOD, "fix_y": [1.0, 2.0, 3.0]}]})
    with pytest.raises(DataFormatError, match=r"subjects\{2\}.*field 'y'.*3 values but x has 2"):
        load_osie(tmp_path, cache=False)
    data = load_osie(tmp_path, on_invalid="drop", cache=False)
    assert len(data) == 1 and data.report.dropped_scanpaths == {"mismatched lengths": 1}


def test_missing_and_mistyped_fields(tmp_path):
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [{"fix_x": [1.0], "fix_y": [2.0]}]})
    with pytest.raises(DataFormatError, match="field 'fix_duration'"):
        load_osie(tmp_path, cache=False)
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [{**GOOD, "fix_x": "ten"}]})
    with pytest.raises(DataFormatError, match="field 'fix_x'"):
        load_osie(tmp_path, cache=False)


def test_invalid_fixations_under_each_policy(tmp_path):
    bad = {"fix_x": [10.0, math.nan, 900.0, 50.0], "fix_y": [10.0, 10.0, 10.0, 10.0], "fix_duration": [100, 100, 100, 0]}
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [bad]})
    with pytest.raises(DataFormatError, match="nan coordinate"):
        load_osie(tmp_path, cache=False)
    dropped = load_osie(tmp_path, on_invalid="drop", cache=False)
    assert dropped.scanpaths.lengths.tolist() == [1]
    assert dropped.report.dropped_fixations == {"nan coordinate": 1, "outside the image": 1,
                                                "non-positive duration": 1}
    clipped = load_osie(tmp_path, on_invalid="clip", cache=False)
    assert clipped.scanpaths.x[0, :2].tolist() == [10.0, 800.0]
    assert clipped.report.clipped_fixations == {"outside the image": 1}


def test_cache_returns_the_same_data_and_sees_edits(tmp_path, monkeypatch):
    monkeypatch.setenv("GAZEKIT_CACHE", str(tmp_path / "cache"))
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [GOOD]})
    first = load_osie(tmp_path)
    assert len(list((tmp_path / "cache").glob("osie-*.parquet"))) == 1
    second = load_osie(tmp_path)
    assert torch.equal(first.scanpaths.x, second.scanpaths.x) and second.scanpaths.trial == ["a.jpg/1"]
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [GOOD, GOOD]})
    os.utime(tmp_path / "fixations.mat", ns=(1, 1))  # a different mtime even within the clock resolution
    assert len(load_osie(tmp_path)) == 2
    assert np.isnan(second.scanpaths.t_start[0, :1].numpy()).all()


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GAZEKIT_CACHE", str(tmp_path / "cache"))
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [GOOD]})
    load_osie(tmp_path)
    (entry,) = (tmp_path / "cache").glob("osie-*.parquet")
    entry.write_bytes(entry.read_bytes()[:40])  # e.g. a process killed while copying the cache
    assert load_osie(tmp_path).scanpaths.x[0].tolist() == [10.0, 20.0]
    assert not list((tmp_path / "cache").glob("*.tmp*"))  # no temporary files left behind
