"""TPP gaze model: exact likelihood, normalisation, causality, batch independence, sampling rules, persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gazekit.errors import InvalidInputError
from gazekit.models import create_model
from gazekit.models.base import PredictRequest
from gazekit.models.tpp import TPPGaze, check_images
from gazekit.scanpaths import Scanpaths

W, H = 90, 70  # deliberately not a multiple of the grid


def _scanpaths(n: int = 3, seed: int = 0) -> Scanpaths:
    rng = np.random.default_rng(seed)
    lens = [int(rng.integers(2, 6)) for _ in range(n)]
    return Scanpaths.from_sequences(
        [rng.uniform(0, W, k) for k in lens], [rng.uniform(0, H, k) for k in lens], None,
        [rng.lognormal(5.2, 0.5, k) for k in lens], image=[f"im{i}" for i in range(n)], image_size=[W, H],
        task="freeview")


@pytest.fixture(scope="module", params=["gru", "transformer"])
def model(request) -> TPPGaze:
    torch.manual_seed(0)
    m = create_model("tpp-tiny", history=request.param)
    m.fit_priors(_scanpaths(20, seed=1), 3000.0)
    return m.eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 3, H, W, generator=torch.Generator().manual_seed(0))


def test_conditional_log_density_normalises(model, images):
    sp = _scanpaths()
    maps = model.conditional_log_density(images, sp)
    assert maps.shape == (3, sp.max_length, H, W)
    total = torch.logsumexp(maps.double().flatten(2), -1)
    assert torch.allclose(total, torch.zeros_like(total), atol=1e-5)


def test_density_matches_training_likelihood(model, images):
    """The pixel map is the trained cell distribution spread evenly over each cell's pixels."""
    sp = _scanpaths()
    maps = model.conditional_log_density(images, sp)
    feats, embed = model.encode_images(images)
    with torch.no_grad():
        out = model.scanpath_log_likelihood(feats, embed, torch.arange(3), sp, float(W), float(H))
    g = out["grid"]
    cell_y = torch.arange(H) * g["gh"] // H
    cell_x = torch.arange(W) * g["gw"] // W
    for b in range(3):
        for k in range(int(sp.lengths[b])):
            px, py = int(sp.x[b, k]), int(sp.y[b, k])
            n_pixels = int((cell_y == cell_y[py]).sum()) * int((cell_x == cell_x[px]).sum())
            cell = int(cell_y[py]) * g["gw"] + int(cell_x[px])
            expected = float(out["logp"][b, k, cell]) - math.log(n_pixels)
            assert float(maps[b, k, py, px]) == pytest.approx(expected, abs=1e-5)


def test_history_is_causal(model, images):
    """Moving fixation k changes the maps of steps > k only."""
    sp = _scanpaths()
    moved = Scanpaths(**{**sp.__dict__, "x": sp.x.clone()})
    moved.x[0, 1] = (moved.x[0, 1] + 30) % W
    a, b = model.conditional_log_density(images, sp), model.conditional_log_density(images, moved)
    assert torch.equal(a[0, :2], b[0, :2])
    assert not torch.allclose(a[0, 2], b[0, 2])
    assert torch.equal(a[1:], b[1:])


def test_batch_permutation_permutes_outputs(model, images):
    sp = _scanpaths()
    perm = [2, 0, 1]
    maps = model.conditional_log_density(images, sp)
    permuted = model.conditional_log_density(images[perm], sp[perm])
    n = sp[perm].max_length
    assert torch.allclose(maps[perm][:, :n], permuted, atol=1e-5)
    d = model.duration_log_likelihood(images, sp)
    dp = model.duration_log_likelihood(images[perm], sp[perm])
    assert torch.allclose(d[perm][:, :n], dp, atol=1e-5, equal_nan=True)


