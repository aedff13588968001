"""MultiGazeDataModule: per-data-set splits, canvases that keep the aspect ratio, geometry, centre bias and horizon."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gazekit.datasets._buckets import BucketBatchSampler, canvas_size
from gazekit.datasets._common import ScanpathBuilder
from gazekit.datasets.base import GazeDataset
from gazekit.datasets.multi import MultiGazeDataModule
from gazekit.datasets.splits import split_by
from tests.conftest import require_data


def _dataset(tmp_path, name, sizes, ppd, viewing, n_sub=3, seed=0, durations=(200.0, 300.0, 250.0)):
    """A data set of len(sizes) images (width, height); each subject looks at 3 places."""
    rng = np.random.default_rng(seed)
    b = ScanpathBuilder(name, "raise", name)
    images = {}
    for k, (w, h) in enumerate(sizes):
        img = f"{k:03d}.png"
        path = tmp_path / name / img
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        images[img] = path
        for s in range(n_sub):
            x = rng.uniform(0.3, 0.7, 3) * w
            y = rng.uniform(0.3, 0.7, 3) * h
            b.add(x, y, None, list(durations), image=img, subject=str(s), trial=f"{img}/{s}", task="freeview",
                  image_size=(w, h), ppd=ppd)
    sp, report = b.build()
    return GazeDataset(name, sp, tmp_path / name, images=images, viewing_time_ms=viewing, report=report)


def test_canvas_keeps_the_aspect_ratio():
    assert canvas_size(800, 600) == (240, 320) and canvas_size(1024, 768) == (240, 320)
    assert canvas_size(600, 800) == (320, 240)  # portrait stays portrait
    h, w = canvas_size(1500, 1000)
    assert w / h == 1.5 and w % 16 == 0 and h % 16 == 0  # 3:2 is not squashed to 4:3
    for width, height in ((1920, 1080), (2400, 1595), (256, 256), (500, 333), (333, 500)):
        h, w = canvas_size(width, height)
        assert abs(math.log((w / h) / (width / height))) < 0.02 and 0.8 <= h * w / 76800 <= 1.25
    h, w = canvas_size(701, 467, multiple=1)  # any size: the aspect is kept to a pixel
    assert abs((w / h) / (701 / 467) - 1) < 1e-3 and 0.8 <= h * w / 76800 <= 1.25


def test_bucket_sampler_groups_images_of_one_size_and_covers_each_once():
    keys = ["a", "a", "b", "c", "c", "c", "d", "e"]
    buckets = {"a": (1, 1), "b": (2, 2), "c": (1, 1), "d": (2, 2), "e": (1, 1)}
    s = BucketBatchSampler(keys, buckets, 2, shuffle=True, seed=3, even=False)
    batches = list(s)
    assert sorted(i for bt in batches for i in bt) == list(range(8))
    for bt in batches:
        assert len({buckets[keys[i]] for i in bt}) == 1 and len({keys[i] for i in bt}) <= 2
    assert len(batches) == len(s) == 3  # bucket (1,1): a, c, e -> 2 batches; (2,2): b, d -> 1
    s.set_epoch(1)
    assert sorted(i for bt in s for i in bt) == list(range(8))
    ranks = [list(BucketBatchSampler(keys, buckets, 1, True, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # 5 batches padded to 6


def test_multi_module_batches_geometry_priors_and_horizons(tmp_path):
    a = _dataset(tmp_path, "alpha", [(800, 600)] * 10, 24.0, 3000.0)
    b = _dataset(tmp_path, "beta", [(1500, 1000), (600, 800)] * 5, None, None, seed=1, durations=(400.0, 500.0, 600.0))
    dm = MultiGazeDataModule([a, b], images_per_batch=4, fractions=(0.6, 0.2, 0.2), seed=5)
    dm.setup()
    assert dm.names == ["alpha", "beta"] and dm.dataset_id("beta") == 1
    # each data set keeps the split it has alone
    for data in (a, b):
        alone = split_by(data.scanpaths.image, (0.6, 0.2, 0.2), 5)
        for s, idx in alone.items():
            assert dm.split_images[data.name][s] == sorted({data.scanpaths.image[i] for i in idx.tolist()})
    # horizons: the viewing time where known, else the longest summed fixation time (1.5 s) of the training split
    assert dm.info["alpha"].horizon_ms == 3000.0 and dm.info["beta"].horizon_ms == 1500.0
    assert dm.viewing_time_ms is None
    seen = set()
    for split in ("train", "val", "test"):
        for batch in dm.loader(split):
            sp, did = batch["scanpaths"], batch["dataset_id"]
            h, w = batch["images"].shape[-2:]
            assert batch["images"].shape[0] == len(set(sp.image)) and batch["images"].dtype == torch.float32
            assert [sp.image[i] for i in range(len(sp))] == [list(dict.fromkeys(sp.image))[j]
                                                            for j in batch["image_index"].tolist()]
            assert torch.all(sp.image_size == torch.tensor([float(w), float(h)], dtype=torch.float64))
            for i in range(len(sp)):
                name = dm.names[int(did[i])]
                seen.add((split, sp.image[i], sp.subject[i]))
                assert sp.image[i].startswith(name + "/") and sp.dataset[i] == name
                if name == "alpha":  # 800x600 -> 320x240: 24 px/deg becomes 9.6, unit = degree
                    assert (h, w) == (240, 320) and batch["ppd"][i] == pytest.approx(9.6)
                    assert batch["px_per_unit"][i] == pytest.approx(9.6) and bool(batch["unit_is_degree"][i])
                    assert batch["horizon_ms"][i] == 3000.0 and bool(batch["horizon_known"][i])
                else:  # unknown geometry: unit = the canvas's longer side; aspect kept (3:2 or 3:4)
                    assert math.isnan(batch["ppd"][i]) and not bool(batch["unit_is_degree"][i])
                    assert batch["px_per_unit"][i] == max(h, w) and (w / h in (1.5, 0.75))
                    assert batch["horizon_ms"][i] == 1500.0 and not bool(batch["horizon_known"][i])  # a lower bound
    assert len(seen) == len(a) + len(b)
    # positions scale with the canvas: x / width is unchanged
    first = dm.split("train").scanpaths
    orig = {(d, im, s): (x, wdt) for d, im, s, x, wdt in zip(a.scanpaths.dataset, a.scanpaths.image,
                                                              a.scanpaths.subject, a.scanpaths.x[:, 0].tolist(),
                                                              a.scanpaths.image_size[:, 0].tolist())}
    i = first.dataset.index("alpha")
    x0, w0 = orig[("alpha", first.image[i].split("/", 1)[1], first.subject[i])]
    assert float(first.x[i, 0]) / float(first.image_size[i, 0]) == pytest.approx(x0 / w0)
    # centre bias: fitted per data set on its training split, a normalised map
    train_a = a.scanpaths[split_by(a.scanpaths.image, (0.6, 0.2, 0.2), 5)["train"].tolist()]
    mask = train_a.mask
    assert dm.priors["alpha"]["cb_mean"][0] == pytest.approx(float((train_a.x / 800.0)[mask].mean()))
    cb = dm.centre_bias_log_density("beta", 224, 336)
    assert cb.shape == (224, 336) and float(cb.exp().sum()) == pytest.approx(1.0)
    assert dm.priors["alpha"]["cb_mean"] != dm.priors["beta"]["cb_mean"]


def test_multi_module_serves_one_data_set_and_resumes(tmp_path):
    a = _dataset(tmp_path, "alpha", [(800, 600)] * 6, 24.0, 3000.0)
    b = _dataset(tmp_path, "beta", [(640, 480)] * 6, None, 3000.0, seed=2)
    dm = MultiGazeDataModule([a, b], images_per_batch=2, fractions=(0.5, 0.25, 0.25), disk_cache=tmp_path / "cache")
    dm.setup()
    assert len(list((tmp_path / "cache").rglob("*-240x320-*.npy"))) == 12  # 800x600 and 640x480 -> 320x240
    only = [bt for bt in dm.loader("test", datasets=["beta"])]
    assert only and all(set(bt["dataset_id"].tolist()) == {1} for bt in only)
    loader = dm.train_dataloader()
    it = iter(loader)
    first = next(it)
    state = dm.state_dict()
    rest = [bt["scanpaths"].image for bt in it]
    dm2 = MultiGazeDataModule([a, b], images_per_batch=2, fractions=(0.5, 0.25, 0.25))
    dm2.load_state_dict(state)
    resumed = [bt["scanpaths"].image for bt in dm2.train_dataloader()]
    assert resumed == rest and first["scanpaths"].image not in resumed


def test_real_three_data_sets():
    for parts in (("osie", "fixations.mat"), ("eyecrowd", "eye", "fixations.mat"),
                  ("nus_sun500", "tidy", "fixations.mat")):
        require_data(*parts)
    from gazekit.datasets.registry import load_dataset

    dm = MultiGazeDataModule(preload_images=False)
    dm.setup()
    s = dm.summary()
    assert s["osie"]["images"] == {"train": 480, "val": 60, "test": 60} and s["osie"]["ppd"] == 24.0
    assert s["eyecrowd"]["images"] == {"train": 240, "val": 30, "test": 30} and s["eyecrowd"]["ppd"] == 26.0
    assert s["nus_sun500"]["images"] == {"train": 400, "val": 50, "test": 50} and s["nus_sun500"]["ppd"] is None
    assert s["osie"]["horizon_ms"] == 3000.0 and s["nus_sun500"]["horizon_ms"] == 3000.0
    assert s["eyecrowd"]["horizon_ms"] > 4000.0  # EyeCrowd runs past OSIE's 3 s
    osie = load_dataset("osie").scanpaths
    test = split_by(osie.image, (0.8, 0.1, 0.1), 0)["test"]
    assert dm.split_images["osie"]["test"] == sorted({osie.image[i] for i in test.tolist()})
    assert len(dm.split("train")) + len(dm.split("val")) + len(dm.split("test")) == 9000 + 4800 + 5948
    sizes = {dm.canvas[k] for k in dm.canvas if k.startswith("nus_sun500/")}
    assert 20 < len(sizes) < 60 and dm.canvas["osie/" + osie.image[0]] == (240, 320)


def test_tpp_takes_multi_batches_of_different_canvases(tmp_path):
    """TPPGaze's dict-batch path: a 4:3 batch (240 x 320) and a 3:2 batch (224 x 336) give finite losses."""
    from gazekit.models import create_model

    a = _dataset(tmp_path, "alpha", [(800, 600)] * 4, 24.0, 3000.0)
    b = _dataset(tmp_path, "beta", [(1500, 1000)] * 4, None, None, seed=1, durations=(400.0, 500.0, 600.0))
    dm = MultiGazeDataModule([a, b], images_per_batch=2, fractions=(0.5, 0.25, 0.25))
    model = create_model("tpp-tiny", pretrained=False)
    model.fit_priors(dm.train_scanpaths, dm.viewing_time_ms)
    shapes = set()
    for batch in dm.train_dataloader():
        shapes.add(tuple(batch["images"].shape[-2:]))
        assert torch.isfinite(model._step(batch, "val"))
    assert shapes == {(240, 320), (224, 336)}
