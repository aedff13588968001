"""The one scanpath type that flows through gazekit: loaders produce it, collate pads it, models consume and
produce it, metrics score it.

Units (fixed, never converted silently):
    * ``x``, ``y``: pixels in the image (origin top-left, x right, y down), float64.
    * ``t_start``, ``duration``: milliseconds, float64. ``t_start`` is whatever clock the source used (for
      example the tracker clock, or 0 at image onset); it is never shifted.
    * absent values (a dataset without durations, a trial without a target) are NaN; padding is 0 and is
      excluded by ``mask``. Nothing is invented.

This module imports nothing else of gazekit apart from the error types and geometry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.geometry import ScreenGeometry

__all__ = ["Scanpaths", "ValidationReport", "TABLE_COLUMNS", "read_table", "write_table"]

# Per-scanpath string attributes, in table order.
STRING_ATTRS = ("dataset", "image", "subject", "trial", "task", "condition")
# The long-form table: one row per fixation. A scanpath with no fixations is one row with index -1.
FIXATION_COLUMNS = ("index", "x", "y", "t_start_ms", "duration_ms")
SCANPATH_NUMERIC_COLUMNS = (
    "target_x0", "target_y0", "target_x1", "target_y1",
    "image_width", "image_height", "ppd",
    "screen_width_px", "screen_height_px", "screen_width_cm", "screen_height_cm", "screen_distance_cm",
)  # fmt: skip
TABLE_COLUMNS = STRING_ATTRS + FIXATION_COLUMNS + SCANPATH_NUMERIC_COLUMNS
FIX_PREFIX, SP_PREFIX = "fix:", "sp:"  # extra per-fixation (numeric) and per-scanpath (string) columns

_F64 = torch.float64


def _nan(*shape) -> Tensor:
    return torch.full(shape, math.nan, dtype=_F64)


@dataclass
class ValidationReport:
    """What a validation policy did: counts of dropped/clipped fixations and scanpaths, by reason."""

    dropped_fixations: dict[str, int] = field(default_factory=dict)
    clipped_fixations: dict[str, int] = field(default_factory=dict)
    dropped_scanpaths: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, reason: str, n: int = 1) -> None:
        if n:
            bucket = getattr(self, kind)
            bucket[reason] = bucket.get(reason, 0) + int(n)

    def merge(self, other: "ValidationReport") -> "ValidationReport":
        for kind in ("dropped_fixations", "clipped_fixations", "dropped_scanpaths"):
            for reason, n in getattr(other, kind).items():
                self.add(kind, reason, n)
        return self

    @property
    def empty(self) -> bool:
        return not (self.dropped_fixations or self.clipped_fixations or self.dropped_scanpaths)

    def __str__(self) -> str:
        if self.empty:
            return "nothing dropped or clipped"
        parts = []
        for kind, label in (("dropped_fixations", "dropped fixations"), ("clipped_fixations", "clipped fixations"),
                            ("dropped_scanpaths", "dropped scanpaths")):
            bucket = getattr(self, kind)
            if bucket:
                parts.append(f"{label}: " + ", ".join(f"{n} ({r})" for r, n in sorted(bucket.items())))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"dropped_fixations": dict(self.dropped_fixations), "clipped_fixations": dict(self.clipped_fixations),
                "dropped_scanpaths": dict(self.dropped_scanpaths)}


@dataclass
class Scanpaths:
    """A batch of B variable-length scanpaths, padded to length L.

    Per fixation (``[B, L]`` float64; padding 0, absent NaN):
        x, y: position in pixels (origin top-left).
        t_start: fixation onset in ms (NaN where the source has no onsets).
        duration: fixation duration in ms (NaN where the source has no durations).
        fixation_attrs: extra per-fixation numeric values, e.g. ``{"object": ...}`` for object-level data.
    Per scanpath:
        lengths: ``[B]`` int64, number of valid fixations.
        dataset, image, subject, trial, task, condition: lists of B strings ("" when not applicable).
            ``task`` is the search target name (or "freeview"), ``condition`` is "present"/"absent"/"".
        target_box: ``[B, 4]`` (x0, y0, x1, y1) pixels, NaN where there is no target box.
        image_size: ``[B, 2]`` (width, height) pixels, NaN where unknown.
        ppd: ``[B]`` pixels per degree of visual angle, NaN where unknown.
        screen: ``[B, 5]`` (width_px, height_px, width_cm, height_cm, distance_cm), NaN where unknown.
        scanpath_attrs: extra per-scanpath strings (encode structured values as JSON text).
    """

    x: Tensor
    y: Tensor
    t_start: Tensor
    duration: Tensor
    lengths: Tensor
    dataset: list[str]
    image: list[str]
    subject: list[str]
    trial: list[str]
    task: list[str]
    condition: list[str]
    target_box: Tensor
    image_size: Tensor
    ppd: Tensor
    screen: Tensor
    fixation_attrs: dict[str, Tensor] = field(default_factory=dict)
    scanpath_attrs: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    def __post_init__(self):
        b, length = self.x.shape if self.x.dim() == 2 else (None, None)
        if b is None:
            raise InvalidInputError(f"Scanpaths.x must be 2-D [B, L], got shape {tuple(self.x.shape)}")
        for name in ("y", "t_start", "duration"):
            if tuple(getattr(self, name).shape) != (b, length):
                raise InvalidInputError(f"Scanpaths.{name} has shape {tuple(getattr(self, name).shape)}, "
                                        f"expected {(b, length)} like x")
        for name, value in self.fixation_attrs.items():
            if tuple(value.shape) != (b, length):
                raise InvalidInputError(f"Scanpaths.fixation_attrs[{name!r}] has shape {tuple(value.shape)}, "
                                        f"expected {(b, length)}")
        if tuple(self.lengths.shape) != (b,):
            raise InvalidInputError(f"Scanpaths.lengths has shape {tuple(self.lengths.shape)}, expected ({b},)")
        for name in STRING_ATTRS:
            if len(getattr(self, name)) != b:
                raise InvalidInputError(f"Scanpaths.{name} has {len(getattr(self, name))} entries, expected {b}")
        for name, value in self.scanpath_attrs.items():
            if len(value) != b:
                raise InvalidInputError(f"Scanpaths.scanpath_attrs[{name!r}] has {len(value)} entries, expected {b}")
        for name, shape in (("target_box", (b, 4)), ("image_size", (b, 2)), ("ppd", (b,)), ("screen", (b, 5))):
            if tuple(getattr(self, name).shape) != shape:
                raise InvalidInputError(f"Scanpaths.{name} has shape {tuple(getattr(self, name).shape)}, "
                                        f"expected {shape}")
        if b and (int(self.lengths.min()) < 0 or int(self.lengths.max()) > length):
            raise InvalidInputError(f"Scanpaths.lengths must lie in [0, {length}], got "
                                    f"[{int(self.lengths.min())}, {int(self.lengths.max())}]")

    @classmethod
    def from_sequences(
        cls,
        xs: Sequence[Sequence[float]],
        ys: Sequence[Sequence[float]],
        t_start: Sequence[Sequence[float]] | None = None,
        durations: Sequence[Sequence[float]] | None = None,
        *,
        dataset: str | Sequence[str] = "",
        image: str | Sequence[str] = "",
        subject: str | Sequence[str] = "",
        trial: str | Sequence[str] = "",
        task: str | Sequence[str] = "",
        condition: str | Sequence[str] = "",
        target_box=None,
        image_size=None,
        ppd=None,
        screen=None,
        fixation_attrs: Mapping[str, Sequence[Sequence[float]]] | None = None,
        scanpath_attrs: Mapping[str, str | Sequence[str]] | None = None,
        max_length: int | None = None,
    ) -> "Scanpaths":
        """Build a padded batch from per-scanpath sequences (lists, numpy arrays or 1-D tensors).

        Scalars for per-scanpath attributes are broadcast to every scanpath. ``target_box``, ``image_size``,
        ``ppd`` and ``screen`` take one value for all or one row per scanpath; ``None`` means unknown (NaN).
        """
        b = len(xs)
        if len(ys) != b:
            raise InvalidInputError(f"xs has {b} scanpaths but ys has {len(ys)}")
        lens = [len(seq) for seq in xs]
        for i, (lx, seq) in enumerate(zip(lens, ys)):
            if len(seq) != lx:
                raise InvalidInputError(f"scanpath {i}: x has {lx} values but y has {len(seq)}")
        length = max(lens, default=0) if max_length is None else max_length

        def pad(seqs, name, absent=math.nan):
            out = torch.zeros(b, length, dtype=_F64)
            if seqs is None:
                for i, n in enumerate(lens):
                    out[i, :n] = absent
                return out
            if len(seqs) != b:
                raise InvalidInputError(f"{name} has {len(seqs)} scanpaths, expected {b}")
            for i, seq in enumerate(seqs):
                values = torch.from_numpy(np.array(seq, dtype=np.float64))
                if values.numel() != lens[i]:
                    raise InvalidInputError(f"scanpath {i}: {name} has {values.numel()} values, x has {lens[i]}")
                out[i, : lens[i]] = values.reshape(-1)
            return out

        def strings(value, name):
            if isinstance(value, str):
                return [value] * b
            value = [str(v) for v in value]
            if len(value) != b:
                raise InvalidInputError(f"{name} has {len(value)} entries, expected {b}")
            return value

        def rows(value, name, width):
            if value is None:
                return _nan(b, width) if width else _nan(b)
            t = torch.as_tensor(np.asarray(value, dtype=np.float64))
            target_shape = (b, width) if width else (b,)
            if t.dim() == (1 if width else 0):
                t = t.expand(target_shape).clone()
            if tuple(t.shape) != target_shape:
                raise InvalidInputError(f"{name} has shape {tuple(t.shape)}, expected {target_shape}")
            return t

        if isinstance(screen, ScreenGeometry):
            screen = [screen.width_px, screen.height_px, screen.width_cm, screen.height_cm, screen.distance_cm]
        return cls(
            x=pad(xs, "xs"),
            y=pad(ys, "ys"),
            t_start=pad(t_start, "t_start"),
            duration=pad(durations, "durations"),
            lengths=torch.tensor(lens, dtype=torch.int64),
            dataset=strings(dataset, "dataset"),
            image=strings(image, "image"),
            subject=strings(subject, "subject"),
            trial=strings(trial, "trial"),
            task=strings(task, "task"),
            condition=strings(condition, "condition"),
            target_box=rows(target_box, "target_box", 4),
            image_size=rows(image_size, "image_size", 2),
            ppd=rows(ppd, "ppd", 0),
            screen=rows(screen, "screen", 5),
            fixation_attrs={k: pad(v, f"fixation_attrs[{k!r}]") for k, v in (fixation_attrs or {}).items()},
            scanpath_attrs={k: strings(v, f"scanpath_attrs[{k!r}]") for k, v in (scanpath_attrs or {}).items()},
        )

    @classmethod
    def empty(cls) -> "Scanpaths":
        return cls.from_sequences([], [])

    # ------------------------------------------------------------------ shape and access
    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    @property
    def max_length(self) -> int:
        return self.x.shape[1]

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def mask(self) -> Tensor:
        """``[B, L]`` bool, True at valid (non-padding) fixations."""
        return torch.arange(self.max_length, device=self.x.device)[None, :] < self.lengths[:, None]

    @property
    def num_fixations(self) -> int:
        return int(self.lengths.sum())

    def _valid(self, t: Tensor) -> Tensor:
        return t[self.mask]

    @property
    def has_durations(self) -> bool:
        """True when every valid fixation has a duration."""
        return bool(self.num_fixations) and not bool(torch.isnan(self._valid(self.duration)).any())

    @property
    def has_onsets(self) -> bool:
        return bool(self.num_fixations) and not bool(torch.isnan(self._valid(self.t_start)).any())

    @property
    def has_targets(self) -> bool:
        """True when at least one scanpath has a target box."""
        return bool((~torch.isnan(self.target_box).any(dim=1)).any())

    def xy(self) -> Tensor:
        """``[B, L, 2]`` (x, y) in pixels."""
        return torch.stack([self.x, self.y], dim=-1)

    def scanpath(self, i: int) -> dict:
        """Scanpath ``i`` unpadded, as numpy arrays and plain values (for metrics and plotting)."""
        n = int(self.lengths[i])
        out = {
            "x": self.x[i, :n].cpu().numpy(), "y": self.y[i, :n].cpu().numpy(),
            "t_start": self.t_start[i, :n].cpu().numpy(), "duration": self.duration[i, :n].cpu().numpy(),
            "target_box": self.target_box[i].cpu().numpy(), "image_size": self.image_size[i].cpu().numpy(),
            "ppd": float(self.ppd[i]), "screen": self.screen[i].cpu().numpy(),
        }  # fmt: skip
        for name in STRING_ATTRS:
            out[name] = getattr(self, name)[i]
        for name, value in self.fixation_attrs.items():
            out[name] = value[i, :n].cpu().numpy()
        for name, value in self.scanpath_attrs.items():
            out[name] = value[i]
        return out

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self.scanpath(i)

    def __getitem__(self, index) -> "Scanpaths":
        """Select scanpaths by int, slice, list of ints, or an int/bool tensor. Always returns a batch."""
        b = len(self)
        if isinstance(index, int):
            if not -b <= index < b:
                raise IndexError(f"scanpath index {index} out of range for a batch of {b}")
            idx = [index % b]
        elif isinstance(index, slice):
            idx = list(range(b))[index]
        else:
            t = torch.as_tensor(index)
            if t.dtype == torch.bool:
                if t.shape != (b,):
                    raise IndexError(f"boolean index has shape {tuple(t.shape)}, expected ({b},)")
                t = t.nonzero().flatten()
            idx = [int(i) % b if -b <= int(i) < b else _raise_index(int(i), b) for i in t.flatten().tolist()]
        it = torch.tensor(idx, dtype=torch.int64, device=self.x.device)
        new_len = int(self.lengths[it].max()) if idx else 0

        def take(t: Tensor) -> Tensor:
            return t[it][:, :new_len] if t.dim() == 2 and t.shape[1] == self.max_length else t[it]

        return Scanpaths(
            x=take(self.x), y=take(self.y), t_start=take(self.t_start), duration=take(self.duration),
            lengths=self.lengths[it],
            **{name: [getattr(self, name)[i] for i in idx] for name in STRING_ATTRS},
            target_box=self.target_box[it], image_size=self.image_size[it], ppd=self.ppd[it], screen=self.screen[it],
            fixation_attrs={k: take(v) for k, v in self.fixation_attrs.items()},
            scanpath_attrs={k: [v[i] for i in idx] for k, v in self.scanpath_attrs.items()},
        )  # fmt: skip

    def truncate(self, max_length: int) -> "Scanpaths":
        """Keep at most the first ``max_length`` fixations of every scanpath."""
        n = min(max_length, self.max_length)
        return replace(
            self, x=self.x[:, :n], y=self.y[:, :n], t_start=self.t_start[:, :n], duration=self.duration[:, :n],
            lengths=self.lengths.clamp(max=n), fixation_attrs={k: v[:, :n] for k, v in self.fixation_attrs.items()},
        )  # fmt: skip

    @staticmethod
    def concat(batches: Sequence["Scanpaths"]) -> "Scanpaths":
        """Concatenate batches along B, padding to the longest scanpath. The only padding step in gazekit."""
        batches = list(batches)
        if not batches:
            return Scanpaths.empty()
        length = max(b.max_length for b in batches)
        fix_keys = sorted(set().union(*(b.fixation_attrs for b in batches)))
        sp_keys = sorted(set().union(*(b.scanpath_attrs for b in batches)))

        def pad(t: Tensor, lengths: Tensor) -> Tensor:
            out = torch.zeros(t.shape[0], length, dtype=t.dtype, device=t.device)
            out[:, : t.shape[1]] = t
            return out

        def fix_attr(b: Scanpaths, k: str) -> Tensor:
            if k in b.fixation_attrs:
                return pad(b.fixation_attrs[k], b.lengths)
            absent = torch.zeros(len(b), length, dtype=_F64, device=b.device)
            absent[torch.arange(length, device=b.device)[None] < b.lengths[:, None]] = math.nan
            return absent

        return Scanpaths(
            x=torch.cat([pad(b.x, b.lengths) for b in batches]),
            y=torch.cat([pad(b.y, b.lengths) for b in batches]),
            t_start=torch.cat([pad(b.t_start, b.lengths) for b in batches]),
            duration=torch.cat([pad(b.duration, b.lengths) for b in batches]),
            lengths=torch.cat([b.lengths for b in batches]),
            **{name: [s for b in batches for s in getattr(b, name)] for name in STRING_ATTRS},
            target_box=torch.cat([b.target_box for b in batches]),
            image_size=torch.cat([b.image_size for b in batches]),
            ppd=torch.cat([b.ppd for b in batches]),
            screen=torch.cat([b.screen for b in batches]),
            fixation_attrs={k: torch.cat([fix_attr(b, k) for b in batches]) for k in fix_keys},
            scanpath_attrs={k: [s for b in batches for s in b.scanpath_attrs.get(k, [""] * len(b))] for k in sp_keys},
        )

    def to(self, *args, **kwargs) -> "Scanpaths":
        """Move every tensor (``.to(device)``, ``.to(dtype)`` applies to float tensors only; lengths stay int64)."""

        def move(t: Tensor) -> Tensor:
            return t.to(*args, **kwargs) if t.is_floating_point() else t.to(device=_device_of(args, kwargs, t))

        changes = {f.name: move(getattr(self, f.name)) for f in fields(self) if isinstance(getattr(self, f.name), Tensor)}
        changes["fixation_attrs"] = {k: move(v) for k, v in self.fixation_attrs.items()}
        return replace(self, **changes)

    # ------------------------------------------------------------------ geometry
    def rescale(self, width: float, height: float) -> "Scanpaths":
        """Rescale every scanpath (and its target box) from its ``image_size`` to ``width x height`` pixels.

        Scales coordinates of pixel *edges*: x' = x * width / old_width. Durations and onsets are unchanged.
        Raises if any scanpath has an unknown image size.
        """
        if torch.isnan(self.image_size).any():
            bad = int(torch.isnan(self.image_size).any(dim=1).nonzero()[0])
            raise InvalidInputError(f"cannot rescale: scanpath {bad} ({self.image[bad]!r}) has no image_size")
        sx = (width / self.image_size[:, 0])[:, None]
        sy = (height / self.image_size[:, 1])[:, None]
        box = self.target_box * torch.cat([sx, sy, sx, sy], dim=1)
        new_size = torch.tensor([width, height], dtype=_F64, device=self.device).expand_as(self.image_size).clone()
        mask = self.mask
        return replace(self, x=self.x * sx * mask, y=self.y * sy * mask, target_box=box, image_size=new_size,
                       ppd=self.ppd * (sx[:, 0] + sy[:, 0]) / 2)

    def geometry(self, i: int) -> ScreenGeometry | None:
        """Screen geometry of scanpath ``i``, or None when unknown."""
        row = self.screen[i].tolist()
        return None if any(math.isnan(v) for v in row) else ScreenGeometry(*row)

    # ------------------------------------------------------------------ validation policy
    def validate(self, on_invalid: str = "raise", *, source: object = None) -> tuple["Scanpaths", ValidationReport]:
        """Check fixations for NaN coordinates, non-positive durations and positions outside the image.

        Args:
            on_invalid: ``"raise"`` (DataFormatError naming the record and field), ``"drop"`` (remove the bad
                fixations and count them) or ``"clip"`` (clip out-of-image positions to the image, drop the rest).
            source: file or dataset name used in error messages.
        Returns:
            the checked batch and a :class:`ValidationReport` of what was dropped or clipped.
        """
        if on_invalid not in ("raise", "drop", "clip"):
            raise InvalidInputError(f"Expected argument `on_invalid` to be one of ['raise', 'drop', 'clip'] "
                                    f"but got {on_invalid!r}")
        report = ValidationReport()
        mask = self.mask
        nan_xy = (torch.isnan(self.x) | torch.isnan(self.y)) & mask
        bad_dur = (self.duration <= 0) & mask  # NaN (absent) durations are allowed
        w, h = self.image_size[:, 0:1], self.image_size[:, 1:2]
        outside = ((self.x < 0) | (self.y < 0) | (self.x > w) | (self.y > h)) & mask & ~nan_xy
        outside &= ~torch.isnan(w) & ~torch.isnan(h)
        problems = (("nan coordinate", nan_xy, "x/y"), ("non-positive duration", bad_dur, "duration_ms"),
                    ("outside the image", outside, "x/y"))
        if on_invalid == "raise":
            for reason, where, field_name in problems:
                if where.any():
                    i, j = (int(v) for v in where.nonzero()[0])
                    raise DataFormatError(
                        f"fixation {j} is invalid ({reason}: x={float(self.x[i, j])}, y={float(self.y[i, j])}, "
                        f"duration={float(self.duration[i, j])}); pass on_invalid='drop' or 'clip' to handle it",
                        file=source, record=f"{i} (image {self.image[i]!r}, subject {self.subject[i]!r})",
                        field=field_name)
            return self, report
        x, y = self.x.clone(), self.y.clone()
        drop = nan_xy | bad_dur
        if on_invalid == "clip":
            x = torch.where(outside, torch.minimum(x.clamp(min=0), w.expand_as(x)), x)
            y = torch.where(outside, torch.minimum(y.clamp(min=0), h.expand_as(y)), y)
            report.add("clipped_fixations", "outside the image", int((outside & ~drop).sum()))
        else:
            drop = drop | outside
        for reason, where, _ in problems:
            if on_invalid == "clip" and reason == "outside the image":
                continue
            report.add("dropped_fixations", reason, int((where & ~_earlier(problems, reason)).sum()))
        if not drop.any():
            return replace(self, x=x, y=y), report
        keep = mask & ~drop
        return _compact(replace(self, x=x, y=y), keep), report

    # ------------------------------------------------------------------ table I/O
    def to_table(self):
        """Long-form pandas table: one row per fixation (see ``TABLE_COLUMNS``); empty scanpaths are one row
        with ``index == -1`` and NaN fixation values so that nothing is lost."""
        import pandas as pd

        cpu = self.to("cpu")
        lengths = cpu.lengths.numpy()
        b = len(cpu)
        rows_per = np.maximum(lengths, 1)
        sp_index = np.repeat(np.arange(b), rows_per)
        fix_index = np.concatenate([np.arange(n) if n else np.array([-1]) for n in lengths]) if b else np.zeros(0, int)
        safe = np.maximum(fix_index, 0)
        empty = fix_index < 0

        def per_fix(t: Tensor) -> np.ndarray:
            if not b or t.shape[1] == 0:  # no scanpath, or only empty ones
                return np.full(len(sp_index), np.nan)
            values = t.numpy()[sp_index, safe]
            return np.where(empty, np.nan, values)

        data = {name: [getattr(cpu, name)[i] for i in sp_index] for name in STRING_ATTRS}
        data["index"] = fix_index.astype(np.int64)
        data["x"], data["y"] = per_fix(cpu.x), per_fix(cpu.y)
        data["t_start_ms"], data["duration_ms"] = per_fix(cpu.t_start), per_fix(cpu.duration)
        sp_numeric = np.concatenate(
            [cpu.target_box.numpy(), cpu.image_size.numpy(), cpu.ppd.numpy()[:, None], cpu.screen.numpy()], axis=1
        ) if b else np.zeros((0, len(SCANPATH_NUMERIC_COLUMNS)))
        for k, name in enumerate(SCANPATH_NUMERIC_COLUMNS):
            data[name] = sp_numeric[sp_index, k]
        for k, v in cpu.fixation_attrs.items():
            data[FIX_PREFIX + k] = per_fix(v)
        for k, v in cpu.scanpath_attrs.items():
            data[SP_PREFIX + k] = [v[i] for i in sp_index]
        return pd.DataFrame(data)

    @classmethod
    def from_table(cls, table, *, source: object = None) -> "Scanpaths":
        """Inverse of :meth:`to_table`. Scanpaths keep the order of their first row; fixations are ordered by
        ``index``. Missing or mistyped columns raise :class:`DataFormatError` naming the row and column.
        Vectorised (no per-scanpath Python loop): reading a cached 80k-fixation table takes well under a second."""
        import pandas as pd

        df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        missing = [c for c in STRING_ATTRS + ("index", "x", "y") if c not in df.columns]
        if missing:
            raise DataFormatError(f"missing required column(s) {missing}; found {list(df.columns)}", file=source,
                                  field=missing[0])
        df = df.reset_index(drop=True)
        strings = {c: _as_strings(df[c]) for c in STRING_ATTRS}
        numeric = ["index", "x", "y", "t_start_ms", "duration_ms", *SCANPATH_NUMERIC_COLUMNS]
        numeric += [c for c in df.columns if str(c).startswith(FIX_PREFIX)]
        values: dict[str, np.ndarray] = {}
        for c in numeric:
            if c not in df.columns:
                values[c] = np.full(len(df), math.nan)
                continue
            converted = pd.to_numeric(df[c], errors="coerce")
            if converted.isna().any():
                bad = converted.isna() & ~_is_blank(df[c])
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataFormatError(f"value {df[c].iloc[row]!r} is not a number", file=source,
                                          record=f"row {row}", field=str(c))
            values[c] = converted.to_numpy(dtype=np.float64, na_value=math.nan)
        index = values["index"]
        if np.isnan(index).any():
            row = int(np.flatnonzero(np.isnan(index))[0])
            raise DataFormatError("fixation index is missing", file=source, record=f"row {row}", field="index")
        # scanpath id of each row, numbered in order of first appearance
        group = pd.DataFrame(strings).groupby(list(STRING_ATTRS), sort=False, dropna=False).ngroup().to_numpy()
        b = int(group.max()) + 1 if len(group) else 0
        order = np.lexsort((index, group))  # rows sorted by scanpath, then fixation index
        g_sorted, idx_sorted = group[order], index[order]
        starts = np.searchsorted(g_sorted, np.arange(b))
        rows_per = np.bincount(group, minlength=b)
        real = idx_sorted >= 0
        n_real = np.bincount(g_sorted[real], minlength=b)
        mixed = (n_real > 0) & (n_real < rows_per)
        if mixed.any():
            k = int(np.flatnonzero(mixed)[0])
            row = int(order[starts[k]:starts[k] + rows_per[k]][idx_sorted[starts[k]:starts[k] + rows_per[k]] < 0][0])
            raise DataFormatError("a scanpath has both an empty-scanpath row (index -1) and fixations",
                                  file=source, record=f"row {row}", field="index")
        rank = np.arange(len(order)) - np.repeat(starts, rows_per)  # position of each sorted row in its scanpath
        wrong = real & (idx_sorted != rank)
        if wrong.any():
            k = int(g_sorted[np.flatnonzero(wrong)[0]])
            idx = idx_sorted[starts[k]:starts[k] + rows_per[k]]
            key = tuple(strings[c][int(order[starts[k]])] for c in STRING_ATTRS)
            raise DataFormatError(f"fixation indices of scanpath {key} are not 0..{len(idx) - 1}: "
                                  f"{idx[:10].tolist()}", file=source, record=f"row {int(order[starts[k]])}",
                                  field="index")
        length = int(n_real.max()) if b else 0
        rs, ps = g_sorted[real], rank[real].astype(np.int64)

        def padded(column: np.ndarray) -> Tensor:
            out = np.zeros((b, length), dtype=np.float64)
            out[rs, ps] = column[order][real]
            return torch.from_numpy(out)

        first = np.full(b, -1, dtype=np.int64)
        first[group[::-1]] = np.arange(len(group))[::-1]  # first row (original order) of each scanpath
        sp = np.stack([values[c][first] for c in SCANPATH_NUMERIC_COLUMNS], axis=1) if b else \
            np.zeros((0, len(SCANPATH_NUMERIC_COLUMNS)))
        sp_cols = [c for c in df.columns if str(c).startswith(SP_PREFIX)]
        return cls(
            x=padded(values["x"]), y=padded(values["y"]), t_start=padded(values["t_start_ms"]),
            duration=padded(values["duration_ms"]), lengths=torch.from_numpy(n_real.astype(np.int64)),
            **{c: [strings[c][i] for i in first] for c in STRING_ATTRS},
            target_box=torch.from_numpy(sp[:, 0:4].copy()), image_size=torch.from_numpy(sp[:, 4:6].copy()),
            ppd=torch.from_numpy(sp[:, 6].copy()), screen=torch.from_numpy(sp[:, 7:12].copy()),
            fixation_attrs={str(c)[len(FIX_PREFIX):]: padded(values[c]) for c in df.columns
                            if str(c).startswith(FIX_PREFIX)},
            scanpath_attrs={str(c)[len(SP_PREFIX):]: [s[i] for i in first] for c in sp_cols
                            for s in [_as_strings(df[c])]},
        )

    def save(self, path: str | Path) -> Path:
        """Write the long-form table to ``.csv``, ``.parquet`` or ``.json`` (chosen by suffix), losslessly."""
        return write_table(self.to_table(), path)

    @classmethod
    def load(cls, path: str | Path) -> "Scanpaths":
        """Read a table written by :meth:`save`."""
        return cls.from_table(read_table(path), source=path)

    def __repr__(self) -> str:
        datasets = sorted(set(self.dataset))
        return (f"Scanpaths(batch={len(self)}, max_length={self.max_length}, fixations={self.num_fixations}, "
                f"datasets={datasets[:3]}{'...' if len(datasets) > 3 else ''}, durations={self.has_durations}, "
                f"device={self.device})")


# ---------------------------------------------------------------------- helpers
def _raise_index(i: int, b: int):
    raise IndexError(f"scanpath index {i} out of range for a batch of {b}")


def _device_of(args, kwargs, t: Tensor):
    if "device" in kwargs:
        return kwargs["device"]
    for a in args:
        if isinstance(a, (str, torch.device)):
            return a
        if isinstance(a, Tensor):
            return a.device
    return t.device


def _earlier(problems, reason) -> Tensor:
    """Mask of fixations already counted under an earlier reason (each fixation is counted once)."""
    out = None
    for r, where, _ in problems:
        if r == reason:
            break
        out = where if out is None else out | where
    return out if out is not None else torch.zeros_like(problems[0][1])


def _compact(sp: Scanpaths, keep: Tensor) -> Scanpaths:
    """Remove fixations where ``keep`` is False, shifting the rest left."""
    lengths = keep.sum(dim=1)
    length = int(lengths.max()) if len(sp) else 0
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :length]
    valid = torch.arange(length, device=sp.device)[None] < lengths[:, None]

    def gather(t):
        return torch.gather(t, 1, order) * valid

    return replace(sp, x=gather(sp.x), y=gather(sp.y), t_start=gather(sp.t_start), duration=gather(sp.duration),
                   lengths=lengths, fixation_attrs={k: gather(v) for k, v in sp.fixation_attrs.items()})


def _is_blank(series) -> "np.ndarray":
    """True where a value is absent: NaN/None, or text that is empty, "nan" or "null" (any case)."""
    if series.dtype.kind in "fiub":
        return series.isna()
    is_text = series.map(type).eq(str)
    lowered = series.where(is_text, "x").astype(str).str.strip().str.lower()
    return series.isna() | (is_text & lowered.isin(("", "nan", "null")))


def _as_strings(series) -> list[str]:
    """Column values as strings; None/NaN become "" (absent)."""
    return series.astype(object).where(series.notna(), "").astype(str).tolist()


def write_table(df, path: str | Path) -> Path:
    """Write a long-form table losslessly: CSV (shortest round-trip float text), Parquet, or JSON records."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    elif suffix == ".json":
        # pandas' to_json rounds floats to 15 digits; json.dumps keeps Python's shortest round-trip repr.
        records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                   for row in df.to_dict(orient="records")]
        path.write_text(json.dumps({"format": "gazekit-scanpaths", "version": 1, "columns": list(df.columns),
                                    "rows": records}, default=_json_default))
    else:
        raise InvalidInputError(f"unsupported table format {suffix!r} for {str(path)!r}: use .csv, .parquet or .json")
    return path


def _json_default(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


def read_table(path: str | Path):
    """Read a long-form table written by :func:`write_table` (strings stay strings, blanks become NaN)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataFormatError("file does not exist", file=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".json":
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and "rows" in doc:
                return pd.DataFrame(doc["rows"], columns=doc.get("columns"))
            if isinstance(doc, list):
                return pd.DataFrame(doc)
            raise DataFormatError("expected a gazekit table (an object with 'rows') or a list of records",
                                  file=path)
    except DataFormatError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataFormatError(f"cannot parse as {suffix[1:]}: {err}", file=path) from err
    except Exception as err:  # pyarrow raises its own error types for corrupt files
        if type(err).__module__.startswith("pyarrow"):
            raise DataFormatError(f"cannot parse as parquet: {err}", file=path) from err
        raise
    raise InvalidInputError(f"unsupported table format {suffix!r} for {str(path)!r}: use .csv, .parquet or .json")