def _hand_set(history: str = "gru") -> TPPGaze:
    """Uniform positions; durations a fixed 2-component log-normal mixture independent of everything."""
    m = create_model("tpp-tiny", history=history, duration_components=2).eval()
    with torch.no_grad():
        for p in m.spatial.coef.parameters():
            p.zero_()
        m.cb_weight.zero_()
        for layer in (m.duration.context_net[-1], m.duration.local):
            layer.weight.zero_()
            layer.bias.zero_()
        bias = m.duration.context_net[-1].bias  # [logits(2), mu(2), log_sigma(2)] in standardised log-duration
        bias.copy_(torch.tensor([0.0, math.log(3.0), -0.5, 0.8, math.log(0.6), math.log(0.9)]))
        m.logd_loc.fill_(5.0)
        m.logd_scale.fill_(0.5)
        m.gap_ms.fill_(40.0)
        m.priors_fitted.fill_(True)
    return m


def test_hand_set_model_likelihood_equals_closed_form():
    m = _hand_set()
    xs, ys, ds = [10.0, 55.5, 80.0], [5.0, 33.0, 60.0], [180.0, 250.0, 120.0]
    sp = Scanpaths.from_sequences([xs], [ys], None, [ds], image="a", image_size=[W, H])
    images = torch.rand(1, 3, H, W)
    feats, embed = m.encode_images(images)
    with torch.no_grad():
        out = m.scanpath_log_likelihood(feats, embed, torch.tensor([0]), sp, float(W), float(H))
    weights = np.array([1.0, 3.0]) / 4.0
    mus = 5.0 + 0.5 * np.array([-0.5, 0.8])  # log ms
    sigmas = 0.5 * np.array([0.6, 0.9])
    mix_pdf = lambda d: sum(w * stats.lognorm.pdf(d, s, scale=math.exp(mu)) for w, mu, s in zip(weights, mus, sigmas))
    mix_sf = lambda d: sum(w * stats.lognorm.sf(d, s, scale=math.exp(mu)) for w, mu, s in zip(weights, mus, sigmas))
    remaining = 3000.0 - sum(d + 40.0 for d in ds)
    expected_spatial = 3 * -math.log(W * H)
    expected_duration = sum(math.log(mix_pdf(d)) for d in ds)
    expected_censor = math.log(mix_sf(remaining))
    assert float(out["spatial"].sum()) == pytest.approx(expected_spatial, abs=1e-4)
    assert float(out["duration"].sum()) == pytest.approx(expected_duration, abs=1e-4)
    assert float(out["censor"].sum()) == pytest.approx(expected_censor, abs=1e-4)


@pytest.mark.parametrize("seconds", [None, 0.8])
def test_sampling_respects_horizon(model, images, seconds):
    req = PredictRequest(images=images[:2], image_names=["a", "b"], n_samples=5, seconds=seconds, seed=3)
    sp = model.predict_scanpaths(req)
    horizon = 1000 * seconds if seconds else model.hparams.viewing_time_ms
    gap = float(model.gap_ms)
    assert len(sp) == 10 and sp.image == ["a"] * 5 + ["b"] * 5
    assert int(sp.lengths.min()) >= 1 and int(sp.lengths.max()) <= model.hparams.max_fixations
    for i in range(len(sp)):
        row = sp.scanpath(i)
        onsets = np.concatenate([[0.0], np.cumsum(row["duration"][:-1] + gap)])
        np.testing.assert_allclose(row["t_start"], onsets, rtol=1e-5, atol=1e-3)
        assert row["t_start"][-1] + row["duration"][-1] <= horizon + 1e-3
        assert (row["x"] >= 0).all() and (row["x"] <= W).all() and (row["y"] >= 0).all() and (row["y"] <= H).all()


def test_sampling_max_fixations_and_seed(model, images):
    req = PredictRequest(images=images[:1], image_names=["a"], n_samples=4, max_fixations=2, seconds=100.0, seed=1)
    a, b = model.predict_scanpaths(req), model.predict_scanpaths(req)
    assert int(a.lengths.max()) == 2
    assert torch.equal(a.x, b.x) and torch.equal(a.duration, b.duration)


