"""Agreement of gazekit's I-VT and I-DT with the two human coders of the lund2013 data (Andersson et al. 2017).

For every one of the 34 recordings labelled by both coders (MN, RA): detect fixations, then per stimulus type
(img, dots, video) and overall, with all samples pooled:
    * per-sample Cohen's kappa of the fixation class (fixation vs anything else) against each coder,
    * the coder-vs-coder kappa (the ceiling),
    * number of fixations and mean fixation duration (ms) of each detector and each coder.

and, for images, these next to the published numbers of Andersson et al. (2017, Behavior Research Methods
49:616-637, Table 3: fixation duration mean, SD and count on the same 14 image recordings) for the two coders and
their I-VT and I-DT implementations.

Run: python benchmarks/lund2013_agreement.py [--root DIR] [--json OUT.json] [--ivt-threshold 30] [--idt-threshold 1]
                                            [--merge-gap-ms 75]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from gazekit.datasets.raw.lund2013 import lund2013_pairs, read_lund2013_pair
from gazekit.events import class_events, cohen_kappa, detect_events
from gazekit.paths import data_root

CODERS = ("MN", "RA")
# Andersson et al. (2017), Table 3, images, fixations: mean and SD of duration (ms) and number of fixations. Source
# of the digits: the summary statistics the authors published with their data (matlab_analysis_code/20150807.mat in
# github.com/richardandersson/EyeMovementDetectorEvaluation), as transcribed by the REMoDNaV authors
# (github.com/psychoinformatics-de/paper-remodnav, code/mk_figuresnstats.py); we could not open the paper itself.
PUBLISHED_IMAGES = {"MN": (248, 271, 380), "RA": (242, 273, 369), "ivt": (114, 204, 827), "idt": (399, 328, 242)}


def evaluate(root: Path, params: dict) -> dict:
    pairs = lund2013_pairs(root)
    pooled: dict[str, dict[str, list]] = {}
    durations: dict[str, dict[str, list]] = {}
    for path in pairs:
        rec = read_lund2013_pair(path)
        stim = rec.meta["stimulus_type"]
        dt = 1000.0 / rec.sampling_rate_hz
        classes = {c: rec.labels[c] == 1 for c in CODERS}
        fix_durations = {c: class_events(rec.labels[c], 1, rec.time_ms, dt) for c in CODERS}
        for method, kw in params.items():
            det = detect_events(rec, method, **kw)
            classes[method] = det.sample_class == 1
            fix_durations[method] = det.fixations.duration[0, : int(det.fixations.lengths[0])].numpy()
        for group in (stim, "all"):
            for name, value in classes.items():
                pooled.setdefault(group, {}).setdefault(name, []).append(value)
            for name, value in fix_durations.items():
                durations.setdefault(group, {}).setdefault(name, []).append(value)
    out = {}
    for group in ("img", "dots", "video", "all"):
        if group not in pooled:
            continue
        cls = {k: np.concatenate(v) for k, v in pooled[group].items()}
        dur = {k: np.concatenate(v) for k, v in durations[group].items()}
        row = {"recordings": len(pooled[group]["MN"]), "samples": len(cls["MN"]),
               "kappa_MN_vs_RA": cohen_kappa(cls["MN"], cls["RA"])}
        for method in params:
            for c in CODERS:
                row[f"kappa_{method}_vs_{c}"] = cohen_kappa(cls[method], cls[c])
        for name in (*CODERS, *params):
            row[f"n_fix_{name}"] = len(dur[name])
            row[f"mean_dur_{name}_ms"] = float(np.mean(dur[name])) if len(dur[name]) else float("nan")
            row[f"sd_dur_{name}_ms"] = float(np.std(dur[name])) if len(dur[name]) else float("nan")
        out[group] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="lund2013 'data used in the article' folder")
    ap.add_argument("--json", default=None, help="also write the numbers as JSON")
    ap.add_argument("--ivt-threshold", type=float, default=None, help="deg/s (default gazekit's, 30)")
    ap.add_argument("--idt-threshold", type=float, default=None, help="deg (default gazekit's, 1.0)")
    ap.add_argument("--min-fixation-ms", type=float, default=None)
    ap.add_argument("--merge-gap-ms", type=float, default=0.0, help="merge fixations <= this gap and 0.5 deg apart")
    args = ap.parse_args(argv)
    root = Path(args.root) if args.root else data_root() / "lund2013" / "annotated_data" / "data used in the article"
    if not root.is_dir():
        print(f"lund2013 data not found at {root}; pass --root", file=sys.stderr)
        return 1
    common = {"min_fixation_ms": args.min_fixation_ms, "merge_gap_ms": args.merge_gap_ms}
    params = {"ivt": {"threshold": args.ivt_threshold, **common}, "idt": {"threshold": args.idt_threshold, **common}}
    t0 = time.perf_counter()
    result = evaluate(root, params)
    elapsed = time.perf_counter() - t0
    print(f"lund2013: per-sample Cohen's kappa of the fixation class, all samples pooled ({elapsed:.1f} s)")
    header = f"{'stimuli':7s} {'rec':>3s} {'samples':>8s} {'MN-RA':>6s} " + " ".join(
        f"{m + '-' + c:>7s}" for m in params for c in CODERS)
    print(header)
    for group, row in result.items():
        print(f"{group:7s} {row['recordings']:3d} {row['samples']:8d} {row['kappa_MN_vs_RA']:6.3f} " + " ".join(
            f"{row[f'kappa_{m}_vs_{c}']:7.3f}" for m in params for c in CODERS))
    print("\nfixations: count / mean duration (ms)")
    print(f"{'stimuli':7s} " + " ".join(f"{n:>14s}" for n in (*CODERS, *params)))
    for group, row in result.items():
        print(f"{group:7s} " + " ".join(f"{row[f'n_fix_{n}']:5d} / {row[f'mean_dur_{n}_ms']:6.1f}"
                                        for n in (*CODERS, *params)))
    if "img" in result:
        row = result["img"]
        print("\nimages, fixation duration mean / SD (ms) / count: published (Andersson et al. 2017, Table 3) vs ours")
        for name, (mn, sd, no) in PUBLISHED_IMAGES.items():
            print(f"{name:4s} published {mn:4d} / {sd:4d} / {no:4d}   ours {row[f'mean_dur_{name}_ms']:6.1f} / "
                  f"{row[f'sd_dur_{name}_ms']:6.1f} / {row[f'n_fix_{name}']:4d}")
    if args.json:
        Path(args.json).write_text(json.dumps({"params": params, "results": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
