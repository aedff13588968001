"""Splits, collate and GazeDataModule: shapes, consistent image/scanpath resizing, determinism, no-image data."""

from __future__ import annotations

import hashlib
import math

import cv2
import numpy as np
import pytest
import torch

from gazekit import InvalidInputError, Scanpaths
from gazekit.datasets import load_dataset
from gazekit.datasets.base import GazeDataset
from gazekit.datasets.collate import collate_gaze
from gazekit.datasets.datamodule import GazeDataModule
from gazekit.datasets.splits import split_by, split_keys


# ---------------------------------------------------------------- splits
def test_split_by_keeps_keys_together_with_exact_fractions():
    keys = [f"img{i % 50}" for i in range(500)]  # 50 images, 10 scanpaths each
    parts = split_by(keys, (0.8, 0.1, 0.1), seed=3)
    assert [len(parts[n]) for n in ("train", "val", "test")] == [400, 50, 50]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(500))
    per_split = [{keys[i] for i in idx} for idx in parts.values()]
    assert not (per_split[0] & per_split[1]) and not (per_split[0] & per_split[2]) and not (per_split[1] & per_split[2])


def test_split_rule_is_the_documented_hash_order():
    keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    # independent statement of the rule: order by sha256("seed:key"), cut at round(cumsum * n)
    ordered = sorted(keys, key=lambda k: hashlib.sha256(f"7:{k}".encode()).hexdigest())
    assert split_keys(keys, (0.6, 0.2, 0.2), seed=7) == [sorted(ordered[:6]), sorted(ordered[6:8]),
                                                          sorted(ordered[8:])]
    assert split_keys(keys, (0.6, 0.2, 0.2), seed=7) == split_keys(list(reversed(keys)), (0.6, 0.2, 0.2), seed=7)
    assert split_keys(keys, (0.6, 0.2, 0.2), seed=7) != split_keys(keys, (0.6, 0.2, 0.2), seed=8)


@pytest.mark.parametrize("fractions", [(0.5, 0.4), (1.2, -0.2, 0.0), (math.nan, 0.5, 0.5), ()])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(InvalidInputError):
        split_by(["a", "b"], fractions)


# ---------------------------------------------------------------- collate
def test_collate_pads_only_here_and_converts_images():
    a = Scanpaths.from_sequences([[1.0]], [[2.0]], image="a")
    b = Scanpaths.from_sequences([[1.0, 2.0, 3.0]], [[2.0, 3.0, 4.0]], image="b")
    img = torch.full((3, 4, 5), 255, dtype=torch.uint8)
    images, sp = collate_gaze([(img, a), (img, b)])
    assert images.shape == (2, 3, 4, 5) and images.dtype == torch.float32 and images.max().item() == 1.0
    assert sp.max_length == 3 and sp.lengths.tolist() == [1, 3] and sp.x[0].tolist() == [1.0, 0.0, 0.0]
    assert collate_gaze([(None, a), (None, b)])[0] is None
    with pytest.raises(InvalidInputError):
        collate_gaze([(img, a), (None, b)])
    with pytest.raises(InvalidInputError, match="different sizes"):
        collate_gaze([(img, a), (torch.zeros(3, 5, 5, dtype=torch.uint8), b)])


# ---------------------------------------------------------------- the DataModule
@pytest.fixture(scope="module")
def sample_module():
    dm = GazeDataModule("osie-sample", image_size=(120, 160), batch_size=16, fractions=(0.5, 0.25, 0.25), seed=0)
    dm.setup()
    return dm


def test_batches_have_the_documented_shapes(sample_module):
    images, sp = next(iter(sample_module.train_dataloader()))
    assert images.shape == (16, 3, 120, 160) and images.dtype == torch.float32
    assert 0.0 <= images.min().item() and images.max().item() <= 1.0
    assert len(sp) == 16 and torch.all(sp.image_size == torch.tensor([160.0, 120.0], dtype=torch.float64))
    assert sp.max_length == int(sp.lengths.max())  # padded to the batch's longest, no further
    assert len(sample_module.image_cache) == 12  # decoded once, kept as uint8


def test_scanpaths_are_rescaled_with_the_images(sample_module):
    raw = load_dataset("osie-sample").scanpaths
    where = {t: i for i, t in enumerate(raw.trial)}
    _, sp = next(iter(sample_module.val_dataloader()))
    for i in range(len(sp)):
        j = where[sp.trial[i]]
        n = int(sp.lengths[i])
        assert sp.x[i, :n].tolist() == pytest.approx((raw.x[j, :n] * 160 / 800).tolist())
        assert sp.y[i, :n].tolist() == pytest.approx((raw.y[j, :n] * 120 / 600).tolist())
        assert sp.duration[i, :n].tolist() == raw.duration[j, :n].tolist()
        assert sp.ppd[i].item() == pytest.approx(24.0 * 0.2)


