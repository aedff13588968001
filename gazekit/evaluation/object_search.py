"""Object-search evaluation (``task_kind = "object_search"``): models vs humans on held-out layouts.

For every human scanpath of the evaluated trials the model draws ``n_samples`` object sequences of that layout;
three baselines and the human ceiling are scored the same way:

* **random**: objects in a random order; **nearest**: from the screen centre always to the nearest unvisited
  object (ties: lowest index); **similarity**: objects by decreasing cosine similarity of their crop's pixels
  (mean-removed) with the target template's. Each baseline stops on reaching the target, or after every object
  when the target is absent.
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

import math

import numpy as np
import torch

from gazekit.errors import InvalidInputError

METHODS = ("oat", "random", "nearest", "similarity", "human")


def baseline_sequences(kind: str, centres: torch.Tensor, start: torch.Tensor, target_pos: torch.Tensor,
                       crop_feats: torch.Tensor | None = None, target_feats: torch.Tensor | None = None,
                       n_samples: int = 1, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Object sequences ``[B * n_samples, N]`` (-1 padded) and lengths of a baseline.

    Args:
        kind: ``"random"``, ``"nearest"`` or ``"similarity"``.
        centres: ``[B, N, 2]`` object centres px. start: ``[2]`` start position px (screen centre).
        target_pos: ``[B]`` target object index, -1 when absent (the sequence then visits every object).
        crop_feats / target_feats: ``[B, N, F]`` / ``[B, F]`` appearance vectors (``"similarity"`` only).
    """
    b, n, _ = centres.shape
    if kind == "random":
        order = torch.argsort(torch.rand(b * n_samples, n, generator=generator), dim=1)
    elif kind == "nearest":
        order = torch.empty(b, n, dtype=torch.long)
        pos = start.expand(b, 2).clone().double()
        visited = torch.zeros(b, n, dtype=torch.bool)
        for k in range(n):
            d = torch.linalg.norm(centres.double() - pos[:, None], dim=-1).masked_fill(visited, math.inf)
            d = torch.round(d, decimals=6)  # equal distances tie exactly, then the lowest index wins
            nxt = d.argmin(1)
            order[:, k] = nxt
            visited[torch.arange(b), nxt] = True
            pos = centres[torch.arange(b), nxt].double()
        order = order.repeat_interleave(n_samples, 0)
    elif kind == "similarity":
        if crop_feats is None or target_feats is None:
            raise InvalidInputError("the similarity baseline needs crop_feats and target_feats")
        f = crop_feats - crop_feats.mean(-1, keepdim=True)
        t = target_feats - target_feats.mean(-1, keepdim=True)
        sim = torch.nn.functional.cosine_similarity(f, t[:, None], dim=-1)
        order = torch.argsort(-sim, dim=1, stable=True).repeat_interleave(n_samples, 0)
    else:
        raise InvalidInputError(f"unknown baseline {kind!r}; use random, nearest or similarity")
    tp = target_pos.repeat_interleave(n_samples, 0)
    hit = order == tp[:, None]
    lengths = torch.where(hit.any(1), hit.float().argmax(1) + 1, torch.full_like(tp, n))
    objects = torch.where(torch.arange(n)[None] < lengths[:, None], order, -1)
    return objects, lengths


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
    import json

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


