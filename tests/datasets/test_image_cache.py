"""The on-disk decoded-image cache: keyed by content hash and size, shared across processes, atomic, self-healing,
and used by the DataModule without changing a pixel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import torch

from gazekit.datasets.datamodule import GazeDataModule, _decode_resized
from gazekit.datasets.image_cache import DiskImageCache, resolve_disk_cache


def _jpeg(path, seed=0, shape=(60, 80)):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (5, 5), 0)
    assert cv2.imwrite(str(path), img)
    return path


class CountingDecoder:
    def __init__(self):
        self.calls = 0

    def __call__(self, path, size):
        self.calls += 1
        return _decode_resized(path, size)


def test_entries_are_keyed_by_content_and_size(tmp_path):
    src = _jpeg(tmp_path / "a.jpg")
    cache, decode = DiskImageCache(tmp_path / "cache"), CountingDecoder()
    first = cache.get(src, (30, 40), decode)
    assert first.dtype == torch.uint8 and first.shape == (3, 30, 40)
    assert torch.equal(first, _decode_resized(src, (30, 40)))
    again = cache.get(src, (30, 40), decode)  # read, not decoded
    assert torch.equal(again, first) and decode.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    copy = shutil.copy(src, tmp_path / "renamed.jpg")  # same bytes, other name: same entry
    assert torch.equal(cache.get(copy, (30, 40), decode), first) and decode.calls == 1
    cache.get(src, (15, 20), decode)  # another size: another entry
    _jpeg(src, seed=1)  # new content under the old name: a new entry, never the stale one
    edited = cache.get(src, (30, 40), decode)
    assert decode.calls == 3 and torch.equal(edited, _decode_resized(src, (30, 40)))
    assert not torch.equal(edited, first)
    files = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert len(files) == 3 and all(f.endswith(".npy") and not f.startswith(".") for f in files)


def test_damaged_entry_is_decoded_again_and_replaced(tmp_path):
    src = _jpeg(tmp_path / "a.jpg")
    cache, decode = DiskImageCache(tmp_path / "cache"), CountingDecoder()
    good = cache.get(src, (30, 40), decode)
    entry = cache.entry(src, (30, 40))
    entry.write_bytes(b"not an npy file")
    assert torch.equal(cache.get(src, (30, 40), decode), good) and decode.calls == 2
    np.save(entry, np.zeros((3, 7, 7), np.uint8))  # readable, wrong shape: also refused
    assert torch.equal(cache.get(src, (30, 40), decode), good) and decode.calls == 3
    assert torch.equal(DiskImageCache(tmp_path / "cache").get(src, (30, 40), decode), good) and decode.calls == 3


def test_another_process_reads_what_this_one_decoded(tmp_path):
    src = _jpeg(tmp_path / "a.jpg")
    DiskImageCache(tmp_path / "cache").get(src, (30, 40), _decode_resized)
    code = textwrap.dedent(f"""
        from gazekit.datasets.image_cache import DiskImageCache
        def fail(path, size):
            raise SystemExit("decoded again")
        img = DiskImageCache({str(tmp_path / 'cache')!r}).get({str(src)!r}, (30, 40), fail)
        print(tuple(img.shape), int(img.sum()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    expected = _decode_resized(src, (30, 40))
    assert out == ["(3,", "30,", "40)", str(int(expected.sum()))]


def test_setting_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("GAZEKIT_IMAGE_CACHE", raising=False)
    assert resolve_disk_cache(None) is None and resolve_disk_cache(False) is None
    assert resolve_disk_cache(str(tmp_path)).folder == tmp_path
    monkeypatch.setenv("GAZEKIT_CACHE", str(tmp_path / "gk"))
    assert resolve_disk_cache(True).folder == tmp_path / "gk" / "images"
    monkeypatch.setenv("GAZEKIT_IMAGE_CACHE", "1")
    assert resolve_disk_cache(None).folder == tmp_path / "gk" / "images"
    monkeypatch.setenv("GAZEKIT_IMAGE_CACHE", str(tmp_path / "elsewhere"))
    assert resolve_disk_cache(None).folder == tmp_path / "elsewhere"
    assert resolve_disk_cache(False) is None  # an explicit False wins over the environment
    monkeypatch.setenv("GAZEKIT_IMAGE_CACHE", "off")
    assert resolve_disk_cache(None) is None


def test_datamodule_batches_are_identical_with_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("GAZEKIT_IMAGE_CACHE", raising=False)
    opts = dict(image_size=(120, 160), batch_size=16, fractions=(0.5, 0.25, 0.25), seed=0, shuffle=False)
    plain = GazeDataModule("osie-sample", **opts)
    plain.setup()
    assert plain.image_cache.disk is None
    cached = GazeDataModule("osie-sample", disk_cache=str(tmp_path / "img"), **opts)
    cached.setup()  # preload: every image decoded once and stored
    n_images = len(plain.image_cache)
    assert cached.image_cache.disk.misses == n_images and cached.image_cache.disk.hits == 0
    assert len(list((tmp_path / "img").rglob("*.npy"))) == n_images
    again = GazeDataModule("osie-sample", disk_cache=str(tmp_path / "img"), **opts)  # a new run: all read
    again.setup()
    assert again.image_cache.disk.hits == n_images and again.image_cache.disk.misses == 0
    for a, b in zip(plain.train_dataloader(), again.train_dataloader()):
        assert torch.equal(a[0], b[0]) and a[1].image == b[1].image
