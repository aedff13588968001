"""Building blocks of the object-level attention transformer (OAT): object crops, appearance embedding,
the Gaussian-similarity positional encoding, the pointer head, and input checks for object boxes.

Boxes are ``(x0, y0, x1, y1)`` pixels of the image (origin top-left); crops are ``[3, S, S]`` float RGB in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.images import crop_objects, resize_template  # noqa: F401  (re-exported: OAT's crops)

OVERLAP_LIMIT = 0.5  # boxes sharing more than this fraction of the smaller one's area are not separate objects


def check_boxes(boxes, width: float, height: float, *, where: str = "boxes", tol_px: float = 0.5) -> Tensor:
    """Validate one image's object boxes; returns them as ``[N, 4]`` float32.

    Raises :class:`InvalidInputError` (naming the box) for: no boxes, wrong shape, non-finite values, degenerate
    boxes (``x1 <= x0`` or ``y1 <= y0``), boxes reaching outside the ``width x height`` image by more than
    ``tol_px``, and pairs overlapping by more than ``OVERLAP_LIMIT`` of the smaller box's area.
    """
    if boxes is None:
        raise InvalidInputError(f"{where}: OAT needs the object boxes of each image (got none)")
    b = torch.as_tensor(boxes, dtype=torch.float32)
    if b.dim() != 2 or b.shape[-1] != 4:
        raise InvalidInputError(f"{where}: expected an [N, 4] array of (x0, y0, x1, y1) px boxes, got shape "
                                f"{tuple(b.shape)}")
    if b.shape[0] == 0:
        raise InvalidInputError(f"{where}: no object boxes; OAT predicts fixations on objects, give at least one")
    if not torch.isfinite(b).all():
        k = int((~torch.isfinite(b)).any(1).nonzero()[0])
        raise InvalidInputError(f"{where}: box {k} has a NaN or infinite coordinate: {b[k].tolist()}")
    bad = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if bad.any():
        k = int(bad.nonzero()[0])
        raise InvalidInputError(f"{where}: box {k} {b[k].tolist()} is degenerate (needs x1 > x0 and y1 > y0)")
    out = (b[:, 0] < -tol_px) | (b[:, 1] < -tol_px) | (b[:, 2] > width + tol_px) | (b[:, 3] > height + tol_px)
    if out.any():
        k = int(out.nonzero()[0])
        raise InvalidInputError(f"{where}: box {k} {b[k].tolist()} lies outside the {width:g}x{height:g} px image")
    lt = torch.maximum(b[:, None, :2], b[None, :, :2])
    rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (b[:, 2:] - b[:, :2]).prod(-1)
    frac = inter / torch.minimum(area[:, None], area[None, :])
    frac.fill_diagonal_(0)
    if (frac > OVERLAP_LIMIT).any():
        i, j = (frac > OVERLAP_LIMIT).nonzero()[0].tolist()
        raise InvalidInputError(f"{where}: boxes {i} and {j} overlap by {float(frac[i, j]):.0%} of the smaller box "
                                f"(limit {OVERLAP_LIMIT:.0%}); give one box per object")
    return b


class SmallCNN(nn.Module):
    """The paper's small appearance CNN (two conv + max-pool stages, then a linear layer), sized for ``S x S``
    crops: conv 3->16 5x5, pool 2, conv 16->32 3x3, pool 2, linear -> ``dim``."""

    def __init__(self, dim: int, crop_size: int):
        super().__init__()
        if crop_size < 14:
            raise InvalidInputError(f"the small CNN needs crops of at least 14 px, got crop_size={crop_size}")
        self.features = nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        with torch.no_grad():
            n = self.features(torch.zeros(1, 3, crop_size, crop_size)).shape[1]
        self.head = nn.Linear(n, dim)

    def forward(self, crops: Tensor) -> Tensor:
        return self.head(self.features(crops))


class TimmAppearance(nn.Module):
    """Any timm backbone (global-pooled features) followed by a linear layer to ``dim``."""

    def __init__(self, name: str, dim: int, pretrained: bool = False):
        super().__init__()
        import timm

        self.backbone = timm.create_model(name, pretrained=pretrained, num_classes=0)
        self.head = nn.Linear(self.backbone.num_features, dim)
        cfg = self.backbone.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1))

    def forward(self, crops: Tensor) -> Tensor:
        return self.head(self.backbone((crops - self.mean) / self.std))


def build_appearance(name: str, dim: int, crop_size: int) -> nn.Module:
    """``"small_cnn"`` or ``"timm:<model name>"`` (random init; load trained weights through the checkpoint)."""
    if name == "small_cnn":
        return SmallCNN(dim, crop_size)
    if name.startswith("timm:"):
        return TimmAppearance(name[5:], dim)
    raise InvalidInputError(f"appearance must be 'small_cnn' or 'timm:<name>', got {name!r}")


class GaussianPositionalEncoding(nn.Module):
    """OAT's learned 1-D position table, generalised from grid indices to continuous positions.

    A table of ``bins`` learned vectors covers [0, 1]; a position ``p`` reads the linear interpolation of its two
    neighbouring rows, so arbitrary object positions get an embedding. :meth:`regulariser` pulls the cosine
    similarity of rows ``i, j`` towards ``exp(-(i - j)^2 / (2 sigma^2))`` (sigma in bins) and their norms towards
    each other, which is the paper's training signal for the table.
    """

    def __init__(self, bins: int, dim: int, sigma: float = 2.0):
        super().__init__()
        self.bins, self.sigma = bins, sigma
        self.table = nn.Parameter(torch.randn(bins, dim) / math.sqrt(dim))
        idx = torch.arange(bins, dtype=torch.float32)
        self.register_buffer("target_sim", torch.exp(-(idx[:, None] - idx[None]) ** 2 / (2 * sigma**2)),
                             persistent=False)

    def forward(self, p: Tensor) -> Tensor:
        u = p.clamp(0, 1) * (self.bins - 1)
        lo = u.floor().long().clamp(max=self.bins - 2)
        w = (u - lo).unsqueeze(-1)
        return self.table[lo] * (1 - w) + self.table[lo + 1] * w

    def regulariser(self) -> Tensor:
        """Loss pulling the table's cosine similarities towards the Gaussian of index distance, with equal norms."""
        n = self.table.norm(dim=1)
        sim = (self.table / n[:, None]) @ (self.table / n[:, None]).T
        return F.mse_loss(sim, self.target_sim) + ((n - n.mean()) ** 2).mean() / n.mean().detach() ** 2


def sinusoidal(length: int, dim: int, device=None) -> Tensor:
    """``[length, dim]`` 1-D sinusoidal step encoding (decoder step index)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class PointerHead(nn.Module):
    """Scores every object (scaled dot product of decoder query and object memory, several heads averaged) plus
    a stop slot (a linear readout of the query); padding objects get ``-inf``."""

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        self.q = nn.Linear(dim, dim * heads)
        self.k = nn.Linear(dim, dim * heads)
        self.stop = nn.Linear(dim, 1)
        self.heads, self.dim = heads, dim

    def forward(self, query: Tensor, memory: Tensor, object_mask: Tensor) -> Tensor:
        """query ``[B, T, d]``, memory ``[B, N, d]``, object_mask ``[B, N]`` -> logits ``[B, T, N + 1]``
        (column ``N`` = stop)."""
        b, t, _ = query.shape
        q = self.q(query).view(b, t, self.heads, self.dim)
        k = self.k(memory).view(b, -1, self.heads, self.dim)
        scores = torch.einsum("bthd,bnhd->btn", q, k) / (self.heads * math.sqrt(self.dim))
        scores = scores.masked_fill(~object_mask[:, None, :], float("-inf"))
        return torch.cat([scores, self.stop(query)], dim=-1)
