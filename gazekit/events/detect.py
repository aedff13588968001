"""From a :class:`~gazekit.datasets.raw.RawRecording` to fixations (as :class:`~gazekit.Scanpaths`, one scanpath
per trial) and saccades (a table): the I-VT / I-DT pipeline with shared preprocessing.

Units: with a screen geometry (the recording's or ``geometry=``), positions are converted to degrees of visual
angle (exact arctangent, :meth:`ScreenGeometry.px_to_deg`) and thresholds are in deg/s (I-VT) or deg (I-DT).
Without one, detection runs in pixels, a :class:`UnitsWarning` says so, and a threshold must be given in px/s or
px: a default in degrees is never silently applied to pixels. Fixation positions are always reported in pixels.
Fixation duration = last sample time - first sample time + one sample interval (EyeLink's convention).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gazekit.datasets.raw.recording import RawRecording
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.events.idt import idt
from gazekit.events.ivt import ivt
from gazekit.events.preprocess import invalid_mask, runs, segment_ids, velocity
from gazekit.geometry import ScreenGeometry
from gazekit.scanpaths import Scanpaths

__all__ = ["DEFAULTS", "SACCADE_COLUMNS", "SAMPLE_CLASSES", "EventDetection", "UnitsWarning", "detect_events"]

# Defaults in degrees: I-VT 30 deg/s with 60 ms minimum fixation (the Tobii I-VT filter's defaults, Olsen 2012);
# I-DT 1.0 deg dispersion over 100 ms (Salvucci & Goldberg 2000 suggest 0.5-1 deg and 100-200 ms).
DEFAULTS = {"ivt": {"threshold": 30.0, "min_fixation_ms": 60.0}, "idt": {"threshold": 1.0, "min_fixation_ms": 100.0}}
SAMPLE_CLASSES = {0: "unclassified", 1: "fixation", 2: "saccade"}
SACCADE_COLUMNS = ("trial", "onset_ms", "offset_ms", "duration_ms", "start_x", "start_y", "end_x", "end_y",
                   "amplitude", "peak_velocity")


class UnitsWarning(UserWarning):
    """Detection ran in pixels because no screen geometry was known."""


@dataclass
class EventDetection:
    """What :func:`detect_events` found.

    Attributes:
        fixations: one scanpath per trial (or one for the recording): x, y in px, t_start and duration in ms.
        saccades: table (``SACCADE_COLUMNS``): times in ms, positions in px, amplitude in ``units``, peak velocity
            in ``units``/s.
        sample_class: ``[N]`` int8 per recording sample: 0 unclassified (invalid or neither), 1 fixation, 2 saccade.
        units: ``"deg"`` or ``"px"`` (units of the thresholds, amplitudes and velocities).
        params: the parameters actually used.
        report: counts (invalid samples, fixations outside any trial, ...).
    """

    fixations: Scanpaths
    saccades: pd.DataFrame
    sample_class: np.ndarray
    units: str
    params: dict
    report: dict = field(default_factory=dict)


def detect_events(rec: RawRecording, method: str = "ivt", *, threshold: float | None = None,
                  min_fixation_ms: float | None = None, min_saccade_ms: float = 0.0,
                  geometry: ScreenGeometry | None = None, eye: str = "auto", velocity_method: str = "smooth",
                  blink_margin_ms: float = 0.0, use_tracker_blinks: bool = True, by_trial: bool = True,
                  idt_convention: str = "salvucci", merge_gap_ms: float = 0.0,
                  merge_distance: float | None = None) -> EventDetection:
    """Detect fixations and saccades in raw samples.

    Args:
        rec: the recording.
        method: ``"ivt"`` or ``"idt"``.
        threshold: I-VT speed threshold (deg/s, or px/s without geometry) or I-DT dispersion threshold (deg, or px).
            Default with geometry: ``DEFAULTS[method]["threshold"]``; required without geometry.
        min_fixation_ms: minimum fixation duration (default ``DEFAULTS[method]["min_fixation_ms"]``).
        min_saccade_ms: minimum saccade duration reported in ``saccades``.
        geometry: screen geometry; overrides the recording's.
        eye: ``"left"``, ``"right"``, ``"average"`` or ``"auto"`` (see :meth:`RawRecording.gaze`).
        velocity_method: see :func:`gazekit.events.preprocess.velocity` (I-VT, and saccade peak velocities).
        blink_margin_ms: also treat samples this close to track loss or a tracker blink as invalid.
        use_tracker_blinks: treat samples inside the tracker's own blink events (EyeLink EBLINK) as invalid.
        by_trial: one scanpath per trial of ``rec.trials`` (fixations are assigned by onset); else one scanpath.
        idt_convention: I-DT boundary convention, ``"salvucci"`` or ``"pymovements"``.
        merge_gap_ms: merge two consecutive fixations separated by at most this long (ms) whose mean positions are
            at most ``merge_distance`` apart (deg, or px without geometry; default 0.5 deg) -- the Tobii I-VT
            fixation filter's step (75 ms / 0.5 deg there). 0 (default) merges nothing. Merging happens before
            the minimum-duration filter, as in that filter.
    """
    if method not in DEFAULTS:
        raise InvalidInputError(f"unknown detection method {method!r}; use one of {sorted(DEFAULTS)}")
    n = len(rec)
    where = rec.source or rec.name
    if n == 0:
        held = f" (it holds {len(rec.events)} events detected elsewhere: see RawRecording.events)" if len(rec.events) else ""
        raise DataFormatError(f"the recording has no gaze samples to detect events in{held}", file=where)
    geometry = geometry or rec.geometry
    if geometry is not None and rec.geometry is not geometry:
        rec = rec.with_geometry(geometry)
    if geometry is None:
        if threshold is None:
            unit = "px/s" if method == "ivt" else "px"
            raise InvalidInputError(
                f"{where}: no screen geometry, so thresholds cannot be in degrees. Pass geometry=ScreenGeometry(...) "
                f"(CLI: --geometry W_PX,H_PX,W_CM,H_CM,DIST_CM), or an explicit threshold in {unit}")
        warnings.warn(f"{where}: no screen geometry; {method} runs in pixels with threshold {threshold:g} "
                      f"{'px/s' if method == 'ivt' else 'px'}", UnitsWarning, stacklevel=2)
    units = "deg" if geometry is not None else "px"
    threshold = float(DEFAULTS[method]["threshold"] if threshold is None else threshold)
    min_fix = float(DEFAULTS[method]["min_fixation_ms"] if min_fixation_ms is None else min_fixation_ms)
    if not (math.isfinite(threshold) and threshold > 0) or not (math.isfinite(min_fix) and min_fix >= 0):
        raise InvalidInputError(f"threshold must be > 0 and min_fixation_ms >= 0, got {threshold!r}, {min_fix!r}")
    rate = rec.sampling_rate_hz
    if not (math.isfinite(rate) and rate > 0):
        raise DataFormatError(f"sampling rate {rate!r} is unknown", file=where)
    dt = 1000.0 / rate
    time = rec.time_ms
    x_px, y_px, eye_used = rec.gaze(eye)
    blinks = None
    if use_tracker_blinks and len(rec.events):
        ev = rec.events[rec.events["kind"] == "blink"]
        if eye_used in ("left", "right"):
            ev = ev[ev["eye"] == eye_used]
        blinks = ev[["onset_ms", "offset_ms"]].to_numpy(np.float64)
    bad = invalid_mask(x_px, y_px, time, blinks=blinks, margin_ms=blink_margin_ms)
    if bad.all():
        raise DataFormatError(f"no valid gaze samples ({n} samples, all track loss or blinks)", file=where)
    if units == "deg":
        px, py = geometry.px_to_deg(x_px, y_px)
    else:
        px, py = x_px.copy(), y_px.copy()
    px[bad], py[bad] = np.nan, np.nan
    seg = segment_ids(time, rate)
    vel = velocity(px, py, rate, velocity_method, segments=seg)
    vel[bad] = np.nan  # the 5-point kernel skips the centre sample: an isolated invalid sample must stay invalid
    speed = np.hypot(vel[:, 0], vel[:, 1])
    if method == "ivt":
        starts, ends = ivt(speed, threshold, time_ms=time, min_duration_ms=0.0 if merge_gap_ms > 0 else min_fix,
                           sample_interval_ms=dt)
    else:
        m = max(2, math.ceil(min_fix / dt - 1e-9))
        starts, ends = _idt_segments(px, py, seg, threshold, m, idt_convention)
    n_merged = 0
    if merge_gap_ms > 0 and len(starts) > 1:
        if merge_distance is None:
            if units == "px":
                raise InvalidInputError(f"{where}: merge_gap_ms without geometry needs merge_distance in px")
            merge_distance = 0.5
        starts, ends, n_merged = merge_fixations(px, py, time, starts, ends, merge_gap_ms, merge_distance)
        keep = time[ends] - time[starts] + dt >= min_fix
        starts, ends = starts[keep], ends[keep]
    sample_class = np.zeros(n, np.int8)
    fix_mask = np.zeros(n, bool)
    if len(starts):
        delta = np.zeros(n + 1, np.int64)
        np.add.at(delta, starts, 1)
        np.add.at(delta, ends + 1, -1)
        fix_mask = np.cumsum(delta[:-1]) > 0
    sample_class[fix_mask] = 1
    # Saccades: valid, non-fixation runs inside one gap-free segment (I-VT: above threshold as well).
    cand = ~fix_mask & ~bad & np.isfinite(speed) if method == "ivt" else ~fix_mask & ~bad
    s_starts, s_ends = runs(cand)
    same_seg = seg[s_starts] == seg[s_ends]
    if method == "idt":  # a saccade lies between two fixations, never at the edge of a segment or track loss
        inner = (s_starts > 0) & (s_ends < n - 1)
        inner[inner] &= fix_mask[s_starts[inner] - 1] & fix_mask[s_ends[inner] + 1]
        same_seg &= inner
    s_starts, s_ends = s_starts[same_seg], s_ends[same_seg]
    keep = time[s_ends] - time[s_starts] + dt >= min_saccade_ms
    s_starts, s_ends = s_starts[keep], s_ends[keep]
    for a, b in zip(s_starts.tolist(), s_ends.tolist()):
        sample_class[a: b + 1] = 2
    fix = _fixation_table(time, x_px, y_px, starts, ends, dt)
    sac = _saccade_table(time, x_px, y_px, px, py, speed, s_starts, s_ends, dt)
    report = {"samples": n, "invalid_samples": int(bad.sum()), "fixations": len(starts),
              "saccades": len(s_starts), "merged_fixations": n_merged}
    trial_ids, trial_of_fix, trial_of_sac = _assign_trials(rec, fix["onset_ms"], sac["onset_ms"], by_trial)
    outside = int((trial_of_fix < 0).sum())
    if outside:
        report["fixations outside any trial"] = outside
    sac.insert(0, "trial", [trial_ids[i] if i >= 0 else "" for i in trial_of_sac])
    sp = _scanpaths(rec, fix, trial_ids, trial_of_fix, geometry, method, eye_used)
    params = {"method": method, "threshold": threshold, "units": units, "min_fixation_ms": min_fix,
              "min_saccade_ms": min_saccade_ms, "eye": eye_used, "velocity_method": velocity_method,
              "blink_margin_ms": blink_margin_ms, "sampling_rate_hz": rate, "merge_gap_ms": merge_gap_ms,
              "merge_distance": merge_distance}
    if method == "idt":
        params["idt_convention"] = idt_convention
    return EventDetection(fixations=sp, saccades=sac, sample_class=sample_class, units=units, params=params,
                          report=report)


def merge_fixations(px, py, time, starts, ends, max_gap_ms: float, max_distance: float):
    """Merge consecutive fixations whose gap (next onset - previous offset sample) is <= ``max_gap_ms`` and whose
    mean positions (``px``/``py`` units, NaN ignored) are <= ``max_distance`` apart; chains merge transitively,
    each new pair compared with the grown fixation. Returns (starts, ends, number of merges)."""
    if not len(starts):
        return starts, ends, 0
    out_s, out_e = [int(starts[0])], [int(ends[0])]
    merges = 0

    def centre(a, b):
        return np.nanmean(px[a: b + 1]), np.nanmean(py[a: b + 1])

    cx, cy = centre(out_s[0], out_e[0])
    for a, b in zip(starts[1:].tolist(), ends[1:].tolist()):
        nx, ny = centre(a, b)
        if time[a] - time[out_e[-1]] <= max_gap_ms and math.hypot(nx - cx, ny - cy) <= max_distance:
            out_e[-1] = b
            merges += 1
            cx, cy = centre(out_s[-1], b)
        else:
            out_s.append(a)
            out_e.append(b)
            cx, cy = nx, ny
    return np.asarray(out_s, np.int64), np.asarray(out_e, np.int64), merges


def _idt_segments(px, py, seg, threshold, m, convention):
    """I-DT within each gap-free segment (NaNs already split windows inside idt)."""
    bounds = np.flatnonzero(np.diff(seg)) + 1
    edges = np.concatenate([[0], bounds, [len(seg)]])
    all_s, all_e = [], []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
        s, e = idt(px[a:b], py[a:b], threshold, m, convention=convention)
        all_s.append(s + a)
        all_e.append(e + a)
    return np.concatenate(all_s), np.concatenate(all_e)


def _fixation_table(time, x, y, starts, ends, dt) -> pd.DataFrame:
    csx = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x))])
    csy = np.concatenate([[0.0], np.cumsum(np.nan_to_num(y))])
    count = (ends - starts + 1).astype(np.float64)
    return pd.DataFrame({
        "onset_ms": time[starts], "duration_ms": time[ends] - time[starts] + dt,
        "x": (csx[ends + 1] - csx[starts]) / np.maximum(count, 1), "y": (csy[ends + 1] - csy[starts]) / np.maximum(count, 1),
    })


def _saccade_table(time, x_px, y_px, px, py, speed, starts, ends, dt) -> pd.DataFrame:
    peak = _run_max(speed, starts, ends)
    return pd.DataFrame({
        "onset_ms": time[starts], "offset_ms": time[ends], "duration_ms": time[ends] - time[starts] + dt,
        "start_x": x_px[starts], "start_y": y_px[starts], "end_x": x_px[ends], "end_y": y_px[ends],
        "amplitude": np.hypot(px[ends] - px[starts], py[ends] - py[starts]), "peak_velocity": peak,
    })


def _run_max(values, starts, ends) -> np.ndarray:
    """max(values[a:b+1]) per run, ignoring NaN (NaN when a run has no finite value)."""
    if not len(starts):
        return np.zeros(0)
    filled = np.append(np.nan_to_num(values, nan=-np.inf), -np.inf)
    idx = np.empty(2 * len(starts), np.int64)
    idx[0::2], idx[1::2] = starts, ends + 1
    out = np.maximum.reduceat(filled, idx)[0::2]
    return np.where(np.isfinite(out), out, np.nan)


def _assign_trials(rec, fix_onsets, sac_onsets, by_trial):
    if not by_trial or not len(rec.trials):
        return [""], np.zeros(len(fix_onsets), np.int64), np.zeros(len(sac_onsets), np.int64)
    tr = rec.trials
    ids = [str(t) for t in tr["trial"]]
    lo, hi = tr["start_ms"].to_numpy(np.float64), tr["end_ms"].to_numpy(np.float64)

    def which(onsets):
        onsets = np.asarray(onsets, np.float64)
        out = np.full(len(onsets), -1, np.int64)
        for k in range(len(ids)):  # trials are few; later trials win where messages overlap
            out[(onsets >= lo[k]) & (onsets < hi[k])] = k
        return out

    return ids, which(fix_onsets), which(sac_onsets)


def _scanpaths(rec, fix, trial_ids, trial_of_fix, geometry, method, eye_used) -> Scanpaths:
    xs, ys, ts, ds = [], [], [], []
    for k in range(len(trial_ids)):
        sel = trial_of_fix == k
        xs.append(fix["x"].to_numpy()[sel])
        ys.append(fix["y"].to_numpy()[sel])
        ts.append(fix["onset_ms"].to_numpy()[sel])
        ds.append(fix["duration_ms"].to_numpy()[sel])
    image_size = list(rec.screen_px) if rec.screen_px else None
    return Scanpaths.from_sequences(
        xs, ys, ts, ds, dataset=rec.format, subject=rec.name, trial=trial_ids, image_size=image_size,
        ppd=geometry.pixels_per_degree if geometry is not None else None, screen=geometry,
        scanpath_attrs={"source": rec.source, "detector": method, "eye": eye_used},
    )
