"""Speed of the search models on real Interiors images (1024 x 768): scanpaths per second and the share of the time
spent in the foveation ops, batched (all images in one call) vs one image per call (how the public eccNet and
NevaClip code runs).

    python benchmarks/bench_search.py [--images 10] [--clip-model RN50] [--clip-steps 20] [--clip-fixations 4]

* ``ecc-search`` (weight-free filter bank): one search per image from a human start point, up to 12 saccades,
  stopping on the target box (so the number of attention steps depends on the data; it is printed).
* ``foveated-clip-search``: open_clip ``--clip-model`` with random weights (the compute is the same as with real
  weights; none can be downloaded here), searching for the target name for ``--clip-fixations`` fixations
  (start included) with ``--clip-steps`` sign-gradient steps each, no stop rule (fixed work per scanpath).

Foveation time is measured by wrapping :func:`gazekit.ops.eccentricity_pool` / :func:`gazekit.ops.foveate`.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from gazekit import ops
from gazekit.datasets import load_dataset
from gazekit.evaluation.search import select_search_trials
from gazekit.images import load_image
from gazekit.models import create_model
from gazekit.models.base import PredictRequest


class OpTimer:
    """Wraps a function of :mod:`gazekit.ops` and sums the wall time spent inside it."""

    def __init__(self, name: str):
        self.name, self.seconds, self.calls = name, 0.0, 0
        self.fn = getattr(ops, name)

    def __enter__(self):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return self.fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        setattr(ops, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(ops, self.name, self.fn)


def interiors_requests(n_images: int) -> PredictRequest:
    ds = load_dataset("interiors")
    sp = ds.scanpaths
    keep = select_search_trials(sp, 12)
    first: dict[str, int] = {}
    for i in keep.tolist():
        first.setdefault(sp.image[i], i)
    rows = [first[name] for name in sorted(first)[:n_images]]
    trials = sp[rows]
    images = torch.stack([load_image(ds.images[name]) for name in trials.image])
    templates = [load_image(ds.templates[name], min_side=4) for name in trials.image]
    return PredictRequest(images=images, image_names=list(trials.image), target_text=list(trials.task),
                          templates=templates, target_box=trials.target_box.clone(), seed=0, max_fixations=13,
                          extra={"start_xy": torch.stack([trials.x[:, 0], trials.y[:, 0]], dim=-1)})


def split(request: PredictRequest, i: int) -> PredictRequest:
    return PredictRequest(images=request.images[i: i + 1], image_names=request.image_names[i: i + 1],
                          target_text=request.target_text[i: i + 1] if request.target_text else None,
                          templates=request.templates[i: i + 1] if request.templates else None,
                          target_box=None if request.target_box is None else request.target_box[i: i + 1],
                          seed=request.seed, max_fixations=request.max_fixations,
                          extra={"start_xy": request.extra["start_xy"][i: i + 1]})


def run(model, request: PredictRequest, op_name: str, batched: bool) -> dict:
    with OpTimer(op_name) as timer, torch.no_grad() if op_name == "eccentricity_pool" else torch.enable_grad():
        t = time.perf_counter()
        if batched:
            out = model.predict_scanpaths(request)
            fixations = int(out.lengths.sum())
        else:
            fixations = 0
            for i in range(len(request.image_names)):
                fixations += int(model.predict_scanpaths(split(request, i)).lengths.sum())
        seconds = time.perf_counter() - t
    n = len(request.image_names)
    return {"seconds": seconds, "scanpaths_per_s": n / seconds, "fixations": fixations,
            "foveation_share": timer.seconds / seconds, "foveation_calls": timer.calls}


def report(name: str, batched: dict, single: dict) -> None:
    print(f"\n{name}")
    for label, r in (("batched (one call)", batched), ("one image per call", single)):
        print(f"  {label:20s} {r['seconds']:7.2f} s  {r['scanpaths_per_s']:7.3f} scanpaths/s  "
              f"{r['fixations']:4d} fixations  foveation {100 * r['foveation_share']:5.1f}% "
              f"({r['foveation_calls']} calls)")
    print(f"  batched / one-at-a-time speed: {single['seconds'] / batched['seconds']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--clip-model", default="RN50")
    parser.add_argument("--clip-steps", type=int, default=20)
    parser.add_argument("--clip-fixations", type=int, default=4)
    parser.add_argument("--skip-clip", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.images} Interiors images 1024x768")
    request = interiors_requests(args.images)

    ecc = create_model("ecc-search")
    run(ecc, split(request, 0), "eccentricity_pool", True)  # warm-up
    report("ecc-search (filter bank, stop on target, <= 12 saccades)",
           run(ecc, request, "eccentricity_pool", True), run(ecc, request, "eccentricity_pool", False))

    if not args.skip_clip:
        clip = create_model("foveated-clip-search", model_name=args.clip_model, steps=args.clip_steps,
                            max_fixations=args.clip_fixations, stop_on_target=False, prompt="a photo of a {}.")
        request.max_fixations = args.clip_fixations
        report(f"foveated-clip-search ({args.clip_model}, random weights, {args.clip_steps} steps x "
               f"{args.clip_fixations - 1} fixations)",
               run(clip, request, "foveate", True), run(clip, request, "foveate", False))


if __name__ == "__main__":
    main()
