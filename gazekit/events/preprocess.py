"""Shared preprocessing of raw gaze for event detection: runs of a boolean mask, velocities, invalid-sample
masks (track loss, tracker blinks, a safety margin) and segments without time gaps.

Units: positions in degrees of visual angle when a screen geometry is known, else pixels; time in ms;
velocities in (deg or px) per second.
"""

from __future__ import annotations

import numpy as np

from gazekit.errors import InvalidInputError

__all__ = ["VELOCITY_METHODS", "invalid_mask", "runs", "segment_ids", "velocity"]

VELOCITY_METHODS = ("preceding", "neighbors", "smooth", "savitzky_golay")


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) indices of the runs of True in a 1-D boolean array."""
    m = np.asarray(mask, dtype=bool)
    if not m.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.diff(np.concatenate([[False], m, [False]]).astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def segment_ids(time_ms: np.ndarray, sampling_rate_hz: float, gap_factor: float = 1.5) -> np.ndarray:
    """Integer id per sample that changes after every time gap longer than ``gap_factor`` sample intervals."""
    if len(time_ms) < 2:
        return np.zeros(len(time_ms), np.int64)
    gap = np.diff(time_ms) > gap_factor * 1000.0 / sampling_rate_hz
    return np.concatenate([[0], np.cumsum(gap)]).astype(np.int64)


def velocity(x: np.ndarray, y: np.ndarray, sampling_rate_hz: float, method: str = "smooth", *,
             segments: np.ndarray | None = None, window_length: int = 7, degree: int = 2) -> np.ndarray:
    """Velocity ``[N, 2]`` in position units per second.

    Methods (the names pymovements uses, same definitions):
        * ``preceding``: (p[i] - p[i-1]) * rate; the first sample is NaN.
        * ``neighbors``: (p[i+1] - p[i-1]) * rate / 2.
        * ``smooth`` (also ``fivepoint``): (p[i+2] + p[i+1] - p[i-1] - p[i-2]) * rate / 6.
        * ``savitzky_golay``: first derivative of a Savitzky-Golay fit (``window_length``, ``degree``).
    Samples whose kernel reaches past the recording, across a NaN or across a time gap (``segments`` differ)
    are NaN, so no velocity ever mixes two sides of a blink or gap.
    """
    if method == "fivepoint":
        method = "smooth"
    if method not in VELOCITY_METHODS:
        raise InvalidInputError(f"unknown velocity method {method!r}; use one of {VELOCITY_METHODS}")
    if not (np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise InvalidInputError(f"sampling rate must be positive, got {sampling_rate_hz!r}")
    p = np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], axis=1)
    n = len(p)
    out = np.full((n, 2), np.nan)
    if method == "savitzky_golay":
        from scipy.signal import savgol_filter

        if n >= window_length:
            out = savgol_filter(p, window_length, degree, deriv=1, axis=0, mode="interp") * sampling_rate_hz
        half = window_length // 2
        offsets = range(-half, half + 1)
        # savgol_filter spreads NaN over the window itself; edges use the 'interp' fit.
    else:
        kernel = {"preceding": {0: 1.0, -1: -1.0}, "neighbors": {1: 0.5, -1: -0.5},
                  "smooth": {2: 1 / 6, 1: 1 / 6, -1: -1 / 6, -2: -1 / 6}}[method]
        lo, hi = -min(kernel), max(max(kernel), 0)
        if n > lo + hi:
            acc = np.zeros((n - lo - hi, 2))
            for k, w in kernel.items():
                acc += w * p[lo + k: n - hi + k]
            out[lo: n - hi] = acc * sampling_rate_hz
        offsets = kernel.keys()
    if segments is not None and n:
        seg = np.asarray(segments)
        crosses = np.zeros(n, dtype=bool)
        for k in offsets:
            if k == 0:
                continue
            shifted = np.roll(seg, -k)
            bad = shifted != seg
            if k > 0:
                bad[n - k:] = True
            else:
                bad[: -k] = True
            crosses |= bad
        out[crosses] = np.nan
    return out


def invalid_mask(x: np.ndarray, y: np.ndarray, time_ms: np.ndarray, *, blinks: np.ndarray | None = None,
                 margin_ms: float = 0.0) -> np.ndarray:
    """True where a sample cannot be used: NaN position, inside a tracker blink (``blinks`` ``[K, 2]`` onset/offset
    ms, inclusive), or within ``margin_ms`` of either (eyelid movement distorts the pupil image around blinks)."""
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if blinks is not None and len(blinks):
        for onset, offset in np.asarray(blinks, dtype=np.float64):
            lo, hi = np.searchsorted(time_ms, [onset, offset], side="left")
            hi = np.searchsorted(time_ms, offset, side="right")
            bad[lo:hi] = True
    if margin_ms > 0 and bad.any():
        starts, ends = runs(bad)
        t0 = time_ms[starts] - margin_ms
        t1 = time_ms[ends] + margin_ms
        lo = np.searchsorted(time_ms, t0, side="left")
        hi = np.searchsorted(time_ms, t1, side="right")
        delta = np.zeros(len(bad) + 1, np.int64)
        np.add.at(delta, lo, 1)
        np.add.at(delta, hi, -1)
        bad = np.cumsum(delta[:-1]) > 0
    return bad
