"""LightningCLI entry point for train/fit/validate/test/predict with YAML configs.

``predict`` always carries a :class:`gazekit.callbacks.ScanpathWriter` (the ``writer:`` section of a config or
``--writer.*`` options) that writes the predicted scanpaths as one scanpath table.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Trainer options typed ``int | float`` (an int counts batches, a float is a fraction). Python's typing cache makes
# ``Optional[Union[int, float]]`` come out as ``Union[float, int, None]`` when another library (rich.console) built
# that union first, and jsonargparse then reads 1 as 1.0 (= all batches), whether it came from the command line or
# from a YAML config. The values as the user wrote them are read back from the arguments (and the config files
# they name), and the integers among them restored.
INT_OR_FRACTION = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                   "overfit_batches", "val_check_interval")


def _yaml(value: str):
    """A YAML document given as a file path or inline (as jsonargparse accepts both); None when unreadable."""
    import yaml

    try:
        path = Path(value)
        text = path.read_text() if path.is_file() else value
        return yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def given_values(argv: list[str]) -> dict:
    """``{option: value as written}`` for :data:`INT_OR_FRACTION`, following the arguments in order as
    jsonargparse does (a later source wins): ``--config FILE`` (its ``trainer:`` section), ``--trainer FILE``
    and ``--trainer.<option> VALUE``, each as ``--flag VALUE`` or ``--flag=VALUE``. YAML typing decides: ``1``
    is an int, ``1.0`` a float."""
    given: dict = {}

    def take(mapping) -> None:
        if isinstance(mapping, dict):
            given.update({k: mapping[k] for k in INT_OR_FRACTION if k in mapping})

    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        wanted = name in ("--config", "--trainer") or (name.startswith("--trainer.") and
                                                       name[len("--trainer."):] in INT_OR_FRACTION)
        if not wanted:
            i += 1
            continue
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else None
            i += 1
        i += 1
        if value is None:
            continue
        if name == "--config":
            doc = _yaml(value)
            take(doc.get("trainer") if isinstance(doc, dict) else None)
        elif name == "--trainer":
            take(_yaml(value))
        else:
            given[name[len("--trainer."):]] = _yaml(value)
    return given


def restore_integer_limits(trainer_config, argv: list[str]) -> None:
    """Turn integral floats of :data:`INT_OR_FRACTION` options back into ints where they were meant as counts:
    written as an integer (on the command line or in a config file), or above 1 (a fraction above 1 is invalid
    anyway)."""
    given = given_values(argv)
    for key in INT_OR_FRACTION:
        value = getattr(trainer_config, key, None)
        raw = given.get(key)
        written_int = isinstance(raw, int) and not isinstance(raw, bool)
        if isinstance(value, float) and value.is_integer() and (value > 1 or written_int):
            setattr(trainer_config, key, int(value))


TRUST_FLAG = "--trust-checkpoint"


def pop_trust_flag(argv: list[str]) -> tuple[frozenset[str] | None, list[str]]:
    """``(the trusted sha256 set or None, argv without them)``: ``--trust-checkpoint SHA256`` (or
    ``--trust-checkpoint=SHA256``, repeatable) is gazekit's option, which LightningCLI does not know; a missing or
    malformed hash is an ``InvalidInputError``."""
    from gazekit.errors import InvalidInputError
    from gazekit.models._checkpoint import check_trust

    hashes, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == TRUST_FLAG:
            if i + 1 == len(argv) or argv[i + 1].startswith("-"):
                raise InvalidInputError(f"{TRUST_FLAG} needs the sha256 of the --ckpt_path file you trust: "
                                        f"{TRUST_FLAG} SHA256 (printed by: sha256sum FILE)")
            hashes.append(argv[i + 1])
            i += 2
        elif arg.startswith(TRUST_FLAG + "="):
            hashes.append(arg.split("=", 1)[1])
            i += 1
        else:
            rest.append(arg)
            i += 1
    return check_trust(hashes or None, TRUST_FLAG), rest


def private_copy(path: str, folder: str) -> str:
    """Copy ``path``'s bytes into ``folder`` (private to this user, made by ``tempfile.mkdtemp``), for a trusted
    checkpoint: gazekit checks the copy's sha256 and Lightning unpickles the same copy, which no one else can
    change in between (the original could be)."""
    import os

    data = Path(path).read_bytes()
    dest = os.path.join(folder, Path(path).name)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return dest


def run_lightning(subcommand: str, argv: list[str]) -> int:
    """Run LightningCLI's ``subcommand``. A ``--ckpt_path`` file is read with the weights-only reader (an
    unreadable one is refused before Lightning touches it: see docs/security.md) unless ``--trust-checkpoint
    SHA256`` names its sha256; then a private copy of the file is checked and Lightning loads that copy."""
    import shutil
    import tempfile

    from pytorch_lightning import LightningDataModule, LightningModule
    from pytorch_lightning.cli import LightningCLI

    trust, argv = pop_trust_flag(argv)
    checked: dict[str, str] = {}  # --ckpt_path -> the private copy whose sha256 matched `trust`
    folder = tempfile.mkdtemp(prefix="gazekit-checked-") if trust is not None else None

    class GazekitCLI(LightningCLI):
        def _parse_ckpt_path(self) -> None:  # Lightning's first read of --ckpt_path (its hyper-parameters)
            from gazekit.models._checkpoint import check_lightning_checkpoint

            sub = self.config.get("subcommand")
            ckpt = self.config[sub].get("ckpt_path") if sub else None
            if not (ckpt and Path(ckpt).is_file()):
                return
            if folder is not None:
                checked[str(ckpt)] = private_copy(ckpt, folder)
            state = check_lightning_checkpoint(checked.get(str(ckpt), ckpt), trust=trust)
            # as LightningCLI._parse_ckpt_path, from the state already read (it would re-read weights-only)
            hparams = dict(state.get("hyper_parameters") or {})
            hparams.pop("_instantiator", None)
            if not hparams:
                return
            if "_class_path" in hparams:
                hparams = {"class_path": hparams.pop("_class_path"), "dict_kwargs": hparams}
            try:
                self.config = self.parser.parse_object({sub: {"model": hparams}}, self.config)
            except SystemExit:
                sys.stderr.write("Parsing of ckpt_path hyperparameters failed!\n")
                raise

        def _prepare_subcommand_kwargs(self, subcommand: str) -> dict:
            kwargs = super()._prepare_subcommand_kwargs(subcommand)
            ckpt = kwargs.get("ckpt_path")
            if ckpt is not None and str(ckpt) in checked:
                kwargs["ckpt_path"] = checked[str(ckpt)]  # the bytes whose sha256 matched
            if ckpt is not None and "weights_only" in self._subcommand_method_arguments[subcommand]:
                # Lightning's own load: full unpickling only of the private copy checked above
                kwargs["weights_only"] = str(ckpt) not in checked  # trusted: sha256-checked
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
    try:
        GazekitCLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            args=[subcommand, *argv],
            save_config_kwargs={"overwrite": True},
        )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
