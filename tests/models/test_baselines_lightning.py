"""The free-viewing baselines as LightningModules: fit on the training split, closed-form validation numbers."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from gazekit.datasets.datamodule import GazeDataModule
from gazekit.models.baselines import FreeviewBaseline
from gazekit.models.priors import fit_freeview_priors
from gazekit.paths import SAMPLE_DIR


def _test_metrics(kind: str) -> tuple[dict, GazeDataModule, FreeviewBaseline]:
    dm = GazeDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), with_images=False, batch_size=64,
                        fractions=(0.5, 0.25, 0.25), seed=0)
    model = FreeviewBaseline(kind)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    (metrics,) = trainer.test(model, datamodule=dm, verbose=False)
    return metrics, dm, model


def test_fit_uses_the_training_split_and_test_logs_closed_form_likelihoods():
    metrics, dm, model = _test_metrics("uniform")
    train = dm.split("train").scanpaths
    assert model.priors == fit_freeview_priors(train, dm.load().viewing_time_ms)
    test = dm.split("test").scanpaths
    mask = test.mask
    w, h = (float(v) for v in test.image_size[0])
    assert torch.allclose(test.image_size, test.image_size[:1])  # OSIE: one image size
    assert math.isclose(metrics["test/spatial_ll"], -math.log(w * h), rel_tol=1e-7)  # a float32 map
    d = test.duration[mask]
    loc, scale = model.priors["logd_loc"], model.priors["logd_scale"]
    expected = float((-0.5 * ((d.log() - loc) / scale) ** 2 - math.log(scale * math.sqrt(2 * math.pi))
                      - d.log()).mean())
    assert math.isclose(metrics["test/duration_ll"], expected, rel_tol=1e-6)
    assert math.isclose(metrics["test/nll"], -(metrics["test/spatial_ll"] + expected), rel_tol=1e-6)


def test_centre_bias_beats_uniform_on_held_out_positions():
    centre, _, _ = _test_metrics("centre-bias")
    uniform, _, _ = _test_metrics("uniform")
    assert centre["test/spatial_ll"] > uniform["test/spatial_ll"] + 0.1
    assert math.isclose(centre["test/duration_ll"], uniform["test/duration_ll"], rel_tol=1e-12)
