"""Floors for visual-search models: random fixations, centre-out, and bottom-up saliency, each with inhibition
of return and the same oracle stop rule (a fixation in the target box ends the search) as the real models.

All three are winner-take-all searches over a priority map (:func:`gazekit.models._search_common.wta_search`):

* ``search-random``: a fresh uniform random map at every step (random fixations that never revisit an inhibited
  disc);
* ``search-centre-out``: priority falls with distance from the image centre (look at the centre, then spiral out);
* ``search-saliency``: the spectral-residual saliency map (Hou & Zhang, CVPR 2007), computed here in torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models._search_common import (
    INTERIORS_LOG_DURATION_MU,
    INTERIORS_LOG_DURATION_SIGMA,
    SearchModel,
    check_images,
    make_scanpaths,
    map_grid_xy,
    request_starts,
    request_target_boxes,
    scanpath_seeds,
    wta_search,
)
from gazekit.models.base import PredictRequest, generator_for
from gazekit.models.registry import register_model
from gazekit.scanpaths import Scanpaths

__all__ = ["MapSearchBaseline", "spectral_residual_saliency"]


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``[N, 1, h, w]`` maps (reflect padding), sigma in map pixels."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad_h, pad_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    kx = k[r - pad_w: r + pad_w + 1].view(1, 1, 1, -1)
    ky = k[r - pad_h: r + pad_h + 1].view(1, 1, -1, 1)
    x = F.conv2d(F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect"), kx / kx.sum())
    return F.conv2d(F.pad(x, (0, 0, pad_h, pad_h), mode="reflect"), ky / ky.sum())


def spectral_residual_saliency(images: Tensor, width: int = 64, blur_sigma: float = 2.5) -> Tensor:
    """Spectral-residual saliency (Hou & Zhang 2007) of ``[B, 3, H, W]`` images in [0, 1].

    The luminance is resized to ``width`` columns (aspect kept); saliency = |IFFT(exp(R + iP))|^2 where R is the
    log-amplitude spectrum minus its 3x3 local mean and P the phase; then a Gaussian blur (``blur_sigma`` in
    pixels of the small map). Returns ``[B, h, width]`` maps scaled to [0, 1] per image.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise InvalidInputError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    b, _, h_img, w_img = images.shape
    height = max(4, round(width * h_img / w_img))
    lum = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None].to(torch.float64)
    small = F.interpolate(lum, size=(height, width), mode="area")[:, 0]
    spec = torch.fft.fft2(small)
    log_amp = torch.log(spec.abs() + 1e-12)
    phase = torch.angle(spec)
    local = F.avg_pool2d(F.pad(log_amp[:, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    residual = log_amp - local
    sal = torch.fft.ifft2(torch.exp(torch.complex(residual, phase))).abs() ** 2
    sal = _gaussian_blur(sal[:, None], blur_sigma)[:, 0]
    lo = sal.flatten(1).min(1).values.view(b, 1, 1)
    hi = sal.flatten(1).max(1).values.view(b, 1, 1)
    return (sal - lo) / (hi - lo).clamp_min(1e-12)


class MapSearchBaseline(SearchModel):
    """A baseline searcher: winner-take-all over a priority map with inhibition of return.

    Args:
        kind: ``"random"``, ``"centre-out"`` or ``"saliency"``.
        map_stride: image pixels per priority-map cell (the candidate fixation grid).
        ior_radius_px: radius of the inhibited disc around each past fixation, image pixels.
        max_fixations: default scanpath length limit (start fixation included).
        duration_mu, duration_sigma: log-normal duration parameters (log ms), see ``LogNormalDurations``.
        target_margin_px: a fixation within this many px of the target box counts as on target.
        val_searches: searches per validation batch (None: all), see ``SearchModel``.
    """

    KINDS = ("random", "centre-out", "saliency")

    def __init__(self, kind: str = "random", map_stride: int = 16, ior_radius_px: float = 64.0,
                 max_fixations: int = 13, duration_mu: float = INTERIORS_LOG_DURATION_MU,
                 duration_sigma: float = INTERIORS_LOG_DURATION_SIGMA, target_margin_px: float = 0.0,
                 val_searches: int | None = None):
        super().__init__(duration_mu, duration_sigma, max_fixations, target_margin_px, val_searches)
        if kind not in self.KINDS:
            raise InvalidInputError(f"unknown baseline kind {kind!r}; choose one of {', '.join(self.KINDS)}")
        if map_stride < 1 or ior_radius_px < 0:
            raise InvalidInputError(f"map_stride must be >= 1 and ior_radius_px >= 0, got {map_stride}, "
                                    f"{ior_radius_px}")
        self.kind, self.map_stride, self.ior_radius_px = kind, int(map_stride), float(ior_radius_px)
        self.save_hyperparameters()

    def static_map(self, images: Tensor, map_hw: tuple[int, int]) -> Tensor | None:
        """``[B, h, w]`` priority of the static baselines (None for ``random``)."""
        b, _, h, w = images.shape
        if self.kind == "centre-out":
            grid = map_grid_xy((h, w), map_hw, device=images.device)
            d2 = (grid[..., 0] - w / 2.0) ** 2 + (grid[..., 1] - h / 2.0) ** 2
            return (-d2)[None].expand(b, *map_hw)
        if self.kind == "saliency":
            sal = spectral_residual_saliency(images)
            return F.interpolate(sal[:, None], size=map_hw, mode="bilinear", align_corners=False)[:, 0]
        return None

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Search each image from ``request.extra["start_xy"]`` (default: the centre) until a fixation lands in
        ``request.target_box`` (when given) or ``max_fixations`` is reached. Output (x, y) px, durations ms."""
        check_images(request)
        images = request.images
        h, w = images.shape[-2:]
        s = request.n_samples
        map_hw = (max(1, h // self.map_stride), max(1, w // self.map_stride))
        starts = request_starts(request)
        boxes = request_target_boxes(request)
        static = self.static_map(images, map_hw)
        if static is not None:
            static = static.repeat_interleave(s, dim=0).to(torch.float64)
        gens = [generator_for(seed) for seed in scanpath_seeds(request)]

        def priority(step: int, current: Tensor, active: Tensor) -> Tensor:
            if static is not None:
                return static
            return torch.stack([torch.rand(map_hw, generator=g, dtype=torch.float64) for g in gens])

        max_fix = request.max_fixations or self.max_fixations
        xy, lengths, found = wta_search(priority, starts, (h, w), map_hw, max_fixations=max_fix,
                                        ior_radius_px=self.ior_radius_px, target_box=boxes,
                                        target_margin_px=self.target_margin_px, stop_on_target=boxes is not None)
        return make_scanpaths(xy, lengths, request, self.durations, found if boxes is not None else None)


_INFO = dict(predicts=("positions", "durations", "stop"), inputs=("image", "target_box"))


@register_model("search-random", **_INFO,
                description="Search floor: uniform random fixations with inhibition of return, oracle stop on target")
def search_random(checkpoint: dict | None = None, **kwargs) -> MapSearchBaseline:
    _no_weights("search-random", checkpoint)
    return MapSearchBaseline(kind="random", **kwargs)


@register_model("search-centre-out", **_INFO,
                description="Search floor: fixations ordered by distance from the image centre, with IoR")
def search_centre_out(checkpoint: dict | None = None, **kwargs) -> MapSearchBaseline:
    _no_weights("search-centre-out", checkpoint)
    return MapSearchBaseline(kind="centre-out", **kwargs)


@register_model("search-saliency", **_INFO,
                description="Search floor: bottom-up spectral-residual saliency, winner-take-all with IoR")
def search_saliency(checkpoint: dict | None = None, **kwargs) -> MapSearchBaseline:
    _no_weights("search-saliency", checkpoint)
    return MapSearchBaseline(kind="saliency", **kwargs)


def _no_weights(name: str, checkpoint: dict | None) -> None:
    if checkpoint is not None:
        raise InvalidInputError(f"model {name!r} has no weights; got a checkpoint (pretrained=...)")
