"""EyeLink ``.asc`` (edf2asc output): samples, MSG lines, the tracker's SFIX/EFIX, SSACC/ESACC, SBLINK/EBLINK
events, recording blocks (START/END, SAMPLES layout lines) and the gaze coordinate frame (GAZE_COORDS).

Sample lines are parsed block by block with pandas' C parser (fast enough for hours of 2 kHz binocular data);
every other line is parsed in Python. Bad input raises :class:`~gazekit.errors.DataFormatError` naming the file,
the line number (1-based) and the field, or, with ``on_error="drop"``, is dropped and counted in
``RawRecording.dropped``.
"""

from __future__ import annotations

import gc
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.datasets.raw.recording import EVENT_COLUMNS, MESSAGE_COLUMNS, RawRecording
from gazekit.datasets.raw.registry import register_reader
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.geometry import ScreenGeometry

__all__ = ["SampleLayout", "read_eyelink_asc"]

_EVENT_KIND = {"FIX": "fixation", "SACC": "saccade", "BLINK": "blink"}
_EYE = {"L": "left", "R": "right"}


class SampleLayout:
    """Column layout of the sample lines after one ``SAMPLES`` line (e.g. ``SAMPLES GAZE LEFT RIGHT RATE 1000.00
    TRACKING CR FILTER 2 VEL RES INPUT``)."""

    def __init__(self, tokens: list[str], *, file, line: int):
        self.line = line
        self.eyes = tuple(e for e, tok in (("left", "LEFT"), ("right", "RIGHT")) if tok in tokens)
        if not self.eyes:
            raise DataFormatError("SAMPLES line names no eye (LEFT/RIGHT)", file=file, record=f"line {line}",
                                  field="SAMPLES")
        self.vel, self.res, self.input = "VEL" in tokens, "RES" in tokens, "INPUT" in tokens
        if "HTARGET" in tokens:
            raise DataFormatError("HTARGET (head target) sample columns are not supported", file=file,
                                  record=f"line {line}", field="SAMPLES")
        try:
            self.rate = float(tokens[tokens.index("RATE") + 1])
        except (ValueError, IndexError):
            raise DataFormatError("SAMPLES line has no valid RATE", file=file, record=f"line {line}",
                                  field="RATE") from None
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise DataFormatError(f"RATE {self.rate} is not positive", file=file, record=f"line {line}", field="RATE")
        names = ["time"]
        for eye in self.eyes:
            names += [f"x_{eye}", f"y_{eye}", f"pupil_{eye}"]
        if self.vel:
            for eye in self.eyes:
                names += [f"xvel_{eye}", f"yvel_{eye}"]
        if self.res:
            names += ["xres", "yres"]
        if self.input:
            names += ["input"]
        self.columns = names

    @property
    def n_numeric(self) -> int:
        """Number of numeric columns in a sample line."""
        return len(self.columns)


def _num(token: str) -> float:
    """An .asc number; ``.`` (missing) is NaN."""
    return math.nan if token == "." else float(token)


def read_eyelink_asc(path: str | Path, **options) -> RawRecording:
    """Read an EyeLink ASCII file.

    Args:
        path: the ``.asc`` file.
        geometry: physical screen size and viewing distance (the .asc does not hold them); enables degrees.
        on_error: ``"raise"`` (default) or ``"drop"``: malformed sample/event/message lines, a truncated last line
            and non-increasing timestamps are dropped and counted in ``RawRecording.dropped``.
        trial_start, trial_end: regexes on MSG text that open and close trials (see ``RawRecording.split_trials``).
        encoding: text encoding; undecodable bytes are replaced, never fatal.
    Returns:
        the recording; ``events`` holds the tracker's completed events (an SFIX without its EFIX is counted in
        ``dropped['unterminated tracker event']``), times in ms.
    """
    # Parsing allocates millions of short-lived strings; the cyclic GC would rescan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_eyelink_asc(path, **options)
    finally:
        if was_enabled:
            gc.enable()


