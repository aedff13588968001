"""Scanpath-similarity metrics: gazekit vs the reference implementations, side by side, single-threaded.

    python benchmarks/bench_scanpath_metrics.py [--repeats 3] [--ss-keys 40] [--quick]

1. MultiMatch on 1,000 real-length pairs (studyforrest segments, 10-51 fixations; synthetic of the same lengths
   when the shared data is absent) vs multimatch-gaze, looping over pairs as its users do.
2. ScanMatch with duration (16x12, threshold 3.5, 50 ms bins) on 1,000 pairs of 3-10 fixations at 512x320 vs
   GazeParser's ScanMatch (GPL; only timed here, never copied).
3. Sequence score with clustering on COCO-Search18 validation split 1 at 512x320 (human vs human, all pairs of
   different subjects per image and target) vs scikit-learn MeanShift + a Python Needleman-Wunsch: the first
   ``--ss-keys`` image keys for both sides, then gazekit alone on every key.
Every section checks that both sides give the same values and prints the throughput ratio (best of repeats,
CPU time of this single-threaded process).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch

from gazekit import Scanpaths
from gazekit.metrics.functional import fit_clusters, multimatch, scanmatch, sequence_score
from gazekit.metrics.functional.clusters import FACTORS_SEARCH
from gazekit.paths import data_root

torch.set_num_threads(1)


def best_of(fn, repeats):
    """Best CPU time of this (single-threaded) process over ``repeats`` runs: on a shared, loaded machine the CPU
    time is what a single-threaded run costs; wall-clock time mostly measures the other processes."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out


def report(name, ours_s, ref_s, n, diff, unit="pairs"):
    print(f"{name}: gazekit {ours_s * 1e3:.1f} ms, reference {ref_s * 1e3:.1f} ms for {n} {unit} "
          f"-> {ref_s / ours_s:.1f}x throughput; max |difference| {diff:.2e}")


def bench_multimatch(repeats, n_pairs=1000):
    import multimatch_gaze as mg

    root = data_root() / "studyforrest_scanpaths"
    rng = np.random.default_rng(0)
    files = sorted(root.glob("segment_*_sub-*.tsv")) if root.is_dir() else []
    if files:
        recs = [np.genfromtxt(f, delimiter="\t", names=True) for f in files]
        source = f"{len(recs)} studyforrest segments"
    else:
        recs = []
        for _ in range(110):
            n = int(rng.integers(10, 52))
            r = np.zeros(n, dtype=[("start_x", "f8"), ("start_y", "f8"), ("duration", "f8")])
            r["start_x"], r["start_y"], r["duration"] = rng.uniform(0, 1280, n), rng.uniform(0, 720, n), \
                rng.uniform(0.05, 0.6, n)
            recs.append(r)
        source = "synthetic scanpaths of 10-51 fixations (shared data absent)"
    i = rng.integers(0, len(recs), n_pairs)
    j = (i + rng.integers(1, len(recs), n_pairs)) % len(recs)
    a, b = [recs[k] for k in i], [recs[k] for k in j]

    def batch(rs):
        return Scanpaths.from_sequences([r["start_x"] for r in rs], [r["start_y"] for r in rs],
                                        durations=[r["duration"] * 1000 for r in rs], image_size=(1280, 720))

    p, t = batch(a), batch(b)
    lengths = p.lengths.float()
    print(f"MultiMatch: {n_pairs} pairs from {source}, mean length {lengths.mean():.1f} fixations")
    ref_s, ref = best_of(lambda: np.array([mg.docomparison(x, y, screensize=[1280, 720]) for x, y in zip(a, b)]),
                         max(1, repeats - 1))
    ours_s, ours = best_of(lambda: multimatch(p, t).numpy(), repeats)
    report("  MultiMatch", ours_s, ref_s, n_pairs, np.abs(ours - ref).max())
    return ref_s / ours_s


def bench_scanmatch(repeats, n_pairs=1000):
    from GazeParser.ScanMatch import ScanMatch as GPScanMatch

    rng = np.random.default_rng(1)
    size = (512, 320)
    xs = [rng.uniform(0, size[0], rng.integers(3, 11)) for _ in range(2 * n_pairs)]
    ys = [rng.uniform(0, size[1], len(x)) for x in xs]
    ds = [rng.lognormal(5.22, 0.56, len(x)) for x in xs]  # OSIE-like durations (ms)
    p = Scanpaths.from_sequences(xs[:n_pairs], ys[:n_pairs], durations=ds[:n_pairs], image_size=size)
    t = Scanpaths.from_sequences(xs[n_pairs:], ys[n_pairs:], durations=ds[n_pairs:], image_size=size)
    oracle = GPScanMatch(Xres=size[0], Yres=size[1], Xbin=16, Ybin=12, Threshold=3.5, TempBin=50)

    def reference():
        out = []
        for k in range(n_pairs):
            s1 = oracle.fixationToSequence(np.stack([xs[k], ys[k], ds[k]], 1)).astype(int)
            s2 = oracle.fixationToSequence(np.stack([xs[n_pairs + k], ys[n_pairs + k], ds[n_pairs + k]], 1)).astype(int)
            out.append(oracle.match(s1, s2)[0] if len(s1) and len(s2) else np.nan)
        return np.array(out)

    print(f"ScanMatch with duration: {n_pairs} pairs of 3-10 fixations at 512x320, 16x12 bins, 50 ms")
    ref_s, ref = best_of(reference, max(1, repeats - 1))
    ours_s, ours = best_of(lambda: scanmatch(p, t, temporal_bin=50).numpy(), repeats)
    ok = ~np.isnan(ref)
    report("  ScanMatch+dur", ours_s, ref_s, n_pairs, np.abs(ours[ok] - ref[ok]).max())
    return ref_s / ours_s


