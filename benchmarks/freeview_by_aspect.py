"""Spatial IG over the centre bias by image orientation (portrait, landscape, square): does a model keep its gain on
images whose aspect ratio differs from most of its training images?

For each evaluated image: the models' log-densities of every human fixation (a scanpath model given the subject's
earlier fixations, a static model without history) over the data set's centre bias (fitted on its training
images), summed per orientation and divided by the number of fixations, in bits.

    python benchmarks/freeview_by_aspect.py --data nus_sun500 --models tpp-freeview saliency-freeview tpp-osie
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazekit.datasets.registry import load_dataset  # noqa: E402
from gazekit.datasets.splits import split_keys  # noqa: E402
from gazekit.images import load_image  # noqa: E402
from gazekit.metrics.functional.conditional import conditional_information_gain  # noqa: E402
from gazekit.models.base import StaticDensityModel  # noqa: E402
from gazekit.models.baselines import FreeviewBaseline  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402

LN2 = 0.6931471805599453


def orientation(h: int, w: int) -> str:
    return "portrait" if h > 1.05 * w else "landscape" if w > 1.05 * h else "square"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="nus_sun500")
    p.add_argument("--split", choices=("val", "test"), default="test")
    p.add_argument("--models", nargs="+", default=["tpp-freeview", "saliency-freeview"])
    args = p.parse_args(argv)
    data = load_dataset(args.data)
    sp = data.scanpaths.validate("drop")[0]
    train, val, test = split_keys(sp.image, (0.8, 0.1, 0.1), 0)
    names = sorted(n for n in (val if args.split == "val" else test) if n in data.images)
    cb = FreeviewBaseline("centre-bias").fit(sp[[i for i, n in enumerate(sp.image) if n in set(train)]])
    models = {m: load_predictor(m) for m in args.models}
    acc = {}
    t0 = time.time()
    for name in names:
        image = load_image(data.images[name])
        h, w = image.shape[-2:]
        hum = sp[[i for i, v in enumerate(sp.image) if v == name]]
        if (hum.image_size != torch.tensor([float(w), float(h)], dtype=torch.float64)).any():
            hum = hum.rescale(float(w), float(h))
        if not hum.num_fixations:
            continue
        cb_map = cb.pixel_log_density(h, w)
        kind = orientation(h, w)
        row = acc.setdefault(kind, {"images": 0, "n": 0, **{m: 0.0 for m in models}})
        row["images"] += 1
        row["n"] += hum.num_fixations
        with torch.no_grad():
            for label, model in models.items():
                if isinstance(model, StaticDensityModel) and not hasattr(model, "conditional_log_density"):
                    static = model.predict_log_density(image).double()
                    ld = static.expand(len(hum), hum.max_length, h, w)
                else:
                    ld = model.conditional_log_density(image[None].expand(len(hum), *image.shape), hum)
                row[label] += float(conditional_information_gain(ld, hum, cb_map, start=0, reduction="sum"))
    print(f"{args.data} {args.split}: spatial IG over the centre bias (bits/fixation) by orientation "
          f"({time.time() - t0:.0f} s)")
    for kind, row in sorted(acc.items()):
        values = "  ".join(f"{m} {row[m] / row['n']:.3f}" for m in models)
        print(f"{kind:>9}: {row['images']:3d} images, {row['n']:5d} fixations  {values}")


if __name__ == "__main__":
    main()
