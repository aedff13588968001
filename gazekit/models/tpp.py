"""TPP gaze, trainable: :class:`TPPGaze` is :class:`gazekit.models.tpp_core.TPPGazeCore` (the network, its
likelihood, sampling and inference API; see that module for the model) plus training as a LightningModule.

Registered models: ``tpp`` (any checkpoint or a fresh model), ``tpp-freeview`` (shipped, the default: trained on
OSIE + EyeCrowd + NUS-SUN500 with the ``saliency-freeview`` map as an image term), ``tpp-osie`` (shipped, trained on
OSIE) and ``tpp-tiny`` (tiny, random, for tests). ``python -m gazekit.models.export CKPT OUT`` writes the weights-only
file the package ships.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models._epoch_means import ValTestEpochMeans
from gazekit.models.base import ScanpathPredictMixin, SharedStageStep
from gazekit.models.priors import training_scanpaths
from gazekit.models.registry import WeightSpec, register_model
from gazekit.models.tpp_core import LN2, TPPGazeCore, check_images
from gazekit.models.tpp_sampling import unique_rows
from gazekit.scanpaths import Scanpaths

_NOT_CORE_ARGS = ("self", "__class__", "flip_augment", "optimizer", "cosine_schedule", "static_cache",
                  "init_weights", "freeze_backbone", "scheduled_sampling")  # training-only
__all__ = ["OSIE_WEIGHTS", "TPPGaze", "TPPGazeCore", "check_images", "unique_rows"]

# The shipped checkpoint (trained by us on OSIE); its sha256 is checked on every load.
OSIE_WEIGHTS = WeightSpec("osie", "tpp-osie.pt", "67bbefcd8bcade844abed0278dc60aa59fde8b75247f2952327a5d2046d71057",
                          fast="gazekit.models.tpp_core:load_fast")
FREEVIEW_WEIGHTS = WeightSpec("freeview", "tpp-freeview.pt",
                              "8e73e120dc23d99132479b38593d024a3fc142b5446474caeb7a12d2fe378c5e",
                              fast="gazekit.models.tpp_core:load_fast")
SHIPPED = (OSIE_WEIGHTS, FREEVIEW_WEIGHTS)
FORMATS = (TPPGazeCore.checkpoint_format, "gazekit.models.tpp.TPPGaze")


class TPPGaze(ValTestEpochMeans, SharedStageStep, ScanpathPredictMixin, TPPGazeCore, pl.LightningModule):
    """The TPP gaze model with training: arguments as :class:`TPPGazeCore`, plus

    Args:
        flip_augment: random horizontal flips in training.
        optimizer: an OptimizerCallable (LightningCLI injects it; default AdamW lr 2e-3).
        cosine_schedule: one-cycle cosine LR schedule over training.
        static_cache: for models with ``static_map``: a file of precomputed static-map logits keyed by image name
            (:mod:`gazekit.models.tpp_static`). Images it lacks (all of them without the file) get their maps
            computed from the batch images (about 1 s each) the first time they are seen, and kept in memory.
        init_weights: start from these weights (a registered TPP model such as ``"tpp-osie"``, or a checkpoint
            path): parameters of the same name and shape are copied, priors included; new ones keep their init.
        freeze_backbone: keep the backbone's weights and BatchNorm statistics fixed (fine-tuning the heads).
        scheduled_sampling: probability with which each fixation fed to the history in training is replaced by a
            draw from the model's own spatial density at that step (given the human fixations before it; one extra
            forward pass without gradients, as in parallel scheduled sampling, Duckworth et al. 2019). The targets
            stay the human fixations. 0: teacher forcing only.

    Batches from :class:`~gazekit.datasets.multi.MultiGazeDataModule` carry a horizon per scanpath
    (``horizon_ms``); the survival term is used only where it is the data set's known viewing time.

    Trains with any DataModule yielding ``(images, Scanpaths)``; :meth:`on_fit_start` fits the priors on the
    DataModule's training scanpaths unless they were fitted already.
    """

    # val/test per-fixation means over every rank (ValTestEpochMeans): nll = -sum(log-likelihood) / sum(fixations)
    epoch_mean_names = epoch_mean_prog_bar = ("nll", "ig_cb_bits", "dur_gain_nats")

    def __init__(self, backbone: str = "lcnet_050", backbone_pretrained: str | None = None,
                 input_width: int = 256, input_height: int = 192, feature_dim: int = 32, hidden_dim: int = 96,
                 history: str = "gru", transformer_layers: int = 2, head_dim: int = 32, n_maps: int = 8,
                 duration_components: int = 4, upsample: int = 2, bump_sigma: float = 0.05, dropout: float = 0.1,
                 viewing_time_ms: float | None = 3000.0, max_fixations: int = 30, static_map: str | None = None,
                 degrees_per_unit: float | None = None, flip_augment: bool = True,
                 optimizer: OptimizerCallable | None = None, cosine_schedule: bool = True,
                 static_cache: str | None = None, init_weights: str | None = None, freeze_backbone: bool = False,
                 scheduled_sampling: float = 0.0):
        super().__init__(**{k: v for k, v in locals().items() if k not in _NOT_CORE_ARGS})
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self._static_cache = None
        if not 0.0 <= scheduled_sampling <= 1.0:
            raise InvalidInputError(f"scheduled_sampling must be a probability in [0, 1], got {scheduled_sampling}")
        if init_weights is not None:
            self.copy_weights_from(init_weights)
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def copy_weights_from(self, source: str) -> list[str]:
        """Copy parameters and buffers of the same name and shape from ``source`` (a registered TPP model or a
        checkpoint path, loaded weights-only); returns the names that kept their initial values."""
        from gazekit.models.registry import load_predictor

        other = load_predictor(source).state_dict()
        own = self.state_dict()
        same = {k: v for k, v in other.items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(same, strict=False)
        return sorted(set(own) - set(same))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.hparams.get("freeze_backbone"):
            self.backbone.eval()  # fixed BatchNorm statistics too
        return self

    def on_fit_start(self) -> None:
        if not bool(self.priors_fitted):
            self.fit_priors(*training_scanpaths(getattr(self.trainer, "datamodule", None)))

    # ------------------------------------------------------------------ training
    def _unpack(self, batch) -> tuple[Tensor, Tensor, Scanpaths]:
        """Batch -> (unique images [N, 3, H, W], image index per scanpath [B], scanpaths)."""
        if isinstance(batch, dict):
            images, sp = batch["images"], batch["scanpaths"]
        else:
            images, sp = batch[0], batch[1]
        if images.shape[0] == len(sp):  # one image per scanpath: encode each distinct image once
            first: dict[str, int] = {}
            img = torch.tensor([first.setdefault(name, len(first)) for name in sp.image], device=images.device)
            order = [sp.image.index(name) for name in first]
            return images[torch.tensor(order, device=images.device)], img, sp
        names = list(dict.fromkeys(sp.image))
        if len(names) != images.shape[0]:
            raise InvalidInputError(f"batch has {images.shape[0]} images for {len(names)} distinct image names")
        index = {n: i for i, n in enumerate(names)}
        return images, torch.tensor([index[n] for n in sp.image], device=images.device), sp

    def _static(self, images: Tensor, sp: Scanpaths) -> Tensor | None:
        """Static-map logits of the batch's distinct images (from ``static_cache`` when given)."""
        if self.cfg.static_map is None:
            return None
        from gazekit.models.tpp_static import load_cache, lookup

        if self._static_cache is None:
            path = self.hparams.get("static_cache")
            self._static_cache = load_cache(path, self.cfg.static_map) if path and Path(path).is_file() else {}
        names = list(dict.fromkeys(sp.image))
        new = [k for k, n in enumerate(names) if n not in self._static_cache]
        if new:  # not in the cache file (or no file): computed from the batch's images, once per run
            for k, logits in zip(new, self.static_logits(images[new])):
                self._static_cache[names[k]] = logits.half().cpu()
        return lookup(self._static_cache, names, images.device)

    @staticmethod
    def _horizons(batch) -> Tensor | None:
        """Per-row horizon of a MultiGazeDataModule batch: NaN (no survival term) where it is not a known
        viewing time."""
        if not isinstance(batch, dict) or "horizon_ms" not in batch:
            return None
        known = batch.get("horizon_known")
        h = batch["horizon_ms"]
        return h if known is None else torch.where(known, h, torch.full_like(h, math.nan))

    @torch.no_grad()
    def own_draws(self, feats: Tensor, embed: Tensor, img: Tensor, sp: Scanpaths, width: float, height: float,
                  static: Tensor | None, p: float) -> tuple[Tensor, Tensor]:
        """Scheduled-sampling inputs: ``(x, y) [B, L]``, each fixation of ``sp`` replaced with probability ``p`` by
        a draw (uniform within its fine cell) from the model's spatial density at that step, given the human
        fixations before it. Padding keeps its values."""
        out = self.scanpath_log_likelihood(feats.detach(), embed.detach(), img, sp, width, height, horizon=False,
                                           static=static)
        g, length = out["grid"], sp.x.shape[1]
        cell = torch.distributions.Categorical(logits=out["logp"][:, :length].float()).sample()
        x = ((cell % g["gw"]) + torch.rand(cell.shape, device=cell.device)) * (width / g["gw"])
        y = ((cell // g["gw"]) + torch.rand(cell.shape, device=cell.device)) * (height / g["gh"])
        swap = (torch.rand(cell.shape, device=cell.device) < p) & sp.mask
        return torch.where(swap, x.to(sp.x.dtype), sp.x), torch.where(swap, y.to(sp.y.dtype), sp.y)

    def _step(self, batch, stage: str) -> Tensor:
        images, img, sp = self._unpack(batch)
        sp = sp.to(images.device)
        width, height = float(images.shape[-1]), float(images.shape[-2])
        static = self._static(images, sp)
        if stage == "train" and self.hparams.flip_augment:
            flip = torch.rand(images.shape[0], device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
            if static is not None:
                static = torch.where(flip[:, None, None, None], static.flip(-1), static)
            x = torch.where(flip[img][:, None], width - sp.x, sp.x)
            sp = Scanpaths(**{**sp.__dict__, "x": x})
        feats, embed = self.encode_images(images)
        p_own = float(self.hparams.get("scheduled_sampling") or 0.0)
        inputs = self.own_draws(feats, embed, img, sp, width, height, static, p_own) \
            if stage == "train" and p_own > 0 else None
        out = self.scanpath_log_likelihood(feats, embed, img, sp, width, height, static=static,
                                           horizon_ms=self._horizons(batch), inputs=inputs)
        mask, dmask = out["mask"], out["dur_mask"]
        n_fix = mask.sum().clamp(min=1)
        ll = out["spatial"][mask].sum() + out["duration"][dmask].sum() + out["censor"].sum()
        loss = -ll / n_fix
        loc, scale = float(self.logd_loc), float(self.logd_scale)
        lognormal = (-0.5 * ((out["log_d"] - loc) / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi))
                     - out["log_d"])
        if stage != "train":  # val/test: sums and counts over the epoch and every rank (see _epoch_means)
            acc = self._epoch_means(stage)
            acc.add("nll", -ll, mask.sum())
            acc.add_values("ig_cb_bits", (out["spatial"] - out["cb"])[mask] / LN2)
            acc.add_values("dur_gain_nats", (out["duration"] - lognormal)[dmask])
            return loss
        bs = len(sp)
        self.log(f"{stage}/nll", loss, prog_bar=True, batch_size=bs)
        self.log(f"{stage}/ig_cb_bits", ((out["spatial"] - out["cb"])[mask].mean() / LN2), prog_bar=True,
                 batch_size=bs)
        if dmask.any():
            self.log(f"{stage}/dur_gain_nats", (out["duration"] - lognormal)[dmask].mean(), prog_bar=True,
                     batch_size=bs)
        return loss

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params) if self.optimizer_factory else torch.optim.AdamW(params, lr=2e-3,
                                                                                             weight_decay=1e-4)
        if not self.hparams.cosine_schedule:
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                    total_steps=total, pct_start=0.05, anneal_strategy="cos")
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

