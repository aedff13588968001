"""Per-fixation statistics of free-viewing scanpaths: returns and drift with the fixation index.

* :func:`return_flags`: fixation ``k >= 2`` is a *return* when it lies within ``radius`` px of one of the
  fixations ``0 .. k-2`` (a fixation before the last; the last one is excluded, as a refixation of the current spot
  is a small saccade, not a return). The return rate is the fraction of returns among the fixations ``k >= 2``.
* :class:`IndexStats`: per fixation index ``k``, over the scanpaths of many images: the number of fixations, the
  mean distance to the image centre and the mean amplitude of the saccade into fixation ``k`` (both in degrees of
  visual angle, ``ppd`` px per degree), the return rate, and the mean human-density gain (bits: ``log2`` of the
  human fixation density over the centre bias at the fixation; :func:`gazekit.metrics.human_maps.density_gain_bits`).
  For the humans (:func:`add_human_by_index`) the gain is read from the other subjects' density.
  ``gazekit evaluate --by-index`` prints them for the model next to the humans: a free-running sampler that drifts
  away from the human statistics as ``k`` grows shows it here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gazekit.scanpaths import Scanpaths

LN2 = math.log(2.0)


def return_flags(sp: Scanpaths, radius_px: float | Tensor) -> tuple[Tensor, Tensor]:
    """``(returned [B, L], eligible [B, L])`` bool: ``eligible`` marks the recorded fixations with index ``k >= 2``,
    ``returned`` those of them within ``radius_px`` (a number, or one per scanpath ``[B]``) of a fixation
    ``0 .. k-2`` of the same scanpath."""
    x, y, mask = sp.x.double(), sp.y.double(), sp.mask
    b, length = x.shape
    eligible = mask.clone()
    eligible[:, :2] = False
    if length < 3:
        return torch.zeros_like(mask), eligible
    d2 = (x[:, :, None] - x[:, None, :]) ** 2 + (y[:, :, None] - y[:, None, :]) ** 2  # [B, k, j]
    k = torch.arange(length)
    before_last = k[None, :] <= k[:, None] - 2  # j <= k - 2
    r = torch.as_tensor(radius_px, dtype=torch.float64).reshape(-1, 1, 1) if torch.is_tensor(radius_px) else \
        torch.tensor(float(radius_px), dtype=torch.float64)
    near = (d2 <= r ** 2) & before_last[None] & mask[:, None, :]
    return near.any(-1) & eligible, eligible


def return_rate(sp: Scanpaths, radius_px: float) -> float:
    """Fraction of the fixations ``k >= 2`` of ``sp`` that return within ``radius_px`` to a fixation before the last
    (NaN when there is none)."""
    returned, eligible = return_flags(sp, radius_px)
    n = int(eligible.sum())
    return float(returned.sum()) / n if n else math.nan


class IndexStats:
    """Accumulates per-index statistics of one method's scanpaths over images (see the module docstring)."""

    KEYS = ("n", "centre_deg", "amplitude_deg", "n_amplitude", "returns", "n_eligible", "gain_bits")

    def __init__(self, max_index: int = 12):
        self.max_index = max_index
        self.sums = torch.zeros(len(self.KEYS), max_index, dtype=torch.float64)

    def add(self, sp: Scanpaths, width: float, height: float, ppd: float, human_map: Tensor | None = None,
            cb_map: Tensor | None = None) -> None:
        """Add the scanpaths ``sp`` of one image (``width x height`` px; ``human_map`` and ``cb_map``: ``[H, W]``
        log-densities for the gain; index ``>= max_index`` pooled into the last bin)."""
        if len(sp) == 0 or sp.max_length == 0:
            return
        x, y, mask = sp.x.double(), sp.y.double(), sp.mask
        idx = torch.arange(x.shape[1]).clamp(max=self.max_index - 1).expand_as(x)
        centre = torch.hypot(x - width / 2, y - height / 2) / ppd
        amp = torch.zeros_like(x)
        amp[:, 1:] = torch.hypot(x[:, 1:] - x[:, :-1], y[:, 1:] - y[:, :-1]) / ppd
        has_amp = mask.clone()
        has_amp[:, 0] = False
        returned, eligible = return_flags(sp, ppd)
        gain = torch.zeros_like(x)
        if human_map is not None and cb_map is not None:
            h, w = human_map.shape
            xi = x.nan_to_num(0).floor().clamp(0, w - 1).long()
            yi = y.nan_to_num(0).floor().clamp(0, h - 1).long()
            gain = (human_map.double()[yi, xi] - cb_map.double()[yi, xi]) / LN2
        values = (mask.double(), centre, amp, has_amp.double(), returned.double(), eligible.double(), gain)
        weights = (None, mask, has_amp, None, None, None, mask)
        for row, (v, m) in enumerate(zip(values, weights)):
            v = torch.where(m, v, torch.zeros_like(v)) if m is not None else v
            self.sums[row].index_add_(0, idx[mask], v[mask])

    def rows(self) -> list[dict]:
        """One dict per index with at least one fixation: ``k``, ``n``, ``centre_deg``, ``amplitude_deg``,
        ``return_rate``, ``gain_bits`` (NaN where undefined)."""
        s = dict(zip(self.KEYS, self.sums))
        out = []
        for k in range(self.max_index):
            n = float(s["n"][k])
            if n == 0:
                continue

            def ratio(a, b):
                return float(a) / float(b) if float(b) else math.nan

            out.append({"k": k if k < self.max_index - 1 else f">={k}", "n": int(n),
                        "centre_deg": ratio(s["centre_deg"][k], n),
                        "amplitude_deg": ratio(s["amplitude_deg"][k], s["n_amplitude"][k]),
                        "return_rate": ratio(s["returns"][k], s["n_eligible"][k]),
                        "gain_bits": ratio(s["gain_bits"][k], n)})
        return out

    def return_rate(self) -> float:
        """Returns over eligible fixations (``k >= 2``), all indices pooled."""
        n = float(self.sums[5].sum())
        return float(self.sums[4].sum()) / n if n else math.nan


def add_human_by_index(stats: IndexStats, hum: Scanpaths, width: float, height: float, ppd: float,
                       cb_map: Tensor) -> None:
    """Add the human scanpaths of one image to ``stats``, each subject's gain read from the density of the *other*
    subjects (leave-one-subject-out, as the human row of the pooled gain; a subject alone on the image is skipped)."""
    from gazekit.metrics.functional.density import KDE_MIX
    from gazekit.metrics.human_maps import human_log_density

    for subject in sorted(set(hum.subject)):
        own = [i for i, v in enumerate(hum.subject) if v == subject]
        others = hum[[i for i, v in enumerate(hum.subject) if v != subject]]
        if others.num_fixations == 0:
            continue
        m = others.mask
        loso = human_log_density(others.x[m].numpy(), others.y[m].numpy(), cb_map, ppd, mix=KDE_MIX)
        stats.add(hum[own], width, height, ppd, loso, cb_map)