def _read_eyelink_asc(path: str | Path, *, geometry: ScreenGeometry | None = None, on_error: str = "raise",
                     trial_start: str = r"\bTRIALID\b", trial_end: str | None = None,
                     encoding: str = "utf-8") -> RawRecording:
    """Implementation of :func:`read_eyelink_asc` (garbage collection already paused)."""
    if on_error not in ("raise", "drop"):
        raise InvalidInputError(f"on_error must be 'raise' or 'drop', got {on_error!r}")
    path = Path(path)
    try:
        data = path.read_bytes()
        text = data.decode(encoding, errors="replace")
    except OSError as err:
        raise DataFormatError(f"cannot read: {err}", file=path) from err
    lines = text.split("\n")
    truncated_tail = bool(lines) and lines[-1] != ""
    if not truncated_tail:
        lines.pop()
    dropped: dict[str, int] = {}

    def bad(message: str, lineno: int, field: str | None, reason: str):
        if on_error == "raise":
            raise DataFormatError(message, file=path, record=f"line {lineno}", field=field)
        dropped[reason] = dropped.get(reason, 0) + 1

    if truncated_tail and len(lines) > 1:
        # A file cut mid-write ends without a newline; its last line cannot be trusted.
        bad(f"file ends without a newline (truncated?): last line {lines[-1][:60]!r}", len(lines), None,
            "truncated last line")
        lines.pop()

    # Per-line first byte and tab count, vectorised over the bytes ('\n' and '\t' are single bytes in UTF-8 and
    # in the single-byte encodings, so byte lines are the text lines).
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    line_starts = np.concatenate([[0], newlines + 1])[: len(lines)]
    line_ends = np.concatenate([newlines, [len(buf)]])[: len(lines)]
    first = buf[np.minimum(line_starts, max(len(buf) - 1, 0))] if len(buf) else np.zeros(len(lines), np.uint8)
    is_sample = (first >= 48) & (first <= 57) & (line_starts < line_ends)
    tab_positions = np.flatnonzero(buf == 9)
    tab_count = np.searchsorted(tab_positions, line_ends) - np.searchsorted(tab_positions, line_starts)
    layouts: list[SampleLayout] = []
    layout_at = np.full(len(lines), -1, dtype=np.int64)  # index of the layout in force before each line
    messages, events, blocks, meta = [], [], [], {"ignored_lines": 0}
    pending: dict[tuple[str, str], tuple[float, int]] = {}
    gaze_coords = display_coords = None
    for i in np.flatnonzero(~is_sample).tolist():
        raw_line = lines[i].rstrip("\r")
        lineno = i + 1
        tokens = raw_line.split()
        if not tokens:
            continue
        head = tokens[0]
        try:
            if head == "MSG":
                parts = raw_line.split(None, 2)
                t = float(parts[1])
                msg = parts[2].strip() if len(parts) > 2 else ""
                messages.append((t, msg, lineno))
                if msg.startswith(("GAZE_COORDS", "DISPLAY_COORDS")):
                    vals = [float(v) for v in msg.split()[1:5]]
                    size = (vals[2] - vals[0] + 1.0, vals[3] - vals[1] + 1.0)
                    if msg.startswith("GAZE_COORDS"):
                        gaze_coords = size
                    else:
                        display_coords = size
            elif head in ("SFIX", "SSACC", "SBLINK"):
                pending[(head[1:], tokens[1])] = (_num(tokens[2]), lineno)
            elif head in ("EFIX", "ESACC", "EBLINK"):
                events.append(_parse_end_event(head[1:], tokens, lineno))
                pending.pop((head[1:], tokens[1]), None)
            elif head == "SAMPLES":
                layouts.append(SampleLayout(tokens, file=path, line=lineno))
                layout_at[i:] = len(layouts) - 1
            elif head == "START":
                blocks.append({"start_ms": float(tokens[1]), "end_ms": math.nan, "line": lineno})
            elif head == "END":
                if blocks:
                    blocks[-1]["end_ms"] = float(tokens[1])
            elif head == "PUPIL":
                meta["pupil_unit"] = tokens[1].lower() if len(tokens) > 1 else ""
            elif head == "**":
                _header(raw_line, meta)
            elif head in ("EVENTS", "PRESCALER", "VPRESCALER", "INPUT", "BUTTON") or not raw_line[:1].isalpha():
                pass  # calibration text, indented coefficient lines, ">>>>" banners
            else:
                meta["ignored_lines"] += 1
        except DataFormatError:
            raise
        except (ValueError, IndexError, KeyError):
            bad(f"malformed {head} line: {raw_line[:80]!r}", lineno, head, f"malformed {head} line")
            continue
    if pending:  # SFIX/SSACC/SBLINK whose end line never came (recording stopped, or file cut)
        dropped["unterminated tracker event"] = dropped.get("unterminated tracker event", 0) + len(pending)

    time, columns, sample_lines = _parse_samples(lines, is_sample, tab_count, layout_at, layouts, path, bad,
                                                 (data, line_starts, line_ends))
    eyes = tuple(e for e in ("left", "right") if any(e in lay.eyes for lay in layouts))
    n = len(time)
    if n:
        order_bad = np.flatnonzero(np.diff(time) <= 0)
        if len(order_bad):
            if on_error == "raise":
                k = int(order_bad[0]) + 1
                raise DataFormatError(f"sample time {time[k]:g} ms is not after the previous sample's "
                                      f"{time[k - 1]:g} ms (timestamps must increase)", file=path,
                                      record=f"line {int(sample_lines[k])}", field="time")
            keep = time > np.concatenate([[-np.inf], np.maximum.accumulate(time)[:-1]])
            dropped["non-increasing timestamp"] = dropped.get("non-increasing timestamp", 0) + int((~keep).sum())
            time, sample_lines = time[keep], sample_lines[keep]
            columns = {k: v[keep] for k, v in columns.items()}
    x = np.stack([columns[f"x_{e}"] for e in eyes], axis=1) if eyes else np.zeros((len(time), 0))
    y = np.stack([columns[f"y_{e}"] for e in eyes], axis=1) if eyes else np.zeros((len(time), 0))
    pupil = np.stack([columns[f"pupil_{e}"] for e in eyes], axis=1) if eyes else np.zeros((len(time), 0))
    valid = np.isfinite(x) & np.isfinite(y)
    if not layouts:
        raise DataFormatError("no SAMPLES line: the file holds no gaze samples (was it converted with -e, events "
                              "only?)", file=path)
    ev = pd.DataFrame(events, columns=list(EVENT_COLUMNS)) if events else None
    rec = RawRecording(
        time_ms=time, x=x, y=y, pupil=pupil, valid=valid, eyes=eyes, sampling_rate_hz=layouts[0].rate,
        messages=pd.DataFrame(messages, columns=list(MESSAGE_COLUMNS)),
        screen_px=gaze_coords or display_coords, dropped=dropped, source=str(path), name=path.stem,
        format="eyelink_asc",
        meta={**meta, "blocks": blocks, "rates_hz": sorted({lay.rate for lay in layouts}),
              "velocity_columns": any(lay.vel for lay in layouts)},
    )
    if ev is not None:
        rec.events = ev.sort_values(["onset_ms", "eye"], kind="stable").reset_index(drop=True)
    rec.split_trials(trial_start, trial_end)
    return rec.with_geometry(geometry)


