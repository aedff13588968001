"""Training data for the static saliency model: a per-image feature cache and the fixations of each image.

The image evidence (:mod:`gazekit.models.saliency_features`) is fixed (no trainable part), so it is computed once
per image and cached: ``python -m gazekit.models.saliency_data DATASET OUT_DIR`` writes ``OUT_DIR/<image>.pt`` per
image (float16 maps; read back with ``torch.load(..., weights_only=True)``, never unpickled). A cache file is written
atomically and skipped when it exists, so an interrupted run resumes.

:class:`SaliencyDataModule` trains on one or several registered free-viewing datasets: each keeps the fixed image
split of ``gazekit evaluate`` (``split_by`` over image names, fractions 0.8/0.1/0.1, seed 0), and every batch item
is one image with all of its fixations in image-normalised coordinates ``(x / W, y / H)``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gazekit.datasets.splits import SplitLoaders
from gazekit.errors import InvalidInputError
from gazekit.models.saliency_core import MAP_CHANNELS
from gazekit.models.saliency_features import GROUPS, extract, grid_shape

CACHE_GRID = 80  # grid cells on the longer side of the cached maps (10 px on an 800 x 600 image)
BACKBONE_SIDES = (256, 384)


def cache_path(cache_dir: Path, dataset: str, image: str) -> Path:
    """The file holding the cached features of ``image`` of ``dataset`` under ``cache_dir``."""
    return Path(cache_dir) / dataset / (Path(image).name + ".pt")


def build_cache(dataset: str, cache_dir: Path, images: dict[str, Path] | None = None, limit: int | None = None,
                groups: tuple[str, ...] = GROUPS, reverse: bool = False) -> int:
    """Compute and store the features of every image of ``dataset`` (``images``: name -> path, default the
    registered dataset's image files). Returns the number of images computed. An existing file is kept, or gains
    the requested groups it lacks."""
    from gazekit._atomic import atomic_path
    from gazekit.images import load_image
    from gazekit.models.saliency_core import SaliencyNet

    if images is None:
        from gazekit.datasets.registry import load_dataset

        images = load_dataset(dataset).images
    backbone = SaliencyNet(groups=("deep",)).backbone() if "deep" in groups else None
    done = 0
    t0 = time.time()
    for k, (name, path) in enumerate(sorted(images.items(), reverse=reverse)[:limit]):
        out = cache_path(cache_dir, dataset, name)
        item = torch.load(str(out), map_location="cpu", weights_only=True) if out.is_file() else None
        missing = [g for g in GROUPS if g in groups and g != "deep" and (item is None or g not in item["groups"])]
        need_deep = backbone is not None and (item is None or f"deep{BACKBONE_SIDES[0]}" not in item)
        if item is not None and not missing and not need_deep:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        image = load_image(path)
        if item is None:
            item = {"maps": torch.zeros(0, *grid_shape(*image.shape[-2:], CACHE_GRID), dtype=torch.float16),
                    "size": list(image.shape[-2:]), "groups": []}
        if missing:  # merged into the file's maps in GROUPS order (a cache can gain a group later)
            new = extract(image, tuple(missing), CACHE_GRID)["maps"].half()
            parts, old_at, new_at = [], 0, 0
            for g in GROUPS:
                if g in item["groups"]:
                    parts.append(item["maps"][old_at:old_at + MAP_CHANNELS[g]])
                    old_at += MAP_CHANNELS[g]
                elif g in missing:
                    parts.append(new[new_at:new_at + MAP_CHANNELS[g]])
                    new_at += MAP_CHANNELS[g]
            item["maps"] = torch.cat(parts, 0)
            item["groups"] = [g for g in GROUPS if g in item["groups"] or g in missing]
        if need_deep:
            for side in BACKBONE_SIDES:
                levels = extract(image, ("deep",), CACHE_GRID, backbone, side)["deep"]
                item[f"deep{side}"] = [lv.half() for lv in levels]
        with atomic_path(out) as tmp:
            torch.save(item, str(tmp))
        done += 1
        if done % 25 == 0:
            print(f"{dataset}: {k + 1}/{len(images)} images, {(time.time() - t0) / done:.2f} s/image", flush=True)
    return done


def load_cached(cache_dir: Path, dataset: str, image: str) -> dict:
    """The cached features of one image (read weights-only); a missing file raises ``InvalidInputError`` naming the
    command that builds the cache.
    """
    path = cache_path(cache_dir, dataset, image)
    if not path.is_file():
        raise InvalidInputError(f"no cached features {str(path)!r}: run python -m gazekit.models.saliency_data "
                                f"{dataset} {cache_dir}")
    return torch.load(str(path), map_location="cpu", weights_only=True)


class FixationImages(Dataset):
    """One item per image: features, fixations ``[N, 2]`` in image-normalised units, dataset index. Items whose
    features are not cached yet (``"features": None``) get them computed, cached and kept on first access."""

    def __init__(self, items: list[dict], cache_dir: Path):
        self.items, self.cache_dir = items, Path(cache_dir)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item = self.items[i]
        if item["features"] is None:
            build_cache(item["dataset_name"], self.cache_dir, {item["name"]: item["path"]})
            item["features"] = load_cached(self.cache_dir, item["dataset_name"], item["name"])
        return item


def size_key(item: dict) -> tuple:
    """Items with equal keys (image height and width, cached feature groups) have features of equal shapes (one
    batch can stack them)."""
    return (*item["size"], *item["features"]["groups"]) if item.get("features") else tuple(item["size"])


class SameSizeBatches(torch.utils.data.Sampler):
    """Batches of at most ``batch_size`` item indices sharing a :func:`size_key`, shuffled (with torch's global
    generator, seeded by ``seed_everything``) when ``shuffle``."""

    def __init__(self, keys: list, batch_size: int, shuffle: bool):
        self.groups: dict = {}
        for i, k in enumerate(keys):
            self.groups.setdefault(k, []).append(i)
        self.batch_size, self.shuffle = batch_size, shuffle

    def _batches(self) -> list[list[int]]:
        out = []
        for idx in self.groups.values():
            if self.shuffle:
                idx = [idx[j] for j in torch.randperm(len(idx)).tolist()]
            out += [idx[s:s + self.batch_size] for s in range(0, len(idx), self.batch_size)]
        if self.shuffle:
            out = [out[j] for j in torch.randperm(len(out)).tolist()]
        return out

    def __len__(self) -> int:
        return sum(math.ceil(len(v) / self.batch_size) for v in self.groups.values())

    def __iter__(self):
        return iter(self._batches())


def collate_same_size(items: list[dict]) -> dict:
    """Stack same-size items: ``{"features": {"maps": [B, C, gh, gw], "deepS": [[B, C_i, h_i, w_i]], "size",
    "groups"}, "fixations": [N_b, 2] per image, "dataset": [B], "names": [B]}``."""
    f0 = items[0]["features"]
    feats = {"size": f0["size"], "groups": f0["groups"], "maps": torch.stack([it["features"]["maps"] for it in items])}
    for key in f0:
        if key.startswith("deep"):
            feats[key] = [torch.stack([it["features"][key][k] for it in items]) for k in range(len(f0[key]))]
    return {"features": feats, "fixations": [it["fixations"] for it in items],
            "dataset": torch.tensor([it["dataset"] for it in items]), "names": [it["name"] for it in items],
            "dataset_names": [it.get("dataset_name") for it in items]}


# Low-level map channels that trade places under a left-right mirror (orientation contrast at 45 and 135 degrees,
# both scales; see saliency_features.low_level_maps for the channel order).
_LOW_MIRROR_SWAPS = ((15, 17), (19, 21))


def mirror_batch(batch: dict) -> dict:
    """The :func:`collate_same_size` batch of the left-right mirrored images: every feature map flipped along its
    width, the low-level orientation channels at 45 and 135 degrees swapped, fixations ``u -> 1 - u``.

    Training augmentation. The cached backbone levels are flipped as maps, which approximates the features of the
    mirrored image (the backbone was trained with mirror augmentation, so the two agree in distribution, not
    exactly)."""
    feats = dict(batch["features"])
    maps = feats["maps"].flip(-1)
    if "low" in feats["groups"]:
        start = sum(MAP_CHANNELS[g] for g in feats["groups"][: feats["groups"].index("low")])
        order = list(range(maps.shape[-3]))
        for a, b in _LOW_MIRROR_SWAPS:
            order[start + a], order[start + b] = order[start + b], order[start + a]
        maps = maps[..., order, :, :]
    feats["maps"] = maps
    for key in batch["features"]:
        if key.startswith("deep"):
            feats[key] = [level.flip(-1) for level in batch["features"][key]]
    fix = [torch.stack([(1 - uv[:, 0]).clamp(0, 1 - 1e-6), uv[:, 1]], 1) for uv in batch["fixations"]]
    return {**batch, "features": feats, "fixations": fix}


def image_fixations(scanpaths) -> dict[str, torch.Tensor]:
    """Image name -> ``[N, 2]`` float32 fixations ``(x / W, y / H)`` of every scanpath on it (valid ones only)."""
    out: dict[str, list] = {}
    mask = scanpaths.mask
    size = scanpaths.image_size
    for i, name in enumerate(scanpaths.image):
        m = mask[i]
        if not m.any():
            continue
        uv = torch.stack([scanpaths.x[i][m] / size[i, 0], scanpaths.y[i][m] / size[i, 1]], 1)
        out.setdefault(name, []).append(uv.float().clamp(0, 1 - 1e-6))
    return {k: torch.cat(v) for k, v in out.items()}


class SaliencyDataModule(SplitLoaders, pl.LightningDataModule):
    """Images with all their fixations, from one or more registered free-viewing datasets (see module docstring).

    Args:
        datasets: registered dataset names. cache_dir: the feature cache (``build_cache``; default
            ``<gazekit cache>/saliency-features``); missing entries are computed on first use. fractions, seed: the per-dataset image split. images_per_batch: batch size.
    """

    def __init__(self, datasets: tuple[str, ...] = ("osie",), cache_dir: str | None = None,
                 fractions: tuple[float, ...] = (0.8, 0.1, 0.1), seed: int = 0, images_per_batch: int = 8,
                 max_images: int | None = None):
        super().__init__()
        from gazekit.paths import cache_dir as default_cache

        self.datasets = tuple(datasets)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache() / "saliency-features"
        self.fractions, self.seed, self.images_per_batch = tuple(fractions), seed, images_per_batch
        self.max_images = max_images
        self._splits: dict[str, list[dict]] | None = None
        self.train_scanpaths = None

    def setup(self, stage: str | None = None) -> None:
        if self._splits is not None:
            return
        from gazekit.datasets.registry import load_dataset
        from gazekit.datasets.splits import split_keys
        from gazekit.scanpaths import Scanpaths

        splits: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
        train_sp = []
        for d, name in enumerate(self.datasets):
            data = load_dataset(name)
            sp = data.scanpaths
            fix = image_fixations(sp)
            groups = split_keys(sp.image, self.fractions, self.seed)
            size = {n: sp.image_size[i].tolist() for i, n in enumerate(sp.image)}
            for split, names in zip(("train", "val", "test"), groups):
                for n in names[: self.max_images]:
                    if n not in data.images or n not in fix:
                        continue
                    cached = cache_path(self.cache_dir, name, n).is_file()
                    splits[split].append({
                        "features": load_cached(self.cache_dir, name, n) if cached else None, "fixations": fix[n],
                        "dataset": d, "dataset_name": name, "name": n, "path": data.images[n],
                        "size": [int(size[n][1]), int(size[n][0])]})
            train_names = set(groups[0][: self.max_images])
            train_sp.append(sp[[i for i, n in enumerate(sp.image) if n in train_names]])
        self.train_scanpaths = Scanpaths.concat(train_sp)
        self._splits = splits

    def split(self, name: str, loaded: bool = False) -> list[dict]:
        """The items of split ``name``; ``loaded``: with every item's features (computed now where missing)."""
        self.setup()
        items = self._splits[name]
        if loaded:
            data = FixationImages(items, self.cache_dir)
            items = [data[i] for i in range(len(items))]
        return items

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        items = self.split(name)
        sampler = SameSizeBatches([size_key(it) for it in items], self.images_per_batch, shuffle)
        return DataLoader(FixationImages(items, self.cache_dir), batch_sampler=sampler, collate_fn=collate_same_size,
                          num_workers=0)


def _main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m gazekit.models.saliency_data",
                                description="cache the saliency model's image features of a dataset")
    p.add_argument("dataset")
    p.add_argument("cache_dir")
    p.add_argument("--stimuli", default=None, help="a folder of images instead of the registered dataset's")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--reverse", action="store_true", help="images in reverse name order (a second process)")
    p.add_argument("--groups", nargs="+", default=list(GROUPS), choices=GROUPS,
                   help="feature groups to compute (default all; a model reads only the groups it was built with)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    images = None
    if args.stimuli:
        images = {f.name: f for f in sorted(Path(args.stimuli).iterdir())
                  if f.suffix.lower() in (".jpg", ".jpeg", ".png")}
    t0 = time.time()
    n = build_cache(args.dataset, Path(args.cache_dir), images, args.limit, groups=tuple(args.groups),
                    reverse=args.reverse)
    print(f"{args.dataset}: {n} images cached in {time.time() - t0:.0f} s ({(time.time() - t0) / max(n, 1):.2f} "
          f"s/image)")


if __name__ == "__main__":
    _main()
