"""Named evaluation protocols: published numbers are only comparable under the same preprocessing, metric
settings and aggregation, so each preset fixes all three.

``raw`` protocols report mean scores (model vs humans, and the leave-one-subject-out human row).
``distribution`` protocols (TPP-Gaze, ScanDiff) compare, per metric, the distribution of human-vs-human pair
scores with the distribution of human-vs-model pair scores and report ``KL(human || model)`` (lower is better,
0 ideal). Neither paper states how the densities are estimated; **gazekit's reading**: pair-level scores, a
histogram with ``kl_bins`` equal-width bins over the pooled range of both samples, ``1e-10`` added to every bin
before normalising, natural log. Use the same reading for every model you compare.

Use :func:`get_protocol` / :func:`list_protocols`; :func:`evaluate` runs any metric set with the same engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from gazekit.errors import GazekitError, InvalidInputError
from gazekit.metrics.pairing import DEFAULT_KEYS, aggregate, human_pairs, metric_columns, pair_scanpaths, score_pairs
from gazekit.metrics.presets import PROTOCOLS, MetricSetting, Protocol, get_protocol, list_protocols
from gazekit.metrics.registry import get_pair_metric
from gazekit.scanpaths import Scanpaths, ValidationReport

__all__ = [
    "PROTOCOLS",
    "MetricSetting",
    "Protocol",
    "ScoreResult",
    "diversity_scores",
    "evaluate",
    "get_protocol",
    "histogram_kl",
    "list_protocols",
]


# ------------------------------------------------------------------------------------------------ statistics
def histogram_kl(p_samples: Tensor, q_samples: Tensor, *, bins: int = 50, eps: float = 1e-10) -> float:
    """``KL(P || Q)`` in nats between two samples, via histograms on a shared equal-width grid over the pooled
    range (``eps`` added to every bin). NaN values are ignored; NaN when either sample is empty."""
    p = torch.as_tensor(p_samples, dtype=torch.float64).flatten()
    q = torch.as_tensor(q_samples, dtype=torch.float64).flatten()
    p, q = p[~torch.isnan(p)], q[~torch.isnan(q)]
    if p.numel() == 0 or q.numel() == 0:
        return math.nan
    if bins < 1:
        raise InvalidInputError(f"bins must be >= 1, got {bins}")
    lo, hi = float(torch.minimum(p.min(), q.min())), float(torch.maximum(p.max(), q.max()))
    if hi <= lo:
        return 0.0
    hp = torch.histc(p, bins=bins, min=lo, max=hi) + eps
    hq = torch.histc(q, bins=bins, min=lo, max=hi) + eps
    hp, hq = hp / hp.sum(), hq / hq.sum()
    return float((hp * torch.log(hp / hq)).sum())


def diversity_scores(metric: str, pred: Scanpaths, human: Scanpaths, *, keys: Sequence[str] = DEFAULT_KEYS,
                     options: dict | None = None, column: int = 0, scorer: Callable = score_pairs) -> dict[str, float]:
    """Diversity of a model's samples, for a similarity metric (higher = more similar), gazekit's definitions:

    * ``model_diversity`` = 1 - mean similarity between different model samples on the same image (and task);
    * ``human_diversity`` = the same for different human subjects (the target level of variability);
    * ``best_match`` = mean over human scanpaths of the highest similarity among the model's samples on that
      image (a recall: is every human behaviour produced by some sample?).
    """
    spec = get_pair_metric(metric)
    if not spec.higher_is_better:
        raise InvalidInputError(f"diversity_scores needs a similarity metric; {metric!r} is a distance")
    mp = human_pairs(pred, keys=keys, by_subject=False)
    hp = human_pairs(human, keys=keys)
    out = {}
    for name, sp, pairs in (("model_diversity", pred, mp), ("human_diversity", human, hp)):
        vals = scorer(spec, sp, sp, pairs, options=options)[:, column] if len(pairs) else torch.zeros(0)
        out[name] = 1.0 - float(torch.nanmean(vals)) if vals.numel() else math.nan
    cross = pair_scanpaths(human, pred, keys=keys)  # human rows, model partners
    vals = scorer(spec, human, pred, cross, options=options)[:, column]
    best = torch.full((len(human),), -math.inf, dtype=torch.float64)
    best = best.scatter_reduce(0, cross.pred_index, torch.nan_to_num(vals, nan=-math.inf), reduce="amax")
    found = torch.isfinite(best)
    out["best_match"] = float(best[found].mean()) if found.any() else math.nan
    return out


# ------------------------------------------------------------------------------------------------ the engine
@dataclass
class ScoreResult:
    """Rows of ``{"group", "metric", "model", "human", "kl", "pairs", "human_pairs"}`` plus bookkeeping."""

    protocol: str
    rows: list[dict]
    skipped: dict[str, str]
    unmatched_predictions: int
    report: ValidationReport
    diversity: dict[str, dict[str, float]] = field(default_factory=dict)
    human_scope: dict[str, int] = field(default_factory=dict)  # the human scanpaths/images of the human column

    def to_dict(self) -> dict:
        """The result as JSON-ready data (NaN becomes None), as ``gazekit score --json`` writes it."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in self.rows]
        return {"protocol": self.protocol, "rows": clean, "skipped": self.skipped,
                "unmatched_predictions": self.unmatched_predictions, "dropped": self.report.to_dict(),
                "diversity": self.diversity, "human_scope": self.human_scope}


