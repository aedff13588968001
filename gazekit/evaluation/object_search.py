"""Object-search evaluation (``task_kind = "object_search"``): models vs humans on held-out layouts.

For every human scanpath of the evaluated trials the model draws ``n_samples`` object sequences of that layout;
three baselines and the human ceiling are scored the same way. Every method is a registered model answering
``predict_scanpaths`` (one :class:`~gazekit.models.base.PredictRequest` per batch of trials, carrying the
pre-cropped objects in ``extra["crop_bank"]``, the fast path of OAT-like models, and one random stream shared by all
methods):

* **random**, **nearest**, **similarity**: the registered ``object-random``, ``object-nearest`` and
  ``object-similarity`` models (:mod:`gazekit.models.object_search_baselines`); each stops on reaching the target,
  or after every object when the target is absent.
* **human**: every other session's scanpath of the same trial (same objects and target, positions re-randomised),
  mapped by object id onto this session's layout.

Reported per method: SS on object ids (Needleman-Wunsch 1/0/0 over object-index strings / longer length,
:func:`gazekit.metrics.functional.sequence.lcs_ratio`), MultiMatch (HAT padding, since most object-array
scanpaths have 1-2 fixations; four dimensions), target-found rate and fixations-to-target (1-based index of the
first target fixation, mean over found) on target-present trials, OAT's five behavioural statistics
(:func:`gazekit.metrics.functional.search.search_behaviour`, all trials; absent trials have no target) and the
behavioural error against the humans of the same trials.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import torch

from gazekit.errors import InvalidInputError
from gazekit.evaluation import register_evaluator
from gazekit.models.object_search_baselines import baseline_sequences  # noqa: F401  (re-exported)

# label in the results -> registered baseline model
BASELINES = {"random": "object-random", "nearest": "object-nearest", "similarity": "object-similarity"}


def _pad(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), max(int(lengths.max(initial=0)), 1)), -1, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def _to_scanpaths(seqs, centres_px, size):
    from gazekit.scanpaths import Scanpaths

    xs = [centres_px[i][s, 0] if len(s) else np.zeros(0) for i, s in enumerate(seqs)]
    ys = [centres_px[i][s, 1] if len(s) else np.zeros(0) for i, s in enumerate(seqs)]
    return Scanpaths.from_sequences(xs, ys, durations=[np.full(len(s), 200.0) for s in seqs], image_size=size)


def score_method(seqs: list[np.ndarray], refs: list[np.ndarray], ref_index: np.ndarray, target_pos: np.ndarray,
                 centres_px: np.ndarray, image_size, human_stats: dict | None) -> dict:
    """Scores of predicted sequences ``seqs`` (each against the human reference ``refs[ref_index[k]]``)."""
    from gazekit.metrics.functional.search import behavioural_error, search_behaviour
    from gazekit.metrics.functional.sequence import lcs_ratio
    from gazekit.metrics.registry import get_pair_metric

    a, na = _pad(seqs)
    c, nc = _pad([refs[i] for i in ref_index])
    ss = lcs_ratio(a, na, c, nc)
    mm_fn = get_pair_metric("multimatch").fn
    pred = _to_scanpaths(seqs, centres_px[ref_index], image_size)
    ref = _to_scanpaths([refs[i] for i in ref_index], centres_px[ref_index], image_size)
    defined = (na > 0) & (nc > 0)
    mm = mm_fn(pred[np.flatnonzero(defined).tolist()], ref[np.flatnonzero(defined).tolist()],
               padding="hat").numpy()
    tp = target_pos[ref_index]
    present = tp >= 0
    hit = (a == tp[:, None]) & (np.arange(a.shape[1])[None] < na[:, None])
    found = hit.any(1)
    steps = hit.argmax(1) + 1.0
    stats = search_behaviour(torch.from_numpy(a), torch.from_numpy(na), torch.from_numpy(tp))
    out = {"ss": float(np.nanmean(ss)),
           **{f"mm_{k}": float(np.nanmean(mm[:, j])) for j, k in enumerate(("vector", "direction", "length",
                                                                           "position"))},
           "found_rate_present": float(found[present].mean()) if present.any() else math.nan,
           "fixations_to_target": float(steps[present & found].mean()) if (present & found).any() else math.nan,
           **{f"beh_{k}": v for k, v in stats.items()}, "n_sequences": len(seqs)}
    out["behavioural_error"] = behavioural_error(human_stats, stats) if human_stats is not None else math.nan
    return out


def human_ceiling(dataset, indices: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Other sessions' scanpaths of the same trials, mapped by object id to each scanpath's layout."""
    sp = dataset.scanpaths
    by_trial: dict[str, list[int]] = {}
    for i, t in enumerate(sp.trial):
        by_trial.setdefault(t, []).append(i)
    seqs, ref = [], []
    for k, i in enumerate(indices):
        probes = json.loads(sp.scanpath_attrs["layout"][i])["probes"]
        where = {oid: p for p, oid in enumerate(probes)}
        for j in by_trial[sp.trial[i]]:
            if j == i:
                continue
            ids = sp.fixation_attrs["object_id"][j, : sp.lengths[j]].long().tolist()
            seqs.append(np.array([where[o] for o in ids], dtype=np.int64))
            ref.append(k)
    return seqs, np.array(ref, dtype=np.int64)


