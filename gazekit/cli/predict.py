"""``gazekit predict IMAGE [IMAGE...]``: scanpaths (and a density) for new images with any registered model.

Writes into ``--out``: ``scanpaths.csv`` and ``scanpaths.json`` (the canonical long-form table, all images),
and per image ``<stem>_scanpaths.png`` (numbered fixations, circle area by duration, saccade arrows) and, for
models with a density, ``<stem>_density.png`` (the model's fixation density averaged over the steps of its
sampled scanpaths). Works offline.

Model specs (``--model``): a registered name (``gazekit models``), ``NAME:WEIGHTS`` (a weight tag or a checkpoint
path for that model), or a path to any gazekit checkpoint file (its ``format`` field names the model). Checkpoint
files are read without running code from them; ``--trust-checkpoint`` lifts that for a file you trust.
"""

from __future__ import annotations

import json
from pathlib import Path

from gazekit.errors import InvalidInputError

COMMAND = "predict"
HELP = "predict scanpaths (and a density) for images with a gaze model"
DESCRIPTION = __doc__
DEFAULT_MODEL = "tpp-osie"


def add_arguments(p) -> None:
    """Options of ``gazekit predict IMAGE...``: the model, sampling, the search inputs and the output folder."""
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"registered name, NAME:WEIGHTS, or checkpoint path (default {DEFAULT_MODEL})")
    p.add_argument("--n-samples", type=int, default=10, help="scanpaths per image (default 10)")
    p.add_argument("--seconds", type=float, default=None, help="viewing time horizon in s (default: the model's)")
    p.add_argument("--max-fixations", type=int, default=None, help="maximum fixations per scanpath")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0: most likely)")
    p.add_argument("--target", default=None, help="search target name or caption (search models)")
    p.add_argument("--template", default=None, help="target template image (search models)")
    p.add_argument("--boxes", default=None,
                   help="JSON object boxes [[x0,y0,x1,y1],...] for all images, or {image file name: boxes}; "
                        "optionally {\"boxes\": [...], \"target\": index} (object-search models)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load a --model checkpoint file even if it holds Python objects beyond tensors and plain "
                        "values (unpickling such a file can run code: only for files you trust; see docs/security.md)")
    p.add_argument("--out", default="gazekit-predictions", help="output folder (default ./gazekit-predictions)")
    p.add_argument("--plot-samples", type=int, default=3, help="scanpaths drawn per overlay (default 3)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")


def _read_boxes(path: str | None, image_name: str):
    if path is None:
        return None, None
    import torch

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"--boxes {path!r}: cannot read JSON ({err})") from err
    target = None
    if isinstance(data, dict) and "boxes" in data:
        target, data = data.get("target"), data["boxes"]
    elif isinstance(data, dict):
        if image_name not in data:
            raise InvalidInputError(f"--boxes {path!r} has no entry for image {image_name!r}")
        data = data[image_name]
        if isinstance(data, dict):
            target, data = data.get("target"), data.get("boxes")
    try:
        boxes = torch.tensor(data, dtype=torch.float32).reshape(-1, 4)
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidInputError(f"--boxes {path!r}: boxes must be [[x0, y0, x1, y1], ...] ({err})") from err
    return boxes, (None if target is None else int(target))


def build_request(image, name: str, args):
    """The :class:`PredictRequest` for one image from the command-line options."""
    from gazekit.images import load_image
    from gazekit.models.base import PredictRequest

    boxes, target_index = _read_boxes(args.boxes, name)
    return PredictRequest(
        images=image[None], image_names=[name], n_samples=args.n_samples, seconds=args.seconds,
        max_fixations=args.max_fixations, temperature=args.temperature, seed=args.seed,
        target_text=[args.target] if args.target else None,
        templates=[load_image(args.template)] if args.template else None,
        boxes=[boxes] if boxes is not None else None,
        target_index=[target_index] if target_index is not None else None,
    )


def mean_density(model, image, scanpaths):
    """``[H, W]`` log of the model's conditional density averaged over every step of ``scanpaths``."""
    import math

    import torch

    from gazekit.models.base import AverageDensityModel, ConditionalDensityModel

    if not isinstance(model, ConditionalDensityModel) or len(scanpaths) == 0:
        return None
    batch = image[None].expand(len(scanpaths), *image.shape)
    with torch.no_grad():
        if isinstance(model, AverageDensityModel):  # same result without the [B, L, H, W] maps
            return model.average_log_density(batch, scanpaths)
        maps = model.conditional_log_density(batch, scanpaths)
    mask = scanpaths.mask[:, : maps.shape[1]]
    if maps.shape[1] > mask.shape[1] or not mask.any():  # history-free models return one map per step
        return maps[0, 0]
    valid = maps[mask.to(maps.device)]
    return torch.logsumexp(valid, 0) - math.log(valid.shape[0])


def run(args) -> int:
    """Predict scanpaths on image files and write the table and the overlay and density PNGs. Returns the exit status.
    """
    import torch

    from gazekit.images import load_image
    from gazekit.models.registry import load_predictor
    from gazekit.progress import new_progress
    from gazekit.scanpaths import Scanpaths

    if args.n_samples < 1:
        raise InvalidInputError(f"--n-samples must be >= 1, got {args.n_samples}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_predictor(args.model, trust=args.trust_checkpoint)
    results = []
    with new_progress() as progress:
        task = progress.add_task("predicting", total=len(args.images))
        for path in args.images:
            image = load_image(path)
            name = Path(path).name
            with torch.no_grad():
                sp = model.predict_scanpaths(build_request(image, name, args))
            results.append(sp)
            if not args.no_plots:
                from gazekit.plotting.overlay import plot_density_heatmap, plot_scanpath_overlay

                stem = Path(path).stem
                rows = list(range(min(args.plot_samples, len(sp))))
                plot_scanpath_overlay(image, sp, out / f"{stem}_scanpaths.png", rows=rows,
                                      title=f"{args.model}: {len(rows)} of {len(sp)} samples")
                dens = mean_density(model, image, sp)
                if dens is not None:
                    plot_density_heatmap(image, dens, out / f"{stem}_density.png", title=f"{args.model}: density")
            progress.advance(task)
    table = Scanpaths.concat(results).to_table()
    from gazekit.scanpaths import write_table

    write_table(table, out / "scanpaths.csv")
    write_table(table, out / "scanpaths.json")
    print(f"wrote {sum(len(r) for r in results)} scanpaths for {len(results)} image(s) to {out}/")
    return 0