def _parse_end_event(kind: str, tok: list[str], lineno: int) -> tuple:
    """EFIX eye start end dur x y pupil | ESACC eye start end dur sx sy ex ey ampl pv | EBLINK eye start end dur."""
    eye = _EYE[tok[1]]
    start, end, dur = float(tok[2]), float(tok[3]), float(tok[4])
    nan = math.nan
    x = y = pupil = sx = sy = ex = ey = amp = pv = nan
    if kind == "FIX":
        x, y, pupil = _num(tok[5]), _num(tok[6]), _num(tok[7])
    elif kind == "SACC":
        sx, sy, ex, ey, amp, pv = (_num(t) for t in tok[5:11])
        if len(tok) < 11:
            raise IndexError("ESACC needs 11 fields")
    if end < start:
        raise ValueError("event ends before it starts")
    return (_EVENT_KIND[kind], eye, start, end, dur, x, y, pupil, sx, sy, ex, ey, amp, pv, lineno)


def _header(line: str, meta: dict) -> None:
    body = line[2:].strip()
    if ":" in body:
        key, _, value = body.partition(":")
        key = key.strip().lower().replace(" ", "_")
        if key in ("date", "type", "version", "source", "camera", "serial_number", "recorded_by"):
            meta[f"header_{key}"] = value.strip()
    elif body.startswith("EYELINK"):
        meta["tracker"] = body


