"""gazekit.cli._common: the one source resolver, cell format, JSON/CSV writers and progress callback the commands
share."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gazekit import DataFormatError, Scanpaths, UnknownNameError
from gazekit.cli import _common as common

MIT_STYLE = "participant,stimulus,x,y,start,end,duration\np1,i05.jpeg,512.0,384.0,0.30,0.55,0.25\n"


def test_format_cell():
    assert common.format_cell(0.123456) == "0.1235"
    assert common.format_cell(np.float32(0.5), digits=3) == "0.500"
    assert common.format_cell(math.nan) == "-" and common.format_cell(None) == "-"
    assert common.format_cell(None, none="") == "" and common.format_cell(12) == "12"
    assert common.format_cell(np.int64(7)) == "7" and common.format_cell(True) == "True"
    assert common.format_cell("tpp") == "tpp"


def test_gazekit_table_goes_through_the_one_validation_path(tmp_path):
    # issue 15: score accepted a saved table with a fixation outside the image; every source is validated now
    sp = Scanpaths.from_sequences([[1.5, 20.0]], [[3.0, 4.0]], durations=[[100.0, 50.0]], image=["a"],
                                  subject="s", image_size=[10, 10])
    path = sp.save(tmp_path / "pred.csv")
    with pytest.raises(DataFormatError, match="outside the image.*--on-invalid"):
        common.load_scanpaths(str(path))
    back = common.load_scanpaths(str(path), on_invalid="clip")
    assert back.x[0].tolist() == [1.5, 10.0] and back.duration[0].tolist() == [100.0, 50.0]
    assert back.image == ["a"] and back.subject == ["s"]


def test_other_tables_and_names_go_through_the_dataset_resolver(tmp_path):
    path = tmp_path / "mit.csv"
    path.write_text(MIT_STYLE)
    sp = common.load_scanpaths(str(path))  # not gazekit's own table: the generic reader guesses the columns
    assert sp.subject == ["p1"] and sp.image == ["i05.jpeg"] and sp.x[0, :1].tolist() == [512.0]
    assert common.open_source(str(path), cache=False).name == "mit"
    with pytest.raises(DataFormatError, match="does not exist"):
        common.load_scanpaths(str(tmp_path / "missing.csv"))
    with pytest.raises(UnknownNameError, match="osie"):
        common.load_scanpaths("osei")


def test_write_json_and_csv(tmp_path):
    loose = common.write_json(tmp_path / "a.json", {"v": 1.5})
    assert json.loads(loose.read_text()) == {"v": 1.5}
    strict = common.write_json(tmp_path / "b.json", {"v": math.nan, "w": [math.inf, 2.0], "p": tmp_path},
                               indent=1, strict=True)
    assert json.loads(strict.read_text()) == {"v": None, "w": [None, 2.0], "p": str(tmp_path)}
    out = common.write_csv(tmp_path / "r.csv", [{"metric": "m", "model": 0.25}])
    assert out.read_text().splitlines() == ["metric,model", "m,0.25"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "r.csv"]  # no temporary left


def test_progress_callback(monkeypatch):
    monkeypatch.setenv("GAZEKIT_PROGRESS", "0")
    with common.progress_callback() as cb:
        assert cb is None
    monkeypatch.setenv("GAZEKIT_PROGRESS", "1")
    with common.progress_callback(enabled=False) as cb:
        assert cb is None
    with common.progress_callback() as cb:
        cb("pairs", 3, 2)
        cb("pairs", 3, 1)
        cb("other", None, 1)
        assert callable(cb)
