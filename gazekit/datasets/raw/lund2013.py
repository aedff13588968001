"""The lund2013 hand-labelled samples (Andersson et al. 2017, Behavior Research Methods 49:616-637).

Each ``.mat`` holds ``ETdata.pos`` (N x 6: timestamp in microseconds (NaN in the 'dots' files), two unused
columns, x px, y px, label), ``screenDim`` (m), ``screenRes`` (px), ``viewDist`` (m) and ``sampFreq`` (500 Hz,
SMI HiSpeed 1250). Labels: 1 fixation, 2 saccade, 3 post-saccadic oscillation, 4 smooth pursuit, 5 blink,
6 undefined. Files ending ``_MN`` / ``_RA`` are the two coders' labels of the same recording. Samples at (0, 0)
are track loss (NaN here). The source does not say which eye was recorded, so the eye is named ``"mono"``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gazekit.datasets.raw.recording import RawRecording
from gazekit.datasets.raw.registry import register_reader
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.geometry import ScreenGeometry

__all__ = ["CODERS", "LABELS", "lund2013_pairs", "read_lund2013", "read_lund2013_pair"]

LABELS = {1: "fixation", 2: "saccade", 3: "pso", 4: "pursuit", 5: "blink", 6: "undefined"}
CODERS = ("MN", "RA")
_CODER_RE = re.compile(r"_labelled(?:_FIX)?_(MN|RA)$")


def _load(path: Path):
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as err:  # scipy raises several types for non-MAT input
        raise DataFormatError(f"cannot read as a MATLAB file: {err}", file=path) from err
    if "ETdata" not in mat:
        raise DataFormatError(f"no ETdata struct (variables: {sorted(k for k in mat if not k.startswith('__'))})",
                              file=path, field="ETdata")
    et = mat["ETdata"]
    for name in ("pos", "screenDim", "screenRes", "viewDist", "sampFreq"):
        if not hasattr(et, name):
            raise DataFormatError(f"ETdata has no field {name!r}", file=path, field=f"ETdata.{name}")
    pos = np.asarray(et.pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] < 6:
        raise DataFormatError(f"ETdata.pos has shape {pos.shape}, expected N x 6", file=path, field="ETdata.pos")
    dim, res = np.asarray(et.screenDim, dtype=float), np.asarray(et.screenRes, dtype=float)
    geometry = ScreenGeometry(float(res[0]), float(res[1]), float(dim[0]) * 100, float(dim[1]) * 100,
                              float(et.viewDist) * 100)
    return pos, geometry, float(et.sampFreq)


def read_lund2013(path: str | Path, *, geometry: ScreenGeometry | None = None) -> RawRecording:
    """Read one coder's file; ``labels`` holds that coder's per-sample labels under its name (``MN``/``RA``)."""
    path = Path(path)
    pos, file_geometry, rate = _load(path)
    # Some files end in rows of zeros (time, position and the unused columns all 0): padding, not samples.
    zero = (pos[:, :5] == 0).all(axis=1)
    n_pad = len(pos) - (int(np.flatnonzero(~zero)[-1]) + 1 if (~zero).any() else 0)
    pos = pos[: len(pos) - n_pad]
    m = _CODER_RE.search(path.stem)
    coder = m.group(1) if m else "coder"
    time = pos[:, 0] / 1000.0
    synthesised = not np.isfinite(time).all()
    if synthesised:  # the 'dots' files carry no timestamps: the nominal rate gives them
        time = np.arange(len(pos)) * 1000.0 / rate
    elif len(time) > 1 and (np.diff(time) <= 0).any():
        k = int(np.flatnonzero(np.diff(time) <= 0)[0]) + 1
        raise DataFormatError(f"timestamp {pos[k, 0]:g} us is not after the previous {pos[k - 1, 0]:g} us", file=path,
                              record=f"sample {k}", field="ETdata.pos[:, 0]")
    x, y = pos[:, 3].copy(), pos[:, 4].copy()
    lost = ~(np.isfinite(x) & np.isfinite(y)) | ((x == 0) & (y == 0))
    x[lost], y[lost] = np.nan, np.nan
    labels = np.nan_to_num(pos[:, 5], nan=6).astype(np.int64)
    stem = _CODER_RE.sub("", path.stem)
    rec = RawRecording(time_ms=time, x=x[:, None], y=y[:, None], pupil=np.full((len(pos), 1), np.nan),
                       valid=~lost[:, None], eyes=("mono",), sampling_rate_hz=rate, geometry=file_geometry,
                       labels={coder: labels}, source=str(path), name=stem, format="lund2013",
                       meta={"stimulus_type": path.parent.name, "time_synthesised": bool(synthesised)})
    rec.add_drop("trailing all-zero padding row", n_pad)
    return rec.with_geometry(geometry) if geometry is not None else rec


def read_lund2013_pair(path: str | Path) -> RawRecording:
    """Both coders' labels of one recording: ``path`` is either coder's file (or the stem without ``_MN``).

    The two files hold the same samples; trailing all-zero padding rows are removed (counted) and, should the two
    still differ in length, the common prefix is kept and the rest counted in
    ``dropped['labelled by one coder only']``.
    """
    path = Path(path)
    stem = _CODER_RE.sub("", path.stem) if path.suffix == ".mat" else path.name
    files = {c: path.parent / f"{stem}_labelled_{c}.mat" for c in CODERS}
    missing = [str(f) for f in files.values() if not f.exists()]
    if missing:
        raise DataFormatError(f"the other coder's file is missing: {missing}", file=path)
    recs = {c: read_lund2013(f) for c, f in files.items()}
    n = min(len(r) for r in recs.values())
    base = recs[CODERS[0]]
    other = recs[CODERS[1]]
    if not (np.array_equal(base.x[:n], other.x[:n], equal_nan=True) and np.array_equal(base.y[:n], other.y[:n],
                                                                                        equal_nan=True)):
        raise DataFormatError("the two coders' files hold different gaze samples", file=files[CODERS[1]])
    extra = sum(len(r) - n for r in recs.values())
    padding = sum(r.dropped.get("trailing all-zero padding row", 0) for r in recs.values())
    rec = RawRecording(time_ms=base.time_ms[:n], x=base.x[:n], y=base.y[:n], pupil=base.pupil[:n],
                       valid=base.valid[:n], eyes=base.eyes, sampling_rate_hz=base.sampling_rate_hz,
                       geometry=base.geometry, labels={c: r.labels[c][:n] for c, r in recs.items()},
                       source=str(files[CODERS[0]]), name=stem, format="lund2013", meta=dict(base.meta))
    rec.add_drop("labelled by one coder only", extra)
    rec.add_drop("trailing all-zero padding row", padding)
    return rec


def lund2013_pairs(root: str | Path) -> list[Path]:
    """Every ``*_labelled_MN.mat`` under ``root`` that has its ``_RA`` partner (the study's 34 recordings)."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"lund2013 folder {str(root)!r} does not exist")
    return sorted(p for p in root.rglob("*_labelled_MN.mat")
                  if (p.parent / p.name.replace("_MN.mat", "_RA.mat")).exists())


@register_reader("lund2013", suffixes=(".mat",), description="lund2013 hand-labelled SMI samples (MATLAB ETdata)")
def read(path, **options) -> RawRecording:
    return read_lund2013(path, **options)
