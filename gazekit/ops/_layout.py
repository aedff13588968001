"""Memory layout shared by the fused kernels: the flat pyramid chain and the bilinear sampling tables.

Levels ``1 .. L-1`` live in one ``[B, C, N]`` buffer (about a third of an image); level 0 is read from the images
directly. Rows and columns are sampled separably, so the source index and weight of output row ``i`` in level ``l``
depend only on ``(l, i)``: they are tabulated once per call (``L x (H + W)`` entries) exactly as
``F.interpolate(mode="bilinear", align_corners=False)`` computes them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gazekit.ops.reference import gaussian_pyramid, level_sizes

__all__ = ["chain_offsets", "build_chain", "unpack_chain", "sample_tables"]


def chain_offsets(height: int, width: int, levels: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Start of each level in the chain (entry 0 unused, 0) and the level sizes; the last offset is the length N."""
    sizes = level_sizes(height, width, levels)
    offsets = [0, 0]
    for h, w in sizes[1:]:
        offsets.append(offsets[-1] + h * w)
    return offsets, sizes


def build_chain(images: Tensor, levels: int) -> Tensor:
    """Pyramid levels ``1 .. L-1`` of ``images`` flattened into one ``[B, C, N]`` buffer (differentiable)."""
    pyramid = gaussian_pyramid(images, levels)
    return torch.cat([g.flatten(2) for g in pyramid[1:]], dim=2)


def unpack_chain(chain: Tensor, height: int, width: int, levels: int) -> list[Tensor]:
    """Views of levels ``1 .. L-1`` at their own resolution."""
    offsets, sizes = chain_offsets(height, width, levels)
    b, c = chain.shape[:2]
    return [chain[:, :, offsets[l] : offsets[l + 1]].reshape(b, c, *sizes[l]) for l in range(1, levels)]


def _axis_table(out_size: int, in_sizes: list[int], dtype: torch.dtype, device) -> tuple[Tensor, Tensor, Tensor]:
    dst = torch.arange(out_size, dtype=dtype, device=device) + 0.5
    i0s, i1s, fracs = [], [], []
    for in_size in in_sizes:
        scale = torch.tensor(in_size, dtype=dtype, device=device) / out_size
        src = (scale * dst - 0.5).clamp(min=0.0)
        i0 = src.floor().to(torch.int64).clamp(max=in_size - 1)
        i1 = (i0 + 1).clamp(max=in_size - 1)
        i0s.append(i0)
        i1s.append(i1)
        fracs.append((src - i0.to(dtype)).clamp(0.0, 1.0))
    return torch.stack(i0s).to(torch.int32), torch.stack(i1s).to(torch.int32), torch.stack(fracs)


def sample_tables(height: int, width: int, levels: int, dtype: torch.dtype, device) -> dict[str, Tensor]:
    """Per-level bilinear tables, all contiguous; row 0 is level 0 (the identity, indexing the image itself).

    Keys: ``ra, rb`` ``[L, H]`` int64 flat start of the upper / lower source row (chain offset of the level included;
    level 0: ``i * W`` in the image plane); ``fy`` ``[L, H]`` weight of the lower row; ``ca, cb`` ``[L, W]`` int64
    left / right source column; ``fx`` ``[L, W]`` weight of the right column; ``level_width`` ``[L]`` int64.
    """
    offsets, sizes = chain_offsets(height, width, levels)
    ry0, ry1, fy = _axis_table(height, [h for h, _ in sizes], dtype, device)
    rx0, rx1, fx = _axis_table(width, [w for _, w in sizes], dtype, device)
    start = torch.tensor(offsets[:levels], dtype=torch.int64, device=device).view(levels, 1)
    row_len = torch.tensor([w for _, w in sizes], dtype=torch.int64, device=device).view(levels, 1)
    return {
        "ra": (start + ry0.to(torch.int64) * row_len).contiguous(),
        "rb": (start + ry1.to(torch.int64) * row_len).contiguous(),
        "fy": fy.contiguous(),
        "ca": rx0.to(torch.int64).contiguous(),
        "cb": rx1.to(torch.int64).contiguous(),
        "fx": fx.contiguous(),
        "level_width": row_len.view(levels).contiguous(),
    }