@torch.no_grad()
def evaluate_objarray(model, dataset, indices: np.ndarray | None = None, *, n_samples: int = 10, seed: int = 0,
                      batch_size: int = 256, temperature: float = 1.0, max_fixations: int | None = None) -> dict:
    """Evaluate an OAT-like model (``decode`` over crop-bank batches) and the baselines on object-array trials.

    Args:
        model: an :class:`~gazekit.models.oat.OAT` (or any module with the same ``decode``).
        dataset: the loaded ``objarray`` :class:`GazeDataset`.
        indices: scanpaths to evaluate (default: the test layouts of the default OAT split).
        n_samples: sequences per trial for the model and the random baseline.
    Returns:
        ``{method: scores}`` for ``oat``, ``random``, ``nearest``, ``similarity`` and ``human``, plus ``"n_trials"``.
    """
    from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_centres
    from gazekit.metrics.functional.search import search_behaviour
    from gazekit.models.oat_data import ObjArrayTrials, collate_trials, layout_split, objarray_crop_bank

    sp = dataset.scanpaths
    if "layout" not in sp.scanpath_attrs or "object_id" not in sp.fixation_attrs:
        raise InvalidInputError(f"dataset {dataset.name!r} is not in the object-array format (needs the 'layout' "
                                "attribute and per-fixation 'object_id')")
    if indices is None:
        indices = np.flatnonzero(layout_split(sp.trial, 0.1, 0.2, 0) == 2)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        raise InvalidInputError("no trials to evaluate")
    crop = model.hparams.crop_size
    bank = objarray_crop_bank(dataset, crop)
    trials = ObjArrayTrials(dataset, indices, max_len=10**6)
    gen = torch.Generator().manual_seed(seed)
    refs = [sp.fixation_attrs["object"][i, : sp.lengths[i]].long().numpy() for i in indices]
    target_pos = np.array([-1 if lay["target_pos"] is None else lay["target_pos"] for lay in trials.layouts])
    centres_px = np.broadcast_to(object_centres(), (len(indices), 6, 2))
    size = [SCREEN_W, SCREEN_H]
    human_stats = search_behaviour(*(torch.from_numpy(v) for v in _pad(refs)), torch.from_numpy(target_pos))

    seqs = {m: [] for m in METHODS}
    for start in range(0, len(trials), batch_size):
        items = [trials[k] for k in range(start, min(start + batch_size, len(trials)))]
        batch = collate_trials(items, bank, trials.centres)
        out = model.decode(batch, n_samples, temperature, max_fixations, gen)
        seqs["oat"] += [o[:n].numpy() for o, n in zip(out["objects"], out["lengths"])]
        tp = torch.from_numpy(target_pos[start: start + len(items)])
        cpx = torch.from_numpy(np.ascontiguousarray(centres_px[start: start + len(items)]))
        feats = bank[batch["object_ids"]].flatten(2)
        tfeats = bank[batch["target_ids"]].flatten(1)
        for kind, ns in (("random", n_samples), ("nearest", 1), ("similarity", 1)):
            objs, lens = baseline_sequences(kind, cpx, torch.tensor([SCREEN_W / 2, SCREEN_H / 2]), tp, feats,
                                            tfeats, ns, gen)
            seqs[kind] += [o[:n].numpy() for o, n in zip(objs, lens)]
    human_seqs, human_ref = human_ceiling(dataset, indices)
    ref_index = {"oat": np.repeat(np.arange(len(indices)), n_samples),
                 "random": np.repeat(np.arange(len(indices)), n_samples),
                 "nearest": np.arange(len(indices)), "similarity": np.arange(len(indices)), "human": human_ref}
    seqs["human"] = human_seqs
    results = {m: score_method(seqs[m], refs, ref_index[m], target_pos, np.asarray(centres_px), size, human_stats)
               for m in METHODS}
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
        row.update({m: results[m][key] for m in METHODS})
        rows.append(row)
    return rows


def _register():
    from gazekit.evaluation import register_evaluator

    @register_evaluator("object_search")
    def evaluate_object_search(model, dataset, *, images=None, train_images=None, model_name: str = "oat",
                               seed: int = 0, n_samples: int | None = None, show_progress: bool = False,
                               pair_metrics: bool = True, **options) -> dict:
        """``gazekit evaluate`` for object-search models on object-array-format data.

        With a split requested (``train_images`` given) the held-out *layouts* of OAT's layout split are scored
        (an image split would put the same object sets and targets in training and test); with ``--split all``
        every trial of ``images`` is scored.
        """
        from gazekit.models.oat_data import layout_split

        sp = dataset.scanpaths
        if train_images is not None:
            idx = np.flatnonzero(layout_split(sp.trial, 0.1, 0.2, 0) == 2)
            note = "held-out layouts of the OAT layout split (20% of trial ids, seed 0)"
        else:
            wanted = set(images) if images is not None else set(sp.image)
            idx = np.array([i for i, name in enumerate(sp.image) if name in wanted], dtype=np.int64)
            note = "all trials of the given images"
        results = evaluate_objarray(model, dataset, idx, n_samples=n_samples or 5, seed=seed, **options)
        results["model"] = model_name
        results["scored"] = note
        results["table"] = results_table(results)
        return results

    return evaluate_object_search


evaluate_object_search = _register()
