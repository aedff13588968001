"""``python -m gazekit.models.export CHECKPOINT OUT.pt``: the weights-only file a model ships, from a training checkpoint.

Any gazekit checkpoint (a Lightning ``.ckpt`` of a gazekit model, or a ``save_checkpoint`` file): the family is
picked from the file by :func:`gazekit.models.load_checkpoint` (weights-only reader), and the model's own
``save_checkpoint`` writes ``OUT.pt`` atomically. Prints its sha256 (for the ``WeightSpec``) and size.
"""

from __future__ import annotations

import sys
from pathlib import Path


def export(checkpoint: str | Path, out: str | Path) -> str:
    """Write ``out`` from ``checkpoint``; returns its sha256."""
    from gazekit.models import load_checkpoint

    digest = load_checkpoint(checkpoint).save_checkpoint(out)
    size = Path(out).stat().st_size
    shown = f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    print(f"{out}: sha256 {digest} ({shown})")
    return digest


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``CHECKPOINT OUT.pt``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit("usage: python -m gazekit.models.export CHECKPOINT OUT.pt")
    export(argv[0], argv[1])


if __name__ == "__main__":
    main()
