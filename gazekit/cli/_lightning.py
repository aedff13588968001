"""LightningCLI entry point for train/fit/validate/test/predict with YAML configs.

``predict`` always carries a :class:`gazekit.callbacks.ScanpathWriter` (the ``writer:`` section of a config or
``--writer.*`` options) that writes the predicted scanpaths as one scanpath table.
"""

from __future__ import annotations


def run_lightning(subcommand: str, argv: list[str]) -> int:
    from pytorch_lightning import LightningDataModule, LightningModule
    from pytorch_lightning.cli import LightningCLI

    cli_class = LightningCLI
    if subcommand == "predict":
        from gazekit.callbacks import ScanpathWriter

        class PredictCLI(LightningCLI):
            def add_arguments_to_parser(self, parser) -> None:
                parser.add_lightning_class_args(ScanpathWriter, "writer")

        cli_class = PredictCLI
    cli_class(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        args=[subcommand, *argv],
        save_config_kwargs={"overwrite": True},
    )
    return 0
