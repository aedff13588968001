"""Eccentricity-dependent, target-guided visual search (after eccNet, Gupta et al., NeurIPS 2021).

At each fixation:

1. the image's backbone features (computed once per image) are pooled with a window that grows with eccentricity
   from the current fixation (:func:`gazekit.ops.eccentricity_pool`), so the periphery is seen coarsely;
2. top-down modulation: the target's features (a template image, or the crop of a target box) are correlated with
   the pooled features at every level (normalised cross-correlation, i.e. the target used as a conv kernel);
3. each level's map is min-max normalised and weighted by its maximum response (eccNet's rule), summed into an
   attention map;
4. winner-take-all with inhibition of return picks the next fixation; the search stops when a fixation lands in the
   target box (eccNet's oracle recognition) or after ``max_fixations``.

Backbones: ``"filterbank"`` (default, weight-free: luminance, colour opponency, local contrast, centre-surround and
oriented Gabor energy at three scales; runs offline out of the box) or any timm model name through
:class:`gazekit.models.backbones.Backbone` with ``backbone_pretrained`` a timm tag or a local checkpoint path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models._search_common import (
    INTERIORS_LOG_DURATION_MU,
    INTERIORS_LOG_DURATION_SIGMA,
    SearchModel,
    check_images,
    make_scanpaths,
    request_starts,
    request_target_boxes,
    wta_search,
)
from gazekit.models.base import PredictRequest
from gazekit.models.registry import register_model
from gazekit.scanpaths import Scanpaths

__all__ = ["EccentricitySearch", "FilterBankBackbone"]


def _gabor_bank(sigma: float, wavelength: float, n_orient: int = 4) -> Tensor:
    """``[2 * n_orient, 1, k, k]`` even/odd Gabor kernels (zero-mean even parts), orientations 0..pi."""
    r = math.ceil(2.5 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    env = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    kernels = []
    for i in range(n_orient):
        theta = math.pi * i / n_orient
        u = xx * math.cos(theta) + yy * math.sin(theta)
        even = env * torch.cos(2 * math.pi * u / wavelength)
        even = even - env * (even.sum() / env.sum())  # no response to flat regions
        odd = env * torch.sin(2 * math.pi * u / wavelength)
        kernels += [even / even.abs().sum(), odd / odd.abs().sum()]
    return torch.stack(kernels)[:, None]


def _gauss1d(sigma: float) -> Tensor:
    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``[N, 1, H, W]`` with replicate padding."""
    k = _gauss1d(sigma).to(x)
    r = k.numel() // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


class FilterBankBackbone(nn.Module):
    """A fixed (weight-free) multi-scale filter bank: Itti-Koch-style early-vision channels.

    For each level (strides ``reductions``, default 8, 16, 32 image px per cell) the image is analysed at a quarter
    of the level's stride and the channel responses are averaged over each cell: luminance, red-green and
    blue-yellow opponency, local contrast, on/off centre-surround (difference of Gaussians) and Gabor energy at
    4 orientations. ``[B, 3, H, W]`` in [0, 1] -> list of ``[B, 10, H/s, W/s]``.
    """

    def __init__(self, reductions: tuple[int, ...] = (8, 16, 32)):
        super().__init__()
        if any(s < 4 or s % 4 for s in reductions):
            raise InvalidInputError(f"filter-bank strides must be multiples of 4, got {reductions}")
        self.reductions = list(reductions)
        self.channels = [10] * len(reductions)
        self.register_buffer("gabor", _gabor_bank(sigma=1.5, wavelength=4.0), persistent=False)

    def _level(self, images: Tensor, stride: int) -> Tensor:
        fine = stride // 4
        x = F.avg_pool2d(images, fine) if fine > 1 else images
        r, g, bl = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        lum = 0.299 * r + 0.587 * g + 0.114 * bl
        rg, by = r - g, bl - 0.5 * (r + g)
        centre, surround = _blur(lum, 1.0), _blur(lum, 4.0)
        dog = centre - surround
        contrast = (_blur(lum * lum, 2.0) - _blur(lum, 2.0) ** 2).clamp_min(0).sqrt()
        pad = self.gabor.shape[-1] // 2
        resp = F.conv2d(F.pad(lum, (pad,) * 4, mode="replicate"), self.gabor.to(lum))
        energy = (resp[:, 0::2] ** 2 + resp[:, 1::2] ** 2).sqrt()
        feats = torch.cat([lum, rg, by, contrast, dog.clamp_min(0), (-dog).clamp_min(0), energy], dim=1)
        return F.avg_pool2d(feats, 4)

    def forward(self, images: Tensor) -> list[Tensor]:
        return [self._level(images, s) for s in self.reductions]


