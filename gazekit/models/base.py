"""The contract every gazekit scanpath model follows (a LightningModule).

* ``predict_scanpaths(request) -> Scanpaths``: sample or decode scanpaths for a batch of images, in pixels of the
  images given (x, y origin top-left; durations in ms, NaN only if the model has no durations). Scanpath ``k`` of
  image ``i`` is row ``i * request.n_samples + k``; its ``image`` attribute is ``request.image_names[i]``.
* ``conditional_log_density(images, history) -> Tensor`` (probabilistic models only): ``[B, L, H, W]`` natural-log
  densities over the pixels of the images, entry ``[b, k]`` is the density of fixation ``k`` of ``history[b]``
  given fixations ``0..k-1`` (``k = 0``: no history); each map sums (``logsumexp``) to 0 over pixels.
  The conditional metrics (cIG, cNSS, cAUC) and pysaliency-style evaluation consume it.
* ``task_kind``: ``"freeview"``, ``"search"`` or ``"object_search"``; selects the evaluation protocol.

The contract is typed: :class:`ScanpathPredictor` and :class:`ConditionalDensityModel` (plus the optional
:class:`DurationLikelihoodModel` and :class:`AverageDensityModel`) are runtime-checkable protocols, so callers
test ``isinstance(model, ConditionalDensityModel)`` instead of probing attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from gazekit.scanpaths import Scanpaths


@dataclass(kw_only=True)
class DecodingOptions:
    """Decoding options of free-viewing density models (TPP; :mod:`gazekit.models.tpp_decoding`; the defaults leave
    the samples as they were), shared by :class:`PredictRequest` and :class:`PredictOptions` (keyword-only)."""

    image_scale: float = 1.0
    saliency_beta: float = 0.0
    saliency_model: str | None = None
    return_rate: float | list[float] | None = None
    return_sigma_deg: float = 0.5
    pixels_per_degree: float | None = None

    def decoding(self) -> dict:
        """The decoding options as keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(DecodingOptions)}


DECODING_FIELDS = tuple(f.name for f in fields(DecodingOptions))


@dataclass
class PredictRequest(DecodingOptions):
    """Inputs for ``predict_scanpaths``; models read the fields they need and raise on missing ones.

    images: ``[B, 3, H, W]`` float RGB in [0, 1].
    image_names: B names written into the output scanpaths' ``image`` field.
    n_samples: scanpaths per image. seconds / max_fixations: stopping rules (None = model default).
    target_text: B target names or captions. templates: B ``[3, h, w]`` target template images.
    target_box: ``[B, 4]`` (x0, y0, x1, y1) px. boxes: B ``[N_i, 4]`` object boxes (x0, y0, x1, y1) px.
    temperature: sampling temperature (0 = greedy where the model supports it). seed: RNG seed.
    generator: a ``torch.Generator`` to draw from instead of seeding a new one (several calls then share one
    stream, as an evaluation that interleaves methods needs); models that take it ignore ``seed``.
    extra: model-specific inputs (e.g. ``start_xy`` for search models, a crop bank for OAT's fast path).

    Decoding options of free-viewing density models (TPP; :mod:`gazekit.models.tpp_decoding`; the defaults leave
    the samples as they were): image_scale multiplies the image term of the cell logits (1 = as trained);
    saliency_beta weighs the product with the static map ``(s / cb) ** beta`` of saliency_model (None:
    ``saliency-osie``); return_rate (one probability, or one per fixation index from 2 on) with return_sigma_deg
    adds returns to a fixation before the last; pixels_per_degree (None: the longer side spans 33.3 degrees).
    """

    images: Tensor
    image_names: list[str]
    n_samples: int = 1
    seconds: float | None = None
    max_fixations: int | None = None
    target_text: list[str] | None = None
    templates: list[Tensor] | None = None
    target_box: Tensor | None = None
    boxes: list[Tensor] | None = None
    target_index: list[int] | None = None
    temperature: float = 1.0
    seed: int | None = None
    generator: torch.Generator | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class ScanpathPredictor(Protocol):
    """Every gazekit model: ``predict_scanpaths(PredictRequest) -> Scanpaths`` and a ``task_kind``."""

    task_kind: str

    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Scanpaths for the request's images: ``n_samples`` per image, in pixels of the given images, durations in ms.
        """


@runtime_checkable
class ConditionalDensityModel(Protocol):
    """Probabilistic models: ``[B, L, H, W]`` log-densities of each fixation given the ones before it."""

    def conditional_log_density(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[B, L, H, W]`` log densities: entry ``[b, k]`` is the density of fixation ``k`` of ``history[b]`` given
        fixations ``0..k-1``; each map sums (``logsumexp``) to 0.
        """


