"""The Scanpaths type: table round-trips, slicing, concat, .to(), rescale, geometry, validation policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit import DataFormatError, InvalidInputError, Scanpaths, ScreenGeometry


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Exact equality, NaN == NaN."""
    return a.shape == b.shape and a.dtype == b.dtype and bool(
        ((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def assert_same_scanpaths(a: Scanpaths, b: Scanpaths) -> None:
    for name in ("x", "y", "t_start", "duration", "target_box", "image_size", "ppd", "screen"):
        assert same(getattr(a, name), getattr(b, name)), name
    assert torch.equal(a.lengths, b.lengths)
    for name in ("dataset", "image", "subject", "trial", "task", "condition"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.fixation_attrs.keys() == b.fixation_attrs.keys()
    for k in a.fixation_attrs:
        assert same(a.fixation_attrs[k], b.fixation_attrs[k]), k
    assert a.scanpath_attrs == b.scanpath_attrs


@pytest.fixture
def batch() -> Scanpaths:
    """Four scanpaths covering the awkward cases: absent durations/onsets, an empty scanpath, no target box,
    floats that do not survive 15-digit printing, text with commas, quotes and non-ASCII."""
    return Scanpaths.from_sequences(
        [[0.1 + 0.2, 10.0, 799.999999999999], [5.0], [], [1e-300, 2.5]],
        [[1 / 3, 20.0, 0.0], [6.0], [], [599.0, math.pi]],
        [[0.0, 250.125, 500.0], [math.nan], [], [12.0, 13.0]],
        [[200.0, 180.5, 1e-3], [math.nan], [], [100.0, 7.0]],
        dataset="demo", image=["a.jpg", "b, \"quoted\".jpg", "c.jpg", "é.png"], subject=["1", "2", "3", ""],
        trial=["t1", "t2", "t3", "t4"], task=["freeview", "cup", "cup", ""], condition=["", "present", "absent", ""],
        target_box=[[math.nan] * 4, [1.0, 2.0, 3.5, 4.25], [math.nan] * 4, [0.0, 0.0, 10.0, 10.0]],
        image_size=[800, 600], ppd=[24.0, math.nan, 24.0, 30.5],
        screen=ScreenGeometry(1680, 1050, 47.4, 29.6, 57.0),
        fixation_attrs={"object": [[1, 2, 3], [math.nan], [], [0, 5]]},
        scanpath_attrs={"layout": ['{"grid": [6, 14]}', "", "x,y", "line\nbreak"]},
    )


# ---------------------------------------------------------------- table I/O
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_table_round_trip_is_lossless(batch, tmp_path, suffix):
    path = batch.save(tmp_path / f"sp{suffix}")
    back = Scanpaths.load(path)
    assert_same_scanpaths(batch, back)
    assert back.lengths.tolist() == [3, 1, 0, 2]  # the empty scanpath survives as one index -1 row


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_empty_batch_round_trips(tmp_path, suffix):
    back = Scanpaths.load(Scanpaths.empty().save(tmp_path / f"e{suffix}"))
    assert len(back) == 0 and back.max_length == 0


def test_table_has_the_documented_columns(batch):
    df = batch.to_table()
    assert list(df.columns[:11]) == ["dataset", "image", "subject", "trial", "task", "condition", "index", "x", "y",
                                     "t_start_ms", "duration_ms"]
    assert {"target_x0", "target_y0", "target_x1", "target_y1", "fix:object", "sp:layout"} <= set(df.columns)
    assert len(df) == 3 + 1 + 1 + 2
    assert df["index"].tolist() == [0, 1, 2, 0, -1, 0, 1]


def test_from_table_orders_fixations_by_index_and_keeps_scanpath_order(batch):
    df = batch.to_table().iloc[::-1].reset_index(drop=True)  # reversed rows
    back = Scanpaths.from_table(df)
    assert back.image == ["é.png", "c.jpg", "b, \"quoted\".jpg", "a.jpg"]  # order of first appearance
    assert back.x[3, :3].tolist() == batch.x[0, :3].tolist()


def test_from_table_errors_name_row_and_column(batch):
    df = batch.to_table()
    df["x"] = df["x"].astype(object)
    df.loc[2, "x"] = "oops"
    with pytest.raises(DataFormatError, match=r"record row 2, field 'x'.*'oops'"):
        Scanpaths.from_table(df, source="f.csv")
    with pytest.raises(DataFormatError, match="missing required column"):
        Scanpaths.from_table(batch.to_table().drop(columns=["y"]))
    bad = batch.to_table()
    bad.loc[1, "index"] = 5
    with pytest.raises(DataFormatError, match="not 0..2"):
        Scanpaths.from_table(bad)


def test_large_table_round_trip_is_fast_enough(tmp_path):
    rng = np.random.default_rng(0)
    lens = rng.integers(0, 20, size=2000)
    sp = Scanpaths.from_sequences([rng.uniform(0, 800, n) for n in lens], [rng.uniform(0, 600, n) for n in lens],
                                  durations=[rng.uniform(50, 500, n) for n in lens], image=[f"{i}" for i in range(2000)],
                                  image_size=[800, 600])
    back = Scanpaths.load(sp.save(tmp_path / "big.parquet"))
    assert_same_scanpaths(sp, back)


# ---------------------------------------------------------------- slicing, concat, device
def test_slicing(batch):
    assert batch[1].image == ["b, \"quoted\".jpg"] and batch[1].max_length == 1
    assert batch[-1].image == ["é.png"]
    assert batch[1:3].lengths.tolist() == [1, 0]
    assert batch[[3, 0]].x[0, :2].tolist() == [1e-300, 2.5]
    assert batch[torch.tensor([True, False, False, True])].subject == ["1", ""]
    assert batch[[2]].max_length == 0
    with pytest.raises(IndexError):
        batch[4]
    with pytest.raises(IndexError):
        batch[[0, 9]]


def test_concat_pads_to_longest_and_fills_missing_attrs(batch):
    other = Scanpaths.from_sequences([[1.0, 2.0, 3.0, 4.0, 5.0]], [[1.0] * 5], image="z")
    out = Scanpaths.concat([batch, other])
    assert len(out) == 5 and out.max_length == 5
    assert out.x[4].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert out.x[0].tolist()[3:] == [0.0, 0.0]  # padding is 0, excluded by mask
    assert out.mask.sum().item() == 3 + 1 + 0 + 2 + 5
    assert torch.isnan(out.fixation_attrs["object"][4]).all()  # absent in `other` -> NaN, not 0
    assert out.scanpath_attrs["layout"][4] == ""
    assert_same_scanpaths(out[:4].truncate(3), batch)


def test_to_moves_floats_and_keeps_lengths_int(batch):
    f32 = batch.to(torch.float32)
    assert f32.x.dtype == torch.float32 and f32.lengths.dtype == torch.int64
    assert f32.fixation_attrs["object"].dtype == torch.float32
    assert f32.x[0, 1].item() == 10.0
    cpu = batch.to("cpu")
    assert cpu.device.type == "cpu" and same(cpu.x, batch.x)


# ---------------------------------------------------------------- geometry
def test_rescale_1680x1050_to_512x320():
    sp = Scanpaths.from_sequences([[840.0, 1680.0]], [[525.0, 0.0]], durations=[[100.0, 200.0]],
                                  target_box=[168.0, 105.0, 336.0, 210.0], image_size=[1680, 1050], ppd=40.0)
    out = sp.rescale(512, 320)
    assert out.x[0].tolist() == pytest.approx([256.0, 512.0])
    assert out.y[0].tolist() == pytest.approx([160.0, 0.0])
    assert out.target_box[0].tolist() == pytest.approx([51.2, 32.0, 102.4, 64.0])
    assert out.image_size[0].tolist() == [512.0, 320.0]
    # ppd scales with the image: mean of 512/1680 and 320/1050
    assert out.ppd.item() == pytest.approx(40.0 * (512 / 1680 + 320 / 1050) / 2)
    assert out.duration[0].tolist() == [100.0, 200.0]
    back = out.rescale(1680, 1050)
    assert back.x[0].tolist() == pytest.approx([840.0, 1680.0])


def test_rescale_needs_image_size():
    with pytest.raises(InvalidInputError, match="no image_size"):
        Scanpaths.from_sequences([[1.0]], [[1.0]]).rescale(10, 10)


def test_pixels_to_degrees_hand_computed():
    geo = ScreenGeometry(1000, 500, 50.0, 25.0, 50.0)  # 0.05 cm per pixel both ways
    x_deg, y_deg = geo.px_to_deg([500.0, 1000.0, 0.0], [250.0, 250.0, 500.0])
    # centre -> 0; right edge: atan(25/50); bottom edge: atan(12.5/50)
    assert x_deg.tolist() == pytest.approx([0.0, math.degrees(math.atan(0.5)), -math.degrees(math.atan(0.5))])
    assert y_deg.tolist() == pytest.approx([0.0, 0.0, math.degrees(math.atan(0.25))])
    px, py = geo.deg_to_px(x_deg, y_deg)
    assert px.tolist() == pytest.approx([500.0, 1000.0, 0.0]) and py.tolist() == pytest.approx([250.0, 250.0, 500.0])
    ppd_x = 1000 / (2 * math.degrees(math.atan(0.5)))
    ppd_y = 500 / (2 * math.degrees(math.atan(0.25)))
    assert geo.pixels_per_degree == pytest.approx((ppd_x + ppd_y) / 2)
    with pytest.raises(InvalidInputError):
        ScreenGeometry(1000, 500, 50.0, 25.0, -1.0)


def test_scanpath_geometry_round_trips(batch):
    geo = batch.geometry(0)
    assert geo == ScreenGeometry(1680, 1050, 47.4, 29.6, 57.0)
    assert Scanpaths.from_sequences([[1.0]], [[1.0]]).geometry(0) is None


# ---------------------------------------------------------------- validation policies
@pytest.fixture
def dirty() -> Scanpaths:
    return Scanpaths.from_sequences(
        [[10.0, math.nan, 900.0, 50.0, -5.0], [1.0, 2.0]],
        [[10.0, 5.0, 10.0, 50.0, 20.0], [1.0, 2.0]],
        durations=[[100.0, 100.0, 100.0, 0.0, -3.0], [math.nan, 50.0]],
        image=["a", "b"], subject=["s1", "s2"], image_size=[800, 600],
    )


def test_validate_raise_names_record_and_field(dirty):
    with pytest.raises(DataFormatError, match=r"file 'x.mat', record 0 \(image 'a', subject 's1'\), field 'x/y'"):
        dirty.validate("raise", source="x.mat")
    clean = dirty[1]
    out, report = clean.validate("raise")  # a NaN (absent) duration is allowed
    assert report.empty and same(out.x, clean.x)


def test_validate_drop_counts_each_fixation_once(dirty):
    out, report = dirty.validate("drop")
    assert out.lengths.tolist() == [1, 2]
    assert out.x[0, :1].tolist() == [10.0]
    # NaN x; zero and negative duration (the negative one is also outside: counted once, as the first reason)
    assert report.dropped_fixations == {"nan coordinate": 1, "outside the image": 1, "non-positive duration": 2}
    assert "dropped fixations" in str(report)


def test_validate_clip_moves_outside_fixations_onto_the_border(dirty):
    out, report = dirty.validate("clip")
    assert out.lengths.tolist() == [2, 2]
    assert out.x[0, :2].tolist() == [10.0, 800.0]
    assert report.clipped_fixations == {"outside the image": 1}
    assert report.dropped_fixations == {"nan coordinate": 1, "non-positive duration": 2}


def test_validate_rejects_unknown_policy(dirty):
    with pytest.raises(InvalidInputError, match="on_invalid"):
        dirty.validate("ignore")


def test_table_round_trip_when_every_scanpath_is_empty(tmp_path):
    from gazekit import Scanpaths

    sp = Scanpaths.from_sequences([[], []], [[], []], image=["a", "b"], subject="s1")
    for ext in ("csv", "parquet", "json"):
        back = Scanpaths.load(sp.save(tmp_path / f"empty.{ext}"))
        assert back.image == ["a", "b"] and back.lengths.tolist() == [0, 0]
