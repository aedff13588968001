"""The generic long-form table loader: column mappings, time units, ordering, real files, errors."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from gazekit import DataFormatError, InvalidInputError, Scanpaths
from gazekit.datasets import load_dataset
from gazekit.datasets.table import load as load_table
from gazekit.datasets.table import open_dataset
from tests.conftest import require_data

MIT_STYLE = """participant,stimulus,x,y,start,end,duration
p1,i05.jpeg,512.0,384.0,0.30,0.55,0.25
p1,i05.jpeg,100.5,200.25,0.0,0.28,0.28
p2,i05.jpeg,10,20,1.0,1.2,
p1,i07.jpeg,30,40,0.1,0.4,0.3
"""


def test_mit1003_style_table_in_seconds_loads_without_a_mapping(tmp_path):
    path = tmp_path / "mit.csv"
    path.write_text(MIT_STYLE)
    data = load_table(path, time_unit="s", image_size=(1024, 768), cache=False)
    sp = data.scanpaths
    assert sp.image == ["i05.jpeg", "i05.jpeg", "i07.jpeg"] and sp.subject == ["p1", "p2", "p1"]
    # p1 on i05: rows are re-ordered by onset; seconds -> ms
    assert sp.x[0, :2].tolist() == [100.5, 512.0]
    assert sp.t_start[0, :2].tolist() == pytest.approx([0.0, 300.0])
    assert sp.duration[0, :2].tolist() == pytest.approx([280.0, 250.0])
    assert math.isnan(sp.duration[1, 0].item())  # a blank duration stays absent
    assert sp.image_size[0].tolist() == [1024.0, 768.0] and data.name == "mit"


def test_duration_from_start_and_end_and_explicit_mapping(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("who\twhat\tgx\tgy\ton\toff\nA\timg\t1\t2\t1000\t1250\nA\timg\t3\t4\t1300\t1400\n")
    data = load_table(path, columns={"subject": "who", "image": "what", "x": "gx", "y": "gy", "t_start": "on",
                                     "t_end": "off"}, time_unit="us", cache=False)
    assert data.scanpaths.duration[0].tolist() == pytest.approx([0.25, 0.1])
    assert data.scanpaths.t_start[0].tolist() == pytest.approx([1.0, 1.3])


def test_real_eyelink_fixation_report():
    path = require_data("eyelink_asc", "18sat_fixfinal.csv")
    sp = load_table(path, image_size=(1024, 768), on_invalid="clip").scanpaths
    raw = pd.read_csv(path)
    assert len(sp) == 1 and sp.num_fixations == len(raw) == 112
    assert sp.subject == ["msd001"] and sp.trial == ["1"]
    assert sp.x[0, :2].tolist() == [59.8, 348.7] and sp.duration[0, :2].tolist() == [22.0, 26.0]


def test_real_studyforrest_scanpath_in_seconds():
    path = require_data("studyforrest_scanpaths", "segment_0_sub-01.tsv")
    sp = load_table(path, time_unit="s").scanpaths
    raw = pd.read_csv(path, sep="\t")
    assert sp.num_fixations == len(raw)
    assert sp.duration[0, : len(raw)].tolist() == pytest.approx((raw["duration"] * 1000).tolist())


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_gazekit_tables_are_read_exactly(tmp_path, suffix):
    sp = Scanpaths.from_sequences([[1.5, 2.5], []], [[3.0, 4.0], []], durations=[[100.0, math.nan], []],
                                  image=["a", "b"], subject="s", image_size=[10, 10])
    path = sp.save(tmp_path / f"g{suffix}")
    back = open_dataset(str(path), cache=False).scanpaths
    assert back.lengths.tolist() == [2, 0] and back.x[0].tolist() == [1.5, 2.5]
    assert math.isnan(back.duration[0, 1].item())


def test_json_list_of_records(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"subject": "s", "image": "a", "x": 1, "y": 2, "duration": 0.1},
                                {"subject": "s", "image": "a", "x": 3, "y": 4, "duration": 0.2}]))
    sp = load_table(path, time_unit="s", cache=False).scanpaths
    assert sp.x[0].tolist() == [1.0, 3.0] and sp.duration[0].tolist() == pytest.approx([100.0, 200.0])


def test_errors_name_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("subject,image,x,y\ns,a,1,2\ns,a,one,2\n")
    with pytest.raises(DataFormatError, match=r"bad.csv', record row 1, field 'x'.*'one'"):
        load_table(path, cache=False)
    path.write_text("subject,image,px,py\ns,a,1,2\n")
    with pytest.raises(DataFormatError, match="no column for 'x'"):
        load_table(path, cache=False)
    with pytest.raises(InvalidInputError, match="unknown field"):
        load_table(path, columns={"xx": "px"}, cache=False)
    with pytest.raises(InvalidInputError, match="not in the table"):
        load_table(path, columns={"x": "nope"}, cache=False)
    with pytest.raises(InvalidInputError, match="time_unit"):
        load_table(path, columns={"x": "px", "y": "py"}, time_unit="min", cache=False)
    with pytest.raises(DataFormatError, match="does not exist"):
        load_dataset("table", root=tmp_path / "missing.csv")


def test_invalid_values_follow_the_policy(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("subject,image,x,y,duration\ns,a,1,2,100\ns,a,,2,100\ns,a,5,6,-1\ns,a,50,6,100\n")
    with pytest.raises(DataFormatError, match="nan coordinate"):
        load_table(path, image_size=(40, 40), cache=False)
    data = load_table(path, image_size=(40, 40), on_invalid="drop", cache=False)
    assert data.scanpaths.x[0, : int(data.scanpaths.lengths[0])].tolist() == [1.0]
    assert data.report.dropped_fixations == {"nan coordinate": 1, "non-positive duration": 1,
                                             "outside the image": 1}
