"""LightningCLI entry point for train/fit/validate/test with YAML configs."""

from __future__ import annotations


def run_lightning(subcommand: str, argv: list[str]) -> int:
    from pytorch_lightning import LightningDataModule, LightningModule
    from pytorch_lightning.cli import LightningCLI

    LightningCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        args=[subcommand, *argv],
        save_config_kwargs={"overwrite": True},
    )
    return 0
