"""Conditional (next-fixation) metrics for probabilistic scanpath models.

A scanpath model gives, for scanpath ``b`` and step ``k``, a map over the image predicting fixation ``k`` from
the history ``fixations[:k]`` (and the image/task). Inputs here:

    maps: ``[B, L, H, W]``: ``maps[b, k]`` is the prediction for fixation ``k`` of scanpath ``b`` (steps past a
        scanpath's length are ignored). ``log_density`` maps hold natural-log probabilities per pixel.
    scanpaths: the observed :class:`~gazekit.scanpaths.Scanpaths` (``B`` rows) whose fixations are scored.
    start: the first scored step (default 1: the first fixation is given, as in HAT and DeepGaze III).

Each function returns ``[B]`` float64: the mean over the scored steps of each scanpath (NaN when none).
Definitions (``variant="gazekit"``, the default, follows pysaliency's conditional scanpath metrics):

    cLL  = mean_k log p_k(x_k)                              (nats; ``unit="bits"`` divides by ln 2)
    cIG  = mean_k (log p_k(x_k) - log q_k(x_k)) / ln 2     (bits; q = baseline, e.g. a task prior or uniform)
    cNSS = mean_k (m_k(x_k) - mean(m_k)) / std(m_k)         (std over pixels, ddof 0)
    cAUC = mean_k [#pixels with m_k < m_k(x_k) + 0.5 #pixels with m_k = m_k(x_k)] / #pixels
           (ROC area of one positive against every pixel; pysaliency's per-fixation AUC)

HAT's variants (``variant="hat"``):
    cIG: ``log2(p + eps) - log2(q + eps)`` on per-pixel probabilities, eps = 2.2204e-16 (HAT's task prior is a
        human fixation map blurred with sigma = 24 px; pass it as ``baseline``).
    cNSS: torch's unbiased std (ddof 1).
    cAUC: the Judd ROC of a single positive against the other pixels, which has the points (0, 0), (fp, 1),
        (1, 1) and so equals ``1 - fp / 2`` with ``fp = #other pixels with m >= m(x_k) / (#pixels - 1)``;
        it lies in [0.5, 1] and is not comparable with the default (about (1 + cAUC) / 2).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional._maps import check_maps, fixation_indices, values_at
from gazekit.metrics.registry import register_metric
from gazekit.scanpaths import Scanpaths

__all__ = [
    "conditional_auc", "conditional_information_gain", "conditional_log_likelihood", "conditional_nss",
    "log_density_at_fixations",
]

HAT_EPS = 2.2204e-16
_VARIANTS = ("gazekit", "hat")


def _events(maps: Tensor, scanpaths: Scanpaths, start: int, name: str, allow_inf: bool = False):
    """Flatten the scored (scanpath, step) events: maps ``[N, H, W]``, pixel indices, owning row ``[N]``."""
    if not isinstance(scanpaths, Scanpaths):
        raise InvalidInputError(f"scanpaths must be Scanpaths, got {type(scanpaths).__name__}")
    if not isinstance(maps, Tensor) or maps.dim() != 4:
        raise InvalidInputError(f"{name} must be a [B, L, H, W] tensor, got "
                                f"{tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__}")
    b, length, h, w = maps.shape
    if b != len(scanpaths):
        raise InvalidInputError(f"{name} has {b} rows but there are {len(scanpaths)} scanpaths")
    if start < 0:
        raise InvalidInputError(f"start must be >= 0, got {start}")
    steps = torch.arange(scanpaths.max_length)[None, :]
    scored = scanpaths.mask & (steps >= start)
    if scored.any() and int(scored.nonzero()[:, 1].max()) >= length:
        raise InvalidInputError(f"{name} has {length} steps but scanpaths have up to {int(scanpaths.lengths.max())} "
                                f"fixations: one map per fixation is needed")
    rows, cols = scored.nonzero(as_tuple=True)
    event_maps = check_maps(maps[rows, cols], name, allow_inf=allow_inf)
    xi, yi, _ = fixation_indices(scanpaths, b, h, w)
    return event_maps, xi[rows, cols][:, None], yi[rows, cols][:, None], rows


def _per_scanpath(values: Tensor, rows: Tensor, b: int) -> Tensor:
    values = values.detach().to("cpu", torch.float64)  # maps may live on a GPU; results are small CPU tensors
    total = torch.zeros(b, dtype=torch.float64).index_add_(0, rows, values)
    count = torch.zeros(b, dtype=torch.float64).index_add_(0, rows, torch.ones_like(values))
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def _variant(variant: str) -> None:
    if variant not in _VARIANTS:
        raise InvalidInputError(f"variant must be one of {list(_VARIANTS)}, got {variant!r}")


def log_density_at_fixations(log_density: Tensor, scanpaths: Scanpaths, *, start: int = 0,
                             broadcast: bool = True, name: str = "log_density") -> Tensor:
    """Values of ``log_density [B or 1, L or 1, H, W]`` at each scored fixation (step ``k >= start`` of row ``b``,
    pixel ``floor(x), floor(y)``), in row-major order of the fixations, float64 ``[N]``.

    With ``broadcast`` (default) size-1 dimensions are shared by all rows / steps (e.g. one map for every step);
    ``broadcast=False`` requires one map per scanpath and scored step. Only the ``N`` fixated values
    are read (no copy of the maps), so this is cheap on a whole test split; NaN or +inf at a scored fixation raises.
    """
    if not isinstance(scanpaths, Scanpaths):
        raise InvalidInputError(f"scanpaths must be Scanpaths, got {type(scanpaths).__name__}")
    if not isinstance(log_density, Tensor) or log_density.dim() != 4:
        raise InvalidInputError(f"{name} must be a [B, L, H, W] tensor, got "
                                f"{tuple(log_density.shape) if isinstance(log_density, Tensor) else type(log_density)}")
    b, length, h, w = log_density.shape
    if b != len(scanpaths) and (b != 1 or not broadcast):
        raise InvalidInputError(f"{name} has {b} rows but there are {len(scanpaths)} scanpaths")
    if start < 0:
        raise InvalidInputError(f"start must be >= 0, got {start}")
    scored = scanpaths.mask & (torch.arange(scanpaths.max_length)[None, :] >= start)
    rows, cols = scored.nonzero(as_tuple=True)
    if (length > 1 or not broadcast) and len(cols) and int(cols.max()) >= length:
        raise InvalidInputError(f"{name} has {length} steps but scanpaths have up to {int(cols.max()) + 1} "
                                f"fixations: one map per fixation is needed")
    x, y = scanpaths.x[rows, cols], scanpaths.y[rows, cols]
    if torch.isnan(x).any() or torch.isnan(y).any():
        raise InvalidInputError("scanpaths contain NaN coordinates at valid fixations")
    outside = (x < 0) | (y < 0) | (x > w) | (y > h)
    if outside.any():
        k = int(outside.nonzero()[0])
        raise InvalidInputError(f"fixation {int(cols[k])} of scanpath {int(rows[k])} at (x={float(x[k])}, "
                                f"y={float(y[k])}) lies outside the {w}x{h} map")
    xi = x.floor().clamp(0, w - 1).long()
    yi = y.floor().clamp(0, h - 1).long()
    steps = cols if length > 1 or not broadcast else torch.zeros_like(cols)
    dev = log_density.device
    values = log_density[(rows if b > 1 else torch.zeros_like(rows)).to(dev), steps.to(dev), yi.to(dev),
                         xi.to(dev)].detach().to("cpu", torch.float64)
    bad = torch.isnan(values) | torch.isposinf(values)
    if bad.any():
        k = int(bad.nonzero()[0])
        raise InvalidInputError(f"{name} has value {float(values[k])} at fixation {int(cols[k])} of scanpath "
                                f"{int(rows[k])} (a log density must be finite or -inf)")
    return values


def _scored_rows(scanpaths: Scanpaths, start: int) -> Tensor:
    scored = scanpaths.mask & (torch.arange(scanpaths.max_length)[None, :] >= start)
    return scored.nonzero(as_tuple=True)[0]


_REDUCTIONS = ("scanpath", "sum", "none")


def _reduce(values: Tensor, rows: Tensor, b: int, reduction: str) -> Tensor:
    if reduction == "scanpath":
        return _per_scanpath(values, rows, b)
    return values.sum() if reduction == "sum" else values


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise InvalidInputError(f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")


@register_metric("conditional_log_likelihood", kind="conditional", metric_class="ConditionalLogLikelihood",
                 higher_is_better=True, inputs=("log_density", "scanpaths"),
                 description="conditional log-likelihood of each next fixation (nats)")
def conditional_log_likelihood(log_density: Tensor, scanpaths: Scanpaths, *, start: int = 1,
                               unit: str = "nats", reduction: str = "scanpath") -> Tensor:
    """Mean conditional log-likelihood of each scanpath's fixations (see module docstring).

    ``reduction``: ``"scanpath"`` (default, ``[B]`` per-scanpath means), ``"sum"`` (one value: the total over all
    scored fixations) or ``"none"`` (``[N]``, one value per scored fixation in row-major order).
    """
    if unit not in ("nats", "bits"):
        raise InvalidInputError(f"unit must be 'nats' or 'bits', got {unit!r}")
    _check_reduction(reduction)
    ll = log_density_at_fixations(log_density, scanpaths, start=start, broadcast=False)
    out = _reduce(ll, _scored_rows(scanpaths, start), len(scanpaths), reduction)
    return out / math.log(2) if unit == "bits" else out


def _baseline_values(baseline, log_density: Tensor, scanpaths: Scanpaths, start: int) -> Tensor:
    b, length, h, w = log_density.shape
    if isinstance(baseline, str):
        if baseline != "uniform":
            raise InvalidInputError(f"baseline must be 'uniform' or a log-density tensor, got {baseline!r}")
        n = int((scanpaths.mask & (torch.arange(scanpaths.max_length)[None, :] >= start)).sum())
        return torch.full((n,), -math.log(h * w), dtype=torch.float64)
    base = baseline if isinstance(baseline, Tensor) else torch.as_tensor(baseline, dtype=torch.float64)
    shape = tuple(base.shape)
    if base.dim() == 2:
        base = base[None, None]
    elif base.dim() == 3:
        base = base[:, None]
    if base.dim() != 4 or base.shape[-2:] != (h, w) or base.shape[0] not in (1, b) or base.shape[1] not in (1, length):
        raise InvalidInputError(f"baseline must be [H, W], [B, H, W] or [B, L, H, W] with H, W = {h}, {w}; "
                                f"got {shape}")
    return log_density_at_fixations(base, scanpaths, start=start, name="baseline")


@register_metric("conditional_information_gain", kind="conditional", metric_class="ConditionalInformationGain",
                 higher_is_better=True, inputs=("log_density", "scanpaths", "baseline"),
                 description="conditional information gain over a baseline (bits/fixation)")
def conditional_information_gain(log_density: Tensor, scanpaths: Scanpaths, baseline="uniform", *, start: int = 1,
                                 variant: str = "gazekit", eps: float = HAT_EPS, reduction: str = "scanpath") -> Tensor:
    """Conditional information gain over ``baseline`` in bits per fixation (see module docstring).

    Reads the maps at the fixations only (no copy of the ``[B, L, H, W]`` maps).

    Args:
        baseline: ``"uniform"`` or a log density ``[H, W]``, ``[B, H, W]`` (e.g. a task prior per scanpath) or
            ``[B, L, H, W]``.
        variant: ``"gazekit"`` (log densities, no regulariser) or ``"hat"`` (``eps`` added to probabilities).
        reduction: ``"scanpath"`` (default, ``[B]`` per-scanpath means), ``"sum"`` (total bits over all scored
            fixations, a 0-dim tensor; with the default variant computed as ``sum(log p - log q) / ln 2``) or
            ``"none"`` (``[N]`` per scored fixation, row-major). The free-viewing evaluator sums over a test split.
    """
    _variant(variant)
    _check_reduction(reduction)
    lp = log_density_at_fixations(log_density, scanpaths, start=start, broadcast=False)
    lq = _baseline_values(baseline, log_density, scanpaths, start)
    rows = _scored_rows(scanpaths, start)
    if variant == "hat":
        return _reduce(torch.log2(torch.exp(lp) + eps) - torch.log2(torch.exp(lq) + eps), rows, len(scanpaths),
                       reduction)
    if reduction == "sum":
        return (lp - lq).sum() / math.log(2)
    return _reduce((lp - lq) / math.log(2), rows, len(scanpaths), reduction)


@register_metric("conditional_nss", kind="conditional", metric_class="ConditionalNSS", higher_is_better=True,
                 inputs=("maps", "scanpaths"),
                 description="NSS of each step's map at the fixation it predicts")
def conditional_nss(maps: Tensor, scanpaths: Scanpaths, *, start: int = 1, variant: str = "gazekit") -> Tensor:
    """Conditional NSS: NSS of each step's map at the fixation it predicts (ddof 0; ``"hat"``: ddof 1).
    Pass the maps on the scale to normalise (HAT uses per-pixel probabilities, not log densities)."""
    _variant(variant)
    ev, xi, yi, rows = _events(maps, scanpaths, start, "maps")
    flat = ev.flatten(1)
    std = flat.std(dim=1, correction=1 if variant == "hat" else 0)
    z = (values_at(ev, xi, yi)[:, 0] - flat.mean(dim=1)) / torch.where(std > 0, std, torch.ones_like(std))
    return _per_scanpath(z, rows, len(scanpaths))


@register_metric("conditional_auc", kind="conditional", metric_class="ConditionalAUC", higher_is_better=True,
                 inputs=("maps", "scanpaths"),
                 description="AUC of each step's map for the fixation it predicts")
def conditional_auc(maps: Tensor, scanpaths: Scanpaths, *, start: int = 1, variant: str = "gazekit") -> Tensor:
    """Conditional AUC of each step's map for the fixation it predicts (see module docstring for both variants)."""
    _variant(variant)
    ev, xi, yi, rows = _events(maps, scanpaths, start, "maps", allow_inf=True)
    flat = ev.flatten(1)
    pos = values_at(ev, xi, yi)  # [N, 1]
    n_pix = flat.shape[1]
    if variant == "hat":
        if n_pix < 2:
            raise InvalidInputError("the HAT cAUC needs maps of at least 2 pixels")
        fp = ((flat >= pos).sum(dim=1) - 1).double() / (n_pix - 1)
        score = 1.0 - fp / 2
    else:
        less = (flat < pos).sum(dim=1).double()
        equal = (flat == pos).sum(dim=1).double()
        score = (less + 0.5 * equal) / n_pix
    return _per_scanpath(score, rows, len(scanpaths))
