"""Training input on OSIE: the data-loading share of an epoch, without and with the on-disk image cache.

    python benchmarks/bench_image_cache.py [--steps K] [--image-size H W]

The input is the one ``configs/tpp_osie.yaml`` trains on (``ImageGroupedDataModule``: OSIE train split, 8 images
per batch, 192 x 256, lazy decoding, no workers). Measured in one run, each with a fresh DataModule (what a new run,
a DDP rank or a worker process starts with):

  * **cold**: no disk cache, every image decoded and resized (the first epoch of every run today);
  * **disk cache, first run**: the same, also writing the cache entries;
  * **disk cache, later runs**: a fresh DataModule reading the entries (``disk_cache=True``);
  * **in memory**: the second epoch of one DataModule (images already held).

Each row is the wall time of iterating the whole training loader (decode/read + collate), next to the model's
compute for the same epoch (TPP, the config's model: median of K optimiser steps on real batches, times the number
of batches), and the loading share ``load / (load + compute)``. Needs ../shared/data/osie.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import yaml  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tpp_osie.yaml"


def data_module(disk_cache, size):
    from gazekit.datasets.grouped import ImageGroupedDataModule

    args = dict(yaml.safe_load(CONFIG.read_text())["data"]["init_args"])
    args["image_size"] = list(size)
    return ImageGroupedDataModule(**args, disk_cache=disk_cache)


def epoch_load_time(dm) -> tuple[float, int]:
    start = time.perf_counter()
    n = sum(1 for _ in dm.train_dataloader())
    return time.perf_counter() - start, n


def compute_per_batch(dm, steps: int) -> float:
    from gazekit.models.tpp import TPPGaze

    cfg = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]
    model = TPPGaze(**{k: v for k, v in cfg.items() if k != "optimizer"})
    model.fit_priors(dm.train_scanpaths, 3000.0)
    model.log = lambda *a, **k: None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = iter(dm.train_dataloader())
    times = []
    for i in range(steps + 1):
        batch = next(batches)
        t = time.perf_counter()
        loss = model._step(batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps timed for the compute estimate")
    parser.add_argument("--image-size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gazekit-image-cache-bench-"))
    size = tuple(args.image_size)

    rows = []
    cold = data_module(False, size)
    t, n_batches = epoch_load_time(cold)
    rows.append(("cold (no disk cache, decode every image)", t))
    rows.append(("in memory (second epoch, same DataModule)", epoch_load_time(cold)[0]))
    first = data_module(str(folder), size)
    rows.append(("disk cache, first run (decode + write)", epoch_load_time(first)[0]))
    later = data_module(str(folder), size)
    rows.append(("disk cache, later runs (read entries)", epoch_load_time(later)[0]))
    assert later.image_cache.disk.misses == 0, "the later run decoded again"
    entries = list(folder.rglob("*.npy"))
    per_batch = compute_per_batch(later, args.steps)
    compute = per_batch * n_batches
    print(f"OSIE train split: {n_batches} batches, {len(entries)} images at {size[0]}x{size[1]} "
          f"({sum(p.stat().st_size for p in entries) / 1e6:.0f} MB cached); TPP compute {per_batch:.3f} s/batch "
          f"-> {compute:.1f} s/epoch (median of {args.steps} steps x {n_batches})")
    print(f"{'epoch input':45s} {'load s':>8s} {'share of epoch':>15s}")
    for label, t in rows:
        print(f"{label:45s} {t:8.2f} {100 * t / (t + compute):14.1f}%")
    cold_t, later_t = rows[0][1], rows[3][1]
    print(f"disk cache vs cold: {cold_t / later_t:.1f}x faster epoch input")


if __name__ == "__main__":
    main()