def test_save_load_round_trip(model, images, tmp_path):
    path = tmp_path / "m.pt"
    digest = model.save_checkpoint(path)
    loaded = TPPGaze.from_file(path, sha256=digest)
    sp = _scanpaths()
    assert torch.equal(model.conditional_log_density(images, sp), loaded.conditional_log_density(images, sp))
    req = PredictRequest(images=images, image_names=["a", "b", "c"], n_samples=3, seed=7)
    a, b = model.predict_scanpaths(req), loaded.predict_scanpaths(req)
    assert torch.equal(a.x, b.x) and torch.equal(a.duration, b.duration) and torch.equal(a.lengths, b.lengths)
    with pytest.raises(InvalidInputError, match="corrupted"):
        TPPGaze.from_file(path, sha256="0" * 64)


def test_training_reduces_nll():
    """A few optimiser steps on data that always looks at one corner must raise the likelihood clearly."""
    torch.manual_seed(0)
    m = create_model("tpp-tiny")
    rng = np.random.default_rng(0)
    sp = Scanpaths.from_sequences([rng.uniform(0, 20, 4) for _ in range(8)], [rng.uniform(0, 15, 4) for _ in range(8)],
                                  None, [rng.lognormal(5.0, 0.2, 4) for _ in range(8)],
                                  image=[f"i{i % 2}" for i in range(8)], image_size=[W, H])
    m.fit_priors(sp, 3000.0)
    m.log = lambda *a, **k: None
    images = torch.rand(8, 3, H, W)
    images[4:] = images[:4][[0, 0, 0, 0]] * 0 + images[1]
    images[:4] = images[0]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.hparams.flip_augment = False
    losses = []
    for _ in range(25):
        loss = m._step((images, sp), "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.5


def test_bad_inputs(model):
    sp = _scanpaths(1)
    bad = Scanpaths(**{**sp.__dict__, "x": sp.x.clone()})
    bad.x[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN fixation positions"):
        model.conditional_log_density(torch.rand(1, 3, H, W), bad)
    with pytest.raises(InvalidInputError, match=r"\[B, 3, H, W\]"):
        model.conditional_log_density(torch.rand(1, 4, H, W), sp)
    with pytest.raises(InvalidInputError, match="sides must lie"):
        check_images(torch.rand(1, 3, 20, 40))
    with pytest.raises(InvalidInputError, match="sides must lie"):
        check_images(torch.zeros(1, 3, 1, 1).expand(1, 3, 40, 9000))
    with pytest.raises(InvalidInputError, match="NaN"):
        check_images(torch.full((1, 3, 40, 40), float("nan")))
    with pytest.raises(InvalidInputError, match="images for"):
        model.conditional_log_density(torch.rand(2, 3, H, W), sp)
    with pytest.raises(InvalidInputError, match="n_samples"):
        model.predict_scanpaths(PredictRequest(images=torch.rand(1, 3, H, W), image_names=["a"], n_samples=0))
    with pytest.raises(InvalidInputError, match="does not exist"):
        TPPGaze.from_file("/nonexistent/model.pt")


def test_missing_durations_are_imputed(model, images):
    sp = _scanpaths()
    no_dur = Scanpaths(**{**sp.__dict__, "duration": torch.where(sp.mask, torch.nan, 0.0).double()})
    maps = model.conditional_log_density(images, no_dur)
    assert torch.isfinite(maps).all()
    assert torch.isnan(model.duration_log_likelihood(images, no_dur)).all()


def test_shipped_checkpoint_loads_and_is_hash_checked():
    from gazekit.models.tpp import OSIE_WEIGHTS
    from gazekit.paths import WEIGHTS_DIR

    fname, digest = OSIE_WEIGHTS.file, OSIE_WEIGHTS.sha256
    if not (WEIGHTS_DIR / fname).is_file():
        pytest.skip("shipped checkpoint not built yet")
    assert len(digest) == 64
    m = create_model("tpp-osie")
    assert bool(m.priors_fitted)
    sp = m.predict_scanpaths(PredictRequest(images=torch.rand(1, 3, 120, 160), image_names=["x"], n_samples=2, seed=0))
    assert len(sp) == 2 and sp.has_durations
