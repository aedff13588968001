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
    "--writer.n_samples N, --writer.seed S, --writer.format csv|parquet|json, --trainer.limit_predict_batches K, "
    "--trust-checkpoint SHA256 (load a CKPT that needs full unpickling, whose sha256 is SHA256; docs/security.md). "
    "See 'gazekit predict --config FILE --help'.")


class _SubParsers(argparse._SubParsersAction):
    def add_parser(self, name, **kwargs):
        kwargs.setdefault("description", kwargs.get("help"))  # 'gazekit X Y --help' says what Y does
        return super().add_parser(name, **kwargs)


class GazekitArgumentParser(argparse.ArgumentParser):
    """argparse with close-match suggestions: an unknown choice (command, plot kind, method, ...) is reported
    like every other unknown name in gazekit (:class:`~gazekit.errors.UnknownNameError`), e.g.
    ``argument kind: unknown kind 'scanpth'. Did you mean: scanpath? Known kinds: ...``. Sub-commands without a
    description show their one-line help in their own ``--help``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)

    def _check_value(self, action, value):  # argparse's hook for `choices` (same signature in 3.8-3.13)
        if action.choices is None or value in action.choices:
            return
        from gazekit.errors import UnknownNameError

        if isinstance(action, argparse._SubParsersAction):
            kind = "command" if self.prog == "gazekit" else "action"
        elif not action.option_strings:
            kind = action.dest.replace("_", " ")
        else:
            kind = "value"
        raise argparse.ArgumentError(action, str(UnknownNameError(kind, str(value), [str(c) for c in action.choices])))


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
    """The ``gazekit`` argument parser and its command modules (``{command: module}``): the LightningCLI commands plus
    one sub-parser per module of this package that defines ``COMMAND``.
    """
    parser = GazekitArgumentParser(
        prog="gazekit",
        description="Model human gaze and visual search: train scanpath models, score eye-tracking data, "
        "predict where (and when) people look.",
        epilog="Training commands (LightningCLI, YAML configs): gazekit train|fit|validate|test|predict --config FILE "
        "[--ckpt_path CKPT [--trust-checkpoint SHA256]]. Run 'gazekit COMMAND --help' for each command.",
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
    """Run one command; returns the exit status (2 for a gazekit error, printed as one line on stderr).

    LightningCLI commands (train/fit/validate/test, predict --config) called from Python with an explicit
    ``argv`` raise gazekit errors instead, so callers can tell e.g. a missing dataset from a failure.
    """
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    lightning = LIGHTNING_COMMANDS.get(argv[0]) if argv else None
    if lightning or _is_config_predict(argv):
        from gazekit.cli._lightning import run_lightning

        try:
            return run_lightning(lightning or "predict", argv[1:])
        except GazekitError as err:
            if not from_command_line:
                raise
            print(f"gazekit {argv[0]}: error: {err}", file=sys.stderr)
            return 2
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
