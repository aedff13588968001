"""A LightningDataModule yielding ``(images, scanpaths)`` batches for any registered dataset (or table file).

Batches:
    * ``images``: ``[B, 3, H, W]`` float32 RGB in [0, 1], resized to ``image_size``; row ``b`` is the image that
      scanpath ``b`` was recorded on. For datasets that ship no images (``coco_search18``, ``amazon_books``,
      tables without image files) ``images`` is ``None`` and only the scanpaths flow.
    * ``scanpaths``: one padded :class:`~gazekit.scanpaths.Scanpaths` of B rows, rescaled from each scanpath's
      ``image_size`` to ``image_size`` (coordinates, target boxes and pixels per degree scale together; durations
      do not change). Padding happens only in :func:`~gazekit.datasets.collate.collate_gaze`.

Splits: by image, with :func:`~gazekit.datasets.splits.split_by` (seeded, deterministic; every scanpath of an
image lands in the same split). Decoded, resized images are kept in memory as uint8 (``3 * H * W`` bytes each)
and, with ``preload_images=True``, decoded once in ``setup`` before the workers fork so they share them. With
``disk_cache=True`` (or ``GAZEKIT_IMAGE_CACHE=1``) they are also kept on disk, keyed by file hash and size, so later
runs, DDP ranks and workers read them instead of decoding again (:mod:`gazekit.datasets.image_cache`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from gazekit.datasets.base import GazeDataset
from gazekit.datasets.collate import collate_gaze
from gazekit.datasets.image_cache import DiskImageCache, resolve_disk_cache
from gazekit.datasets.splits import split_by
from gazekit.errors import InvalidInputError
from gazekit.images import load_image
from gazekit.scanpaths import Scanpaths

SPLITS = ("train", "val", "test")


def rank_and_world_size(trainer=None) -> tuple[int, int]:
    """This process's rank and the number of processes: the attached Trainer's, else torch.distributed's."""
    if trainer is not None and getattr(trainer, "world_size", 1) > 1:
        return int(trainer.global_rank), int(trainer.world_size)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ImageShardSampler(DistributedSampler):
    """Rank ``r`` of ``num_replicas`` gets, in order, every item whose image is the k-th distinct image (in order of
    first appearance) with ``k % num_replicas == r``: each image's items all on one rank, every item once.

    A :class:`~torch.utils.data.DistributedSampler` so that Lightning keeps it instead of injecting its own."""

    def __init__(self, images: Sequence[str], num_replicas: int, rank: int):
        super().__init__(range(len(images)), num_replicas=num_replicas, rank=rank, shuffle=False)
        order = {name: k for k, name in enumerate(dict.fromkeys(images))}
        self.indices = [i for i, name in enumerate(images) if order[name] % num_replicas == rank]
        self.num_samples = len(self.indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return self.num_samples


class ImageCache:
    """Image name -> decoded ``[3, H, W]`` uint8 tensor resized to ``size`` (H, W), decoded on first use.

    With ``disk`` (a :class:`~gazekit.datasets.image_cache.DiskImageCache`), an image not yet in memory is read
    from the on-disk cache, and decoded (then stored there) only when no process has decoded it before."""

    def __init__(self, paths: dict, size: tuple[int, int] | None, disk: DiskImageCache | None = None):
        self.paths, self.size, self.disk, self._cache = dict(paths), size, disk, {}

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, name: str) -> torch.Tensor:
        """The image ``name`` as a resized uint8 ``[3, H, W]`` tensor, decoded once (then from memory or the disk
        cache).
        """
        img = self._cache.get(name)
        if img is None:
            if name not in self.paths:
                raise InvalidInputError(f"no image file for image {name!r}")
            if self.disk is not None:
                img = self.disk.get(self.paths[name], self.size, _decode_resized)
            else:
                img = _decode_resized(self.paths[name], self.size)
            self._cache[name] = img
        return img


