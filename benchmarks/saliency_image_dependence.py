"""Does the static density depend on the image? Total-variation distance between the saliency model's densities on
OSIE sample photos, on a uniform-noise image and on a grey image of the same size (0: identical maps, 1: disjoint).

    python benchmarks/saliency_image_dependence.py --model saliency:outputs/sal_osie_all.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazekit.images import load_image  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402
from gazekit.paths import SAMPLE_DIR  # noqa: E402


def tv(a: torch.Tensor, b: torch.Tensor) -> float:
    return 0.5 * float((a.exp() - b.exp()).abs().sum())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--images", type=int, default=4)
    args = p.parse_args(argv)
    model = load_predictor(args.model)
    photos = sorted((SAMPLE_DIR / "osie" / "stimuli").glob("*.jpg"))[: args.images]
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(3, 600, 800, generator=g)
    grey = torch.full((3, 600, 800), 0.5)
    t0 = time.time()
    d_noise, d_grey = model.predict_log_density(noise), model.predict_log_density(grey)
    print(f"TV(noise, grey) = {tv(d_noise, d_grey):.3f}")
    maps = {}
    for path in photos:
        maps[path.name] = d = model.predict_log_density(load_image(path))
        print(f"{path.name}: TV(photo, noise) = {tv(d, d_noise):.3f}, TV(photo, grey) = {tv(d, d_grey):.3f}")
    names = list(maps)
    pairs = [tv(maps[a], maps[b]) for i, a in enumerate(names) for b in names[i + 1:]]
    print(f"mean TV between different photos = {sum(pairs) / max(len(pairs), 1):.3f} "
          f"({time.time() - t0:.1f} s for {len(photos) + 2} maps)")


if __name__ == "__main__":
    main()
