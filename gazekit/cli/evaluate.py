"""``gazekit evaluate --model NAME-OR-CHECKPOINT --data DATASET``: score a model against humans and baselines.

The protocol is chosen by the model's ``task_kind`` (``freeview``, ``search``, ``object_search``; see
:mod:`gazekit.evaluation`). ``--split test`` scores the held-out test images of the standard image split (the one
:class:`gazekit.datasets.datamodule.GazeDataModule` trains with: fractions 0.8/0.1/0.1, seed 0) and fits the
baselines on its training images; ``--split all`` scores every image (for a folder the model never saw; the
baselines are then fitted on the same images, which the output says).
"""

from __future__ import annotations

import json
import sys

from gazekit.cli._common import format_cell, open_source, write_json
from gazekit.cli._common import print_table as _print_table
from gazekit.errors import InvalidInputError

EVALUATE_JSON_VERSION = 2  # 2: 'format', 'version' and 'validation' added (docs/formats.md)
COMMAND = "evaluate"
HELP = "score a model against human scanpaths, baselines and the human ceiling"
DESCRIPTION = (
    "Score a model against human scanpaths, baselines and the human ceiling. The protocol follows the model's kind "
    "(freeview, search, object_search). --split test scores the held-out test images of the standard image split "
    "(the one training uses: fractions 0.8/0.1/0.1, seed 0) and fits the baselines on its training images; --split "
    "all scores every image (for data the model never saw; the baselines are then fitted on the same images, which "
    "the output says, unless --baselines-from names a data set whose training split fits them). --data is a "
    "registered data set, or your own fixation table with --images DIR (image sizes are read from the files; "
    "--columns, --time-unit and --on-invalid as for 'gazekit data'). The JSON output is documented in "
    "docs/formats.md.")


