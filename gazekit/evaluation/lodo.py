"""Leave-one-data-set-out evaluation: does a model trained on some free-viewing data sets predict gaze on another?

Protocol (``gazekit evaluate --leave-one-out HELD_OUT=MODEL ...``, one entry per held-out data set):

1. Train one model per held-out data set ``D`` on the *other* data sets, e.g. with
   :class:`gazekit.datasets.multi.MultiGazeDataModule` ``(datasets=[the others])`` (their training splits only).
2. Score it on ``D``'s test split (the hashed image split, fractions 0.8/0.1/0.1, seed 0) with the free-viewing
   evaluator. ``D``'s centre bias and history-only baseline are fitted on ``D``'s *training* split: the model is
   compared with what a data-set-specific prior achieves without ever seeing ``D``.
3. Report per ``D``: the model's spatial information gain over ``D``'s centre bias, the history baseline's, the
   leave-one-subject-out human density's, and the model's share of the human gain (target: >= 0.6); with a static
   saliency map, the same for the static maps.

Nothing checks which data sets a model was really trained on: ``trained_on`` is the protocol's (the other data sets
of ``datasets``), as declared by whoever passes the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gazekit.errors import InvalidInputError

DEFAULT_DATASETS = ("osie", "eyecrowd", "nus_sun500")
TARGET_SHARE = 0.6
IG_ROW = "spatial IG over centre bias (bits/fixation)"
STATIC_IG_ROW = "static map: IG over centre bias (bits/fixation)"


def leave_one_dataset_out(models: Mapping[str, object], *, datasets: Sequence[str] = DEFAULT_DATASETS,
                          split: str = "test", fractions=(0.8, 0.1, 0.1), split_seed: int = 0, seed: int = 0,
                          n_samples: int | None = None, max_images: int | None = None, pair_metrics: bool = False,
                          trust=None, show_progress: bool = False, decoding: dict | None = None) -> dict:
    """Evaluate each ``models[D]`` (a model or a ``--model`` spec) on held-out data set ``D`` (see module docstring).

    Returns ``{"format": "gazekit-leave-one-out", "rows": [...], "results": {D: evaluator result}}``; each row
    holds ``held_out``, ``trained_on``, ``model``, ``history``, ``human`` (bits/fixation over ``D``'s centre bias),
    ``share`` (model / human) and ``target_met`` (share >= 0.6), plus ``static_model`` / ``static_human`` when
    the model has a static map. ``trust``: the sha256 of a checkpoint file the caller reviewed, or a list of them
    (one per such file), as in :func:`~gazekit.models.create_model`. ``decoding``: the decoding options of the
    models' samples and densities (:class:`~gazekit.models.base.PredictRequest` fields), as for ``gazekit
    evaluate``.
    """
    from gazekit.datasets.registry import load_dataset
    from gazekit.datasets.splits import split_by
    from gazekit.evaluation.freeview import evaluate_freeview
    from gazekit.models.registry import load_predictor

    if not models:
        raise InvalidInputError("leave-one-out evaluation needs at least one HELD_OUT=MODEL entry")
    unknown = [d for d in models if d not in datasets]
    if unknown:
        raise InvalidInputError(f"held-out data set(s) {unknown} are not among the data sets {list(datasets)}")
    rows, results = [], {}
    for held_out, spec in models.items():
        model = load_predictor(spec, trust=trust) if isinstance(spec, str) else spec
        if getattr(model, "task_kind", "freeview") != "freeview":
            raise InvalidInputError(f"model for held-out {held_out!r} is a {model.task_kind} model; leave-one-out "
                                    "evaluation is for free-viewing models")
        data = load_dataset(held_out)
        index = split_by(data.scanpaths.image, tuple(fractions), split_seed)
        images_of = {k: sorted({data.scanpaths.image[i] for i in idx.tolist()}) for k, idx in index.items()}
        names = images_of[split][:max_images] if max_images else images_of[split]
        res = evaluate_freeview(model, data, images=names, train_images=images_of["train"], model_name="model",
                                seed=seed, n_samples=n_samples, pair_metrics=pair_metrics, show_progress=show_progress,
                                baselines=("centre-bias", "history"), decoding=decoding)
        table = {r["metric"]: r for r in res["table"]}
        ig = table[IG_ROW]
        share = ig["model"] / ig["human"] if ig["human"] and not math.isnan(ig["human"]) else math.nan
        row = {"held_out": held_out, "trained_on": [d for d in datasets if d != held_out],
               "model_spec": spec if isinstance(spec, str) else type(spec).__name__, "images": len(names),
               "model": ig["model"], "history": ig.get("history", math.nan), "human": ig["human"], "share": share,
               "target_met": bool(share >= TARGET_SHARE) if not math.isnan(share) else False}
        if STATIC_IG_ROW in table:
            row.update(static_model=table[STATIC_IG_ROW]["model"], static_human=table[STATIC_IG_ROW]["human"])
        rows.append(row)
        results[held_out] = res
    return {"format": "gazekit-leave-one-out", "version": 1, "split": split, "datasets": list(datasets),
            "target_share": TARGET_SHARE, "rows": rows, "results": results}
