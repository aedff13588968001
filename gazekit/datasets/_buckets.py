"""Aspect-keeping input sizes and batches of equal-size images (used by :mod:`gazekit.datasets.multi`).

``canvas_size(width, height, pixels, multiple)`` picks the ``(height, width)`` an image is resized to: both sides
multiples of ``multiple``, the area within a factor 1.25 of ``pixels``, and among those the size whose aspect ratio
is closest to the image's (then the area closest to ``pixels``). With ``multiple=1`` the aspect is kept to the
rounding of one pixel. At the defaults (76,800 pixels, multiples of 16) OSIE and EyeCrowd (4:3) map to 320 x 240, a
3:2 image to 336 x 224 (exactly 3:2, not a squashed 320 x 240), a portrait 3:4 image to 240 x 320; the 130 sizes of
NUS-SUN500 map to 38 canvases with at most 1.9 % aspect change (multiples of 32: 17 canvases, 4.9 %).

:class:`BucketBatchSampler` forms batches of all scanpaths of ``images_per_batch`` images that share a canvas size,
so a batch stacks without padding and every image keeps its aspect ratio.
"""

from __future__ import annotations

import math

import torch

from gazekit.datasets.grouped import ImageBatchSampler
from gazekit.errors import InvalidInputError


def canvas_size(width: float, height: float, pixels: int = 320 * 240, multiple: int = 16) -> tuple[int, int]:
    """``(height, width)`` for an image of ``width x height`` (see the module docstring)."""
    if not (width > 0 and height > 0 and pixels > 0 and multiple >= 1):
        raise InvalidInputError(f"canvas_size needs positive sizes, got {width} x {height}, pixels={pixels}, "
                                f"multiple={multiple}")
    aspect = float(width) / float(height)
    h0 = math.sqrt(pixels / aspect)
    best = None
    lo, hi = max(1, int(h0 / 1.6 / multiple)), int(h0 * 1.6 / multiple) + 2
    for k in range(lo, hi + 1):
        h = k * multiple
        for w in {max(multiple, math.floor(h * aspect / multiple) * multiple),
                  max(multiple, math.ceil(h * aspect / multiple) * multiple)}:
            area = h * w / pixels
            if not 0.8 <= area <= 1.25:
                continue
            cost = (abs(math.log(w / h / aspect)), abs(math.log(area)))
            if best is None or cost < best[0]:
                best = (cost, (h, w))
    if best is None:  # extreme aspect ratios: keep the aspect at about the requested area
        h = max(multiple, round(h0 / multiple) * multiple)
        w = max(multiple, round(h * aspect / multiple) * multiple)
        return int(h), int(w)
    return best[1]


class BucketBatchSampler(ImageBatchSampler):
    """Batches of item indices: every item of up to ``images_per_batch`` images of one bucket (canvas size).

    Each epoch the images are shuffled (``seed + epoch``), grouped by bucket in that order, cut into batches,
    and the batches shuffled again; without ``shuffle`` the order is fixed (buckets in first-seen order). Under
    DDP rank ``r`` takes batches ``r, r + num_replicas, ...``; with ``even`` (training) the sequence is padded
    with its own first batches to a multiple of ``num_replicas`` (argument checks, padding and the sharing out
    over ranks as :class:`~gazekit.datasets.grouped.ImageBatchSampler`, a ``DistributedSampler`` only so that
    Lightning does not insert its own sampler).
    """

    def __init__(self, keys: list[str], buckets: dict[str, tuple[int, int]], images_per_batch: int, shuffle: bool,
                 seed: int = 0, *, num_replicas: int = 1, rank: int = 0, even: bool = True):
        super().__init__(keys, images_per_batch, shuffle, seed, num_replicas=num_replicas, rank=rank, even=even)
        missing = [n for n in self.names if n not in buckets]
        if missing:
            raise InvalidInputError(f"no canvas size for {len(missing)} image(s), e.g. {missing[:3]}")
        self.bucket = {n: tuple(buckets[n]) for n in self.names}

    def _image_batches(self) -> list[list[int]]:
        order = list(range(len(self.names)))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.shuffle:
            order = torch.randperm(len(order), generator=g).tolist()
        by_bucket: dict[tuple, list[int]] = {}
        for j in order:
            by_bucket.setdefault(self.bucket[self.names[j]], []).append(j)
        batches = [group[s:s + self.images_per_batch] for group in by_bucket.values()
                   for s in range(0, len(group), self.images_per_batch)]
        if self.shuffle:
            batches = [batches[k] for k in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def _batch_count(self) -> int:
        return sum(math.ceil(n / self.images_per_batch) for n in self._bucket_sizes().values())

    def _bucket_sizes(self) -> dict[tuple, int]:
        sizes: dict[tuple, int] = {}
        for n in self.names:
            sizes[self.bucket[n]] = sizes.get(self.bucket[n], 0) + 1
        return sizes
