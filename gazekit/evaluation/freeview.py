"""Free-viewing evaluation (``task_kind = "freeview"``): a scanpath model vs humans, baselines and the human ceiling.

For every evaluated image (e.g. the held-out test split), with the human scanpaths recorded on it:

* **Spatial information gain** (bits per fixation, every fixation including the first): the model's conditional
  density of each human fixation given that subject's earlier fixations (``conditional_log_density``), over the
  centre-bias Gaussian and over the uniform density, averaged over all fixations:
  :func:`gazekit.metrics.functional.conditional.conditional_information_gain` with ``start=0``, summed over images.
* **Duration log-likelihood** (nats per fixation, log-density per ms) of the human durations under the model
  (``duration_log_likelihood``) and under the log-normal fitted to the training durations.
* **Sampled scanpaths vs humans**: ``n_samples`` scanpaths per image (default: the number of human scanpaths of
  the image), each running for the data set's viewing time (:func:`sampling_seconds`; the evaluated model also gets
  the data set's pixels per degree when known), scored against every human scanpath of the image with MultiMatch (5 dimensions), ScanMatch and the
  sequence score (clusters fitted on the evaluated human scanpaths), through
  :func:`gazekit.metrics.protocols.evaluate` (``default`` protocol). The human row is leave-one-subject-out.
* **Baselines** ``centre-bias``, ``uniform`` (:mod:`gazekit.models.baselines`) and ``history`` (history only, no
  image: :mod:`gazekit.models.history`) fitted on ``train_images`` (when None they are fitted on the evaluated
  images themselves, which favours them; the result says so). An evaluated model that needs fitting and is not
  fitted (``gazekit evaluate --model history``) is fitted the same way.
* **Human-density gain at sampled fixations** (bits): ``log2`` of the human density (KDE of every human fixation
  on the image, as the ceiling below) over the centre bias, at each method's sampled fixations; for ``human`` the
  leave-one-subject-out value at the human fixations (equal to the human ceiling of the spatial gain).
* **Return rate within 1 degree**: the fraction of fixations ``k >= 2`` within 1 degree of a fixation before the
  last one, of each method's samples and of the humans; ``by_index`` in the result holds, per fixation index, the
  mean distance to the centre, the saccade amplitude, the return rate and the human-density gain of the evaluated
  model's samples next to the humans' (:mod:`gazekit.evaluation.freeview_stats`: the drift of free-running samples).
* **Decoding options** (``decoding``: the :class:`~gazekit.models.base.PredictRequest` fields ``image_scale``,
  ``saliency_beta``, ``saliency_model``, ``return_rate``, ``return_sigma_deg``, ``pixels_per_degree``) apply to
  the evaluated model's samples and, when it takes them, to its conditional density.
* **Static map metrics** (when the model has a static saliency map, ``predict_log_density(image) -> [H, W]``):
  AUC-Judd, shuffled AUC, NSS, CC and IG over the centre bias of the model's map, next to the centre bias and the
  leave-one-subject-out human map (:class:`gazekit.metrics.human_maps.StaticMapScores`).
* **Human ceiling of the spatial gain**: leave-one-subject-out Gaussian KDE (sigma 1 degree, from the dataset's
  pixels per degree, else 24 px; on 4 px cells) of the other subjects' fixations on the image, mixed with 10 %
  centre bias so that it is never zero (:func:`gazekit.metrics.functional.density.loso_kde_log_likelihood`). It
  is a ceiling for *static* densities: a conditional model also knows where the subject looked before, which a
  KDE of other subjects ignores, so it can come close or exceed it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gazekit.errors import InvalidInputError
from gazekit.evaluation import register_evaluator
from gazekit.evaluation.freeview_stats import IndexStats, add_human_by_index
from gazekit.metrics.functional.conditional import conditional_information_gain
from gazekit.metrics.functional.density import KDE_MIX, loso_kde_log_likelihood
from gazekit.metrics.human_maps import StaticMapScores, density_gain_bits, human_log_density
from gazekit.models.base import ConditionalDensityModel, DurationLikelihoodModel, PredictRequest, StaticDensityModel
from gazekit.scanpaths import Scanpaths

LN2 = math.log(2.0)


def _rows_of(sp: Scanpaths, names: set[str]) -> list[int]:
    return [i for i, n in enumerate(sp.image) if n in names]


def make_baseline(kind: str):
    """An unfitted free-viewing baseline by name (``centre-bias``, ``uniform``, ``history``)."""
    if kind == "history":
        from gazekit.models.history import HistoryBaseline

        return HistoryBaseline()
    from gazekit.models.baselines import FreeviewBaseline

    return FreeviewBaseline(kind)


def sampling_seconds(dataset, train: Scanpaths) -> float | None:
    """How long sampled scanpaths run (s): the data set's viewing time, else the median summed fixation time of the
    training scanpaths (a lower bound on the viewing time: samples then stop no later than a typical human
    recording ends); None without either."""
    if dataset.viewing_time_ms:
        return float(dataset.viewing_time_ms) / 1000.0
    total = torch.nan_to_num(torch.where(train.mask, train.duration, torch.zeros_like(train.duration)), nan=0.0).sum(1)
    total = total[total > 0]
    return float(total.median()) / 1000.0 if len(total) else None


def _sample(model, image: torch.Tensor, name: str, n: int, seed: int, dataset_name: str,
            decoding: dict | None = None, seconds: float | None = None, ppd: float | None = None) -> Scanpaths:
    options = {"pixels_per_degree": ppd, **(decoding or {})}  # the data set's geometry unless decoding sets it
    with torch.no_grad():
        sp = model.predict_scanpaths(PredictRequest(images=image[None], image_names=[name], n_samples=n, seed=seed,
                                                    seconds=seconds, **options))
    sp.dataset = [dataset_name] * len(sp)
    sp.task = ["freeview"] * len(sp)
    return sp


@register_evaluator("freeview")
def evaluate_freeview(model, dataset, *, images=None, train_images=None, model_name: str = "model", seed: int = 0,
                      n_samples: int | None = None, show_progress: bool = False, pair_metrics: bool = True,
                      baselines=("centre-bias", "uniform", "history"), train_scanpaths: Scanpaths | None = None,
                      train_source: str = "", decoding: dict | None = None, **_) -> dict:
    """Score a free-viewing model on ``dataset`` (see module docstring). Returns ``{"table": rows, ...}``.

    ``train_scanpaths`` (e.g. another data set's training split, named by ``train_source``) fits the baselines
    instead of ``train_images`` of ``dataset``."""
    from gazekit.images import load_image
    from gazekit.metrics.protocols import evaluate as score_protocol
    from gazekit.models.baselines import FreeviewBaseline

    sp_all = dataset.scanpaths
    if not dataset.images:
        raise InvalidInputError(f"dataset {dataset.name!r} has no image files: free-viewing evaluation needs them "
                                "(for a table, pass --images DIR, the folder of the images it names)")
    names = sorted(set(sp_all.image) if images is None else set(images))
    names = [n for n in names if n in dataset.images]
    if not names:
        raise InvalidInputError(f"no evaluated image of dataset {dataset.name!r} has an image file")
    human, report = sp_all[_rows_of(sp_all, set(names))].validate("drop", source=dataset.name)
    in_sample = train_images is None and train_scanpaths is None
    if train_scanpaths is not None:
        train = train_scanpaths.validate("drop", source=train_source or "train_scanpaths")[0]
    else:
        train = human if in_sample else sp_all[_rows_of(sp_all, set(train_images))].validate("drop")[0]
    fitted = {k: make_baseline(k).fit(train, dataset.viewing_time_ms) for k in baselines if k != model_name}
    cb_model = FreeviewBaseline("centre-bias").fit(train, dataset.viewing_time_ms)
    if getattr(model, "priors", True) is None and hasattr(model, "fit"):  # e.g. --model history: fit like a baseline
        model.fit(train, dataset.viewing_time_ms)
    methods = {model_name: model, **fitted}
    static = StaticMapScores(1.0, seed=seed) if isinstance(model, StaticDensityModel) else None
    gain = {m: [0.0, 0] for m in methods}
    decoding = {k: v for k, v in (decoding or {}).items() if v is not None}
    ppd_known = not torch.isnan(human.ppd).all()
    ppd = float(np.nanmedian(human.ppd.numpy())) if ppd_known else 24.0
    if decoding and decoding.get("return_rate") is not None and decoding.get("pixels_per_degree") is None:
        decoding = {**decoding, "pixels_per_degree": ppd}  # returns in the data set's degrees
    seconds = sampling_seconds(dataset, train)
    acc = {m: {"ig_cb": 0.0, "ig_u": 0.0, "n": 0, "dur": 0.0, "n_dur": 0} for m in methods}
    kde = {"ll": 0.0, "cb": 0.0, "n": 0}
    by_index = {m: IndexStats() for m in [*methods, "human"]}
    samples = {m: [] for m in methods}
    has_durations = human.has_durations
    progress = None
    if show_progress:
        from gazekit.progress import new_progress

        progress = new_progress()  # counts and times, on stderr
        progress.start()
        task = progress.add_task("freeview evaluation", total=len(names))
    try:
        for k, name in enumerate(names):
            image = load_image(dataset.images[name])
            h, w = image.shape[-2:]
            hum = human[_rows_of(human, {name})]
            if torch.isnan(hum.image_size).any() or (hum.image_size != torch.tensor([float(w), float(h)],
                                                                                   dtype=torch.float64)).any():
                hum = hum.rescale(float(w), float(h))
            cb_map = cb_model.pixel_log_density(h, w)
            kl, kc, kn = loso_kde_log_likelihood(hum, cb_map, ppd, mix=KDE_MIX)
            hmask = hum.mask
            human_map = human_log_density(hum.x[hmask].numpy(), hum.y[hmask].numpy(), cb_map, ppd, mix=KDE_MIX)
            if static is not None:
                static.sigma_px = ppd
                others = [i for i, v in enumerate(human.image) if v != name]
                neg = torch.stack([(human.x / human.image_size[:, :1])[others][human.mask[others]],
                                   (human.y / human.image_size[:, 1:])[others][human.mask[others]]], 1).numpy()
                with torch.no_grad():
                    own = model.predict_log_density(image).double()
                static.add_image(hum, {model_name: own, "centre-bias": cb_map.double()}, cb_map.double(), neg)
            add_human_by_index(by_index["human"], hum, w, h, ppd, cb_map)
            kde["ll"] += kl
            kde["cb"] += kc
            kde["n"] += kn
            n = n_samples or len(hum)
            for m, obj in methods.items():
                if isinstance(obj, ConditionalDensityModel) and hum.num_fixations:
                    with torch.no_grad():
                        ld = obj.conditional_log_density(image[None].expand(len(hum), *image.shape), hum,
                                                         **(decoding if m == model_name else {}))
                    acc[m]["ig_cb"] += float(conditional_information_gain(ld, hum, cb_map, start=0, reduction="sum"))
                    acc[m]["ig_u"] += float(conditional_information_gain(ld, hum, "uniform", start=0, reduction="sum"))
                    acc[m]["n"] += hum.num_fixations
                    del ld
                if has_durations and isinstance(obj, DurationLikelihoodModel):
                    with torch.no_grad():
                        dl = obj.duration_log_likelihood(image[None].expand(len(hum), *image.shape), hum)
                    ok = torch.isfinite(dl)
                    acc[m]["dur"] += float(dl[ok].sum())
                    acc[m]["n_dur"] += int(ok.sum())
                drawn = _sample(obj, image, name, n, seed + k, human.dataset[0] if len(hum) else "",
                                decoding if m == model_name else None, seconds, ppd if ppd_known else None)
                by_index[m].add(drawn, w, h, ppd, human_map, cb_map)
                samples[m].append(drawn)
                g, gn = density_gain_bits(drawn.x[drawn.mask].numpy(), drawn.y[drawn.mask].numpy(), human_map, cb_map)
                gain[m][0] += g
                gain[m][1] += gn
            if progress:
                progress.advance(task)
    finally:
        if progress:
            progress.stop()
    table = []

    def row(metric: str, values: dict, higher: bool = True, **extra):
        table.append({"metric": metric, **values, "higher_is_better": higher, **extra})

    row("spatial IG over centre bias (bits/fixation)",
        {m: a["ig_cb"] / a["n"] if a["n"] else math.nan for m, a in acc.items()}
        | {"human": (kde["ll"] - kde["cb"]) / kde["n"] / LN2 if kde["n"] else math.nan})
    ig_cb_over_u = acc.get("centre-bias", {}).get("ig_u", math.nan) / max(acc.get("centre-bias", {}).get("n", 0), 1)
    row("spatial IG over uniform (bits/fixation)",
        {m: a["ig_u"] / a["n"] if a["n"] else math.nan for m, a in acc.items()}
        | {"human": (kde["ll"] - kde["cb"]) / kde["n"] / LN2 + ig_cb_over_u if kde["n"] else math.nan})
    row("human-density gain at sampled fixations (bits/fixation)",
        {m: g / n if n else math.nan for m, (g, n) in gain.items()}
        | {"human": (kde["ll"] - kde["cb"]) / kde["n"] / LN2 if kde["n"] else math.nan})
    row("return rate within 1 degree (fixations 3+)", {m: st.return_rate() for m, st in by_index.items()},
        higher=None)
    if static is not None:
        table.extend(static.rows())
    if has_durations:
        row("duration log-likelihood (nats/fixation)",
            {m: a["dur"] / a["n_dur"] if a["n_dur"] else math.nan for m, a in acc.items()})
    preds = {m: Scanpaths.concat(v) for m, v in samples.items()}
    for m, sp in preds.items():
        table.append({"metric": "mean scanpath length (fixations)", m: float(sp.lengths.double().mean())})
    lengths_row = {"metric": "mean scanpath length (fixations)", "human": float(human.lengths.double().mean()),
                   "higher_is_better": None}
    for r in [r for r in table if r["metric"] == lengths_row["metric"]]:
        lengths_row.update({k: v for k, v in r.items() if k != "metric"})
        table.remove(r)
    table.append(lengths_row)
    skipped = {}
    if pair_metrics:
        from gazekit.metrics.functional.clusters import fit_clusters

        clusters = fit_clusters(human, description=f"gazekit evaluate: {dataset.name} evaluated images")
        by_metric: dict[str, dict] = {}
        for i, (m, sp) in enumerate(preds.items()):
            res = score_protocol(sp, human, "default", human_baseline=(i == 0), clusters=clusters)
            skipped.update(res.skipped)
            for r in res.rows:
                entry = by_metric.setdefault(r["metric"], {"higher_is_better": r["higher_is_better"]})
                entry[m] = r["model"]
                if i == 0:
                    entry["human"] = r["human"]
        for metric, values in by_metric.items():
            higher = values.pop("higher_is_better")
            row(metric, values, higher)
    return {
        "task_kind": "freeview", "dataset": dataset.name, "model": model_name, "images": len(names),
        "human_scanpaths": len(human), "human_fixations": human.num_fixations, "seed": seed,
        "n_samples": n_samples or "number of human scanpaths per image",
        "baselines_fitted_on": "the evaluated images (in-sample)" if in_sample else (
            f"{len(train)} training scanpaths" + (f" of {train_source}" if train_source else "")),
        "human_ceiling_ig": f"leave-one-subject-out KDE, sigma {ppd:g} px, mixed with {KDE_MIX:.0%} centre bias",
        "dropped": report.to_dict(), "skipped": skipped, "table": table, "decoding": decoding,
        "by_index": {m: by_index[m].rows() for m in (model_name, "human")},
    }