def _requests(dataset, indices: np.ndarray, crop_size: int, batch_size: int):
    """One ``PredictRequest`` per batch of trials: the crop-bank fast path (no rendered images)."""
    from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_boxes
    from gazekit.datasets.objarray_trials import ObjArrayTrials, collate_trials, objarray_crop_bank
    from gazekit.models.base import PredictRequest

    bank = objarray_crop_bank(dataset, crop_size)
    trials = ObjArrayTrials(dataset, indices, max_len=10**6)
    boxes = torch.from_numpy(object_boxes())
    for start in range(0, len(trials), batch_size):
        items = [trials[k] for k in range(start, min(start + batch_size, len(trials)))]
        batch = collate_trials(items, bank, trials.centres)
        target = [trials.layouts[start + k]["target_pos"] for k in range(len(items))]
        yield PredictRequest(
            images=None, image_names=[it["info"]["image"] for it in items], boxes=[boxes] * len(items),
            target_index=target, extra={"crop_bank": bank, "object_ids": batch["object_ids"],
                                        "target_ids": batch["target_ids"], "centres": batch["centres"],
                                        "image_size": (SCREEN_W, SCREEN_H)})


def _sequences(sp) -> list[np.ndarray]:
    """Each predicted scanpath's object indices (``fixation_attrs["object"]``)."""
    obj = sp.fixation_attrs["object"]
    return [obj[r, : int(sp.lengths[r])].long().numpy() for r in range(len(sp))]


@torch.no_grad()
def evaluate_objarray(model, dataset, indices: np.ndarray | None = None, *, n_samples: int = 10, seed: int = 0,
                      batch_size: int = 256, temperature: float = 1.0, max_fixations: int | None = None,
                      model_name: str = "model") -> dict:
    """Evaluate an object-search model and the baselines on object-array trials.

    Args:
        model: an object-search model (``task_kind == "object_search"``) whose ``predict_scanpaths`` takes the
            crop-bank request (:class:`~gazekit.models.oat.OAT`'s fast path); its ``crop_size`` (default 32) sets
            the crops.
        dataset: the loaded ``objarray`` :class:`GazeDataset`.
        indices: scanpaths to evaluate (default: the test layouts of the layout split the shipped OAT used).
        n_samples: sequences per trial for the model and the random baseline.
        model_name: the model's key in the results.
    Returns:
        ``{method: scores}`` for ``model_name``, ``random``, ``nearest``, ``similarity`` and ``human`` (in that
        order), plus ``"human_reference"`` and ``"n_trials"``.
    """
    from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_centres
    from gazekit.datasets.objarray_trials import LAYOUT_FRACTIONS, LAYOUT_SEED
    from gazekit.datasets.splits import split_by
    from gazekit.metrics.functional.search import search_behaviour
    from gazekit.models import create_model
    from gazekit.models.base import ScanpathPredictor

    sp = dataset.scanpaths
    if "layout" not in sp.scanpath_attrs or "object_id" not in sp.fixation_attrs:
        raise InvalidInputError(f"dataset {dataset.name!r} is not in the object-array format (needs the 'layout' "
                                "attribute and per-fixation 'object_id')")
    if not isinstance(model, ScanpathPredictor) or model.task_kind != "object_search":
        raise InvalidInputError(f"{model_name!r} is not an object-search model")
    if model_name in BASELINES or model_name == "human":
        raise InvalidInputError(f"model_name {model_name!r} is a baseline's label; pick another")
    if indices is None:
        indices = split_by(sp.trial, LAYOUT_FRACTIONS, LAYOUT_SEED, rule="hash")["test"]
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        raise InvalidInputError("no trials to evaluate")
    methods = [(model_name, model, n_samples), ("random", create_model(BASELINES["random"]), n_samples),
               ("nearest", create_model(BASELINES["nearest"]), 1),
               ("similarity", create_model(BASELINES["similarity"]), 1)]
    gen = torch.Generator().manual_seed(seed)  # one stream, drawn by the methods in this order, batch by batch
    refs = [sp.fixation_attrs["object"][i, : sp.lengths[i]].long().numpy() for i in indices]
    layouts = [json.loads(sp.scanpath_attrs["layout"][i]) for i in indices]
    target_pos = np.array([-1 if lay["target_pos"] is None else lay["target_pos"] for lay in layouts])
    centres_px = np.broadcast_to(object_centres(), (len(indices), 6, 2))
    size = [SCREEN_W, SCREEN_H]
    human_stats = search_behaviour(*(torch.from_numpy(v) for v in _pad(refs)), torch.from_numpy(target_pos))

    seqs: dict[str, list] = {label: [] for label, _, _ in methods}
    for request in _requests(dataset, indices, int(getattr(model, "crop_size", 32)), batch_size):
        for label, method, ns in methods:
            req = replace(request, n_samples=ns, temperature=temperature, max_fixations=max_fixations,
                          generator=gen)
            seqs[label] += _sequences(method.predict_scanpaths(req))
    human_seqs, human_ref = human_ceiling(dataset, indices)
    every = np.arange(len(indices))
    ref_index = {label: np.repeat(every, ns) for label, _, ns in methods}
    ref_index["human"] = human_ref
    seqs["human"] = human_seqs
    labels = [label for label, _, _ in methods] + ["human"]
    results = {m: score_method(seqs[m], refs, ref_index[m], target_pos, np.asarray(centres_px), size, human_stats)
               for m in labels}
    results["human_reference"] = {f"beh_{k}": v for k, v in human_stats.items()}
    results["n_trials"] = len(indices)
    return results