def _box_sum(x: Tensor, kh: int, kw: int) -> Tensor:
    """Sum over every ``kh x kw`` window ('same' size output, zero padding), ``[N, C, h, w]``, from an integral
    image (cost independent of the window size)."""
    ph, pw = kh // 2, kw // 2
    x = F.pad(x.to(torch.float64), (pw + 1, kw - 1 - pw, ph + 1, kh - 1 - ph))
    s = x.cumsum(-1).cumsum(-2)
    h, w = s.shape[-2] - kh, s.shape[-1] - kw
    out = s[..., kh:, kw:] - s[..., :h, kw:] - s[..., kh:, :w] + s[..., :h, :w]
    return out.to(torch.float32)


def window_cosine(features: Tensor, kernels: Tensor) -> Tensor:
    """Cosine similarity between per-sample kernels and every feature window (same-size output).

    Args:
        features: ``[N, C, h, w]`` standardised (zero-mean per channel over the image) pooled image features.
        kernels: ``[N, C, kh, kw]`` target features standardised with the same image statistics.

    Returns:
        ``[N, h, w]`` in [-1, 1]: the target used as a conv kernel (eccNet's top-down modulation), divided by the
        norms so strong but different structure does not win.
    """
    n, _, h, w = features.shape
    kh, kw = kernels.shape[-2:]
    knorm = kernels.flatten(1).norm(dim=1).clamp_min(1e-8)
    ph, pw = kh // 2, kw // 2
    padded = F.pad(features, (pw, kw - 1 - pw, ph, kh - 1 - ph))
    # one dense conv per sample: on CPU this is ~3x faster than a single grouped conv over the batch
    num = torch.cat([F.conv2d(padded[i: i + 1], kernels[i: i + 1]) for i in range(n)]).view(n, h, w)
    energy = _box_sum((features * features).sum(1, keepdim=True), kh, kw)[:, 0].clamp_min(0)  # channels first
    return num / (energy.sqrt() * knorm[:, None, None]).clamp_min(1e-8)