def test_split_is_by_image_deterministic_and_complete(sample_module):
    images = {name: {sample_module.split(name).scanpaths.image[k] for k in range(len(sample_module.split(name)))}
              for name in ("train", "val", "test")}
    assert [len(images[n]) for n in ("train", "val", "test")] == [6, 3, 3]
    assert not (images["train"] & images["val"]) and not (images["val"] & images["test"])
    assert sum(len(sample_module.split(n)) for n in ("train", "val", "test")) == 180
    again = GazeDataModule("osie-sample", image_size=(120, 160), fractions=(0.5, 0.25, 0.25), seed=0,
                           with_images=False)
    again.setup()
    assert all(torch.equal(again.splits[n], sample_module.splits[n]) for n in ("train", "val", "test"))


def test_image_and_fixation_stay_aligned_after_resizing(tmp_path):
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:40, 150:170] = 255  # a white square at x 150..170, y 20..40
    cv2.imwrite(str(tmp_path / "square.png"), img)
    sp = Scanpaths.from_sequences([[160.0, 10.0]], [[30.0, 90.0]], durations=[[100.0, 100.0]], image="square.png",
                                  image_size=[200, 100])
    data = GazeDataset("synthetic", sp, tmp_path, images={"square.png": tmp_path / "square.png"})
    dm = GazeDataModule(data, image_size=(50, 100), batch_size=1, fractions=(1.0, 0.0, 0.0))
    images, out = next(iter(dm.train_dataloader()))
    x, y = out.x[0].tolist(), out.y[0].tolist()
    assert (x[0], y[0]) == (80.0, 15.0)
    assert images[0, :, int(y[0]), int(x[0])].tolist() == [1.0, 1.0, 1.0]  # still on the square
    assert images[0, :, int(y[1]), int(x[1])].tolist() == [0.0, 0.0, 0.0]  # still off it


def test_datasets_without_images_yield_none(tmp_path):
    sp = Scanpaths.from_sequences([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0]], image=["a", "b"], image_size=[10, 10])
    dm = GazeDataModule(GazeDataset("noimg", sp, tmp_path), image_size=(5, 5), batch_size=2,
                        fractions=(1.0, 0.0, 0.0), shuffle=False)
    images, out = next(iter(dm.train_dataloader()))
    assert images is None and out.x[0].tolist() == [0.5, 1.0]
    with pytest.raises(InvalidInputError, match="no file"):
        GazeDataModule(GazeDataset("noimg", sp, tmp_path), with_images=True).setup()


def test_workers_give_the_same_batches(sample_module):
    dm = GazeDataModule("osie-sample", image_size=(120, 160), batch_size=16, num_workers=2,
                        fractions=(0.5, 0.25, 0.25), seed=0)
    a = [sp.trial for _, sp in dm.val_dataloader()]
    b = [sp.trial for _, sp in sample_module.val_dataloader()]
    assert a == b


def test_real_osie_module_split_sizes():
    from tests.conftest import require_data

    require_data("osie", "fixations.mat")
    dm = GazeDataModule("osie", with_images=False, image_size=(320, 512))
    dm.setup()
    assert [len(dm.splits[n]) for n in ("train", "val", "test")] == [480 * 15, 60 * 15, 60 * 15]
    _, sp = next(iter(dm.test_dataloader()))
    assert sp.x.max().item() <= 512 and sp.y.max().item() <= 320


def test_bad_arguments():
    with pytest.raises(InvalidInputError):
        GazeDataModule("osie-sample", image_size=(0, 10))
    with pytest.raises(InvalidInputError):
        GazeDataModule("osie-sample", batch_size=0)


def test_lightning_trainer_consumes_the_batches():
    import pytorch_lightning as pl

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.seen = []

        def training_step(self, batch, _):
            images, sp = batch
            assert isinstance(sp, Scanpaths) and sp.x.device == self.w.device
            self.seen.append((tuple(images.shape), len(sp)))
            mean_x = sp.x[sp.mask].mean().float()
            return ((self.w - mean_x / 160) ** 2).sum() + images.mean() * 0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = GazeDataModule("osie-sample", image_size=(48, 64), batch_size=8)
    model = Tiny()
    trainer = pl.Trainer(fast_dev_run=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    assert model.seen == [((8, 3, 48, 64), 8)] * 2
