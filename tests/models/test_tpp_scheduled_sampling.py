"""Scheduled sampling in TPP training: the history can be fed the model's own draws while the targets stay human."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models import create_model
from gazekit.scanpaths import Scanpaths

W, H = 90, 70


def _scanpaths(n: int = 4, seed: int = 0) -> Scanpaths:
    rng = np.random.default_rng(seed)
    lens = [2, 5, 3, 4][:n]
    return Scanpaths.from_sequences(
        [rng.uniform(0, W, k) for k in lens], [rng.uniform(0, H, k) for k in lens], None,
        [rng.lognormal(5.2, 0.5, k) for k in lens], image=[f"im{i}" for i in range(n)], image_size=[W, H],
        task="freeview")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = create_model("tpp-tiny", scheduled_sampling=0.5)
    model.fit_priors(_scanpaths(4, seed=1), 3000.0)
    images = torch.rand(4, 3, H, W, generator=torch.Generator().manual_seed(0))
    feats, embed = model.encode_images(images)
    return model.eval(), images, feats.detach(), embed.detach()


def test_own_inputs_equal_to_the_scanpath_change_nothing(setup):
    model, _, feats, embed = setup
    sp, img = _scanpaths(), torch.arange(4)
    with torch.no_grad():
        plain = model.scanpath_log_likelihood(feats, embed, img, sp, float(W), float(H))
        same = model.scanpath_log_likelihood(feats, embed, img, sp, float(W), float(H), inputs=(sp.x, sp.y))
    for key in ("spatial", "duration", "censor"):
        assert torch.equal(plain[key], same[key])


def test_changed_inputs_move_the_history_but_not_the_targets(setup):
    """Moving fixation k of the history changes the densities of steps after k only; the score is still taken at the
    human fixations (the first step, which has no history, keeps its value)."""
    model, _, feats, embed = setup
    sp, img = _scanpaths(), torch.arange(4)
    x = sp.x.clone()
    x[1, 2] = W - 1 - x[1, 2]  # row 1 (5 fixations): move its third fixation
    with torch.no_grad():
        plain = model.scanpath_log_likelihood(feats, embed, img, sp, float(W), float(H))
        moved = model.scanpath_log_likelihood(feats, embed, img, sp, float(W), float(H), inputs=(x, sp.y))
    assert torch.equal(plain["spatial"][1, :3], moved["spatial"][1, :3])  # steps 0-2 see fixations 0-1 only
    assert not torch.allclose(plain["spatial"][1, 3:5], moved["spatial"][1, 3:5])
    assert torch.equal(plain["spatial"][[0, 2, 3]], moved["spatial"][[0, 2, 3]])  # other rows untouched


def test_own_draws_replace_about_p_of_the_fixations_inside_the_image(setup):
    model, images, feats, embed = setup
    sp, img = _scanpaths(), torch.arange(4)
    torch.manual_seed(0)
    x0, y0 = model.own_draws(feats, embed, img, sp, float(W), float(H), None, 0.0)
    assert torch.equal(x0, sp.x) and torch.equal(y0, sp.y)
    x1, y1 = model.own_draws(feats, embed, img, sp, float(W), float(H), None, 1.0)
    mask = sp.mask
    assert not torch.isclose(x1[mask], sp.x[mask]).any()  # every real fixation redrawn
    assert ((x1[mask] >= 0) & (x1[mask] < W) & (y1[mask] >= 0) & (y1[mask] < H)).all()
    assert torch.equal(torch.isnan(x1[~mask]), torch.isnan(sp.x[~mask]))  # padding keeps its values
    swapped = []
    for seed in range(40):
        torch.manual_seed(seed)
        xs, _ = model.own_draws(feats, embed, img, sp, float(W), float(H), None, 0.3)
        swapped.append(float((xs[mask] != sp.x[mask]).float().mean()))
    assert np.mean(swapped) == pytest.approx(0.3, abs=0.06)  # 14 fixations x 40 draws


def test_own_draws_follow_the_models_density(setup):
    """The draws at a step are distributed as the model's cell density there: the mean draw equals the density's
    mean position (cell centres) within Monte-Carlo error."""
    model, _, feats, embed = setup
    sp, img = _scanpaths(), torch.arange(4)
    with torch.no_grad():
        out = model.scanpath_log_likelihood(feats, embed, img, sp, float(W), float(H), horizon=False)
    g = out["grid"]
    p = out["logp"][0, 1].double().exp()  # row 0, step 1
    cx = ((torch.arange(g["gh"] * g["gw"]) % g["gw"]).double() + 0.5) * W / g["gw"]
    torch.manual_seed(0)
    draws = [float(model.own_draws(feats, embed, img, sp, float(W), float(H), None, 1.0)[0][0, 1])
             for _ in range(400)]
    sd = float((p * (cx - (p * cx).sum()) ** 2).sum().sqrt())
    assert np.mean(draws) == pytest.approx(float((p * cx).sum()), abs=4 * sd / np.sqrt(400))


def test_training_step_with_scheduled_sampling_runs_and_learns():
    torch.manual_seed(0)
    model = create_model("tpp-tiny", scheduled_sampling=0.5)
    sp = _scanpaths()
    model.fit_priors(sp, 3000.0)
    model.log = lambda *a, **k: None
    images = torch.rand(4, 3, H, W)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step() -> float:
        opt.zero_grad()
        loss = model._step((images, sp), "train")
        loss.backward()
        opt.step()
        return float(loss.detach())

    losses = [step() for _ in range(15)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_scheduled_sampling_must_be_a_probability():
    with pytest.raises(InvalidInputError, match="scheduled_sampling"):
        create_model("tpp-tiny", scheduled_sampling=1.5)
