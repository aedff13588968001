"""Leave-one-subject-out human baseline ("human consistency", the ceiling a model is judged against) for any
registered pair metric.

Each human scanpath is scored against every scanpath of every *other* subject on the same image (and task);
its score is the mean over those partners, and the baseline is the mean over scanpaths (or per image/subject/
task group). No scanpath is compared with itself or with another trial of the same subject.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from gazekit.metrics.pairing import DEFAULT_KEYS, Pairs, aggregate, human_pairs, metric_columns, score_pairs
from gazekit.metrics.registry import get_pair_metric
from gazekit.scanpaths import Scanpaths

__all__ = ["HumanBaseline", "human_baseline"]


@dataclass
class HumanBaseline:
    """Result of :func:`human_baseline`.

    Attributes:
        metric: registry name.
        columns: output column names (``name`` or ``name/output``).
        pair_values: ``[P, K]`` score of every (scanpath, other-subject scanpath) pair.
        pairs: the index pairs.
        groups: group name -> ``[K]`` mean (``"all"`` unless ``by`` was given).
    """

    metric: str
    columns: list[str]
    pair_values: Tensor
    pairs: Pairs
    groups: dict[str, Tensor]

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{group: {column: value}}``."""
        return {g: {c: float(v) for c, v in zip(self.columns, vals)} for g, vals in self.groups.items()}


def human_baseline(metric: str, human: Scanpaths, *, keys: Sequence[str] = DEFAULT_KEYS, by: str | None = None,
                   options: dict | None = None, chunk_size: int = 4096,
                   progress: Callable[[int], None] | None = None) -> HumanBaseline:
    """Leave-one-subject-out score of ``human`` under the pair metric ``metric`` (see module docstring).

    Args:
        metric: a name from :func:`gazekit.metrics.registry.list_pair_metrics`.
        keys: attributes two scanpaths must share to be compared (default image and task).
        by: also split the result by ``"image"``, ``"subject"`` or ``"task"``.
        options: keyword options for the metric (e.g. ``{"x_bins": 14, "y_bins": 8}``).
        progress: called with the number of pairs done after each chunk.
    """
    spec = get_pair_metric(metric)
    pairs = human_pairs(human, keys=keys)
    values = score_pairs(spec, human, human, pairs, options=options, chunk_size=chunk_size, progress=progress)
    return HumanBaseline(spec.name, metric_columns(spec), values, pairs, aggregate(values, pairs, human, by=by))
