"""I-VT: velocity-threshold fixation identification (Salvucci & Goldberg 2000).

A sample is a fixation candidate when its speed is below the threshold; consecutive candidates form a fixation
when they last at least the minimum duration. NaN speeds (track loss, gaps) are never candidates, so no fixation
spans a blink. Same definition as pymovements' ``ivt`` (strict ``<``, duration from first to last timestamp
plus ``sample_interval_ms``, which pymovements takes as 0).
"""

from __future__ import annotations

import numpy as np

from gazekit.errors import InvalidInputError
from gazekit.events.preprocess import runs

__all__ = ["ivt"]


def ivt(velocities: np.ndarray, threshold: float, *, time_ms: np.ndarray | None = None, min_duration_ms: float = 0.0,
        sample_interval_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Fixations by velocity threshold.

    Args:
        velocities: ``[N, 2]`` velocity (units/s) or ``[N]`` speed.
        threshold: speed threshold in the same units/s; strictly below is a fixation candidate.
        time_ms: ``[N]`` sample times (default 0, 1, 2, ...).
        min_duration_ms: minimum fixation duration; a run counts when
            ``time[last] - time[first] + sample_interval_ms >= min_duration_ms``.
        sample_interval_ms: duration one sample stands for (``1000 / rate`` counts the last sample's interval).
    Returns:
        start and end (inclusive) sample indices of the fixations.
    """
    v = np.asarray(velocities, dtype=np.float64)
    speed = np.hypot(v[:, 0], v[:, 1]) if v.ndim == 2 else v
    if not (np.isfinite(threshold) and threshold > 0):
        raise InvalidInputError(f"velocity threshold must be a positive number, got {threshold!r}")
    t = np.arange(len(speed), dtype=np.float64) if time_ms is None else np.asarray(time_ms, dtype=np.float64)
    if len(t) != len(speed):
        raise InvalidInputError(f"time_ms has {len(t)} samples, velocities {len(speed)}")
    with np.errstate(invalid="ignore"):
        starts, ends = runs(speed < threshold)
    keep = t[ends] - t[starts] + sample_interval_ms >= min_duration_ms
    return starts[keep], ends[keep]