class EccentricitySearch(SearchModel):
    """eccNet-style target-guided search with eccentricity-dependent pooling (a LightningModule).

    Args:
        backbone: ``"filterbank"`` (weight-free default) or a timm model name.
        backbone_pretrained: for a timm backbone: a timm weight tag or a local checkpoint path (None = random
            init). Whole-model weights are ``create_model("ecc-search", pretrained=CHECKPOINT)``.
        out_indices: timm feature levels to use (ignored by the filter bank).
        ppd: pixels per degree of visual angle of the input images (eccentricity is measured in degrees).
        fovea_deg: fovea diameter (deg); features inside it are not pooled (eccNet: 4).
        ring_deg: width of the eccentricity rings that share one window size (eccNet: 1).
        pool_slope: per level, growth of the pooling window with eccentricity (eccNet's rule, see
            :func:`gazekit.ops.pooling.pool_sizes`); one float applies to every level. None: eccNet's VGG16
            blocks 3-5 ladder 0.07, 0.16, 0.32 for the last three levels (a level before them halves the slope).
        ior_radius_px: inhibition-of-return disc radius (image px).
        map_stride: image px per attention-map cell (the candidate fixation grid).
        max_fixations: default scanpath length limit, the start fixation included.
        duration_mu, duration_sigma: log-normal fixation durations (log ms).
        target_margin_px: a fixation within this many px of the target box counts as on target.
        val_searches: searches per validation batch (None: all), see ``SearchModel``.
    """

    checkpoint_format = "gazekit-ecc-search"

    def __init__(self, backbone: str = "filterbank", backbone_pretrained: str | None = None,
                 out_indices: tuple[int, ...] = (1, 2, 3), ppd: float = 32.0, fovea_deg: float = 4.0,
                 ring_deg: float = 1.0, pool_slope: float | tuple[float, ...] | None = None,
                 ior_radius_px: float = 64.0, map_stride: int = 8, max_fixations: int = 13,
                 duration_mu: float = INTERIORS_LOG_DURATION_MU,
                 duration_sigma: float = INTERIORS_LOG_DURATION_SIGMA, target_margin_px: float = 0.0,
                 val_searches: int | None = None):
        super().__init__(duration_mu, duration_sigma, max_fixations, target_margin_px, val_searches)
        if not (ppd > 0 and fovea_deg >= 0 and ring_deg > 0 and map_stride >= 1 and ior_radius_px >= 0):
            raise InvalidInputError("EccentricitySearch needs ppd > 0, fovea_deg >= 0, ring_deg > 0, "
                                    f"map_stride >= 1, ior_radius_px >= 0; got {ppd}, {fovea_deg}, {ring_deg}, "
                                    f"{map_stride}, {ior_radius_px}")
        self.save_hyperparameters()
        if backbone == "filterbank":
            if backbone_pretrained is not None:
                raise InvalidInputError("the filter-bank backbone has no weights; pass backbone_pretrained=None")
            self.backbone = FilterBankBackbone()
            self.reductions = self.backbone.reductions
        else:
            from gazekit.models.backbones import Backbone

            self.backbone = Backbone(backbone, pretrained=backbone_pretrained, out_indices=tuple(out_indices))
            self.reductions = list(self.backbone.reductions)
        n_levels = len(self.reductions)
        if pool_slope is None:
            ladder = [0.07, 0.16, 0.32]
            while len(ladder) < n_levels:
                ladder.insert(0, ladder[0] / 2)
            slopes = tuple(ladder[-n_levels:])
        elif isinstance(pool_slope, (int, float)):
            slopes = (float(pool_slope),) * n_levels
        else:
            slopes = tuple(pool_slope)
        if len(slopes) != n_levels or any(s < 0 for s in slopes):
            raise InvalidInputError(f"pool_slope needs {n_levels} non-negative values (one per level), got "
                                    f"{pool_slope}")
        self.pool_slopes = [float(s) for s in slopes]
        self.ppd, self.fovea_deg, self.ring_deg = float(ppd), float(fovea_deg), float(ring_deg)
        self.ior_radius_px, self.map_stride = float(ior_radius_px), int(map_stride)

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def features(self, images: Tensor) -> list[Tensor]:
        """Backbone features of ``[B, 3, H, W]`` images in [0, 1], one ``[B, C, H/s, W/s]`` map per level.

        Images go through the backbone one at a time: on CPU the full-resolution intermediates of a whole batch
        fall out of cache, and one at a time measured ~2x faster (benchmarks/bench_search.py)."""
        images = images.to(self.device, torch.float32)
        per_image = [self.backbone(images[i: i + 1]) for i in range(images.shape[0])]
        return [torch.cat([p[lvl] for p in per_image]).float() for lvl in range(len(per_image[0]))]

    @staticmethod
    def channel_stats(feats: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Per image and channel mean and std over the image (used to standardise image and target alike)."""
        return [(f.mean(dim=(2, 3), keepdim=True), f.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)) for f in feats]

    @torch.no_grad()
    def target_kernels(self, images: Tensor, request: PredictRequest) -> list[Tensor]:
        """Per image, the target's raw features at every level: ``[B, C, kh, kw]`` with ``kh, kw`` the target's
        size in cells of that level rounded to an odd number (at least 1). From ``templates``, else the crop of
        ``target_box``."""
        b = images.shape[0]
        if request.templates is not None:
            if len(request.templates) != b:
                raise InvalidInputError(f"{len(request.templates)} templates for {b} images")
            crops = [torch.as_tensor(t, dtype=torch.float32, device=images.device) for t in request.templates]
            source = "templates"
        elif request.target_box is not None:
            boxes = torch.as_tensor(request.target_box, dtype=torch.float64)
            crops = []
            for i in range(b):
                x0, y0, x1, y1 = boxes[i].tolist()
                if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                    raise InvalidInputError(f"target_box of image {i} contains NaN; give a template instead")
                c0, r0 = max(0, round(x0)), max(0, round(y0))
                c1, r1 = min(images.shape[-1], round(x1)), min(images.shape[-2], round(y1))
                if c1 - c0 < 2 or r1 - r0 < 2:
                    raise InvalidInputError(f"target_box of image {i} ({x0}, {y0}, {x1}, {y1}) is empty in the image")
                crops.append(images[i, :, r0:r1, c0:c1].float())
            source = "target_box crops"
        else:
            raise InvalidInputError("eccentricity search needs a target: PredictRequest.templates ([3, h, w] "
                                    "images) or target_box ([B, 4] x0, y0, x1, y1 px)")
        big = max(self.reductions)
        per_level: list[list[Tensor]] = [[] for _ in self.reductions]
        shapes = []
        for i, crop in enumerate(crops):
            if crop.dim() != 3 or crop.shape[0] != 3:
                raise InvalidInputError(f"{source}[{i}] must be a [3, h, w] image, got {tuple(crop.shape)}")
            shapes.append(tuple(crop.shape[-2:]))
        for i, crop in enumerate(crops):
            h, w = crop.shape[-2:]
            # pad (edge-replicate) by one coarsest cell on each side so every level sees the whole target
            padded = F.pad(crop[None], (big, big, big, big), mode="replicate")
            for lvl, (f, s) in enumerate(zip(self.features(padded), self.reductions)):
                # odd kernel sizes keep the correlation peak centred on a cell (an even kernel shifts it by half
                # a cell, which at stride 32 misses a 72-px target)
                kh, kw = 2 * int(h / s / 2) + 1, 2 * int(w / s / 2) + 1
                off = big // s
                cell = f[:, :, off: off + max(1, math.ceil(h / s)), off: off + max(1, math.ceil(w / s))]
                per_level[lvl].append(F.adaptive_avg_pool2d(cell, (kh, kw)))
        out = []
        for lvl in range(len(self.reductions)):
            kh = max(k.shape[-2] for k in per_level[lvl])
            kw = max(k.shape[-1] for k in per_level[lvl])
            # one kernel size per level across the batch: targets of other sizes are resized to it
            out.append(torch.cat([F.interpolate(k, size=(kh, kw), mode="bilinear", align_corners=False)
                                  if k.shape[-2:] != (kh, kw) else k for k in per_level[lvl]]))
        return out

    # ------------------------------------------------------------------ one attention step
    def attention(self, feats: list[Tensor], kernels: list[Tensor], fix_xy: Tensor, image_hw: tuple[int, int],
                  map_hw: tuple[int, int]) -> Tensor:
        """``[N, h, w]`` attention maps for N searches fixating ``fix_xy`` ``[N, 2]`` (x, y image px).

        ``feats`` and ``kernels`` must already be standardised with the image's channel statistics."""
        from gazekit.ops import eccentricity_pool

        total = None
        for lvl, (f, k, stride) in enumerate(zip(feats, kernels, self.reductions)):
            # same-size pooling (rf_min 1, stride 1) whose window grows with eccentricity from the fixation
            pooled = eccentricity_pool(f, fix_xy.to(torch.float64), deg2px=self.ppd / stride,
                                       slope=self.pool_slopes[lvl], rf_min=1, stride=1, fovea_deg=self.fovea_deg,
                                       ring_deg=self.ring_deg, image_size=image_hw)
            sim = window_cosine(pooled, k).clamp_min(0)
            lo = sim.flatten(1).min(1).values.view(-1, 1, 1)
            hi = sim.flatten(1).max(1).values.view(-1, 1, 1)
            m = (sim - lo) / (hi - lo).clamp_min(1e-8) * hi  # eccNet: min-max normalise, weight by the max
            m = F.interpolate(m[:, None], size=map_hw, mode="bilinear", align_corners=False)[:, 0]
            total = m if total is None else total + m
        return total

    # ------------------------------------------------------------------ search
    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Search every image of ``request`` for its target (``templates`` or ``target_box``) from
        ``request.extra["start_xy"]`` (default: the centre); stop on the target box when given.
        Output (x, y) px of the input images, durations in ms."""
        check_images(request)
        images = request.images.to(self.device, torch.float32)
        h, w = images.shape[-2:]
        s = request.n_samples
        feats = self.features(images)
        kernels = self.target_kernels(images, request)
        stats = self.channel_stats(feats)
        feats = [(f - mu) / sd for f, (mu, sd) in zip(feats, stats)]
        kernels = [(k - mu) / sd for k, (mu, sd) in zip(kernels, stats)]
        feats = [f.repeat_interleave(s, dim=0) for f in feats]
        kernels = [k.repeat_interleave(s, dim=0) for k in kernels]
        map_hw = (max(1, h // self.map_stride), max(1, w // self.map_stride))
        starts = request_starts(request)
        boxes = request_target_boxes(request)

        def priority(step: int, current: Tensor, active: Tensor) -> Tensor:
            out = torch.zeros(current.shape[0], *map_hw, dtype=torch.float32, device=current.device)
            idx = active.nonzero().flatten()
            if idx.numel():
                sub = self.attention([f[idx] for f in feats], [k[idx] for k in kernels], current[idx], (h, w), map_hw)
                out[idx] = sub.to(out)
            return out

        max_fix = request.max_fixations or self.max_fixations
        xy, lengths, found = wta_search(priority, starts, (h, w), map_hw, max_fixations=max_fix,
                                        ior_radius_px=self.ior_radius_px, target_box=boxes,
                                        target_margin_px=self.target_margin_px, stop_on_target=boxes is not None)
        return make_scanpaths(xy, lengths, request, self.durations, found if boxes is not None else None)


FORMATS = (EccentricitySearch.checkpoint_format, "gazekit.models.ecc_search.EccentricitySearch")


@register_model("ecc-search", predicts=("positions", "durations", "stop"),
                inputs=("image", "target_template", "target_box"), formats=FORMATS,
                description="eccNet-style target-guided search: eccentricity-dependent pooling of filter-bank (or "
                            "timm) features, target-template modulation, winner-take-all with IoR, stop on target")
def ecc_search(checkpoint: dict | None = None, **kwargs) -> EccentricitySearch:
    """Weight-free filter-bank backbone by default; ``backbone="<timm name>"`` with ``backbone_pretrained`` a timm
    tag or local checkpoint path for a learned one; ``pretrained=`` a saved ecc-search checkpoint."""
    if checkpoint is not None:
        return EccentricitySearch.from_checkpoint(checkpoint, **kwargs)
    return EccentricitySearch(**kwargs)


# 8x eccNet's pooling slopes: picked among 1x, 4x and 8x by probability mismatch to the humans on the 14 images of
# the Interiors validation split (GazeDataModule split, seed 0); see README, section models-search.
CALIBRATED_POOL_SLOPE = (0.56, 1.28, 2.56)


@register_model("ecc-search-calibrated", predicts=("positions", "durations", "stop"),
                inputs=("image", "target_template", "target_box"), formats=FORMATS,
                description="ecc-search with 8x eccNet's pooling slopes, chosen on the Interiors validation images "
                            "to match the humans' target-fixation curve")
def ecc_search_calibrated(checkpoint: dict | None = None, **kwargs) -> EccentricitySearch:
    """``ecc-search`` with a coarser periphery (``pool_slope`` = :data:`CALIBRATED_POOL_SLOPE` unless given)."""
    if checkpoint is not None:
        return EccentricitySearch.from_checkpoint(checkpoint, **kwargs)
    kwargs.setdefault("pool_slope", CALIBRATED_POOL_SLOPE)
    return EccentricitySearch(**kwargs)
