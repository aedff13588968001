"""``gazekit models``: list registered models, what they predict, what they need, and their weights."""

from __future__ import annotations

import json

COMMAND = "models"
HELP = "list registered models: what each predicts, its inputs, and shipped weights"
DESCRIPTION = ("List every registered model (or those matching PATTERN): what it predicts (positions, durations, "
               "stop, density), what it needs as input (image, target text/template/box, object boxes) and which "
               "weights are shipped with gazekit or known by tag.")


def add_arguments(parser) -> None:
    """Options of ``gazekit models``: a name pattern and ``--json``."""
    parser.add_argument("pattern", nargs="?", default="*", help="wildcard filter on model names (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    """Print the registered models matching the pattern (from the generated catalog: no model module is imported).
    Returns the exit status.
    """
    from rich.console import Console
    from rich.table import Table

    from gazekit.models.registry import catalog

    rows = catalog(args.pattern)  # the generated listing: no model module (and no torch) is imported
    if not rows:  # a pattern that matches nothing is most often a misspelt name
        from gazekit.errors import UnknownNameError

        raise UnknownNameError("model", args.pattern, [r["name"] for r in catalog()])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"gazekit models ({len(rows)})")
    for col in ("name", "predicts", "inputs", "weights", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["predicts"]), ", ".join(r["inputs"]), ", ".join(r["weights"]) or "-",
                      r.get("description", ""))
    Console().print(table)
    return 0
