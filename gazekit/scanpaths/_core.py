"""The :class:`Scanpaths` type: padded fixations plus per-scanpath attributes (units: see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.geometry import ScreenGeometry
from gazekit.scanpaths._columns import _F64, STRING_ATTRS, _nan
from gazekit.scanpaths._interop import _InteropMixin
from gazekit.scanpaths._table import _TableMixin
from gazekit.scanpaths._validation import _ValidationMixin


@dataclass
class Scanpaths(_TableMixin, _ValidationMixin, _InteropMixin):
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
        """A batch of no scanpaths."""
        return cls.from_sequences([], [])

    # ------------------------------------------------------------------ shape and access
    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def batch_size(self) -> int:
        """Number of scanpaths (B)."""
        return self.x.shape[0]

    @property
    def max_length(self) -> int:
        """The padded length L."""
        return self.x.shape[1]

    @property
    def device(self) -> torch.device:
        """The device of the tensors."""
        return self.x.device

    @property
    def mask(self) -> Tensor:
        """``[B, L]`` bool, True at valid (non-padding) fixations."""
        return torch.arange(self.max_length, device=self.x.device)[None, :] < self.lengths[:, None]

    @property
    def num_fixations(self) -> int:
        """Number of fixations in all scanpaths (padding excluded)."""
        return int(self.lengths.sum())

    def _valid(self, t: Tensor) -> Tensor:
        return t[self.mask]

    @property
    def has_durations(self) -> bool:
        """True when every valid fixation has a duration."""
        return bool(self.num_fixations) and not bool(torch.isnan(self._valid(self.duration)).any())

    @property
    def has_onsets(self) -> bool:
        """Whether every fixation has an onset (``t_start`` not NaN)."""
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