def _decode_resized(path, size: tuple[int, int] | None) -> torch.Tensor:
    """``[3, H, W]`` uint8 RGB resized to ``size`` (area interpolation). 8-bit grey/colour files take a fast
    uint8 path; anything else (alpha, 16-bit) goes through :func:`gazekit.images.load_image` conversions."""
    import cv2
    import numpy as np

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if raw is None:
        raise InvalidInputError(f"{str(path)!r} is missing or not a readable image")
    if raw.dtype == np.uint8 and (raw.ndim == 2 or raw.shape[2] == 3):
        if size is not None and raw.shape[:2] != tuple(size):
            raw = cv2.resize(raw, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        rgb = np.repeat(raw[:, :, None], 3, axis=2) if raw.ndim == 2 else raw[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    img = load_image(path)
    if size is not None and tuple(img.shape[1:]) != tuple(size):
        img = torch.nn.functional.interpolate(img[None], size=tuple(size), mode="bilinear", antialias=True,
                                              align_corners=False)[0]
    return img.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


class ScanpathImageDataset(Dataset):
    """One item per scanpath: ``(image [3, H, W] uint8 or None, one-row Scanpaths)``."""

    def __init__(self, scanpaths: Scanpaths, images: ImageCache | None):
        self.scanpaths, self.images = scanpaths, images

    def __len__(self) -> int:
        return len(self.scanpaths)

    def __getitem__(self, i: int):
        sp = self.scanpaths[int(i)]
        return (self.images.get(sp.image[0]) if self.images is not None else None), sp

    def __getitems__(self, indices: list[int]):
        """Batched fetch used by DataLoader: one ``([n, 3, H, W], n-row Scanpaths)`` item per batch (one
        index operation instead of n), which :func:`collate_gaze` accepts like n single items."""
        sp = self.scanpaths[[int(i) for i in indices]]
        images = torch.stack([self.images.get(name) for name in sp.image]) if self.images is not None else None
        return [(images, sp)]

    def distinct_image_items(self, indices: list[int]):
        """As ``__getitems__``, but each distinct image once: ``[([k, 3, H, W], n-row Scanpaths)]``, row ``j`` the
        ``j``-th distinct name of ``scanpaths.image`` in order of appearance (batches that group the scanpaths of
        a few images carry ``k`` images, not n copies)."""
        sp = self.scanpaths[[int(i) for i in indices]]
        if self.images is None:
            return [(None, sp)]
        return [(torch.stack([self.images.get(name) for name in dict.fromkeys(sp.image)]), sp)]


class GazeDataModule(pl.LightningDataModule):
    """Train/val/test loaders over one dataset.

    Args:
        dataset: a registered name (``gazekit.datasets.list_datasets()``), a path to a scanpath table, or a
            loaded :class:`GazeDataset`.
        root: dataset folder (default: its folder under the data root).
        image_size: ``(height, width)`` in pixels that images and scanpaths are resized to; None keeps the
            native size (then all images of a batch must have the same size).
        batch_size: scanpaths per batch.
        num_workers: DataLoader worker processes.
        fractions: fractions of the distinct images in train, val and test.
        seed: split seed (see :mod:`gazekit.datasets.splits`).
        with_images: load images (default: when the dataset has image files). Every scanpath's image must then
            exist.
        preload_images: decode all images of the used splits in ``setup`` (shared by forked workers).
        max_length: keep at most this many fixations per scanpath (None: all).
        on_invalid: policy passed to the reader (``"raise"``, ``"drop"``, ``"clip"``); None: the reader's
            default (documented per dataset).
        dataset_kwargs: extra keyword arguments for the reader (e.g. ``{"split_file": ...}``).
        shuffle: shuffle the training loader.
        disk_cache: keep the decoded, resized images on disk, shared by every epoch, run and process (see
            :mod:`gazekit.datasets.image_cache`): ``True`` (folder ``$GAZEKIT_CACHE/images``), a folder, or
            ``False``; None (default) follows ``$GAZEKIT_IMAGE_CACHE`` (unset: off).

    Under DDP (``Trainer(strategy="ddp", devices=N)``) each process trains on its own share of the training split
    (a ``DistributedSampler`` seeded with ``seed``; ``batch_size`` is then per process); validation and test
    loaders are sharded by Lightning.
    """

    def __init__(self, dataset: str | GazeDataset = "osie", root: str | None = None,
                 image_size: Sequence[int] | None = (240, 320), batch_size: int = 32, num_workers: int = 0,
                 fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0, with_images: bool | None = None,
                 preload_images: bool = True, max_length: int | None = None, on_invalid: str | None = None,
                 dataset_kwargs: dict | None = None, shuffle: bool = True, disk_cache: bool | str | None = None):
        super().__init__()
        if image_size is not None:
            image_size = tuple(int(v) for v in image_size)
            if len(image_size) != 2 or min(image_size) < 1:
                raise InvalidInputError(f"image_size must be (height, width) positive ints, got {image_size}")
        if int(batch_size) < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset_spec, self.root, self.image_size = dataset, root, image_size
        self.batch_size, self.num_workers, self.fractions, self.seed = int(batch_size), int(num_workers), fractions, seed
        self.with_images, self.preload_images, self.max_length = with_images, preload_images, max_length
        self.on_invalid, self.dataset_kwargs, self.shuffle = on_invalid, dict(dataset_kwargs or {}), shuffle
        self.disk_cache = disk_cache
        self.data: GazeDataset | None = None
        self.splits: dict[str, torch.Tensor] = {}
        self.image_cache: ImageCache | None = None
        self._datasets: dict[str, ScanpathImageDataset] = {}
        self._loaders: dict = {}
        self._train_loader_state: dict | None = None

    # ---------------------------------------------------------------- setup
    def load(self) -> GazeDataset:
        """The dataset, loaded on first use (a :class:`GazeDataset` given to the constructor is used as is)."""
        if self.data is None:
            if isinstance(self.dataset_spec, GazeDataset):
                self.data = self.dataset_spec
            else:
                from gazekit.datasets.table import open_dataset

                policy = {} if self.on_invalid is None else {"on_invalid": self.on_invalid}
                self.data = open_dataset(str(self.dataset_spec), root=self.root, **policy, **self.dataset_kwargs)
        return self.data

    def prepare_data(self) -> None:
        self.load()  # parses once and fills the on-disk cache

    def setup(self, stage: str | None = None) -> None:
        if self._datasets:
            return
        data = self.load()
        sp = data.scanpaths if self.max_length is None else data.scanpaths.truncate(self.max_length)
        if self.image_size is not None:
            sp = sp.rescale(self.image_size[1], self.image_size[0])
        use_images = bool(data.images) if self.with_images is None else self.with_images
        if use_images:
            missing = sorted(set(sp.image) - set(data.images))
            if missing:
                raise InvalidInputError(f"dataset {data.name!r}: {len(missing)} image(s) have no file, e.g. "
                                        f"{missing[:3]}; pass with_images=False to train on scanpaths only")
            self.image_cache = ImageCache(data.images, self.image_size, disk=resolve_disk_cache(self.disk_cache))
        index = split_by(sp.image, self.fractions, self.seed, SPLITS)
        self.splits = {name: torch.as_tensor(idx) for name, idx in index.items()}
        self._datasets = {name: ScanpathImageDataset(sp[idx.tolist()], self.image_cache)
                          for name, idx in index.items()}
        if self.image_cache is not None and self.preload_images:
            for name in sorted(set(sp.image)):
                self.image_cache.get(name)

    def split(self, name: str) -> ScanpathImageDataset:
        """The ``train``, ``val``, ``test`` or ``all`` split as a dataset of (image, scanpath) items."""
        if name not in SPLITS:
            raise InvalidInputError(f"unknown split {name!r}; expected one of {list(SPLITS)}")
        self.setup()
        return self._datasets[name]

    # ---------------------------------------------------------------- loaders
    def _loader(self, name: str, shuffle: bool, by_image: bool = False) -> DataLoader:
        # StatefulDataLoader: its position (and shuffle order) is saved in Lightning checkpoints, so training
        # killed mid-epoch resumes on the very next batch and ends with the same weights as an uninterrupted run.
        from torchdata.stateful_dataloader import StatefulDataLoader

        # One loader object per split: Lightning may ask for the train loader twice (estimated_stepping_batches
        # in configure_optimizers), and the restored position must stay on the loader that is iterated.
        rank, world_size = rank_and_world_size(self.trainer)
        key = (name, shuffle, rank, world_size) + (("by image",) if by_image else ())
        if key in self._loaders:
            return self._loaders[key]
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        sampler = None
        if name == "train" and world_size > 1:
            # Under DDP the shard is chosen here (seeded by `seed`, reshuffled by Lightning's set_epoch): Lightning
            # then keeps this loader instead of rebuilding it around its own sampler, so the position kept in
            # state_dict below is the position of the loader being iterated (mid-epoch resume works under DDP).
            sampler = DistributedSampler(self.split(name), num_replicas=world_size, rank=rank, shuffle=shuffle,
                                         seed=self.seed)
            shuffle, generator = False, None
        elif world_size > 1 and by_image:
            # Prediction: each image on one rank only, so it is predicted once (its scanpaths, spread over
            # batches, are merged by the model's predict_step); by scanpath, both ranks would predict it
            sampler = ImageShardSampler(self.split(name).scanpaths.image, num_replicas=world_size, rank=rank)
        elif world_size > 1:
            # Evaluation: every item exactly once, shards may differ by one (Lightning's default
            # DistributedSampler would repeat items to even the shards, and epoch means would count them twice).
            from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

            sampler = UnrepeatedDistributedSampler(self.split(name), num_replicas=world_size, rank=rank, shuffle=False)
        loader = self._loaders[key] = StatefulDataLoader(self.split(name), batch_size=self.batch_size, shuffle=shuffle,
                                  sampler=sampler, generator=generator, num_workers=self.num_workers,
                                  collate_fn=collate_gaze, persistent_workers=self.num_workers > 0)
        if name == "train" and self._train_loader_state is not None:
            loader.load_state_dict(self._train_loader_state)
            self._train_loader_state = None
        return loader

    # Lightning restores its own copy of the loader position only if the loader is first built after the
    # checkpoint's loop state is loaded; configure_optimizers calling `trainer.estimated_stepping_batches` builds it
    # earlier and the position is lost. The DataModule's own state is restored before any of that, so keep it here.
    def state_dict(self) -> dict:
        loader = self._loaders.get(("train", self.shuffle, *rank_and_world_size(self.trainer)))
        return {"train_loader": loader.state_dict()} if loader is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._train_loader_state = state_dict.get("train_loader")

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False, by_image=True)
