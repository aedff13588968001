"""Human density maps and the static-map protocol: the map equals the evaluator's leave-one-subject-out KDE, the
centre bias scores exactly 0 bits over itself, and the free-viewing evaluator reports the new rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.metrics.functional.density import loso_kde_log_likelihood
from gazekit.metrics.functional.saliency import centre_bias_log_density
from gazekit.metrics.human_maps import StaticMapScores, density_gain_bits, human_log_density
from gazekit.scanpaths import Scanpaths

W, H = 64, 48


def _image_scanpaths(seed=0, n_sub=4, centre=(20.0, 30.0)):
    rng = np.random.default_rng(seed)
    xs = [list(np.clip(rng.normal(centre[0], 4, 5), 0, W - 1)) for _ in range(n_sub)]
    ys = [list(np.clip(rng.normal(centre[1], 4, 5), 0, H - 1)) for _ in range(n_sub)]
    durations = [list(rng.uniform(150, 400, 5)) for _ in range(n_sub)]
    return Scanpaths.from_sequences(xs, ys, None, durations, image="img",
                                    subject=[str(s) for s in range(n_sub)], image_size=[float(W), float(H)])


def test_human_map_is_the_loso_kde_of_the_evaluator():
    sp = _image_scanpaths()
    cb = centre_bias_log_density(H, W)
    ll, _, n = loso_kde_log_likelihood(sp, cb, 6.0)
    mine = 0.0
    for s in range(4):
        others = [i for i in range(4) if i != s]
        m = sp.mask
        logd = human_log_density(sp.x[others][m[others]].numpy(), sp.y[others][m[others]].numpy(), cb, 6.0)
        assert float(logd.exp().sum()) == pytest.approx(1.0)
        g, k = density_gain_bits(sp.x[s][m[s]].numpy(), sp.y[s][m[s]].numpy(), logd, torch.zeros(H, W))
        mine += g * math.log(2)
    assert n == 20 and mine == pytest.approx(ll, rel=1e-9)


def test_static_scores_centre_bias_is_zero_and_a_good_map_beats_it():
    sp = _image_scanpaths()
    cb = centre_bias_log_density(H, W).double()
    near = human_log_density([20.0] * 10, [30.0] * 10, cb, 6.0)  # a map peaked where everyone looks
    scores = StaticMapScores(6.0)
    neg = np.array([[0.8, 0.2], [0.9, 0.9], [0.5, 0.5]])
    scores.add_image(sp, {"peaked": near, "centre-bias": cb}, cb, neg)
    rows = {r["metric"]: r for r in scores.rows()}
    ig = rows["static map: IG over centre bias (bits/fixation)"]
    assert ig["centre-bias"] == 0.0 and ig["peaked"] > 1.0 and ig["human"] > 1.0
    for metric in ("AUC-Judd", "shuffled AUC"):
        r = rows[f"static map: {metric}"]
        assert 0.5 < r["peaked"] <= 1.0 and r["peaked"] > r["centre-bias"]
    assert rows["static map: NSS"]["peaked"] > rows["static map: NSS"]["centre-bias"]
    assert rows["static map: CC"]["peaked"] > rows["static map: CC"]["centre-bias"]


def test_freeview_evaluator_reports_history_density_gain_and_static_rows(tmp_path):
    from PIL import Image

    from gazekit.datasets.base import GazeDataset
    from gazekit.evaluation.freeview import evaluate_freeview
    from gazekit.models.baselines import FreeviewBaseline

    parts, images = [], {}
    for k in range(4):
        sp = _image_scanpaths(seed=k, centre=(20.0 + 5 * k, 30.0))
        sp.image = [f"{k}.png"] * len(sp)
        parts.append(sp)
        Image.fromarray(np.full((H, W, 3), 100, np.uint8)).save(tmp_path / f"{k}.png")
        images[f"{k}.png"] = tmp_path / f"{k}.png"
    data = GazeDataset("toy", Scanpaths.concat(parts), tmp_path, images=images, viewing_time_ms=3000.0)

    class StaticCB(FreeviewBaseline):  # a static map that is exactly the centre bias of the training images
        def predict_log_density(self, image):
            return self.pixel_log_density(image.shape[-2], image.shape[-1]).double()

    model = StaticCB("centre-bias").fit(data.scanpaths[[0, 1, 2, 3, 4, 5, 6, 7]], 3000.0)
    out = evaluate_freeview(model, data, images=["2.png", "3.png"], train_images=["0.png", "1.png"],
                            model_name="static-cb", pair_metrics=False)
    rows = {r["metric"]: r for r in out["table"]}
    assert {"history", "centre-bias", "uniform", "static-cb", "human"} <= set(rows["spatial IG over centre bias "
                                                                                 "(bits/fixation)"])
    gain = rows["human-density gain at sampled fixations (bits/fixation)"]
    assert gain["human"] == rows["spatial IG over centre bias (bits/fixation)"]["human"]
    static = {k: v for k, v in rows.items() if k.startswith("static map:")}
    assert len(static) == 5
    for r in static.values():  # the model's map is the centre bias: identical scores
        assert r["static-cb"] == pytest.approx(r["centre-bias"])
    assert static["static map: IG over centre bias (bits/fixation)"]["static-cb"] == 0.0
