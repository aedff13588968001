"""``gazekit plot``: pictures from files (scanpath tables, evaluation and score JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from gazekit.errors import DataFormatError, InvalidInputError

COMMAND = "plot"
HELP = "draw scanpaths, densities, human-vs-model panels, TFP curves, duration histograms, metric bars"
DESCRIPTION = """Make a picture from files. KINDS:
  scanpath  IMAGE SCANPATHS   numbered fixations (circle size by duration), saccade arrows; --gif animates one
  density   IMAGE SCANPATHS   fixation density heatmap (Gaussian KDE, --sigma px)
  compare   IMAGE --human FILE --model FILE   human and model scanpaths side by side
  tfp       EVAL.json         target-fixation probability curves from 'gazekit evaluate' on a search model
  durations SCANPATHS...      fixation duration histograms, one per file or dataset
  metrics   SCORES.json       metric bars from 'gazekit score --json' or 'gazekit evaluate --json', with the human ceiling
SCANPATHS is a table written by gazekit (.csv/.parquet/.json) or a registered dataset name. For IMAGE, scanpaths
whose 'image' field equals the file name (or its stem) are drawn; if none match and the table holds a single
image, all of its scanpaths are drawn."""


def add_arguments(parser) -> None:
    """The plot kind, its inputs and the output options."""
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("kind", choices=["scanpath", "density", "compare", "tfp", "durations", "metrics"])
    parser.add_argument("inputs", nargs="*", help="IMAGE and/or files, depending on KIND")
    parser.add_argument("--out", required=True, help="output PNG (or .gif with --gif)")
    parser.add_argument("--human", help="human scanpaths (compare)")
    parser.add_argument("--model", help="model scanpaths (compare)")
    parser.add_argument("--subject", help="draw only this subject's scanpaths")
    parser.add_argument("--max-scanpaths", type=int, default=3, help="scanpaths drawn per panel (default 3)")
    parser.add_argument("--gif", action="store_true", help="scanpath: animate the first selected scanpath")
    from gazekit.cli._sources import add_source_options

    add_source_options(parser)
    parser.add_argument("--sigma", type=float, default=24.0, help="density: kernel width in px (default 24 ~ 1 deg "
                        "on OSIE)")


def _need(args, n: int, what: str) -> list[str]:
    if len(args.inputs) != n:
        raise InvalidInputError(f"gazekit plot {args.kind} expects {what}, got {len(args.inputs)} argument(s)")
    return args.inputs


def _load(source: str, args):
    """A scanpath source with the shared data options; what the policy dropped or clipped is printed."""
    import sys

    from gazekit.cli._sources import open_sources, validation_line

    data = open_sources({"scanpaths": source}, args)["scanpaths"]
    line = validation_line(source, data)
    if line:
        print(f"gazekit plot: {line}", file=sys.stderr)
    return data.scanpaths


def _for_image(sp, image_path: str, subject: str | None, args=None, image=None):
    """The scanpaths drawn on ``image_path``: their ``image`` equals its name or stem; unknown sizes are the
    image's own, and positions are checked against it under ``--on-invalid``."""
    import sys

    import torch

    sp = _load(sp, args) if isinstance(sp, str) else sp
    name, stem = Path(image_path).name, Path(image_path).stem
    rows = [i for i, im in enumerate(sp.image) if im in (name, stem) or Path(im).stem == stem]
    if not rows and len(set(sp.image)) == 1:
        rows = list(range(len(sp)))
    if subject is not None:
        rows = [i for i in rows if sp.subject[i] == subject]
    if not rows:
        raise InvalidInputError(f"no scanpath for image {name!r}" + (f" and subject {subject!r}" if subject else "")
                                + f" (the table has images such as {sorted(set(sp.image))[:3]})")
    sp = sp[rows]
    if image is not None:
        unknown = torch.isnan(sp.image_size).any(dim=1)
        size = torch.tensor([float(image.shape[-1]), float(image.shape[-2])], dtype=sp.image_size.dtype)
        sp.image_size = torch.where(unknown[:, None], size, sp.image_size)
        sp, report = sp.validate(getattr(args, "on_invalid", None) or "error", source=image_path)
        if not report.empty:
            print(f"gazekit plot: on {name}: {report}", file=sys.stderr)
    return sp


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise DataFormatError(f"cannot read JSON: {err}", file=path) from err


