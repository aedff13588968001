"""Saliency map metrics on 100 maps of 480x640 (20 fixations each): gazekit vs pysaliency 0.2.22, same run,
single-threaded, best of N, CPU time of this process (``time.process_time``: on a shared, oversubscribed machine
wall time mostly measures the other processes). Prints ms per map and the speed-up ratio, and checks the values
agree (1e-10). Rows: each metric alone; "AUC-Judd + AUC" scores both from one shared counting pass
(``map_ranks``); "sAUC (others)" takes every other map's fixations as negatives (pysaliency's shuffled
nonfixations), gathered once for the set.

Both libraries read the same arrays: gazekit's maps are ``torch.from_numpy`` views of the numpy arrays pysaliency
gets. (A ``torch.tensor`` copy lives in 4 KiB pages where numpy's large arrays get transparent huge pages; the
scattered reads of shuffled AUC then cost gazekit about 1.3 ms more per 100 maps in TLB misses, which measures the
allocator, not the metric: ``--copy`` times that case.)

    OMP_NUM_THREADS=1 python benchmarks/bench_saliency_metrics.py [--maps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import torch

from gazekit.metrics.functional import saliency as S

torch.set_num_threads(1)


SINGLE = ("NSS", "CC", "SIM", "KLD", "AUC-Judd", "AUC (all thresholds)", "sAUC", "IG (bits)")  # the total


def make_data(n_maps: int, h: int = 480, w: int = 640, n_fix: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    maps = np.empty((n_maps, h, w))
    for i in range(n_maps):  # smooth random maps: a few Gaussian blobs plus noise
        m = np.zeros((h, w))
        for _ in range(4):
            cx, cy, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 120)
            m += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        maps[i] = m + 0.05 * rng.random((h, w))
    gt = np.roll(maps, 1, axis=0) ** 2
    xs, ys = rng.uniform(0, w, (n_maps, n_fix)), rng.uniform(0, h, (n_maps, n_fix))
    return maps, gt, xs, ys


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--maps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copy", action="store_true", help="give gazekit torch.tensor copies of the maps")
    args = parser.parse_args()
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # pysaliency 0.2.22 calls np.trapz, removed in numpy 2.4
    from pysaliency import metrics as M
    from pysaliency.roc import general_roc

    maps, gt, xs, ys = make_data(args.maps)
    n = args.maps
    xi, yi = xs.astype(int), ys.astype(int)
    as_tensor = torch.tensor if args.copy else torch.from_numpy
    t_maps, t_gt, fix = as_tensor(maps), as_tensor(gt), (torch.tensor(xs), torch.tensor(ys))
    logits = torch.tensor(maps).flatten(1)
    log_dens = (logits - torch.logsumexp(logits, 1, keepdim=True)).reshape(t_maps.shape)
    ld_np = log_dens.numpy()

    def unfixated(i):
        mask = np.zeros(maps[i].shape, bool)
        mask[yi[i], xi[i]] = True
        return maps[i][~mask]

    nonfix_x = np.roll(xi, 1, axis=0)
    nonfix_y = np.roll(yi, 1, axis=0)
    uniform_ll = -np.log(maps.shape[1] * maps.shape[2])

    def others_x(i):
        return np.delete(xi, i, axis=0).ravel()

    def others_y(i):
        return np.delete(yi, i, axis=0).ravel()

    def both(ranks):
        return torch.cat([S.auc_judd(t_maps, fix, ranks=ranks), S.auc(t_maps, fix, ranks=ranks)])
    oracle = {
        "NSS": lambda: [M.NSS(maps[i], xi[i], yi[i]).mean() for i in range(n)],
        "CC": lambda: [M.CC(maps[i], gt[i]) for i in range(n)],
        "SIM": lambda: [M.SIM(maps[i], gt[i]) for i in range(n)],
        "KLD": lambda: [M.MIT_KLDiv(maps[i], gt[i]) for i in range(n)],
        "AUC-Judd": lambda: [general_roc(maps[i][yi[i], xi[i]], unfixated(i), judd=1)[0] for i in range(n)],
        "AUC (all thresholds)": lambda: [general_roc(maps[i][yi[i], xi[i]], maps[i].ravel(), judd=0)[0]
                                         for i in range(n)],
        "sAUC": lambda: [general_roc(maps[i][yi[i], xi[i]], maps[i][nonfix_y[i], nonfix_x[i]], judd=0)[0]
                         for i in range(n)],
        "IG (bits)": lambda: [((ld_np[i][yi[i], xi[i]] - uniform_ll) / np.log(2)).mean() for i in range(n)],
        "AUC-Judd + AUC": lambda: [general_roc(maps[i][yi[i], xi[i]], unfixated(i), judd=1)[0] for i in range(n)]
        + [general_roc(maps[i][yi[i], xi[i]], maps[i].ravel(), judd=0)[0] for i in range(n)],
        "sAUC (others)": lambda: [general_roc(maps[i][yi[i], xi[i]], maps[i][others_y(i), others_x(i)], judd=0)[0]
                                  for i in range(n)],
    }
    ours = {
        "NSS": lambda: S.nss(t_maps, fix),
        "CC": lambda: S.cc(t_maps, t_gt),
        "SIM": lambda: S.sim(t_maps, t_gt),
        "KLD": lambda: S.kld(t_maps, t_gt),
        "AUC-Judd": lambda: S.auc_judd(t_maps, fix),
        "AUC (all thresholds)": lambda: S.auc(t_maps, fix),
        "sAUC": lambda: S.shuffled_auc(t_maps, fix, (torch.tensor(nonfix_x + 0.5), torch.tensor(nonfix_y + 0.5))),
        "IG (bits)": lambda: S.information_gain(log_dens, fix),
        "AUC-Judd + AUC": lambda: both(S.map_ranks(t_maps, fix)),
        "sAUC (others)": lambda: S.shuffled_auc(t_maps, fix, "others"),
    }
    print(f"{n} maps of {maps.shape[1]}x{maps.shape[2]}, {xs.shape[1]} fixations each; best of {args.repeats}; "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; CPU time; gazekit's maps "
          f"{'copied (torch.tensor)' if args.copy else 'share the numpy arrays (torch.from_numpy)'}")
    print(f"{'metric':<22}{'pysaliency ms/map':>19}{'gazekit ms/map':>16}{'speed-up':>10}{'max |diff|':>12}")
    S.auc_judd(t_maps[:1], (fix[0][:1], fix[1][:1]))  # numba compiles (or loads) its kernel here, not in a timing
    total_ref = total_ours = 0.0
    for name, oracle_fn in oracle.items():
        t_ref, ref = best_of(oracle_fn, args.repeats)
        t_ours, val = best_of(ours[name], args.repeats)
        diff = float(np.max(np.abs(np.asarray(ref, dtype=np.float64) - val.numpy())))
        if name in SINGLE:
            total_ref, total_ours = total_ref + t_ref, total_ours + t_ours
        print(f"{name:<22}{1e3 * t_ref / n:>19.3f}{1e3 * t_ours / n:>16.3f}{t_ref / t_ours:>9.2f}x{diff:>12.1e}")
    print(f"{'the eight metrics':<22}{1e3 * total_ref / n:>19.3f}{1e3 * total_ours / n:>16.3f}"
          f"{total_ref / total_ours:>9.2f}x")


if __name__ == "__main__":
    main()
