"""Free-viewing floors, registered as models: ``uniform`` and ``centre-bias``.

Both draw fixation positions independently (uniform over the image, or a 2-D Gaussian fitted to every training
fixation in image-normalised coordinates, normalised over the image's pixels) and durations independently from a
log-normal fitted to the training durations, with the same stopping rule as the TPP model (fixations start every
``duration + gap`` ms; the fixation that would end after the viewing time is not recorded). Fit them on a training
split with :meth:`FreeviewBaseline.fit`; ``pretrained="osie"`` (the default) loads the parameters fitted on the OSIE training
split (shipped as a small JSON file).
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models._epoch_means import ValTestEpochMeans
from gazekit.models.base import PredictRequest, ScanpathPredictMixin, generator_for
from gazekit.models.priors import fit_freeview_priors, gaussian_logpdf, training_scanpaths
from gazekit.models.registry import WeightSpec, register_model
from gazekit.scanpaths import Scanpaths

def fixation_times(next_duration, horizon: float | None, gap_ms: float, max_fixations: int):
    """Yield ``(start, duration)`` in ms of each fixation of a sampled scanpath, the stopping rule of TPP: fixation
    ``n`` lasts ``next_duration(n)`` and the next one starts ``gap_ms`` after it ends, up to ``max_fixations``. A
    fixation that would end after ``horizon`` ends the scanpath, except the first, which is cut to end there (at
    least 1 ms); none starts at or after the horizon. Each pair is yielded before the next duration is asked for,
    so a caller can draw the fixation's position in between (random draws keep their order)."""
    t, n = 0.0, 0
    while n < max_fixations:
        d = next_duration(n)
        if horizon is not None and t + d > horizon:
            if n:
                break
            d = max(1.0, horizon - t)
        yield t, d
        n += 1
        t += d + gap_ms
        if horizon is not None and t >= horizon:
            break


