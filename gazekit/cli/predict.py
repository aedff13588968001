"""``gazekit predict IMAGE|FOLDER [...]``: scanpaths (and a density) for new images with any registered model.

Writes into ``--out``: ``scanpaths.csv`` and ``scanpaths.json`` (the canonical long-form table, all images),
and per image ``<name>_scanpaths.png`` (numbered fixations, circle area by duration, saccade arrows) and, for
models with a density, ``<name>_density.png`` (the model's fixation density averaged over the steps of its
sampled scanpaths, with a colour bar). Folders are searched recursively; files that are not images (by suffix)
are skipped, counted and listed. Images are read as displayed (EXIF orientation applied, alpha composited onto
white); images longer than ``--max-side`` px are predicted on a copy of that size (the models work at a few
hundred px) and the scanpaths are reported in the original pixels. Works offline.

``--maps`` also writes the static fixation density of each image (the ``saliency`` family: image -> normalised
log-density per pixel; ``--map-model``, default ``saliency-freeview``): ``<stem>_saliency.npy`` (float32 natural-log
density per pixel, ``H x W`` as the image (as its ``--max-side`` copy when longer), summing to 1 in probability) and ``<stem>_saliency.png`` (the image and the map in bits
over uniform, with a colour bar). A density-only model given as ``--model`` writes these maps and no scanpaths.

Model specs (``--model``): a registered name (``gazekit models``), ``NAME:WEIGHTS`` (a weight tag or a checkpoint
path for that model), or a path to any gazekit checkpoint file (its ``format`` field names the model). Checkpoint
files are read without running code from them; ``--trust-checkpoint SHA256`` lifts that for the one file you
reviewed, named by its sha256.
"""

from __future__ import annotations

import json
from pathlib import Path

from gazekit.errors import InvalidInputError

COMMAND = "predict"
HELP = "predict scanpaths (and a density) for images with a gaze model"
DESCRIPTION = (
    "Predict scanpaths (and a density) for images with a gaze model. IMAGE is an image file or a folder (searched "
    "recursively; non-image files are skipped, counted and listed). Writes OUT/scanpaths.csv and OUT/scanpaths.json "
    "(one row per fixation, px and ms, in the image's original pixels), and per image NAME_scanpaths.png and, for "
    "models with a density, NAME_density.png (with a colour bar). Images are read as displayed (EXIF orientation "
    "applied, transparency composited onto white); images longer than --max-side px are predicted on a copy of "
    "that size. --model is a registered name (see 'gazekit models'), NAME:WEIGHTS, or a checkpoint file (read "
    "without running code from it; --trust-checkpoint SHA256 lifts that for the file you reviewed, named by its "
    "sha256). Works offline.")
DEFAULT_MODEL = "tpp-freeview"
DEFAULT_MAP_MODEL = "saliency-freeview"


def add_arguments(p) -> None:
    """Options of ``gazekit predict IMAGE...``: the model, sampling, the search inputs and the output folder."""
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...) or folders of them")
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
    from gazekit.cli._trust import add_trust_option

    add_trust_option(p)
    p.add_argument("--out", default="gazekit-predictions", help="output folder (default ./gazekit-predictions)")
    p.add_argument("--plot-samples", type=int, default=3, help="scanpaths drawn per overlay (default 3)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--max-side", type=int, default=2048, metavar="PX",
                   help="predict on a copy at most PX px long when an image is longer (coordinates are still "
                        "reported in the original pixels; 0: always full size; default 2048)")
    p.add_argument("--on-invalid", choices=("error", "drop"), default="error",
                   help="an unreadable or too small image file: error stops with its name (default); drop skips "
                        "it, and the skipped files are counted and listed")
    from gazekit.cli._device import add_device_option

    add_device_option(p)
    p.add_argument("--maps", action="store_true",
                   help="also write each image's static fixation log-density (.npy) and a PNG with a colour bar")
    p.add_argument("--map-model", default=None,
                   help=f"the static density model for --maps (default {DEFAULT_MAP_MODEL})")
    from gazekit.cli._decoding import add_decoding_options

    add_decoding_options(p)


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


