"""Sample metrics of TPP decoding options on an OSIE split, several settings in one run (to choose them on the
validation split; the test numbers come from ``gazekit evaluate``, which draws the same samples: seed + image
index, images sorted, as many samples as the image has human scanpaths).

Per setting: ScanMatch and MultiMatch position of the samples against every human scanpath of the image (the
``default`` protocol of ``gazekit evaluate``), the human-density gain at the sampled fixations (bits), the return
rate within 1 degree (fixations 3+), and with ``--ig`` the spatial IG over the centre bias of the decoded density.
A setting is ``LABEL`` or ``LABEL:key=value,key=value`` with the ``PredictRequest`` decoding fields
(``image_scale``, ``saliency_beta``, ``return_rate`` as ``a/b/c``, ``return_sigma_deg``, ``temperature``).

    python benchmarks/tpp_decoding_sweep.py --split val base alpha2:image_scale=2 beta05:saliency_beta=0.5
"""

from __future__ import annotations

import argparse
import json
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
from gazekit.metrics.functional.conditional import conditional_information_gain  # noqa: E402
from gazekit.metrics.functional.density import KDE_MIX  # noqa: E402
from gazekit.metrics.human_maps import density_gain_bits, human_log_density  # noqa: E402
from gazekit.metrics.protocols import evaluate as score_protocol  # noqa: E402
from gazekit.models import tpp_decoding  # noqa: E402
from gazekit.models.base import PredictRequest  # noqa: E402
from gazekit.models.baselines import FreeviewBaseline  # noqa: E402
from gazekit.models.registry import load_predictor  # noqa: E402
from gazekit.scanpaths import Scanpaths  # noqa: E402


class CachedMaps:
    """A static density model whose maps are computed once per image (the settings share them)."""

    def __init__(self, model):
        self.model, self.maps = model, {}

    def predict_log_density(self, image):
        key = (tuple(image.shape), float(image.sum()), float((image * torch.arange(image.shape[-1])).sum()))
        if key not in self.maps:
            self.maps[key] = self.model.predict_log_density(image)
        return self.maps[key]


def parse_setting(text: str) -> tuple[str, dict]:
    label, _, rest = text.partition(":")
    kw: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        kw[key] = [float(v) for v in value.split("/")] if key == "return_rate" else float(value)
    return label, kw


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("settings", nargs="+")
    p.add_argument("--model", default="tpp-osie")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ig", action="store_true", help="also the spatial IG of the decoded density")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    data = load_dataset("osie")
    sp = data.scanpaths
    train, val, test = split_keys(sp.image, (0.8, 0.1, 0.1), 0)
    names = sorted(val if args.split == "val" else test)[: args.max_images]
    cb = FreeviewBaseline("centre-bias").fit(sp[[i for i, n in enumerate(sp.image) if n in set(train)]])
    model = load_predictor(args.model)
    static_maps: dict = {}  # a model with a static-map image term: computed once per image, shared by the settings
    if getattr(model.cfg, "static_map", None):
        compute = model.static_logits

        def cached(images):
            key = (images.data_ptr(), tuple(images.shape))
            if key not in static_maps:
                static_maps[key] = compute(images)
            return static_maps[key]

        model.static_logits = cached
    name = tpp_decoding.DEFAULT_SALIENCY_MODEL
    tpp_decoding._SALIENCY[name] = CachedMaps(tpp_decoding.saliency_model(name))
    settings = [parse_setting(s) for s in args.settings]
    ppd = 24.0
    acc = {lab: {"gain": 0.0, "n": 0, "ig": 0.0, "n_ig": 0, "idx": IndexStats(), "samples": []} for lab, _ in settings}
    human_all = []
    for k, img_name in enumerate(names):
        static_maps.clear()
        image = load_image(data.images[img_name])
        h, w = image.shape[-2:]
        hum = sp[[i for i, v in enumerate(sp.image) if v == img_name]].validate("drop")[0]
        human_all.append(hum)
        cb_map = cb.pixel_log_density(h, w)
        hmap = human_log_density(hum.x[hum.mask].numpy(), hum.y[hum.mask].numpy(), cb_map, ppd, mix=KDE_MIX)
        for lab, kw in settings:
            a = acc[lab]
            kw = dict(kw)
            temperature = kw.pop("temperature", 1.0)
            if "return_rate" in kw:
                kw.setdefault("pixels_per_degree", ppd)
            with torch.no_grad():
                drawn = model.predict_scanpaths(PredictRequest(images=image[None], image_names=[img_name],
                                                               n_samples=len(hum), seed=args.seed + k,
                                                               temperature=temperature, **kw))
            drawn.dataset = [hum.dataset[0]] * len(drawn)
            drawn.task = ["freeview"] * len(drawn)
            a["samples"].append(drawn)
            g, gn = density_gain_bits(drawn.x[drawn.mask].numpy(), drawn.y[drawn.mask].numpy(), hmap, cb_map)
            a["gain"] += g
            a["n"] += gn
            a["idx"].add(drawn, w, h, ppd, hmap, cb_map)
            if args.ig:
                with torch.no_grad():
                    ld = model.conditional_log_density(image[None].expand(len(hum), *image.shape), hum, **kw)
                a["ig"] += float(conditional_information_gain(ld, hum, cb_map, start=0, reduction="sum"))
                a["n_ig"] += hum.num_fixations
                del ld
        print(f"{k + 1}/{len(names)} images, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    human = Scanpaths.concat(human_all)
    out = {}
    for lab, kw in settings:
        a = acc[lab]
        res = score_protocol(Scanpaths.concat(a["samples"]), human, "default", metrics=["multimatch", "scanmatch"],
                             human_baseline=False)
        vals = {r["metric"]: r["model"] for r in res.rows}
        out[lab] = {"setting": kw, "scanmatch": vals.get("ScanMatch", vals.get("scanmatch")),
                    "mm_position": next((v for m, v in vals.items() if "position" in m.lower()), math.nan),
                    "gain_bits": a["gain"] / a["n"], "return_rate": a["idx"].return_rate(),
                    "ig_cb": a["ig"] / a["n_ig"] if a["n_ig"] else math.nan, "by_index": a["idx"].rows(),
                    "metrics": vals}
        o = out[lab]
        print(f"{lab:>12}: ScanMatch {o['scanmatch']:.3f}  MM position {o['mm_position']:.3f}  gain "
              f"{o['gain_bits']:+.3f} bits  returns {o['return_rate']:.3f}  IG {o['ig_cb']:.3f}  {kw}", flush=True)
    print(f"{len(names)} {args.split} images, {time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