def sampled_scanpaths(request: PredictRequest, xs, ys, ts, ds, width: int, height: int) -> Scanpaths:
    """The sampled sequences (``request.n_samples`` per image, image by image) as model scanpaths."""
    rows = range(len(xs))
    return Scanpaths.from_sequences(xs, ys, ts, ds, image=[request.image_names[r // request.n_samples] for r in rows],
                                    subject=[f"sample{r % request.n_samples}" for r in rows], task="freeview",
                                    dataset="model", image_size=[float(width), float(height)])


class FreeviewBaseline(ValTestEpochMeans, ScanpathPredictMixin, pl.LightningModule):
    """``kind="uniform"`` or ``"centre-bias"`` (see module docstring). No trainable parameters.

    As a LightningModule (``gazekit train --config configs/centre_bias_osie.yaml``): ``fit`` fits the priors on the
    DataModule's training split (nothing is optimised) and validation/test log the mean log-likelihood per
    fixation: ``spatial_ll`` (nats per px^2), ``duration_ll`` (nats per ms) and ``nll`` (minus their sum; TPP's
    ``nll`` also holds the survival term at the viewing-time horizon, which these baselines do not model).
    Images are not needed (``with_images: false``): the image size comes from the scanpaths.
    """

    epoch_mean_names, epoch_mean_prog_bar = ("spatial_ll", "duration_ll", "nll"), ("nll",)  # per fixation

    task_kind = "freeview"

    def __init__(self, kind: str = "centre-bias", priors: dict | None = None, max_fixations: int = 30):
        super().__init__()
        if kind not in ("uniform", "centre-bias"):
            raise InvalidInputError(f"baseline kind must be 'uniform' or 'centre-bias', got {kind!r}")
        self.kind, self.max_fixations = kind, max_fixations
        self.priors = dict(priors) if priors else None
        self.automatic_optimization = False  # nothing to optimise: fitting is closed-form, in on_fit_start

    def fit(self, scanpaths: Scanpaths, viewing_time_ms: float | None = None) -> FreeviewBaseline:
        """Fit the priors (centre-bias Gaussian, log-normal durations, mean gap between fixations) to ``scanpaths``;
        returns the model.
        """
        self.priors = fit_freeview_priors(scanpaths, viewing_time_ms)
        return self

    def _need(self) -> dict:
        if self.priors is None:
            raise InvalidInputError(f"{self.kind} baseline is not fitted: call .fit(train_scanpaths) or create it "
                                    "with pretrained='osie'")
        return self.priors

    def pixel_log_density(self, height: int, width: int) -> Tensor:
        """``[H, W]`` log-probability of each pixel (sums to 1 in probability)."""
        if self.kind == "uniform":
            return torch.full((height, width), -math.log(height * width))
        pri = self._need()
        yy, xx = torch.meshgrid((torch.arange(height) + 0.5) / height, (torch.arange(width) + 0.5) / width,
                                indexing="ij")
        lp = gaussian_logpdf(torch.stack([xx, yy], -1).double(), torch.tensor(pri["cb_mean"]).double(),
                             torch.tensor(pri["cb_cov"]).double())
        return F.log_softmax(lp.flatten(), 0).view(height, width).float()

    def duration_log_density(self, durations: Tensor) -> Tensor:
        """Log-normal log-density (per ms) of durations in ms."""
        pri = self._need()
        loc, scale = pri["logd_loc"], pri["logd_scale"]
        log_d = durations.double().log()
        return -0.5 * ((log_d - loc) / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi)) - log_d

    @torch.no_grad()
    def duration_log_likelihood(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[B, L]`` log-normal log-density (per ms) of each duration; NaN where missing or padding."""
        d = torch.where(history.mask, history.duration, torch.full_like(history.duration, math.nan))
        d = torch.where(d > 0, d, torch.full_like(d, math.nan))
        return self.duration_log_density(d)

    @torch.no_grad()
    def conditional_log_density(self, images: Tensor, history: Scanpaths) -> Tensor:
        """The same map for every step (the baselines ignore history): ``[B, L, H, W]``."""
        b, _, h, w = images.shape
        return self.pixel_log_density(h, w)[None, None].expand(b, max(1, history.max_length), h, w)

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Sample scanpaths from the fitted priors (positions from the prior, log-normal durations, the same stopping
        rule as TPP).
        """
        pri, (n_img, h, w), gen, horizon, max_fix = self._sampling_setup(request)
        probs = self.pixel_log_density(h, w).flatten().exp()
        n_rows = n_img * request.n_samples
        # every position and duration a scanpath could use, drawn in two calls (positions are independent)
        pix = torch.multinomial(probs, n_rows * max_fix, replacement=True, generator=gen).view(n_rows, max_fix)
        jit = torch.rand(n_rows, max_fix, 2, generator=gen, dtype=torch.float64)
        z = torch.randn(n_rows, max_fix, generator=gen, dtype=torch.float64)
        dur = torch.exp(pri["logd_loc"] + pri["logd_scale"] * z * request.temperature).numpy()
        px = (pix % w).double() + jit[..., 0]
        py = torch.div(pix, w, rounding_mode="floor").double() + jit[..., 1]
        xs, ys, ts, ds = [], [], [], []
        for r in range(n_rows):
            times = list(fixation_times(lambda k: float(dur[r, k]), horizon, pri["gap_ms"], max_fix))
            n = len(times)
            xs.append(px[r, :n].numpy()), ys.append(py[r, :n].numpy())
            ts.append([t for t, _ in times]), ds.append([d for _, d in times])
        return sampled_scanpaths(request, xs, ys, ts, ds, w, h)

    def _sampling_setup(self, request: PredictRequest):
        """``(priors, (images, height, width), generator, horizon in ms or None, max fixations)`` for sampling."""
        pri = self._need()
        images = request.images
        if images.dim() != 4:
            raise InvalidInputError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
        n_img, _, h, w = images.shape
        gen = generator_for(request.seed)
        horizon = request.seconds * 1000 if request.seconds is not None else pri.get("viewing_time_ms")
        return pri, (n_img, h, w), gen, horizon, int(request.max_fixations or self.max_fixations)

    def fixation_log_density(self, scanpaths: Scanpaths) -> Tensor:
        """``[B, L]`` log-density (per px^2) of each fixation's position on its image (``image_size`` of the
        scanpaths, px); NaN for padding."""
        out = torch.full(scanpaths.x.shape, math.nan, dtype=torch.float64)
        size = scanpaths.image_size
        if torch.isnan(size).any():
            raise InvalidInputError("scoring positions needs image_size on every scanpath (it is NaN for some)")
        maps: dict[tuple[int, int], Tensor] = {}
        for b in range(len(scanpaths)):
            n = int(scanpaths.lengths[b])
            w, h = (round(float(v)) for v in size[b])
            dens = maps.setdefault((w, h), self.pixel_log_density(h, w).double())
            col = scanpaths.x[b, :n].floor().long().clamp(0, w - 1)
            row = scanpaths.y[b, :n].floor().long().clamp(0, h - 1)
            out[b, :n] = dens[row, col]
        return out

    # ------------------------------------------------------------------ Lightning (see the class docstring)
    def on_fit_start(self) -> None:
        self.fit(*training_scanpaths(getattr(self.trainer, "datamodule", None)))

    def _fit_if_needed(self) -> None:  # `gazekit validate|test --config` without a fitted checkpoint
        if self.priors is None:
            self.on_fit_start()

    def on_validation_start(self) -> None:
        self._fit_if_needed()

    def on_test_start(self) -> None:
        self._fit_if_needed()

    def configure_optimizers(self):
        return None

    def training_step(self, batch, batch_idx):
        return None

    def _log_likelihoods(self, batch, stage: str) -> None:
        sp = batch["scanpaths"] if isinstance(batch, dict) else batch[1]
        spatial = self.fixation_log_density(sp)
        duration = self.duration_log_likelihood(None, sp)
        mask = sp.mask
        known = mask & torch.isfinite(duration)
        acc = self._epoch_means(stage)  # sums and counts over the epoch and every rank (see _epoch_means)
        acc.add_values("spatial_ll", spatial[mask])
        acc.add_values("duration_ll", duration[known])
        acc.add("nll", -(spatial[mask].sum() + duration[known].sum()), mask.sum())

    def validation_step(self, batch, batch_idx):
        self._log_likelihoods(batch, "val")

    def test_step(self, batch, batch_idx):
        self._log_likelihoods(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["freeview_priors"] = self.priors

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.priors = checkpoint.get("freeview_priors")

    def save_checkpoint(self, path) -> str:
        """Write the fitted priors as a JSON checkpoint (``format`` ``gazekit-baseline-<kind>``, atomically);
        returns its sha256. Read it back with :func:`gazekit.models.load_checkpoint`."""
        from gazekit.models._checkpoint import save_json

        return save_json({"format": f"gazekit-baseline-{self.kind}", "version": 1, "kind": self.kind,
                          "max_fixations": self.max_fixations, "priors": self._need()}, path)

    @classmethod
    def from_checkpoint(cls, kind: str, state: dict, **kwargs) -> FreeviewBaseline:
        """From a :meth:`save_checkpoint` file, the shipped priors JSON (the priors themselves, no ``format``) or
        a Lightning ``.ckpt`` of a fitted baseline."""
        if "priors" in state:
            kwargs.setdefault("max_fixations", state.get("max_fixations", 30))
            return cls(kind, state["priors"], **kwargs)
        if "freeview_priors" in state:
            return cls(kind, state["freeview_priors"], **kwargs)
        missing = [k for k in ("cb_mean", "cb_cov", "logd_loc", "logd_scale", "gap_ms") if k not in state]
        if missing:
            raise InvalidInputError(f"not a {kind} baseline checkpoint: no priors (missing {missing})")
        return cls(kind, state, **kwargs)


# The priors fitted on the OSIE training split (a small JSON file).
OSIE_PRIORS = WeightSpec("osie", "baselines-osie.json",
                         "7a5021903e10944ce9c118431712c34075ad63d94c01f6409518d234b2dd32fb")


@register_model("uniform", predicts=("positions", "durations", "density"), inputs=("image",), weights=(OSIE_PRIORS,),
                default_weights="osie", formats=("gazekit-baseline-uniform",),
                description="uniform positions, empirical log-normal durations")
def uniform(checkpoint: dict | None = None, **kwargs) -> FreeviewBaseline:
    """Priors from ``pretrained`` (default: the OSIE fit); ``pretrained=False`` gives an unfitted baseline."""
    if checkpoint is None:
        return FreeviewBaseline("uniform", None, **kwargs)
    return FreeviewBaseline.from_checkpoint("uniform", checkpoint, **kwargs)


@register_model("centre-bias", predicts=("positions", "durations", "density"), inputs=("image",),
                weights=(OSIE_PRIORS,), default_weights="osie", formats=("gazekit-baseline-centre-bias",),
                description="centre-bias Gaussian positions, log-normal durations")
def centre_bias(checkpoint: dict | None = None, **kwargs) -> FreeviewBaseline:
    """Priors from ``pretrained`` (default: the OSIE fit); ``pretrained=False`` gives an unfitted baseline."""
    if checkpoint is None:
        return FreeviewBaseline("centre-bias", None, **kwargs)
    return FreeviewBaseline.from_checkpoint("centre-bias", checkpoint, **kwargs)
