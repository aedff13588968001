"""`gazekit score` end to end on COCO-Search18 (target-present, validation split 1, 3,258 human scanpaths):
leave-one-subject-out human baseline with MultiMatch + ScanMatch + SS, as a user runs it (fresh process:
imports, dataset loading, cluster fitting, scoring). Target: under 60 s on the 2-core machine.

    OMP_NUM_THREADS=1 python benchmarks/bench_score.py [--dataset coco_search18] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def breakdown(dataset: str, metrics: list[str]) -> None:
    """Time the stages in-process: dataset loading, pairing, cluster fitting and each metric."""
    t0 = time.perf_counter()
    from gazekit.datasets import load_dataset
    from gazekit.metrics.functional.clusters import fit_clusters
    from gazekit.metrics.pairing import human_pairs, score_pairs
    from gazekit.metrics.registry import get_pair_metric

    print(f"in-process breakdown: imports {time.perf_counter() - t0:.1f} s", end="")
    t0 = time.perf_counter()
    human = load_dataset(dataset).scanpaths
    print(f", load {time.perf_counter() - t0:.1f} s", end="")
    t0 = time.perf_counter()
    pairs = human_pairs(human)
    print(f", pairing {time.perf_counter() - t0:.2f} s ({len(pairs)} pairs)", end="")
    for name in metrics:
        options = {}
        if "clusters" in get_pair_metric(name).needs:
            t0 = time.perf_counter()
            options["clusters"] = fit_clusters(human)
            print(f", SS clusters {time.perf_counter() - t0:.1f} s", end="")
        t0 = time.perf_counter()
        score_pairs(name, human, human, pairs, options=options)
        print(f", {name} {time.perf_counter() - t0:.1f} s", end="")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="coco_search18")
    parser.add_argument("--metrics", nargs="+", default=["multimatch", "scanmatch", "sequence_score"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scores.json"
        cmd = [sys.executable, "-m", "gazekit", "score", "--human", args.dataset, "--human-baseline",
               "--metrics", *args.metrics, "--json", str(out)]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr)
                raise SystemExit(f"gazekit score failed with exit code {proc.returncode}")
        print(proc.stdout)
        doc = json.loads(out.read_text())
    print(f"command: {' '.join(cmd[1:])}")
    breakdown(args.dataset, args.metrics)
    print(f"wall time (fresh process, best of {args.repeats}): {min(times):.1f} s "
          f"(target < 60 s: {'met' if min(times) < 60 else 'NOT met'})")
    for row in doc["rows"]:
        print(f"  {row['metric']:<28} human LOSO {row['human']:.4f}")


if __name__ == "__main__":
    main()
