"""Parse-once cache: time of the first load (raw files parsed, cache written) vs the second (from the cache),
for every registered dataset whose files are present. Uses a fresh temporary cache folder.

    python benchmarks/bench_dataset_cache.py
"""

from __future__ import annotations

import os
import tempfile
import time


def main() -> None:
    os.environ["GAZEKIT_CACHE"] = tempfile.mkdtemp(prefix="gazekit-cache-bench-")
    from gazekit.datasets import list_datasets, load_dataset
    from gazekit.errors import GazekitError

    print(f"{'dataset':16s} {'scanpaths':>9s} {'fixations':>9s} {'first s':>8s} {'cached s':>8s} {'ratio':>6s}")
    for name in list_datasets():
        if name == "table":
            continue
        try:
            t0 = time.perf_counter()
            data = load_dataset(name)
            t1 = time.perf_counter()
            load_dataset(name)
            t2 = time.perf_counter()
        except GazekitError as err:
            print(f"{name:16s} skipped: {err}")
            continue
        print(f"{name:16s} {len(data):9d} {data.scanpaths.num_fixations:9d} {t1 - t0:8.2f} {t2 - t1:8.2f} "
              f"{(t1 - t0) / (t2 - t1):6.1f}")


if __name__ == "__main__":
    main()
