"""The model registry owns the weights: the torch-free catalog matches it, one save verb and one load verb round-trip
every family, the file's ``format`` picks the family, and the shipped weights load bit-identically."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models import create_model, load_checkpoint, load_predictor
from gazekit.models.base import (
    AverageDensityModel,
    ConditionalDensityModel,
    DurationLikelihoodModel,
    PredictRequest,
    ScanpathPredictor,
    StaticDensityModel,
)
from gazekit.models.registry import MODELS, all_weight_specs, catalog, list_models, render_catalog


def test_catalog_file_is_the_registry():
    text = pathlib.Path(__file__).parents[2].joinpath("gazekit", "models", "_catalog.py").read_text()
    assert text == render_catalog(), ("gazekit/models/_catalog.py is stale: regenerate it with "
                                      "python -c 'from gazekit.models.registry import write_catalog; write_catalog()'")
    rows = {r["name"]: r for r in catalog()}
    assert sorted(rows) == list_models()
    assert rows["tpp-osie"]["weights"] == ("osie", "freeview") and rows["tpp-osie"]["module"] == "gazekit.models.tpp"
    assert rows["tpp-freeview"]["weights"] == ("osie", "freeview")
    assert [r["name"] for r in catalog("oat*")] == ["oat", "oat-objarray", "oat-tiny"]


def test_listing_imports_no_model_module_and_no_torch():
    """``catalog()`` adds no import of torch or of any model module to what ``import gazekit`` itself costs."""
    code = ("import sys, gazekit; before = 'torch' in sys.modules; from gazekit.models.registry import catalog; "
            "rows = catalog(); extra = [m for m in sys.modules if m.startswith('gazekit.models.') and m not in "
            "('gazekit.models.registry', 'gazekit.models._catalog')]; "
            "print(len(rows), before == ('torch' in sys.modules), extra)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(list_models())), "True", "[]"], out.stderr


def test_shipped_weights_are_sha256_checked_and_load_bit_identically():
    specs = {s.file: s for s in all_weight_specs()}
    assert sorted(specs) == ["baselines-osie.json", "oat-objarray-670ca831.pt", "saliency-freeview.pt",
                             "saliency-osie.pt", "tpp-freeview.pt", "tpp-osie.pt"]
    for name, file in (("tpp-osie", "tpp-osie.pt"), ("tpp-freeview", "tpp-freeview.pt"),
                       ("oat-objarray", "oat-objarray-670ca831.pt"),
                       ("saliency-osie", "saliency-osie.pt"), ("saliency-freeview", "saliency-freeview.pt")):
        raw = torch.load(specs[file].path, map_location="cpu", weights_only=True)["state_dict"]
        for model in (create_model(name), load_predictor(name)):
            own = model.state_dict()
            shared = [k for k in raw if k in own]
            assert len(shared) >= len(own) - 1  # the frozen TPP graph keeps no BatchNorm step counter
            for k in shared:
                assert own[k].dtype == raw[k].dtype and torch.equal(own[k], raw[k]), (name, k)
    priors = json.loads(specs["baselines-osie.json"].path.read_text())
    assert create_model("centre-bias").priors == priors and create_model("uniform").priors == priors


def test_a_corrupted_shipped_file_is_refused(tmp_path, monkeypatch):
    from gazekit.models import registry

    spec = registry.weight_spec("tpp", "osie")
    bad = tmp_path / spec.file
    bad.write_bytes(spec.path.read_bytes()[:-1] + b"x")
    monkeypatch.setattr(registry.WeightSpec, "path", property(lambda s: tmp_path / s.file))
    with pytest.raises(InvalidInputError, match="corrupted"):
        create_model("tpp", pretrained="osie")


def _request(n: int = 2) -> PredictRequest:
    return PredictRequest(images=torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)),
                          image_names=["a"], n_samples=n, seed=3)


@pytest.mark.parametrize("name", ["tpp-tiny", "centre-bias", "uniform", "ecc-search"])
def test_save_checkpoint_and_load_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name).eval()
    path = tmp_path / "m.ckpt"
    digest = model.save_checkpoint(path)
    assert len(digest) == 64 and not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left over
    loaded = load_checkpoint(path)
    assert type(loaded) is type(model)
    req = _request()
    if name == "ecc-search":
        req.target_box = torch.tensor([[10.0, 10.0, 30.0, 30.0]])
    a, b = model.predict_scanpaths(req), loaded.predict_scanpaths(req)
    assert torch.equal(a.x, b.x) and torch.equal(a.duration, b.duration) and torch.equal(a.lengths, b.lengths)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_oat_round_trip_through_the_format_field(tmp_path):
    model = create_model("oat-tiny").eval()
    model.save_checkpoint(tmp_path / "o.pt")
    loaded = load_checkpoint(tmp_path / "o.pt", max_fixations=3)
    assert loaded.hparams.max_fixations == 3 and loaded.hparams.dim == 32
    assert torch.equal(loaded.pointer.q.weight, model.pointer.q.weight)


def test_format_picks_the_family_and_mismatches_are_clear(tmp_path):
    create_model("centre-bias").save_checkpoint(tmp_path / "cb.json")
    with pytest.raises(InvalidInputError, match="'gazekit-baseline-centre-bias' checkpoint; model 'tpp'"):
        create_model("tpp", pretrained=str(tmp_path / "cb.json"))
    torch.save({"state_dict": {}}, tmp_path / "bare.pt")
    with pytest.raises(InvalidInputError, match="no 'format' field"):
        load_checkpoint(tmp_path / "bare.pt")
    with pytest.raises(InvalidInputError, match="neither a shipped weight tag"):
        create_model("tpp", pretrained="no-such-tag")
    # the shipped priors file has no format field: it loads through its model, not through load_checkpoint
    assert create_model("uniform", pretrained=False).priors is None


def test_paths_in_hyper_parameters_are_allowed(tmp_path):
    """The allow-list: a hyper-parameter given as a Path does not make a checkpoint untrusted."""
    model = create_model("tpp-tiny").eval()
    model.save_checkpoint(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["hyper_parameters"]["note"] = pathlib.PosixPath("/some/where")
    torch.save(state, tmp_path / "p.pt")
    assert type(load_checkpoint(tmp_path / "p.pt")) is type(model)


def test_pretrained_is_whole_model_weights_everywhere(tmp_path):
    ecc = create_model("ecc-search", duration_mu=5.5)
    ecc.save_checkpoint(tmp_path / "ecc.pt")
    again = create_model("ecc-search", pretrained=str(tmp_path / "ecc.pt"))
    assert again.hparams.duration_mu == 5.5
    with pytest.raises(InvalidInputError, match="backbone_pretrained=None"):
        create_model("ecc-search", backbone_pretrained="in1k")


def test_protocols():
    tpp, cb, ecc = create_model("tpp-tiny"), create_model("centre-bias"), create_model("search-random")
    assert all(isinstance(m, ScanpathPredictor) for m in (tpp, cb, ecc))
    assert isinstance(tpp, ConditionalDensityModel) and isinstance(cb, ConditionalDensityModel)
    assert not isinstance(ecc, ConditionalDensityModel) and not isinstance(ecc, DurationLikelihoodModel)
    assert isinstance(tpp, AverageDensityModel) and not isinstance(cb, AverageDensityModel)
    assert not isinstance(object(), ScanpathPredictor)

    class Saliency:
        def predict_log_density(self, image):
            return image[0]

    assert isinstance(Saliency(), StaticDensityModel) and not isinstance(tpp, StaticDensityModel)


def test_every_registered_model_declares_its_formats():
    for name in list_models():
        info = MODELS.get(name).info
        if info["weights"]:
            assert info["formats"], name


def test_lightning_checkpoint_resumes_through_the_cli(tmp_path):
    """A real Lightning checkpoint passes the weights-only reader: ``--ckpt_path`` resumes without the opt-in."""
    from gazekit.cli import main
    from tests.models.test_safe_loading import _tiny_config

    cfg = _tiny_config(tmp_path)
    text = cfg.read_text().replace("enable_checkpointing: false", "enable_checkpointing: true")
    text = text.replace("max_epochs: 1", "max_epochs: 1\n  limit_train_batches: 1\n  limit_val_batches: 1")
    cfg.write_text(text)
    assert main(["train", "--config", str(cfg)]) == 0
    ckpt = next((tmp_path / "run").rglob("*.ckpt"))
    assert main(["validate", "--config", str(cfg), "--ckpt_path", str(ckpt)]) == 0