def add_arguments(p) -> None:
    """Options of ``gazekit evaluate``: the model, the data, the split, sampling and the output files."""
    p.add_argument("--model", default=None, help="registered name, NAME:WEIGHTS, or checkpoint path (required unless "
                                                 "--leave-one-out)")
    p.add_argument("--leave-one-out", action="append", default=None, metavar="HELD_OUT=MODEL",
                   help="leave-one-data-set-out table: MODEL (trained on the other data sets of osie, eyecrowd, "
                        "nus_sun500) scored on HELD_OUT's test split against HELD_OUT's own centre bias, history "
                        "baseline and human density; repeat for each held-out data set (docs/freeview-data.md)")
    p.add_argument("--data", default=None, help="(required unless --leave-one-out) registered dataset name, 'table' "
                                                "(with --root FILE), or a scanpath table file; a table needs "
                                                "--images DIR for the image files")
    p.add_argument("--root", default=None, help="dataset folder, or the table file with --data table (default: "
                                                "the dataset's folder under the data root)")
    p.add_argument("--baselines-from", default=None, metavar="DATASET",
                   help="fit the centre-bias and uniform baselines on this registered data set's training split "
                        "(same --fractions and --split-seed) instead of the evaluated data set's (in-sample with "
                        "--split all)")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                   help="which images to score (default test)")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"),
                   help="image split fractions (default 0.8 0.1 0.1, as the DataModule)")
    p.add_argument("--split-seed", type=int, default=0, help="image split seed (default 0, as the DataModule)")
    p.add_argument("--max-images", type=int, default=None, help="score only the first N images of the split")
    p.add_argument("--n-samples", type=int, default=None, help="scanpaths sampled per image (default: evaluator's)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    from gazekit.cli._trust import add_trust_option

    add_trust_option(p)
    p.add_argument("--no-pair-metrics", action="store_true", help="skip MultiMatch/ScanMatch/SS (faster)")
    p.add_argument("--baselines", nargs="*", default=None, choices=("centre-bias", "uniform", "history"),
                   metavar="NAME", help="free viewing: the baselines scored next to the model (centre-bias, uniform, "
                                        "history; default all three; the option alone: none, faster)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full result as JSON")
    from gazekit.cli._device import add_device_option
    from gazekit.cli._sources import add_source_options

    add_device_option(p)
    add_source_options(p)
    from gazekit.cli._decoding import add_decoding_options

    add_decoding_options(p)
    p.add_argument("--by-index", action="store_true",
                   help="free viewing: also print the model's and the humans' statistics per fixation index (distance "
                        "to centre, saccade amplitude, return rate, human-density gain)")


def print_table(rows: list[dict]) -> None:
    """Print evaluation rows (one per metric, one column per method) as a table."""
    methods: list[str] = []
    for r in rows:
        for k in r:
            if k not in ("metric", "higher_is_better") and k not in methods:
                methods.append(k)
    cells = [[r["metric"], *(format_cell(r.get(m), digits=3, none="") for m in methods)] for r in rows]
    _print_table(["metric", *((m, {"justify": "right"}) for m in methods)], cells, show_lines=False)


def print_by_index(by_index: dict) -> None:
    """Per fixation index: the model's value / the humans' (``by_index`` of a free-viewing result)."""
    keys = (("centre_deg", "centre (deg)"), ("amplitude_deg", "amplitude (deg)"), ("return_rate", "returns"),
            ("gain_bits", "gain (bits)"))
    model = next(m for m in by_index if m != "human")
    rows = {m: {r["k"]: r for r in by_index[m]} for m in (model, "human")}
    ks = list(dict.fromkeys([*rows[model], *rows["human"]]))

    def cell(k, key):
        return " / ".join(format_cell(rows[m].get(k, {}).get(key), digits=2, none="-") for m in (model, "human"))

    print(f"per fixation index, {model} / human (the last row pools the later fixations)")
    _print_table(["k", *(label for _, label in keys)], [[str(k), *(cell(k, key) for key, _ in keys)] for k in ks],
                 show_lines=False)


def run_leave_one_out(args) -> int:
    """``gazekit evaluate --leave-one-out HELD_OUT=MODEL ...`` (see :mod:`gazekit.evaluation.lodo`)."""
    from gazekit.cli._decoding import decoding_kwargs
    from gazekit.evaluation.lodo import leave_one_dataset_out

    models = {}
    for entry in args.leave_one_out:
        held_out, sep, spec = entry.partition("=")
        if not sep or not held_out or not spec:
            raise InvalidInputError(f"--leave-one-out expects HELD_OUT=MODEL, got {entry!r}")
        models[held_out] = spec
    result = leave_one_dataset_out(models, split=args.split if args.split != "all" else "test",
                                   fractions=tuple(args.fractions), split_seed=args.split_seed, seed=args.seed,
                                   n_samples=args.n_samples, max_images=args.max_images,
                                   pair_metrics=not args.no_pair_metrics, trust=args.trust_checkpoint,
                                   show_progress=True, decoding=decoding_kwargs(args) or None)
    rows = [{"metric": f"held out: {r['held_out']} ({r['images']} images)", "model": r["model"],
             "history": r["history"], "human": r["human"], "share of human gain": r["share"]} for r in result["rows"]]
    print(f"leave one data set out: spatial IG over the held-out set's centre bias (bits/fixation), target share "
          f">= {result['target_share']}")
    print_table(rows)
    if args.json:
        write_json(args.json, result, indent=1, strict=True)
        print(f"wrote {args.json}")
    return 0


def run(args) -> int:
    """Run ``gazekit evaluate``: load the model and the data split and call the evaluator registered for the model's
    ``task_kind``. Returns the exit status.
    """
    from gazekit.datasets.splits import split_by
    from gazekit.evaluation import get_evaluator
    from gazekit.models.registry import load_predictor

    from gazekit.cli._sources import open_sources, validation_json, validation_line

    from gazekit.cli._device import OnDevice, resolve_device

    if args.leave_one_out:
        return run_leave_one_out(args)
    if not args.model or not args.data:
        raise InvalidInputError("gazekit evaluate needs --model and --data (or --leave-one-out HELD_OUT=MODEL)")
    model = OnDevice(load_predictor(args.model, trust=args.trust_checkpoint), resolve_device(args.device))
    data = open_sources({"data": args.data}, args, root=args.root, cache=True)["data"]
    line = validation_line("--data", data)
    if line:
        print(f"gazekit evaluate: {line}", file=sys.stderr)
    names = sorted(set(data.scanpaths.image))
    train_images = None
    if args.split != "all":
        index = split_by(data.scanpaths.image, tuple(args.fractions), args.split_seed)
        images_of = {k: sorted({data.scanpaths.image[i] for i in idx.tolist()}) for k, idx in index.items()}
        names, train_images = images_of[args.split], images_of["train"]
    extra = {}
    if args.baselines_from:
        if model.task_kind != "freeview":
            raise InvalidInputError(f"--baselines-from applies to free-viewing models; {args.model!r} is a "
                                    f"{model.task_kind} model")
        other = open_source(args.baselines_from)
        index = split_by(other.scanpaths.image, tuple(args.fractions), args.split_seed)
        extra = {"train_scanpaths": other.scanpaths[index["train"]], "train_source": f"{other.name} (train split)"}
        train_images = None
    if args.max_images:
        names = names[: args.max_images]
    from gazekit.cli._decoding import decoding_kwargs

    decoding = decoding_kwargs(args)
    if decoding:
        if model.task_kind != "freeview":
            raise InvalidInputError(f"decoding options (--image-scale, --saliency-beta, --return-rate, ...) apply to "
                                    f"free-viewing models; {args.model!r} is a {model.task_kind} model")
        extra["decoding"] = decoding
    if args.baselines is not None:
        if model.task_kind != "freeview":
            raise InvalidInputError(f"--baselines applies to free-viewing models; {args.model!r} is a "
                                    f"{model.task_kind} model")
        extra["baselines"] = tuple(args.baselines)
    evaluator = get_evaluator(model.task_kind)
    result = evaluator(model, data, images=names, train_images=train_images, model_name=args.model, seed=args.seed,
                       n_samples=args.n_samples, show_progress=True, pair_metrics=not args.no_pair_metrics, **extra)
    result.setdefault("split", args.split)
    result = {"format": "gazekit-evaluate", "version": EVALUATE_JSON_VERSION, **result,
              "validation": validation_json({"data": data})}
    if "table" in result:
        print(f"{args.model} on {data.name} ({args.split}: {len(names)} images)")
        print_table(result["table"])
        if args.by_index and result.get("by_index"):
            print_by_index(result["by_index"])
    else:
        print(json.dumps(result, indent=1, default=str))
    if args.json:
        write_json(args.json, result, indent=1, strict=True)
        print(f"wrote {args.json}")
    return 0
