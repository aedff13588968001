"""Batched autoregressive sampling for :class:`gazekit.models.tpp_core.TPPGazeCore`.

All ``n_samples`` scanpaths of all images advance together, one fixation per step; the image features are computed
once before the loop. Position: a cell drawn from the spatial density (``temperature`` divides the
log-probabilities; 0 = most likely cell), then a uniform position inside it (the density is constant within a cell).
Duration: a mixture component from the weights, then a log-normal draw whose log-scale is multiplied by
``temperature``. Decoding options of the request (image-term scale, saliency product, returns:
:mod:`gazekit.models.tpp_decoding`) change the position draw only when set. Stopping: a fixation starting at
``t_k < T`` that would end after ``T`` is not recorded (the recording convention the model was trained with),
except that every scanpath keeps at least one fixation (cut at ``T``); or ``max_fixations`` is reached.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models.base import PredictRequest, generator_for
from gazekit.models.tpp_decoding import CellPixels, cell_log_mean, decoding_from, pixel_cells, return_positions, \
    saliency_bonus
from gazekit.models.tpp_heads import fixation_bumps
from gazekit.models.tpp_static import cell_log_softmax
from gazekit.scanpaths import Scanpaths


def check_images(images: Tensor) -> Tensor:
    """Check that ``images`` is a finite ``[B, 3, H, W]`` tensor with sides in [32, 8192] px; returns it as float32."""
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        raise InvalidInputError(f"images must be a [B, 3, H, W] tensor, got "
                                f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
    h, w = images.shape[-2:]
    if min(h, w) < 32 or max(h, w) > 8192:
        raise InvalidInputError(f"images are {w}x{h} px; sides must lie in [32, 8192] px")
    if not torch.isfinite(images).all():
        raise InvalidInputError("images contain NaN or infinite values")
    return images.float()


def check_history(history: Scanpaths) -> None:
    """Refuse history scanpaths with NaN positions (``InvalidInputError`` naming the rows)."""
    mask = history.mask
    if torch.isnan(history.x[mask]).any() or torch.isnan(history.y[mask]).any():
        rows = sorted({int(r) for r in (torch.isnan(history.x) | torch.isnan(history.y)).logical_and(mask)
                      .nonzero()[:, 0]})
        raise InvalidInputError(f"history scanpaths {rows[:5]} have NaN fixation positions; drop those fixations "
                                "(Scanpaths.validate(on_invalid='drop')) first")


def unique_rows(images: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct images of a batch (identical rows encoded once) and the index of each row's image."""
    keys: list[Tensor] = []
    index = []
    for row in images:
        for i, k in enumerate(keys):
            if k.data_ptr() == row.data_ptr() or torch.equal(k, row):
                index.append(i)
                break
        else:
            keys.append(row)
            index.append(len(keys) - 1)
    return torch.stack(keys), torch.tensor(index, device=images.device)


def _rand(shape, gen, device) -> Tensor:
    return torch.rand(shape, generator=gen, device=device)


