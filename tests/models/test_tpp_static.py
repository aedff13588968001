"""TPP with a static-map image term, degree geometry, per-row horizons and fine-tuning from shipped weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models import create_model
from gazekit.models.base import PredictRequest
from gazekit.models.tpp_static import FORMAT, cell_log_softmax, load_cache, lookup
from gazekit.scanpaths import Scanpaths

W, H = 96, 72


def _scanpaths(n: int = 3, seed: int = 0, scale: float = 1.0, ppd: float | None = None) -> Scanpaths:
    rng = np.random.default_rng(seed)
    lens = [int(rng.integers(2, 6)) for _ in range(n)]
    return Scanpaths.from_sequences(
        [rng.uniform(0, W, k) * scale for k in lens], [rng.uniform(0, H, k) * scale for k in lens], None,
        [rng.lognormal(5.2, 0.5, k) for k in lens], image=[f"im{i}" for i in range(n)],
        image_size=[W * scale, H * scale], task="freeview", ppd=ppd)


def _model(**kwargs):
    torch.manual_seed(0)
    m = create_model("tpp-tiny", **kwargs)
    m.fit_priors(_scanpaths(20, seed=1), 3000.0)
    return m.eval()


def _peak_logits(n: int, row: int, col: int, h: int = 18, w: int = 24, height: float = 30.0) -> torch.Tensor:
    logits = torch.zeros(n, 1, h, w)
    logits[:, 0, row, col] = height
    return logits


def _likelihood(model, images, sp, **kw):
    feats, embed = model.encode_images(images)
    with torch.no_grad():
        return model.scanpath_log_likelihood(feats, embed, torch.arange(len(sp)), sp, float(images.shape[-1]),
                                             float(images.shape[-2]), **kw)


def test_static_term_adds_context_weighted_log_softmax():
    """The cell logits gain exactly ``gain(context) * log_softmax(static over the cells)``."""
    model = _model(static_map="saliency-freeview")
    with torch.no_grad():
        model.static_gain.bias.fill_(2.0)
    images = torch.rand(3, 3, H, W, generator=torch.Generator().manual_seed(0))
    sp = _scanpaths()
    static = torch.randn(3, 1, 9, 12, generator=torch.Generator().manual_seed(1))
    with_map = _likelihood(model, images, sp, static=static)
    flat = torch.zeros_like(static)  # a constant map is a uniform log-softmax: no change after normalising
    without = _likelihood(model, images, sp, static=flat)
    g = with_map["grid"]
    fine = cell_log_softmax(static, g["gh"], g["gw"])
    expected = torch.log_softmax(without["logp"] + 2.0 * fine[:, None], -1)
    assert torch.allclose(with_map["logp"], expected, atol=1e-5)


def test_static_model_refuses_a_missing_map():
    model = _model(static_map="saliency-freeview")
    images = torch.rand(3, 3, H, W)
    with pytest.raises(InvalidInputError, match="static map"):
        _likelihood(model, images, _scanpaths())


def test_sampler_follows_a_strong_static_map(monkeypatch):
    model = _model(static_map="saliency-freeview")
    with torch.no_grad():
        model.static_gain.bias.fill_(5.0)
    monkeypatch.setattr(model, "static_logits", lambda images: _peak_logits(images.shape[0], 4, 18))
    images = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(2))
    sp = model.predict_scanpaths(PredictRequest(images=images, image_names=["a"], n_samples=20, seed=0,
                                                max_fixations=3))
    x, y = sp.x[sp.mask], sp.y[sp.mask]
    # peak cell (row 4 of 18, column 18 of 24) covers x in [72, 76), y in [16, 20) px
    inside = (x > 66) & (x < 82) & (y > 10) & (y < 26)
    assert inside.float().mean() > 0.9


def test_unit_px_uses_degrees_only_where_known():
    deg = _model(degrees_per_unit=33.333)
    side = _model()
    ppd = torch.tensor([24.0, math.nan, 0.0])
    assert deg.unit_px(ppd, 800, 600).tolist() == pytest.approx([24.0 * 33.333, 800.0, 800.0], rel=1e-6)
    assert side.unit_px(ppd, 800, 600).tolist() == [800.0, 800.0, 800.0]
    assert deg.unit_px(None, 600, 900).tolist() == [900.0]


def test_degree_geometry_is_scale_invariant():
    """The same scanpath at twice the resolution and twice the pixels per degree has the same spatial density (per
    px^2, 4x smaller) under degree geometry; under image-normalised geometry the ppd is ignored."""
    model = _model(degrees_per_unit=33.333)
    img = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(3))
    big = torch.nn.functional.interpolate(img, scale_factor=2, mode="nearest")
    small_sp, big_sp = _scanpaths(1, ppd=3.0), _scanpaths(1, scale=2.0, ppd=6.0)
    a = _likelihood(model, img, small_sp)
    b = _likelihood(model, big, big_sp)
    m = small_sp.mask
    # the backbone sees both images at the same input size, so only the geometry could differ
    assert torch.allclose(a["spatial"][m], b["spatial"][m] + math.log(4.0), atol=1e-4)
    # a different ppd at the same resolution changes the history terms (unit = ppd * 33.333 px, not the side)
    c = _likelihood(model, img, _scanpaths(1, ppd=1.0))
    assert not torch.allclose(a["spatial"][m][1:], c["spatial"][m][1:], atol=1e-3)


def test_nan_horizon_drops_the_survival_term_per_row():
    model = _model()
    images = torch.rand(3, 3, H, W, generator=torch.Generator().manual_seed(4))
    sp = _scanpaths()
    known = _likelihood(model, images, sp, horizon_ms=torch.full((3,), 10_000.0))
    rows = _likelihood(model, images, sp, horizon_ms=torch.tensor([10_000.0, math.nan, 10_000.0]))
    assert rows["censor"][1] == 0.0
    assert torch.allclose(rows["censor"][[0, 2]], known["censor"][[0, 2]])
    assert (known["censor"] < 0).all()
    # a horizon equal to viewing_time_ms gives the default result
    same = _likelihood(model, images, sp, horizon_ms=torch.full((3,), 3000.0))
    assert torch.equal(same["censor"], _likelihood(model, images, sp)["censor"])


def test_lookup_resizes_neighbouring_grids_and_names_missing_keys():
    cache = {"a": torch.zeros(1, 5, 8).half(), "b": torch.ones(1, 6, 8).half()}
    out = lookup(cache, ["a", "b"], "cpu")
    assert out.shape == (2, 1, 6, 8) and torch.all(out[1] == 1)
    with pytest.raises(InvalidInputError, match="'c'"):
        lookup(cache, ["a", "c"], "cpu")


def test_load_cache_refuses_other_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": "something-else"}, path)
    with pytest.raises(InvalidInputError, match="static-logit cache"):
        load_cache(path)
    torch.save({"format": FORMAT, "model": "saliency-freeview", "logits": {"a": torch.zeros(1, 2, 2)}}, path)
    assert set(load_cache(path)) == {"a"}
    assert set(load_cache(path, "saliency-freeview")) == {"a"}
    with pytest.raises(InvalidInputError, match="not of 'saliency-osie'"):
        load_cache(path, "saliency-osie")


def test_training_step_fills_the_static_cache_once(monkeypatch, tmp_path):
    """Without a cache file the maps come from the batch images, once per image name; flips mirror the map."""
    model = create_model("tpp-tiny", static_map="saliency-freeview", static_cache=str(tmp_path / "none.pt"))
    model.fit_priors(_scanpaths(20, seed=1), 3000.0)
    calls = []

    def fake(images):
        calls.append(images.shape[0])
        return _peak_logits(images.shape[0], 2, 3)

    monkeypatch.setattr(model, "static_logits", fake)
    images = torch.rand(3, 3, H, W)
    batch = {"images": images, "scanpaths": _scanpaths()}
    model.train()
    for _ in range(2):
        loss = model._step(batch, "train")
        assert torch.isfinite(loss)
    assert calls == [3]
    assert set(model._static_cache) == {"im0", "im1", "im2"}


def test_init_weights_and_frozen_backbone():
    pytest.importorskip("timm")
    model = create_model("tpp", static_map="saliency-freeview", upsample=2, init_weights="tpp-osie",
                         freeze_backbone=True)
    shipped = create_model("tpp-osie", pretrained="osie")
    own = model.state_dict()
    for name, value in shipped.state_dict().items():
        if name in own and not name.endswith("num_batches_tracked"):
            assert torch.equal(own[name], value), name
    assert float(model.static_gain.bias) == 0.5
    model.train()
    assert not model.backbone.training and all(not p.requires_grad for p in model.backbone.parameters())
    assert model.spatial.training and model.static_gain.weight.requires_grad
