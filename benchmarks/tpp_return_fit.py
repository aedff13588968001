"""Fit the return rates ``r_k`` of TPP's explicit return component (``PredictRequest.return_rate``) on the OSIE
training split: per fixation index k >= 2, the humans' return rate ``h_k`` (within 1 degree of a fixation before
the last; every training scanpath) and the model's own ``m_k`` (its samples on training images, without returns),
then ``r_k = (h_k - m_k) / (q - m_k)``, clipped to [0, 1], with ``q`` the probability that a return draw (Gaussian of
``--sigma`` degrees per axis) lands within 1 degree. The last k pools the later fixations.

    python benchmarks/tpp_return_fit.py --images 60 --sigma 0.5
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazekit.datasets.registry import load_dataset  # noqa: E402
from gazekit.datasets.splits import split_keys  # noqa: E402
from gazekit.evaluation.freeview_stats import IndexStats  # noqa: E402
from gazekit.images import load_image  # noqa: E402
from gazekit.models.base import PredictRequest  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="tpp-osie")
    p.add_argument("--images", type=int, default=60, help="training images sampled for the model's own rate")
    p.add_argument("--n-samples", type=int, default=15)
    p.add_argument("--sigma", type=float, default=0.5, help="return spread, degrees per axis")
    p.add_argument("--image-scale", type=float, default=1.0, help="decoding the rates are fitted for")
    p.add_argument("--max-index", type=int, default=10, help="index bins (the last pools the later ones)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    data = load_dataset("osie")
    sp = data.scanpaths
    train = sorted(split_keys(sp.image, (0.8, 0.1, 0.1), 0)[0])
    ppd = 24.0
    human = IndexStats(args.max_index)
    human.add(sp[[i for i, n in enumerate(sp.image) if n in set(train)]], 800.0, 600.0, ppd)
    model = load_predictor(args.model)
    own = IndexStats(args.max_index)
    step = max(1, len(train) // args.images)
    for k, name in enumerate(train[::step][: args.images]):
        image = load_image(data.images[name])
        with torch.no_grad():
            drawn = model.predict_scanpaths(PredictRequest(images=image[None], image_names=[name],
                                                           n_samples=args.n_samples, seed=k,
                                                           image_scale=args.image_scale))
        own.add(drawn, image.shape[-1], image.shape[-2], ppd)
    q = 1 - math.exp(-1 / (2 * args.sigma ** 2))
    rates = []
    print(f"k: humans / {args.model} (image_scale {args.image_scale:g}) return rate -> r_k  (q = {q:.3f})")
    for h, m in zip(human.rows(), own.rows()):
        if h["k"] in (0, 1):
            continue
        r = min(1.0, max(0.0, (h["return_rate"] - m["return_rate"]) / (q - m["return_rate"])))
        rates.append(r)
        print(f"{h['k']!s:>4}: {h['return_rate']:.3f} / {m['return_rate']:.3f} -> {r:.3f}")
    print(f"pooled: {human.return_rate():.3f} / {own.return_rate():.3f}")
    print("--return-rate " + " ".join(f"{r:.3f}" for r in rates))
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
