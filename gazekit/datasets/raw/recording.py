"""The raw-sample type every eye-tracker reader returns.

Units (fixed): time in milliseconds on the tracker's clock (never shifted), gaze x/y in screen pixels (origin
top-left, x right, y down), pupil in the tracker's own unit (EyeLink area or diameter counts, Tobii mm).
Invalid samples (track loss, blinks, rows the tracker flagged) are NaN in x/y and False in ``valid``; nothing
is interpolated. Records a reader had to drop are counted in ``dropped`` (reason -> count), never silently lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from gazekit.errors import InvalidInputError
from gazekit.geometry import ScreenGeometry

__all__ = ["EVENT_COLUMNS", "MESSAGE_COLUMNS", "TRIAL_COLUMNS", "RawRecording", "empty_events"]

EYES = ("left", "right", "mono")  # "mono": one eye, and the source does not say which
# Tracker-reported events (EyeLink SFIX/EFIX, SSACC/ESACC, SBLINK/EBLINK; BIDS event files).
EVENT_COLUMNS = ("kind", "eye", "onset_ms", "offset_ms", "duration_ms", "x", "y", "pupil",
                 "start_x", "start_y", "end_x", "end_y", "amplitude_deg", "peak_velocity", "line")
MESSAGE_COLUMNS = ("time_ms", "text", "line")
TRIAL_COLUMNS = ("trial", "start_ms", "end_ms")


def empty_events() -> pd.DataFrame:
    """An empty tracker-event table with the columns of :data:`EVENT_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("kind", "eye") else np.float64)
                         for c in EVENT_COLUMNS})


@dataclass
class RawRecording:
    """One recording of raw gaze samples, with what the tracker said about it.

    Attributes:
        time_ms: ``[N]`` float64 sample times in ms (strictly increasing).
        x, y: ``[N, E]`` float64 gaze position in screen pixels per recorded eye, NaN where invalid.
        pupil: ``[N, E]`` float64 pupil size (tracker units), NaN where unknown.
        valid: ``[N, E]`` bool, True where the tracker delivered a usable gaze position.
        eyes: names of the E recorded eyes: ``("left",)``, ``("right",)``, ``("left", "right")``, or ``("mono",)``
            when the source does not say which eye was recorded.
        sampling_rate_hz: nominal sampling rate in Hz (from the file header, else from the median interval).
        messages: table ``time_ms, text, line`` (EyeLink MSG lines; empty for other formats).
        events: the tracker's own events (``EVENT_COLUMNS``; kind is fixation/saccade/blink/...; times in ms).
        trials: table ``trial, start_ms, end_ms`` (end exclusive), from messages; empty when there are none.
        screen_px: (width, height) of the gaze coordinate frame in pixels, or None when unknown.
        geometry: the physical screen and viewing distance, or None (then only pixel units are available).
        labels: per-sample hand labels, coder name -> ``[N]`` int array (lund2013), else empty.
        dropped: records a reader removed, reason -> count.
        source: file the recording came from; ``name``: short name (file stem); ``format``: reader name.
        meta: header facts (tracker model, date, recording blocks, ...).
    """

    time_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pupil: np.ndarray
    valid: np.ndarray
    eyes: tuple[str, ...]
    sampling_rate_hz: float
    messages: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MESSAGE_COLUMNS)))
    events: pd.DataFrame = field(default_factory=empty_events)
    trials: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TRIAL_COLUMNS)))
    screen_px: tuple[float, float] | None = None
    geometry: ScreenGeometry | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    name: str = ""
    format: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = self.time_ms.shape[0]
        e = len(self.eyes)
        if self.time_ms.ndim != 1:
            raise InvalidInputError(f"RawRecording.time_ms must be 1-D, got shape {self.time_ms.shape}")
        for name in ("x", "y", "pupil", "valid"):
            if getattr(self, name).shape != (n, e):
                raise InvalidInputError(f"RawRecording.{name} has shape {getattr(self, name).shape}, expected {(n, e)}")
        if any(eye not in EYES for eye in self.eyes) or len(set(self.eyes)) != e:
            raise InvalidInputError(f"RawRecording.eyes must be distinct names from {EYES}, got {self.eyes}")
        for coder, lab in self.labels.items():
            if lab.shape != (n,):
                raise InvalidInputError(f"RawRecording.labels[{coder!r}] has shape {lab.shape}, expected ({n},)")
        if self.geometry is not None and self.screen_px is None:
            self.screen_px = (self.geometry.width_px, self.geometry.height_px)

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    @property
    def binocular(self) -> bool:
        """Whether both eyes were recorded."""
        return len(self.eyes) == 2

    @property
    def duration_ms(self) -> float:
        """Recording length in ms, from the first sample to one interval past the last (0 when empty)."""
        return float(self.time_ms[-1] - self.time_ms[0] + 1000.0 / self.sampling_rate_hz) if len(self) else 0.0

    def add_drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records dropped for ``reason`` (in ``dropped``)."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def with_geometry(self, geometry: ScreenGeometry | None) -> RawRecording:
        """A copy with ``geometry`` set (and ``screen_px`` taken from it)."""
        if geometry is None:
            return self
        if self.screen_px is not None and (abs(self.screen_px[0] - geometry.width_px) > 1
                                           or abs(self.screen_px[1] - geometry.height_px) > 1):
            raise InvalidInputError(
                f"{self.source or self.name}: geometry is {geometry.width_px:g}x{geometry.height_px:g} px but the "
                f"recording's gaze coordinates span {self.screen_px[0]:g}x{self.screen_px[1]:g} px")
        return replace(self, geometry=geometry, screen_px=(geometry.width_px, geometry.height_px))

    # ------------------------------------------------------------------ gaze of one eye
    def gaze(self, eye: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
        """x, y in pixels (``[N]`` each, NaN where invalid) for ``eye``.

        Args:
            eye: ``"left"``, ``"right"``, ``"average"`` (mean of both eyes where both are valid, NaN where either is
                missing, so that one eye dropping out never creates a jump) or ``"auto"`` (the only eye of a
                monocular recording, ``"average"`` of a binocular one).
        Returns:
            x, y and the eye actually used.
        """
        if eye == "auto":
            eye = self.eyes[0] if len(self.eyes) == 1 else "average"
        if eye == "average":
            if len(self.eyes) == 1:
                return self.x[:, 0].copy(), self.y[:, 0].copy(), self.eyes[0]
            ok = self.valid.all(axis=1)
            x = np.where(ok, self.x.mean(axis=1), np.nan)
            y = np.where(ok, self.y.mean(axis=1), np.nan)
            return x, y, "average"
        if eye not in self.eyes:
            raise InvalidInputError(f"{self.source or self.name}: eye {eye!r} was not recorded "
                                    f"(recorded: {', '.join(self.eyes)}); use one of {list(self.eyes) + ['average', 'auto']}")
        k = self.eyes.index(eye)
        return np.where(self.valid[:, k], self.x[:, k], np.nan), np.where(self.valid[:, k], self.y[:, k], np.nan), eye

    # ------------------------------------------------------------------ trials
    def split_trials(self, start: str = r"\bTRIALID\b", end: str | None = None) -> pd.DataFrame:
        """Trials from messages: each message matching the regex ``start`` opens a trial that lasts until the next
        matching ``end`` message (if given), the next start, or the end of the recording (end exclusive).

        The trial id is the message text after the match (e.g. ``"3"`` for ``TRIALID 3``), or a running number.
        Sets and returns ``self.trials``.
        """
        rows = []
        msgs = self.messages.sort_values("time_ms", kind="stable") if len(self.messages) else self.messages
        start_re, end_re = re.compile(start), re.compile(end) if end else None
        last = float(self.time_ms[-1]) + 1000.0 / self.sampling_rate_hz if len(self) else 0.0
        open_trial = None
        for t, text in zip(msgs.get("time_ms", []), msgs.get("text", [])):
            m = start_re.search(text)
            if m:
                if open_trial is not None:
                    rows.append((open_trial[0], open_trial[1], float(t)))
                ident = text[m.end():].strip() or str(len(rows))
                open_trial = (ident, float(t))
            elif end_re is not None and open_trial is not None and end_re.search(text):
                rows.append((open_trial[0], open_trial[1], float(t)))
                open_trial = None
        if open_trial is not None:
            rows.append((open_trial[0], open_trial[1], max(last, open_trial[1])))
        self.trials = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
        return self.trials

    def slice_time(self, start_ms: float, end_ms: float) -> RawRecording:
        """Samples with ``start_ms <= t < end_ms`` (and the messages/events inside) as a new recording."""
        keep = (self.time_ms >= start_ms) & (self.time_ms < end_ms)
        ev = self.events
        ev = ev[(ev["onset_ms"] >= start_ms) & (ev["onset_ms"] < end_ms)] if len(ev) else ev
        msgs = self.messages
        msgs = msgs[(msgs["time_ms"] >= start_ms) & (msgs["time_ms"] < end_ms)] if len(msgs) else msgs
        return replace(self, time_ms=self.time_ms[keep], x=self.x[keep], y=self.y[keep], pupil=self.pupil[keep],
                       valid=self.valid[keep], labels={k: v[keep] for k, v in self.labels.items()},
                       events=ev.reset_index(drop=True), messages=msgs.reset_index(drop=True),
                       trials=pd.DataFrame(columns=list(TRIAL_COLUMNS)), dropped={}, meta=dict(self.meta))

    def iter_trials(self):
        """Yield ``(trial_id, RawRecording)`` per trial, or ``("", self)`` when there are no trials."""
        if not len(self.trials):
            yield "", self
            return
        for row in self.trials.itertuples(index=False):
            yield str(row.trial), self.slice_time(row.start_ms, row.end_ms)

    # ------------------------------------------------------------------ reporting
    def summary(self) -> dict:
        """Counts and properties, as ``gazekit events info`` prints them."""
        n = len(self)
        ev_counts = self.events["kind"].value_counts().to_dict() if len(self.events) else {}
        return {
            "source": self.source, "format": self.format, "samples": n, "eyes": list(self.eyes),
            "sampling_rate_hz": self.sampling_rate_hz,
            "time_ms": [float(self.time_ms[0]), float(self.time_ms[-1])] if n else [],
            "duration_s": round(self.duration_ms / 1000.0, 3),
            "valid_fraction": {eye: round(float(self.valid[:, k].mean()), 4) if n else 0.0
                               for k, eye in enumerate(self.eyes)},
            "screen_px": list(self.screen_px) if self.screen_px else None,
            "geometry": self.geometry.to_dict() if self.geometry else None,
            "messages": len(self.messages), "trials": len(self.trials),
            "tracker_events": {str(k): int(v) for k, v in sorted(ev_counts.items())},
            "labels": sorted(self.labels), "dropped": dict(self.dropped),
            **{k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool))},
        }

    def __repr__(self) -> str:
        return (f"RawRecording({self.name!r}, format={self.format!r}, samples={len(self)}, eyes={self.eyes}, "
                f"rate={self.sampling_rate_hz:g} Hz, trials={len(self.trials)}, events={len(self.events)})")
