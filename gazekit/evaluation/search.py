"""Visual-search evaluation (``task_kind = "search"``): a search model vs humans and baselines on real data.

Protocol (any dataset with images, target boxes and optionally templates, e.g. Interiors):

* **Trials.** Scanpaths with a target box whose experiment allowed at least ``max_saccades`` saccades (the
  ``nsaccades_allowed`` attribute when the dataset has it, as Interiors does: its trials were cut at 2-64 saccades,
  and a shorter budget would censor the curve), truncated to ``max_saccades + 1`` fixations.
* **Searches.** For each evaluated image, up to ``starts_per_image`` of those trials are drawn (seeded); the model
  and each baseline search from each trial's first fixation (the subject's start point) with the trial's target
  (template, box, target name) and stop on the target box or after ``max_saccades`` saccades.
* **Scores** per method: TFP curve ``TFP(k)``, ``k = 1..max_saccades + 1`` (fixation 0, the start, counts, as in
  :mod:`gazekit.metrics.functional.search`), TFP-AUC (sum), probability mismatch against the human curve,
  target-found rate, mean scanpath length; MultiMatch (5 dimensions) and sequence score (clusters fitted on the
  human scanpaths of each image) of every search against the human scanpath of the trial it started from.
* **Humans.** The curve over all selected trials; the MultiMatch/SS ceiling pairs each evaluated trial with another
  subject's trial on the same image.
* **Datasets without images** (COCO-Search18 as shipped here): only the humans and the baselines that never look at
  pixels (random, centre-out; they need the frame size and the boxes) are evaluated; ``model`` must be None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gazekit.errors import InvalidInputError
from gazekit.evaluation import register_evaluator
from gazekit.models.base import PredictRequest
from gazekit.scanpaths import Scanpaths

__all__ = ["DEFAULT_BASELINES", "evaluate_search", "search_evaluator", "select_search_trials"]

DEFAULT_BASELINES = ("search-random", "search-centre-out", "search-saliency")
IMAGE_FREE_BASELINES = ("search-random", "search-centre-out")


def select_search_trials(scanpaths: Scanpaths, max_saccades: int) -> np.ndarray:
    """Indices of scanpaths with a target box, at least one fixation and (when recorded) a saccade budget of at
    least ``max_saccades``."""
    has_box = ~torch.isnan(scanpaths.target_box).any(dim=1).numpy()
    ok = has_box & (scanpaths.lengths.numpy() > 0)
    budget = scanpaths.scanpath_attrs.get("nsaccades_allowed")
    if budget is not None:
        allowed = np.array([float(v) if v not in ("", "nan") else math.inf for v in budget])
        ok &= allowed >= max_saccades
    return np.flatnonzero(ok)


def _requests(dataset, trials: Scanpaths, batch_images: int):
    """Yield (row indices into ``trials``, PredictRequest) with one request row per trial, grouped by image."""
    from gazekit.images import load_image

    by_image: dict[str, list[int]] = {}
    for i, name in enumerate(trials.image):
        by_image.setdefault(name, []).append(i)
    names = sorted(by_image)
    cache: dict[str, torch.Tensor] = {}
    for lo in range(0, len(names), batch_images):
        rows = [i for name in names[lo: lo + batch_images] for i in by_image[name]]
        images, templates = [], []
        for i in rows:
            name = trials.image[i]
            if not dataset.images:  # no image files: a blank frame for the image-free baselines
                w, h = (int(v) for v in trials.image_size[i].tolist())
                images.append(torch.zeros(3, h, w))
                templates.append(None)
                continue
            if name not in dataset.images:
                raise InvalidInputError(f"dataset {dataset.name!r} has no image file for {name!r}; search evaluation "
                                        "needs the images")
            if name not in cache:
                cache = {name: load_image(dataset.images[name])}  # one image at a time stays in memory
            images.append(cache[name])
            tpl = dataset.templates.get(name)
            templates.append(load_image(tpl, min_side=4) if tpl is not None else None)
        sizes = {tuple(im.shape) for im in images}
        if len(sizes) != 1:
            raise InvalidInputError(f"images of one evaluation batch differ in size: {sorted(sizes)}; use "
                                    "batch_images=1")
        use_templates = all(t is not None for t in templates)
        sel = trials[rows]
        yield rows, PredictRequest(
            images=torch.stack(images), image_names=list(sel.image), target_text=list(sel.task),
            templates=templates if use_templates else None, target_box=sel.target_box.clone(), seed=0,
            extra={"start_xy": torch.stack([sel.x[:, 0], sel.y[:, 0]], dim=-1)})


def _predict_all(model, dataset, trials: Scanpaths, max_saccades: int, batch_images: int, progress) -> Scanpaths:
    out: list[Scanpaths | None] = [None] * len(trials)
    for rows, request in _requests(dataset, trials, batch_images):
        request.max_fixations = max_saccades + 1
        pred = model.predict_scanpaths(request)
        pred.image_size = trials.image_size[rows].clone()
        for j, i in enumerate(rows):
            out[i] = pred[j]
        if progress is not None:
            progress(len(rows))
    return Scanpaths.concat(out)


def _pair_scores(pred: Scanpaths, human: Scanpaths) -> dict[str, float]:
    from gazekit.metrics.registry import get_pair_metric

    scores: dict[str, float] = {}
    mm = get_pair_metric("multimatch")
    values = mm.fn(pred, human, screen_size=tuple(float(v) for v in human.image_size[0].tolist()))
    for j, name in enumerate(mm.outputs):
        col = values[:, j]
        col = col[torch.isfinite(col)]
        scores[f"multimatch_{name}"] = float(col.mean()) if col.numel() else math.nan
    ss = get_pair_metric("sequence_score").fn(pred, human, clusters="fit")
    ss = ss[torch.isfinite(ss)]
    scores["sequence_score"] = float(ss.mean()) if ss.numel() else math.nan
    return scores


def _curve_scores(sp: Scanpaths, max_steps: int, human_curve: torch.Tensor | None) -> dict:
    from gazekit.metrics.functional.search import probability_mismatch, target_fixation_curve, tfp_auc

    curve = target_fixation_curve(sp, max_steps)
    out = {"tfp_curve": [float(v) for v in curve], "tfp_auc": tfp_auc(curve),
           "found_rate": float(curve[-1]), "mean_length": float(sp.lengths.double().mean()), "n_scanpaths": len(sp)}
    if human_curve is not None:
        out["probability_mismatch"] = probability_mismatch(human_curve, curve)
    return out


def evaluate_search(model, dataset, *, max_saccades: int = 12, images: Sequence[str] | int | None = None,
                    starts_per_image: int = 5, baselines: Sequence[str] = DEFAULT_BASELINES,
                    model_name: str = "model", batch_images: int = 1, seed: int = 0,
                    pair_metrics: bool = True, show_progress: bool = False) -> dict:
    """Evaluate a search model (``predict_scanpaths`` with templates / target_box / target_text) and baselines.

    Args:
        model: a gazekit search model (``task_kind == "search"``), or None to score only baselines and humans.
        dataset: a loaded :class:`~gazekit.datasets.base.GazeDataset` with images and target boxes.
        max_saccades: saccades per search (scanpaths hold ``max_saccades + 1`` fixations with the start).
        images: image names to evaluate, or an int (that many images, the first in sorted order), or None (all).
        starts_per_image: trials (start points) drawn per image.
        baselines: registered baseline model names.
        batch_images: images per ``predict_scanpaths`` call.
        seed: trial drawing and model seeds.
        pair_metrics: also compute MultiMatch and sequence score against the humans (slower).

    Returns:
        ``{"human": scores, model_name: scores, <baseline>: scores, ..., "protocol": {...}}``; each scores dict
        holds ``tfp_curve``, ``tfp_auc``, ``probability_mismatch`` (not for humans), ``found_rate``,
        ``mean_length``, ``n_scanpaths`` and, with ``pair_metrics``, ``multimatch_*`` and ``sequence_score``.
    """
    from gazekit.models import create_model

    if max_saccades < 1 or starts_per_image < 1 or batch_images < 1:
        raise InvalidInputError("max_saccades, starts_per_image and batch_images must be >= 1")
    sp = dataset.scanpaths
    keep = select_search_trials(sp, max_saccades)
    if len(keep) == 0:
        raise InvalidInputError(f"dataset {dataset.name!r} has no target-present trials with a budget of "
                                f">= {max_saccades} saccades")
    human_all = sp[keep.tolist()].truncate(max_saccades + 1)
    if not dataset.images:
        # only what the data supports: humans and the baselines that never look at pixels
        bad = [b for b in baselines if b not in IMAGE_FREE_BASELINES]
        if model is not None or bad:
            raise InvalidInputError(f"dataset {dataset.name!r} ships no images: only the humans and the image-free "
                                    f"baselines {IMAGE_FREE_BASELINES} can be evaluated (model=None), not "
                                    f"{['model'] if model is not None else bad}")
        if bool(torch.isnan(human_all.image_size).any()):
            raise InvalidInputError(f"dataset {dataset.name!r} has no images and no image_size")
        all_names = sorted(set(human_all.image))
    else:
        all_names = sorted(set(human_all.image) & set(dataset.images))
    if isinstance(images, int):
        names = all_names[:images]
    elif images is None:
        names = all_names
    else:
        names = [n for n in images if n in set(all_names)]
    if not names:
        raise InvalidInputError("no evaluable images (images with files and selected trials)")
    name_set = set(names)
    rng = np.random.default_rng(seed)
    by_image: dict[str, list[int]] = {}
    for i, name in enumerate(human_all.image):
        if name in name_set:
            by_image.setdefault(name, []).append(i)
    chosen, partners = [], []
    for name in names:
        rows = by_image[name]
        pick = rng.choice(len(rows), size=min(starts_per_image, len(rows)), replace=False)
        for p in sorted(pick.tolist()):
            chosen.append(rows[p])
            others = [r for r in rows if human_all.subject[r] != human_all.subject[rows[p]]]
            partners.append(others[int(rng.integers(len(others)))] if others else -1)
    trials = human_all[chosen]
    human_sel = human_all[[i for i, n in enumerate(human_all.image) if n in name_set]]
    max_steps = max_saccades + 1
    results: dict = {"human": _curve_scores(human_sel, max_steps, None)}
    human_curve = torch.tensor(results["human"]["tfp_curve"], dtype=torch.float64)
    if pair_metrics:
        ok = [j for j, p in enumerate(partners) if p >= 0]
        if ok:
            results["human"].update(_pair_scores(human_all[[partners[j] for j in ok]], trials[ok]))

    methods = ([(model_name, model)] if model is not None else []) + [(b, create_model(b)) for b in baselines]
    progress = None
    bar = None
    if show_progress:
        from gazekit.progress import new_progress

        bar = new_progress()  # counts and times, on stderr
        bar.start()
    try:
        for label, m in methods:
            if getattr(m, "task_kind", "search") != "search":
                raise InvalidInputError(f"{label!r} is not a search model (task_kind={m.task_kind!r})")
            if bar is not None:
                task = bar.add_task(f"searching: {label}", total=len(trials))
                progress = lambda n, task=task: bar.advance(task, n)
            pred = _predict_all(m, dataset, trials, max_saccades, batch_images, progress)
            pred = Scanpaths.concat([pred]).truncate(max_steps)
            pred.target_box = trials.target_box.clone()  # score every method against the same boxes
            scores = _curve_scores(pred, max_steps, human_curve)
            if pair_metrics:
                scores.update(_pair_scores(pred, trials))
            results[label] = scores
    finally:
        if bar is not None:
            bar.stop()
    results["protocol"] = {"dataset": dataset.name, "max_saccades": max_saccades, "images": len(names),
                           "starts_per_image": starts_per_image, "searches": len(trials),
                           "human_trials": len(human_sel), "seed": seed}
    return results


TABLE_METRICS = ("tfp_auc", "probability_mismatch", "found_rate", "mean_length", "multimatch_vector",
                 "multimatch_direction", "multimatch_length", "multimatch_position", "multimatch_duration",
                 "sequence_score", "n_scanpaths")


@register_evaluator("search")
def search_evaluator(model, dataset, *, images=None, train_images=None, model_name: str = "model", seed: int = 0,
                     n_samples: int | None = None, show_progress: bool = False, **options) -> dict:
    """``gazekit evaluate`` entry for search models: :func:`evaluate_search` plus a printable ``"table"``.

    ``n_samples`` is the number of start points (trials) searched per image (default 5). The baselines are not
    fitted, so ``train_images`` is not used (all methods share the model's fixed duration distribution choice).
    """
    results = evaluate_search(model, dataset, images=list(images) if images is not None else None,
                              starts_per_image=n_samples or 5, model_name=model_name, seed=seed,
                              show_progress=show_progress, **options)
    methods = [m for m in results if m != "protocol"]
    results["table"] = [{"metric": metric, **{m: results[m].get(metric) for m in methods}}
                        for metric in TABLE_METRICS]
    return results
