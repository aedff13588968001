"""Visual-search metrics: how fast and how directly scanpaths reach the target.

Conventions (gazekit's reading, matching HAT/IRL's code where they define one):
    * A fixation is *on target* when it lies strictly inside the target box ``x0 < x < x1 and y0 < y < y1``
      (HAT/IRL); ``inclusive=True`` counts the border too.
    * Fixations are counted from the first recorded one (index 0, which in COCO-Search18 is the initial centre
      fixation). ``steps_to_target`` is the 1-based position of the first on-target fixation (HAT's
      ``get_num_step2target``), or ``inf`` when the target is never fixated.
    * ``TFP(k)`` = fraction of scanpaths with ``steps_to_target <= k`` for ``k = 1..max_steps``; TFP-AUC is
      the **sum** of these values (HAT's ``compute_cdf_auc``; ``method="trapezoid"`` integrates instead);
      probability mismatch = ``sum_k |TFP_human(k) - TFP_model(k)|``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths

__all__ = [
    "behavioural_error",
    "fixations_to_target",
    "on_target",
    "probability_mismatch",
    "scanpath_ratio",
    "search_behaviour",
    "snap_to_objects",
    "steps_to_target",
    "target_fixation_curve",
    "target_found_rate",
    "tfp_auc",
]


def _check(scanpaths: Scanpaths) -> None:
    if not isinstance(scanpaths, Scanpaths):
        raise InvalidInputError(f"expected Scanpaths, got {type(scanpaths).__name__}")
    missing = torch.isnan(scanpaths.target_box).any(dim=1)
    if missing.any():
        i = int(missing.nonzero()[0])
        raise InvalidInputError(f"scanpath {i} (image {scanpaths.image[i]!r}) has no target box; search metrics "
                                f"need target_box on every scanpath (select target-present trials first)")
    if torch.isnan(scanpaths.x[scanpaths.mask]).any() or torch.isnan(scanpaths.y[scanpaths.mask]).any():
        raise InvalidInputError("scanpaths contain NaN fixation coordinates")


def on_target(scanpaths: Scanpaths, *, inclusive: bool = False) -> Tensor:
    """``[B, L]`` bool: valid fixations inside their scanpath's target box."""
    _check(scanpaths)
    box = scanpaths.target_box
    x, y = scanpaths.x, scanpaths.y
    if inclusive:
        inside = (x >= box[:, :1]) & (x <= box[:, 2:3]) & (y >= box[:, 1:2]) & (y <= box[:, 3:4])
    else:
        inside = (x > box[:, :1]) & (x < box[:, 2:3]) & (y > box[:, 1:2]) & (y < box[:, 3:4])
    return inside & scanpaths.mask


def steps_to_target(scanpaths: Scanpaths, *, inclusive: bool = False) -> Tensor:
    """``[B]`` float64: 1-based index of the first on-target fixation (fixation 0 counts), ``inf`` if never."""
    hit = on_target(scanpaths, inclusive=inclusive)
    first = torch.argmax(hit.to(torch.int8), dim=1).double() + 1
    return torch.where(hit.any(dim=1), first, torch.full_like(first, math.inf))


def fixations_to_target(scanpaths: Scanpaths, *, inclusive: bool = False) -> Tensor:
    """``[B]`` float64: fixations made after the first one until the target is fixated (``steps_to_target - 1``;
    0 when the first fixation is already on it), NaN when it never is."""
    steps = steps_to_target(scanpaths, inclusive=inclusive) - 1
    return torch.where(torch.isinf(steps), torch.full_like(steps, math.nan), steps)


def target_found_rate(scanpaths: Scanpaths, *, max_steps: int | None = None, inclusive: bool = False) -> float:
    """Fraction of scanpaths that fixate the target (within the first ``max_steps`` fixations if given)."""
    steps = steps_to_target(scanpaths, inclusive=inclusive)
    if len(steps) == 0:
        return math.nan
    limit = math.inf if max_steps is None else max_steps
    return float((torch.isfinite(steps) & (steps <= limit)).double().mean())


def target_fixation_curve(scanpaths: Scanpaths, max_steps: int = 6, *, by_task: bool = False,
                          inclusive: bool = False) -> Tensor:
    """Target-fixation probability ``TFP(k)``, ``k = 1..max_steps``, as ``[max_steps]`` float64.

    Args:
        by_task: average the per-task curves (HAT's ``compute_search_cdf``) instead of pooling all scanpaths.
    """
    if max_steps < 1:
        raise InvalidInputError(f"max_steps must be >= 1, got {max_steps}")
    steps = steps_to_target(scanpaths, inclusive=inclusive)
    if len(steps) == 0:
        raise InvalidInputError("target_fixation_curve needs at least one scanpath")
    ks = torch.arange(1, max_steps + 1, dtype=torch.float64)
    if not by_task:
        return (steps[:, None] <= ks[None]).double().mean(dim=0)
    curves = []
    for task in sorted(set(scanpaths.task)):
        sel = torch.tensor([t == task for t in scanpaths.task])
        curves.append((steps[sel][:, None] <= ks[None]).double().mean(dim=0))
    return torch.stack(curves).mean(dim=0)


def tfp_auc(curve: Tensor, *, method: str = "sum") -> float:
    """Area under a TFP curve: ``"sum"`` of its values (HAT, IRL's published numbers) or ``"trapezoid"``."""
    curve = torch.as_tensor(curve, dtype=torch.float64)
    if method == "sum":
        return float(curve.sum())
    if method == "trapezoid":
        return float(torch.trapezoid(curve)) if curve.numel() > 1 else 0.0
    raise InvalidInputError(f"method must be 'sum' or 'trapezoid', got {method!r}")


