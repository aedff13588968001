"""The static saliency model, trainable: :class:`SaliencyModel` is :class:`gazekit.models.saliency_core.SaliencyNet`
(see there for the model) plus training by fixation log-likelihood as a LightningModule.

Train with :class:`gazekit.models.saliency_data.SaliencyDataModule` (``gazekit train --config
configs/saliency_freeview.yaml``); ``python -m gazekit.models.export CKPT OUT`` writes the weights-only
file the package ships. Registered models: ``saliency`` (a fresh model or a checkpoint path) and
``saliency-freeview`` (shipped, trained on OSIE + EyeCrowd + NUS-SUN500; the default map model) and ``saliency-osie``
(shipped, OSIE only).

Training likelihood: each image's density is evaluated on a pixel grid twice as fine as the readout grid (so the
loss sees the bilinear upsampling); ``ig_uniform_bits`` is the mean log-density per fixation relative to the
uniform density, in bits (independent of the image size).
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models._epoch_means import ValTestEpochMeans
from gazekit.models.base import SharedStageStep
from gazekit.models.registry import WeightSpec, register_model
from gazekit.models.saliency_core import LN2, SaliencyNet
from gazekit.models.saliency_features import GROUPS, grid_shape

# Shipped weights (sha256-checked on every load by the registry).
OSIE_WEIGHTS = WeightSpec("osie", "saliency-osie.pt", "246534439d070b6065256c621a2e6acc91dbdcf7bec4e0152c1c7c4ed93a135f",
                            fast="gazekit.models.saliency_core:load_fast")
FREEVIEW_WEIGHTS = WeightSpec("freeview", "saliency-freeview.pt",
                              "e9ab7f161442f123f4c918e7329f439f59b0b504d4604579fe9841c10383e31a",
                              fast="gazekit.models.saliency_core:load_fast")
SHIPPED: tuple[WeightSpec, ...] = (OSIE_WEIGHTS, FREEVIEW_WEIGHTS)


class SaliencyModel(ValTestEpochMeans, SharedStageStep, SaliencyNet, pl.LightningModule):
    """:class:`SaliencyNet` with training (arguments as there, plus ``optimizer``: an OptimizerCallable, default
    AdamW lr 3e-3, weight decay 1e-3; ``mirror``: the probability that a training batch is replaced by its
    left-right mirror, :func:`gazekit.models.saliency_data.mirror_batch`)."""

    epoch_mean_names = epoch_mean_prog_bar = ("nll", "ig_uniform_bits")  # per fixation (ValTestEpochMeans)

    def __init__(self, groups: tuple[str, ...] = GROUPS, backbone_side: int = 384, grid: int = 80,
                 hidden: int = 16, dropout: float = 0.1, blur_init: float = 0.015, context: int = 0,
                 priors: tuple[str, ...] = (), mirror: float = 0.0, optimizer: OptimizerCallable | None = None):
        super().__init__(groups=tuple(groups), backbone_side=backbone_side, grid=grid, hidden=hidden,
                         dropout=dropout, blur_init=blur_init, context=context, priors=tuple(priors))
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        if not 0.0 <= mirror <= 1.0:
            raise InvalidInputError(f"mirror is a probability in [0, 1], got {mirror}")
        self.mirror = float(mirror)

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if "deep" in self.groups and dm is not None and hasattr(dm, "split"):
            from gazekit.models.saliency_data import FixationImages

            train = dm.split("train")
            data = FixationImages(train[:: max(1, len(train) // 64)], dm.cache_dir)  # up to ~64 spread images
            self.fit_deep_statistics([data[i] for i in range(len(data))])

    @torch.no_grad()
    def fit_deep_statistics(self, items: list[dict], max_images: int = 128) -> None:
        """Per-channel mean and standard deviation of the backbone levels over (up to ``max_images``) training
        images, used to standardise them."""
        key = f"deep{self.cfg.backbone_side}"
        for k in range(3):
            levels = [it["features"][key][k].float().flatten(1) for it in items[:max_images]]
            if not levels:
                return
            cat = torch.cat(levels, 1)
            getattr(self, f"deep_mean{k}").copy_(cat.mean(1))
            getattr(self, f"deep_std{k}").copy_(cat.std(1) + 1e-3)

    def batch_log_likelihood(self, batch: dict) -> Tensor:
        """Per-fixation log-density relative to uniform (nats) of a :func:`collate_same_size` batch, on the
        training grid (twice as fine as the readout grid); fixations of all images concatenated."""
        feats = batch["features"]
        gh, gw = grid_shape(*feats["size"], self.cfg.grid)
        th, tw = 2 * gh, 2 * gw
        prior = None
        if len(self.cfg.priors) > 1:  # each image scored with its own data set's centre-bias prior
            names = batch.get("dataset_names")
            if names is None:
                raise InvalidInputError("a model with per-data-set priors needs batches naming each image's data set")
            prior = torch.tensor([self.prior_index(n) for n in names])
        ld = self.log_density(feats, (th, tw), prior)
        out = []
        for b, uv in enumerate(batch["fixations"]):
            uv = uv.to(ld.device)
            xi = (uv[:, 0] * tw).long().clamp(0, tw - 1)
            yi = (uv[:, 1] * th).long().clamp(0, th - 1)
            out.append(ld[b, yi, xi])
        return torch.cat(out) + math.log(th * tw)

    def _step(self, batch: dict, stage: str) -> Tensor:
        if not isinstance(batch, dict) or "features" not in batch:
            raise InvalidInputError("SaliencyModel trains on SaliencyDataModule batches (collate_same_size)")
        ll = self.batch_log_likelihood(batch)
        loss = -ll.mean()
        if stage != "train":  # val/test: per-fixation sums and counts over the epoch and every rank
            acc = self._epoch_means(stage)
            acc.add_values("nll", -ll)
            acc.add_values("ig_uniform_bits", ll / LN2)
            return loss
        self.log(f"{stage}/nll", loss, prog_bar=True, batch_size=len(ll))
        self.log(f"{stage}/ig_uniform_bits", ll.mean() / LN2, prog_bar=True, batch_size=len(ll))
        return loss

    def training_step(self, batch, batch_idx):
        if self.mirror and float(torch.rand(())) < self.mirror:
            from gazekit.models.saliency_data import mirror_batch

            batch = mirror_batch(batch)
        return self._step(batch, "train")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_factory:
            return self.optimizer_factory(params)
        return torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-3)


def _shipped(name: str, tag: str, checkpoint: dict | None, kwargs: dict) -> SaliencyModel:
    """A registered trained model: built only from its checkpoint (there is no fresh one to build)."""
    if checkpoint is None:
        raise InvalidInputError(f"{name} is the trained model: it needs its weights (pretrained={tag!r}); use "
                                "'saliency' for a fresh model")
    return SaliencyModel.from_checkpoint(checkpoint, **kwargs)


FORMATS = (SaliencyNet.checkpoint_format, "gazekit.models.saliency.SaliencyModel")


@register_model("saliency", predicts=("density",), inputs=("image",), weights=SHIPPED, formats=FORMATS,
                description="static saliency: image -> normalised fixation log-density (DeepGaze II recipe)")
def saliency(checkpoint: dict | None = None, **kwargs) -> SaliencyModel:
    """A fresh model from ``kwargs`` (for training) or one read from a checkpoint (``pretrained=`` a shipped tag or
    a checkpoint path; see :func:`gazekit.models.create_model`)."""
    if checkpoint is not None:
        return SaliencyModel.from_checkpoint(checkpoint, **kwargs)
    return SaliencyModel(**kwargs)


@register_model("saliency-osie", predicts=("density",), inputs=("image",), weights=SHIPPED,
                default_weights="osie", formats=FORMATS, description="static saliency trained on OSIE (shipped): image -> normalised fixation log-density for gazekit predict --maps")
def saliency_osie(checkpoint: dict | None = None, **kwargs) -> SaliencyModel:
    """The shipped static saliency model trained on the OSIE training split (see docs/saliency.md)."""
    return _shipped("saliency-osie", "osie", checkpoint, kwargs)


@register_model("saliency-freeview", predicts=("density",), inputs=("image",), weights=SHIPPED,
                default_weights="freeview", formats=FORMATS,
                description="static saliency trained on OSIE + EyeCrowd + NUS-SUN500, with MTCNN faces (shipped; the "
                            "default map model of gazekit predict --maps)")
def saliency_freeview(checkpoint: dict | None = None, **kwargs) -> SaliencyModel:
    """The shipped static saliency model trained on the training splits of OSIE, EyeCrowd and NUS-SUN500 on the
    ``low``, ``mtcnn`` (faces), ``text`` and ``deep`` features, with a centre-bias prior per data set (OSIE's is used
    for new images; see docs/saliency.md)."""
    return _shipped("saliency-freeview", "freeview", checkpoint, kwargs)
