"""Scanpaths to and from the tools people already use: pysaliency (``FixationTrains`` + ``Stimuli``) and
pymovements (``Events``). Both packages are optional: they are imported when these methods are called.

Round trips are lossless: every gazekit field travels as an attribute of the other package's object (pysaliency:
``scanpath_attributes`` / ``scanpath_fixation_attributes``; pymovements: columns of the event frame), so
``Scanpaths.from_pysaliency(*sp.to_pysaliency())`` and ``Scanpaths.from_pymovements(sp.to_pymovements())``
equal ``sp``. Objects made elsewhere are read by the packages' own conventions (documented per method).
"""

from __future__ import annotations

import math

import numpy as np

from gazekit.errors import InvalidInputError
from gazekit.scanpaths._columns import SCANPATH_NUMERIC_COLUMNS, STRING_ATTRS

_TIME_MS = {"ms": 1.0, "s": 1000.0}
_SP_KEYS = tuple(f"gazekit_{k}" for k in STRING_ATTRS)  # pysaliency scanpath attributes holding gazekit strings
_NUM_KEYS = tuple(f"gazekit_{k}" for k in SCANPATH_NUMERIC_COLUMNS)
_TRIAL_COLUMNS = list(STRING_ATTRS)


class _InteropMixin:
    """``Scanpaths.to_pysaliency`` / ``from_pysaliency`` / ``to_pymovements`` / ``from_pymovements``."""

    # ------------------------------------------------------------------ pysaliency
    def to_pysaliency(self, images: dict | None = None):
        """``(pysaliency.FixationTrains, stimuli)``: one fixation train per scanpath.

        ``images``: image name -> file; then ``stimuli`` is a ``pysaliency.FileStimuli`` over the distinct images
        (in order of first appearance) and each train's ``n`` indexes it; without ``images`` ``stimuli`` is None
        and ``n`` indexes the distinct image names. ``t`` is the onset in ms, ``durations`` (a scanpath-fixation
        attribute) the durations in ms, ``subject`` an integer (the gazekit subject string is kept as an
        attribute, as is every other field).
        """
        import pysaliency

        cpu = self.to("cpu")
        names = list(dict.fromkeys(cpu.image))
        if images is not None:
            missing = [n for n in names if n not in images]
            if missing:
                raise InvalidInputError(f"to_pysaliency: no image file for {missing[:3]} (images= maps image names to "
                                        "files)")
        index = {n: k for k, n in enumerate(names)}
        subjects = {s: k for k, s in enumerate(dict.fromkeys(cpu.subject))}
        xs, ys, ts, durations = [], [], [], []
        for i in range(len(cpu)):
            n = int(cpu.lengths[i])
            xs.append(cpu.x[i, :n].numpy())
            ys.append(cpu.y[i, :n].numpy())
            ts.append(cpu.t_start[i, :n].numpy())
            durations.append(cpu.duration[i, :n].numpy())
        attrs = {key: np.asarray(getattr(cpu, name), dtype=object) for key, name in zip(_SP_KEYS, STRING_ATTRS)}
        numeric = np.concatenate([cpu.target_box.numpy(), cpu.image_size.numpy(), cpu.ppd.numpy()[:, None],
                                  cpu.screen.numpy()], axis=1) if len(cpu) else np.zeros((0, 12))
        attrs.update({key: numeric[:, k] for k, key in enumerate(_NUM_KEYS)})
        attrs.update({f"gazekit_sp_{k}": np.asarray(v, dtype=object) for k, v in cpu.scanpath_attrs.items()})
        fix_attrs = {"durations": _padded(durations)}
        for k, v in cpu.fixation_attrs.items():
            fix_attrs[f"gazekit_fix_{k}"] = _padded([v[i, :int(cpu.lengths[i])].numpy() for i in range(len(cpu))])
        trains = pysaliency.FixationTrains(
            _padded(xs), _padded(ys), _padded(ts), np.asarray([index[n] for n in cpu.image], dtype=int),
            np.asarray([subjects[s] for s in cpu.subject], dtype=int), scanpath_attributes=attrs,
            scanpath_fixation_attributes=fix_attrs, scanpath_attribute_mapping={"durations": "duration"})
        stimuli = pysaliency.FileStimuli([str(images[n]) for n in names]) if images is not None else None
        return trains, stimuli

    @classmethod
    def from_pysaliency(cls, trains, stimuli=None, *, dataset: str = "", time_unit: str = "ms"):
        """Scanpaths from a ``pysaliency.FixationTrains`` (one scanpath per train).

        Written by :meth:`to_pysaliency`: read back exactly. Made elsewhere: ``x``, ``y`` in px; ``t`` and the
        ``durations`` scanpath-fixation attribute (if any) in ``time_unit`` (``"ms"`` or ``"s"``); ``image`` is
        the stimulus file name when ``stimuli`` is a ``FileStimuli`` (else ``"stimulus_<n>"``) and the image size
        comes from ``stimuli``; ``subject`` is the train's subject number.
        """
        if time_unit not in _TIME_MS:
            raise InvalidInputError(f"time_unit must be one of {list(_TIME_MS)}, got {time_unit!r}")
        if not hasattr(trains, "train_xs"):
            raise InvalidInputError(f"expected a pysaliency FixationTrains, got {type(trains).__name__} (plain "
                                    "Fixations carry no scanpaths)")
        attrs = dict(getattr(trains, "scanpath_attributes", None) or {})
        fix_attrs = dict(getattr(trains, "scanpath_fixation_attributes", None) or {})
        b = len(trains.train_xs)
        lengths = [int(np.sum(~np.isnan(np.asarray(trains.train_xs[i], dtype=float)))) for i in range(b)]
        ns = np.asarray(trains.train_ns, dtype=int)
        ours = all(k in attrs for k in _SP_KEYS)
        scale = 1.0 if ours else _TIME_MS[time_unit]

        def rows(values) -> list[np.ndarray]:
            return [np.asarray(values[i], dtype=float)[:lengths[i]] for i in range(b)]

        durations = rows(fix_attrs["durations"]) if "durations" in fix_attrs else None
        if ours:
            strings = {name: [str(v) for v in attrs[key]] for key, name in zip(_SP_KEYS, STRING_ATTRS)}
            numeric = np.stack([np.asarray(attrs[k], dtype=float) for k in _NUM_KEYS], axis=1)
        else:
            files = getattr(stimuli, "filenames", None)
            strings = {"dataset": [dataset] * b, "trial": [""] * b, "task": [""] * b, "condition": [""] * b,
                       "subject": [str(int(s)) for s in np.asarray(trains.train_subjects)],
                       "image": [_basename(files[n]) if files is not None else f"stimulus_{n}" for n in ns]}
            numeric = np.full((b, len(SCANPATH_NUMERIC_COLUMNS)), math.nan)
            if stimuli is not None:
                sizes = stimuli.sizes
                numeric[:, 4:6] = [[float(sizes[n][1]), float(sizes[n][0])] for n in ns]
        return cls.from_sequences(
            rows(trains.train_xs), rows(trains.train_ys), [t * scale for t in rows(trains.train_ts)],
            [d * scale for d in durations] if durations is not None else None, **strings,
            target_box=numeric[:, 0:4], image_size=numeric[:, 4:6], ppd=numeric[:, 6], screen=numeric[:, 7:12],
            fixation_attrs={k[len("gazekit_fix_"):]: rows(v) for k, v in fix_attrs.items()
                            if k.startswith("gazekit_fix_")},
            scanpath_attrs={k[len("gazekit_sp_"):]: [str(s) for s in v] for k, v in attrs.items()
                            if k.startswith("gazekit_sp_")})

    # ------------------------------------------------------------------ pymovements
    def to_pymovements(self):
        """A ``pymovements.Events`` frame of fixations: ``name`` ("fixation"), ``onset``, ``offset`` and
        ``duration`` in ms, ``location`` ``[x, y]`` px, the gazekit scanpath fields as trial columns, and every
        other table column (index, image size, ...). Empty scanpaths are not events and are dropped; so are
        fixations without onset (pymovements events need one) unless every fixation lacks it."""
        import polars as pl
        import pymovements as pm

        table = self.to_table()
        table = table[table["index"] >= 0]
        frame = pl.from_pandas(table.reset_index(drop=True))
        frame = frame.with_columns(
            pl.lit("fixation").alias("name"),
            pl.col("t_start_ms").alias("onset"),
            (pl.col("t_start_ms") + pl.col("duration_ms")).alias("offset"),
            pl.col("duration_ms").alias("duration"),
            pl.concat_list([pl.col("x"), pl.col("y")]).alias("location"),
        ).drop(["t_start_ms", "duration_ms"])
        return pm.Events(data=frame, trial_columns=_TRIAL_COLUMNS)

    @classmethod
    def from_pymovements(cls, events, *, dataset: str = "", time_unit: str = "ms"):
        """Scanpaths from a ``pymovements.Events`` (or its polars ``frame``): the ``fixation`` events, one scanpath
        per trial (the frame's trial columns), ordered by onset.

        Written by :meth:`to_pymovements`: read back exactly. Made elsewhere: ``onset``/``duration`` in
        ``time_unit``; the position is ``location`` ``[x, y]`` or ``location_x``/``location_y`` (px); a trial
        column named ``image``/``subject``/``trial``/``task``/``condition`` fills that field, other trial columns
        are joined into ``trial``. Events of other names (saccades, ...) are not fixations and are skipped.
        """
        import pandas as pd
        import polars as pl

        if time_unit not in _TIME_MS:
            raise InvalidInputError(f"time_unit must be one of {list(_TIME_MS)}, got {time_unit!r}")
        frame = getattr(events, "frame", events)
        if not isinstance(frame, pl.DataFrame):
            raise InvalidInputError(f"expected pymovements Events or a polars DataFrame, got {type(events).__name__}")
        trial_cols = list(getattr(events, "trial_columns", None) or [])
        if "name" in frame.columns:
            frame = frame.filter(pl.col("name").cast(pl.Utf8).str.starts_with("fixation"))
        if "location" in frame.columns:
            frame = frame.with_columns(pl.col("location").list.get(0).alias("x"),
                                       pl.col("location").list.get(1).alias("y"))
        elif "location_x" in frame.columns:
            frame = frame.rename({"location_x": "x", "location_y": "y"})
        if "x" not in frame.columns:
            raise InvalidInputError("the event frame has no fixation position ('location' or 'location_x'/'_y'): "
                                    "compute it with pymovements' location event property first")
        df = frame.to_pandas()
        ours = all(c in df.columns for c in STRING_ATTRS + ("index",))
        scale = 1.0 if ours else _TIME_MS[time_unit]
        df["t_start_ms"] = pd.to_numeric(df["onset"], errors="coerce") * scale if "onset" in df else math.nan
        df["duration_ms"] = pd.to_numeric(df["duration"], errors="coerce") * scale if "duration" in df else math.nan
        if not ours:
            other = [c for c in trial_cols if c not in STRING_ATTRS]
            for name in STRING_ATTRS:
                df[name] = df[name].astype(str) if name in df.columns else ""
            if other:
                joined = df[other].astype(str).agg("/".join, axis=1)
                df["trial"] = [f"{t}/{j}" if t else j for t, j in zip(df["trial"], joined)]
            if dataset:
                df["dataset"] = dataset
            df = df.sort_values([*STRING_ATTRS, "t_start_ms"], kind="stable")
            df["index"] = df.groupby(list(STRING_ATTRS), sort=False).cumcount()
        keep = [c for c in df.columns if c not in ("name", "onset", "offset", "duration", "location")]
        return cls.from_table(df[keep].reset_index(drop=True), source="pymovements events")


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    """Ragged rows as a NaN-padded 2-D float array (pysaliency's scanpath-fixation attribute layout)."""
    length = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), length), math.nan)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def _basename(path) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]
