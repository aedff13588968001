"""Validate tpp-tiny (image-grouped batches) or the centre-bias baseline (GazeDataModule) on the shipped OSIE sample,
under DDP or in one process, with shards of unequal size. Used by tests/test_distributed_metrics.py.

usage: validate_ddp.py OUT_DIR MODEL [--devices N]      MODEL: tpp | centre-bias
Writes OUT_DIR/val.json on rank 0: the model's float64 epoch means, Lightning's logged values, each rank's number
of validation scanpaths and fixations, and (one process only) a direct reference: the per-fixation means computed
here batch by batch with float64 sums, without the model's logging code.
"""

import argparse
import json
import math
import os

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from gazekit.paths import SAMPLE_DIR


class Shares(pl.Callback):
    def __init__(self):
        self.scanpaths = self.fixations = 0

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        sp = batch["scanpaths"] if isinstance(batch, dict) else batch[1]
        self.scanpaths += len(sp)
        self.fixations += int(sp.mask.sum())


def reference(model, loader, kind: str) -> dict:
    """Per-fixation means over every validation batch (float64 sums), straight from the model's likelihoods."""
    sums = {"nll": 0.0, "n": 0, "ig": 0.0, "dur": 0.0, "nd": 0, "sll": 0.0, "dll": 0.0}
    model.eval()
    with torch.no_grad():
        for batch in loader:
            sp = batch["scanpaths"] if isinstance(batch, dict) else batch[1]
            if kind == "tpp":
                images, img, sp = model._unpack(batch)
                feats, embed = model.encode_images(images)
                out = model.scanpath_log_likelihood(feats, embed, img, sp, float(images.shape[-1]),
                                                    float(images.shape[-2]))
                mask, dmask = out["mask"], out["dur_mask"]
                loc, scale = float(model.logd_loc), float(model.logd_scale)
                logn = (-0.5 * ((out["log_d"].double() - loc) / scale) ** 2
                        - math.log(scale * math.sqrt(2 * math.pi)) - out["log_d"].double())
                ll = (out["spatial"][mask].double().sum() + out["duration"][dmask].double().sum()
                      + out["censor"].double().sum())
                sums["nll"] -= float(ll)
                sums["ig"] += float((out["spatial"] - out["cb"])[mask].double().sum()) / math.log(2)
                sums["dur"] += float((out["duration"][dmask].double() - logn[dmask]).sum())
                sums["nd"] += int(dmask.sum())
            else:
                mask = sp.mask
                spatial = model.fixation_log_density(sp)[mask]
                duration = model.duration_log_likelihood(None, sp)
                known = mask & torch.isfinite(duration)
                sums["sll"] += float(spatial.sum())
                sums["dll"] += float(duration[known].sum())
                sums["nd"] += int(known.sum())
                sums["nll"] -= float(spatial.sum()) + float(duration[known].sum())
            sums["n"] += int(mask.sum())
    if kind == "tpp":
        return {"nll": sums["nll"] / sums["n"], "ig_cb_bits": sums["ig"] / sums["n"],
                "dur_gain_nats": sums["dur"] / sums["nd"]}
    return {"spatial_ll": sums["sll"] / sums["n"], "duration_ll": sums["dll"] / sums["nd"], "nll": sums["nll"] / sums["n"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("model", choices=("tpp", "centre-bias"))
    ap.add_argument("--devices", type=int, default=1)
    args = ap.parse_args()
    pl.seed_everything(0)
    if args.model == "tpp":
        from gazekit.models import create_model
        from gazekit.datasets.grouped import ImageGroupedDataModule

        # 12 images: 5 validation images, one per batch: 3 + 2 batches of different scanpath and fixation counts
        dm = ImageGroupedDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), image_size=(64, 96),
                                    images_per_batch=1, max_length=12, fractions=(6 / 12, 5 / 12, 1 / 12), seed=0)
        dm.setup("fit")
        model = create_model("tpp-tiny", backbone="test_efficientnet_gn", dropout=0.0, flip_augment=False)
        model.fit_priors(dm.split("train").scanpaths, viewing_time_ms=3000.0)
    else:
        from gazekit.datasets.datamodule import GazeDataModule
        from gazekit.models.baselines import FreeviewBaseline

        dm = GazeDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), with_images=False, batch_size=7,
                            fractions=(0.5, 0.5, 0.0), seed=0)
        dm.setup("fit")
        model = FreeviewBaseline(kind="centre-bias")
        model.fit(dm.split("train").scanpaths)
    shares = Shares()
    trainer = pl.Trainer(accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto",
                         callbacks=[shares], logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.validate(model, datamodule=dm, verbose=False)
    counts = [[shares.scanpaths, shares.fixations]]
    if dist.is_available() and dist.is_initialized():
        counts = [None] * dist.get_world_size()
        dist.all_gather_object(counts, [shares.scanpaths, shares.fixations])
    if trainer.is_global_zero:
        doc = {"epoch": model.epoch_metrics["val"], "counts": counts,
               "logged": {k: float(v) for k, v in trainer.callback_metrics.items()}}
        if args.devices == 1:
            doc["reference"] = reference(model, dm.val_dataloader(), args.model)
        with open(os.path.join(args.out, "val.json"), "w") as f:
            json.dump(doc, f)


if __name__ == "__main__":
    main()
