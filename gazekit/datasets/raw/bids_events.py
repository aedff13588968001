"""BIDS-style events TSV (``onset``, ``duration`` in seconds, then any columns; ``n/a`` for missing), e.g. the
studyforrest REMoDNaV output (``label`` FIXA/SACC/ISAC/PURS/HPSO/LPSO/IHPS/ILPS, ``start_x`` ... ``avg_vel``).

:class:`BidsEvents` keeps every cell's original text, so :meth:`BidsEvents.write` reproduces the file byte for
byte; :meth:`BidsEvents.table` is the typed view and :meth:`BidsEvents.fixations` the fixations as Scanpaths.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.datasets.raw.recording import EVENT_COLUMNS, RawRecording
from gazekit.datasets.raw.registry import register_reader
from gazekit._atomic import write_bytes
from gazekit.errors import DataFormatError

__all__ = ["REMODNAV_KINDS", "BidsEvents", "read_bids_events", "write_bids_events"]

REMODNAV_KINDS = {"FIXA": "fixation", "SACC": "saccade", "ISAC": "saccade", "PURS": "pursuit",
                  "HPSO": "pso", "LPSO": "pso", "IHPS": "pso", "ILPS": "pso"}
MISSING = ("n/a", "")


@dataclass
class BidsEvents:
    """An events TSV as read: ``text`` holds every cell as the original string; ``newline`` the line ending."""

    text: pd.DataFrame
    source: str = ""
    newline: str = "\n"
    trailing_newline: bool = True

    def table(self) -> pd.DataFrame:
        """Typed copy: numeric columns as float64 (``n/a`` -> NaN), the rest as strings."""
        out = {}
        for c in self.text.columns:
            col = self.text[c]
            blank = col.isin(MISSING)
            values = pd.to_numeric(col.where(~blank, None), errors="coerce")
            out[c] = values.astype(np.float64) if not (values.isna() & ~blank).any() else col
        return pd.DataFrame(out)

    def write(self, path: str | Path) -> Path:
        """Write the TSV back out, byte-identical to the file read (same cells, separators and line endings)."""
        path = Path(path)
        columns = [self.text[c].astype(str).tolist() for c in self.text.columns]
        rows = ["\t".join(self.text.columns)] + ["\t".join(r) for r in zip(*columns)]
        body = self.newline.join(rows) + (self.newline if self.trailing_newline else "")
        return write_bytes(path, body.encode("utf-8"))

    def events(self, kinds: dict[str, str] | None = None) -> pd.DataFrame:
        """The events in gazekit's tracker-event table (``EVENT_COLUMNS`` plus ``label``), times in ms."""
        t = self.table()
        kinds = REMODNAV_KINDS if kinds is None else kinds
        n = len(t)
        nan = np.full(n, np.nan)
        label = t["label"].astype(str) if "label" in t else pd.Series([""] * n)
        get = lambda c: t[c].to_numpy(np.float64) if c in t and t[c].dtype == np.float64 else nan
        onset, dur = get("onset") * 1000.0, get("duration") * 1000.0
        ev = pd.DataFrame({
            "kind": [kinds.get(v, v.lower()) for v in label], "eye": ["" for _ in range(n)],
            "onset_ms": onset, "offset_ms": onset + dur, "duration_ms": dur,
            "x": (get("start_x") + get("end_x")) / 2, "y": (get("start_y") + get("end_y")) / 2, "pupil": nan,
            "start_x": get("start_x"), "start_y": get("start_y"), "end_x": get("end_x"), "end_y": get("end_y"),
            "amplitude_deg": get("amp"), "peak_velocity": get("peak_vel"), "line": np.arange(n) + 2.0,
        }, columns=list(EVENT_COLUMNS))
        ev["label"] = label.to_numpy()
        return ev

    def fixations(self, *, kind: str = "fixation", dataset: str = "bids_events", image_size=None, **attrs):
        """Events of ``kind`` as a one-scanpath :class:`~gazekit.Scanpaths` (x, y = mean of start and end, px;
        onsets and durations in ms)."""
        from gazekit.scanpaths import Scanpaths

        ev = self.events()
        ev = ev[ev["kind"] == kind]
        return Scanpaths.from_sequences([ev["x"].to_numpy()], [ev["y"].to_numpy()], [ev["onset_ms"].to_numpy()],
                                        [ev["duration_ms"].to_numpy()], dataset=dataset,
                                        trial=Path(self.source).stem, image_size=image_size, **attrs)


def read_bids_events(path: str | Path) -> BidsEvents:
    """Read an events TSV, keeping the text of every cell. Requires ``onset`` and ``duration`` columns with
    numbers (or ``n/a``); a bad cell raises DataFormatError naming the file, line and column."""
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"cannot read as UTF-8 text: {err}", file=path) from err
    newline = "\r\n" if "\r\n" in raw else "\n"
    trailing = raw.endswith(newline)
    lines = raw[: -len(newline)].split(newline) if trailing else raw.split(newline)
    if not lines or not lines[0]:
        raise DataFormatError("empty file (no header line)", file=path)
    header = lines[0].split("\t")
    for c in ("onset", "duration"):
        if c not in header:
            raise DataFormatError(f"missing column {c!r} (header: {header})", file=path, record="line 1", field=c)
    rows = [ln.split("\t") for ln in lines[1:]]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise DataFormatError(f"{len(r)} tab-separated fields, header has {len(header)}", file=path,
                                  record=f"line {i + 2}", field=header[min(len(r), len(header)) - 1])
    text = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(columns=header, dtype=str)
    for c in ("onset", "duration"):
        col = text[c]
        blank = col.isin(MISSING).to_numpy()
        values = pd.to_numeric(col.where(~blank, "0"), errors="coerce").to_numpy(np.float64)
        bad = ~blank & ~np.isfinite(values)
        if c == "duration":
            bad |= ~blank & (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(f"{c} {col.iloc[i]!r} is not a {'non-negative ' if c == 'duration' else ''}number",
                                  file=path, record=f"line {i + 2}", field=c)
    return BidsEvents(text=text, source=str(path), newline=newline, trailing_newline=trailing)


def write_bids_events(events: BidsEvents | pd.DataFrame, path: str | Path) -> Path:
    """Write a :class:`BidsEvents` back byte-identically, or a DataFrame (onset/duration in s) with ``n/a`` for
    NaN and the shortest round-trip text of each float."""
    if isinstance(events, BidsEvents):
        return events.write(path)
    buf = io.StringIO()
    events.to_csv(buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n", float_format=None)
    return write_bytes(path, buf.getvalue().encode("utf-8"))


@register_reader("bids_events", suffixes=("_events.tsv", "_events.tsv.gz"),
                 sniff=lambda first: first.split("\t")[:2] == ["onset", "duration"],
                 description="BIDS events TSV (onset/duration in s), e.g. studyforrest REMoDNaV events")
def read(path, **options) -> RawRecording:
    """As a :class:`RawRecording` without samples: ``events`` holds the events; ``meta['bids']`` the original."""
    bids = read_bids_events(path)
    empty = np.zeros((0, 1))
    rec = RawRecording(time_ms=np.zeros(0), x=empty, y=empty, pupil=empty, valid=np.zeros((0, 1), bool),
                       eyes=("mono",), sampling_rate_hz=float("nan"), events=bids.events(), source=str(path),
                       name=Path(path).stem, format="bids_events", meta={"bids": bids, **options})
    return rec