def _reference_ss(groups):
    """scikit-learn MeanShift protocol + Python Needleman-Wunsch, written out as the reference pipeline runs."""
    from sklearn.cluster import MeanShift, estimate_bandwidth

    def nw(a, b):
        f = np.zeros((len(a) + 1, len(b) + 1))
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                f[i, j] = max(f[i - 1, j - 1] + (1.0 if a[i - 1] == b[j - 1] else 0.0), f[i - 1, j], f[i, j - 1])
        return f[len(a), len(b)] / max(len(a), len(b))

    scores = []
    for sps in groups:
        pts = np.concatenate(sps)
        bw = estimate_bandwidth(pts)
        best = None
        for factor in FACTORS_SEARCH:
            ms = MeanShift(bandwidth=bw * factor).fit(pts)
            nb = nw_ = 0
            for sp in sps:
                s = [ms.predict([[x, y]])[0] for x, y in sp]
                for u in range(len(s) - 1):
                    nw_ += s[u] == s[u + 1]
                    nb += s[u] != s[u + 1]
            rate = (nb - nw_) / len(ms.cluster_centers_)
            if best is None or rate > best[0]:
                best = (rate, ms)
        strings = [[best[1].predict([[x, y]])[0] for x, y in sp] for sp in sps]
        for u in range(len(strings)):
            for v in range(len(strings)):
                if u != v:
                    scores.append(nw(strings[u], strings[v]))
    return np.array(scores)


def _pairs_of_subjects(sp, keys):
    rows_by_key = {}
    for i in range(len(sp)):
        k = (sp.image[i], sp.task[i])
        if k in keys and int(sp.lengths[i]) > 0:
            rows_by_key.setdefault(k, []).append(i)
    ordered = [k for k in keys if k in rows_by_key]
    pi, ti = [], []
    for k in ordered:
        rows = rows_by_key[k]
        for u in rows:
            for v in rows:
                if u != v:
                    pi.append(u)
                    ti.append(v)
    return ordered, rows_by_key, pi, ti


def bench_sequence_score(repeats, n_keys):
    from gazekit.datasets import load_dataset

    try:
        human = load_dataset("coco_search18").scanpaths
    except Exception as err:  # noqa: BLE001 - a benchmark reports and moves on
        print(f"Sequence score: skipped (COCO-Search18 not loadable: {err})")
        return None
    human = human.rescale(512, 320)
    all_keys = list(dict.fromkeys(zip(human.image, human.task)))
    keys = all_keys[:n_keys]
    ordered, rows_by_key, pi, ti = _pairs_of_subjects(human, set(keys))
    sub = human[sorted({i for k in ordered for i in rows_by_key[k]})]
    groups = [[np.stack([human.x[i, :int(human.lengths[i])].numpy(), human.y[i, :int(human.lengths[i])].numpy()], 1)
               for i in rows_by_key[k]] for k in ordered]
    print(f"Sequence score with clustering: COCO-Search18 val split 1 at 512x320, {len(ordered)} image keys, "
          f"{len(pi)} human pairs (reference: scikit-learn MeanShift + Python NW)")

    def ours():
        cl = fit_clusters(sub, key=("image", "task"))
        return sequence_score(human[pi], human[ti], clusters=cl).numpy()

    ref_s, ref = best_of(lambda: _reference_ss(groups), 1)
    ours_s, mine = best_of(ours, repeats)
    report("  SS pipeline", ours_s, ref_s, len(pi), np.abs(mine - ref).max())
    _, _, pi_all, ti_all = _pairs_of_subjects(human, set(all_keys))
    t0 = time.process_time()
    cl = fit_clusters(human, key=("image", "task"))
    values = sequence_score(human[pi_all], human[ti_all], clusters=cl).numpy()
    total = time.process_time() - t0
    print(f"  gazekit on the whole split: {len(all_keys)} keys, {len(pi_all)} pairs in {total:.2f} s CPU "
          f"(human SS {np.nanmean(values):.3f})")
    return ref_s / ours_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ss-keys", type=int, default=40, help="image keys for the side-by-side SS run")
    parser.add_argument("--quick", action="store_true", help="fewer pairs and keys (smoke run)")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    ratios = {"MultiMatch": bench_multimatch(args.repeats, n), "ScanMatch+duration": bench_scanmatch(args.repeats, n),
              "SS+clustering": bench_sequence_score(args.repeats, 5 if args.quick else args.ss_keys)}
    targets = {"MultiMatch": 50, "ScanMatch+duration": 20, "SS+clustering": 10}
    print("\nsummary (throughput ratio gazekit / reference, target):")
    for name, ratio in ratios.items():
        if ratio is not None:
            print(f"  {name:20s} {ratio:7.1f}x   (target >= {targets[name]}x: "
                  f"{'met' if ratio >= targets[name] else 'NOT met'})")


if __name__ == "__main__":
    main()
