"""Image-grouped batches for models that encode each image once and score all of its scanpaths.

:class:`ImageGroupedDataModule` is :class:`gazekit.datasets.datamodule.GazeDataModule` with one change: a batch
holds *all* scanpaths of ``images_per_batch`` distinct images (shuffled by image in training), so a model such as
:class:`gazekit.models.tpp.TPPGaze` runs its backbone once per image instead of once per scanpath (15x fewer
backbone passes on OSIE). It also exposes ``train_scanpaths`` and ``viewing_time_ms`` for fitting priors.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Sampler

from gazekit.datasets.collate import collate_gaze
from gazekit.datasets.datamodule import GazeDataModule
from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


class ImageBatchSampler(Sampler):
    """Batches of item indices grouping every item of ``images_per_batch`` distinct keys (image names)."""

    def __init__(self, keys: list[str], images_per_batch: int, shuffle: bool, seed: int = 0):
        if images_per_batch < 1:
            raise InvalidInputError(f"images_per_batch must be >= 1, got {images_per_batch}")
        self.groups: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            self.groups.setdefault(k, []).append(i)
        self.names = list(self.groups)
        self.images_per_batch, self.shuffle, self.seed, self.epoch = images_per_batch, shuffle, seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.names) / self.images_per_batch)

    def __iter__(self):
        order = list(range(len(self.names)))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(order), generator=g).tolist()
            self.epoch += 1
        for s in range(0, len(order), self.images_per_batch):
            yield [i for j in order[s:s + self.images_per_batch] for i in self.groups[self.names[j]]]


class ImageGroupedDataModule(GazeDataModule):
    """A :class:`GazeDataModule` whose batches hold all scanpaths of ``images_per_batch`` images.

    Args:
        images_per_batch: distinct images per batch (``batch_size`` is ignored for the loaders).
        Everything else as :class:`GazeDataModule`.
    """

    def __init__(self, *args, images_per_batch: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self.images_per_batch = int(images_per_batch)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        data = self.split(name)
        sampler = ImageBatchSampler(list(data.scanpaths.image), self.images_per_batch, shuffle, seed=self.seed)
        return DataLoader(data, batch_sampler=sampler, num_workers=self.num_workers, collate_fn=collate_gaze,
                          persistent_workers=self.num_workers > 0)

    @property
    def train_scanpaths(self) -> Scanpaths:
        return self.split("train").scanpaths

    @property
    def viewing_time_ms(self) -> float | None:
        return self.load().viewing_time_ms