def build_request(image, name: str, args, scale: float = 1.0):
    """The :class:`PredictRequest` for one image from the command-line options (``scale``: working size over the
    original size; boxes given in original pixels are scaled with it)."""
    from gazekit.cli._decoding import decoding_kwargs
    from gazekit.images import load_image
    from gazekit.models.base import PredictRequest

    boxes, target_index = _read_boxes(args.boxes, name)
    if boxes is not None and scale != 1.0:
        boxes = boxes * scale
    return PredictRequest(
        images=image[None], image_names=[name], n_samples=args.n_samples, seconds=args.seconds,
        max_fixations=args.max_fixations, temperature=args.temperature, seed=args.seed,
        target_text=[args.target] if args.target else None,
        templates=[load_image(args.template)] if args.template else None,
        boxes=[boxes] if boxes is not None else None,
        target_index=[target_index] if target_index is not None else None,
        **decoding_kwargs(args, scale),
    )


def mean_density(model, image, scanpaths, decoding: dict | None = None):
    """``[H, W]`` log of the model's conditional density averaged over every step of ``scanpaths`` (``decoding``:
    the request's decoding options, for models that take them)."""
    import math

    import torch

    from gazekit.models.base import AverageDensityModel, ConditionalDensityModel

    if not isinstance(model, ConditionalDensityModel) or len(scanpaths) == 0:
        return None
    batch = image[None].expand(len(scanpaths), *image.shape)
    with torch.no_grad():
        if isinstance(model, AverageDensityModel):  # same result without the [B, L, H, W] maps
            return model.average_log_density(batch, scanpaths, **(decoding or {}))
        maps = model.conditional_log_density(batch, scanpaths, **(decoding or {}))
    mask = scanpaths.mask[:, : maps.shape[1]]
    if maps.shape[1] > mask.shape[1] or not mask.any():  # history-free models return one map per step
        return maps[0, 0]
    valid = maps[mask.to(maps.device)]
    return torch.logsumexp(valid, 0) - math.log(valid.shape[0])


DISPLAY_SIDE = 1024  # px: the long side of the overlays and density maps predict draws


def _display_copy(image, sp):
    """The image (and scanpaths) at most ``DISPLAY_SIDE`` px long, for the plots and the density map."""
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    if max(h, w) <= DISPLAY_SIDE:
        return image, sp
    s = DISPLAY_SIDE / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    small = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return small.clamp_(0.0, 1.0), sp.rescale(float(size[1]), float(size[0]))


def collect_images(inputs: list[str]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """``(image files with their names, skipped non-image files)``: a folder contributes its image files
    (recursively, sorted; named by their path relative to the folder), a file itself; missing paths are errors."""
    from gazekit.datasets._images import IMAGE_SUFFIXES

    images, skipped = [], []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = f.relative_to(path)
                if f.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in rel.parts):
                    images.append((f, rel.as_posix()))
                else:
                    skipped.append(f)
        elif path.is_file():
            (images.append((path, path.name)) if path.suffix.lower() in IMAGE_SUFFIXES else skipped.append(path))
        else:
            raise InvalidInputError(f"{text!r} does not exist (give image files or folders of images)")
    return images, skipped


def _listing(paths: list, limit: int = 10) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def write_maps(model, image, stem: Path, label: str, plots: bool = True) -> None:
    """``<stem>_saliency.npy`` (float32 log-density per pixel) and, with ``plots``, ``<stem>_saliency.png``."""
    from gazekit.plotting.maps import plot_log_density_map, save_log_density

    ld = model.predict_log_density(image)
    save_log_density(ld, stem.parent / f"{stem.name}_saliency.npy")
    if plots:
        plot_log_density_map(image, ld, stem.parent / f"{stem.name}_saliency.png", title=f"{label}: static density")


