"""TPP gaze: a temporal point-process model of free-viewing scanpaths (where *and* when), trained by likelihood.

A scanpath is a sequence of fixations ``(x_k, y_k, d_k)`` inside a viewing horizon ``T`` (ms). The model factorises

    p(scanpath) = prod_k p(x_k, y_k | image, history_<k) * p(d_k | image, history_<k, x_k)  *  S_n

* position: an exact, normalised density, piecewise constant over a grid of cells (``upsample`` x the backbone's
  stride-8 grid); the cell logits come from image features, history maps (distance to the last fixation, bumps at
  past fixations), a FiLM-modulation by the history context, and a learned weight times a centre-bias log-prior;
  with ``static_map``, plus the static saliency map's log-softmax over the cells times a weight set by the history
  context (:mod:`gazekit.models.tpp_static`). Distances are in degrees of visual angle where the scanpaths' pixels
  per degree is known and the model has ``degrees_per_unit`` (else image-normalised).
* duration: a K-component log-normal mixture conditioned on the history context and on the image feature of the
  (stride-8) cell being fixated.
* ``S_n``: the survival term. Fixation onsets are ``t_k = sum_{j<k} (d_j + gap)``, with ``gap`` the mean saccade
  time fitted on the training data (datasets without onsets, like OSIE, only record fixation durations); the
  fixation that starts at ``t_n < T`` but would end after ``T`` is not recorded, which contributes
  ``log sum_cells p(cell) P(D > T - t_n | cell)`` (exact, because durations are constant within a stride-8 cell).

The image is encoded once per image (shared by every scanpath and every step), never per sampling step.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models.backbones import Backbone, FrozenBackbone, freeze_backbone
from gazekit.models.base import PredictRequest
from gazekit.models.tpp_heads import (
    DurationHead,
    HistoryEncoder,
    SpatialHead,
    fixation_bumps,
    lognormal_mixture_logpdf,
    lognormal_mixture_logsf,
    sample_features,
)
from gazekit.models.tpp_decoding import apply_decoding, make_decoding
from gazekit.models.tpp_sampling import check_history, check_images, sample_scanpaths, unique_rows
from gazekit.models.tpp_static import cell_log_softmax
from gazekit.scanpaths import Scanpaths

LN2 = math.log(2.0)


class TPPGazeCore(nn.Module):
    """The TPP gaze network and its inference API, without training code (and without importing Lightning).

    :class:`gazekit.models.tpp.TPPGaze` adds training (a LightningModule with the same weights and arguments);
    use this class where only inference is needed: it starts faster, and a shipped checkpoint loads with its
    backbone as a frozen graph of plain ``torch.nn`` layers, so neither timm nor Lightning is imported.

    Args:
        backbone: timm architecture (``features_only``); ``backbone_pretrained``: tag or local checkpoint path.
        input_width, input_height: the image is resized to this area (aspect kept, sides multiples of 32) px.
        feature_dim: channels of the fused stride-8 feature map. hidden_dim: history context size.
        history: ``"gru"`` or ``"transformer"``. head_dim: width of the spatial head.
        duration_components: K of the log-normal mixture. upsample: density cells per stride-8 cell (per axis).
        bump_sigma: width of the history bumps, fraction of the longer image side.
        viewing_time_ms: default horizon T (None: no horizon, sampling stops at ``max_fixations``).
        max_fixations: hard cap on sampled scanpath length.
        static_map: a registered saliency model whose image logits become an extra image term of the cell logits,
            weighted by the history context (:mod:`gazekit.models.tpp_static`); None: the TPP's own maps only.
        degrees_per_unit: saccade geometry in degrees of visual angle: the isotropic unit of the history terms is
            this many degrees where pixels per degree is known (``Scanpaths.ppd``, or the request's
            ``pixels_per_degree``), else the longer image side. None: always the longer side (as ``tpp-osie``).
        backbone_module: an already built backbone (e.g. a :class:`FrozenBackbone`) used instead of building one.
    """

    task_kind = "freeview"

    def __init__(self, backbone: str = "lcnet_050", backbone_pretrained: str | None = None,
                 input_width: int = 256, input_height: int = 192, feature_dim: int = 32, hidden_dim: int = 96,
                 history: str = "gru", transformer_layers: int = 2, head_dim: int = 32, n_maps: int = 8,
                 duration_components: int = 4, upsample: int = 2, bump_sigma: float = 0.05, dropout: float = 0.1,
                 viewing_time_ms: float | None = 3000.0, max_fixations: int = 30, static_map: str | None = None,
                 degrees_per_unit: float | None = None, *, backbone_module: nn.Module | None = None):
        super().__init__()
        self.cfg = SimpleNamespace(**{k: v for k, v in locals().items()
                                      if k not in ("self", "__class__", "backbone_module")})
        self.backbone = backbone_module or Backbone(backbone, pretrained=backbone_pretrained, out_indices=(2, 3, 4))
        if self.backbone.reductions[0] != 8:
            raise InvalidInputError(f"backbone {backbone!r} must give a stride-8 first level with out_indices "
                                    f"(2, 3, 4); got strides {self.backbone.reductions}")
        self.readouts = nn.ModuleList(nn.Conv2d(c, feature_dim, 1) for c in self.backbone.channels)
        self.fuse = nn.Conv2d(feature_dim + 2, feature_dim, 3, padding=1)  # +2 CoordConv channels
        self.embed = nn.Linear(feature_dim + self.backbone.channels[-1], hidden_dim)
        self.token = nn.Linear(4 + feature_dim, hidden_dim)
        self.history = HistoryEncoder(hidden_dim, history, layers=transformer_layers, dropout=dropout,
                                      max_len=max(64, max_fixations))
        self.spatial = SpatialHead(feature_dim, hidden_dim, head_dim, n_maps, dropout)
        self.duration = DurationHead(hidden_dim, feature_dim, duration_components, dropout=dropout)
        self.cb_weight = nn.Parameter(torch.tensor(1.0))
        if static_map is not None:  # context -> weight of the static map's log-softmax over the cells
            self.static_gain = nn.Linear(hidden_dim, 1)
            with torch.no_grad():
                self.static_gain.weight.zero_()
                self.static_gain.bias.fill_(0.5)
        # Priors fitted on the training data (fit_priors); saved with the weights.
        self.register_buffer("cb_mean", torch.tensor([0.5, 0.5]))
        self.register_buffer("cb_cov", torch.tensor([[0.04, 0.0], [0.0, 0.04]]))
        self.register_buffer("logd_loc", torch.tensor(5.2))
        self.register_buffer("logd_scale", torch.tensor(0.6))
        self.register_buffer("gap_ms", torch.tensor(0.0))
        self.register_buffer("priors_fitted", torch.tensor(False))

    # ------------------------------------------------------------------ priors
    @torch.no_grad()
    def fit_priors(self, scanpaths: Scanpaths, viewing_time_ms: float | None = None) -> dict:
        """Fit the centre-bias Gaussian, duration standardisation and mean saccade gap on training scanpaths."""
        from gazekit.models.priors import fit_freeview_priors

        pri = fit_freeview_priors(scanpaths, viewing_time_ms or self.cfg.viewing_time_ms)
        self.cb_mean.copy_(torch.as_tensor(pri["cb_mean"]))
        self.cb_cov.copy_(torch.as_tensor(pri["cb_cov"]))
        self.logd_loc.fill_(pri["logd_loc"])
        self.logd_scale.fill_(pri["logd_scale"])
        self.gap_ms.fill_(pri["gap_ms"])
        self.priors_fitted.fill_(True)
        return pri

    # ------------------------------------------------------------------ image encoding
    def input_hw(self, height: int, width: int) -> tuple[int, int]:
        """The network input size ``(height, width)`` for an image of that size: the configured area, the aspect ratio
        kept, multiples of 32, at least 64.
        """
        scale = math.sqrt(self.cfg.input_width * self.cfg.input_height / (height * width))
        return max(64, round(height * scale / 32) * 32), max(64, round(width * scale / 32) * 32)

    def encode_images(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``[N, 3, H, W]`` RGB in [0, 1] -> (stride-8 features ``[N, C, h, w]``, embedding ``[N, D]``)."""
        h_in, w_in = self.input_hw(*images.shape[-2:])
        x = F.interpolate(images.float(), size=(h_in, w_in), mode="bilinear", antialias=True, align_corners=False)
        levels = self.backbone(x)
        size = levels[0].shape[-2:]
        fused = sum(F.interpolate(r(f), size=size, mode="bilinear", align_corners=False)
                    for r, f in zip(self.readouts, levels))
        n, _, h, w = fused.shape
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device),
                                indexing="ij")
        coords = torch.stack([xx, yy]).expand(n, 2, h, w)
        feats = F.gelu(self.fuse(torch.cat([F.gelu(fused), coords], 1)))
        embed = torch.tanh(self.embed(torch.cat([feats.mean((2, 3)), levels[-1].mean((2, 3))], 1)))
        return feats, embed

    def static_logits(self, images: Tensor) -> Tensor | None:
        """``[N, 1, gh, gw]`` image logits of the static map of ``images`` (None without ``static_map``)."""
        if self.cfg.static_map is None:
            return None
        from gazekit.models.tpp_decoding import saliency_model
        from gazekit.models.tpp_static import image_logits

        return image_logits(saliency_model(self.cfg.static_map), images)

    def unit_px(self, ppd: Tensor | float | None, width: float, height: float, device=None) -> Tensor:
        """Pixels per isotropic unit, per row of ``ppd`` (pixels per degree, NaN/None where unknown): the longer
        image side, or ``degrees_per_unit`` degrees where ``ppd`` is known and the model uses degrees."""
        side = float(max(width, height))
        ppd = torch.as_tensor(math.nan if ppd is None else ppd, dtype=torch.float32, device=device).reshape(-1)
        deg = self.cfg.degrees_per_unit
        if not deg:
            return torch.full_like(ppd, side)
        return torch.where(torch.isfinite(ppd) & (ppd > 0), ppd * float(deg), torch.full_like(ppd, side))

    # ------------------------------------------------------------------ grids and priors on grids
    def grids(self, feats: Tensor, width: float, height: float) -> dict:
        """Cell geometry for images of ``width x height`` px whose features are ``feats [N, C, h, w]``."""
        h, w = feats.shape[-2:]
        up = self.cfg.upsample
        gh, gw = h * up, w * up
        dev = feats.device
        side = max(width, height)
        bx = (torch.arange(w, device=dev) + 0.5) / w
        by = (torch.arange(h, device=dev) + 0.5) / h
        byy, bxx = torch.meshgrid(by, bx, indexing="ij")
        fx = (torch.arange(gw, device=dev) + 0.5) / gw
        fy = (torch.arange(gh, device=dev) + 0.5) / gh
        fyy, fxx = torch.meshgrid(fy, fx, indexing="ij")
        fine_uv01 = torch.stack([fxx.flatten(), fyy.flatten()], -1)
        return {
            "h": h, "w": w, "gh": gh, "gw": gw, "width": float(width), "height": float(height),
            "base_iso": torch.stack([bxx.flatten() * width / side, byy.flatten() * height / side], -1),
            "base_uv": torch.stack([bxx.flatten() * 2 - 1, byy.flatten() * 2 - 1], -1),
            "cb_logprior": self.centre_bias_logprob(fine_uv01),
            "log_cell_area": math.log(width * height / (gh * gw)),
        }

    def centre_bias_logprob(self, uv01: Tensor) -> Tensor:
        """Log-softmax over cells of the fitted centre-bias Gaussian at cell centres ``uv01 [G, 2]`` in [0, 1]."""
        from gazekit.models.priors import gaussian_logpdf

        return F.log_softmax(gaussian_logpdf(uv01, self.cb_mean.float(), self.cb_cov.float()), -1)

    # ------------------------------------------------------------------ history
    def fixation_tokens(self, feats: Tensor, img: Tensor, x: Tensor, y: Tensor, d: Tensor, g: dict,
                        offset: Tensor | None = None, unit: Tensor | None = None) -> dict:
        """Per-fixation inputs. ``x, y, d: [B, L]`` float (px, ms; padding anything finite; NaN durations are
        imputed with the median duration), ``img [B]`` index into ``feats``; ``offset [B]``: onset (ms) of the
        first fixation given (0 when None); ``unit [B]``: pixels per isotropic unit (default the longer side)."""
        loc, scale = float(self.logd_loc), float(self.logd_scale)
        d_known = torch.isfinite(d) & (d > 0)
        d_filled = torch.where(d_known, d, torch.full_like(d, math.exp(loc)))
        log_d = d_filled.log()
        step = d_filled + float(self.gap_ms)
        onset = torch.cumsum(step, 1) - step
        if offset is not None:
            onset = onset + offset[:, None]
        horizon = float(self.cfg.viewing_time_ms or 3000.0)
        uv = torch.stack([x / g["width"] * 2 - 1, y / g["height"] * 2 - 1], -1)
        local = sample_features(feats[img], uv)
        z = (log_d - loc) / scale
        token = self.token(torch.cat([uv, z[..., None], ((onset + step) / horizon)[..., None], local], -1))
        side = max(g["width"], g["height"]) if unit is None else unit[:, None, None].to(x.dtype)
        return {"uv": uv, "iso": torch.stack([x, y], -1) / side, "log_d": log_d, "d_known": d_known,
                "onset": onset, "end": onset + step, "token": token}

    def spatial_logprob(self, image_maps: Tensor, history: dict, context: Tensor, g: dict,
                        static: Tensor | None = None, grid_iso: Tensor | None = None) -> Tensor:
        """Image maps ``[B, n_maps, P]``, history terms (see :func:`history_logits`), contexts ``[B, K, D]``, the
        static map's log-softmax over the fine cells ``static [B, G]`` (models with ``static_map``) and the cell
        centres in isotropic units ``grid_iso`` (default ``g["base_iso"]``) -> log-probabilities ``[B, K, G]``."""
        b, k = context.shape[:2]
        grid_iso = g["base_iso"] if grid_iso is None else grid_iso
        logits = self.spatial(image_maps, {"grid_iso": grid_iso, **history}, context).view(b * k, 1, g["h"], g["w"])
        up = self.cfg.upsample
        if up > 1:
            logits = F.interpolate(logits, scale_factor=up, mode="bilinear", align_corners=False)
        logits = logits.view(b, k, -1) + self.cb_weight * g["cb_logprior"]
        if static is not None:
            logits = logits + self.static_gain(context) * static[:, None].to(logits.dtype)
        elif self.cfg.static_map is not None:
            raise InvalidInputError("this TPP model has a static-map image term: pass the static map")
        return F.log_softmax(logits, -1)

    def fine_cell(self, x: Tensor, y: Tensor, g: dict) -> tuple[Tensor, Tensor]:
        """Fine-cell and base-cell index of pixel positions."""
        fx = (x / g["width"] * g["gw"]).floor().clamp(0, g["gw"] - 1).long()
        fy = (y / g["height"] * g["gh"]).floor().clamp(0, g["gh"] - 1).long()
        up = self.cfg.upsample
        return fy * g["gw"] + fx, (fy // up) * g["w"] + fx // up

    def duration_params(self, context: Tensor, local_all: Tensor, base: Tensor, onset: Tensor):
        """Mixture parameters for fixations in base cells ``base [B, ...]``; ``local_all [B, P, 3K]`` are the
        per-cell terms of each scanpath's image, ``context [B, ..., D]``, ``onset [B, ...]`` in ms."""
        flat = base.reshape(base.shape[0], -1)
        local = torch.gather(local_all, 1, flat[..., None].expand(*flat.shape, local_all.shape[-1]))
        horizon = float(self.cfg.viewing_time_ms or 3000.0)
        return self.duration(context, onset / horizon, local.view(*base.shape, -1))

    # ------------------------------------------------------------------ likelihood
    def scanpath_log_likelihood(self, feats: Tensor, embed: Tensor, img: Tensor, sp: Scanpaths,
                                width: float, height: float, horizon: bool = True, image_scale: float = 1.0,
                                static: Tensor | None = None, horizon_ms: Tensor | None = None,
                                inputs: tuple[Tensor, Tensor] | None = None) -> dict:
        """Per-fixation log-likelihood terms of scanpaths ``sp`` (row ``b`` viewed image ``img[b]``).

        Returns ``spatial [B, L]`` (log density per px^2), ``duration [B, L]`` (log density per ms),
        ``censor [B]`` (log survival term), ``cb [B, L]`` (centre-bias log density per px^2), masks ``mask`` and
        ``dur_mask``. ``image_scale`` multiplies the image terms of the cell logits (decoding only; 1 as trained).
        ``static``: ``[N, 1, h, w]`` static-map logits of each image (:meth:`static_logits`; models with
        ``static_map``). ``horizon_ms``: ``[B]`` viewing horizon per row (NaN: unknown, no survival term; default
        ``viewing_time_ms``). Saccade geometry uses ``sp.ppd`` (see :meth:`unit_px`). ``inputs``: the positions
        ``(x, y) [B, L]`` fed to the history instead of the scanpath's own (scheduled sampling); the targets
        stay ``sp``'s.
        """
        g = self.grids(feats, width, height)
        dt = feats.dtype
        x, y, d = sp.x.to(dt), sp.y.to(dt), sp.duration.to(dt)
        mask, lengths = sp.mask, sp.lengths
        b, length = x.shape
        x, y = torch.where(mask, x, 0), torch.where(mask, y, 0)
        d = torch.where(mask, d, torch.full_like(d, math.nan))
        unit = self.unit_px(sp.ppd, width, height, x.device)
        if unit.numel() == 1:
            unit = unit.expand(b)
        grid_iso = g["base_iso"][None] * (max(width, height) / unit)[:, None, None].to(dt)  # [B, P, 2]
        xi, yi = (x, y) if inputs is None else (torch.where(mask, inputs[0].to(dt), 0),
                                                torch.where(mask, inputs[1].to(dt), 0))
        tok = self.fixation_tokens(feats, img, xi, yi, d, g, unit=unit)
        start = embed[img]
        context = self.history(start, tok["token"])  # [B, L+1, D]
        # Step k is conditioned on fixations j < k: the last one is k - 1, the bumps are summed up to k - 1.
        first = torch.zeros(b, 1, dtype=torch.bool, device=x.device)
        has_last = torch.cat([first, mask], 1)
        last_iso = torch.cat([tok["iso"][:, :1] * 0, tok["iso"]], 1)
        bumps = fixation_bumps(grid_iso, tok["iso"], mask, self.cfg.bump_sigma)
        zero = bumps[:, :1] * 0
        history = {"last_iso": last_iso, "has_last": has_last, "bump_last": torch.cat([zero, bumps], 1),
                   "bumps_before": torch.cat([zero, torch.cumsum(bumps, 1)], 1)}
        image_maps = self.spatial.image_maps(feats)[img]
        fine_static = None
        if static is not None:
            fine_static = cell_log_softmax(static, g["gh"], g["gw"])[img]
        if image_scale != 1.0:
            image_maps = image_maps * image_scale
            fine_static = None if fine_static is None else fine_static * image_scale
        logp = self.spatial_logprob(image_maps, history, context, g, fine_static, grid_iso)
        fine, base = self.fine_cell(x, y, g)
        spatial = torch.gather(logp[:, :length], 2, fine[..., None])[..., 0] - g["log_cell_area"]
        cb = g["cb_logprior"][fine] - g["log_cell_area"]
        local_all = self.duration.local_params(feats.flatten(2))[img]  # [B, P, 3K]
        params = self.duration_params(context[:, :length], local_all, base, tok["onset"])
        loc, scale = float(self.logd_loc), float(self.logd_scale)
        duration = lognormal_mixture_logpdf(tok["log_d"], *params, loc, scale)
        dur_mask = mask & tok["d_known"]
        censor = torch.zeros(b, dtype=dt, device=x.device)
        t_max = None
        if horizon_ms is not None:
            t_max = horizon_ms.to(device=x.device, dtype=dt)
        elif self.cfg.viewing_time_ms:
            t_max = torch.full((b,), float(self.cfg.viewing_time_ms), dtype=dt, device=x.device)
        if horizon and t_max is not None:
            all_known = (tok["d_known"] | ~mask).all(1)
            last_end = torch.gather(tok["end"], 1, (lengths - 1).clamp(min=0)[:, None])[:, 0]
            t_n = torch.where(lengths > 0, last_end, torch.zeros_like(last_end))
            remaining = t_max - t_n
            use = all_known & (remaining > 0)  # False where the horizon is NaN
            if use.any():
                rows = use.nonzero()[:, 0]
                up = self.cfg.upsample
                p_fine = logp[rows, lengths[rows]].view(-1, g["h"], up, g["w"], up)
                log_p_base = torch.logsumexp(p_fine.permute(0, 1, 3, 2, 4).reshape(len(rows), g["h"] * g["w"], -1),
                                             -1)
                n_base = g["h"] * g["w"]
                ctx = context[rows, lengths[rows]][:, None]  # broadcast over the cells
                par = self.duration(ctx, (t_n[rows] / float(self.cfg.viewing_time_ms or 3000.0))[:, None],
                                    local_all[rows])  # the elapsed-time feature, scaled as in duration_params
                log_r = remaining[rows].log()[:, None].expand(-1, n_base)
                logsf = lognormal_mixture_logsf(log_r, *par, loc, scale)
                censor = censor.index_put((rows,), torch.logsumexp(log_p_base + logsf, -1))
        return {"spatial": spatial, "duration": duration, "censor": censor, "cb": cb, "mask": mask,
                "dur_mask": dur_mask, "log_d": tok["log_d"], "logp": logp, "grid": g}

    # ------------------------------------------------------------------ inference API
    def _score(self, images: Tensor, history: Scanpaths, image_scale: float = 1.0) -> dict:
        """Likelihood terms in eval mode (no dropout, BatchNorm running statistics: rows never interact)."""
        was_training = self.training
        self.eval()
        try:
            uniq, img = unique_rows(images)
            feats, embed = self.encode_images(uniq)
            return self.scanpath_log_likelihood(feats, embed, img, history.to(images.device),
                                                float(images.shape[-1]), float(images.shape[-2]), horizon=False,
                                                image_scale=image_scale, static=self.static_logits(uniq))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def conditional_log_density(self, images: Tensor, history: Scanpaths, **decoding) -> Tensor:
        """``[B, L, H, W]`` log-densities (per pixel, each map sums to 1 in probability) of fixation ``k`` of
        ``history[b]`` given fixations ``< k``; ``images [B, 3, H, W]`` (row ``b`` is the image of scanpath ``b``).

        Missing durations in ``history`` are imputed with the fitted median duration. ``decoding``: the decoding
        options of :class:`~gazekit.models.base.PredictRequest` (``image_scale``, ``saliency_beta``, ...; see
        :mod:`gazekit.models.tpp_decoding`): the density the sampler draws from with them.
        """
        dec = make_decoding(**decoding)
        logp, cell = self._cell_log_density(images, history, dec.image_scale)
        out = logp[..., cell].view(len(history), -1, *images.shape[-2:])
        if dec.saliency_beta != 0.0 or dec.returns:
            apply_decoding(self, dec, out, logp, cell, images, history)
        return out

    @torch.no_grad()
    def average_log_density(self, images: Tensor, history: Scanpaths, **decoding) -> Tensor:
        """``[H, W]`` log of the mean of :meth:`conditional_log_density`'s maps over every fixation of ``history``
        (all rows view the same image, ``images [B, 3, H, W]``): the model's overall fixation density for a set of
        scanpaths, computed per density cell before expanding to pixels (no ``[B, L, H, W]`` tensor; with decoding
        options, see :meth:`conditional_log_density`, the mean of its maps)."""
        if decoding and make_decoding(**decoding).changes_density:
            maps = self.conditional_log_density(images, history, **decoding)
            mask = history.mask[:, : maps.shape[1]].to(maps.device)
            valid = maps[mask] if mask.any() else maps[:1, 0]
            return torch.logsumexp(valid, 0) - math.log(valid.shape[0])
        logp, cell = self._cell_log_density(images, history)
        mask = history.mask[:, : logp.shape[1]].to(logp.device)
        valid = logp[mask] if mask.any() else logp[:1, 0]
        mean = torch.logsumexp(valid, 0) - math.log(valid.shape[0])
        return mean[cell].view(images.shape[-2:])

    def _cell_log_density(self, images: Tensor, history: Scanpaths, image_scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """Per-pixel log-density of each density cell ``[B, L, G]`` and the cell of every pixel ``[H * W]``."""
        images = check_images(images)
        if len(history) != images.shape[0]:
            raise InvalidInputError(f"{images.shape[0]} images for {len(history)} history scanpaths")
        check_history(history)
        h_img, w_img = images.shape[-2:]
        out = self._score(images, history, image_scale)
        g = out["grid"]
        logp = out["logp"][:, : history.max_length]
        fy = (torch.arange(h_img, device=images.device) * g["gh"] // h_img)
        fx = (torch.arange(w_img, device=images.device) * g["gw"] // w_img)
        cell = (fy[:, None] * g["gw"] + fx[None, :]).flatten()
        counts = torch.bincount(cell, minlength=g["gh"] * g["gw"]).to(logp.dtype)
        return logp - counts.log(), cell  # a cell's probability spread evenly over its pixels

    @torch.no_grad()
    def duration_log_likelihood(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[B, L]`` log-density (per ms) of each fixation's duration given the image, the fixations before it
        and its own position; NaN where the duration is missing or padding."""
        images = check_images(images)
        if len(history) != images.shape[0]:
            raise InvalidInputError(f"{images.shape[0]} images for {len(history)} history scanpaths")
        check_history(history)
        out = self._score(images, history)
        return torch.where(out["dur_mask"], out["duration"].double(), torch.full_like(out["duration"].double(),
                                                                                     math.nan))

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Sample ``request.n_samples`` scanpaths per image (see :mod:`gazekit.models.base`)."""
        return sample_scanpaths(self, request)

    # ------------------------------------------------------------------ persistence
    checkpoint_format = "gazekit-tpp"

    def save_checkpoint(self, path: str | Path, frozen_backbone: bool = True) -> str:
        """Save hyper-parameters and weights (no optimiser state) to ``path`` (written atomically); returns the
        file's sha256. Read it back with :func:`gazekit.models.load_checkpoint` (or ``create_model("tpp",
        pretrained=path)``).

        ``frozen_backbone``: also store the backbone's layer graph (``torch.fx``, without a second copy of its
        weights), so that :meth:`from_file` with ``frozen=True`` and the file's sha256 runs it without building the
        timm model (the graph is code: it is only ever read from a file whose sha256 the caller checked).
        """
        from gazekit.models._checkpoint import save_torch

        state = {"format": self.checkpoint_format, "version": 1, "hyper_parameters": dict(vars(self.cfg)),
                 "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}
        if frozen_backbone and isinstance(self.backbone, Backbone):
            graph = freeze_backbone(self.backbone)
            if graph is not None:
                state["backbone_graph"] = graph
        return save_torch(state, path)

    @classmethod
    def from_checkpoint(cls, state: dict, *, source: str = "checkpoint", frozen_graph: bool = False,
                        **overrides):
        """Build from a checkpoint dict (a :meth:`save_checkpoint` file or a Lightning ``.ckpt``). ``overrides``
        replace stored hyper-parameters. ``frozen_graph=True`` runs the stored backbone graph (code): only for a
        file whose sha256 was checked (see :meth:`from_file`)."""
        try:
            hp = dict(state["hyper_parameters"])
            sd = state["state_dict"]
        except Exception as err:
            raise InvalidInputError(f"{source!r} is not a TPP checkpoint: {err!r}") from err
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "optimizer", "backbone_module"}
        hp = {k: v for k, v in {**hp, **overrides}.items() if k in allowed}  # drops LightningCLI bookkeeping keys
        hp["backbone_pretrained"] = None
        extra = {}
        if frozen_graph and "backbone_graph" in state:
            body = {k.removeprefix("backbone.body."): v for k, v in sd.items() if k.startswith("backbone.body.")}
            extra["backbone_module"] = FrozenBackbone.from_graph(state["backbone_graph"], body, source=source)
        model = cls(**hp, **extra)
        if extra:  # a traced graph keeps no BatchNorm step counters (unused in eval)
            own = model.state_dict()
            sd = {k: v for k, v in sd.items() if k in own or not k.endswith("num_batches_tracked")}
        model.load_state_dict(sd)
        return model.eval()

    @classmethod
    def from_file(cls, path: str | Path, sha256: str | None = None, frozen: bool = False,
                  trust: str | None = None):
        """Load a :meth:`save_checkpoint` file or a Lightning ``.ckpt``; verify ``sha256`` if given.

        The file is read with the weights-only reader (``trust="<the file's sha256>"`` lifts that for exactly
        those bytes, see docs/security.md).
        ``frozen=True`` builds the backbone from the layer graph stored in the file (plain ``torch.nn`` layers: no
        timm import, faster start) when there is one; because that graph is code, this needs ``sha256``.
        """
        from gazekit.models._checkpoint import read_checkpoint

        if frozen and not sha256:
            raise InvalidInputError(f"frozen=True runs the layer graph stored in {str(path)!r}; pass the "
                                    "file's sha256 to confirm it is trusted")
        state, _ = read_checkpoint(path, sha256=sha256, trust=trust)
        return cls.from_checkpoint(state, source=str(path), frozen_graph=frozen)


def load_fast(path: str | Path, sha256: str) -> TPPGazeCore:
    """Shipped TPP weights for inference only (the registry's fast loader): the backbone runs from its frozen
    graph (no timm, no Lightning import); ``sha256`` is the shipped file's, checked before anything is read."""
    return TPPGazeCore.from_file(path, sha256=sha256, frozen=True)
