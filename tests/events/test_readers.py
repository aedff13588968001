"""Tobii TSV, lund2013 .mat and BIDS events readers: hand-checked values, round trips, bad input."""

from __future__ import annotations

import filecmp

import numpy as np
import pytest

from gazekit.datasets.raw import guess_format, list_readers, read_raw
from gazekit.datasets.raw.bids_events import read_bids_events, write_bids_events
from gazekit.datasets.raw.lund2013 import lund2013_pairs, read_lund2013, read_lund2013_pair
from gazekit.datasets.raw.tobii import TX300_GEOMETRY, read_tobii_tsv
from gazekit.errors import DataFormatError, InvalidInputError, UnknownNameError
from tests.conftest import require_data

LUND = ("lund2013", "annotated_data", "data used in the article")


def test_registry_lists_the_four_readers():
    assert {"eyelink_asc", "tobii_tsv", "lund2013", "bids_events"} <= set(list_readers())
    with pytest.raises(UnknownNameError, match="eyelink_asc"):
        read_raw(require_data("eyelink_asc", "raccoons.asc"), format="eyelink_ascii")


# ---------------------------------------------------------------------- Tobii
def test_tobii_values_by_hand():
    path = require_data("tobii_tx300", "example_data", "participant1", "1.tsv")
    assert guess_format(path) == "tobii_tsv"
    rec = read_raw(path, geometry=TX300_GEOMETRY)
    assert rec.eyes == ("left", "right") and len(rec) == 651
    # rows 1-2: validity 4 (eye not found) -> invalid; row 3: Time 2619778408 us, L (0.4982, 0.4964) validity 0
    assert not rec.valid[:2].any()
    assert rec.time_ms[2] == pytest.approx(2619778.408)
    np.testing.assert_allclose(rec.x[2], [0.4982 * 1920, 0.4894 * 1920])
    np.testing.assert_allclose(rec.y[2], [0.4964 * 1080, 0.4453 * 1080])
    np.testing.assert_allclose(rec.pupil[2], [4.3067, 3.8441])
    assert rec.meta["rows_without_valid_eye"] == 9
    assert 295 < rec.sampling_rate_hz < 305  # TX300: 300 Hz


def _tobii_copy(tmp_path, edit):
    src = require_data("tobii_tx300", "example_data", "participant1", "1.tsv").read_text().split("\n")
    header = src[0].split("\t")
    rows = [r.split("\t") for r in src[1:] if r]
    edit(header, rows)
    p = tmp_path / "t.tsv"
    p.write_text("\n".join("\t".join(r) for r in [header] + rows) + "\n")
    return p, header


def test_tobii_all_invalid_rows_are_counted_or_refused(tmp_path):
    def all_invalid(header, rows):
        for r in rows:
            r[header.index("LValidity")] = r[header.index("RValidity")] = "4"

    p, _ = _tobii_copy(tmp_path, all_invalid)
    rec = read_tobii_tsv(p, geometry=TX300_GEOMETRY)
    assert not rec.valid.any() and rec.meta["rows_without_valid_eye"] == 651
    dropped = read_tobii_tsv(p, geometry=TX300_GEOMETRY, on_invalid="drop")
    assert len(dropped) == 0 and dropped.dropped == {"no valid eye": 651}
    from gazekit.events import detect_events

    with pytest.raises(DataFormatError, match=r"t\.tsv.*no valid gaze samples \(651 samples"):
        detect_events(rec, "ivt")


def test_tobii_bad_input(tmp_path):
    def drop_column(header, rows):
        k = header.index("RGazePos2dy")
        header.pop(k)
        for r in rows:
            r.pop(k)

    p, _ = _tobii_copy(tmp_path, drop_column)
    with pytest.raises(DataFormatError, match="field 'RGazePos2dy'.*missing column"):
        read_tobii_tsv(p, geometry=TX300_GEOMETRY)

    def garble(header, rows):
        rows[9][header.index("LGazePos2dx")] = "abc"

    p, _ = _tobii_copy(tmp_path, garble)
    with pytest.raises(DataFormatError, match="record line 11, field 'LGazePos2dx'.*'abc' is not a number"):
        read_tobii_tsv(p, geometry=TX300_GEOMETRY)
    assert read_tobii_tsv(p, geometry=TX300_GEOMETRY, on_error="drop").dropped == {"non-numeric cell": 1}

    def unordered(header, rows):
        rows[20], rows[21] = rows[21], rows[20]

    p, _ = _tobii_copy(tmp_path, unordered)
    # rows swapped: line 23 now holds 2619838403 us, after line 22's 2619841713 us
    with pytest.raises(DataFormatError, match="record line 23, field 'Time': time 2619838403 is not after"):
        read_tobii_tsv(p, geometry=TX300_GEOMETRY)
    rec = read_tobii_tsv(p, geometry=TX300_GEOMETRY, on_error="drop")
    assert rec.dropped == {"non-increasing timestamp": 1} and len(rec) == 650
    with pytest.raises(InvalidInputError, match="normalised"):
        read_tobii_tsv(p)


