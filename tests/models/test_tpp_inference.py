"""The inference-only TPP core: a frozen backbone graph gives the trainable model's exact outputs, loads without
Lightning or timm, and only from files whose hash was checked."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models import create_model, load_predictor
from gazekit.models.backbones import FrozenBackbone
from gazekit.models.base import PredictRequest, ScanpathPredictor, StaticDensityModel
from gazekit.models.registry import MODELS, list_models, weight_spec
from gazekit.models.tpp_core import TPPGazeCore
from gazekit.scanpaths import Scanpaths


def _history() -> Scanpaths:
    return Scanpaths.from_sequences([[10.0, 60.0, 30.0], [80.0]], [[20.0, 40.0, 65.0], [5.0]], None,
                                    [[180.0, 240.0, 300.0], [150.0]], image=["a", "b"], image_size=[90, 70])


def test_frozen_backbone_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    model = create_model("tpp-tiny").eval()
    model.fit_priors(_history(), 3000.0)
    path = tmp_path / "tiny.pt"
    digest = model.save_checkpoint(path)
    frozen = TPPGazeCore.from_file(path, sha256=digest, frozen=True)
    assert isinstance(frozen.backbone, FrozenBackbone)
    images = torch.rand(2, 3, 70, 90, generator=torch.Generator().manual_seed(1))
    hist = _history()
    assert torch.equal(model.conditional_log_density(images, hist), frozen.conditional_log_density(images, hist))
    req = PredictRequest(images=images, image_names=["a", "b"], n_samples=4, seed=3)
    a, b = model.predict_scanpaths(req), frozen.predict_scanpaths(req)
    assert torch.equal(a.x, b.x) and torch.equal(a.duration, b.duration) and torch.equal(a.lengths, b.lengths)
    # Other input sizes go through the same graph (no shapes were baked into the trace).
    big = torch.rand(1, 3, 150, 230)
    for p, q in zip(model.backbone(big), frozen.backbone(big)):
        assert torch.equal(p, q)


def test_frozen_graph_needs_a_checked_hash(tmp_path):
    model = create_model("tpp-tiny").eval()
    path = tmp_path / "tiny.pt"
    model.save_checkpoint(path)
    with pytest.raises(InvalidInputError, match="sha256"):
        TPPGazeCore.from_file(path, frozen=True)
    plain = TPPGazeCore.from_file(path)  # without frozen=True the graph is ignored and timm builds the backbone
    assert not isinstance(plain.backbone, FrozenBackbone)


FAST_PREDICTORS = [n for n in list_models() if MODELS.get(n).info["default_weights"]
                   and weight_spec(n, MODELS.get(n).info["default_weights"]).fast]


@pytest.mark.parametrize("name", FAST_PREDICTORS)
def test_fast_predictor_matches_create_model(name):
    reference = create_model(name).eval()
    fast = load_predictor(name)
    images = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    if not isinstance(reference, ScanpathPredictor):  # density-only models (saliency): the same static map
        assert isinstance(reference, StaticDensityModel) and isinstance(fast, StaticDensityModel)
        assert torch.equal(reference.predict_log_density(images[0]), fast.predict_log_density(images[0]))
        return
    req = PredictRequest(images=images, image_names=["x"], n_samples=5, seed=11)
    a, b = reference.predict_scanpaths(req), fast.predict_scanpaths(req)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.duration, b.duration)
    assert torch.equal(reference.conditional_log_density(images.expand(len(a), -1, -1, -1), a),
                       fast.conditional_log_density(images.expand(len(a), -1, -1, -1), a))


def test_fast_predictor_imports_neither_lightning_nor_timm():
    code = ("import sys; from gazekit.models import load_predictor; m = load_predictor('tpp-osie'); "
            "print(sorted(k for k in ('pytorch_lightning', 'lightning_fabric', 'timm', 'torchvision') "
            "if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_average_log_density_equals_the_mean_of_the_conditional_maps():
    torch.manual_seed(0)
    model = create_model("tpp-tiny").eval()
    model.fit_priors(_history(), 3000.0)
    image = torch.rand(3, 70, 90, generator=torch.Generator().manual_seed(2))
    hist = _history()
    batch = image[None].expand(len(hist), -1, -1, -1)
    maps = model.conditional_log_density(batch, hist)
    expected = torch.logsumexp(maps[hist.mask], 0) - torch.log(torch.tensor(float(hist.mask.sum())))
    got = model.average_log_density(batch, hist)
    assert got.shape == (70, 90)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert abs(float(torch.logsumexp(got.flatten(), 0))) < 1e-5  # still a normalised density over the pixels
