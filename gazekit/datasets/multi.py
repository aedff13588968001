"""Train one model on several free-viewing data sets at once (OSIE + EyeCrowd + NUS-SUN500 by default).

:class:`MultiGazeDataModule` keeps what differs between data sets instead of averaging it away:

* **Own test split.** Each data set is split by image with the hashed rule of :mod:`gazekit.datasets.splits`
  (same ``fractions`` and ``seed``), exactly as :class:`~gazekit.datasets.datamodule.GazeDataModule` splits it
  alone: OSIE's test images here are OSIE's test images there.
* **Aspect ratio.** Every image is resized to its own canvas (:func:`gazekit.datasets._buckets.canvas_size`: about
  ``pixels`` pixels, sides multiples of ``multiple``, aspect kept to within 2 %); a batch holds all scanpaths of up
  to ``images_per_batch`` images sharing a canvas, so nothing is padded or squashed.
* **Geometry.** Per scanpath: ``ppd`` in canvas pixels (NaN when unknown, as for NUS-SUN500), and
  ``px_per_unit``: canvas pixels per saccade unit, a degree of visual angle where ppd is known, else the image's
  longer side (image-normalised units); ``unit_is_degree`` says which.
* **Centre bias.** :attr:`priors` holds, per data set, a centre-bias Gaussian in image-normalised coordinates
  (``cb_mean``, ``cb_cov``: the keys of :func:`gazekit.models.priors.fit_freeview_priors`) and a log-normal over
  durations (``logd_loc``, ``logd_scale``), fitted on *that data set's training split*;
  :meth:`centre_bias_log_density` turns it into a normalised per-pixel map for any canvas, and
  :meth:`train_scanpaths_of` gives one data set's training scanpaths for fitting anything else.
* **Viewing horizon.** Per data set: its viewing time when known (OSIE 3 s, NUS-SUN500 3 s), else the longest
  summed fixation time of its training scanpaths (a lower bound on the viewing time; EyeCrowd: see
  :attr:`horizon_source`), or ``horizons_ms[name]`` when given.

Batches are dicts (models that read ``batch["images"]`` and ``batch["scanpaths"]``, like ``TPPGaze``, train on
them unchanged)::

    images        [N, 3, H, W] float32 in [0, 1], the batch's distinct images in order of first appearance
    image_index   [B] int64, row of ``images`` for each scanpath
    scanpaths     Scanpaths, B rows, in canvas pixels; ``image`` is "<data set>/<image>" (names repeat across sets)
    dataset_id    [B] int64, index into ``names``
    ppd           [B] float64, canvas pixels per degree (NaN: unknown)
    px_per_unit   [B] float64, canvas pixels per saccade unit (see above)
    unit_is_degree [B] bool
    horizon_ms    [B] float64
    horizon_known [B] bool, True where ``horizon_ms`` is the data set's viewing time (or was given), False where it
                  is only a lower bound (a model should not treat the end of those scanpaths as the horizon)
    scale         [B, 2] float64, canvas pixels per original pixel (x, y)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from gazekit.datasets._buckets import BucketBatchSampler, canvas_size
from gazekit.datasets.base import GazeDataset
from gazekit.datasets.datamodule import _decode_resized, rank_and_world_size
from gazekit.datasets.splits import split_by
from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths

SPLITS = ("train", "val", "test")
DEFAULT_DATASETS = ("osie", "eyecrowd", "nus_sun500")
KNOWN_HORIZONS = ("viewing time", "given")  # DatasetInfo.horizon_source values that are true horizons


@dataclass
class DatasetInfo:
    """What the module knows about one data set (``id`` indexes ``MultiGazeDataModule.names``)."""

    name: str
    id: int
    ppd: float | None  # original pixels per degree (the median over scanpaths), None when unknown
    viewing_time_ms: float | None
    horizon_ms: float
    horizon_source: str
    images: dict[str, int] = field(default_factory=dict)  # split -> number of images
    scanpaths: dict[str, int] = field(default_factory=dict)  # split -> number of scanpaths
    max_length: int = 0  # longest training scanpath (fixations)


def fit_centre_bias(scanpaths: Scanpaths) -> dict:
    """Centre-bias Gaussian over image-normalised positions (``cb_mean`` [2], ``cb_cov`` [2, 2]) and a log-normal
    over durations (``logd_loc``, ``logd_scale``; None without durations) of ``scanpaths``."""
    mask = scanpaths.mask
    size = scanpaths.image_size
    uv = torch.stack([(scanpaths.x / size[:, :1])[mask], (scanpaths.y / size[:, 1:])[mask]], 1)
    uv = uv[torch.isfinite(uv).all(1)]
    if len(uv) < 3:
        raise InvalidInputError("fitting a centre bias needs at least 3 fixations with positions")
    cov = torch.cov(uv.T) + 1e-6 * torch.eye(2, dtype=uv.dtype)
    d = scanpaths.duration[mask]
    d = d[torch.isfinite(d) & (d > 0)]
    out = {"cb_mean": uv.mean(0).tolist(), "cb_cov": cov.tolist(), "n_fixations": len(uv),
           "n_scanpaths": len(scanpaths), "logd_loc": None, "logd_scale": None}
    if d.numel() >= 2:
        out.update(logd_loc=float(d.log().mean()), logd_scale=float(d.log().std()))
    return out


def _identity(batch):
    return batch


class MultiSplit(Dataset):
    """One split over every data set; ``self[indices]`` builds the batch dict of those scanpath rows."""

    def __init__(self, module: MultiGazeDataModule, scanpaths: Scanpaths, dataset_id: torch.Tensor,
                 scale: torch.Tensor):
        self.module, self.scanpaths, self.dataset_id, self.scale = module, scanpaths, dataset_id, scale

    def __len__(self) -> int:
        return len(self.scanpaths)

    def __getitem__(self, indices):
        idx = [int(i) for i in (indices if isinstance(indices, (list, tuple)) else [indices])]
        sp = self.scanpaths[idx]
        names = list(dict.fromkeys(sp.image))
        sizes = {self.module.canvas[n] for n in names}
        if len(sizes) > 1:
            raise InvalidInputError(f"a batch mixes canvas sizes {sorted(sizes)}; use the module's loaders")
        where = {n: k for k, n in enumerate(names)}
        images = torch.stack([self.module.image(n) for n in names]).to(torch.float32).div_(255.0)
        did = self.dataset_id[idx]
        info = [self.module.info[self.module.names[int(d)]] for d in did]
        ppd = sp.ppd.clone()
        known = ~torch.isnan(ppd)
        long_side = sp.image_size.max(dim=1).values
        return {"images": images, "image_index": torch.tensor([where[n] for n in sp.image]), "scanpaths": sp,
                "dataset_id": did, "ppd": ppd, "px_per_unit": torch.where(known, ppd, long_side),
                "unit_is_degree": known, "horizon_ms": torch.tensor([i.horizon_ms for i in info], dtype=torch.float64),
                "horizon_known": torch.tensor([i.horizon_source in KNOWN_HORIZONS for i in info]),
                "scale": self.scale[idx]}


class MultiGazeDataModule(pl.LightningDataModule):
    """Train/val/test loaders over several free-viewing data sets (see the module docstring).

    Args:
        datasets: registered names, or loaded :class:`GazeDataset` objects (all must ship images).
        roots: data set name -> folder (default: each one's folder under the data root).
        pixels: about how many pixels each resized image has (its canvas; default 320 x 240).
        multiple: canvas sides are multiples of this (16: 320 x 240 for 4:3; 1: exact aspect).
        images_per_batch: distinct images per batch (all their scanpaths come along).
        num_workers: DataLoader worker processes.
        fractions, seed: the per-data-set hashed split (:mod:`gazekit.datasets.splits`).
        horizons_ms: data set name -> viewing horizon (ms), overriding the default rule.
        max_length: keep at most this many fixations per scanpath (None: all).
        on_invalid: reader policy (one for all, or name -> policy; None: each reader's default).
        preload_images: decode every image in ``setup`` (shared by forked workers).
        shuffle: shuffle the training batches.
        disk_cache: keep decoded, resized images on disk (see :mod:`gazekit.datasets.image_cache`; None reads
            ``$GAZEKIT_IMAGE_CACHE``).
    """

    def __init__(self, datasets: Sequence[str | GazeDataset] = DEFAULT_DATASETS, roots: Mapping[str, str] | None = None,
                 pixels: int = 320 * 240, multiple: int = 16, images_per_batch: int = 8, num_workers: int = 0,
                 fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                 horizons_ms: Mapping[str, float] | None = None, max_length: int | None = None,
                 on_invalid: str | Mapping[str, str] | None = None, preload_images: bool = True, shuffle: bool = True,
                 disk_cache: bool | str | None = None):
        super().__init__()
        if not datasets:
            raise InvalidInputError("MultiGazeDataModule needs at least one data set")
        if int(images_per_batch) < 1 or int(pixels) < 1 or int(multiple) < 1:
            raise InvalidInputError(f"images_per_batch, pixels and multiple must be >= 1, got {images_per_batch}, "
                                    f"{pixels}, {multiple}")
        self.dataset_specs, self.roots = list(datasets), dict(roots or {})
        self.pixels, self.multiple, self.images_per_batch = int(pixels), int(multiple), int(images_per_batch)
        self.num_workers, self.fractions, self.seed = int(num_workers), tuple(fractions), int(seed)
        self.horizons_override = dict(horizons_ms or {})
        self.max_length, self.on_invalid, self.preload_images, self.shuffle = max_length, on_invalid, \
            preload_images, shuffle
        self.disk_cache = disk_cache
        self._disk = None
        self.data: dict[str, GazeDataset] = {}
        self.names: list[str] = []
        self.info: dict[str, DatasetInfo] = {}
        self.priors: dict[str, dict] = {}
        self.canvas: dict[str, tuple[int, int]] = {}  # "<set>/<image>" -> (H, W)
        self.paths: dict = {}
        self.split_images: dict[str, dict[str, list[str]]] = {}  # set -> split -> original image names
        self._images: dict[str, torch.Tensor] = {}
        self._train_rows: dict[str, Scanpaths] = {}
        self._splits: dict[str, MultiSplit] = {}
        self._loaders: dict = {}
        self._train_loader_state: dict | None = None

    # ---------------------------------------------------------------- loading
    def _policy(self, name: str) -> dict:
        pol = self.on_invalid.get(name) if isinstance(self.on_invalid, Mapping) else self.on_invalid
        return {} if pol is None else {"on_invalid": pol}

    def load(self) -> dict[str, GazeDataset]:
        """Every data set, loaded on first use, by name."""
        if not self.data:
            from gazekit.datasets.registry import load_dataset

            for spec in self.dataset_specs:
                data = spec if isinstance(spec, GazeDataset) else load_dataset(str(spec), root=self.roots.get(spec),
                                                                                **self._policy(str(spec)))
                if data.name in self.data:
                    raise InvalidInputError(f"data set {data.name!r} given twice")
                if not data.images:
                    raise InvalidInputError(f"data set {data.name!r} has no image files; the multi-data-set module "
                                            "trains image models")
                self.data[data.name] = data
            self.names = list(self.data)
        return self.data

    def prepare_data(self) -> None:
        self.load()

    def _horizon(self, name: str, data: GazeDataset, train: Scanpaths) -> tuple[float, str]:
        if name in self.horizons_override:
            return float(self.horizons_override[name]), "given"
        if data.viewing_time_ms:
            return float(data.viewing_time_ms), "viewing time"
        d = torch.nan_to_num(train.duration * train.mask, nan=0.0).sum(1)
        if len(d) == 0 or float(d.max()) <= 0:
            raise InvalidInputError(f"data set {name!r}: no viewing time and no durations; pass horizons_ms")
        return float(d.max()), "longest summed fixation time of the training scanpaths (lower bound)"

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        from gazekit.datasets.image_cache import resolve_disk_cache

        self._disk = resolve_disk_cache(self.disk_cache)
        parts: dict[str, list] = {s: [] for s in SPLITS}
        for did, (name, data) in enumerate(self.load().items()):
            sp = data.scanpaths if self.max_length is None else data.scanpaths.truncate(self.max_length)
            missing = sorted(set(sp.image) - set(data.images))
            if missing:
                raise InvalidInputError(f"data set {name!r}: {len(missing)} image(s) have no file, e.g. {missing[:3]}")
            if torch.isnan(sp.image_size).any():
                raise InvalidInputError(f"data set {name!r}: some scanpaths have no image_size")
            index = split_by(sp.image, self.fractions, self.seed, SPLITS)
            self.split_images[name] = {s: sorted({sp.image[i] for i in idx.tolist()}) for s, idx in index.items()}
            train = sp[index["train"].tolist()]
            ppds = sorted({float(v) for v in sp.ppd.tolist() if not math.isnan(v)})
            horizon, source = self._horizon(name, data, train)
            self.info[name] = DatasetInfo(
                name, did, (sorted(ppds)[len(ppds) // 2] if ppds else None), data.viewing_time_ms,
                horizon, source, {s: len(v) for s, v in self.split_images[name].items()},
                {s: len(idx) for s, idx in index.items()}, int(train.lengths.max()) if len(train) else 0)
            self.priors[name] = fit_centre_bias(train)
            self._train_rows[name] = train
            rescaled, scale = self._to_canvas(name, data, sp)
            for s, idx in index.items():
                rows = idx.tolist()
                parts[s].append((rescaled[rows], torch.full((len(rows),), did, dtype=torch.int64), scale[rows]))
        for s in SPLITS:
            sps = [p[0] for p in parts[s] if len(p[0])]
            self._splits[s] = MultiSplit(self, Scanpaths.concat(sps) if sps else Scanpaths.empty(),
                                         torch.cat([p[1] for p in parts[s]]), torch.cat([p[2] for p in parts[s]]))
        if self.preload_images:
            for key in self.canvas:
                self.image(key)

    def _to_canvas(self, name: str, data: GazeDataset, sp: Scanpaths) -> tuple[Scanpaths, torch.Tensor]:
        """Rows of ``sp`` rescaled to their image's canvas, image names prefixed; and (sx, sy) per row."""
        sp = replace(sp, image=[f"{name}/{img}" for img in sp.image])
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (img, (w, h)) in enumerate(zip(sp.image, sp.image_size.tolist())):
            size = canvas_size(w, h, self.pixels, self.multiple)
            self.canvas[img] = size
            self.paths[img] = data.images[img.split("/", 1)[1]]
            groups.setdefault(size, []).append(i)
        out: list[Scanpaths | None] = [None] * len(groups)
        order: list[int] = []
        for k, ((h, w), rows) in enumerate(groups.items()):
            out[k] = sp[rows].rescale(float(w), float(h))
            order += rows
        merged = Scanpaths.concat(out)
        back = torch.empty(len(order), dtype=torch.int64)
        back[torch.tensor(order)] = torch.arange(len(order))
        merged = merged[back.tolist()]
        scale = merged.image_size / sp.image_size
        return merged, scale

    def image(self, key: str) -> torch.Tensor:
        """Decoded ``[3, H, W]`` uint8 image at its canvas size (``key`` is "<data set>/<image>")."""
        img = self._images.get(key)
        if img is None:
            if key not in self.paths:
                raise InvalidInputError(f"unknown image {key!r}")
            if self._disk is not None:
                img = self._disk.get(self.paths[key], self.canvas[key], _decode_resized)
            else:
                img = _decode_resized(self.paths[key], self.canvas[key])
            self._images[key] = img
        return img

    # ---------------------------------------------------------------- what models and evaluation read
    def split(self, name: str) -> MultiSplit:
        """The ``train``, ``val``, ``test`` or ``all`` split over every data set."""
        if name not in SPLITS:
            raise InvalidInputError(f"unknown split {name!r}; expected one of {list(SPLITS)}")
        self.setup()
        return self._splits[name]

    @property
    def train_scanpaths(self) -> Scanpaths:
        """The scanpaths of the training split, every data set together."""
        return self.split("train").scanpaths

    @property
    def viewing_time_ms(self) -> float | None:
        """The common horizon when every data set has the same one, else None (use ``horizon_ms`` per row)."""
        self.setup()
        horizons = {i.horizon_ms for i in self.info.values()}
        return horizons.pop() if len(horizons) == 1 else None

    def train_scanpaths_of(self, name: str) -> Scanpaths:
        """Data set ``name``'s training scanpaths in its own pixels (image names not prefixed)."""
        self.setup()
        if name not in self._train_rows:
            raise InvalidInputError(f"unknown data set {name!r}; this module holds {self.names}")
        return self._train_rows[name]

    def dataset_id(self, name: str) -> int:
        """The integer id of data set ``name`` (its position in ``names``)."""
        self.load()
        if name not in self.names:
            raise InvalidInputError(f"unknown data set {name!r}; this module holds {self.names}")
        return self.names.index(name)

    def centre_bias_log_density(self, name: str, height: int, width: int) -> torch.Tensor:
        """``[height, width]`` float64 log-probabilities (summing to 1 over the pixels) of data set ``name``'s
        centre-bias Gaussian (fitted on its training split), evaluated at pixel centres."""
        self.setup()
        pri = self.priors[name]
        u = (torch.arange(width, dtype=torch.float64) + 0.5) / width
        v = (torch.arange(height, dtype=torch.float64) + 0.5) / height
        uv = torch.stack(torch.meshgrid(u, v, indexing="xy"), -1)
        diff = uv - torch.tensor(pri["cb_mean"], dtype=torch.float64)
        inv = torch.linalg.inv(torch.tensor(pri["cb_cov"], dtype=torch.float64))
        logp = -0.5 * torch.einsum("...i,ij,...j->...", diff, inv, diff)
        return logp - torch.logsumexp(logp.reshape(-1), 0)

    # ---------------------------------------------------------------- loaders
    def loader(self, split: str, datasets: Sequence[str] | None = None, shuffle: bool = False):
        """A loader over ``split``, optionally of some data sets only (e.g. one held-out set's test split)."""
        from torchdata.stateful_dataloader import StatefulDataLoader

        rank, world_size = rank_and_world_size(self.trainer)
        key = (split, tuple(datasets) if datasets is not None else None, shuffle, rank, world_size)
        if key in self._loaders:
            return self._loaders[key]
        data = self.split(split)
        if datasets is not None:
            ids = torch.tensor([self.dataset_id(n) for n in datasets])
            rows = torch.isin(data.dataset_id, ids).nonzero().flatten().tolist()
            data = MultiSplit(self, data.scanpaths[rows], data.dataset_id[rows], data.scale[rows])
        sampler = BucketBatchSampler(list(data.scanpaths.image), self.canvas, self.images_per_batch, shuffle,
                                     seed=self.seed, num_replicas=world_size, rank=rank, even=split == "train")
        loader = self._loaders[key] = StatefulDataLoader(data, sampler=sampler, batch_size=None,
                                                         num_workers=self.num_workers, collate_fn=_identity,
                                                         persistent_workers=self.num_workers > 0)
        if split == "train" and datasets is None and self._train_loader_state is not None:
            loader.load_state_dict(self._train_loader_state)
            self._train_loader_state = None
        return loader

    def state_dict(self) -> dict:
        loader = self._loaders.get(("train", None, self.shuffle, *rank_and_world_size(self.trainer)))
        return {"train_loader": loader.state_dict()} if loader is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._train_loader_state = state_dict.get("train_loader")

    def train_dataloader(self):
        return self.loader("train", shuffle=self.shuffle)

    def val_dataloader(self):
        return self.loader("val")

    def test_dataloader(self):
        return self.loader("test")

    def predict_dataloader(self):
        return self.loader("test")

    def summary(self) -> dict:
        """Per data set: id, geometry, horizon and split sizes (for logs and docs)."""
        self.setup()
        return {n: {"id": i.id, "ppd": i.ppd, "unit": "degree" if i.ppd else "image long side",
                    "horizon_ms": i.horizon_ms, "horizon_source": i.horizon_source, "images": i.images,
                    "scanpaths": i.scanpaths, "max_length": i.max_length,
                    "centre_bias_mean": self.priors[n]["cb_mean"]} for n, i in self.info.items()}
