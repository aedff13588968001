"""CPU benchmark of gazekit.ops.foveate against the naive stacked-upsampling method, the plain-torch reference and
foveatorch, in one run, printed as ratios. Also: peak extra memory (in image sizes) and the fraction of the
memory-bandwidth bound reached (input read once + output written once, at the copy bandwidth measured here).

    python benchmarks/bench_foveation.py [--threads N] [--quick] [--shape 8x3x768x1024]

foveatorch 0.1.8 needs kornia < 0.8; install it outside the main environment, e.g.
``pip install --no-deps --target /tmp/fovpeer foveatorch==0.1.8 kornia==0.7.4 kornia-rs`` and run with
``PYTHONPATH=/tmp/fovpeer``. Without it the foveatorch column is skipped (said in the output).
Timings are medians of interleaved repetitions; memory is measured in a fresh subprocess per method (peak RSS above
the inputs, /proc/self/clear_refs reset after a warm-up call).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {"8x3x768x1024": (8, 3, 768, 1024, 24.0), "32x3x224x224": (32, 3, 224, 224, 8.0)}
LEVELS = 6


def naive(x, f, e2):
    """Upsample every level to full resolution, stack them and take the per-pixel weighted sum (~65 image-sizes)."""
    from gazekit.ops.reference import eccentricity, gaussian_pyramid, level_from_eccentricity

    h, w = x.shape[-2:]
    ups = torch.stack([g if g.shape[-2:] == (h, w) else F.interpolate(g, size=(h, w), mode="bilinear",
                                                                        align_corners=False)
                       for g in gaussian_pyramid(x, LEVELS)])
    lam = level_from_eccentricity(eccentricity(f, None, h, w), LEVELS, e2)
    l0 = lam.floor().clamp(max=LEVELS - 2)
    t = lam - l0
    idx = torch.arange(LEVELS).view(-1, 1, 1, 1)
    weights = torch.where(idx == l0, 1 - t, torch.zeros_like(t)) + torch.where(idx == l0 + 1, t, torch.zeros_like(t))
    return (ups * weights.unsqueeze(2)).sum(0)


def make_methods():
    from gazekit.ops import foveate

    methods = {
        "gazekit": lambda x, f, e2: foveate(x, f, levels=LEVELS, e2=e2),
        "reference": lambda x, f, e2: foveate(x, f, levels=LEVELS, e2=e2, backend="reference"),
        "naive": naive,
    }
    try:
        import foveatorch

        # foveatorch's own defaults (6 layers, p 7.5 px/deg, alpha 2.5 deg, k 1); it takes [B, F, 2] (x, y) px.
        methods["foveatorch"] = lambda x, f, e2: foveatorch.foveate(x, f, nlayers=LEVELS)
    except Exception as err:  # noqa: BLE001
        print(f"foveatorch not importable ({err.__class__.__name__}: {err}); its column is skipped")
    return methods


def inputs(shape_key, seed=0):
    b, c, h, w, e2 = SHAPES[shape_key]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g)
    f = torch.rand(b, 1, 2, generator=g) * torch.tensor([w, h])
    return x, f, e2


def copy_bandwidth(nbytes=512 * 2**20, reps=7):
    """GB/s of a large tensor copy, counting read + write."""
    src = torch.ones(nbytes // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - t0)
    return 2 * nbytes / statistics.median(times) / 1e9


def time_methods(methods, shape_key, reps):
    x, f, e2 = inputs(shape_key)
    small_x, small_f, _ = inputs("32x3x224x224")
    for fn in methods.values():  # warm-up: numba cache load, allocator
        fn(small_x[:1, :, :64, :64], small_f[:1] * 0.25, e2)
    times = {name: [] for name in methods}
    slow = {"foveatorch", "naive", "reference"}
    for rep in range(reps):
        for name, fn in methods.items():
            if name in slow and rep >= max(3, reps // 2):
                continue
            t0 = time.perf_counter()
            fn(x, f, e2)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def _memory_child(method, shape_key, threads):
    torch.set_num_threads(threads)
    methods = make_methods()
    fn = methods[method]
    x, f, e2 = inputs(shape_key)
    fn(x[:1, :, :64, :64], f[:1] * 0.1, e2)
    import gc

    gc.collect()

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        raise RuntimeError(key)

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    base = status("VmRSS:")
    out = fn(x, f, e2)
    peak = status("VmHWM:")
    del out
    print(json.dumps({"extra_bytes": peak - base, "image_bytes": x.numel() * x.element_size()}))


def peak_memory(method, shape_key, threads):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    res = subprocess.run([sys.executable, __file__, "--memory-child", method, shape_key, "--threads", str(threads)],
                         capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return None
    rec = json.loads(lines[-1])
    return rec["extra_bytes"] / rec["image_bytes"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append",
                        help="only this shape (repeatable; default: all)")
    parser.add_argument("--memory-child", nargs=2, metavar=("METHOD", "SHAPE"))
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(*args.memory_child, args.threads)
        return
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, levels {LEVELS}, "
          "one random fixation per image, float32")
    bandwidth = copy_bandwidth()
    print(f"copy bandwidth (read + write): {bandwidth:.1f} GB/s")
    methods = make_methods()
    for shape_key in args.shape or SHAPES:
        reps = 5 if args.quick else 9
        med = time_methods(methods, shape_key, reps)
        x, _, _ = inputs(shape_key)
        image_bytes = x.numel() * 4
        ours = med["gazekit"]
        print(f"\n{shape_key}  (one image-size u = {image_bytes / 1e6:.1f} MB)")
        print(f"{'method':<12}{'median ms':>11}{'gazekit faster by':>19}{'peak extra (u)':>16}")
        for name, sec in med.items():
            mem = peak_memory(name, shape_key, args.threads)
            mem_s = f"{mem:.2f}" if mem is not None else "n/a"
            print(f"{name:<12}{sec * 1e3:>11.1f}{sec / ours:>18.2f}x{mem_s:>16}")
        x, f, e2 = inputs(shape_key)
        cpu = []
        for _ in range(5):  # CPU time of all threads: steadier than wall time on a shared machine
            t0 = time.process_time()
            methods["gazekit"](x, f, e2)
            cpu.append(time.process_time() - t0)
        print(f"gazekit CPU time per call (all threads): {statistics.median(cpu) * 1e3:.1f} ms")
        eff = 2 * image_bytes / ours / 1e9
        print(f"gazekit effective bandwidth at the 2u bound: {eff:.2f} GB/s = {100 * eff / bandwidth:.1f}% of copy "
              f"bandwidth (4u two-kernel design: {200 * eff / bandwidth:.1f}%)")


if __name__ == "__main__":
    main()
