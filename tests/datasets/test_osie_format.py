"""The OSIE-format reader as a function of data-set metadata: sizes from the image files, stem matching, and the
data set named and described by its own metadata (EyeCrowd read through it is EyeCrowd, not OSIE)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from gazekit import DataFormatError
from gazekit.datasets._images import image_size, index_images
from gazekit.datasets.osie import OSIE, OsieFormat, load_osie_format
from gazekit.datasets.osie import load as load_osie
from tests.conftest import require_data
from tests.datasets._mat import write_osie

FAR = {"fix_x": [100.0, 900.0], "fix_y": [100.0, 700.0], "fix_duration": [200, 300]}  # inside 1024x768 only


def _jpeg(path, width, height, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path, **save)


def test_sizes_come_from_the_images_not_800x600(tmp_path):
    """Why: an OSIE-format folder whose images are not 800x600 was rejected ('fixation 1 is invalid (outside
    the image ...)'): the loader assumed the size."""
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [FAR], "b.jpg": [FAR]})
    _jpeg(tmp_path / "stimuli" / "a.jpg", 1024, 768)
    _jpeg(tmp_path / "stimuli" / "b.jpg", 640, 480)
    with pytest.raises(DataFormatError, match=r"fixations.mat.*image 'b.jpg'.*outside the image"):
        load_osie(tmp_path, cache=False)
    data = load_osie(tmp_path, on_invalid="drop", cache=False)
    assert data.scanpaths.image_size.tolist() == [[1024.0, 768.0], [640.0, 480.0]]
    assert data.scanpaths.lengths.tolist() == [2, 1]
    assert data.report.dropped_fixations == {"outside the image": 1}
    clipped = load_osie(tmp_path, on_invalid="clip", cache=False)
    assert clipped.scanpaths.x[1, :2].tolist() == [100.0, 640.0] and clipped.scanpaths.y[1, 1] == 480.0


def test_absent_image_keeps_the_documented_default_and_is_counted(tmp_path):
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [FAR], "gone.jpg": [FAR]})
    _jpeg(tmp_path / "stimuli" / "a.jpg", 1024, 768)
    data = load_osie(tmp_path, on_invalid="drop", cache=False)
    assert data.scanpaths.image_size.tolist() == [[1024.0, 768.0], [800.0, 600.0]]
    assert data.meta["images_without_file"] == 1 and data.meta["images_without_file_examples"] == ["gone.jpg"]
    assert set(data.images) == {"a.jpg"}


def test_names_without_extension_match_by_stem(tmp_path):
    write_osie(tmp_path / "fixations.mat", {"a": [FAR], "b.png": [FAR]})
    _jpeg(tmp_path / "stimuli" / "a.jpg", 1024, 768)
    _jpeg(tmp_path / "stimuli" / "sub" / "b.jpg", 1000, 800)  # recursive, and another extension
    data = load_osie(tmp_path, cache=False)
    assert data.images == {"a": tmp_path / "stimuli" / "a.jpg", "b.png": tmp_path / "stimuli" / "sub" / "b.jpg"}
    assert data.scanpaths.image_size.tolist() == [[1024.0, 768.0], [1000.0, 800.0]]


def test_ambiguous_stems_are_reported_not_guessed(tmp_path):
    _jpeg(tmp_path / "a.jpg", 40, 40)
    _jpeg(tmp_path / "a.png", 40, 40, format="PNG")
    index = index_images(tmp_path, ["a", "a.png", "zzz"])
    assert index.files == {"a.png": tmp_path / "a.png"}
    assert set(index.ambiguous) == {"a"} and index.missing == ["zzz"]
    with pytest.raises(DataFormatError, match="image folder does not exist.*--images"):
        index_images(tmp_path / "nope", ["a"])


def test_exif_rotation_swaps_the_size(tmp_path):
    img = Image.fromarray(np.zeros((300, 400, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    img.save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == (300, 400)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(DataFormatError, match="bad.jpg.*not a readable image"):
        image_size(tmp_path / "bad.jpg")


def test_cache_sees_a_changed_image(tmp_path, monkeypatch):
    monkeypatch.setenv("GAZEKIT_CACHE", str(tmp_path / "cache"))
    write_osie(tmp_path / "fixations.mat", {"a.jpg": [FAR]})
    _jpeg(tmp_path / "stimuli" / "a.jpg", 1024, 768)
    assert load_osie(tmp_path).scanpaths.image_size.tolist() == [[1024.0, 768.0]]
    _jpeg(tmp_path / "stimuli" / "a.jpg", 2048, 1536)
    os.utime(tmp_path / "stimuli" / "a.jpg", ns=(1, 1))
    assert load_osie(tmp_path).scanpaths.image_size.tolist() == [[2048.0, 1536.0]]


def test_the_format_names_and_describes_the_data_set(tmp_path):
    write_osie(tmp_path / "fix.mat", {"a.jpg": [{"fix_x": [1.0, 1024.0], "fix_y": [1.0, 768.0], "fix_duration": [9, 9]}]})
    _jpeg(tmp_path / "img" / "a.jpg", 1024, 768)
    fmt = OsieFormat(name="mine", licence="CC0", citation="Me 2026", ppd=31.5, viewing_time_ms=5000.0,
                     fixations_file="fix.mat", stimuli_dir="img", xy_offset=1.0)
    data = load_osie_format(fmt, tmp_path, cache=False)
    assert data.name == "mine" and data.scanpaths.dataset == ["mine"] and data.viewing_time_ms == 5000.0
    assert data.meta["licence"] == "CC0" and data.meta["citation"] == "Me 2026"
    assert data.scanpaths.ppd.tolist() == [31.5]
    assert data.scanpaths.x[0].tolist() == [0.0, 1023.0]  # 1-based MATLAB pixels -> 0-based


def test_eyecrowd_through_the_osie_reader_is_eyecrowd():
    """Why: EyeCrowd read through the OSIE reader reported OSIE's licence, citation and 24 px/deg and dropped
    17.6 % of its fixations as 'outside' (its images are 1024x768, not 800x600)."""
    require_data("eyecrowd", "eye", "fixations.mat")
    from gazekit.paths import data_root

    fmt = OsieFormat(name="eyecrowd-via-osie-format", licence="MIT", citation="Jiang et al., Saliency in crowd, "
                     "ECCV 2014", ppd=26.0, fixations_file="eye/fixations.mat", xy_offset=1.0, skip_absent_images=True)
    data = load_osie_format(fmt, data_root() / "eyecrowd", cache=False)  # on_invalid="raise": nothing is invalid
    sp = data.scanpaths
    assert len(set(sp.image)) == 300 and len(sp) == 300 * 16 and sp.num_fixations == 76358
    assert torch.all(sp.image_size == torch.tensor([1024.0, 768.0], dtype=torch.float64))
    assert data.report.dropped_fixations == {} and data.report.dropped_scanpaths == {"image file absent": 200 * 16}
    assert data.meta["licence"] == "MIT" and data.meta["citation"].startswith("Jiang") and sp.ppd[0] == 26.0
    assert "Xu" not in str(data.summary()) and OSIE.citation.startswith("Xu")
