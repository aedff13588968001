"""Building blocks of the temporal point-process gaze model (:mod:`gazekit.models.tpp`).

* :class:`HistoryEncoder`: past fixations -> one context vector per step (GRU or causal, batch-first transformer).
* :class:`SpatialHead`: image features + history maps + context -> logits over a grid of cells; the model turns
  them into an exact, normalised density (piecewise constant over cells).
* :class:`DurationHead` with :func:`lognormal_mixture_logpdf` / :func:`lognormal_mixture_logsf`: a log-normal
  mixture over the next fixation's duration.

Coordinates here are normalised: ``u = x / W * 2 - 1``, ``v = y / H * 2 - 1`` (both in [-1, 1]); distances use
isotropic units ``(x, y) / unit_px`` (the longer image side, or a fixed number of degrees of visual angle: see
:meth:`gazekit.models.tpp_core.TPPGazeCore.unit_px`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_SIGMA_RANGE = (-4.0, 1.5)  # clamp on log-scales of the duration mixture (standardised log-duration units)
N_HISTORY_MAPS = 6  # see history_logits


def lognormal_mixture_logpdf(log_d: Tensor, logits: Tensor, mu: Tensor, log_sigma: Tensor, loc: float,
                             scale: float) -> Tensor:
    """Log-density (per ms) of durations under a log-normal mixture.

    Args:
        log_d: ``[...]`` natural log of durations in ms.
        logits, mu, log_sigma: ``[..., K]`` mixture weights (unnormalised), means and log-scales of the
            *standardised* log-duration ``z = (log d - loc) / scale``.
        loc, scale: standardisation constants (log ms).
    Returns:
        ``[...]`` ``log p(d)`` with ``p`` a density over milliseconds.
    """
    z = ((log_d - loc) / scale).unsqueeze(-1)
    sigma = log_sigma.exp()
    log_norm = -0.5 * ((z - mu) / sigma) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(F.log_softmax(logits, -1) + log_norm, -1) - math.log(scale) - log_d


def lognormal_mixture_logsf(log_d: Tensor, logits: Tensor, mu: Tensor, log_sigma: Tensor, loc: float,
                            scale: float) -> Tensor:
    """``log P(D > d)`` under the same mixture (the survival term for a fixation cut off by the horizon)."""
    z = ((log_d - loc) / scale).unsqueeze(-1)
    upper = torch.special.log_ndtr(-(z - mu) / log_sigma.exp())  # log(1 - Phi(.)) computed stably
    return torch.logsumexp(F.log_softmax(logits, -1) + upper, -1)


class HistoryEncoder(nn.Module):
    """Causal encoder of past fixations (batch-first: batch elements never interact).

    ``forward(start [B, D], tokens [B, L, D]) -> [B, L + 1, D]``: output ``k`` summarises the start state and
    fixations ``0..k-1`` (so output ``k`` conditions fixation ``k``).
    """

    def __init__(self, dim: int, kind: str = "gru", layers: int = 2, heads: int = 4, dropout: float = 0.1,
                 max_len: int = 64):
        super().__init__()
        if kind not in ("gru", "transformer"):
            raise ValueError(f"history encoder must be 'gru' or 'transformer', got {kind!r}")
        self.kind, self.dim = kind, dim
        if kind == "gru":
            self.rnn = nn.GRU(dim, dim, batch_first=True)
        else:
            layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout,
                                               batch_first=True, norm_first=True, activation="gelu")
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.position = nn.Embedding(max_len + 1, dim)

    def forward(self, start: Tensor, tokens: Tensor) -> Tensor:
        if self.kind == "gru":
            out, _ = self.rnn(tokens, start.unsqueeze(0).contiguous())
            return torch.cat([start.unsqueeze(1), out], 1)
        seq = torch.cat([start.unsqueeze(1), tokens], 1)
        n = seq.shape[1]
        pos = torch.arange(n, device=seq.device).clamp(max=self.position.num_embeddings - 1)
        causal = torch.triu(torch.full((n, n), float("-inf"), device=seq.device), diagonal=1)
        return self.transformer(seq + self.position(pos), mask=causal)

    def step(self, state, start: Tensor, token: Tensor | None):
        """Incremental encoding for sampling. ``state`` is None at the first call (pass ``token=None``).

        Returns ``(context [B, D], new_state)``.
        """
        if self.kind == "gru":
            if token is None:
                return start, start
            h = self.rnn(token.unsqueeze(1), state.unsqueeze(0).contiguous())[1][0]
            return h, h
        tokens = (state if state is not None else start.new_zeros(start.shape[0], 0, self.dim))
        if token is not None:
            tokens = torch.cat([tokens, token.unsqueeze(1)], 1)
        return self.forward(start, tokens)[:, -1], tokens


def history_logits(coef: Tensor, grid_iso: Tensor, last_iso: Tensor, has_last: Tensor, bump_last: Tensor,
                   bumps_before: Tensor) -> Tensor:
    """The history's contribution to the cell logits of K steps, without materialising per-map tensors.

    Args:
        coef: ``[B, K, N_HISTORY_MAPS]`` weights of: x and y of the cell (a direction bias relative to the last
            fixation; the last fixation's own coordinate is constant over cells and cancels in the softmax),
            distance to the last fixation, log(distance + 0.02), the bump at the last fixation, the sum of bumps
            at all previous fixations.
        grid_iso: ``[P, 2]`` cell centres in isotropic units (see the model's ``unit_px``), or ``[B, P, 2]`` when
            the unit differs between rows.
        last_iso: ``[B, K, 2]`` previous fixation of each step (anything where ``has_last`` is False).
        has_last: ``[B, K]`` bool.
        bump_last: ``[B, K, P]`` Gaussian bump at the previous fixation (0 where none).
        bumps_before: ``[B, K, P]`` sum of bumps at all previous fixations.
    Returns:
        ``[B, K, P]`` logits (0 contribution from the last-fixation terms where there is none).
    """
    c = coef.unsqueeze(-1)  # [B, K, M, 1]
    gx, gy = grid_iso[..., 0], grid_iso[..., 1]
    if grid_iso.dim() == 3:  # one grid per row: broadcast over the K steps
        gx, gy = gx[:, None], gy[:, None]
    dist = ((gx - last_iso[..., :1]) ** 2 + (gy - last_iso[..., 1:]) ** 2).sqrt()
    last = c[:, :, 0] * gx + c[:, :, 1] * gy + c[:, :, 2] * dist + c[:, :, 3] * torch.log(dist + 0.02) \
        + c[:, :, 4] * bump_last
    return last * has_last.to(last.dtype).unsqueeze(-1) + c[:, :, 5] * bumps_before


def fixation_bumps(grid_iso: Tensor, fix_iso: Tensor, valid: Tensor, bump_sigma: float) -> Tensor:
    """``[B, L, P]`` Gaussian bump of each fixation ``fix_iso [B, L, 2]`` over the grid ``[P, 2]`` (or one grid per
    row, ``[B, P, 2]``); 0 where not ``valid``."""
    grid = grid_iso[None, None] if grid_iso.dim() == 2 else grid_iso[:, None]
    d2 = ((grid - fix_iso[:, :, None]) ** 2).sum(-1)
    return torch.exp(-d2 / (2 * bump_sigma ** 2)) * valid[..., None].to(grid_iso.dtype)


class SpatialHead(nn.Module):
    """Cell logits = context-weighted sum of image maps + context-weighted history terms.

    The image maps (``n_maps`` per image, from a small conv head) are computed once per image; each step only
    mixes them with weights predicted from the history context, so a step costs ``O((n_maps + M) * P)``.
    This is a product of experts in probability space (saliency x saccade-amplitude/direction x inhibition of
    return), with the mixture of experts chosen by the history.
    """

    def __init__(self, feature_dim: int, context_dim: int, hidden: int = 32, n_maps: int = 8,
                 dropout: float = 0.1):
        super().__init__()
        self.n_maps = n_maps
        self.maps = nn.Sequential(nn.Conv2d(feature_dim, hidden, 3, padding=1), nn.GELU(), nn.Dropout2d(dropout),
                                  nn.Conv2d(hidden, n_maps, 1))
        self.coef = nn.Linear(context_dim, n_maps + N_HISTORY_MAPS)
        with torch.no_grad():
            self.coef.weight.mul_(0.1)
            self.coef.bias.zero_()
            self.coef.bias[0] = 1.0

    def image_maps(self, feats: Tensor) -> Tensor:
        """``[N, C, h, w]`` -> ``[N, n_maps, h * w]``."""
        return self.maps(feats).flatten(2)

    def forward(self, image_maps: Tensor, history: dict, context: Tensor) -> Tensor:
        """``image_maps [B, n_maps, P]`` (the image of each scanpath), ``history`` (keyword arguments of
        :func:`history_logits` except ``coef``) and ``context [B, K, D]`` for K steps -> logits ``[B, K, P]``."""
        coef = self.coef(context)
        return (torch.einsum("bkm,bmp->bkp", coef[..., : self.n_maps], image_maps)
                + history_logits(coef[..., self.n_maps:], **history))


class DurationHead(nn.Module):
    """Mixture parameters for the duration of fixation ``k``: a function of the history context and elapsed time
    plus a linear read-out of the image features of the fixated cell (computed once per image)."""

    def __init__(self, context_dim: int, feature_dim: int, components: int = 4, hidden: int = 64,
                 dropout: float = 0.1):
        super().__init__()
        self.components = components
        self.context_net = nn.Sequential(nn.Linear(context_dim + 1, hidden), nn.GELU(), nn.Dropout(dropout),
                                         nn.Linear(hidden, 3 * components))
        self.local = nn.Conv1d(feature_dim, 3 * components, 1)
        with torch.no_grad():  # start as a spread-out mixture around the pooled distribution
            for layer in (self.context_net[-1], self.local):
                layer.weight.mul_(0.1)
                layer.bias.zero_()
            self.context_net[-1].bias[components:2 * components] = torch.linspace(-1.0, 1.0, components)

    def local_params(self, feats: Tensor) -> Tensor:
        """``[N, C, P]`` -> per-cell contribution ``[N, P, 3K]``."""
        return self.local(feats).transpose(1, 2)

    def forward(self, context: Tensor, t_frac: Tensor, local: Tensor):
        """``context [..., D]``, ``t_frac [...]``, ``local [..., 3K]`` (rows of :meth:`local_params`) ->
        ``(logits, mu, log_sigma)``, each ``[..., K]``."""
        raw = self.context_net(torch.cat([context, t_frac.unsqueeze(-1)], -1)) + local
        logits, mu, log_sigma = raw.chunk(3, -1)
        return logits, mu, log_sigma.clamp(*LOG_SIGMA_RANGE)


def sample_features(feats: Tensor, uv: Tensor) -> Tensor:
    """Bilinear read of ``feats [N, C, h, w]`` at ``uv [N, M, 2]`` (normalised [-1, 1]) -> ``[N, M, C]``."""
    out = F.grid_sample(feats, uv.unsqueeze(1).to(feats.dtype), mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out[:, :, 0].transpose(1, 2)