# ---------------------------------------------------------------------- lund2013
def test_lund2013_pairs_and_values():
    root = require_data(*LUND)
    pairs = lund2013_pairs(root)
    assert len(pairs) == 34
    rec = read_lund2013(root / "img" / "UH21_img_Rome_labelled_MN.mat")
    assert rec.sampling_rate_hz == 500.0 and rec.eyes == ("mono",) and list(rec.labels) == ["MN"]
    g = rec.geometry
    assert (g.width_px, g.height_px, g.width_cm, g.height_cm, g.distance_cm) == (1024, 768, 38.0, 30.0, 67.0)
    # 0.38 m over 1024 px at 0.67 m: about 0.0317 deg/px at the centre (data README)
    assert 1 / g.pixels_per_degree == pytest.approx(0.0317, abs=5e-4)
    assert set(np.unique(rec.labels["MN"])) <= {1, 2, 3, 4, 5, 6}


def test_lund2013_pair_aligns_unequal_lengths():
    root = require_data(*LUND)
    rec = read_lund2013_pair(root / "video" / "UL27_video_triple_jump_labelled_MN.mat")
    # MN has 2822 rows, RA 2824: the last 1 and 3 rows are all-zero padding, the 2821 samples agree
    assert sorted(rec.labels) == ["MN", "RA"] and len(rec) == 2821
    assert rec.dropped == {"trailing all-zero padding row": 4}
    assert rec.time_ms[-1] == pytest.approx(5856252.23, abs=0.01)
    dots = read_lund2013_pair(root / "dots" / "TH20_trial1_labelled_RA.mat")
    assert dots.meta["time_synthesised"] and dots.time_ms[1] - dots.time_ms[0] == 2.0


def test_lund2013_bad_file(tmp_path):
    p = tmp_path / "x_labelled_MN.mat"
    p.write_bytes(b"not a mat file")
    with pytest.raises(DataFormatError, match="x_labelled_MN.mat"):
        read_lund2013(p)


# ---------------------------------------------------------------------- BIDS events
def test_bids_events_round_trip_is_byte_identical(tmp_path):
    folder = require_data("studyforrest_events")
    files = sorted(folder.glob("*_events.tsv"))
    assert len(files) >= 16
    for f in files:
        out = read_bids_events(f).write(tmp_path / f.name)
        assert filecmp.cmp(f, out, shallow=False), f.name


def test_bids_events_typed_view_and_fixations():
    path = require_data("studyforrest_events", "sub-10_task-movie_run-1_events.tsv")
    ev = read_bids_events(path)
    table = ev.table()
    # first line: 0.000 0.364 FIXA 497.2 158.0 471.1 144.5 0.544 71.676 19.314 22.176
    assert table["duration"].iloc[0] == 0.364 and table["label"].iloc[0] == "FIXA"
    sp = ev.fixations(image_size=(1280, 720))
    n_fixa = int((table["label"] == "FIXA").sum())
    assert sp.num_fixations == n_fixa
    assert sp.duration[0, 0].item() == pytest.approx(364.0) and sp.x[0, 0].item() == pytest.approx((497.2 + 471.1) / 2)
    rec = read_raw(path)
    assert rec.format == "bids_events" and len(rec) == 0
    assert rec.summary()["tracker_events"]["fixation"] == n_fixa


def test_bids_events_bad_input(tmp_path):
    p = tmp_path / "a_events.tsv"
    p.write_text("onset\tduration\tlabel\n0.1\t0.2\tFIXA\n0.3\tx\tSACC\n")
    with pytest.raises(DataFormatError, match="record line 3, field 'duration'"):
        read_bids_events(p)
    p.write_text("onset\tlabel\n0.1\tFIXA\n")
    with pytest.raises(DataFormatError, match="missing column 'duration'"):
        read_bids_events(p)
    p.write_text("onset\tduration\n0.1\t0.2\t7\n")
    with pytest.raises(DataFormatError, match="line 2.*3 tab-separated fields"):
        read_bids_events(p)


def test_bids_events_write_dataframe(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"onset": [0.1, 0.30000000000000004], "duration": [0.2, float("nan")], "label": ["a", "b"]})
    out = write_bids_events(df, tmp_path / "w_events.tsv")
    back = read_bids_events(out).table()
    assert back["onset"].tolist() == df["onset"].tolist() and np.isnan(back["duration"].iloc[1])
    assert out.read_text().splitlines()[2].split("\t")[1] == "n/a"
