"""LightningCLI entry point for train/fit/validate/test/predict with YAML configs.

``predict`` always carries a :class:`gazekit.callbacks.ScanpathWriter` (the ``writer:`` section of a config or
``--writer.*`` options) that writes the predicted scanpaths as one scanpath table.
"""

from __future__ import annotations

import re

# Trainer options typed ``int | float`` (an int counts batches, a float is a fraction). Python's typing cache makes
# ``Optional[Union[int, float]]`` come out as ``Union[float, int, None]`` when another library (rich.console) built
# that union first, and jsonargparse then reads "1" as 1.0 (= all batches). Integers given as such are restored.
INT_OR_FRACTION = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                   "overfit_batches", "val_check_interval")


def _integer_token(argv: list[str], key: str) -> bool:
    """Whether ``--trainer.<key>`` is given on the command line as an integer (``=N`` or ``N``)."""
    flag = f"--trainer.{key}"
    for i, arg in enumerate(argv):
        value = arg[len(flag) + 1:] if arg.startswith(flag + "=") else (
            argv[i + 1] if arg == flag and i + 1 < len(argv) else None)
        if value is not None and re.fullmatch(r"\s*\d+\s*", value):
            return True
    return False


def restore_integer_limits(trainer_config, argv: list[str]) -> None:
    """Turn integral floats of :data:`INT_OR_FRACTION` options back into ints where they were meant as counts:
    given as an integer on the command line, or above 1 (a fraction above 1 is invalid anyway)."""
    for key in INT_OR_FRACTION:
        value = getattr(trainer_config, key, None)
        if isinstance(value, float) and value.is_integer() and (value > 1 or _integer_token(argv, key)):
            setattr(trainer_config, key, int(value))


TRUST_FLAG = "--trust-checkpoint"


def run_lightning(subcommand: str, argv: list[str]) -> int:
    """Run LightningCLI's ``subcommand``. A ``--ckpt_path`` file is read with the weights-only reader (an
    unreadable one is refused before Lightning touches it: see docs/security.md) unless ``--trust-checkpoint``
    is given."""
    from pytorch_lightning import LightningDataModule, LightningModule
    from pytorch_lightning.cli import LightningCLI

    trust = TRUST_FLAG in argv
    argv = [a for a in argv if a != TRUST_FLAG]

    class GazekitCLI(LightningCLI):
        def _parse_ckpt_path(self) -> None:  # Lightning's first read of --ckpt_path (its hyper-parameters)
            from pathlib import Path

            from gazekit.models._checkpoint import check_lightning_checkpoint

            sub = self.config.get("subcommand")
            ckpt = self.config[sub].get("ckpt_path") if sub else None
            if ckpt and Path(ckpt).is_file():
                check_lightning_checkpoint(ckpt, trust=trust)
            super()._parse_ckpt_path()

        def _prepare_subcommand_kwargs(self, subcommand: str) -> dict:
            kwargs = super()._prepare_subcommand_kwargs(subcommand)
            if kwargs.get("ckpt_path") is not None and "weights_only" in self._subcommand_method_arguments[subcommand]:
                kwargs["weights_only"] = not trust  # Lightning's own load of the checkpoint
            return kwargs

        def add_arguments_to_parser(self, parser) -> None:
            if subcommand == "predict":
                from gazekit.callbacks import ScanpathWriter

                parser.add_lightning_class_args(ScanpathWriter, "writer")

        def instantiate_trainer(self, **kwargs):
            trainer = super().instantiate_trainer(**kwargs)
            restore_integer_limits(trainer, argv)  # the Trainer keeps them as given and reads them per loop
            return trainer

    from gazekit.models._checkpoint import allow_safe_globals

    allow_safe_globals()  # the types gazekit checkpoints hold, for Lightning's weights-only load
    GazekitCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        args=[subcommand, *argv],
        save_config_kwargs={"overwrite": True},
    )
    return 0