@register_model("tpp", predicts=("positions", "durations", "density"), inputs=("image",), weights=SHIPPED,
                formats=FORMATS,
                description="temporal point-process free-viewing model (positions + durations, likelihood-trained)")
def tpp(checkpoint: dict | None = None, **kwargs) -> TPPGaze:
    """A fresh model from ``kwargs`` (random init, for training), or one read from a checkpoint (``pretrained=``
    a shipped tag, ``"osie"`` or ``"freeview"``, or a checkpoint path; see :func:`gazekit.models.create_model`)."""
    if checkpoint is not None:
        return TPPGaze.from_checkpoint(checkpoint, **kwargs)
    return TPPGaze(**kwargs)


@register_model("tpp-freeview", predicts=("positions", "durations", "density"), inputs=("image",),
                weights=SHIPPED, default_weights="freeview", formats=FORMATS,
                description="TPP gaze trained on OSIE + EyeCrowd + NUS-SUN500 with the saliency-freeview map as "
                            "image term (shipped, offline; the default of gazekit predict)")
def tpp_freeview(checkpoint: dict | None = None, **kwargs) -> TPPGaze:
    if checkpoint is None:
        raise InvalidInputError("tpp-freeview is the trained model: it needs its weights (pretrained='freeview'); "
                                "use 'tpp' for a fresh model")
    return TPPGaze.from_checkpoint(checkpoint, **kwargs)


@register_model("tpp-osie", predicts=("positions", "durations", "density"), inputs=("image",),
                weights=SHIPPED, default_weights="osie", formats=FORMATS,
                description="TPP gaze trained on OSIE (shipped, offline)")
def tpp_osie(checkpoint: dict | None = None, **kwargs) -> TPPGaze:
    if checkpoint is None:
        raise InvalidInputError("tpp-osie is the trained model: it needs its weights (pretrained='osie'); use "
                                "'tpp' for a fresh model")
    return TPPGaze.from_checkpoint(checkpoint, **kwargs)


TINY = {"backbone": "lcnet_050", "input_width": 96, "input_height": 64, "feature_dim": 8, "hidden_dim": 16,
        "head_dim": 8, "duration_components": 2, "max_fixations": 12}


@register_model("tpp-tiny", predicts=("positions", "durations", "density"), inputs=("image",), formats=FORMATS,
                description="a tiny randomly initialised TPP model for tests")
def tpp_tiny(checkpoint: dict | None = None, **kwargs) -> TPPGaze:
    if checkpoint is not None:
        return TPPGaze.from_checkpoint(checkpoint, **kwargs)
    return TPPGaze(**{**TINY, **kwargs})
