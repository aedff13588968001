"""Validation policies of :class:`~gazekit.scanpaths.Scanpaths`: what a check found, and what was dropped or
clipped because of it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from gazekit.errors import DataFormatError, InvalidInputError


@dataclass
class ValidationReport:
    """What a validation policy did: counts of dropped/clipped fixations and scanpaths, by reason."""

    dropped_fixations: dict[str, int] = field(default_factory=dict)
    clipped_fixations: dict[str, int] = field(default_factory=dict)
    dropped_scanpaths: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, reason: str, n: int = 1) -> None:
        """Count ``n`` items of ``kind`` (``dropped_fixations``, ``clipped_fixations`` or ``dropped_scanpaths``) for
        ``reason``.
        """
        if n:
            bucket = getattr(self, kind)
            bucket[reason] = bucket.get(reason, 0) + int(n)

    def merge(self, other: "ValidationReport") -> "ValidationReport":
        """Add another report's counts to this one; returns this report."""
        for kind in ("dropped_fixations", "clipped_fixations", "dropped_scanpaths"):
            for reason, n in getattr(other, kind).items():
                self.add(kind, reason, n)
        return self

    @property
    def empty(self) -> bool:
        """Whether nothing was dropped or clipped."""
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
        """The counts as plain dicts, by kind and reason."""
        return {"dropped_fixations": dict(self.dropped_fixations), "clipped_fixations": dict(self.clipped_fixations),
                "dropped_scanpaths": dict(self.dropped_scanpaths)}



POLICIES = ("error", "drop", "clip")
POLICY_ALIASES = {"raise": "error"}  # the Python name of "error" before the CLI spelled it --on-invalid error


def normalize_policy(on_invalid: str) -> str:
    """``"error"`` (alias ``"raise"``), ``"drop"`` or ``"clip"`` -> the internal name (``"raise"`` for error)."""
    name = POLICY_ALIASES.get(on_invalid, on_invalid) if isinstance(on_invalid, str) else on_invalid
    if name not in POLICIES:
        raise InvalidInputError(f"Expected argument `on_invalid` (--on-invalid) to be one of {list(POLICIES)} "
                                f"but got {on_invalid!r}")
    return "raise" if name == "error" else name


class _ValidationMixin:
    """``Scanpaths.validate``."""

    def validate(self, on_invalid: str = "raise", *, source: object = None) -> tuple["Scanpaths", ValidationReport]:
        """Check fixations for NaN or infinite values, non-positive durations and positions outside the image.

        Each fixation is judged on its own: a bad fixation never voids its scanpath or the batch.

        Args:
            on_invalid: ``"error"`` (alias ``"raise"``: DataFormatError naming the record and field),
                ``"drop"`` (remove the bad fixations and count them by reason) or ``"clip"`` (clip out-of-image
                positions onto the image border, drop the rest). The same policies as ``--on-invalid``.
            source: file or dataset name used in error messages.
        Returns:
            the checked batch and a :class:`ValidationReport` of what was dropped or clipped.
        """
        on_invalid = normalize_policy(on_invalid)
        report = ValidationReport()
        mask = self.mask
        nan_xy = (torch.isnan(self.x) | torch.isnan(self.y)) & mask
        infinite = (torch.isinf(self.x) | torch.isinf(self.y) | torch.isinf(self.duration)
                    | torch.isinf(self.t_start)) & mask
        bad_dur = (self.duration <= 0) & mask  # NaN (absent) durations are allowed
        w, h = self.image_size[:, 0:1], self.image_size[:, 1:2]
        outside = ((self.x < 0) | (self.y < 0) | (self.x > w) | (self.y > h)) & mask & ~nan_xy & ~infinite
        outside &= ~torch.isnan(w) & ~torch.isnan(h)
        problems = (("nan coordinate", nan_xy, "x/y"), ("infinite value", infinite, "x/y/duration_ms/t_start_ms"),
                    ("non-positive duration", bad_dur, "duration_ms"), ("outside the image", outside, "x/y"))
        if on_invalid == "raise":
            for reason, where, field_name in problems:
                if where.any():
                    i, j = (int(v) for v in where.nonzero()[0])
                    size = (f", image {float(w[i, 0]):g}x{float(h[i, 0]):g} px" if reason == "outside the image"
                            else "")
                    raise DataFormatError(
                        f"fixation {j} is invalid ({reason}: x={float(self.x[i, j])}, y={float(self.y[i, j])}, "
                        f"duration={float(self.duration[i, j])}{size}); pass --on-invalid drop or clip "
                        f"(on_invalid='drop' or 'clip' in Python) to drop or clip such fixations",
                        file=source, record=f"{i} (image {self.image[i]!r}, subject {self.subject[i]!r})",
                        field=field_name)
            return self, report
        x, y = self.x.clone(), self.y.clone()
        drop = nan_xy | infinite | bad_dur
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


def _earlier(problems, reason) -> Tensor:
    """Mask of fixations already counted under an earlier reason (each fixation is counted once)."""
    out = None
    for r, where, _ in problems:
        if r == reason:
            break
        out = where if out is None else out | where
    return out if out is not None else torch.zeros_like(problems[0][1])


def _compact(sp, keep: Tensor):
    """Remove fixations where ``keep`` is False, shifting the rest left."""
    lengths = keep.sum(dim=1)
    length = int(lengths.max()) if len(sp) else 0
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :length]
    valid = torch.arange(length, device=sp.device)[None] < lengths[:, None]

    def gather(t):
        return torch.gather(t, 1, order) * valid

    return replace(sp, x=gather(sp.x), y=gather(sp.y), t_start=gather(sp.t_start), duration=gather(sp.duration),
                   lengths=lengths, fixation_attrs={k: gather(v) for k, v in sp.fixation_attrs.items()})
