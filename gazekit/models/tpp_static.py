"""The static saliency map as TPP's image term, and the cache of those maps for training.

A TPP model built with ``static_map="saliency-freeview"`` adds, to the cell logits of every step, the static map's
*image* logits (the saliency readout after its blur, without the saliency model's own centre-bias prior: the TPP
has its own) as a log-softmax over the TPP's density cells, times a weight that the history context sets (so the
image can matter more for the first fixations than for later ones). The saliency model is referenced by name
(sha256-checked shipped weights) and is not part of the TPP's weights.

Training reads the maps from a cache instead of recomputing the saliency features (about 2 s per image) every
epoch: ``python -m gazekit.models.tpp_static OUT.pt --features DIR`` writes ``{"<data set>/<image>": logits}`` for
every image of the data sets (the keys of :class:`~gazekit.datasets.multi.MultiGazeDataModule`), from the saliency
feature cache ``DIR`` (:mod:`gazekit.models.saliency_data`) where it has the image, else from the image file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gazekit.errors import InvalidInputError

FORMAT = "gazekit-static-logits"


@torch.no_grad()
def image_logits(saliency, images: Tensor) -> Tensor:
    """``[N, 3, H, W]`` RGB in [0, 1] -> ``[N, 1, gh, gw]`` image logits of the saliency model (its readout grid)."""
    was = saliency.training
    saliency.eval()
    try:
        return torch.cat([saliency.grid_logits(saliency.features(img.cpu())) for img in images]).float() \
            .to(images.device)
    finally:
        saliency.train(was)


def cell_log_softmax(logits: Tensor, gh: int, gw: int) -> Tensor:
    """``[N, 1, h, w]`` logits -> ``[N, gh * gw]`` log-softmax over a ``gh x gw`` grid of cells (bilinear resize
    of the logits to the cell centres)."""
    cells = F.interpolate(logits.float(), size=(gh, gw), mode="bilinear", align_corners=False)
    return F.log_softmax(cells.flatten(1), -1)


def load_cache(path: str | Path, model: str | None = None) -> dict[str, Tensor]:
    """A cache written by :func:`build_cache` (read weights-only): image key -> ``[1, gh, gw]`` float16 logits.
    ``model``: the saliency model the maps must come from (a cache of another model's maps is refused)."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InvalidInputError(f"{str(path)!r} is not a static-logit cache (format {FORMAT!r}); build one with "
                                "python -m gazekit.models.tpp_static")
    if model is not None and state.get("model") != model:
        raise InvalidInputError(f"static-logit cache {str(path)!r} holds the maps of {state.get('model')!r}, not "
                                f"of {model!r}; rebuild it with python -m gazekit.models.tpp_static --model {model}")
    return state["logits"]


def lookup(cache: Mapping[str, Tensor], names: Sequence[str], device) -> Tensor:
    """``[N, 1, gh, gw]`` cached logits of images ``names``; a missing key raises naming it. Images resized to one
    canvas can have readout grids a cell apart: those are resized to the largest grid (the logits are resized to
    the density cells anyway)."""
    missing = [n for n in names if n not in cache]
    if missing:
        raise InvalidInputError(f"static-logit cache has no entry for {missing[:3]} ({len(missing)} missing); "
                                "rebuild it with python -m gazekit.models.tpp_static")
    maps = [cache[n].float() for n in names]
    size = (max(m.shape[-2] for m in maps), max(m.shape[-1] for m in maps))
    maps = [m if tuple(m.shape[-2:]) == size else
            F.interpolate(m[None], size=size, mode="bilinear", align_corners=False)[0] for m in maps]
    return torch.stack(maps).to(device)


def build_cache(out: str | Path, model: str = "saliency-freeview", datasets: Sequence[str] = ("osie", "eyecrowd",
                "nus_sun500"), features: str | Path | None = None) -> int:
    """Write the image logits of every image of ``datasets`` under model ``model`` to ``out`` (atomically).
    Returns the number of images."""
    from gazekit._atomic import atomic_path
    from gazekit.datasets.registry import load_dataset
    from gazekit.images import load_image
    from gazekit.models.saliency_data import cache_path, load_cached
    from gazekit.models.tpp_decoding import saliency_model
    from gazekit.progress import new_progress

    sal = saliency_model(model)
    sal.eval()
    todo = [(name, image, path) for name in datasets for image, path in sorted(load_dataset(name).images.items())]
    logits: dict[str, Tensor] = {}
    progress = new_progress()
    task = progress.add_task("static maps", total=len(todo))
    with progress, torch.no_grad():
        for name, image, path in todo:
            if features is not None and cache_path(Path(features), name, image).is_file():
                item = load_cached(Path(features), name, image)
            else:
                item = sal.features(load_image(path))
            logits[f"{name}/{image}"] = sal.grid_logits(item)[0].half()
            progress.advance(task)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({"format": FORMAT, "version": 1, "model": model, "logits": logits}, str(tmp))
    return len(logits)


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gazekit.models.tpp_static",
                                     description="cache the static saliency map's image logits for TPP training")
    parser.add_argument("out", help="output .pt file")
    parser.add_argument("--model", default="saliency-freeview", help="registered saliency model")
    parser.add_argument("--datasets", nargs="+", default=["osie", "eyecrowd", "nus_sun500"])
    parser.add_argument("--features", default=None, help="saliency feature cache folder (gazekit.models."
                        "saliency_data); images not in it are computed from their files")
    args = parser.parse_args(argv)
    n = build_cache(args.out, args.model, args.datasets, args.features)
    print(f"wrote {n} maps to {args.out}")


if __name__ == "__main__":
    sys.exit(_main())