TABLE_METRICS = (
    ("ss", "SS (object ids)", True), ("mm_vector", "MM vector", True), ("mm_direction", "MM direction", True),
    ("mm_length", "MM length", True), ("mm_position", "MM position", True),
    ("found_rate_present", "target-found rate (present)", True),
    ("fixations_to_target", "fixations to target (found)", None), ("beh_length", "scanpath length", None),
    ("beh_search", "search proportion", None), ("beh_refixation", "refixation proportion", None),
    ("beh_revisit", "revisit proportion", None), ("behavioural_error", "behavioural error vs humans", False),
)


def results_table(results: dict) -> list[dict]:
    """Rows ``{"metric", "higher_is_better", <method>: value}`` for ``gazekit evaluate``."""
    rows = []
    for key, label, hib in TABLE_METRICS:
        row = {"metric": label, "higher_is_better": hib}
        row.update({m: scores[key] for m, scores in results.items() if isinstance(scores, dict) and "ss" in scores})
        rows.append(row)
    return rows


@register_evaluator("object_search")
def evaluate_object_search(model, dataset, *, images=None, train_images=None, model_name: str = "model",
                           seed: int = 0, n_samples: int | None = None, show_progress: bool = False,
                           pair_metrics: bool = True, **options) -> dict:
    """``gazekit evaluate`` for object-search models on object-array-format data.

    With a split requested (``train_images`` given) the held-out *layouts* of the layout split are scored (an image
    split would put the same object sets and targets in training and test); with ``--split all`` every trial of
    ``images`` is scored.
    """
    sp = dataset.scanpaths
    if train_images is not None:
        from gazekit.datasets.objarray_trials import LAYOUT_FRACTIONS, LAYOUT_SEED
        from gazekit.datasets.splits import split_by

        idx = split_by(sp.trial, LAYOUT_FRACTIONS, LAYOUT_SEED, rule="hash")["test"]
        note = "held-out layouts of the OAT layout split (20% of trial ids, seed 0)"
    else:
        wanted = set(images) if images is not None else set(sp.image)
        idx = np.array([i for i, name in enumerate(sp.image) if name in wanted], dtype=np.int64)
        note = "all trials of the given images"
    results = evaluate_objarray(model, dataset, idx, n_samples=n_samples or 5, seed=seed, model_name=model_name,
                                **options)
    results["model"] = model_name
    results["scored"] = note
    results["table"] = results_table(results)
    return results
