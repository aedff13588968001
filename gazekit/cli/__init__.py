"""The ``gazekit`` command.

A thin dispatcher: ``train``/``fit``/``validate``/``test`` go to LightningCLI (YAML configs with
``class_path``/``init_args``), and so does ``predict --config FILE`` (``predict IMAGE...`` predicts on image
files); every other subcommand is a module in this package that defines
``COMMAND``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Adding a module adds a command.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from gazekit.errors import GazekitError

LIGHTNING_COMMANDS = {"train": "fit", "fit": "fit", "validate": "validate", "test": "test"}
PREDICT_CONFIG_EPILOG = (
    "With a YAML config instead of image files, 'gazekit predict --config FILE [LightningCLI options]' runs "
    "LightningCLI's predict on the config's model and datamodule (test split) and writes the predicted scanpaths "
    "as one table (default <log dir>/predictions/scanpaths.csv); options: --ckpt_path CKPT, --writer.out_dir DIR, "
    "--writer.n_samples N, --writer.seed S, --writer.format csv|parquet|json, --trainer.limit_predict_batches K. "
    "See 'gazekit predict --config FILE --help'.")


def _is_config_predict(argv: list[str]) -> bool:
    """``predict`` with a LightningCLI config (``--config``/``-c``) rather than image files."""
    return bool(argv) and argv[0] == "predict" and any(
        a in ("--config", "-c") or a.startswith("--config=") for a in argv[1:])


def _command_modules() -> dict:
    mods = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "COMMAND"):
            mods[mod.COMMAND] = mod
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="gazekit",
        description="Model human gaze and visual search: train scanpath models, score eye-tracking data, "
        "predict where (and when) people look.",
        epilog="Training commands (LightningCLI, YAML configs): gazekit train|fit|validate|test|predict --config FILE. "
        "Run 'gazekit COMMAND --help' for each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in (("train", "train a model from a YAML config (alias of fit)"),
                        ("fit", "train a model from a YAML config (LightningCLI)"),
                        ("validate", "validate a model from a YAML config (LightningCLI)"),
                        ("test", "test a model from a YAML config (LightningCLI)")):
        sub.add_parser(name, help=help_, add_help=False)
    mods = _command_modules()
    for name in sorted(mods):
        mod = mods[name]
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           epilog=PREDICT_CONFIG_EPILOG if name == "predict" else None)
        mod.add_arguments(p)
    return parser, mods


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from gazekit.cli._lightning import run_lightning

        return run_lightning(LIGHTNING_COMMANDS[argv[0]], argv[1:])
    if _is_config_predict(argv):
        from gazekit.cli._lightning import run_lightning

        return run_lightning("predict", argv[1:])
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return int(mods[args.command].run(args) or 0)
    except GazekitError as err:
        print(f"gazekit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
