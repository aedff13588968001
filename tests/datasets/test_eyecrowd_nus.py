"""EyeCrowd and NUS-SUN500 readers: counts on the real data and each pitfall of the data README (absent images,
1-based pixels, y-first columns, seconds, empty cells, sizes from imgInfo checked against the files, face boxes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from gazekit import DataFormatError
from gazekit.datasets import eyecrowd, nus_sun500
from gazekit.datasets._common import load_mat
from gazekit.datasets.registry import dataset_info, load_dataset
from tests.conftest import require_data
from tests.datasets._mat import write_osie


def _jpeg(path, width, height):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path)


def _write_nus(root, cells, sizes_hw):
    """``cells``: list (images) of lists (subject slots) of N x 4 ``[y, x, onset_s, duration_s]`` arrays."""
    (root / "tidy").mkdir(parents=True, exist_ok=True)
    arr = np.empty((len(cells), len(cells[0])), dtype=object)
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            arr[i, j] = np.asarray(c, dtype=np.float64).reshape(-1, 4) if len(c) else np.zeros((0, 0))
    scipy.io.savemat(str(root / "tidy" / "fixations.mat"), {"fixations": arr})
    scipy.io.savemat(str(root / "tidy" / "imgInfo.mat"), {"imgInfo": {"size": np.asarray(sizes_hw, np.uint16)}})


# ----------------------------------------------------------------------------------------------- synthetic cases
def test_nus_columns_are_y_first_one_based_seconds(tmp_path):
    """A 300 x 100 (w x h) image: column 1 is y, column 2 is x; 1 is subtracted; onsets/durations s -> ms."""
    _write_nus(tmp_path, [[[[20.0, 250.0, 0.25, 0.2], [100.0, 1.0, 0.5, 0.3]], []]], [[100, 300]])
    _jpeg(tmp_path / "stimuli" / "001.jpg", 300, 100)
    data = nus_sun500.load(tmp_path, cache=False)
    sp = data.scanpaths
    assert sp.x[0, :2].tolist() == [249.0, 0.0] and sp.y[0, :2].tolist() == [19.0, 99.0]
    assert sp.t_start[0, :2].tolist() == [250.0, 500.0] and sp.duration[0, :2].tolist() == [200.0, 300.0]
    assert sp.image_size.tolist() == [[300.0, 100.0]] and math.isnan(float(sp.ppd[0]))
    assert data.report.dropped_scanpaths == {"empty cell": 1} and data.viewing_time_ms == 3000.0


def test_nus_size_table_must_match_the_image_file(tmp_path):
    _write_nus(tmp_path, [[[[20.0, 50.0, 0.25, 0.2]]]], [[100, 300]])
    _jpeg(tmp_path / "stimuli" / "001.jpg", 100, 300)  # [h, w] read the wrong way round
    with pytest.raises(DataFormatError, match=r"imgInfo.mat.*imgInfo.size\(1, :\).*001.jpg.*100 x 300"):
        nus_sun500.load(tmp_path, cache=False)


def test_nus_sub_pixel_border_values_are_clipped_and_counted_further_ones_are_not(tmp_path):
    _write_nus(tmp_path, [[[[0.5, 10.0, 0.1, 0.2], [10.0, 0.2, 0.4, 0.2]], [[10.0, -3.0, 0.1, 0.2]]]], [[50, 50]])
    _jpeg(tmp_path / "stimuli" / "001.jpg", 50, 50)
    with pytest.raises(DataFormatError, match=r"fixations.mat.*image '001.jpg', subject '2'.*outside the image"):
        nus_sun500.load(tmp_path, cache=False)
    data = nus_sun500.load(tmp_path, on_invalid="drop", cache=False)
    assert data.scanpaths.y[0, 0] == 0.0 and data.scanpaths.x[0, 1] == 0.0
    assert data.report.clipped_fixations == {"within 1 px of the border": 2}
    assert data.report.dropped_fixations == {"outside the image": 1}


def test_eyecrowd_skips_absent_images_and_converts_one_based(tmp_path):
    (tmp_path / "eye").mkdir()
    write_osie(tmp_path / "eye" / "fixations.mat",
               {"001.jpg": [{"fix_x": [1.0, 1024.0], "fix_y": [1.0, 768.0], "fix_duration": [200, 300]}] * 2,
                "002.jpg": [{"fix_x": [5.0], "fix_y": [5.0], "fix_duration": [100]}] * 2})
    _jpeg(tmp_path / "stimuli" / "001.jpg", 1024, 768)
    face = {"left": 11.0, "top": 21.0, "width": 10.0, "height": 20.0, "center": np.array([16, 31], np.uint16),
            "isFrontalFace": 1, "isProfileFace": 0, "isBackFace": 0, "isOccluded": 1}
    labels = np.empty((1, 2), dtype=object)
    labels[0, 0] = {"img": "001.jpg", "nFaces": 2, "faces": np.array([[face, dict(face, left=101.0)]], object)}
    labels[0, 1] = {"img": "002.jpg", "nFaces": 1, "faces": face}
    scipy.io.savemat(str(tmp_path / "labels.mat"), {"labels": labels})
    data = eyecrowd.load(tmp_path, cache=False)
    sp = data.scanpaths
    assert len(sp) == 2 and set(sp.image) == {"001.jpg"} and sp.x[0].tolist() == [0.0, 1023.0]
    assert not sp.has_onsets and sp.ppd.tolist() == [26.0, 26.0]
    assert data.report.dropped_scanpaths == {"image file absent": 2} and data.viewing_time_ms is None
    faces = data.meta["faces"]
    assert list(faces.boxes) == ["001.jpg"] and data.meta["face_boxes"] == 2
    assert faces.boxes["001.jpg"].tolist() == [[10.0, 20.0, 20.0, 40.0], [100.0, 20.0, 110.0, 40.0]]
    assert faces.flags["001.jpg"][0].tolist() == [True, False, False, True]


def test_eyecrowd_face_count_must_match(tmp_path):
    labels = np.empty((1, 1), dtype=object)
    labels[0, 0] = {"img": "001.jpg", "nFaces": 3, "faces": np.array([[{"left": 1.0}]], object)}
    scipy.io.savemat(str(tmp_path / "labels.mat"), {"labels": labels})
    with pytest.raises(DataFormatError, match=r"labels.mat.*labels\(1\).*nFaces is 3 but faces holds 1"):
        eyecrowd.face_boxes(tmp_path / "labels.mat")


# ----------------------------------------------------------------------------------------------- real data
def test_eyecrowd_real_counts_and_faces():
    root = require_data("eyecrowd", "eye", "fixations.mat").parent.parent
    data = load_dataset("eyecrowd")
    sp = data.scanpaths
    assert dataset_info("eyecrowd")["task"] == "freeview" and data.name == "eyecrowd"
    assert len(set(sp.image)) == 300 and len(sp) == 4800 and sp.num_fixations == 76358
    assert len(set(sp.subject)) == 16 and data.report.dropped_scanpaths == {"image file absent": 200 * 16}
    assert data.report.dropped_fixations == {} and data.report.clipped_fixations == {}
    assert not sp.has_onsets and sp.has_durations and (sp.ppd == 26.0).all()
    assert torch.all(sp.image_size == torch.tensor([1024.0, 768.0], dtype=torch.float64))
    raw = load_mat(root / "eye" / "fixations.mat")["fixations"][0].subjects[0]  # 001.jpg, subject 1
    i = sp.image.index("001.jpg")
    assert sp.subject[i] == "1" and sp.x[i, 0] == float(np.ravel(raw.fix_x)[0]) - 1.0
    assert sp.y[i, 0] == float(np.ravel(raw.fix_y)[0]) - 1.0
    # face boxes: 9,778 over the 500 images of the file, 6,867 on the 300 present; first box of 001.jpg
    assert len(eyecrowd.face_boxes(root / "labels.mat")) == 9778 and data.meta["face_boxes"] == 6867
    assert set(data.meta["faces"].boxes) == set(sp.image)
    assert np.allclose(data.meta["faces"].boxes["001.jpg"][0], [84.5087, 385.5870, 112.8913, 423.9870], atol=1e-3)
    # EyeCrowd runs longer than OSIE's 3 s: median summed fixation time 3.75 s
    dur = torch.nan_to_num(sp.duration).sum(1)
    assert 3700 < float(dur.median()) < 3800 and sp.num_fixations / len(sp) > 15.8


def test_nus_sun500_real_counts_and_pitfalls():
    root = require_data("nus_sun500", "tidy", "fixations.mat").parent.parent
    data = load_dataset("nus_sun500")
    sp = data.scanpaths
    assert len(set(sp.image)) == 500 and len(data.images) == 500 and len(sp) == 5948
    assert sp.num_fixations == 43894 and data.report.dropped_scanpaths == {"empty cell": 52}
    assert data.report.clipped_fixations == {"within 1 px of the border": 6} and data.report.dropped_fixations == {}
    sizes = {tuple(s) for s in sp.image_size.tolist()}
    assert len(sizes) == 130 and (3264.0, 2448.0) in sizes
    assert sum(1 for img in set(sp.image) if tuple(sp.image_size[sp.image.index(img)].tolist()) == (256.0, 256.0)) \
        == 311
    assert torch.isnan(sp.ppd).all() and torch.isnan(sp.screen).all()
    # y first: image 003 is 1600 x 1200 (w x h); its cell's column 1 is y, column 2 is x
    cell = np.atleast_2d(load_mat(root / "tidy" / "fixations.mat")["fixations"][2, 0])
    i = [k for k, (img, s) in enumerate(zip(sp.image, sp.subject)) if img == "003.jpg" and s == "1"][0]
    assert sp.image_size[i].tolist() == [1600.0, 1200.0]
    assert np.allclose(sp.y[i, :len(cell)].numpy(), cell[:, 0] - 1) and np.allclose(sp.x[i, :len(cell)].numpy(),
                                                                                    cell[:, 1] - 1)
    assert np.allclose(sp.t_start[i, :len(cell)].numpy(), cell[:, 2] * 1000)
    assert np.allclose(sp.duration[i, :len(cell)].numpy(), cell[:, 3] * 1000)
    # onsets in ms from image onset, within about 3 s
    mask = torch.arange(sp.x.shape[1])[None] < sp.lengths[:, None]
    assert float((sp.t_start + sp.duration)[mask].max()) < 3100 and float(sp.t_start[:, 0].min()) >= 0