@runtime_checkable
class DurationLikelihoodModel(Protocol):
    """Models with a duration likelihood: ``[B, L]`` log-density (per ms) of each fixation's duration."""

    def duration_log_likelihood(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[B, L]`` log density (per ms) of each fixation's duration given the fixations before it."""


@runtime_checkable
class StaticDensityModel(Protocol):
    """Models with a static (history-free) fixation density: ``predict_log_density(image) -> [H, W]``."""

    def predict_log_density(self, image: Tensor) -> Tensor:
        """``[3, H, W]`` RGB image in [0, 1] -> ``[H, W]`` log-density of a fixation per pixel (its exponential sums to
        1).
        """


@runtime_checkable
class AverageDensityModel(Protocol):
    """An optional shortcut: ``[H, W]`` log of the mean conditional map over every fixation of ``history``."""

    def average_log_density(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[H, W]`` log density of a fixation averaged over the fixations of ``history`` (a shortcut some models
        provide).
        """


def generator_for(seed: int | None, device: torch.device | str = "cpu",
                  generator: torch.Generator | None = None) -> torch.Generator | None:
    """``generator`` if given, else a new generator seeded with ``seed`` (None: unseeded)."""
    if generator is not None:
        return generator
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


# ---------------------------------------------------------------------- predicting from a DataModule
@dataclass
class PredictOptions(DecodingOptions):
    """How ``predict_step`` samples (``gazekit predict --config``; the writer callback sets them).

    n_samples: scanpaths per distinct image (or per search display). seed: RNG seed of batch 0 (batch k uses
    ``seed + k``; None: unseeded). temperature, seconds, max_fixations: as in :class:`PredictRequest`.
    start_from_data: search models start from the recorded first fixation of the display's first scanpath
    (as ``gazekit evaluate`` does) instead of the image centre. image_scale, saliency_beta, saliency_model,
    return_rate, return_sigma_deg, pixels_per_degree: the decoding options of :class:`PredictRequest` (defaults:
    the samples as trained).
    """

    n_samples: int = 1
    seed: int | None = 0
    temperature: float = 1.0
    seconds: float | None = None
    max_fixations: int | None = None
    start_from_data: bool = True


def request_from_batch(batch, options: PredictOptions, task_kind: str = "freeview", batch_idx: int = 0,
                       seen: set | None = None) -> PredictRequest | None:
    """The :class:`PredictRequest` for a DataModule predict batch.

    ``(images [B, 3, H, W], Scanpaths)`` batches (:class:`~gazekit.datasets.datamodule.GazeDataModule`; or
    ``images [k, 3, H, W]``, each distinct image once, from ``ImageGroupedDataModule``) give one
    request row per distinct image (search models: per distinct image, target and target box), so each image is
    predicted ``options.n_samples`` times however many human scanpaths the batch holds. A dict batch with the
    :class:`PredictRequest` field names (at least ``images`` and ``image_names``) is used as is.

    ``seen``: keys of images (displays) already predicted in earlier batches; they are skipped and the new ones
    added (a DataModule batching by scanpath spreads an image's scanpaths over several batches). Returns None
    when every image of the batch was seen.
    """
    from gazekit.errors import InvalidInputError

    seed = None if options.seed is None else int(options.seed) + int(batch_idx)
    common = {"n_samples": int(options.n_samples), "seed": seed, "temperature": float(options.temperature),
              "seconds": options.seconds, "max_fixations": options.max_fixations, **options.decoding()}
    if options.n_samples < 1:
        raise InvalidInputError(f"n_samples must be >= 1, got {options.n_samples}")
    if isinstance(batch, dict):
        fields = set(PredictRequest.__dataclass_fields__)
        unknown = sorted(set(batch) - fields)
        if "images" not in batch or "image_names" not in batch or unknown:
            raise InvalidInputError(f"a dict predict batch needs 'images' and 'image_names' and only PredictRequest "
                                    f"fields (unknown: {unknown})")
        return PredictRequest(**{**common, **batch})
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], Scanpaths)):
        raise InvalidInputError(f"predict batches must be (images, Scanpaths) or a dict of PredictRequest fields, "
                                f"got {type(batch).__name__}")
    images, sp = batch
    if images is None:
        raise InvalidInputError("predicting needs images, and this dataset's batches carry none (it ships no image "
                                "files, or the DataModule has with_images=False)")
    search = task_kind != "freeview"
    rows: dict = {}
    for i, name in enumerate(sp.image):
        key = (name, sp.task[i], tuple(sp.target_box[i].tolist())) if search else name
        if seen is None or key not in seen:
            rows.setdefault(key, i)  # first row of each distinct image (display)
    if seen is not None:
        seen.update(rows)
    if not rows:
        return None
    first = list(rows.values())
    sel = sp[first]
    if images.shape[0] == len(sp):  # one image per scanpath
        picked = images[first]
    else:  # each distinct image once, in order of first appearance (ImageGroupedDataModule)
        distinct = {name: k for k, name in enumerate(dict.fromkeys(sp.image))}
        if len(distinct) != images.shape[0]:
            raise InvalidInputError(f"batch has {images.shape[0]} images for {len(sp)} scanpaths on {len(distinct)} "
                                    "distinct images (expected one image per scanpath or per distinct image)")
        picked = images[[distinct[name] for name in sel.image]]
    request = PredictRequest(images=picked, image_names=list(sel.image), **common)
    if search:
        request.target_text = list(sel.task)
        boxes = sel.target_box.clone()
        request.target_box = boxes if bool(torch.isfinite(boxes).all()) else None
        if options.start_from_data and bool((sel.lengths > 0).all()):
            request.extra["start_xy"] = torch.stack([sel.x[:, 0], sel.y[:, 0]], dim=-1)
    return request


class ScanpathPredictMixin:
    """``predict_step`` for any model with ``predict_scanpaths`` (LightningCLI ``predict``): each batch becomes a
    :class:`PredictRequest` (:func:`request_from_batch`, or the model's own ``predict_request``) and the step
    returns the predicted :class:`Scanpaths`. ``predict_options`` (:class:`PredictOptions`) says how to sample;
    :class:`gazekit.callbacks.ScanpathWriter` sets it and writes the scanpaths."""

    predict_options: PredictOptions = PredictOptions()

    def predict_request(self, batch, batch_idx: int) -> PredictRequest | None:
        """The request for a batch; None when all its images were predicted in earlier batches of this loop."""
        if batch_idx == 0 or not hasattr(self, "_predicted_keys"):
            self._predicted_keys: set = set()  # images already predicted in this prediction loop
        return request_from_batch(batch, self.predict_options, getattr(self, "task_kind", "freeview"), batch_idx,
                                  seen=self._predicted_keys)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Scanpaths:
        """Predict the scanpaths of one DataModule batch (empty when all its images were predicted before)."""
        request = self.predict_request(batch, batch_idx)
        if request is None:
            return Scanpaths.empty()
        with torch.no_grad():
            return self.predict_scanpaths(request).to("cpu")


class SharedStageStep:
    """``training_step``, ``validation_step`` and ``test_step`` of a LightningModule that does all three in one
    method, ``self._step(batch, stage)`` with ``stage`` ``"train"``, ``"val"`` or ``"test"``. A mixin, listed
    before ``pl.LightningModule`` in the bases."""

    def training_step(self, batch, batch_idx):
        """``self._step(batch, "train")`` (the loss)."""
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        """``self._step(batch, "val")``."""
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        """``self._step(batch, "test")``."""
        return self._step(batch, "test")
