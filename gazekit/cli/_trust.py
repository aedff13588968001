"""``--trust-checkpoint SHA256``, the opt-in of ``gazekit predict`` and ``gazekit evaluate`` (docs/security.md)."""

from __future__ import annotations

import argparse

TRUST_HELP = ("load the model checkpoint file whose sha256 is SHA256 even if it holds Python objects beyond "
              "tensors and plain values (unpickling such a file can run code: only for a file you reviewed). "
              "`sha256sum FILE` prints the hash; a checkpoint file with other bytes is then refused. Repeat the "
              "option for each checkpoint file the command reads. See docs/security.md")


def _sha256(value: str) -> str:
    from gazekit.errors import InvalidInputError
    from gazekit.models._checkpoint import check_trust

    try:
        return next(iter(check_trust(value, "--trust-checkpoint")))
    except InvalidInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-checkpoint", metavar="SHA256", type=_sha256, action="append", default=None,
                        help=TRUST_HELP)
