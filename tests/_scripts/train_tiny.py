"""Train tpp-tiny on the shipped OSIE sample. Used by the resume and DDP tests (run as a subprocess).

usage: train_tiny.py OUT_DIR [--resume CKPT] [--kill-at STEP] [--devices N] [--grouped]
Writes OUT_DIR/final.pt (the state dict after training).
"""

import argparse
import os

import pytorch_lightning as pl
import torch

from gazekit.datasets.datamodule import GazeDataModule
from gazekit.models import create_model
from gazekit.datasets.grouped import ImageGroupedDataModule
from gazekit.paths import SAMPLE_DIR


class KillAt(pl.Callback):
    """Simulates a crash (SIGKILL-like hard exit, no clean-up) at the start of a given global step."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.step:
            os._exit(9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--resume")
    ap.add_argument("--kill-at", type=int)
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--no-schedule", action="store_true")
    ap.add_argument("--grouped", action="store_true", help="ImageGroupedDataModule, one image per batch")
    args = ap.parse_args()
    pl.seed_everything(0, workers=True)
    torch.use_deterministic_algorithms(True)
    common = {"root": str(SAMPLE_DIR / "osie"), "image_size": (64, 96), "max_length": 12,
              "fractions": (0.75, 0.25, 0.0), "seed": 0}
    dm = (ImageGroupedDataModule("osie-sample", images_per_batch=1, **common) if args.grouped
          else GazeDataModule("osie-sample", batch_size=8, **common))
    dm.setup("fit")
    # no dropout, no flips: the only randomness left is the shuffle order, which the checkpoint carries
    model = create_model("tpp-tiny", dropout=0.0, flip_augment=False, cosine_schedule=not args.no_schedule)
    model.fit_priors(dm.split("train").scanpaths, viewing_time_ms=3000.0)
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=args.out, every_n_train_steps=2, save_last=True, save_top_k=-1)]
    if args.kill_at is not None:
        callbacks.append(KillAt(args.kill_at))
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=args.devices,
                         strategy="ddp" if args.devices > 1 else "auto", callbacks=callbacks, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         deterministic=True)
    trainer.fit(model, datamodule=dm, ckpt_path=args.resume)
    if trainer.is_global_zero:
        torch.save(model.state_dict(), os.path.join(args.out, "final.pt"))


if __name__ == "__main__":
    main()
