"""``gazekit score``: score predicted scanpaths against human scanpaths, with the human ceiling beside them."""

from __future__ import annotations

import sys

from gazekit.cli._common import format_cell as _fmt
from gazekit.cli._common import print_table, write_csv, write_json
from gazekit.errors import GazekitError, InvalidInputError

COMMAND = "score"
SCORE_JSON_VERSION = 2  # 2: 'format', 'version' and 'validation' added (docs/formats.md)
HELP = "score predicted scanpaths against human scanpaths (pairs by image and task), with a human baseline"
DESCRIPTION = (
    "Pair every predicted scanpath with the human scanpaths on the same image (and task), score the pairs with "
    "the chosen scanpath metrics and print a table of means. PRED and HUMAN are scanpath tables "
    "(.csv/.tsv/.parquet/.json: gazekit's own, or any table with image, subject, x and y columns, see --columns) "
    "or registered dataset names (see 'gazekit data list'). Invalid fixations follow --on-invalid; what was "
    "dropped or clipped is printed and written to the JSON ('validation'). "
    "--human-baseline adds the leave-one-subject-out human score (each subject against every other subject on "
    "the same image), computed on the images and tasks of the predictions when --pred is given. --protocol picks a named preset (default, chenlstm, tppgaze, scandiff) that fixes "
    "preprocessing and metric settings.")


def add_arguments(parser) -> None:
    """Options of ``gazekit score``: predictions, humans, metrics, protocol, grouping and outputs."""
    parser.add_argument("--pred", help="predicted scanpaths: a table file or a dataset name (omit with "
                                       "--human-baseline to score only the humans)")
    parser.add_argument("--human", help="human scanpaths: a table file or a dataset name (required unless --list)")
    parser.add_argument("--metrics", nargs="+", metavar="METRIC",
                        help="pair metrics by registry name (default: the protocol's set)")
    parser.add_argument("--by", choices=("image", "subject", "task"), help="one row per image, subject or task")
    parser.add_argument("--human-baseline", action="store_true",
                        help="add the leave-one-subject-out human score column")
    parser.add_argument("--protocol", default="default", help="evaluation preset (default: %(default)s)")
    parser.add_argument("--keys", nargs="+", default=["image", "task"],
                        help="attributes a prediction and a human scanpath must share (default: image task)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write the result rows as CSV")
    parser.add_argument("--list", action="store_true", help="list the pair metrics and protocols, then exit")
    parser.add_argument("--devices", type=int, default=1, metavar="N",
                        help="CPU processes that share the pairs (Lightning Fabric, DDP over gloo); the results "
                             "equal one process's (default: %(default)s)")
    from gazekit.cli._sources import add_source_options

    add_source_options(parser)


def _print_listing(console) -> None:
    # the torch-free catalog (read from the registration decorators) and presets: listing imports no metric code
    from gazekit.metrics.catalog import list_metrics
    from gazekit.metrics.presets import PROTOCOLS

    fold = {"overflow": "fold"}
    rows = [[m.name, m.better, ", ".join(m.outputs), ", ".join(m.needs), m.description]
            for m in list_metrics("pair")]
    print_table([(c, fold) for c in ("name", "better", "outputs", "needs", "description")], rows,
                title="pair metrics", console=console)
    print_table(["name", ("description", fold)],
                [[name, p.description + (f" Reading: {p.reading}" if p.reading else "")]
                 for name, p in sorted(PROTOCOLS.items())], title="protocols", console=console)


def _evaluate(pred, human, args, *, show_progress: bool, scorer=None):
    """:func:`gazekit.metrics.protocols.evaluate` with the command's options, under progress bars (stderr)."""
    from gazekit.cli._common import progress_callback
    from gazekit.metrics.pairing import score_pairs
    from gazekit.metrics.protocols import evaluate

    with progress_callback(show_progress) as progress:
        return evaluate(pred, human, args.protocol, metrics=args.metrics, by=args.by,
                        human_baseline=args.human_baseline, keys=args.keys, progress=progress,
                        scorer=scorer or score_pairs, cluster_fitter=getattr(scorer, "fit_clusters", None))


