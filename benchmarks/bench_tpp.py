"""TPP gaze speed on this machine: training throughput, sampling, and predict cold start.

    python benchmarks/bench_tpp.py [--quick]

Prints:
  * training throughput (scanpaths/s) of one optimiser step on OSIE-shaped batches (8 images x 15 scanpaths,
    256 x 192 input, the shipped configuration) and the implied epoch time for OSIE's 480 training images;
  * sampling 100 scanpaths for one 800 x 600 image with the shipped model (target: < 2 s), next to the reference
    design that re-runs the image backbone at every sampling step (measured in the same run: the same sampler with
    one extra backbone pass per step, the cheapest form of that design), as a ratio;
  * ``gazekit predict`` from a cold start (a fresh process) to the written PNGs (target: < 10 s), next to the
    same weights loaded through the trainable LightningModule.
Timings are wall-clock medians; the CPU is shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def osie_like_batch(n_images: int = 8, per_image: int = 15, seed: int = 0):
    from gazekit.scanpaths import Scanpaths

    rng = np.random.default_rng(seed)
    lens = [int(rng.integers(6, 13)) for _ in range(n_images * per_image)]
    sp = Scanpaths.from_sequences(
        [rng.uniform(0, 256, k) for k in lens], [rng.uniform(0, 192, k) for k in lens], None,
        [rng.lognormal(5.2, 0.56, k) for k in lens], image=[f"i{i // per_image}" for i in range(len(lens))],
        image_size=[256, 192])
    images = torch.rand(n_images, 3, 192, 256).repeat_interleave(per_image, 0)
    return images, sp


def bench_training(repeats: int) -> None:
    import yaml

    from gazekit.models.tpp import TPPGaze

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "tpp_osie.yaml").read_text())
    args = {k: v for k, v in cfg["model"]["init_args"].items() if k != "optimizer"}
    model = TPPGaze(**args)
    images, sp = osie_like_batch()
    model.fit_priors(sp, 3000.0)
    model.log = lambda *a, **k: None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        loss = model._step((images, sp), "train")
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t = median_time(step, repeats)
    per_s = len(sp) / t
    print(f"training: {t:.2f} s per step of {len(sp)} scanpaths (8 images) -> {per_s:.1f} scanpaths/s; "
          f"OSIE epoch (7200 scanpaths, 480 images) ~ {7200 / per_s:.0f} s")


def bench_sampling(repeats: int) -> None:
    from gazekit.models import create_model
    from gazekit.models.base import PredictRequest

    model = create_model("tpp-osie")
    image = torch.rand(1, 3, 600, 800)
    req = PredictRequest(images=image, image_names=["bench"], n_samples=100, seed=0)
    sp = model.predict_scanpaths(req)
    ours = median_time(lambda: model.predict_scanpaths(req), repeats)
    steps = int(sp.lengths.max()) + 1
    original = model.spatial_logprob

    def per_step_backbone(*a, **k):  # the reference design: encode the image again at every step
        model.encode_images(image)
        return original(*a, **k)

    model.spatial_logprob = per_step_backbone
    try:
        reference = median_time(lambda: model.predict_scanpaths(req), repeats)
    finally:
        del model.spatial_logprob
    print(f"sampling 100 scanpaths, one 800x600 image: {ours:.2f} s (target < 2 s; {steps} steps, mean length "
          f"{float(sp.lengths.double().mean()):.1f}); backbone re-run per step: {reference:.2f} s "
          f"-> encode-once is {reference / ours:.1f}x faster")


def bench_cold_start(repeats: int) -> None:
    """Fresh processes, interleaved so that machine load hits all three alike: ``import torch`` (the floor),
    ``predict --model tpp-osie`` (the inference-only core with the frozen backbone graph) and the same weights
    through the trainable LightningModule (``--model tpp:osie``: imports Lightning and timm)."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "scene.png"
        cv2.imwrite(str(img), (np.random.default_rng(0).random((600, 800, 3)) * 255).astype(np.uint8))
        times: dict[str, list[float]] = {"torch": [], "tpp-osie": [], "tpp:osie": []}
        for r in range(repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], check=True)
            times["torch"].append(time.perf_counter() - t)
            for spec in ("tpp-osie", "tpp:osie"):
                out = Path(tmp) / f"out{r}{spec}"
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "gazekit", "predict", str(img), "--model", spec,
                                "--n-samples", "10", "--out", str(out)], check=True, capture_output=True)
                times[spec].append(time.perf_counter() - t)
                if not (out / "scene_scanpaths.png").is_file() or not (out / "scene_density.png").is_file():
                    raise RuntimeError("predict did not write its PNGs")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"gazekit predict cold start (process start to PNGs, 10 samples, 800x600, median of {repeats}): "
          f"{med['tpp-osie']:.1f} s (target < 10 s; importing torch alone {med['torch']:.1f} s); same weights "
          f"through the LightningModule + timm: {med['tpp:osie']:.1f} s -> {med['tpp:osie'] / med['tpp-osie']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat each")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    bench_sampling(repeats)
    bench_training(repeats)
    bench_cold_start(repeats)


if __name__ == "__main__":
    main()
