"""OAT: object-level attention transformer for search scanpaths (after Fang et al., ECCV 2024).

A scanpath is a sequence of fixated *objects*. The encoder sees one token per object (appearance embedding of
its crop + a learned 2-D positional encoding of its centre) and one target token (the target template's
appearance); an autoregressive transformer decoder reads the objects fixated so far and a pointer head picks the
next object or the stop slot. Trained with teacher forcing (cross-entropy over objects + stop). An optional
log-normal head gives every fixation a duration (OAT itself has none).

Units: boxes and outputs in pixels of the input image (origin top-left), durations in ms. Object positions
inside the network are box centres divided by the image width / height.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models._epoch_means import ValTestEpochMeans
from gazekit.models.base import PredictRequest, ScanpathPredictMixin, generator_for
from gazekit.models.oat_layers import (
    GaussianPositionalEncoding,
    PointerHead,
    build_appearance,
    check_boxes,
    crop_objects,
    resize_template,
    sinusoidal,
)
from gazekit.models.registry import WeightSpec, register_model
from gazekit.scanpaths import Scanpaths

__all__ = ["OAT", "load_oat", "oat"]

IGNORE = -100


class OAT(ValTestEpochMeans, ScanpathPredictMixin, pl.LightningModule):
    """Object-level scanpath transformer (a LightningModule; ``task_kind = "object_search"``).

    Args:
        dim: model width d. enc_layers / dec_layers / heads / ffn: transformer sizes.
        crop_size: side (px) of the object and template crops fed to the appearance network.
        appearance: ``"small_cnn"`` (the paper's CNN) or ``"timm:<model>"``.
        pe_bins / pe_sigma: rows of the learned position table per axis and the Gaussian width (in rows) its
            similarity is trained towards. pe_weight: weight of that regulariser in the loss.
        pointer_heads: heads of the pointer scorer. dropout: transformer dropout.
        duration_head: predict log-normal durations; duration_weight: weight of their NLL in the loss.
        max_fixations: decoding cap when the request gives none. lr: AdamW learning rate when trained outside
            LightningCLI (a config's ``optimizer:`` replaces it).
    """

    task_kind = "object_search"
    # val/test: means over every step, duration and batch of the epoch on every rank (ValTestEpochMeans)
    epoch_mean_names = ("ce", "pe", "duration_nll", "acc")
    epoch_mean_prog_bar = (*epoch_mean_names, "loss")  # loss: derived_epoch_means

    def __init__(self, dim: int = 64, enc_layers: int = 2, dec_layers: int = 2, heads: int = 4, ffn: int = 128,
                 crop_size: int = 32, appearance: str = "small_cnn", pe_bins: int = 16, pe_sigma: float = 2.0,
                 pe_weight: float = 0.1, pointer_heads: int = 2, dropout: float = 0.1, duration_head: bool = True,
                 duration_weight: float = 0.1, max_fixations: int = 20, lr: float = 1e-3):
        super().__init__()
        if dim % 4 or dim % heads:
            raise InvalidInputError(f"dim ({dim}) must be divisible by 4 and by heads ({heads})")
        self.save_hyperparameters()
        half = dim // 2
        self.appearance = build_appearance(appearance, half, crop_size)
        self.pos = GaussianPositionalEncoding(pe_bins, dim // 4, pe_sigma)
        self.token_type = nn.Embedding(2, dim)  # 0 = object, 1 = target
        self.target_pos = nn.Parameter(torch.zeros(half))
        # top-down modulation: each object token also sees (object appearance * target appearance), so
        # target matching does not have to be discovered through attention alone (as in eccNet's modulation)
        self.modulation = nn.Linear(half, dim)
        enc = nn.TransformerEncoderLayer(dim, heads, ffn, dropout, batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(dim, heads, ffn, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, enc_layers, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, dec_layers)
        self.start = nn.Parameter(torch.randn(dim) * 0.02)  # the pre-search fixation (screen centre)
        self.pointer = PointerHead(dim, pointer_heads)
        self.duration = nn.Linear(dim, 2) if duration_head else None

    # ------------------------------------------------------------------ network
    def embed(self, batch: dict) -> tuple[Tensor, Tensor]:
        """Appearance of objects ``[B, N, d/2]`` and target ``[B, d/2]`` from ``crops``/``target_crops`` or from a
        shared ``crop_bank`` indexed by ``object_ids``/``target_ids`` (embeds each distinct crop once)."""
        if "crop_bank" in batch:
            bank = self.appearance(batch["crop_bank"])
            return bank[batch["object_ids"]], bank[batch["target_ids"]]
        b, n = batch["crops"].shape[:2]
        flat = torch.cat([batch["crops"].flatten(0, 1), batch["target_crops"]])
        emb = self.appearance(flat)
        return emb[: b * n].view(b, n, -1), emb[b * n:]

    def encode(self, batch: dict) -> Tensor:
        """Encoder memory ``[B, N + 1, d]``: the N object tokens, then the target token."""
        obj, tgt = self.embed(batch)
        c = batch["centres"]
        pos = torch.cat([self.pos(c[..., 0]), self.pos(c[..., 1])], -1)
        tokens = torch.cat([obj, pos], -1) + self.modulation(obj * tgt[:, None]) + self.token_type.weight[0]
        target = torch.cat([tgt, self.target_pos.expand_as(tgt)], -1) + self.token_type.weight[1]
        x = torch.cat([tokens, target[:, None]], 1)
        pad = torch.cat([~batch["object_mask"], torch.zeros_like(batch["object_mask"][:, :1])], 1)
        return self.encoder(x, src_key_padding_mask=pad)

    def step_outputs(self, memory: Tensor, object_mask: Tensor, prefix: Tensor) -> tuple[Tensor, Tensor | None]:
        """Logits ``[B, T + 1, N + 1]`` (column N = stop) and log-normal duration parameters ``[B, T + 1, 2]`` for
        every step, given the ``[B, T]`` object indices fixated so far (entries < 0 are padding)."""
        b, t = prefix.shape
        n = object_mask.shape[1]
        gathered = torch.gather(memory[:, :n], 1, prefix.clamp(min=0)[..., None].expand(-1, -1, memory.shape[-1]))
        x = torch.cat([self.start.expand(b, 1, -1), gathered], 1) + sinusoidal(t + 1, memory.shape[-1], memory.device)
        causal = torch.triu(torch.ones(t + 1, t + 1, dtype=torch.bool, device=memory.device), 1)
        pad = torch.cat([~object_mask, torch.zeros_like(object_mask[:, :1])], 1)
        h = self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=pad)
        logits = self.pointer(h, memory[:, :n], object_mask)
        return logits, (self.duration(h) if self.duration is not None else None)

    # ------------------------------------------------------------------ training
    def _teacher_forced(self, batch: dict) -> dict:
        """Step logits ``[B, T + 1, N + 1]``, their ``target`` object/stop indices (``IGNORE`` where unknown) and,
        with a duration head and durations, the per-duration NLL ``duration_items`` (up to a constant)."""
        fix, lengths = batch["fixations"], batch["lengths"]
        memory = self.encode(batch)
        logits, dur = self.step_outputs(memory, batch["object_mask"], fix)
        b, t1, n1 = logits.shape
        steps = torch.arange(t1, device=fix.device)[None]
        fix_ext = torch.cat([fix, fix.new_full((b, 1), -1)], 1)
        target = torch.where(steps < lengths[:, None], fix_ext, torch.full_like(fix_ext, IGNORE))
        stop = torch.full_like(target, n1 - 1)
        if "stop_known" in batch:  # a scanpath cut to max_len has no observed stop
            stop = torch.where(batch["stop_known"][:, None], stop, IGNORE)
        out = {"logits": logits, "target": torch.where(steps == lengths[:, None], stop, target)}
        if dur is not None and "durations" in batch:
            d = torch.cat([batch["durations"], batch["durations"].new_full((b, 1), math.nan)], 1)
            ok = torch.isfinite(d) & (d > 0)
            mu, log_sigma = dur[..., 0][ok], dur[..., 1][ok].clamp(-3, 3)
            z = (d[ok].log() - mu) / log_sigma.exp()
            out["duration_items"] = 0.5 * z**2 + log_sigma + d[ok].log()
        return out

    def losses(self, batch: dict) -> dict:
        """Teacher-forced losses of a batch: ``ce`` (cross-entropy over the objects and stop), ``pe`` (the positional-
        encoding regulariser), ``duration_nll`` when the model has a duration head, the weighted total ``loss`` and
        the next-step accuracy ``acc``.
        """
        tf = self._teacher_forced(batch)
        logits, target = tf["logits"], tf["target"]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)
        out = {"ce": ce, "pe": self.pos.regulariser()}
        loss = ce + self.hparams.pe_weight * out["pe"]
        if "duration_items" in tf and len(tf["duration_items"]):
            out["duration_nll"] = tf["duration_items"].mean()  # + const
            loss = loss + self.hparams.duration_weight * out["duration_nll"]
        with torch.no_grad():
            valid = target != IGNORE
            out["acc"] = (logits.argmax(-1)[valid] == target[valid]).float().mean()
        out["loss"] = loss
        return out

    def training_step(self, batch, batch_idx):
        out = self.losses(batch)
        self.log_dict({f"train/{k}": v for k, v in out.items()}, prog_bar=True, batch_size=len(batch["lengths"]))
        return out["loss"]

    def _evaluation_step(self, batch: dict, stage: str) -> None:
        """Add the batch's items to the epoch sums (:class:`ValTestEpochMeans`): ``ce`` and ``acc`` per known step,
        ``duration_nll`` per known duration, ``pe`` (the same for every batch) per batch."""
        tf = self._teacher_forced(batch)
        logits, target = tf["logits"], tf["target"]
        valid = target != IGNORE
        sums = self._epoch_means(stage)
        sums.add_values("ce", F.cross_entropy(logits[valid], target[valid], reduction="none"))
        sums.add_values("acc", (logits.argmax(-1)[valid] == target[valid]).double())
        sums.add("pe", self.pos.regulariser(), 1)
        if "duration_items" in tf:
            sums.add_values("duration_nll", tf["duration_items"])

    def derived_epoch_means(self, means: dict[str, float]) -> dict[str, float]:
        """``loss`` of the whole epoch: the training loss's formula on the epoch's pooled means."""
        if math.isnan(means["ce"]):
            return {}
        nll = means["duration_nll"]
        return {"loss": means["ce"] + self.hparams.pe_weight * means["pe"]
                + (0.0 if math.isnan(nll) else self.hparams.duration_weight * nll)}

    def validation_step(self, batch, batch_idx):
        self._evaluation_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluation_step(batch, "test")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Scanpaths:
        """Object-array trial batches (:class:`~gazekit.datasets.objarray_trials.ObjArrayDataModule`) are decoded
        as they are; ``(images, Scanpaths)`` or request-dict batches go through the shared predict step."""
        if not (isinstance(batch, dict) and "crop_bank" in batch):
            return super().predict_step(batch, batch_idx, dataloader_idx)
        opt = self.predict_options
        seed = None if opt.seed is None else int(opt.seed) + int(batch_idx)
        decoded = self.decode(batch, opt.n_samples, opt.temperature, opt.max_fixations,
                              generator_for(seed, self.device))
        return trials_to_scanpaths(batch, decoded, opt.n_samples)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def decode(self, batch: dict, n_samples: int = 1, temperature: float = 1.0, max_fixations: int | None = None,
               generator: torch.Generator | None = None) -> dict:
        """Decode ``n_samples`` object sequences per layout in one batched loop (``temperature == 0``: greedy:
        the most likely object at each step, and the stop slot once the model's probability of having stopped
        by this step reaches 1/2; at most ``max_fixations`` steps either way).

        Returns ``objects`` ``[B * n_samples, L]`` (object indices, -1 after the end; row ``i * n_samples + k`` is
        sample k of layout i), ``lengths``, ``stopped`` (True where the stop slot ended the sequence rather than
        the ``max_fixations`` cap) and ``durations`` ``[B * n_samples, L]`` ms (NaN without a duration head).
        """
        if n_samples < 1:
            raise InvalidInputError(f"n_samples must be >= 1, got {n_samples}")
        if not (temperature >= 0 and math.isfinite(temperature)):
            raise InvalidInputError(f"temperature must be a finite number >= 0, got {temperature}")
        cap = int(max_fixations if max_fixations is not None else self.hparams.max_fixations)
        if cap < 1:
            raise InvalidInputError(f"max_fixations must be >= 1, got {cap}")
        was_training = self.training
        self.eval()
        memory = self.encode(batch).repeat_interleave(n_samples, 0)
        mask = batch["object_mask"].repeat_interleave(n_samples, 0)
        m, n = mask.shape
        objects = torch.full((m, 0), -1, dtype=torch.long, device=memory.device)
        durations = torch.zeros(m, 0, dtype=torch.float64, device=memory.device)
        done = torch.zeros(m, dtype=torch.bool, device=memory.device)
        stopped = torch.zeros_like(done)
        log_survival = torch.zeros(m, dtype=torch.float64, device=memory.device)  # log P(no stop yet)
        for _ in range(cap):
            logits, dur = self.step_outputs(memory, mask, objects)
            last = logits[:, -1].float()
            if temperature == 0:
                # argmax alone never stops while one object outscores the stop slot, so a target-absent search
                # could refixate until the cap; stop, as sampling does in distribution, once the model's own
                # per-step stop probabilities along this path make stopping-by-now more likely than not (the
                # median stopping time)
                log_survival += torch.log1p(-torch.softmax(last.double(), -1)[:, n].clamp(max=1 - 1e-12))
                choice = torch.where(log_survival <= -math.log(2.0), n, last.argmax(-1))
            else:
                probs = torch.softmax(last / temperature, -1)
                choice = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            is_stop = choice == n
            stopped |= is_stop & ~done
            done |= is_stop
            objects = torch.cat([objects, torch.where(done, -1, choice)[:, None]], 1)
            durations = torch.cat([durations, self._durations(dur, temperature, generator, m)[:, None]], 1)
            if done.all():
                break
        lengths = (objects >= 0).sum(1)
        self.train(was_training)
        return {"objects": objects, "lengths": lengths, "stopped": stopped,
                "durations": durations}

    def _durations(self, dur: Tensor | None, temperature: float, generator, m: int) -> Tensor:
        if dur is None:
            return torch.full((m,), math.nan, dtype=torch.float64, device=self.device)
        mu, sigma = dur[:, -1, 0].double(), dur[:, -1, 1].clamp(-3, 3).exp().double()
        if temperature == 0:
            return mu.exp()  # the median
        eps = torch.randn(mu.shape, generator=generator, dtype=torch.float64, device=mu.device)
        return (mu + sigma * eps).exp()

    # ------------------------------------------------------------------ the gazekit model contract
    def prepare(self, images: Tensor, boxes: list, templates: list | None = None,
                target_index: list | None = None) -> dict:
        """Validate a request's objects and build the network batch (crops, centres, masks)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise InvalidInputError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
        b, _, h, w = images.shape
        if boxes is None or len(boxes) != b:
            raise InvalidInputError(f"OAT needs one [N, 4] box array per image: got "
                                    f"{'none' if boxes is None else len(boxes)} for {b} image(s)")
        if templates is None and target_index is None:
            raise InvalidInputError("OAT needs the target: give a template per image (templates=...) or the "
                                    "index of the target among the boxes (target_index=...)")
        size = self.hparams.crop_size
        checked = [check_boxes(bx, w, h, where=f"boxes of image {i}") for i, bx in enumerate(boxes)]
        n = max(len(bx) for bx in checked)
        crops = images.new_zeros(b, n, 3, size, size)
        centres = images.new_zeros(b, n, 2)
        mask = torch.zeros(b, n, dtype=torch.bool)
        target_crops = []
        for i, bx in enumerate(checked):
            crops[i, : len(bx)] = crop_objects(images[i], bx, size)
            centres[i, : len(bx), 0] = (bx[:, 0] + bx[:, 2]) / 2 / w
            centres[i, : len(bx), 1] = (bx[:, 1] + bx[:, 3]) / 2 / h
            mask[i, : len(bx)] = True
            if templates is not None and templates[i] is not None:
                target_crops.append(resize_template(torch.as_tensor(templates[i]), size))
            else:
                k = _target_index(target_index, i, len(bx))
                target_crops.append(crops[i, k])
        return {"crops": crops, "target_crops": torch.stack(target_crops), "centres": centres, "object_mask": mask,
                "boxes": checked}

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Scanpaths for ``request`` (needs ``boxes`` and ``templates`` or ``target_index``): each fixation is
        the centre of the chosen object's box; ``fixation_attrs["object"]`` is the index into that image's boxes.
        ``temperature == 0`` decodes greedily. ``t_start`` is NaN (the model predicts no saccade times).

        The fast path (what the object-search evaluation sends): ``request.extra`` holds ``crop_bank``
        ``[K, 3, S, S]`` (object and template crops, ``S = crop_size``), ``object_ids`` ``[B, N]`` and
        ``target_ids`` ``[B]`` (rows of the bank), ``centres`` ``[B, N, 2]`` (box centres / image size) and
        ``image_size`` ``(w, h)``; ``request.boxes`` still give the fixation positions and ``images`` may be None.
        """
        if request.target_index is not None and len(request.target_index) != len(request.image_names):
            raise InvalidInputError(f"target_index has {len(request.target_index)} entries for "
                                    f"{len(request.image_names)} images")
        dev = self.device
        if "crop_bank" in request.extra:  # the fast path: objects already cropped (one bank shared by all trials)
            net, boxes, (w, h) = self._bank_batch(request)
        else:
            templates = request.templates
            if templates is None and request.target_text is not None and request.target_index is None:
                templates = [_template_from_text(t) for t in request.target_text]
            batch = self.prepare(request.images, request.boxes, templates, request.target_index)
            net, boxes = {k: v for k, v in batch.items() if k != "boxes"}, batch["boxes"]
            h, w = request.images.shape[-2:]
        net = {k: v.to(dev) for k, v in net.items()}
        out = self.decode(net, request.n_samples, request.temperature, request.max_fixations,
                          generator_for(request.seed, dev, request.generator))
        objects, lengths = out["objects"].cpu(), out["lengths"].cpu()
        xs, ys, ds, obj, names, tboxes, cond = [], [], [], [], [], [], []
        for row in range(len(objects)):
            i = row // request.n_samples
            bx = boxes[i].double()
            idx = objects[row, : int(lengths[row])]
            xs.append(((bx[idx, 0] + bx[idx, 2]) / 2).numpy())
            ys.append(((bx[idx, 1] + bx[idx, 3]) / 2).numpy())
            ds.append(out["durations"][row, : len(idx)].cpu().numpy())
            obj.append(idx.double().numpy())
            names.append(request.image_names[i])
            has_t = request.target_index is not None and request.target_index[i] is not None
            tboxes.append(bx[request.target_index[i]].numpy() if has_t else [math.nan] * 4)
            cond.append("present" if has_t else "")
        return Scanpaths.from_sequences(
            xs, ys, None, ds, dataset="oat", image=names, subject=[f"oat-{k % request.n_samples}" for k in
                                                                   range(len(names))],
            condition=cond, target_box=np.asarray(tboxes, dtype=np.float64).reshape(-1, 4),
            image_size=[float(w), float(h)], fixation_attrs={"object": obj},
            scanpath_attrs={"stopped": [str(bool(s)).lower() for s in out["stopped"].tolist()]})

    def _bank_batch(self, request: PredictRequest) -> tuple[dict, list[Tensor], tuple[float, float]]:
        ex = request.extra
        missing = [k for k in ("object_ids", "target_ids", "centres", "image_size") if k not in ex]
        if missing or request.boxes is None:
            missing += [] if request.boxes is not None else ["boxes"]
            raise InvalidInputError(f"a crop-bank request also needs {missing}")
        ids = torch.as_tensor(ex["object_ids"])
        net = {"crop_bank": ex["crop_bank"], "object_ids": ids, "target_ids": torch.as_tensor(ex["target_ids"]),
               "centres": ex["centres"], "object_mask": ex.get("object_mask", torch.ones(ids.shape, dtype=torch.bool))}
        w, h = (float(v) for v in ex["image_size"])
        return net, [torch.as_tensor(b) for b in request.boxes], (w, h)

    @property
    def crop_size(self) -> int:
        """Side (px) of the object crops the appearance network reads (a crop bank must use it)."""
        return int(self.hparams.crop_size)

    # ------------------------------------------------------------------ persistence
    checkpoint_format = "gazekit-oat"

    def save_checkpoint(self, path: str | Path) -> str:
        """Write ``{"format": "gazekit-oat", "config": hyper-parameters, "state_dict"}`` to ``path`` (atomically);
        returns its sha256. Read it back with :func:`gazekit.models.load_checkpoint`."""
        from gazekit.models._checkpoint import save_torch

        return save_torch({"format": self.checkpoint_format, "config": dict(self.hparams),
                           "state_dict": self.state_dict()}, path)

    @classmethod
    def from_checkpoint(cls, state: dict, *, source: str = "checkpoint", **overrides) -> OAT:
        """From a :meth:`save_checkpoint` dict or a Lightning ``.ckpt`` of an OAT model; ``overrides`` replace
        stored hyper-parameters (e.g. ``max_fixations``)."""
        if state.get("format") == cls.checkpoint_format:
            config, weights = dict(state["config"]), state["state_dict"]
        elif "state_dict" in state and "hyper_parameters" in state:
            config, weights = dict(state["hyper_parameters"]), state["state_dict"]
        else:
            raise InvalidInputError(f"{source!r} is not an OAT checkpoint")
        config.update(overrides)
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        model = cls(**{k: v for k, v in config.items() if k in known})  # LightningCLI adds _class_path etc.
        model.load_state_dict(weights)
        return model.eval()


def trials_to_scanpaths(batch: dict, decoded: dict, n_samples: int) -> Scanpaths:
    """Decoded object sequences (:meth:`OAT.decode` on a :func:`~gazekit.datasets.objarray_trials.collate_trials`
    batch) as scanpaths in screen pixels: each fixation at the centre of the chosen array position; row
    ``i * n_samples + k`` is sample k of trial i, named after the trial's shown array (``image``)."""
    from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_centres

    objects, lengths = decoded["objects"].cpu(), decoded["lengths"].cpu()
    centres = torch.from_numpy(object_centres())  # float64 px; the batch holds them screen-normalised in float32
    info = [batch["info"][row // n_samples] for row in range(len(objects))]
    idx = [objects[row, : int(lengths[row])] for row in range(len(objects))]
    return Scanpaths.from_sequences(
        [centres[i, 0].numpy() for i in idx], [centres[i, 1].numpy() for i in idx], None,
        [decoded["durations"][row, : len(i)].cpu().numpy() for row, i in enumerate(idx)], dataset="oat",
        image=[d["image"] for d in info], subject=[f"oat-{row % n_samples}" for row in range(len(objects))],
        trial=[d["trial"] for d in info], task=[d["task"] for d in info], condition=[d["condition"] for d in info],
        target_box=np.asarray([d["target_box"] for d in info], dtype=np.float64).reshape(-1, 4),
        image_size=[float(SCREEN_W), float(SCREEN_H)], fixation_attrs={"object": [i.double().numpy() for i in idx]},
        scanpath_attrs={"stopped": [str(bool(s)).lower() for s in decoded["stopped"].tolist()]})


def _template_from_text(text: str | None) -> Tensor:
    """OAT's target is an image: a ``target_text`` entry must be the path of the target's image file."""
    from gazekit.images import load_image

    if text is None or not Path(str(text)).expanduser().is_file():
        raise InvalidInputError(f"OAT needs the target as an image (template); {text!r} is not an image file. Pass "
                                "--template FILE (or --target FILE), or a target index in the boxes JSON")
    return load_image(Path(str(text)).expanduser())


def _target_index(target_index, i: int, n: int) -> int:
    if target_index is None or target_index[i] is None:
        raise InvalidInputError(f"image {i}: no template and no target_index; OAT needs the target")
    k = target_index[i]
    if isinstance(k, bool) or not isinstance(k, int) and not (torch.is_tensor(k) and k.numel() == 1):
        raise InvalidInputError(f"image {i}: target_index must be an int, got {k!r}")
    k = int(k)
    if not 0 <= k < n:
        raise InvalidInputError(f"image {i}: target_index {k} is not among the {n} objects (valid: 0..{n - 1})")
    return k


def load_oat(path: str | Path, *, trust: str | None = None, **overrides) -> OAT:
    """Load an OAT checkpoint file (:meth:`OAT.save_checkpoint` or a Lightning ``.ckpt``) with the weights-only
    reader (``trust``, the sha256 of a file you reviewed: see docs/security.md). A file named
    ``<name>-<8 hex>.pt`` must have a SHA-256 starting with those hex digits (corrupt downloads are refused)."""
    from gazekit.models._checkpoint import read_checkpoint, sha256_of

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"OAT checkpoint {str(path)!r} does not exist")
    stem_hash = path.stem.rsplit("-", 1)[-1]
    if len(stem_hash) == 8 and all(c in "0123456789abcdef" for c in stem_hash):
        digest = sha256_of(path.read_bytes())
        if not digest.startswith(stem_hash):
            raise InvalidInputError(f"{str(path)!r}: content hash {digest[:8]} does not match the name ({stem_hash})")
    state, _ = read_checkpoint(path, trust=trust)
    return OAT.from_checkpoint(state, source=str(path), **overrides)


# The shipped weights (trained on the object-array data, split by layout); sha256 checked on every load.
OBJARRAY_WEIGHTS = WeightSpec("objarray", "oat-objarray-670ca831.pt",
                              "670ca8311083db9d95c6be7da482944b60e89f20b23eaa623e307c26e6d66ccd")
FORMATS = (OAT.checkpoint_format, "gazekit.models.oat.OAT")


@register_model("oat", predicts=("positions", "durations", "stop"), inputs=("image", "boxes", "target_template"),
                weights=(OBJARRAY_WEIGHTS,), formats=FORMATS,
                description="object-level scanpath transformer (OAT, ECCV'24)")
def oat(checkpoint: dict | None = None, **kwargs) -> OAT:
    """OAT; kwargs set the architecture, or, with weights (``pretrained=`` a shipped tag such as ``"objarray"`` or
    a checkpoint path), override stored hyper-parameters such as ``max_fixations``."""
    if checkpoint is None:
        return OAT(**kwargs)
    return OAT.from_checkpoint(checkpoint, **kwargs)


@register_model("oat-tiny", predicts=("positions", "durations", "stop"), inputs=("image", "boxes", "target_template"),
                formats=FORMATS, description="a tiny OAT for tests (d 32, one layer each)")
def oat_tiny(checkpoint: dict | None = None, **kwargs) -> OAT:
    cfg = {"dim": 32, "enc_layers": 1, "dec_layers": 1, "heads": 2, "ffn": 64, "crop_size": 16, "pe_bins": 8}
    return oat(checkpoint, **kwargs) if checkpoint is not None else oat(None, **{**cfg, **kwargs})


@register_model("oat-objarray", predicts=("positions", "durations", "stop"),
                inputs=("image", "boxes", "target_template"), weights=(OBJARRAY_WEIGHTS,), default_weights="objarray",
                formats=FORMATS, description="OAT trained on the object-array search data (shipped weights)")
def oat_objarray(checkpoint: dict | None = None, **kwargs) -> OAT:
    if checkpoint is None:
        raise InvalidInputError("oat-objarray is the trained model: it needs its weights (pretrained='objarray'); "
                                "use 'oat' for a fresh model")
    return oat(checkpoint, **kwargs)