def _evaluate_rank(fabric, pred, human, args):
    """One worker of ``--devices N``: scores its share of every pair list (gathered on all ranks); rank 0 returns
    the :class:`~gazekit.metrics.protocols.ScoreResult` (or the message of a gazekit error)."""
    from gazekit.metrics.distributed import ShardedPairScorer

    try:
        result = _evaluate(pred, human, args, show_progress=fabric.global_rank == 0, scorer=ShardedPairScorer())
    except GazekitError as err:
        return str(err)
    return result if fabric.global_rank == 0 else None


def run(args) -> int:
    """Score predicted (or only human) scanpaths against humans and print and write the table. Returns the exit status.
    """
    from rich.console import Console

    console = Console(stderr=False)
    if args.list:
        _print_listing(console)
        return 0
    if args.human is None:
        raise InvalidInputError("--human HUMAN is required (a table file or a dataset name); 'gazekit score --list' "
                                "lists the metrics and protocols")
    if args.pred is None and not args.human_baseline:
        raise InvalidInputError("give --pred PRED, or --human-baseline to score the human scanpaths alone")
    if args.devices < 1:
        raise InvalidInputError(f"--devices must be >= 1, got {args.devices}")
    if args.metrics:  # a misspelt name fails here, with close matches, before any data is read
        from gazekit.metrics.registry import get_pair_metric

        for name in args.metrics:
            get_pair_metric(name)
    from gazekit.cli._sources import open_sources, validation_json, validation_line

    sources = open_sources({"human": args.human, "pred": args.pred}, args)
    human = sources["human"].scanpaths
    pred = sources["pred"].scanpaths if "pred" in sources else None
    if pred is not None:  # a user's table may name images without extension: match them by stem, as files are
        from gazekit.datasets._images import match_names

        renamed = match_names(pred.image, human.image)
        if renamed:
            pred.image = [renamed.get(name, name) for name in pred.image]
    for label, data in sources.items():
        line = validation_line(f"--{label}", data)
        if line:
            print(f"gazekit score: {line}", file=sys.stderr)
    if args.devices == 1:
        result = _evaluate(pred, human, args, show_progress=True)
    else:
        import multiprocessing

        from lightning_fabric import Fabric

        # forked workers (not a re-run of sys.argv, nothing re-imported), so `main([...])` works from any program;
        # rank 0 returns the result and this process prints and writes it exactly as a single-process run does
        fork = "fork" in multiprocessing.get_all_start_methods()
        fabric = Fabric(accelerator="cpu", strategy="ddp_fork" if fork else "ddp_spawn", devices=args.devices)
        outcome = fabric.launch(_evaluate_rank, pred, human, args)
        if isinstance(outcome, str):
            raise GazekitError(outcome)
        result = outcome
    distribution = any("kl" in r for r in result.rows)
    title = (f"gazekit score: protocol {result.protocol!r}, {len(human)} human"
             + (f", {len(pred)} predicted" if pred is not None else "") + " scanpaths")
    right = {"justify": "right"}
    columns = (["group"] if args.by else []) + ["metric", "better"]
    columns += [("model", right)] if pred is not None else []
    columns += [("human (LOSO)", right)] if args.human_baseline or distribution else []
    columns += [("KL(human||model)", right)] if distribution else []
    rows = []
    for r in result.rows:
        cells = ([r["group"]] if args.by else []) + [r["metric"], "higher" if r["higher_is_better"] else "lower"]
        if pred is not None:
            cells.append(_fmt(r["model"]))
        if args.human_baseline or distribution:
            cells.append(_fmt(r["human"]))
        if distribution:
            cells.append(_fmt(r.get("kl")))
        rows.append(cells)
    print_table(columns, rows, title=title, console=console)
    for label, diversity in result.diversity.items():
        console.print(f"diversity ({label}): " + ", ".join(f"{k} {_fmt(v)}" for k, v in diversity.items()))
    if result.unmatched_predictions:
        console.print(f"[yellow]{result.unmatched_predictions} predicted scanpaths had no human scanpath on their "
                      f"image/task and were not scored[/yellow]")
    if not result.report.empty:
        console.print(f"[yellow]protocol preprocessing: {result.report}[/yellow]")
    for label, reason in result.skipped.items():
        console.print(f"[yellow]skipped {label}: {reason}[/yellow]")
    if args.json:
        write_json(args.json, {"format": "gazekit-score", "version": SCORE_JSON_VERSION, **result.to_dict(),
                               "validation": validation_json(sources)})
    if args.csv:
        write_csv(args.csv, result.rows)
    if not result.rows:
        console.print("[red]no metric could be computed[/red]")
        return 1
    return 0