def probability_mismatch(human_curve: Tensor, model_curve: Tensor) -> float:
    """``sum_k |TFP_human(k) - TFP_model(k)|`` (IRL/HAT); curves must have the same length."""
    h, m = torch.as_tensor(human_curve, dtype=torch.float64), torch.as_tensor(model_curve, dtype=torch.float64)
    if h.shape != m.shape:
        raise InvalidInputError(f"TFP curves have different lengths: {tuple(h.shape)} and {tuple(m.shape)}")
    return float((h - m).abs().sum())


def scanpath_ratio(scanpaths: Scanpaths, *, inclusive: bool = False) -> Tensor:
    """``[B]``: straight-line distance from the first fixation to the target centre divided by the summed saccade
    amplitudes up to the first on-target fixation (IRL); 1 = a direct path. NaN when the target is never
    fixated or the first fixation is already on it."""
    steps = steps_to_target(scanpaths, inclusive=inclusive)
    box = scanpaths.target_box
    centre = torch.stack([(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2], dim=1)
    xy = scanpaths.xy()
    out = torch.full((len(scanpaths),), math.nan, dtype=torch.float64)
    if scanpaths.max_length < 2:
        return out
    amp = (xy[:, 1:] - xy[:, :-1]).norm(dim=-1)  # amplitude of the saccade into fixation j + 1
    j = torch.arange(1, scanpaths.max_length, dtype=torch.float64)[None]
    path = (amp * (j < steps[:, None])).sum(dim=1)  # saccades into fixations 1 .. first hit (0-based steps-1)
    direct = (centre - xy[:, 0]).norm(dim=-1)
    ok = torch.isfinite(steps) & (steps > 1) & (path > 0)
    return torch.where(ok, direct / torch.where(ok, path, torch.ones_like(path)), out)


# ------------------------------------------------------------------------- object-level search behaviour (OAT)
def snap_to_objects(scanpaths: Scanpaths, boxes: Tensor) -> Tensor:
    """Object index of each fixation: the box containing it, else the nearest box (distance to the box edge),
    as OAT snaps fixations. ``boxes``: ``[K, 4]`` (shared) or ``[B, K, 4]`` (x0, y0, x1, y1) px. Returns
    ``[B, L]`` int64 with -1 at padding."""
    boxes = torch.as_tensor(boxes, dtype=torch.float64)
    if boxes.dim() == 2:
        boxes = boxes[None].expand(len(scanpaths), -1, -1)
    if boxes.dim() != 3 or boxes.shape[0] != len(scanpaths) or boxes.shape[2] != 4 or boxes.shape[1] == 0:
        raise InvalidInputError(f"boxes must be [K, 4] or [B, K, 4] with K >= 1, got {tuple(boxes.shape)}")
    x, y = scanpaths.x[:, :, None], scanpaths.y[:, :, None]
    dx = torch.clamp(torch.maximum(boxes[:, None, :, 0] - x, x - boxes[:, None, :, 2]), min=0)
    dy = torch.clamp(torch.maximum(boxes[:, None, :, 1] - y, y - boxes[:, None, :, 3]), min=0)
    idx = torch.argmin(torch.hypot(dx, dy), dim=2)
    return torch.where(scanpaths.mask, idx, torch.full_like(idx, -1))


def search_behaviour(objects: Tensor, lengths: Tensor, targets: Tensor) -> dict[str, float]:
    """Behavioural statistics of object-level search (OAT's five), pooled over scanpaths.

    Args:
        objects: ``[B, L]`` object index per fixation (padding ignored).
        lengths: ``[B]`` number of valid fixations.
        targets: ``[B]`` target object index.
    Returns:
        ``found_rate`` (fraction of scanpaths that fixate the target), ``length`` (mean fixations per scanpath),
        and, over all fixations after the first: ``search`` (first visit of an object), ``refixation`` (same
        object as the previous fixation) and ``revisit`` (an object visited before, not the previous one)
        proportions, which sum to 1.
    """
    objects, lengths, targets = (torch.as_tensor(v) for v in (objects, lengths, targets))
    if objects.dim() != 2 or lengths.shape != (objects.shape[0],) or targets.shape != (objects.shape[0],):
        raise InvalidInputError(f"objects [B, L], lengths [B] and targets [B] expected, got {tuple(objects.shape)}, "
                                f"{tuple(lengths.shape)}, {tuple(targets.shape)}")
    if objects.shape[0] == 0:
        raise InvalidInputError("search_behaviour needs at least one scanpath")
    counts = {"search": 0, "refixation": 0, "revisit": 0}
    found = 0
    for row, n, target in zip(objects.tolist(), lengths.tolist(), targets.tolist()):
        seq = row[:n]
        found += target in seq
        for k in range(1, len(seq)):
            if seq[k] == seq[k - 1]:
                counts["refixation"] += 1
            elif seq[k] in seq[:k]:
                counts["revisit"] += 1
            else:
                counts["search"] += 1
    moves = sum(counts.values())
    out = {"found_rate": found / objects.shape[0], "length": float(lengths.double().mean())}
    out.update({k: (v / moves if moves else math.nan) for k, v in counts.items()})
    return out


def behavioural_error(human: dict[str, float], model: dict[str, float]) -> float:
    """OAT's behavioural error: mean over the five statistics of ``|model - human| / |human|`` (statistics where
    the human value is 0 are skipped)."""
    keys = ("found_rate", "length", "search", "refixation", "revisit")
    errs = [abs(model[k] - human[k]) / abs(human[k]) for k in keys if human[k] not in (0, 0.0) and not math.isnan(human[k])]
    return sum(errs) / len(errs) if errs else math.nan