def _metric_scores(doc: dict, source: str) -> tuple[dict, dict, dict]:
    """(model -> {metric: value}, metric -> human value, metric -> higher is better) from score JSON ('rows') or
    evaluate JSON ('table')."""
    scores: dict[str, dict] = {}
    ceiling: dict[str, float] = {}
    higher: dict[str, bool] = {}
    if "rows" in doc:
        for r in doc["rows"]:
            label = r["metric"] if r.get("group") in (None, "all", "") else f"{r['metric']} [{r['group']}]"
            if isinstance(r.get("higher_is_better"), bool):
                higher[label] = r["higher_is_better"]
            if r.get("model") is not None:
                scores.setdefault("model", {})[label] = r["model"]
            if r.get("human") is not None:
                ceiling[label] = r["human"]
    elif "table" in doc:
        for r in doc["table"]:
            if isinstance(r.get("higher_is_better"), bool):
                higher[r["metric"]] = r["higher_is_better"]
            for method, value in r.items():
                if method in ("metric", "higher_is_better") or isinstance(value, bool) or \
                        not isinstance(value, (int, float)):
                    continue
                if method.startswith("human"):
                    ceiling[r["metric"]] = value
                else:
                    scores.setdefault(method, {})[r["metric"]] = value
    else:
        raise DataFormatError("expected 'rows' (gazekit score --json) or 'table' (gazekit evaluate --json)",
                              file=source)
    if not scores:
        raise DataFormatError("no model scores found", file=source)
    return scores, ceiling, higher


def run(args) -> int:
    """Draw one plot of the chosen kind and write it (PNG, or GIF with ``--gif``). Returns the exit status."""
    from gazekit.images import load_image
    from gazekit.plotting import charts, scenes
    from gazekit.plotting.overlay import plot_scanpath_overlay

    kind, out = args.kind, args.out
    if kind in ("scanpath", "density"):
        image_path, table = _need(args, 2, "IMAGE SCANPATHS")
        image = load_image(image_path)
        sp = _for_image(table, image_path, args.subject, args, image)
        if kind == "density":
            path = scenes.plot_fixation_density(image, sp, out, sigma_px=args.sigma,
                                                title=f"{len(sp)} scanpaths, {sp.num_fixations} fixations")
        elif args.gif:
            path = scenes.animate_scanpath(image, sp, out)
        else:
            path = plot_scanpath_overlay(image, sp, out, rows=list(range(min(args.max_scanpaths, len(sp)))))
    elif kind == "compare":
        (image_path,) = _need(args, 1, "IMAGE (with --human and --model)")
        if not (args.human and args.model):
            raise InvalidInputError("gazekit plot compare needs --human FILE and --model FILE")
        image = load_image(image_path)
        panels = {"human": _for_image(args.human, image_path, args.subject, args, image),
                  "model": _for_image(args.model, image_path, None, args, image)}
        path = scenes.plot_side_by_side(image, panels, out, rows=args.max_scanpaths)
    elif kind == "tfp":
        (source,) = _need(args, 1, "EVAL.json")
        doc = _read_json(source)
        curves = {k: v["tfp_curve"] for k, v in doc.items() if isinstance(v, dict) and "tfp_curve" in v}
        if not curves:
            raise DataFormatError("no 'tfp_curve' entries (expected 'gazekit evaluate --json' of a search model)",
                                  file=source)
        path = charts.plot_tfp_curves(curves, out)
    elif kind == "durations":
        if not args.inputs:
            raise InvalidInputError("gazekit plot durations needs at least one scanpath table or dataset name")
        data = {}
        for src in args.inputs:
            sp = _load(src, args)
            data[Path(src).stem] = sp.duration[sp.mask].numpy()
        path = charts.plot_duration_histograms(data, out)
    else:
        (source,) = _need(args, 1, "SCORES.json")
        scores, ceiling, higher = _metric_scores(_read_json(source), source)
        path = charts.plot_metric_bars(scores, out, ceiling=ceiling, higher_is_better=higher)
    print(f"wrote {path}")
    return 0