def _resolve_options(setting: MetricSetting, human: Scanpaths, cache: dict, clusters=None,
                     cluster_fitter: Callable | None = None) -> dict:
    spec = get_pair_metric(setting.metric)
    opts = dict(setting.options)
    if isinstance(opts.get("clusters"), str) and opts["clusters"] != "fit":
        key = ("clusters", opts["clusters"])  # a builtin fixture name or a path: load it once, not per chunk
        if key not in cache:
            from gazekit.metrics.functional.clusters import BUILTIN_CLUSTERS, SequenceClusters

            name = opts["clusters"]
            cache[key] = SequenceClusters.builtin(name) if name in BUILTIN_CLUSTERS else SequenceClusters.load(name)
        opts["clusters"] = cache[key]
    if "clusters" in spec.needs and "clusters" not in opts:
        if clusters is None:
            if "clusters" not in cache:
                from gazekit.metrics.functional.clusters import fit_clusters

                fit = cluster_fitter or fit_clusters
                cache["clusters"] = fit(human, description="fitted by gazekit score on the human scanpaths")
            clusters = cache["clusters"]
        opts["clusters"] = clusters
    if "label_maps" in spec.needs and "label_maps" not in opts and "label_attr" not in opts:
        raise InvalidInputError(f"{setting.metric} needs segmentation label maps (options label_maps/label_attr)")
    return opts


