"""ImageGroupedDataModule batches carry each distinct image once; TPP training and predict requests read them
exactly as the one-image-per-scanpath form."""

from __future__ import annotations

import torch

from gazekit.datasets.datamodule import GazeDataModule
from gazekit.models.base import PredictOptions, request_from_batch
from gazekit.datasets.grouped import ImageGroupedDataModule

OPTS = dict(image_size=(48, 64), fractions=(1.0, 0.0, 0.0), seed=0, shuffle=False)


def test_batches_hold_each_distinct_image_once():
    grouped = ImageGroupedDataModule("osie-sample", images_per_batch=2, **OPTS)
    per_scanpath = GazeDataModule("osie-sample", **OPTS)
    per_scanpath.setup()
    images, sp = next(iter(grouped.train_dataloader()))
    names = list(dict.fromkeys(sp.image))
    assert len(names) == 2 and images.shape == (2, 3, 48, 64) and len(sp) > 2
    for k, name in enumerate(names):  # row k is the k-th distinct image, as the per-scanpath form gives it
        expected = per_scanpath.image_cache.get(name).float().div(255.0)
        assert torch.equal(images[k], expected)
    expanded = images[[names.index(n) for n in sp.image]]  # the one-image-per-scanpath form of the same batch
    opts = PredictOptions()
    a, b = request_from_batch((images, sp), opts), request_from_batch((expanded, sp), opts)
    assert a.image_names == b.image_names == names and torch.equal(a.images, b.images)


def test_tpp_unpack_reads_both_forms_alike():
    from gazekit.models.tpp import TPPGaze

    grouped = ImageGroupedDataModule("osie-sample", images_per_batch=2, **OPTS)
    images, sp = next(iter(grouped.train_dataloader()))
    expanded = images[[list(dict.fromkeys(sp.image)).index(n) for n in sp.image]]
    u1, i1, _ = TPPGaze._unpack(None, (images, sp))
    u2, i2, _ = TPPGaze._unpack(None, (expanded, sp))
    assert torch.equal(u1, u2) and torch.equal(i1, i2) and u1.shape[0] == 2
