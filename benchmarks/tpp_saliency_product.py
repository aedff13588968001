"""TPP with the static saliency model as an extra image term at decode time (no retraining): the conditional
density of fixation k becomes ``p_tpp(x | history) * (s(x) / cb(x)) ** beta``, renormalised over the pixels, with
``s`` the saliency model's density and ``cb`` the centre-bias Gaussian fitted on the training split. Spatial IG over
that centre bias (bits per fixation, every fixation) on OSIE images of a split, for each ``beta``.

    python benchmarks/tpp_saliency_product.py --saliency saliency:outputs/sal_osie_all8.pt --split val --betas 0 0.25 0.5 0.75
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
from gazekit.images import load_image  # noqa: E402
from gazekit.models.baselines import FreeviewBaseline  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--saliency", required=True)
    p.add_argument("--tpp", default="tpp-osie")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    p.add_argument("--max-images", type=int, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset("osie")
    sp = data.scanpaths
    train, val, test = split_keys(sp.image, (0.8, 0.1, 0.1), 0)
    names = (val if args.split == "val" else test)[: args.max_images]
    cb = FreeviewBaseline("centre-bias").fit(sp[[i for i, n in enumerate(sp.image) if n in set(train)]])
    tpp, sal = load_predictor(args.tpp), load_predictor(args.saliency)
    sums = {b: 0.0 for b in args.betas}
    n = 0
    t0 = time.time()
    for name in names:
        image = load_image(data.images[name])
        h, w = image.shape[-2:]
        hum = sp[[i for i, v in enumerate(sp.image) if v == name]]
        cb_map = cb.pixel_log_density(h, w).double()
        bonus = (sal.predict_log_density(image) - cb_map).float()
        with torch.no_grad():
            ld = tpp.conditional_log_density(image[None].expand(len(hum), *image.shape), hum)  # [B, L, H, W]
        rows, cols = hum.mask[:, : ld.shape[1]].nonzero(as_tuple=True)
        xi = hum.x[rows, cols].floor().clamp(0, w - 1).long()
        yi = hum.y[rows, cols].floor().clamp(0, h - 1).long()
        for b in args.betas:
            for r, c, x, y in zip(rows.tolist(), cols.tolist(), xi.tolist(), yi.tolist()):
                m = ld[r, c] + b * bonus
                sums[b] += float(m[y, x] - torch.logsumexp(m.flatten(), 0) - cb_map[y, x])
        n += len(rows)
        del ld
    for b in args.betas:
        print(f"beta {b:g}: TPP x saliency^beta IG over centre bias {sums[b] / n / math.log(2):.3f} bits/fix "
              f"({len(names)} {args.split} images, {n} fixations)")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
