"""Static saliency: image -> an exactly normalised, smooth log-density of fixations at the image's own resolution.

The DeepGaze II / IIE recipe on evidence that needs no download (:mod:`gazekit.models.saliency_features`):

1. features on a grid whose longer side has ``grid`` cells (aspect kept): hand-crafted multi-scale contrast, Haar
   face detections, PP-OCRv4 text probability and the frozen backbone of the shipped ``tpp-osie`` model (its three
   levels projected by 1x1 convolutions and upsampled bilinearly to the grid), as chosen by ``groups``;
2. a small readout (1x1 conv -> GELU -> 3x3 conv -> GELU -> 1x1 conv) giving one logit per grid cell;
3. a Gaussian blur with a learned width;
4. bilinear upsampling of the logits to the output size (so the density has no cell blocks), plus a learned weight
   times a learned centre-bias log-density (a 2-D Gaussian in image-normalised coordinates, evaluated at every
   output pixel);
5. a softmax over all output pixels: ``log p(x, y)`` per pixel, summing to exactly 1 in probability.

Trained by fixation log-likelihood (:mod:`gazekit.models.saliency`). This module has no Lightning import so that
``gazekit predict --maps`` starts fast; the backbone is the one inside the shipped ``tpp-osie`` file
(sha256-checked, run from its frozen graph), so a saliency weights file holds only the readout (a few kB).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models.saliency_features import GROUPS, N_FACES, N_LOW, N_MTCNN, N_TEXT, extract, grid_shape

LN2 = math.log(2.0)
MAP_CHANNELS = {"low": N_LOW, "faces": N_FACES, "mtcnn": N_MTCNN, "text": N_TEXT}
DEEP_CHANNELS = (64, 128, 256)  # the tpp-osie backbone (LCNet-0.5) levels at strides 8, 16, 32
FORMAT = "gazekit-saliency"


def map_slices(cached_groups: list[str]) -> dict[str, slice]:
    """Channel slice of each group inside a ``maps`` tensor holding ``cached_groups`` (in GROUPS order)."""
    out, start = {}, 0
    for g in cached_groups:
        out[g] = slice(start, start + MAP_CHANNELS[g])
        start += MAP_CHANNELS[g]
    return out


class SaliencyNet(nn.Module):
    """The static saliency network (see module docstring).

    Args:
        groups: feature groups used, from ``("low", "faces", "mtcnn", "text", "deep")``.
        backbone_side: longer side (px) of the image given to the backbone (256: as tpp-osie was trained; 384).
        grid: readout cells on the longer side (80: 10 px cells on an 800 x 600 image).
        hidden: readout width. dropout: channel dropout in the readout (training only).
        blur_init: initial blur sigma as a fraction of the longer side.
        context: extra 3x3 readout layers with dilations 2, 4, 8, ... (each widens the readout's view of the grid,
            so that a cell's logit can depend on the object around it; 0: the original single 3x3 layer).
        priors: names of the data sets that get a centre-bias prior of their own (training on several data sets
            with different viewing set-ups; the shared readout then need not model their centre biases). Empty:
            one prior. Prediction uses the first data set's prior unless told otherwise (``prior=``).
    """

    def __init__(self, groups: tuple[str, ...] = GROUPS, backbone_side: int = 384, grid: int = 80,
                 hidden: int = 16, dropout: float = 0.1, blur_init: float = 0.015, context: int = 0,
                 priors: tuple[str, ...] = ()):
        super().__init__()
        groups = tuple(g for g in GROUPS if g in groups)
        if not groups:
            raise InvalidInputError("the saliency model needs at least one feature group")
        self.cfg = SimpleNamespace(groups=list(groups), backbone_side=int(backbone_side), grid=int(grid),
                                   hidden=int(hidden), dropout=float(dropout), blur_init=float(blur_init),
                                   context=int(context), priors=[str(p) for p in priors])
        n_maps = sum(MAP_CHANNELS[g] for g in groups if g in MAP_CHANNELS)
        self.map_in = nn.Conv2d(n_maps, hidden, 1) if n_maps else None
        if "deep" in groups:
            self.deep_in = nn.ModuleList(nn.Conv2d(c, hidden, 1) for c in DEEP_CHANNELS)
            for k, c in enumerate(DEEP_CHANNELS):  # per-channel standardisation, set from training images
                self.register_buffer(f"deep_mean{k}", torch.zeros(c))
                self.register_buffer(f"deep_std{k}", torch.ones(c))
        layers = [nn.GELU(), nn.Dropout2d(dropout), nn.Conv2d(hidden, hidden, 3, padding=1), nn.GELU()]
        for k in range(int(context)):
            dil = 2 ** (k + 1)
            layers += [nn.Conv2d(hidden, hidden, 3, padding=dil, dilation=dil, padding_mode="replicate"), nn.GELU()]
        self.readout = nn.Sequential(*layers, nn.Conv2d(hidden, 1, 1))
        self.log_blur = nn.Parameter(torch.tensor(math.log(blur_init)))
        lead = (len(priors),) if len(priors) > 1 else ()  # one prior keeps the original (shipped) shapes
        self.cb_mean = nn.Parameter(torch.full((*lead, 2), 0.5))
        self.cb_log_std = nn.Parameter(torch.full((*lead, 2), math.log(0.2)))
        self.cb_rho = nn.Parameter(torch.zeros(lead))
        self.cb_weight = nn.Parameter(torch.ones(lead))
        self._backbone = None

    # ------------------------------------------------------------------ features
    @property
    def groups(self) -> tuple[str, ...]:
        """The feature groups the model reads (from its config)."""
        return tuple(self.cfg.groups)

    def backbone(self):
        """The frozen tpp-osie backbone (loaded on first use, sha256-checked; not part of this model's weights)."""
        if self._backbone is None:
            from gazekit.models.registry import catalog_weight_spec
            from gazekit.models.tpp_core import load_fast

            spec = catalog_weight_spec("tpp-osie", "osie")
            if spec is None:
                raise InvalidInputError("the 'deep' features need the shipped tpp-osie weights, which this "
                                        "installation does not list")
            self._backbone = [load_fast(spec.path, spec.sha256).backbone.eval()]
        return self._backbone[0]

    def features(self, image: Tensor) -> dict:
        """Features of one image ``[3, H, W]`` in the layout of the feature cache (all needed groups)."""
        maps = [g for g in self.groups if g != "deep"]
        out = extract(image, tuple(maps), self.cfg.grid)
        item = {"maps": out["maps"], "groups": maps, "size": list(image.shape[-2:])}
        if "deep" in self.groups:
            side = self.cfg.backbone_side
            item[f"deep{side}"] = extract(image, ("deep",), self.cfg.grid, self.backbone(), side)["deep"]
        return item

    def grid_logits(self, item: dict) -> Tensor:
        """Features of one image (maps ``[C, gh, gw]``, levels ``[C_i, h_i, w_i]``) or of a batch of same-size
        images (a leading batch dimension everywhere) -> readout logits ``[B, 1, gh, gw]`` after the blur."""
        h, w = item["size"]
        gh, gw = grid_shape(h, w, self.cfg.grid)
        x = 0.0
        if self.map_in is not None:
            slices = map_slices(list(item["groups"]))
            maps = item["maps"]
            maps = torch.cat([maps[..., slices[g], :, :] for g in self.groups if g in MAP_CHANNELS], -3).float()
            maps = maps[None] if maps.dim() == 3 else maps
            if maps.shape[-2:] != (gh, gw):
                maps = F.interpolate(maps, size=(gh, gw), mode="bilinear", align_corners=False)
            x = self.map_in(maps)
        if "deep" in self.groups:
            levels = item.get(f"deep{self.cfg.backbone_side}")
            if levels is None:
                raise InvalidInputError(f"features lack the backbone at side {self.cfg.backbone_side}")
            for k, (conv, level) in enumerate(zip(self.deep_in, levels)):
                level = level[None] if level.dim() == 3 else level
                mean, std = getattr(self, f"deep_mean{k}"), getattr(self, f"deep_std{k}")
                z = (level.float() - mean[:, None, None]) / std[:, None, None]
                x = x + F.interpolate(conv(z), size=(gh, gw), mode="bilinear", align_corners=False)
        logits = self.readout(x)
        return self.blur(logits, max(gh, gw))

    def blur(self, logits: Tensor, long_side: int) -> Tensor:
        """Gaussian blur of ``[B, 1, gh, gw]`` with the learned width (a fraction of the longer side)."""
        sigma = self.log_blur.exp() * long_side
        radius = max(1, min(int(math.ceil(3 * float(sigma.detach()))), long_side // 2))
        grid = torch.arange(-radius, radius + 1, dtype=logits.dtype, device=logits.device)
        k = torch.exp(-0.5 * (grid / sigma) ** 2)
        k = k / k.sum()
        x = F.pad(logits, (radius, radius, 0, 0), mode="replicate")
        x = F.conv2d(x, k.view(1, 1, 1, -1))
        x = F.pad(x, (0, 0, radius, radius), mode="replicate")
        return F.conv2d(x, k.view(1, 1, -1, 1))

    def prior_index(self, prior) -> Tensor | int:
        """The centre-bias prior of ``prior``: None (the first), a data set name from ``priors``, an index, or a
        ``[B]`` tensor of indices (one per image of a batch)."""
        n = max(1, len(self.cfg.priors))
        if prior is None:
            return 0
        if isinstance(prior, str):
            if prior not in self.cfg.priors:
                raise InvalidInputError(f"no centre-bias prior for data set {prior!r}; this model has "
                                        f"{self.cfg.priors or 'one shared prior'}")
            return self.cfg.priors.index(prior)
        if isinstance(prior, Tensor):
            return prior.long().clamp(0, n - 1) if n > 1 else 0
        if not 0 <= int(prior) < n:
            raise InvalidInputError(f"prior index {prior} outside [0, {n})")
        return int(prior)

    def centre_bias(self, out_h: int, out_w: int, prior=None) -> Tensor:
        """``[out_h, out_w]`` log-density (up to a constant) of the learned centre-bias Gaussian at pixel centres,
        times its learned weight (``[B, out_h, out_w]`` for a tensor of prior indices)."""
        dev = self.cb_mean.device
        v = (torch.arange(out_h, device=dev, dtype=torch.float32) + 0.5) / out_h
        u = (torch.arange(out_w, device=dev, dtype=torch.float32) + 0.5) / out_w
        mean, log_std, rho, weight = self.cb_mean, self.cb_log_std, self.cb_rho, self.cb_weight
        if mean.dim() == 2:  # one prior per data set
            k = self.prior_index(prior)
            mean, log_std, rho, weight = mean[k], log_std[k], rho[k], weight[k]
        su, sv = log_std.exp()[..., 0, None, None], log_std.exp()[..., 1, None, None]
        mu, mv = mean[..., 0, None, None], mean[..., 1, None, None]
        rho, weight = torch.tanh(rho)[..., None, None], weight[..., None, None]
        du, dv = (u[None] - mu) / su, (v[:, None] - mv) / sv
        return -weight * (du ** 2 - 2 * rho * du * dv + dv ** 2) / (2 * (1 - rho ** 2))

    def log_density(self, item: dict, out_size: tuple[int, int] | None = None, prior=None) -> Tensor:
        """Per-pixel log-probabilities (logsumexp over the pixels = 0): ``[out_h, out_w]`` for one image's
        features, ``[B, out_h, out_w]`` for a batch of same-size images; default size: the image's own. ``prior``:
        which centre-bias prior (:meth:`prior_index`; default the first)."""
        out_h, out_w = out_size or tuple(item["size"])
        logits = F.interpolate(self.grid_logits(item), size=(out_h, out_w), mode="bilinear", align_corners=False)
        total = logits[:, 0] + self.centre_bias(out_h, out_w, prior)
        out = F.log_softmax(total.flatten(1), 1).view(-1, out_h, out_w)
        return out[0] if item["maps"].dim() == 3 else out

    @torch.no_grad()
    def predict_log_density(self, image: Tensor, prior=None) -> Tensor:
        """``[3, H, W]`` RGB in [0, 1] -> ``[H, W]`` float64 log-density per pixel (sums to 1 over the pixels);
        ``prior``: the centre-bias prior of a training data set (:meth:`prior_index`; default the first)."""
        if image.dim() != 3 or image.shape[0] != 3:
            raise InvalidInputError(f"expected an image [3, H, W], got shape {tuple(image.shape)}")
        was = self.training
        self.eval()
        try:
            ld = self.log_density(self.features(image), prior=prior).double()
        finally:
            self.train(was)
        return ld - torch.logsumexp(ld.flatten(), 0)

    # ------------------------------------------------------------------ persistence
    checkpoint_format = FORMAT

    def save_checkpoint(self, path: str | Path) -> str:
        """Write hyper-parameters and weights (tensors and plain values only: the weights-only reader loads it),
        atomically; returns the file's sha256."""
        from gazekit.models._checkpoint import save_torch

        state = {"format": FORMAT, "version": 1, "hyper_parameters": dict(vars(self.cfg)),
                 "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}
        return save_torch(state, path)

    @classmethod
    def from_checkpoint(cls, state: dict, *, source: str = "checkpoint", **overrides):
        """Build from a checkpoint dict (a :meth:`save_checkpoint` file or a Lightning ``.ckpt`` of
        :class:`gazekit.models.saliency.SaliencyModel`)."""
        try:
            hp, sd = dict(state["hyper_parameters"]), state["state_dict"]
        except Exception as err:
            raise InvalidInputError(f"{source!r} is not a saliency model checkpoint: {err!r}") from err
        allowed = ("groups", "backbone_side", "grid", "hidden", "dropout", "blur_init", "context", "priors")
        hp = {k: (tuple(v) if k in ("groups", "priors") else v) for k, v in {**hp, **overrides}.items() if k in allowed}
        model = cls(**hp)
        model.load_state_dict(sd)
        return model.eval()

    @classmethod
    def from_file(cls, path: str | Path, sha256: str | None = None, trust: str | None = None):
        """Load a :meth:`save_checkpoint` file or a Lightning checkpoint (weights-only reader); verify ``sha256``
        if given."""
        from gazekit.models._checkpoint import read_checkpoint

        state, _ = read_checkpoint(path, sha256=sha256, trust=trust)
        return cls.from_checkpoint(state, source=str(path))


def load_fast(path: str | Path, sha256: str) -> SaliencyNet:
    """Shipped saliency weights for inference only (the registry's fast loader: no Lightning import)."""
    return SaliencyNet.from_file(path, sha256=sha256)
