"""Lightning callbacks: :class:`ScanpathWriter` writes the scanpaths that ``trainer.predict`` produces.

With LightningCLI (``gazekit predict --config FILE``) the writer is always on; its arguments are the ``writer:``
section of the config or ``--writer.*`` options, e.g. ``--writer.n_samples 10 --writer.out_dir preds``.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from gazekit.errors import InvalidInputError
from gazekit.models.base import PredictOptions
from gazekit.scanpaths import Scanpaths

FORMATS = ("csv", "parquet", "json")


class ScanpathWriter(BasePredictionWriter):
    """Collect the :class:`Scanpaths` each ``predict_step`` returns and write them as one canonical scanpath
    table (:meth:`Scanpaths.save`) when prediction ends.

    Each image (search display) is predicted once per process, in the first batch that holds it. Each process
    writes the batches it predicted: ``<out_dir>/scanpaths.<format>`` on a single process,
    ``<out_dir>/scanpaths-rank<r>.<format>`` per rank otherwise (concatenate them with :meth:`Scanpaths.concat`).

    Args:
        out_dir: output folder (default: ``<trainer.log_dir>/predictions``).
        format: ``"csv"``, ``"parquet"`` or ``"json"``.
        n_samples: scanpaths per distinct image. seed: RNG seed (batch k uses ``seed + k``; None: unseeded).
        temperature: sampling temperature (0: most likely, where the model supports it).
        seconds: viewing-time horizon in s (None: the model's). max_fixations: length cap (None: the model's).
        start_from_data: search models start from the recorded first fixation of the display (else the centre).
        native_size: rescale predictions from the DataModule's ``image_size`` back to each image's size in the
            dataset (when the DataModule exposes its dataset as ``.data``), so they compare with the raw data.
        image_scale, saliency_beta, saliency_model, return_rate, return_sigma_deg, pixels_per_degree: the decoding
            options of free-viewing density models (:class:`gazekit.models.base.PredictRequest`; the defaults keep
            the samples as trained).
    """

    def __init__(self, out_dir: str | None = None, format: str = "csv", n_samples: int = 1, seed: int | None = 0,
                 temperature: float = 1.0, seconds: float | None = None, max_fixations: int | None = None,
                 start_from_data: bool = True, native_size: bool = True, image_scale: float = 1.0,
                 saliency_beta: float = 0.0, saliency_model: str | None = None,
                 return_rate: float | list[float] | None = None, return_sigma_deg: float = 0.5,
                 pixels_per_degree: float | None = None):
        super().__init__(write_interval="batch")
        if format not in FORMATS:
            raise InvalidInputError(f"format must be one of {FORMATS}, got {format!r}")
        if int(n_samples) < 1:
            raise InvalidInputError(f"n_samples must be >= 1, got {n_samples}")
        self.out_dir, self.format, self.native_size = out_dir, format, native_size
        self.options = PredictOptions(n_samples=int(n_samples), seed=seed, temperature=float(temperature),
                                      seconds=seconds, max_fixations=max_fixations, start_from_data=start_from_data,
                                      image_scale=float(image_scale), saliency_beta=float(saliency_beta),
                                      saliency_model=saliency_model, return_rate=return_rate,
                                      return_sigma_deg=float(return_sigma_deg), pixels_per_degree=pixels_per_degree)
        self._batches: list[Scanpaths] = []
        self.path: Path | None = None

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not hasattr(pl_module, "predict_scanpaths"):
            raise InvalidInputError(f"{type(pl_module).__name__} has no predict_scanpaths; ScanpathWriter writes "
                                    "the scanpaths of gazekit models")
        pl_module.predict_options = self.options
        self._batches = []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx) -> None:
        if not isinstance(prediction, Scanpaths):
            raise InvalidInputError(f"predict_step returned {type(prediction).__name__}, expected Scanpaths")
        if len(prediction):
            self._batches.append(prediction.to("cpu"))

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        scanpaths = Scanpaths.concat(self._batches) if self._batches else Scanpaths.empty()
        if self.native_size:
            scanpaths = _to_native_size(scanpaths, getattr(trainer, "datamodule", None))
        out = Path(self.out_dir) if self.out_dir else Path(trainer.log_dir or ".") / "predictions"
        out.mkdir(parents=True, exist_ok=True)
        name = "scanpaths" if trainer.world_size == 1 else f"scanpaths-rank{trainer.global_rank}"
        self.path = scanpaths.save(out / f"{name}.{self.format}")
        n_images = len(set(scanpaths.image))
        print(f"wrote {len(scanpaths)} predicted scanpaths for {n_images} image(s) to {self.path}")
        self._batches = []


def _to_native_size(scanpaths: Scanpaths, datamodule) -> Scanpaths:
    """Rescale each image's rows to the image size recorded in the DataModule's dataset (unchanged when the
    DataModule has no ``.data`` or the image is not in it)."""
    data = getattr(datamodule, "data", None)
    source = getattr(data, "scanpaths", None)
    if not isinstance(source, Scanpaths) or len(scanpaths) == 0:
        return scanpaths
    native = {}
    for i, name in enumerate(source.image):
        native.setdefault(name, source.image_size[i])
    parts, order = [], []
    for name in dict.fromkeys(scanpaths.image):
        rows = [i for i, n in enumerate(scanpaths.image) if n == name]
        part = scanpaths[rows]
        size = native.get(name)
        if size is not None and bool(size.isfinite().all()) and bool(part.image_size.isfinite().all()):
            part = part.rescale(float(size[0]), float(size[1]))
        parts.append(part)
        order.extend(rows)
    merged = Scanpaths.concat(parts)
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return merged[inverse]