def run(args) -> int:
    """Predict scanpaths on image files and folders and write the table and the overlay and density PNGs.
    Returns the exit status."""
    import sys

    import torch

    from gazekit.cli._device import model_to, resolve_device
    from gazekit.images import read_image
    from gazekit.models.registry import load_predictor
    from gazekit.progress import new_progress
    from gazekit.scanpaths import Scanpaths

    if args.n_samples < 1:
        raise InvalidInputError(f"--n-samples must be >= 1, got {args.n_samples}")
    if args.max_side < 0:
        raise InvalidInputError(f"--max-side must be >= 0 (0: full size), got {args.max_side}")
    device = resolve_device(args.device)
    model = model_to(load_predictor(args.model, trust=args.trust_checkpoint), device)  # a misspelt name fails first
    images, skipped = collect_images(args.images)
    if skipped:
        print(f"gazekit predict: skipped {len(skipped)} file(s) that are not images (by suffix): {_listing(skipped)}",
              file=sys.stderr)
    if not images:
        raise InvalidInputError("no image files among the inputs" + (f" ({len(skipped)} other file(s) skipped)"
                                                                     if skipped else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    density_only = not hasattr(model, "predict_scanpaths")
    map_model = None
    if args.maps or density_only:
        map_model = model if density_only and args.map_model is None else load_predictor(
            args.map_model or DEFAULT_MAP_MODEL, trust=args.trust_checkpoint)
        if not hasattr(map_model, "predict_log_density"):
            raise InvalidInputError(f"--map-model {args.map_model or DEFAULT_MAP_MODEL!r} gives no static density "
                                    "(use a 'saliency' model)")
    results, unreadable = [], []
    with new_progress() as progress:
        task = progress.add_task("predicting", total=len(images))
        for path, name in images:
            try:
                image, (width, height) = read_image(path, max_side=args.max_side or None)
            except InvalidInputError as err:
                if args.on_invalid == "error":
                    raise InvalidInputError(f"{err}; pass --on-invalid drop to skip such files") from err
                unreadable.append(f"{path} ({err})")
                progress.advance(task)
                continue
            scale = image.shape[-1] / width
            if map_model is not None:
                stem = str(Path(name).with_suffix("")).replace("/", "__")
                write_maps(map_model, image, out / stem, args.map_model or (
                    args.model if density_only else DEFAULT_MAP_MODEL), plots=not args.no_plots)
            if density_only:
                results.append(None)
                progress.advance(task)
                continue
            with torch.no_grad():
                sp = model.predict_scanpaths(build_request(image.to(device), name, args, scale)).to("cpu")
            if scale != 1.0:
                sp_full = sp.rescale(float(width), float(height))
            else:
                sp_full = sp
            results.append(sp_full)
            if not args.no_plots:
                from gazekit.plotting.overlay import plot_density_heatmap, plot_scanpath_overlay

                stem = str(Path(name).with_suffix("")).replace("/", "__")
                rows = list(range(min(args.plot_samples, len(sp))))
                shown, sp_shown = _display_copy(image, sp)
                plot_scanpath_overlay(shown, sp_shown, out / f"{stem}_scanpaths.png", rows=rows,
                                      title=f"{args.model}: {len(rows)} of {len(sp)} samples")
                from gazekit.cli._decoding import decoding_kwargs

                dens = mean_density(model, shown.to(device), sp_shown.to(device),
                                    decoding_kwargs(args, shown.shape[-1] / width))
                if dens is not None:
                    plot_density_heatmap(shown, dens.cpu(), out / f"{stem}_density.png",
                                         title=f"{args.model}: density")
            progress.advance(task)
    if unreadable:
        print(f"gazekit predict: skipped {len(unreadable)} unreadable image file(s) (--on-invalid drop): "
              f"{_listing(unreadable)}", file=sys.stderr)
    if not results:
        raise InvalidInputError("no image could be read: nothing predicted")
    if density_only:
        print(f"wrote static density maps for {len(results)} image(s) to {out}/")
        return 0
    table = Scanpaths.concat(results).to_table()
    from gazekit.scanpaths import write_table

    write_table(table, out / "scanpaths.csv")
    write_table(table, out / "scanpaths.json")
    print(f"wrote {sum(len(r) for r in results)} scanpaths for {len(results)} image(s) to {out}/"
          + (f" (skipped: {len(skipped)} non-image, {len(unreadable)} unreadable)" if skipped or unreadable else ""))
    return 0
