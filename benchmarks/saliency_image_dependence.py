"""Does the static density depend on the image? Total-variation distance between the saliency model's densities on
OSIE sample photos, on a uniform-noise image and on a grey image of the same size (0: identical maps, 1: disjoint).
For a scanpath model (``--model tpp-freeview``) the density is that of the first fixation, and the script also counts
the first sampled fixations that are identical on a photo and on the noise image with the same seed.

    python benchmarks/saliency_image_dependence.py --model saliency:outputs/sal_osie_all.pt
    python benchmarks/saliency_image_dependence.py --model tpp-freeview
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazekit.images import load_image  # noqa: E402
from gazekit.models.base import PredictRequest  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402
from gazekit.paths import SAMPLE_DIR  # noqa: E402


def tv(a: torch.Tensor, b: torch.Tensor) -> float:
    return 0.5 * float((a.exp() - b.exp()).abs().sum())


def first_fixation_density(model, image: torch.Tensor) -> torch.Tensor:
    """``[H, W]`` log-density of the first fixation (no history) of a conditional model, or the static map."""
    if hasattr(model, "predict_log_density"):
        return model.predict_log_density(image)
    from gazekit.scanpaths import Scanpaths

    h, w = image.shape[-2:]
    one = Scanpaths.from_sequences([[w / 2]], [[h / 2]], None, [[200.0]], image=["x"], image_size=[w, h])
    return model.conditional_log_density(image[None], one)[0, 0]


def identical_first_fixations(model, photo: torch.Tensor, noise: torch.Tensor, n: int = 50) -> int:
    firsts = []
    for image in (photo, noise):
        sp = model.predict_scanpaths(PredictRequest(images=image[None], image_names=["x"], n_samples=n, seed=0,
                                                    max_fixations=1))
        firsts.append(torch.stack([sp.x[:, 0], sp.y[:, 0]], 1))
    return int((firsts[0] == firsts[1]).all(1).sum())


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
    d_noise, d_grey = first_fixation_density(model, noise), first_fixation_density(model, grey)
    print(f"TV(noise, grey) = {tv(d_noise, d_grey):.3f}")
    maps = {}
    for path in photos:
        image = load_image(path)
        maps[path.name] = d = first_fixation_density(model, image)
        same = ""
        if hasattr(model, "predict_scanpaths") and image.shape[-2:] == noise.shape[-2:]:
            same = f", identical first fixations (photo vs noise, seed 0): " \
                   f"{identical_first_fixations(model, image, noise)}/50"
        print(f"{path.name}: TV(photo, noise) = {tv(d, d_noise):.3f}, TV(photo, grey) = {tv(d, d_grey):.3f}{same}")
    names = list(maps)
    pairs = [tv(maps[a], maps[b]) for i, a in enumerate(names) for b in names[i + 1:]]
    print(f"mean TV between different photos = {sum(pairs) / max(len(pairs), 1):.3f} "
          f"({time.time() - t0:.1f} s for {len(photos) + 2} maps)")


if __name__ == "__main__":
    main()
