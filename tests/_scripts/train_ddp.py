"""Train tpp-tiny on the shipped OSIE sample with image-grouped batches, under DDP or in one process. Used by
tests/test_distributed_train.py (run as a subprocess).

usage: train_ddp.py OUT_DIR [--devices N] [--accumulate K] [--images-per-batch M] [--epochs E] [--backbone NAME]
Writes OUT_DIR/final.pt (the state dict after training) and OUT_DIR/val.json (validation NLL after every epoch,
over all validation images and all ranks).
"""

import argparse
import json
import os

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from gazekit.models import create_model
from gazekit.datasets.grouped import ImageGroupedDataModule
from gazekit.paths import SAMPLE_DIR


class GlobalValNLL(pl.Callback):
    """Validation NLL over every validation batch of every rank, computed here independently of the model's
    logging: -sum(log-likelihood) / sum(fixations), from each batch's loss (-LL / fixations) and fixation count."""

    def __init__(self):
        self.batches, self.history, self.logged = [], [], []

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        self.batches.append((float(outputs), int(batch[1].mask.sum())))

    def on_validation_epoch_end(self, trainer, module):
        parts = [self.batches]
        if dist.is_available() and dist.is_initialized():
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, self.batches)
        rows = [row for part in parts for row in part]
        self.history.append(sum(v * n for v, n in rows) / sum(n for _, n in rows))
        self.batches = []

    def on_validation_end(self, trainer, module):  # the model logs its epoch means in its own epoch-end hook
        self.logged.append(float(trainer.callback_metrics["val/nll"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--accumulate", type=int, default=1)
    ap.add_argument("--images-per-batch", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--backbone", default="test_efficientnet_gn")
    args = ap.parse_args()
    pl.seed_everything(0, workers=True)
    torch.use_deterministic_algorithms(True)
    # 12 images: 8 train (an even number of one-image batches, so DDP pads nothing), 3 val (2 + 1 over two ranks)
    dm = ImageGroupedDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), image_size=(64, 96),
                                images_per_batch=args.images_per_batch, max_length=12,
                                fractions=(8 / 12, 3 / 12, 1 / 12), seed=0)
    dm.setup("fit")
    # no dropout, no flips (random draws would differ between ranks and one process); a GroupNorm backbone: with
    # BatchNorm, DDP keeps rank 0's running statistics, which no single-process run reproduces
    model = create_model("tpp-tiny", backbone=args.backbone, dropout=0.0, flip_augment=False)
    model.fit_priors(dm.split("train").scanpaths, viewing_time_ms=3000.0)
    torch.save(model.state_dict(), os.path.join(args.out, "initial.pt"))
    val = GlobalValNLL()
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                         strategy="ddp" if args.devices > 1 else "auto", accumulate_grad_batches=args.accumulate,
                         gradient_clip_val=1.0, callbacks=[val], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         deterministic=True)
    trainer.fit(model, datamodule=dm)
    if trainer.is_global_zero:
        torch.save(model.state_dict(), os.path.join(args.out, "final.pt"))
        with open(os.path.join(args.out, "val.json"), "w") as f:
            json.dump({"val_nll": val.history, "logged_val_nll": val.logged, "steps": trainer.global_step}, f)


if __name__ == "__main__":
    main()
