"""``gazekit evaluate --model NAME-OR-CHECKPOINT --data DATASET``: score a model against humans and baselines.

The protocol is chosen by the model's ``task_kind`` (``freeview``, ``search``, ``object_search``; see
:mod:`gazekit.evaluation`). ``--split test`` scores the held-out test images of the standard image split (the one
:class:`gazekit.datasets.datamodule.GazeDataModule` trains with: fractions 0.8/0.1/0.1, seed 0) and fits the
baselines on its training images; ``--split all`` scores every image (for a folder the model never saw; the
baselines are then fitted on the same images, which the output says).
"""

from __future__ import annotations

import json

from gazekit.cli._common import format_cell, open_source, write_json
from gazekit.cli._common import print_table as _print_table

COMMAND = "evaluate"
HELP = "score a model against human scanpaths, baselines and the human ceiling"
DESCRIPTION = __doc__


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="registered name, NAME:WEIGHTS, or checkpoint path")
    p.add_argument("--data", required=True, help="registered dataset name or a scanpath table file")
    p.add_argument("--root", default=None, help="dataset folder (default: its folder under the data root)")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                   help="which images to score (default test)")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"),
                   help="image split fractions (default 0.8 0.1 0.1, as the DataModule)")
    p.add_argument("--split-seed", type=int, default=0, help="image split seed (default 0, as the DataModule)")
    p.add_argument("--max-images", type=int, default=None, help="score only the first N images of the split")
    p.add_argument("--n-samples", type=int, default=None, help="scanpaths sampled per image (default: evaluator's)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load a --model checkpoint file even if it holds Python objects beyond tensors and plain "
                        "values (unpickling such a file can run code: only for files you trust; see docs/security.md)")
    p.add_argument("--no-pair-metrics", action="store_true", help="skip MultiMatch/ScanMatch/SS (faster)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the full result as JSON")


def print_table(rows: list[dict]) -> None:
    methods: list[str] = []
    for r in rows:
        for k in r:
            if k not in ("metric", "higher_is_better") and k not in methods:
                methods.append(k)
    cells = [[r["metric"], *(format_cell(r.get(m), digits=3, none="") for m in methods)] for r in rows]
    _print_table(["metric", *((m, {"justify": "right"}) for m in methods)], cells, show_lines=False)


def run(args) -> int:
    from gazekit.datasets.splits import split_by
    from gazekit.evaluation import get_evaluator
    from gazekit.models.registry import load_predictor

    model = load_predictor(args.model, trust=args.trust_checkpoint)
    data = open_source(args.data, root=args.root)
    names = sorted(set(data.scanpaths.image))
    train_images = None
    if args.split != "all":
        index = split_by(data.scanpaths.image, tuple(args.fractions), args.split_seed)
        images_of = {k: sorted({data.scanpaths.image[i] for i in idx.tolist()}) for k, idx in index.items()}
        names, train_images = images_of[args.split], images_of["train"]
    if args.max_images:
        names = names[: args.max_images]
    evaluator = get_evaluator(model.task_kind)
    result = evaluator(model, data, images=names, train_images=train_images, model_name=args.model, seed=args.seed,
                       n_samples=args.n_samples, show_progress=True, pair_metrics=not args.no_pair_metrics)
    result.setdefault("split", args.split)
    if "table" in result:
        print(f"{args.model} on {data.name} ({args.split}: {len(names)} images)")
        print_table(result["table"])
    else:
        print(json.dumps(result, indent=1, default=str))
    if args.json:
        write_json(args.json, result, indent=1, strict=True)
        print(f"wrote {args.json}")
    return 0
