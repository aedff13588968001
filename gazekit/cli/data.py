"""``gazekit data``: inspect and convert datasets (registered names or table files).

```text
gazekit data list
gazekit data info  <name-or-path> [--root DIR] [--json]
gazekit data convert <name-or-path> --out FILE.{csv,parquet,json} [--root DIR]
```
"""

from __future__ import annotations

import json
import sys
import time

COMMAND = "data"
HELP = "inspect (info) and convert datasets: registered names or scanpath table files"
DESCRIPTION = ("Inspect or convert a dataset. NAME is a registered dataset (see 'gazekit data list') or the path "
               "of a long-form fixation table (.csv/.tsv/.parquet/.json). The first load parses the raw files and "
               "caches them ($GAZEKIT_CACHE, default ~/.cache/gazekit); later loads read the cache.")


def add_arguments(parser) -> None:
    """The ``list``, ``info`` and ``convert`` actions and their options."""
    from gazekit.cli._sources import add_source_options

    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list registered datasets")
    for name, help_ in (("info", "counts and properties of a dataset"),
                        ("convert", "write a dataset as a long-form table (one row per fixation)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("dataset", metavar="NAME_OR_PATH", help="registered dataset name or table file")
        p.add_argument("--root", default=None, help="dataset folder (default: its folder under $GAZEKIT_DATA)")
        add_source_options(p)
        p.add_argument("--no-cache", action="store_true", help="parse the raw files even if a cached copy exists")
        if name == "info":
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        else:
            p.add_argument("--out", required=True, help="output file: .csv, .parquet or .json")


def _load(args, console):
    from gazekit.cli._sources import open_sources

    start = time.perf_counter()
    from gazekit.progress import bars_enabled

    if bars_enabled(console):  # the reader draws a bar over its records while it parses (first use only)
        console.print(f"[bold]loading {args.dataset}[/] (parsing raw files on first use, then from the cache)")
    data = open_sources({"data": args.dataset}, args, root=args.root, cache=not args.no_cache)["data"]
    return data, time.perf_counter() - start


def _geometry(sp) -> dict:
    """Pixels per degree and screen geometry, as distinct known values (absent: empty list)."""
    import math

    ppd = sorted({round(float(v), 4) for v in sp.ppd.tolist() if not math.isnan(v)})
    screens = sorted({tuple(row) for row in sp.screen.tolist() if not any(math.isnan(v) for v in row)})
    return {"pixels_per_degree": ppd[:5] + (["..."] if len(ppd) > 5 else []),
            "screen_px_cm_distance": [list(s) for s in screens[:5]] + (["..."] if len(screens) > 5 else [])}


def _info_table(summary: dict, seconds: float, console) -> None:
    from rich.table import Table

    table = Table(title=f"dataset {summary['name']}", show_header=False)
    table.add_column("property", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if key == "name":
            continue
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    console.print(f"loaded in {seconds:.2f} s")


def run(args) -> int:
    """Run ``gazekit data``: list the registered datasets, or load one (name or table file) and print its summary or
    write it as a table. Returns the exit status.
    """
    from rich.console import Console

    console = Console(stderr=True)
    if args.data_command == "list":
        from gazekit.datasets.catalog import list_dataset_infos  # read from the sources: no reader, no torch

        for name, info in list_dataset_infos().items():
            print(f"{name:16s} {info.get('description', '')}")
        return 0
    data, seconds = _load(args, console)
    if args.data_command == "info":
        summary = {**data.summary(), **_geometry(data.scanpaths)}
        if args.json:
            print(json.dumps({**summary, "load_seconds": round(seconds, 3)}, indent=2, default=str))
        else:
            _info_table(summary, seconds, Console())
        return 0
    from pathlib import Path

    from gazekit.errors import InvalidInputError

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet", ".json"):
        raise InvalidInputError(f"--out must end in .csv, .parquet or .json, got {out.name!r}")
    with console.status(f"writing {out} ...", spinner="dots"):
        data.scanpaths.save(out)
    print(f"wrote {len(data.scanpaths)} scanpaths, {data.scanpaths.num_fixations} fixations to {out} "
          f"(loaded in {seconds:.2f} s)", file=sys.stdout)
    return 0
