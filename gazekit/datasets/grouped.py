"""Image-grouped batches for models that encode each image once and score all of its scanpaths.

:class:`ImageGroupedDataModule` is :class:`gazekit.datasets.datamodule.GazeDataModule` with one change: a batch
holds *all* scanpaths of ``images_per_batch`` distinct images (shuffled by image in training), so a model such as
:class:`gazekit.models.tpp.TPPGaze` runs its backbone once per image instead of once per scanpath (15x fewer
backbone passes on OSIE). Under DDP each process takes its own share of the batches; a run killed mid-epoch
resumes on the next batch. It also exposes ``train_scanpaths`` and ``viewing_time_ms`` for fitting priors.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from gazekit.datasets.collate import collate_gaze
from gazekit.datasets.datamodule import GazeDataModule, rank_and_world_size
from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


class ImageBatchSampler(DistributedSampler):
    """Batches of item indices grouping every item of ``images_per_batch`` distinct keys (image names), split
    over ``num_replicas`` processes: rank ``r`` takes batches ``r, r + num_replicas, ...`` of the (seeded,
    per-epoch shuffled) sequence, so one process running that sequence with ``accumulate_grad_batches =
    num_replicas`` sees the same images per optimiser step as the DDP ranks together.

    With ``even=True`` (training) the sequence is padded with its own first batches to a multiple of
    ``num_replicas`` so every rank runs the same number of steps (DDP needs that; ``DistributedSampler`` does the
    same with samples). With ``even=False`` (evaluation) every batch is used exactly once and ranks may differ by
    one batch (only when there are fewer batches than ranks are some repeated, since Lightning needs at least one
    batch on every rank). The shuffle order depends only on ``seed`` and the epoch (:meth:`set_epoch`, which Lightning calls
    at the start of every epoch, also after a resume).

    It subclasses :class:`~torch.utils.data.DistributedSampler` only so that Lightning sees the loader as already
    sharded and does not try (and fail) to insert its own sampler; the dataset is not needed.

    Subclasses that form the batches of images another way (:class:`gazekit.datasets._buckets.BucketBatchSampler`)
    override :meth:`_image_batches` and :meth:`_batch_count`; the argument checks, the grouping of items by key and
    the padding and sharing out over ranks are this class's.
    """

    def __init__(self, keys: list[str], images_per_batch: int, shuffle: bool, seed: int = 0, *,
                 num_replicas: int = 1, rank: int = 0, even: bool = True):
        if images_per_batch < 1:
            raise InvalidInputError(f"images_per_batch must be >= 1, got {images_per_batch}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise InvalidInputError(f"rank must be in [0, num_replicas), got rank {rank} of {num_replicas}")
        self.groups: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            self.groups.setdefault(k, []).append(i)
        self.names = list(self.groups)
        self.images_per_batch, self.shuffle, self.seed, self.epoch = int(images_per_batch), shuffle, seed, 0
        self.num_replicas, self.rank, self.even = num_replicas, rank, even
        self.drop_last = False

    def _batch_count(self) -> int:
        """Batches before padding, over all ranks."""
        return math.ceil(len(self.names) / self.images_per_batch)

    def _image_batches(self) -> list[list[int]]:
        """This epoch's batches before padding, over all ranks, as positions in ``self.names``."""
        order = list(range(len(self.names)))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(order), generator=g).tolist()
        return [order[s:s + self.images_per_batch] for s in range(0, len(order), self.images_per_batch)]

    def __len__(self) -> int:
        n, w = self._batch_count(), self.num_replicas
        if n == 0:
            return 0
        return math.ceil(n / w) if self.even else len(range(self.rank, max(n, w), w))

    def __iter__(self):
        batches = self._image_batches()
        if batches:
            total = len(self) * self.num_replicas if self.even else max(len(batches), self.num_replicas)
            batches = [batches[k % len(batches)] for k in range(total)]
        for images in batches[self.rank::self.num_replicas]:
            yield [i for j in images for i in self.groups[self.names[j]]]


class _BatchItems(Dataset):
    """``dataset[indices]`` -> ``dataset.distinct_image_items(indices)``: one fetch per batch when the sampler
    yields whole batches (DataLoader with ``batch_size=None``), each distinct image once."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]):
        return self.dataset.distinct_image_items(indices)


class ImageGroupedDataModule(GazeDataModule):
    """A :class:`GazeDataModule` whose batches hold all scanpaths of ``images_per_batch`` images.

    A batch is ``(images [k, 3, H, W], scanpaths [n rows])`` with each of its ``k`` distinct images once, in order of
    first appearance in ``scanpaths.image`` (not one copy per scanpath: with OSIE's 15 scanpaths per image that
    was 15x the bytes to convert and move per batch, 10 % of TPP's epoch on 2 cores). TPP's ``_unpack`` and
    :func:`~gazekit.models.base.request_from_batch` take both forms.

    Under DDP (``Trainer(strategy="ddp", devices=N)``) every process gets its own share of the batches (see
    :class:`ImageBatchSampler`); ``images_per_batch`` is then per process.

    Args:
        images_per_batch: distinct images per batch (``batch_size`` is ignored for the loaders).
        Everything else as :class:`GazeDataModule`.
    """

    def __init__(self, *args, images_per_batch: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        self.images_per_batch = int(images_per_batch)

    def _loader(self, name: str, shuffle: bool, by_image: bool = False) -> DataLoader:
        # As GazeDataModule: one stateful loader per split, so a run killed mid-epoch resumes on the next batch
        # (the sampler has no state of its own: the loader replays its seeded per-epoch order up to that batch).
        # Batches hold whole images, so each image is on one rank whatever ``by_image`` asks.
        from torchdata.stateful_dataloader import StatefulDataLoader

        rank, world_size = rank_and_world_size(self.trainer)
        key = (name, shuffle, rank, world_size)
        if key in self._loaders:
            return self._loaders[key]
        data = self.split(name)
        sampler = ImageBatchSampler(list(data.scanpaths.image), self.images_per_batch, shuffle, seed=self.seed,
                                    num_replicas=world_size, rank=rank, even=name == "train")
        loader = self._loaders[key] = StatefulDataLoader(
            _BatchItems(data), sampler=sampler, batch_size=None, num_workers=self.num_workers,
            collate_fn=collate_gaze, persistent_workers=self.num_workers > 0)
        if name == "train" and self._train_loader_state is not None:
            loader.load_state_dict(self._train_loader_state)
            self._train_loader_state = None
        return loader

    @property
    def train_scanpaths(self) -> Scanpaths:
        """The scanpaths of the training split."""
        return self.split("train").scanpaths

    @property
    def viewing_time_ms(self) -> float | None:
        """The dataset's viewing time per image in ms (None when trials were self-terminated)."""
        return self.load().viewing_time_ms
