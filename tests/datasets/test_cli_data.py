"""``gazekit data list/info/convert`` on the shipped sample, on files, on every registered dataset."""

from __future__ import annotations

import json

import pytest

from gazekit import Scanpaths
from gazekit.cli import main
from gazekit.datasets import list_datasets, load_dataset
from gazekit.paths import data_root


def run_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_info_on_the_shipped_sample(capsys):
    info = run_json(capsys, "data", "info", "osie-sample", "--json")
    assert (info["images"], info["subjects"], info["scanpaths"], info["fixations"]) == (12, 15, 180, 1689)
    assert info["has_durations"] is True and info["has_targets"] is False
    assert info["image_sizes"] == [[800.0, 600.0]] and info["viewing_time_ms"] == 3000.0
    assert info["pixels_per_degree"] == [24.0] and info["screen_px_cm_distance"] == []


def test_info_table_output(capsys):
    assert main(["data", "info", "osie-sample"]) == 0
    out = capsys.readouterr().out
    assert "scanpaths" in out and "1689" in out


def test_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("osie", "osie-sample", "interiors", "coco_search18", "table"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_convert_round_trips(tmp_path, capsys, suffix):
    out = tmp_path / f"sample{suffix}"
    assert main(["data", "convert", "osie-sample", "--out", str(out)]) == 0
    assert "180 scanpaths, 1689 fixations" in capsys.readouterr().out
    back = Scanpaths.load(out)
    orig = load_dataset("osie-sample").scanpaths
    assert back.trial == orig.trial and back.x.equal(orig.x) and back.duration.equal(orig.duration)
    info = run_json(capsys, "data", "info", str(out), "--json", "--no-cache")  # a converted file is a dataset
    assert info["fixations"] == 1689


def test_table_options_and_errors(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("who,pic,gx,gy,d\nA,i,1,2,0.5\nA,i,3,4,0.25\n")
    info = run_json(capsys, "data", "info", str(path), "--json", "--time-unit", "s",
                    "--columns", '{"subject": "who", "image": "pic", "x": "gx", "y": "gy", "duration": "d"}')
    assert info["scanpaths"] == 1 and info["fixations"] == 2 and info["has_durations"] is True
    assert main(["data", "info", "osie-smaple"]) == 2
    assert "Did you mean: osie-sample" in capsys.readouterr().err
    assert main(["data", "convert", "osie-sample", "--out", str(tmp_path / "x.txt")]) == 2
    assert main(["data", "info", "osie-sample", "--columns", "{}"]) == 2
    assert main(["data", "info", str(path), "--columns", "[1"]) == 2
    assert main(["data", "info", "interiors", "--root", str(tmp_path / "nowhere")]) == 2
    assert "not found under root" in capsys.readouterr().err


REAL = {"osie": 84351, "interiors": 47383, "coco_search18": 12111}


@pytest.mark.parametrize("name", sorted(set(list_datasets()) - {"table", "osie-sample"}))
def test_info_on_every_registered_dataset(name, capsys):
    if not data_root().is_dir():
        pytest.skip(f"real data not found at {data_root()}")
    folder = data_root() / name
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    info = run_json(capsys, "data", "info", name, "--json")
    assert info["scanpaths"] > 0 and info["fixations"] > 0
    if name in REAL:
        assert info["fixations"] == REAL[name]
