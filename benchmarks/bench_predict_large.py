"""`gazekit predict` on an 8000x6000 photo with plots (issue 15), side by side with the behaviour before issue 15
(the package tree at BASELINE, extracted with `git archive`): peak memory (max RSS of the process), CPU time and
wall time of one fresh `gazekit predict` process each, and their ratios. Bound: peak under 2 GB, time under 10 s.

    OMP_NUM_THREADS=1 python benchmarks/bench_predict_large.py [--baseline REF] [--no-baseline] [--size 8000x6000]

The image is synthetic but photo-like (gradients plus noise, JPEG quality 90, about 16 MB) and seeded, so every run
measures the same file. The baseline run needs about 12 GB of memory; --no-baseline skips it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "5eb6a83cd55cf640c60babb4c0e0c30c65321a6e"  # main just before issue 15's predict work (fbfedb7)


def make_image(path: Path, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width * 255, y / height * 255, (x + y) % 512 / 2], -1)
    img = (img + rng.normal(0, 8, (height, width, 1))).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=90)


def extract(ref: str, into: Path) -> Path:
    """The ``gazekit`` package at git ``ref``, extracted into ``into`` (the checkout is not touched)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "tree.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "gazekit"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def run(tree: Path, image: Path, out: Path) -> dict:
    """One `gazekit predict` process on ``tree``: max RSS (GB), CPU (user + system) and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree), "GAZEKIT_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "gazekit", "predict", str(image), "--n-samples", "10", "--seed", "0",
           "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{tree}: gazekit predict failed:\n{err[-2000:]}")
    sizes = {p.name: p.stat().st_size for p in out.glob("*.png")}
    return {"peak_gb": usage.ru_maxrss / 1024**2, "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall,
            "pngs": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the behaviour to compare with")
    parser.add_argument("--baseline-tree", default=None, help="a folder holding the baseline's gazekit package "
                                                             "(instead of extracting --baseline with git)")
    parser.add_argument("--no-baseline", action="store_true", help="measure the current tree only")
    parser.add_argument("--size", default="8000x6000", help="image size WxH (default 8000x6000)")
    parser.add_argument("--make-image", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.make_image:
        make_image(Path(args.make_image), width, height)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = tmp / "large.jpg"
        # in its own process: Linux keeps a process's peak RSS across fork and exec, so the measured children must be
        # started from a parent that never held the image
        subprocess.run([sys.executable, __file__, "--make-image", str(image), "--size", args.size], check=True)
        print(f"image {width}x{height} JPEG, {image.stat().st_size / 1e6:.1f} MB; gazekit predict --n-samples 10 "
              "with plots (tpp-osie)")
        rows = {"now": run(ROOT, image, tmp / "now")}
        if not args.no_baseline:
            tree = Path(args.baseline_tree).resolve() if args.baseline_tree else extract(args.baseline, tmp / "base")
            rows["before"] = run(tree, image, tmp / "before")
        print(f"{'tree':8s} {'peak GB':>8s} {'CPU s':>7s} {'wall s':>7s}  PNG files")
        for name, r in rows.items():
            pngs = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(r["pngs"].items()))
            print(f"{name:8s} {r['peak_gb']:8.2f} {r['cpu_s']:7.1f} {r['wall_s']:7.1f}  {pngs}")
        now = rows["now"]
        print(f"bound: peak {now['peak_gb']:.2f} / 2.00 GB = {now['peak_gb'] / 2:.2f}, CPU {now['cpu_s']:.1f} / 10 s "
              f"= {now['cpu_s'] / 10:.2f}")
        if "before" in rows:
            before = rows["before"]
            print(f"before / now: peak {before['peak_gb'] / now['peak_gb']:.1f}x, CPU "
                  f"{before['cpu_s'] / now['cpu_s']:.1f}x, wall {before['wall_s'] / now['wall_s']:.1f}x")


if __name__ == "__main__":
    main()