def evaluate(pred: Scanpaths | None, human: Scanpaths, protocol: str | Protocol = "default", *,
             metrics: Sequence[str] | None = None, by: str | None = None, human_baseline: bool = True,
             keys: Sequence[str] = DEFAULT_KEYS, clusters=None, chunk_size: int = 4096,
             progress: Callable[[str, int | None, int], None] | None = None,
             scorer: Callable = score_pairs, cluster_fitter: Callable | None = None) -> ScoreResult:
    """Score predictions against humans under a protocol.

    Args:
        pred: predicted scanpaths, or None to report only the human baseline.
        human: human scanpaths.
        protocol: a preset name or :class:`Protocol`.
        metrics: override the protocol's metric labels (registry names, or labels of the protocol's settings).
        by: split rows by ``"image"``, ``"subject"`` or ``"task"``.
        human_baseline: also compute the leave-one-subject-out human score (always on in distribution mode).
        clusters: frozen sequence-score clusters (default: fitted once on ``human``).
        progress: ``progress(label, total, advance)``; ``total`` is given once per metric with advance 0.
        scorer: scores a pair list, with the signature of :func:`~gazekit.metrics.pairing.score_pairs`
            (e.g. a :class:`~gazekit.metrics.distributed.ShardedPairScorer` to split the pairs over processes).
        cluster_fitter: replaces :func:`~gazekit.metrics.functional.clusters.fit_clusters` when clusters are
            fitted (e.g. ``ShardedPairScorer.fit_clusters``, which splits the images over processes).
    Metrics that cannot run on this data (missing durations, label maps, an unregistered name) are listed in
    ``skipped`` with the reason rather than failing the whole run.
    """
    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if metrics:
        known = {s.label: s for s in proto.metrics}
        proto = replace(proto, metrics=tuple(known.get(m) or MetricSetting(m, m, {}) for m in metrics))
    report = ValidationReport()
    if pred is not None and len(set(human.dataset)) == 1 and set(pred.dataset) != set(human.dataset):
        # predictions are scored in the human dataset's frame (per-dataset fixtures such as SS clusters are keyed
        # by dataset name, and a model's output usually names itself, not the dataset)
        pred = replace(pred, dataset=[human.dataset[0]] * len(pred))
    human = proto.prepare(human, report)
    pred = proto.prepare(pred, report) if pred is not None else None
    distribution = proto.mode == "distribution"
    if distribution and pred is None:
        raise InvalidInputError(f"protocol {proto.name!r} compares models with humans: --pred is required")
    pairs = pair_scanpaths(pred, human, keys=keys) if pred is not None else None
    # the human ceiling is computed on the images (and tasks: ``keys``) being scored, not the whole human set
    baseline = human if pairs is None else human[sorted(set(pairs.target_index.tolist()))]
    hpairs = human_pairs(baseline, keys=keys) if (human_baseline or distribution) else None
    rows, skipped, cache, diversity = [], {}, {}, {}
    for setting in proto.metrics:
        try:
            spec = get_pair_metric(setting.metric)
            opts = _resolve_options(setting, human, cache, clusters, cluster_fitter)
            cols = [c.replace(spec.name, setting.label, 1) for c in metric_columns(spec)]
            model_vals = human_vals = None
            jobs = [(pairs, pred, human, "model")] if pairs is not None else []
            jobs += [(hpairs, baseline, baseline, "human")] if hpairs is not None else []
            for job_pairs, job_pred, job_ref, who in jobs:
                label = f"{setting.label} ({who})"
                if progress:
                    progress(label, len(job_pairs), 0)
                step = (lambda n, label=label: progress(label, None, n)) if progress else None
                vals = scorer(spec, job_pred, job_ref, job_pairs, options=opts, chunk_size=chunk_size, progress=step)
                if who == "model":
                    model_vals = vals
                else:
                    human_vals = vals
        except GazekitError as err:
            skipped[setting.label] = str(err)
            continue
        model_groups = aggregate(model_vals, pairs, pred, by=by) if model_vals is not None else {}
        human_groups = aggregate(human_vals, hpairs, baseline, by=by) if human_vals is not None else {}
        for g in sorted(set(model_groups) | set(human_groups)):
            for k, col in enumerate(cols):
                row = {"group": g, "metric": col,
                       "model": float(model_groups[g][k]) if g in model_groups else math.nan,
                       "human": float(human_groups[g][k]) if g in human_groups else math.nan,
                       "higher_is_better": spec.higher_is_better}
                if distribution:
                    msel = _group_rows(pairs.pred_index, pred, by, g)
                    hsel = _group_rows(hpairs.pred_index, baseline, by, g)
                    row["kl"] = histogram_kl(human_vals[hsel, k], model_vals[msel, k], bins=proto.kl_bins)
                rows.append(row)
        if proto.diversity and spec.higher_is_better and pred is not None:
            try:
                diversity[setting.label] = diversity_scores(setting.metric, pred, human, keys=keys, options=opts,
                                                            scorer=scorer)
            except GazekitError as err:
                skipped[f"{setting.label} diversity"] = str(err)
    return ScoreResult(proto.name, rows, skipped, len(pairs.unmatched) if pairs is not None else 0, report,
                       diversity, human_scope={"scanpaths": len(baseline), "images": len(set(baseline.image))})


def _group_rows(index: Tensor, sp: Scanpaths, by: str | None, group: str) -> Tensor:
    if by is None:
        return torch.ones(index.numel(), dtype=torch.bool)
    labels = getattr(sp, by)
    return torch.tensor([labels[i] == group for i in index.tolist()], dtype=torch.bool)