def _parse_samples(lines, is_sample, tab_count, layout_at, layouts, path, bad, raw):
    """Parse every sample line, block by block. Returns (time, {column: values}, 1-based line numbers)."""
    idx = np.flatnonzero(is_sample)
    out_cols: dict[str, list[np.ndarray]] = {}
    times, line_numbers = [], []
    all_names = sorted({c for lay in layouts for c in lay.columns if c.startswith(("x_", "y_", "pupil_"))})
    lay_ids = layout_at[idx]
    orphan = idx[lay_ids < 0]
    for i in orphan.tolist():
        bad("sample line before any SAMPLES line (no column layout)", i + 1, None, "sample before SAMPLES line")
    for lay_id in np.unique(lay_ids[lay_ids >= 0]).tolist():
        lay = layouts[lay_id]
        block = idx[lay_ids == lay_id]
        tabs = tab_count[block]
        allowed = (lay.n_numeric - 1, lay.n_numeric)
        counts = np.bincount(tabs)
        expected = max(allowed, key=lambda a: counts[a] if a < len(counts) else -1)
        wrong = tabs != expected
        for i in block[wrong].tolist():
            bad(f"sample line has {lines[i].count(chr(9)) + 1} tab-separated fields, expected {expected + 1} "
                f"({', '.join(lay.columns)}{', flags' if expected == lay.n_numeric else ''}) as set by the SAMPLES "
                f"line {lay.line}: {lines[i][:80]!r}", i + 1, lay.columns[min(lines[i].count(chr(9)) + 1, lay.n_numeric - 1)],
                "sample line with missing or extra columns")
        block = block[~wrong]
        if not len(block):
            continue
        values = _read_block(lines, block, lay, path, bad, raw)
        if values is None:
            continue
        block, values = values
        times.append(values[:, 0])
        line_numbers.append(block + 1)
        for name in all_names:
            col = values[:, lay.columns.index(name)] if name in lay.columns else np.full(len(block), np.nan)
            out_cols.setdefault(name, []).append(col)
    time = np.concatenate(times) if times else np.zeros(0)
    cols = {k: np.concatenate(v) for k, v in out_cols.items()}
    for name in all_names:
        cols.setdefault(name, np.zeros(0))
    return time, cols, (np.concatenate(line_numbers) if line_numbers else np.zeros(0, np.int64))


def _read_block(lines, block, lay, path, bad, raw):
    """Numbers of the sample lines ``block`` (indices into lines) -> (kept indices, [n, n_numeric] float64)."""
    data, line_starts, line_ends = raw
    # Consecutive sample lines are one slice of the file's bytes: join runs, not lines.
    breaks = np.flatnonzero(np.diff(block) != 1) + 1
    run_first = block[np.concatenate([[0], breaks])]
    run_last = block[np.concatenate([breaks - 1, [len(block) - 1]])]
    text = b"\n".join(data[a:b] for a, b in zip(line_starts[run_first].tolist(), line_ends[run_last].tolist()))
    try:
        df = pd.read_csv(io.BytesIO(text), sep="\t", encoding="latin-1", header=None, usecols=range(lay.n_numeric), na_values=["."],
                         keep_default_na=False, skipinitialspace=True, dtype=np.float64, engine="c")
        values = df.to_numpy(dtype=np.float64)
        if len(values) == len(block):
            return _check_time(block, values, lay, path, bad)
    except (ValueError, pd.errors.ParserError):
        pass
    # Slow path: find and report (or drop) the offending lines one by one.
    rows, keep = [], []
    for i in block.tolist():
        fields = lines[i].rstrip("\r").split("\t")[: lay.n_numeric]
        try:
            rows.append([_num(f.strip()) for f in fields])
            keep.append(i)
        except ValueError:
            k = next(j for j, f in enumerate(fields) if not _is_number(f.strip()))
            bad(f"{lay.columns[k]} value {fields[k].strip()!r} is not a number: {lines[i][:80]!r}", i + 1,
                lay.columns[k], "sample line with a non-numeric value")
    if not rows:
        return None
    return _check_time(np.asarray(keep), np.asarray(rows, dtype=np.float64), lay, path, bad)


def _check_time(block, values, lay, path, bad):
    missing = ~np.isfinite(values[:, 0])
    for k in np.flatnonzero(missing).tolist():
        bad("sample time is missing", int(block[k]) + 1, "time", "sample line without a time")
    return block[~missing], values[~missing]


def _is_number(token: str) -> bool:
    try:
        _num(token)
        return True
    except ValueError:
        return False


@register_reader("eyelink_asc", suffixes=(".asc",), sniff=lambda first: first.startswith("** CONVERTED FROM"),
                 description="SR Research EyeLink ASCII export (edf2asc): samples, messages, tracker events")
def read(path, **options) -> RawRecording:
    return read_eyelink_asc(path, **options)
