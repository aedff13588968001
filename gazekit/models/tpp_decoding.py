"""Decoding options of the TPP gaze model (:mod:`gazekit.models.tpp_sampling`, ``conditional_log_density``): how
the image evidence and returns weigh at sampling time, without retraining. All default to off, which leaves the
model's samples bit-for-bit as before.

* ``image_scale`` (alpha): TPP's cell logits are ``sum_m c_m(context) * M_m(image) + history terms(context) +
  w_cb * log cb``; the image maps ``M_m`` enter additively, so alpha multiplies that term alone (alpha > 1 sharpens
  the image evidence, 0 removes it). The history context, and so the coefficients ``c_m``, still depend on the image
  through the start embedding and the features read at past fixations (a gating that alpha does not scale).
* ``saliency_beta`` (beta) with ``saliency_model`` (a static density model by name, default ``saliency-osie``): the
  density of each step becomes ``p_tpp(x | history) * (s(x) / cb(x)) ** beta``, renormalised over the pixels, with
  ``s`` the saliency map and ``cb`` TPP's own centre-bias Gaussian (fitted on its training scanpaths). Sampling is
  exact: a cell from ``p_cell * mean over its pixels of (s / cb) ** beta``, then a pixel of the cell with weight
  ``(s / cb) ** beta``, then a uniform position inside the pixel.
* ``return_rate`` (r_k, one value or one per fixation index from k = 2 on, the last repeated) with
  ``return_sigma_deg``: with probability r_k fixation k >= 2 is a return: one of the fixations ``0 .. k-2`` (not
  the last one: humans rarely return to where they just were), chosen uniformly, plus a Gaussian offset of
  ``return_sigma_deg`` degrees per axis (default 0.5: on the OSIE training scanpaths the density of the distance
  from a fixation to the nearest fixation before the last halves by about 0.55 degree; clamped into the image).
  ``pixels_per_degree`` sets the degree (default: the longer image side over 33.3 degrees, OSIE's geometry: 24 px
  per degree at 800 px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gazekit.errors import InvalidInputError

DEFAULT_SALIENCY_MODEL = "saliency-osie"
DEFAULT_DEGREES_LONG_SIDE = 800 / 24  # OSIE: 800 px at 24 px per degree
_SALIENCY: dict[str, object] = {}


@dataclass(frozen=True)
class Decoding:
    """Validated decoding options (see the module docstring)."""

    image_scale: float = 1.0
    saliency_beta: float = 0.0
    saliency_model: str = DEFAULT_SALIENCY_MODEL
    return_rate: tuple[float, ...] = ()
    return_sigma_deg: float = 0.5
    pixels_per_degree: float | None = None

    @property
    def returns(self) -> bool:
        """Whether any return rate is positive."""
        return any(r > 0 for r in self.return_rate)

    @property
    def changes_density(self) -> bool:
        """Whether the options change the model's density (all off: the trained model's)."""
        return self.image_scale != 1.0 or self.saliency_beta != 0.0 or self.returns

    def rate_at(self, k: int) -> float:
        """Return probability of fixation ``k`` (0 for k < 2)."""
        if k < 2 or not self.return_rate:
            return 0.0
        return self.return_rate[min(k - 2, len(self.return_rate) - 1)]

    def ppd(self, width: float, height: float) -> float:
        """Pixels per degree on a ``width x height`` image."""
        return float(self.pixels_per_degree or max(width, height) / DEFAULT_DEGREES_LONG_SIDE)


def decoding_from(req) -> Decoding:
    """The :class:`Decoding` of a :class:`~gazekit.models.base.PredictRequest` (``InvalidInputError`` naming the
    field on bad values)."""
    return make_decoding(image_scale=req.image_scale, saliency_beta=req.saliency_beta,
                         saliency_model=req.saliency_model, return_rate=req.return_rate,
                         return_sigma_deg=req.return_sigma_deg, pixels_per_degree=req.pixels_per_degree)


def make_decoding(image_scale: float = 1.0, saliency_beta: float = 0.0, saliency_model: str | None = None,
                  return_rate=None, return_sigma_deg: float = 0.5, pixels_per_degree: float | None = None) -> Decoding:
    """Check and build a :class:`Decoding` (``return_rate``: None, a number, or a sequence of numbers)."""
    def finite(name, v, low=0.0, strict=False):
        try:
            v = float(v)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"{name} must be a number, got {v!r}") from err
        if not math.isfinite(v) or v < low or (strict and v == low):
            raise InvalidInputError(f"{name} must be finite and {'>' if strict else '>='} {low:g}, got {v}")
        return v

    if return_rate is None:
        rates: tuple[float, ...] = ()
    elif isinstance(return_rate, (int, float)):
        rates = (float(return_rate),)
    else:
        rates = tuple(return_rate)
    rates = tuple(finite(f"return_rate[{i}]", r) for i, r in enumerate(rates))
    if any(r > 1 for r in rates):
        raise InvalidInputError(f"return_rate values are probabilities in [0, 1], got {list(rates)}")
    return Decoding(
        image_scale=finite("image_scale", image_scale), saliency_beta=finite("saliency_beta", saliency_beta),
        saliency_model=saliency_model or DEFAULT_SALIENCY_MODEL, return_rate=rates,
        return_sigma_deg=finite("return_sigma_deg", return_sigma_deg, strict=True),
        pixels_per_degree=None if pixels_per_degree is None else finite("pixels_per_degree", pixels_per_degree,
                                                                        strict=True))


def saliency_model(name: str):
    """The static density model ``name`` (loaded once per process)."""
    if name not in _SALIENCY:
        from gazekit.models.base import StaticDensityModel
        from gazekit.models.registry import load_predictor

        model = load_predictor(name)
        if not isinstance(model, StaticDensityModel):
            raise InvalidInputError(f"saliency_model {name!r} has no static density (predict_log_density)")
        _SALIENCY[name] = model
    return _SALIENCY[name]


def pixel_cells(height: int, width: int, g: dict, device) -> Tensor:
    """Fine cell of every pixel ``[H * W]`` (pixel ``(px, py)`` lies in cell ``(py * gh // H, px * gw // W)``)."""
    fy = torch.arange(height, device=device) * g["gh"] // height
    fx = torch.arange(width, device=device) * g["gw"] // width
    return (fy[:, None] * g["gw"] + fx[None, :]).flatten()


@torch.no_grad()
def saliency_bonus(core, images: Tensor, dec: Decoding) -> Tensor:
    """``[N, H, W]`` float64 ``beta * (log s - log cb)`` per pixel of each image (``cb``: the model's centre-bias
    Gaussian, normalised over the pixels)."""
    from gazekit.models.priors import gaussian_logpdf

    sal = saliency_model(dec.saliency_model)
    n, _, h, w = images.shape
    yy, xx = torch.meshgrid((torch.arange(h, dtype=torch.float64) + 0.5) / h,
                            (torch.arange(w, dtype=torch.float64) + 0.5) / w, indexing="ij")
    cb = gaussian_logpdf(torch.stack([xx.flatten(), yy.flatten()], -1), core.cb_mean.double().cpu(),
                         core.cb_cov.double().cpu())
    cb = (cb - torch.logsumexp(cb, 0)).view(h, w)
    out = torch.stack([sal.predict_log_density(images[i].cpu()).double() - cb for i in range(n)])
    return (dec.saliency_beta * out).to(images.device)


def cell_log_mean(bonus: Tensor, cell: Tensor, n_cells: int) -> Tensor:
    """``[N, G]``: log of the mean of ``exp(bonus)`` over the pixels of each cell (``bonus [N, H, W]``, ``cell``:
    :func:`pixel_cells`)."""
    flat = bonus.flatten(1)
    top = flat.max(1, keepdim=True).values
    sums = torch.zeros(flat.shape[0], n_cells, dtype=flat.dtype, device=flat.device)
    sums.index_add_(1, cell, (flat - top).exp())
    counts = torch.bincount(cell, minlength=n_cells).to(flat.dtype)
    return sums.log() - counts.log() + top


class CellPixels:
    """Pixel blocks of the fine cells, for drawing a pixel inside a chosen cell with weights ``exp(bonus)``."""

    def __init__(self, height: int, width: int, g: dict, device):
        def edges(n_px: int, n_cells: int) -> tuple[Tensor, int]:
            owner = torch.arange(n_px, device=device) * n_cells // n_px
            start = torch.searchsorted(owner, torch.arange(n_cells, device=device))
            size = int(torch.bincount(owner, minlength=n_cells).max())
            return start, size

        self.h, self.w = height, width
        (self.y0, self.bh), (self.x0, self.bw) = edges(height, g["gh"]), edges(width, g["gw"])
        self.gh, self.gw = g["gh"], g["gw"]

    def draw(self, bonus: Tensor, img: Tensor, fy: Tensor, fx: Tensor, gen, temperature: float):
        """Pixel ``(x, y)`` (float, a uniform position inside it) in cell ``(fy, fx)`` of image ``img`` per row."""
        dev = bonus.device
        oy, ox = torch.meshgrid(torch.arange(self.bh, device=dev), torch.arange(self.bw, device=dev), indexing="ij")
        py = self.y0[fy][:, None, None] + oy
        px = self.x0[fx][:, None, None] + ox
        inside = (py < self.h) & (px < self.w)
        inside &= (py.clamp(max=self.h - 1) * self.gh // self.h == fy[:, None, None])
        inside &= (px.clamp(max=self.w - 1) * self.gw // self.w == fx[:, None, None])
        vals = bonus[img[:, None, None], py.clamp(max=self.h - 1), px.clamp(max=self.w - 1)]
        vals = torch.where(inside, vals, torch.full_like(vals, -math.inf)).flatten(1)
        if temperature == 0:
            pick = vals.argmax(-1)
            jitter = torch.full((len(fy), 2), 0.5, device=dev)
        else:
            pick = torch.multinomial(torch.softmax(vals, -1).float(), 1, generator=gen)[:, 0]
            jitter = torch.rand((len(fy), 2), generator=gen, device=dev)
        y = py.flatten(1).gather(1, pick[:, None])[:, 0]
        x = px.flatten(1).gather(1, pick[:, None])[:, 0]
        return x.to(jitter.dtype) + jitter[:, 0], y.to(jitter.dtype) + jitter[:, 1]


def return_positions(dec: Decoding, k: int, xs: Tensor, ys: Tensor, lengths: Tensor, width: float, height: float,
                     gen) -> tuple[Tensor, Tensor, Tensor]:
    """``(is_return [B], x [B], y [B])`` for step ``k``: rows with at least 2 recorded fixations return with
    probability ``rate_at(k)`` to one of their fixations ``0 .. lengths-2`` (uniform) plus a Gaussian offset.
    Draws 4 uniforms per row whatever the outcome (the stream does not depend on the data)."""
    b, dev = xs.shape[0], xs.device
    u = torch.rand((b, 4), generator=gen, device=dev)
    eligible = lengths >= 2
    is_return = eligible & (u[:, 0] < dec.rate_at(k))
    j = (u[:, 1] * (lengths - 1).clamp(min=1)).floor().long().clamp(min=0)
    j = torch.minimum(j, (lengths - 2).clamp(min=0))
    radius = torch.sqrt(-2 * u[:, 2].clamp_min(1e-12).log())  # Box-Muller: two seeded normals
    sigma = dec.return_sigma_deg * dec.ppd(width, height)
    x = xs.gather(1, j[:, None])[:, 0] + sigma * radius * torch.cos(2 * math.pi * u[:, 3])
    y = ys.gather(1, j[:, None])[:, 0] + sigma * radius * torch.sin(2 * math.pi * u[:, 3])
    x = x.clamp(0.0, math.nextafter(float(width), 0.0))
    y = y.clamp(0.0, math.nextafter(float(height), 0.0))
    return is_return, x, y


def return_log_density(dec: Decoding, xs: Tensor, ys: Tensor, mask: Tensor, height: int, width: int) -> Tensor:
    """``[L, H, W]`` log-density of the return component at each step ``k`` of one scanpath (``xs, ys, mask
    [L]``): an equal mixture of Gaussians at its fixations ``0 .. k-2``, each normalised over the pixels; ``-inf``
    where there is none."""
    sigma = dec.return_sigma_deg * dec.ppd(width, height)
    length, dev = xs.shape[0], xs.device
    px = torch.arange(width, device=dev, dtype=torch.float64) + 0.5
    py = torch.arange(height, device=dev, dtype=torch.float64) + 0.5
    gx = torch.softmax(-0.5 * ((px - xs.double().nan_to_num(0)[:, None]) / sigma) ** 2, -1)  # [L, W]
    gy = torch.softmax(-0.5 * ((py - ys.double().nan_to_num(0)[:, None]) / sigma) ** 2, -1)  # [L, H]
    k = torch.arange(length, device=dev)
    weight = ((k[None, :] <= k[:, None] - 2) & mask[None, :]).double()  # [k, j]
    count = weight.sum(-1, keepdim=True)
    weight = weight / count.clamp(min=1)
    dens = torch.einsum("kj,jh,jw->khw", weight, gy, gx)
    return torch.where(count[..., None] > 0, dens.clamp_min(1e-300).log(), torch.full_like(dens, -math.inf))


@torch.no_grad()
def apply_decoding(core, dec: Decoding, out: Tensor, cell_logp: Tensor, cell: Tensor, images: Tensor, history) -> None:
    """Turn TPP's conditional maps ``out [B, L, H, W]`` (per-pixel log-densities; ``cell_logp [B, L, G]`` the
    same per cell, ``cell [H * W]`` the cell of each pixel) into those of the decoding options, in place: the
    saliency product, then the return mixture ``(1 - r_k) p + r_k R_k``."""
    from gazekit.models.tpp_sampling import unique_rows

    b, length, h, w = out.shape
    if dec.saliency_beta != 0.0:
        uniq, index = unique_rows(images)
        bonus = saliency_bonus(core, uniq, dec)  # [N, H, W]
        counts = torch.bincount(cell, minlength=cell_logp.shape[-1]).to(cell_logp.dtype).log()
        cell_bonus = cell_log_mean(bonus, cell, cell_logp.shape[-1])  # [N, G]
        for row in range(b):
            n = int(index[row])
            log_z = torch.logsumexp(cell_logp[row].double() + counts.double() + cell_bonus[n], -1)  # [L]
            out[row] += (bonus[n][None] - log_z[:, None, None]).to(out.dtype)
    if dec.returns:
        hist = history.to(out.device)
        rates = torch.tensor([dec.rate_at(k) for k in range(length)], dtype=torch.float64, device=out.device)
        keep, back = torch.log1p(-rates)[:, None, None], rates.log()[:, None, None]
        for row in range(b):
            ret = return_log_density(dec, hist.x[row, :length], hist.y[row, :length], hist.mask[row, :length], h, w)
            mixed = torch.logaddexp(out[row].double() + keep, ret + back)
            out[row] = torch.where(torch.isfinite(ret), mixed, out[row].double()).to(out.dtype)
