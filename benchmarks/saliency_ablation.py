"""Static saliency model: train feature-group variants and score them, with the centre bias and the human ceiling.

    python benchmarks/saliency_ablation.py --datasets osie --split val --epochs 6 \\
        --variants all no-faces no-text no-low no-deep deep256 grid40

For each variant a fresh :class:`gazekit.models.saliency.SaliencyModel` is trained on the training split of every
dataset in ``--datasets`` (plain AdamW loop on the cached features, the same loss as the LightningModule; seed 0)
and scored per dataset on ``--split``: spatial information gain over the centre-bias Gaussian fitted on that
dataset's training scanpaths (bits per fixation, every fixation, the model's density at the image's own
resolution), and the same gain of the leave-one-subject-out human density (``gazekit.evaluation.freeview``'s
``loso_kde_gain``: Gaussian KDE of the other subjects, 1 degree, 10 % centre bias). Training time per variant is
printed. ``--save PATH`` writes the first variant's weights (``SaliencyNet.save_checkpoint``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gazekit.metrics.functional.density import loso_kde_log_likelihood as loso_kde_gain  # noqa: E402
from gazekit.models.baselines import FreeviewBaseline  # noqa: E402
from gazekit.models.saliency import SaliencyModel  # noqa: E402
from gazekit.models.saliency_data import (SaliencyDataModule, SameSizeBatches, collate_same_size,  # noqa: E402
                                          mirror_batch, size_key)

LN2 = math.log(2.0)
VARIANTS = {
    "all": {"groups": ("low", "faces", "text", "deep")},
    "no-faces": {"groups": ("low", "text", "deep")},
    "no-text": {"groups": ("low", "faces", "deep")},
    "no-low": {"groups": ("faces", "text", "deep")},
    "no-deep": {"groups": ("low", "faces", "text")},
    "deep-only": {"groups": ("deep",)},
    "low-only": {"groups": ("low",)},
    "deep256": {"groups": ("low", "faces", "text", "deep"), "backbone_side": 256},
    "grid40": {"groups": ("low", "faces", "text", "deep"), "grid": 40},
    "hidden32": {"groups": ("low", "faces", "text", "deep"), "hidden": 32},
    "final": {"groups": ("low", "text", "deep"), "hidden": 32},  # faces dropped: no gain on OSIE val, 1 s/image
    "ctx2": {"groups": ("low", "text", "deep"), "hidden": 32, "context": 2},
    "ctx3": {"groups": ("low", "text", "deep"), "hidden": 32, "context": 3},
    "ctx3-h48": {"groups": ("low", "text", "deep"), "hidden": 48, "context": 3},
    "ctx3-faces": {"groups": ("low", "faces", "text", "deep"), "hidden": 32, "context": 3},
    "ctx2-priors": {"groups": ("low", "text", "deep"), "hidden": 32, "context": 2, "priors": "datasets"},
    "ctx2-mtcnn": {"groups": ("low", "mtcnn", "text", "deep"), "hidden": 32, "context": 2},
    "ctx2-priors-mtcnn": {"groups": ("low", "mtcnn", "text", "deep"), "hidden": 32, "context": 2,
                          "priors": "datasets"},
    "ctx2-priors-h48": {"groups": ("low", "text", "deep"), "hidden": 48, "context": 2, "priors": "datasets"},
}


def train(model: SaliencyModel, items: list[dict], epochs: int, lr: float = 3e-3, batch: int = 8,
          seed: int = 0, mirror: float = 0.0) -> float:
    """Plain training loop (AdamW, cosine decay); returns seconds taken."""
    torch.manual_seed(seed)
    if "deep" in model.groups:
        model.fit_deep_statistics(items)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-3)
    sampler = SameSizeBatches([size_key(it) for it in items], batch, shuffle=True)
    total = epochs * len(sampler)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.1)
    t0 = time.time()
    model.train()
    for epoch in range(epochs):
        losses = []
        for idx in sampler:
            data = collate_same_size([items[i] for i in idx])
            if mirror and float(torch.rand(())) < mirror:
                data = mirror_batch(data)
            loss = -model.batch_log_likelihood(data).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        print(f"  epoch {epoch}: train IG over uniform {-np.mean(losses) / LN2:.3f} bits "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    return time.time() - t0


@torch.no_grad()
def score(model: SaliencyModel, items: list[dict], human_by_image: dict, cb: FreeviewBaseline, ppd: float,
          with_human: bool = True, prior=None) -> dict:
    """IG over centre bias (bits/fix) of the model (with its centre-bias prior ``prior``) and of the LOSO human
    density on ``items``."""
    ig = n = 0.0
    h_ll = h_cb = h_n = 0.0
    for it in items:
        h, w = it["features"]["size"]
        ld = model.log_density(it["features"], (h, w), prior).double()
        cb_map = cb.pixel_log_density(h, w)
        hum = human_by_image[it["name"]]
        m = hum.mask
        xi = hum.x[m].floor().clamp(0, w - 1).long()
        yi = hum.y[m].floor().clamp(0, h - 1).long()
        ig += float((ld[yi, xi] - cb_map[yi, xi].double()).sum())
        n += len(xi)
        if with_human:
            kl, kc, kn = loso_kde_gain(hum, cb_map, ppd)
            h_ll, h_cb, h_n = h_ll + kl, h_cb + kc, h_n + kn
    out = {"model": ig / n / LN2, "fixations": int(n), "images": len(items)}
    if with_human:
        out["human"] = (h_ll - h_cb) / h_n / LN2
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["osie"])
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--variants", nargs="+", default=["all"], choices=sorted(VARIANTS))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--cache-dir", default="outputs/saliency_cache")
    p.add_argument("--save", default=None)
    p.add_argument("--load", default=None, help="score this saved model instead of training variants")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--holdout", default=None, help="a dataset of --datasets left out of training (scored only)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--mirror", type=float, default=0.0, help="probability of training on a batch's mirror image")
    p.add_argument("--max-images", type=int, default=None, help="per split and dataset (smoke runs)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dm = SaliencyDataModule(tuple(args.datasets), cache_dir=args.cache_dir, max_images=args.max_images)
    dm.setup()
    from gazekit.datasets.registry import load_dataset

    per_dataset = {}
    for d, name in enumerate(args.datasets):
        data = load_dataset(name)
        sp = data.scanpaths
        train_names = {it["name"] for it in dm.split("train") if it["dataset"] == d}
        cb = FreeviewBaseline("centre-bias").fit(sp[[i for i, n in enumerate(sp.image) if n in train_names]])
        evaluated = [it for it in dm.split(args.split, loaded=True) if it["dataset"] == d]
        names = {it["name"] for it in evaluated}
        by_image: dict = {}
        for i, n in enumerate(sp.image):
            if n in names:
                by_image.setdefault(n, []).append(i)
        human = {n: sp[rows] for n, rows in by_image.items()}
        ppd = float(np.nanmedian(sp.ppd.numpy())) if not torch.isnan(sp.ppd).all() else 24.0
        per_dataset[name] = (evaluated, human, cb, ppd)
    rows = []
    human_done = {}
    for v in ([None] if args.load else args.variants):
        torch.manual_seed(0)
        if args.load:
            model, secs, v = SaliencyModel.from_file(args.load), 0.0, Path(args.load).name
        else:
            kwargs = dict(VARIANTS[v])
            if kwargs.get("priors") == "datasets":  # one centre-bias prior per training data set
                kwargs["priors"] = tuple(d for d in args.datasets if d != args.holdout)
            model = SaliencyModel(**kwargs)
            print(f"variant {v}: {VARIANTS[v]}", flush=True)
            held = args.datasets.index(args.holdout) if args.holdout else -1
            secs = train(model, [it for it in dm.split("train", loaded=True) if it["dataset"] != held], args.epochs,
                         lr=args.lr, mirror=args.mirror)
        if args.save and not args.load and v == args.variants[0]:
            digest = model.save_checkpoint(args.save)
            print(f"  saved {args.save} (sha256 {digest})")
        for name, (evaluated, human, cb, ppd) in per_dataset.items():
            prior = name if name in model.cfg.priors else None  # a data set it never saw: the first prior
            res = score(model, evaluated, human, cb, ppd, with_human=name not in human_done, prior=prior)
            human_done.setdefault(name, res.get("human"))
            rows.append((v, name, res["model"], human_done[name], res["images"], res["fixations"], secs))
            print(f"  {name} {args.split}: IG over centre bias {res['model']:.3f} bits/fix, LOSO human "
                  f"{human_done[name]:.3f} ({res['model'] / human_done[name]:.0%}); {res['images']} images, "
                  f"{res['fixations']} fixations; trained in {secs:.0f} s", flush=True)
    print(f"\n| variant | dataset | IG over centre bias (bits/fix) | LOSO human | ratio | train time (s) |")
    print("|---|---|---|---|---|---|")
    for v, name, ig, hum, _, _, secs in rows:
        print(f"| {v} | {name} | {ig:.3f} | {hum:.3f} | {ig / hum:.0%} | {secs:.0f} |")


if __name__ == "__main__":
    main()
