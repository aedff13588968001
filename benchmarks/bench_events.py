"""Read + detect speed on a long binocular EyeLink recording, gazekit vs pymovements in the same run.

The recording is synthesised with the structure of the real ``eyelink_binocular_example.asc`` (its header,
calibration and recording-setup lines, binocular 1 kHz sample lines with the same columns and flags, MSG
TRIALID lines, SFIX/EFIX, SSACC/ESACC and SBLINK/EBLINK events, blinks as '.' samples): fixations of 150-450 ms
with 0.02 deg noise, 2-15 deg saccades at ~300 deg/s, a blink every few seconds.

Timed (wall clock, OMP_NUM_THREADS=1, best of --repeats for gazekit, one run for pymovements unless --pm-repeats):
    gazekit:      read_raw(.asc) ; detect_events(ivt) ; detect_events(idt)        (positions -> degrees inside)
    pymovements:  gaze.from_asc(.asc) ; pix2deg + pos2vel ; detect(ivt) ; detect(idt)

Run: python benchmarks/bench_events.py [--minutes 10] [--rate 1000] [--skip-pymovements]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from gazekit.paths import data_root

SCREEN = (1920, 1080, 53.0, 30.0, 60.0)  # px, px, cm, cm, cm


def synthesise(path: Path, minutes: float, rate: float, seed: int = 0) -> int:
    """Write a binocular .asc of ``minutes`` at ``rate`` Hz; returns the number of sample lines."""
    from gazekit.geometry import ScreenGeometry

    template = data_root() / "eyelink_asc" / "eyelink_binocular_example.asc"
    head = []
    for line in template.read_text(encoding="utf-8", errors="replace").split("\n"):
        if line.startswith("START"):
            break
        head.append(line)
    geom = ScreenGeometry(*SCREEN)
    rng = np.random.default_rng(seed)
    dt = 1000.0 / rate
    n = int(minutes * 60 * rate)
    t0 = 1_000_000
    # Build the gaze trace (deg) segment by segment.
    xs = np.empty(n)
    ys = np.empty(n)
    kind = np.zeros(n, np.int8)  # 0 fixation, 1 saccade, 2 blink
    i, pos, next_blink = 0, np.zeros(2), int(rng.integers(2000, 6000) * rate / 1000)
    while i < n:
        nf = int(rng.uniform(150, 450) * rate / 1000)
        sl = slice(i, min(n, i + nf))
        m = sl.stop - sl.start
        xs[sl] = pos[0] + rng.normal(0, 0.02, m)
        ys[sl] = pos[1] + rng.normal(0, 0.02, m)
        i = sl.stop
        if i >= n:
            break
        if i >= next_blink:
            nb = int(rng.uniform(80, 200) * rate / 1000)
            sl = slice(i, min(n, i + nb))
            kind[sl] = 2
            xs[sl], ys[sl] = pos[0], pos[1]
            i = sl.stop
            next_blink = i + int(rng.integers(2000, 6000) * rate / 1000)
            continue
        amp = rng.uniform(2, 15)
        ang = rng.uniform(0, 2 * np.pi)
        target = np.clip(pos + amp * np.array([np.cos(ang), np.sin(ang)]), [-18, -11], [18, 11])
        ns = max(2, int((np.linalg.norm(target - pos) / 300.0 * 1000 + 10) * rate / 1000))
        sl = slice(i, min(n, i + ns))
        frac = np.arange(1, sl.stop - sl.start + 1) / (ns + 1)
        xs[sl] = pos[0] + frac * (target[0] - pos[0])
        ys[sl] = pos[1] + frac * (target[1] - pos[1])
        kind[sl] = 1
        i = sl.stop
        pos = target
    lx, ly = geom.deg_to_px(xs, ys)
    rx, ry = lx + rng.normal(-3, 0.3, n), ly + rng.normal(2, 0.3, n)
    times = t0 + np.arange(n) * dt
    lp = rng.normal(290, 5, n)
    rp = rng.normal(305, 5, n)
    fmt = "{:.0f}\t{:7.1f}\t{:7.1f}\t{:7.1f}\t{:7.1f}\t{:7.1f}\t{:7.1f}\t....."
    lines = []
    rate_txt = f"{rate:.2f}"
    lines += head
    lines += [f"START\t{t0} \tLEFT\tRIGHT\tSAMPLES\tEVENTS", "PRESCALER\t1", "VPRESCALER\t1", "PUPIL\tAREA",
              f"EVENTS\tGAZE\tLEFT\tRIGHT\tRATE\t{rate_txt}\tTRACKING\tCR\tFILTER\t2",
              f"SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t{rate_txt}\tTRACKING\tCR\tFILTER\t2"]
    # event boundaries
    change = np.flatnonzero(np.diff(kind)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]]) - 1
    ev_at: dict[int, list[str]] = {}
    names = {0: ("SFIX", "EFIX"), 1: ("SSACC", "ESACC"), 2: ("SBLINK", "EBLINK")}
    for a, b in zip(starts.tolist(), ends.tolist()):
        k = int(kind[a])
        s_name, e_name = names[k]
        ta, tb = int(times[a]), int(times[b])
        for eye in ("L", "R"):
            ev_at.setdefault(a, []).append(f"{s_name} {eye}   {ta}")
            if k == 0:
                end = f"{e_name} {eye}   {ta}\t{tb}\t{tb - ta + 1}\t{lx[a:b + 1].mean():7.1f}\t{ly[a:b + 1].mean():7.1f}\t  290"
            elif k == 1:
                end = (f"{e_name} {eye}  {ta}\t{tb}\t{tb - ta + 1}\t{lx[a]:7.1f}\t{ly[a]:7.1f}\t{lx[b]:7.1f}\t"
                       f"{ly[b]:7.1f}\t{np.hypot(xs[b] - xs[a], ys[b] - ys[a]):6.2f}\t  300")
            else:
                end = f"{e_name} {eye} {ta}\t{tb}\t{tb - ta + 1}"
            ev_at.setdefault(b + 1, []).append(end)
    trial_every = int(10 * rate)
    blink = kind == 2
    for j in range(n):
        if j % trial_every == 0:
            lines.append(f"MSG\t{int(times[j])} TRIALID {j // trial_every}")
        if j in ev_at:
            lines += ev_at[j]
        if blink[j]:
            lines.append(f"{times[j]:.0f}\t   .\t   .\t    0.0\t   .\t   .\t    0.0\t.C.C.")
        else:
            lines.append(fmt.format(times[j], lx[j], ly[j], lp[j], rx[j], ry[j], rp[j]))
    lines += ev_at.get(n, [])
    lines.append(f"END\t{int(times[-1]) + 1} \tSAMPLES\tEVENTS\tRES\t  47.75\t  45.92")
    path.write_text("\n".join(lines) + "\n")
    return n


CPU: dict[str, float] = {}  # best CPU seconds per timed step (the machine may be shared: wall time is noisy)


def best_of(fn, repeats: int, label: str = ""):
    best, out = float("inf"), None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best = wall
            CPU[label] = time.process_time() - c
    return best, out


def run_gazekit(path: Path, repeats: int) -> dict:
    from gazekit.datasets.raw import read_raw
    from gazekit.events import detect_events
    from gazekit.geometry import ScreenGeometry

    geom = ScreenGeometry(*SCREEN)
    t_read, rec = best_of(lambda: read_raw(path, geometry=geom), repeats, "gk_read")
    t_ivt, ivt = best_of(lambda: detect_events(rec, "ivt", threshold=30.0, min_fixation_ms=100, by_trial=False),
                         repeats, "gk_ivt")
    t_idt, idt = best_of(lambda: detect_events(rec, "idt", threshold=1.0, min_fixation_ms=100, by_trial=False),
                         repeats, "gk_idt")
    return {"read": t_read, "ivt": t_ivt, "idt": t_idt, "samples": len(rec),
            "n_ivt": ivt.fixations.num_fixations, "n_idt": idt.fixations.num_fixations,
            "tracker_fixations": int((rec.events["kind"] == "fixation").sum())}


def run_pymovements(path: Path, repeats: int) -> dict:
    import pymovements as pm

    exp = pm.Experiment(*SCREEN, origin="upper left", sampling_rate=1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_read, gaze = best_of(lambda: pm.gaze.from_asc(str(path), experiment=exp), repeats, "pm_read")

        def prep():
            gaze.pix2deg()
            gaze.pos2vel(method="smooth")

        t_prep, _ = best_of(prep, 1, "pm_prep")

        def ivt():
            gaze.detect("ivt", minimum_duration=100, velocity_threshold=30.0, clear=True)
            return gaze.events.frame.height

        def idt():
            gaze.detect("idt", minimum_duration=100, dispersion_threshold=1.0, clear=True)
            return gaze.events.frame.height

        t_ivt, n_ivt = best_of(ivt, repeats, "pm_ivt")
        t_idt, n_idt = best_of(idt, repeats, "pm_idt")
    return {"read": t_read, "prep": t_prep, "ivt": t_ivt, "idt": t_idt, "samples": gaze.samples.height,
            "n_ivt": n_ivt, "n_idt": n_idt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pm-repeats", type=int, default=1)
    ap.add_argument("--skip-pymovements", action="store_true")
    ap.add_argument("--keep", default=None, help="write the synthetic .asc here instead of a temp file")
    args = ap.parse_args(argv)
    if not (data_root() / "eyelink_asc" / "eyelink_binocular_example.asc").exists():
        print("needs the real eyelink_binocular_example.asc (set GAZEKIT_DATA)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "long_binocular.asc"
        t = time.perf_counter()
        n = synthesise(path, args.minutes, args.rate)
        size_mb = path.stat().st_size / 1e6
        print(f"synthetic binocular {args.rate:g} Hz, {args.minutes:g} min: {n} samples, {size_mb:.1f} MB "
              f"(written in {time.perf_counter() - t:.1f} s)")
        gk = run_gazekit(path, args.repeats)
        total = gk["read"] + gk["ivt"] + gk["idt"]
        print(f"gazekit     read {gk['read']:6.2f} s  ivt {gk['ivt']:6.2f} s  idt {gk['idt']:6.2f} s  "
              f"total {total:6.2f} s  | {gk['samples']} samples, fixations ivt {gk['n_ivt']}, idt {gk['n_idt']} "
              f"(tracker EFIX {gk['tracker_fixations']} over both eyes)")
        print(f"gazekit CPU seconds: read {CPU['gk_read']:.2f}, ivt {CPU['gk_ivt']:.2f}, idt {CPU['gk_idt']:.2f}")
        if args.skip_pymovements:
            return 0
        try:
            pmr = run_pymovements(path, args.pm_repeats)
        except ImportError:
            print("pymovements not installed: no ratio")
            return 0
        pm_total = pmr["read"] + pmr["prep"] + pmr["ivt"] + pmr["idt"]
        print(f"pymovements read {pmr['read']:6.2f} s  deg+vel {pmr['prep']:5.2f} s  ivt {pmr['ivt']:6.2f} s  "
              f"idt {pmr['idt']:6.2f} s  total {pm_total:6.2f} s  | {pmr['samples']} samples, events ivt "
              f"{pmr['n_ivt']}, idt {pmr['n_idt']}")
        gk_cpu = sum(v for k, v in CPU.items() if k.startswith("gk_"))
        pm_cpu = sum(v for k, v in CPU.items() if k.startswith("pm_"))
        print(f"CPU seconds: gazekit {gk_cpu:.2f} s, pymovements {pm_cpu:.2f} s, ratio {pm_cpu / gk_cpu:.1f}x")
        print(f"speed-up (pymovements / gazekit): read {pmr['read'] / gk['read']:.1f}x, "
              f"ivt {(pmr['prep'] + pmr['ivt']) / gk['ivt']:.1f}x (incl. deg+velocity), "
              f"idt {pmr['idt'] / gk['idt']:.1f}x, total {pm_total / total:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
