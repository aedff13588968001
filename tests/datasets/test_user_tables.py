"""A user's own table (minimal columns, other names, other units) plus a folder of images is a data set; the one
validation path with its three policies; empty inputs are errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gazekit import DataFormatError, InvalidInputError, Scanpaths
from gazekit.datasets import load_dataset
from gazekit.datasets.table import load as load_table
from gazekit.datasets.table import open_dataset, parse_frame
from gazekit.paths import SAMPLE_DIR

STIMULI = SAMPLE_DIR / "osie" / "stimuli"  # real 800x600 OSIE images shipped with gazekit


def _write(path, text):
    path.write_text(text)
    return path


def test_minimal_table_needs_only_image_subject_x_y(tmp_path):
    path = _write(tmp_path / "mine.csv", "image,subject,x,y\n1001.jpg,s1,10,20\n1001.jpg,s1,30,40\n1002.jpg,s1,5,6\n")
    data = load_table(path, cache=False)
    sp = data.scanpaths
    assert sp.image == ["1001.jpg", "1002.jpg"] and sp.subject == ["s1", "s1"] and sp.lengths.tolist() == [2, 1]
    assert sp.trial == ["", ""] and sp.task == ["", ""] and sp.dataset == ["mine", "mine"]  # documented defaults
    assert math.isnan(sp.duration[0, 0]) and math.isnan(sp.t_start[0, 0]) and math.isnan(sp.image_size[0, 0])


def test_images_folder_makes_a_data_set_with_sizes_from_files_and_stem_matching(tmp_path):
    """Why: images_dir joined the name literally and silently matched 0 files for names without extension."""
    path = _write(tmp_path / "fix.csv", "stimulus,participant,fx,fy\n1001,a,10,20\n1002,a,799,599\n9999,a,1,1\n")
    data = load_table(path, columns={"x": "fx", "y": "fy"}, images_dir=STIMULI, cache=False)
    assert data.images == {"1001": STIMULI / "1001.jpg", "1002": STIMULI / "1002.jpg"}
    assert data.scanpaths.image_size.tolist()[:2] == [[800.0, 600.0], [800.0, 600.0]]
    assert math.isnan(data.scanpaths.image_size[2, 0])  # no file: unknown size, said in meta
    assert data.meta["images_without_file"] == 1 and data.meta["images_without_file_examples"] == ["9999"]
    with pytest.raises(DataFormatError, match="image folder does not exist.*--images"):
        load_table(path, columns={"x": "fx", "y": "fy"}, images_dir=tmp_path / "nope", cache=False)


def test_sizes_from_files_make_outside_checks_work(tmp_path):
    path = _write(tmp_path / "fix.csv", "image,subject,x,y,duration_ms\n1001.jpg,a,10,20,100\n1001.jpg,a,900,20,100\n")
    with pytest.raises(DataFormatError, match=r"fix.csv.*outside the image.*800x600 px.*--on-invalid drop or clip"):
        load_table(path, images_dir=STIMULI, cache=False)
    clipped = load_table(path, images_dir=STIMULI, on_invalid="clip", cache=False)
    assert clipped.scanpaths.x[0].tolist() == [10.0, 800.0] and clipped.report.clipped_fixations == {
        "outside the image": 1}


def test_column_mapping_and_units_in_python(tmp_path):
    df = pd.DataFrame({"pic": ["a", "a"], "who": ["p", "p"], "u": [0.5, 0.25], "v": [0.5, 1.0],
                       "onset_s": [0.0, 0.3], "dur_s": [0.25, 0.2]})
    sp, report = parse_frame(df, columns={"image": "pic", "subject": "who", "x": "u", "y": "v", "t_start": "onset_s",
                                          "duration": "dur_s"}, time_unit="s", xy_unit="normalized",
                             image_size=(800, 600))
    assert sp.x[0].tolist() == [400.0, 200.0] and sp.y[0].tolist() == [300.0, 600.0]
    assert sp.t_start[0].tolist() == pytest.approx([0.0, 300.0]) and sp.duration[0].tolist() == pytest.approx(
        [250.0, 200.0])
    assert report.empty
    with pytest.raises(DataFormatError, match="normalized x/y need the image size of 'a'.*--images DIR"):
        parse_frame(df, columns={"image": "pic", "x": "u", "y": "v"}, xy_unit="normalized")
    with pytest.raises(InvalidInputError, match="xy_unit.*--xy-unit"):
        parse_frame(df, xy_unit="cm")


def test_empty_table_is_an_error_that_says_so(tmp_path):
    """Why: an empty table (header only) was accepted silently as 0 scanpaths."""
    path = _write(tmp_path / "empty.csv", "image,subject,x,y\n")
    with pytest.raises(DataFormatError, match=r"empty.csv.*no rows \(only the header"):
        load_table(path, cache=False)
    Scanpaths.from_sequences([], []).save(tmp_path / "g.csv")
    with pytest.raises(DataFormatError, match="no rows"):
        open_dataset(str(tmp_path / "g.csv"), cache=False)


def test_everything_dropped_is_an_error_naming_what_was_dropped(tmp_path):
    path = _write(tmp_path / "bad.csv", "image,subject,x,y,duration\na,s,1,2,-5\na,s,3,4,0\n")
    with pytest.raises(DataFormatError, match=r"no fixations left after the --on-invalid policy \(dropped "
                                              r"fixations: 2 \(non-positive duration\)\)"):
        load_table(path, on_invalid="drop", cache=False)


@pytest.mark.parametrize("policy", ["error", "raise"])
def test_error_is_the_policy_name_and_raise_its_alias(tmp_path, policy):
    path = _write(tmp_path / "t.csv", "image,subject,x,y,duration\na,s,1,2,100\na,s,inf,2,100\n")
    with pytest.raises(DataFormatError, match="infinite value"):
        load_table(path, on_invalid=policy, cache=False)
    assert load_table(path, on_invalid="drop", cache=False).report.dropped_fixations == {"infinite value": 1}
    with pytest.raises(InvalidInputError, match=r"--on-invalid.*\['error', 'drop', 'clip'\]"):
        load_table(path, on_invalid="ignore", cache=False)


def test_registered_readers_take_error_and_clip():
    sample = load_dataset("osie-sample", on_invalid="error")
    assert len(sample) == 180
    with pytest.raises(InvalidInputError, match="apply to table files.*'osie-sample'"):
        open_dataset("osie-sample", images_dir=STIMULI)


def test_one_nan_fixation_drops_that_fixation_not_the_scanpath():
    sp = Scanpaths.from_sequences([[1.0, math.nan, 3.0], [5.0]], [[1.0, 2.0, 3.0], [5.0]], image=["a", "b"],
                                  image_size=[10, 10])
    out, report = sp.validate("drop")
    assert out.lengths.tolist() == [2, 1] and out.x[0].tolist() == [1.0, 3.0]
    assert report.dropped_fixations == {"nan coordinate": 1} and not report.dropped_scanpaths


def test_exif_rotated_image_size_in_a_table_data_set(tmp_path):
    img = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 8
    (tmp_path / "im").mkdir()
    img.save(tmp_path / "im" / "r.jpg", exif=exif)
    path = _write(tmp_path / "t.csv", "image,subject,x,y\nr,s,290,390\n")
    data = load_table(path, images_dir=tmp_path / "im", cache=False)
    assert data.scanpaths.image_size.tolist() == [[300.0, 400.0]]  # as displayed (rotated), not as stored
