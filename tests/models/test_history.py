"""The history-only baseline: normalised maps, the saccade-vector term placed at the previous fixation, the return
term, no leakage from later fixations, sampling, registry and checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazekit.models import create_model, load_checkpoint
from gazekit.models.base import PredictRequest
from gazekit.models.history import HistoryBaseline
from gazekit.scanpaths import Scanpaths

W, H = 80, 60


def _train(n=40, step=20.0):
    """Scanpaths whose every saccade is (+step, 0) px on 80 x 60 images, starting near (10, 30)."""
    xs = [[10.0 + step * k for k in range(3)] for _ in range(n)]
    ys = [[30.0] * 3 for _ in range(n)]
    return Scanpaths.from_sequences(xs, ys, None, [[200.0, 250.0, 300.0]] * n, image=[f"i{k % 4}" for k in range(n)],
                                    subject=[str(k) for k in range(n)], image_size=[float(W), float(H)])


def test_every_map_sums_to_one_and_the_vector_term_follows_the_previous_fixation():
    m = HistoryBaseline(w_ret=0.0).fit(_train(), 3000.0)
    hist = Scanpaths.from_sequences([[40.0, 50.0, 5.0]], [[20.0, 35.0, 50.0]], None, None,
                                    image_size=[float(W), float(H)])
    ld = m.conditional_log_density(torch.zeros(1, 3, H, W), hist)
    assert ld.shape == (1, 3, H, W)
    assert torch.allclose(ld.double().exp().sum((-1, -2)), torch.ones(1, 3, dtype=torch.float64), atol=1e-5)
    # step 0: the first-fixation KDE (mass near x=10, y=30) mixed with 20 % centre bias
    r, c = divmod(int(ld[0, 0].argmax()), W)
    assert abs(c - 10) <= 1 and abs(r - 30) <= 1
    # step 1: saccade vector (+20, 0) from the previous fixation (40, 20) -> peak at (60, 20)
    r, c = divmod(int(ld[0, 1].argmax()), W)
    assert (r, c) == (20, 60)
    # step 2 from (50, 35): peak at (70, 35); 80 % of the mass is the vector term
    p = ld[0, 2].double().exp()
    r, c = divmod(int(p.argmax()), W)
    assert (r, c) == (35, 70)
    assert float(p[30:41, 65:76].sum()) > 0.75


def test_no_leakage_and_the_return_term():
    m = HistoryBaseline(w_ret=0.5).fit(_train(), 3000.0)
    a = Scanpaths.from_sequences([[10.0, 30.0, 50.0, 70.0]], [[30.0] * 4], None, None, image_size=[float(W), float(H)])
    b = Scanpaths.from_sequences([[10.0, 30.0, 5.0, 5.0]], [[30.0, 30.0, 5.0, 55.0]], None, None,
                                 image_size=[float(W), float(H)])
    img = torch.zeros(1, 3, H, W)
    la, lb = m.conditional_log_density(img, a), m.conditional_log_density(img, b)
    assert torch.equal(la[0, :3], lb[0, :3])  # steps 0..2 see fixations 0..1 only, which agree
    # step 2 after (10, 30) -> (30, 30): half the mass returns to the earlier fixation (10, 30)
    p = la[0, 2].double().exp()
    near = float(p[30 - 8:30 + 9, 10 - 8:10 + 9].sum())
    assert 0.4 < near < 0.55
    assert float(HistoryBaseline(w_ret=0.0).fit(_train(), 3000.0).conditional_log_density(img, a)[0, 2].double()
                 .exp()[30 - 8:30 + 9, 10 - 8:10 + 9].sum()) < 0.05


def test_fit_in_long_side_units_transfers_to_another_size():
    m = HistoryBaseline(w_ret=0.0).fit(_train(), 3000.0)  # 20 px saccades on 80 px wide images = 0.25 L
    hist = Scanpaths.from_sequences([[40.0, 80.0]], [[60.0, 60.0]], None, None, image_size=[160.0, 120.0])
    ld = m.conditional_log_density(torch.zeros(1, 3, 120, 160), hist)
    r, c = divmod(int(ld[0, 1].argmax()), 160)
    assert (r, c) == (60, 80)  # 0.25 * 160 = 40 px to the right of (40, 60)


def test_sampling_registry_and_checkpoint(tmp_path):
    m = create_model("history")
    assert isinstance(m, HistoryBaseline) and m.priors is None
    m.fit(_train(), 3000.0)
    sp = m.predict_scanpaths(PredictRequest(images=torch.zeros(2, 3, H, W), image_names=["a", "b"], n_samples=3,
                                            seed=1))
    assert len(sp) == 6 and sp.image == ["a"] * 3 + ["b"] * 3
    mask = sp.mask
    assert bool(((sp.x[mask] >= 0) & (sp.x[mask] <= W) & (sp.y[mask] >= 0) & (sp.y[mask] <= H)).all())
    ends = (sp.t_start + sp.duration)[mask]
    assert float(ends.max()) <= 3000.0
    again = m.predict_scanpaths(PredictRequest(images=torch.zeros(2, 3, H, W), image_names=["a", "b"], n_samples=3,
                                               seed=1))
    assert torch.equal(again.x, sp.x)
    m.save_checkpoint(tmp_path / "h.json")
    back = load_checkpoint(tmp_path / "h.json")
    img = torch.zeros(1, 3, H, W)
    hist = Scanpaths.from_sequences([[40.0, 50.0]], [[20.0, 35.0]], None, None, image_size=[float(W), float(H)])
    assert isinstance(back, HistoryBaseline)
    assert torch.allclose(back.conditional_log_density(img, hist), m.conditional_log_density(img, hist))
    with pytest.raises(Exception, match="not fitted"):
        HistoryBaseline().conditional_log_density(img, hist)
    assert m.step_density(H, W, np.array([1.0]), np.array([1.0])).sum() == pytest.approx(1.0)
