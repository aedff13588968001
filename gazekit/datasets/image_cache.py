"""Decoded, resized training images kept on disk, shared across epochs, runs and processes.

Decoding a JPEG and resizing it costs milliseconds per image; on a small CPU machine, doing it again in every
run, every DDP rank and every DataLoader worker competes with the model for the cores. This cache stores each
image once as a raw ``[3, H, W]`` uint8 ``.npy`` file (no pickle) under a key made of the **file's content hash
(sha256) and the target size**, so:

* a renamed or copied file hits the same entry, an edited file (new content) gets a new one;
* every process and run that asks for the same image at the same size reads it instead of decoding it;
* entries are written atomically (:mod:`gazekit._atomic`): concurrent writers of one entry are harmless and a
  reader never sees a half-written file; an unreadable or mis-shaped entry is decoded again and replaced.

Turn it on for the image DataModules (:class:`~gazekit.datasets.datamodule.GazeDataModule` and the ones built on
it, such as TPP's ``ImageGroupedDataModule``) with ``disk_cache=True`` (folder ``$GAZEKIT_CACHE/images``, default
``~/.cache/gazekit/images``) or ``disk_cache="/some/folder"``; in a YAML config::

    data:
      init_args:
        disk_cache: true

or for every DataModule of a shell with ``export GAZEKIT_IMAGE_CACHE=1`` (or ``=/some/folder``). The space used is
``3 * H * W`` bytes per image and size (147 kB at 192 x 256); delete the folder to reclaim it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gazekit.errors import InvalidInputError

# Bump when the decoding or resizing of `_decode_resized` changes: old entries are then never read again.
DECODER_VERSION = 1
ENV = "GAZEKIT_IMAGE_CACHE"


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as err:
        raise InvalidInputError(f"{str(path)!r} is missing or not readable: {err}") from err
    return h.hexdigest()


def resolve_disk_cache(setting: bool | str | Path | None) -> DiskImageCache | None:
    """A DataModule's ``disk_cache`` option -> a cache or None. ``None`` reads ``$GAZEKIT_IMAGE_CACHE`` (unset, ``0``,
    ``false``, ``no``, ``off``: off; ``1``, ``true``, ``yes``, ``on``: the default folder; anything else: a folder)."""
    if setting is None:
        env = os.environ.get(ENV, "").strip()
        if env.lower() in ("", "0", "false", "no", "off"):
            return None
        setting = True if env.lower() in ("1", "true", "yes", "on") else env
    if setting is False:
        return None
    return DiskImageCache(None if setting is True else setting)


class DiskImageCache:
    """``[3, H, W]`` uint8 images on disk, keyed by (file sha256, H, W); see the module docstring.

    Args:
        folder: where entries live (default ``<gazekit cache dir>/images``).
    """

    def __init__(self, folder: str | Path | None = None):
        if folder is None:
            from gazekit.paths import cache_dir

            folder = cache_dir() / "images"
        self.folder = Path(folder).expanduser()
        self.hits = self.misses = 0

    def __repr__(self) -> str:
        return f"DiskImageCache({str(self.folder)!r}, hits={self.hits}, misses={self.misses})"

    def entry(self, path: str | Path, size: tuple[int, int] | None) -> Path:
        """The file an image at ``size`` (H, W; None: native) is stored in."""
        digest = file_sha256(path)
        tag = "native" if size is None else f"{int(size[0])}x{int(size[1])}"
        return self.folder / digest[:2] / f"{digest}-{tag}-v{DECODER_VERSION}.npy"

    def get(self, path: str | Path, size: tuple[int, int] | None,
            decode: Callable[[str | Path, tuple[int, int] | None], torch.Tensor]) -> torch.Tensor:
        """The cached image, or ``decode(path, size)`` (a ``[3, H, W]`` uint8 tensor) stored for next time."""
        entry = self.entry(path, size)
        img = self._read(entry, size)
        if img is not None:
            self.hits += 1
            return img
        self.misses += 1
        img = decode(path, size)
        self._write(entry, img)
        return img

    @staticmethod
    def _read(entry: Path, size) -> torch.Tensor | None:
        try:
            arr = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # absent, or damaged: decoded again and replaced
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[0] != 3 or (
                size is not None and tuple(arr.shape[1:]) != tuple(int(s) for s in size)):
            return None
        return torch.from_numpy(arr)

    @staticmethod
    def _write(entry: Path, img: torch.Tensor) -> None:
        from gazekit._atomic import atomic_path

        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(entry) as tmp:
            np.save(tmp, np.ascontiguousarray(img.numpy()), allow_pickle=False)