@torch.no_grad()
def sample_scanpaths(model, req: PredictRequest) -> Scanpaths:
    """Sample ``req.n_samples`` scanpaths per image from a TPP model in one batched autoregressive loop (each image
    encoded once).
    """
    images = check_images(req.images)
    if req.n_samples < 1:
        raise InvalidInputError(f"n_samples must be >= 1, got {req.n_samples}")
    if len(req.image_names) != images.shape[0]:
        raise InvalidInputError(f"{images.shape[0]} images but {len(req.image_names)} image names")
    if req.temperature < 0:
        raise InvalidInputError(f"temperature must be >= 0, got {req.temperature}")
    hp = model.cfg
    horizon = req.seconds * 1000.0 if req.seconds is not None else hp.viewing_time_ms
    if horizon is not None and horizon <= 0:
        raise InvalidInputError(f"seconds must be > 0, got {req.seconds}")
    max_fix = int(req.max_fixations or hp.max_fixations)
    if max_fix < 1:
        raise InvalidInputError(f"max_fixations must be >= 1, got {max_fix}")
    dec = decoding_from(req)
    if dec.returns and req.temperature == 0:
        raise InvalidInputError("return_rate needs temperature > 0 (the greedy decoder never draws a return)")
    was_training = model.training
    model.eval()
    dev = images.device
    gen = generator_for(req.seed, dev)
    n_img, _, height, width = images.shape
    feats, embed = model.encode_images(images)
    g = model.grids(feats, float(width), float(height))
    b = n_img * req.n_samples
    img = torch.arange(n_img, device=dev).repeat_interleave(req.n_samples)
    image_maps = model.spatial.image_maps(feats)[img]
    static = model.static_logits(images)
    fine_static = None if static is None else cell_log_softmax(static, g["gh"], g["gw"])[img]
    if dec.image_scale != 1.0:
        image_maps = image_maps * dec.image_scale  # the image term of the logits is linear in the maps
        fine_static = None if fine_static is None else fine_static * dec.image_scale
    bonus = None
    if dec.saliency_beta != 0.0:
        bonus = saliency_bonus(model, images, dec)  # [N, H, W] beta * log(s / cb) per pixel
        cell_bonus = cell_log_mean(bonus, pixel_cells(height, width, g, dev), g["gh"] * g["gw"])[img]
        pixels = CellPixels(height, width, g, dev)
    local_all = model.duration.local_params(feats.flatten(2))[img]
    start = embed[img]
    ctx, state = model.history.step(None, start, None)
    loc, scale = float(model.logd_loc), float(model.logd_scale)
    gap = float(model.gap_ms)
    up, gw = hp.upsample, g["gw"]
    xs, ys, ds, ts = (torch.zeros(b, max_fix, device=dev) for _ in range(4))
    last_iso = torch.zeros(b, 2, device=dev)
    bumps = torch.zeros(b, g["h"] * g["w"], device=dev)
    bump_last = torch.zeros_like(bumps)
    lengths = torch.zeros(b, dtype=torch.long, device=dev)
    alive = torch.ones(b, dtype=torch.bool, device=dev)
    onset = torch.zeros(b, device=dev)
    unit = model.unit_px(req.pixels_per_degree, width, height, dev)  # [1] px per isotropic unit
    grid_iso = g["base_iso"] * (max(width, height) / float(unit[0]))
    temp = float(req.temperature)
    for k in range(max_fix):
        history = {"last_iso": last_iso[:, None], "has_last": (lengths > 0)[:, None], "bump_last": bump_last[:, None],
                   "bumps_before": bumps[:, None]}
        logp = model.spatial_logprob(image_maps, history, ctx[:, None], g, fine_static, grid_iso)[:, 0]
        if bonus is not None:
            logp = logp + cell_bonus.to(logp.dtype)
        if temp == 0:
            cell = logp.argmax(-1)
            jitter = torch.full((b, 2), 0.5, device=dev)
        else:
            cell = torch.multinomial(torch.softmax(logp / temp, -1), 1, generator=gen)[:, 0]
            jitter = _rand((b, 2), gen, dev)
        fy, fx = cell // gw, cell % gw
        x = (fx + jitter[:, 0]) * width / gw
        y = (fy + jitter[:, 1]) * height / g["gh"]
        if bonus is not None:  # a pixel of the cell with weight (s / cb) ** beta
            x, y = pixels.draw(bonus, img, fy, fx, gen, temp)
        base = (fy // up) * g["w"] + fx // up
        if dec.returns:
            back, rx, ry = return_positions(dec, k, xs, ys, lengths, float(width), float(height), gen)
            x, y = torch.where(back, rx.to(x.dtype), x), torch.where(back, ry.to(y.dtype), y)
            rfy = (y.floor().long().clamp(0, height - 1) * g["gh"] // height)
            rfx = (x.floor().long().clamp(0, width - 1) * gw // width)
            base = torch.where(back, (rfy // up) * g["w"] + rfx // up, base)
        logits, mu, log_sigma = model.duration_params(ctx, local_all, base, onset)
        if temp == 0:
            comp = logits.argmax(-1)
            eps = torch.zeros(b, device=dev)
        else:
            comp = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
            u1, u2 = _rand(b, gen, dev).clamp_min(1e-12), _rand(b, gen, dev)
            eps = torch.sqrt(-2 * u1.log()) * torch.cos(2 * math.pi * u2) * temp  # Box-Muller: seeded normal
        z = mu.gather(1, comp[:, None])[:, 0] + log_sigma.gather(1, comp[:, None])[:, 0].exp() * eps
        d = torch.exp(loc + scale * z).clamp(1.0, 60_000.0)  # keep finite: far tails only end a scanpath
        if horizon is not None:
            over = onset + d > horizon
            first = lengths == 0
            d = torch.where(over & first, (horizon - onset).clamp(min=1.0), d)
            record = alive & (~over | first)
            alive = alive & ~over
        else:
            record = alive
        rows = record.nonzero()[:, 0]
        xs[rows, k], ys[rows, k], ds[rows, k], ts[rows, k] = x[rows], y[rows], d[rows], onset[rows]
        new_iso = torch.stack([x[rows], y[rows]], -1) / unit
        last_iso[rows] = new_iso
        bump_last[rows] = fixation_bumps(grid_iso, new_iso[:, None], torch.ones(len(rows), 1, dtype=torch.bool,
                                                                                    device=dev), hp.bump_sigma)[:, 0]
        bumps[rows] += bump_last[rows]
        lengths = lengths + record.long()
        if not alive.any():
            break
        tok = model.fixation_tokens(feats, img, x[:, None], y[:, None], d[:, None], g, offset=onset,
                                    unit=unit.expand(b))
        ctx, state = model.history.step(state, start, tok["token"][:, 0])
        onset = torch.where(alive, onset + d + gap, onset)  # finished rows stay put (and finite)
    if was_training:
        model.train()
    n = lengths.cpu().tolist()
    rows_x, rows_y, rows_t, rows_d = (t.double().cpu().numpy() for t in (xs, ys, ts, ds))
    names = [req.image_names[i] for i in img.cpu().tolist()]
    return Scanpaths.from_sequences(
        [rows_x[i, : n[i]] for i in range(b)], [rows_y[i, : n[i]] for i in range(b)],
        [rows_t[i, : n[i]] for i in range(b)], [rows_d[i, : n[i]] for i in range(b)],
        image=names, subject=[f"sample{i % req.n_samples}" for i in range(b)], task="freeview",
        dataset="model", image_size=[float(width), float(height)],
    )
