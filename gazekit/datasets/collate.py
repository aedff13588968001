"""The collate function: the only place where a batch is padded (through :meth:`Scanpaths.concat`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


def collate_gaze(items: Sequence[tuple[torch.Tensor | None, Scanpaths]]) -> tuple[torch.Tensor | None, Scanpaths]:
    """``[(image, scanpath), ...]`` -> ``(images, scanpaths)``.

    ``image`` is a ``[3, H, W]`` uint8 or float tensor for a one-row ``scanpath`` (or ``[n, 3, H, W]`` for an
    n-row one, or ``[k, 3, H, W]`` holding each of its k distinct images once), or None for datasets without
    images. ``images`` is ``[B, 3, H, W]`` float32 in [0, 1] (``[K, ...]`` for distinct-image items), or None
    when the items carry no images. ``scanpaths`` is one padded :class:`Scanpaths` batch of B rows.
    """
    images = [img for img, _ in items]
    scanpaths = Scanpaths.concat([sp for _, sp in items])
    if all(img is None for img in images):
        return None, scanpaths
    if any(img is None for img in images):
        raise InvalidInputError("some items of the batch have an image and some do not")
    shapes = {tuple(img.shape[-3:]) for img in images}
    if len(shapes) > 1:
        raise InvalidInputError(f"images of one batch have different sizes {sorted(shapes)}; set the DataModule's "
                                "image_size so that every image is resized to the same size")
    stacked = torch.cat([img if img.dim() == 4 else img[None] for img in images])
    if stacked.dtype == torch.uint8:
        stacked = stacked.to(torch.float32).div_(255.0)
    return stacked, scanpaths
