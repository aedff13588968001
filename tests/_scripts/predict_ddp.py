"""Trainer.predict of the shipped centre-bias baseline on the OSIE sample through GazeDataModule (batches by
scanpath: an image's scanpaths spread over batches and, under DDP, would spread over ranks), writing one table per
rank with ScanpathWriter. Used by tests/test_cli_predict_config.py.

usage: predict_ddp.py OUT_DIR [--devices N]
"""

import argparse

import pytorch_lightning as pl

from gazekit.callbacks import ScanpathWriter
from gazekit.datasets.datamodule import GazeDataModule
from gazekit.models import create_model
from gazekit.paths import SAMPLE_DIR


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--devices", type=int, default=1)
    args = ap.parse_args()
    dm = GazeDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), image_size=(30, 40), batch_size=5,
                        fractions=(0.0, 0.0, 1.0), seed=0)
    writer = ScanpathWriter(out_dir=args.out, n_samples=2, seed=3, max_fixations=4)
    trainer = pl.Trainer(accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto",
                         logger=False, enable_progress_bar=False, enable_checkpointing=False, callbacks=[writer])
    trainer.predict(create_model("centre-bias"), datamodule=dm, return_predictions=False)


if __name__ == "__main__":
    main()
