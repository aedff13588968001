"""Tobii TSV exports with normalised gaze (Tobii Pro SDK / TX300 style): ``Time`` (microseconds),
``L/RGazePos2dx/y`` (0-1 of the screen, origin top-left), ``L/RValidity`` (0 = certain ... 4 = eye not found)
and ``L/RPupilDm`` (mm). Samples whose validity code is above ``max_validity`` are invalid (NaN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.datasets.raw.recording import RawRecording
from gazekit.datasets.raw.registry import register_reader
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.geometry import ScreenGeometry

__all__ = ["TX300_GEOMETRY", "read_tobii_tsv"]

# The screen of the shared tobii_tx300 example data (README of the data set): 1920x1080 px, 50.92 x 28.64 cm, 65 cm.
TX300_GEOMETRY = ScreenGeometry(1920, 1080, 50.92, 28.64, 65.0)
_EYE_PREFIX = {"left": "L", "right": "R"}


def read_tobii_tsv(path: str | Path, *, screen_px: tuple[float, float] | None = None,
                   geometry: ScreenGeometry | None = None, max_validity: int = 1, on_invalid: str = "keep",
                   on_error: str = "raise", time_column: str = "Time", time_unit_ms: float = 1e-3) -> RawRecording:
    """Read a Tobii TSV of normalised gaze.

    Args:
        path: the ``.tsv`` file.
        screen_px: (width, height) in pixels that the normalised coordinates span; taken from ``geometry`` when
            given. One of the two is required: normalised coordinates are never guessed into pixels.
        geometry: physical screen and viewing distance (enables degrees). ``TX300_GEOMETRY`` is the shared data's.
        max_validity: highest Tobii validity code accepted as valid (0 certain, 1 probably, 2 50/50, 4 not found).
        on_invalid: ``"keep"`` rows where no eye is valid as track loss (NaN), or ``"drop"`` them (counted in
            ``dropped['no valid eye']``).
        on_error: ``"raise"`` on a non-numeric cell or a non-increasing time (naming file, line and column), or
            ``"drop"`` the row and count it.
        time_column, time_unit_ms: the time column and its unit in ms (default microseconds).
    """
    if on_invalid not in ("keep", "drop") or on_error not in ("raise", "drop"):
        raise InvalidInputError(f"on_invalid must be 'keep'/'drop' and on_error 'raise'/'drop', got {on_invalid!r}, "
                                f"{on_error!r}")
    if geometry is not None:
        screen_px = (geometry.width_px, geometry.height_px)
    if screen_px is None:
        raise InvalidInputError(f"{path}: Tobii gaze is normalised (0-1); pass screen_px=(width, height) or geometry= "
                                f"(CLI: --screen-px W,H or --geometry W_PX,H_PX,W_CM,H_CM,DIST_CM; the shared "
                                f"tobii_tx300 data: geometry=TX300_GEOMETRY, i.e. 1920,1080,50.92,28.64,65)")
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFormatError(f"cannot parse as TSV: {err}", file=path) from err
    eyes = tuple(e for e in ("left", "right") if f"{_EYE_PREFIX[e]}GazePos2dx" in df.columns)
    if not eyes:
        raise DataFormatError(f"no gaze columns (LGazePos2dx/RGazePos2dx); found {list(df.columns)[:12]}", file=path,
                              field="LGazePos2dx")
    needed = [time_column] + [f"{_EYE_PREFIX[e]}{c}" for e in eyes for c in ("GazePos2dx", "GazePos2dy", "Validity")]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataFormatError(f"missing column(s) {missing}", file=path, field=missing[0])
    dropped: dict[str, int] = {}
    numeric = {}
    keep = np.ones(len(df), dtype=bool)
    for c in needed + [f"{_EYE_PREFIX[e]}PupilDm" for e in eyes if f"{_EYE_PREFIX[e]}PupilDm" in df.columns]:
        values = pd.to_numeric(df[c].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & keep
        if bad.any():
            if on_error == "raise":
                row = int(np.flatnonzero(bad)[0])
                raise DataFormatError(f"value {df[c].iloc[row]!r} is not a number", file=path,
                                      record=f"line {row + 2}", field=c)
            dropped["non-numeric cell"] = dropped.get("non-numeric cell", 0) + int(bad.sum())
            keep &= ~bad
        numeric[c] = values
    time = numeric[time_column] * time_unit_ms
    order_bad = keep & np.concatenate([[False], np.diff(time) <= 0])
    if order_bad.any():
        if on_error == "raise":
            row = int(np.flatnonzero(order_bad)[0])
            raise DataFormatError(f"time {numeric[time_column][row]:.15g} is not after the previous row's "
                                  f"{numeric[time_column][row - 1]:.15g}", file=path, record=f"line {row + 2}",
                                  field=time_column)
        running = np.maximum.accumulate(np.where(keep, time, -np.inf))
        later = keep & (time > np.concatenate([[-np.inf], running[:-1]]))
        dropped["non-increasing timestamp"] = int((keep & ~later).sum())
        keep = later
    xs, ys, pupils, valids = [], [], [], []
    for e in eyes:
        p = _EYE_PREFIX[e]
        nx, ny, code = numeric[f"{p}GazePos2dx"], numeric[f"{p}GazePos2dy"], numeric[f"{p}Validity"]
        ok = (code <= max_validity) & np.isfinite(nx) & np.isfinite(ny)
        xs.append(np.where(ok, nx * screen_px[0], np.nan))
        ys.append(np.where(ok, ny * screen_px[1], np.nan))
        pup = numeric.get(f"{p}PupilDm", np.full(len(df), np.nan))
        pupils.append(np.where(ok & (pup > 0), pup, np.nan))
        valids.append(ok)
    x, y, pupil, valid = (np.stack(v, axis=1) for v in (xs, ys, pupils, valids))
    none_valid = ~valid.any(axis=1) & keep
    if on_invalid == "drop" and none_valid.any():
        dropped["no valid eye"] = int(none_valid.sum())
        keep &= ~none_valid
    dt = np.diff(time[keep])
    rate = float(1000.0 / np.median(dt)) if len(dt) else float("nan")
    rec = RawRecording(time_ms=time[keep], x=x[keep], y=y[keep], pupil=pupil[keep], valid=valid[keep], eyes=eyes,
                       sampling_rate_hz=rate, screen_px=tuple(float(v) for v in screen_px), dropped=dropped,
                       source=str(path), name=f"{path.parent.name}/{path.stem}", format="tobii_tsv",
                       meta={"rows": len(df), "rows_without_valid_eye": int(none_valid.sum()),
                             "max_validity": max_validity})
    return rec.with_geometry(geometry)


@register_reader("tobii_tsv", suffixes=(".tsv",), sniff=lambda first: "GazePos2dx" in first,
                 description="Tobii TSV with normalised per-eye gaze, validity codes and pupil diameter")
def read(path, **options) -> RawRecording:
    return read_tobii_tsv(path, **options)
