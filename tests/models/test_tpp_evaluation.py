"""The free-viewing evaluator: its maths comes from the metrics package (outputs unchanged by the move), baselines'
closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gazekit.metrics.functional.conditional import conditional_information_gain, log_density_at_fixations
from gazekit.metrics.functional.density import loso_kde_log_likelihood
from gazekit.models import create_model
from gazekit.models.base import PredictRequest
from gazekit.models.baselines import FreeviewBaseline, fit_freeview_priors
from gazekit.scanpaths import Scanpaths

W, H = 80, 60


def _human(n=6, seed=0):
    rng = np.random.default_rng(seed)
    lens = [int(rng.integers(1, 6)) for _ in range(n)]
    return Scanpaths.from_sequences([rng.uniform(0, W, k) for k in lens], [rng.uniform(0, H, k) for k in lens], None,
                                    [rng.lognormal(5.2, 0.5, k) for k in lens], image="a", image_size=[W, H],
                                    subject=[str(i) for i in range(n)], task="freeview")


def test_information_gain_sum_is_the_evaluators_formula():
    """The evaluator sums ``conditional_information_gain(..., start=0, reduction="sum")`` over images; it equals the
    formula the evaluator computed inline before the maths moved into metrics/ (read the float32 maps at each
    fixation, sum log p - log q, divide by ln 2) bit for bit, and the fixation-weighted per-scanpath means."""
    torch.manual_seed(0)
    model = create_model("tpp-tiny").eval()
    hum = _human()
    ld = model.conditional_log_density(torch.rand(len(hum), 3, H, W), hum)
    cb = FreeviewBaseline("centre-bias").fit(hum, 3000.0).pixel_log_density(H, W)
    lp, lq = [], []
    for b in range(len(hum)):
        for k in range(int(hum.lengths[b])):
            x, y = int(math.floor(float(hum.x[b, k]))), int(math.floor(float(hum.y[b, k])))
            lp.append(float(ld[b, k, y, x]))
            lq.append(float(cb[y, x]))
    lp_t, lq_t = torch.tensor(lp, dtype=torch.float64), torch.tensor(lq, dtype=torch.float64)
    total = conditional_information_gain(ld, hum, cb, start=0, reduction="sum")
    assert float(total) == float((lp_t - lq_t).sum()) / math.log(2)
    uniform = conditional_information_gain(ld, hum, "uniform", start=0, reduction="sum")
    assert float(uniform) == float((lp_t + math.log(H * W)).sum()) / math.log(2)
    assert torch.equal(log_density_at_fixations(ld, hum), lp_t)
    assert torch.equal(log_density_at_fixations(cb[None, None], hum), lq_t)  # one map shared by rows and steps
    per_fix = conditional_information_gain(ld, hum, cb, start=0, reduction="none")
    assert torch.allclose(per_fix, (lp_t - lq_t) / math.log(2), rtol=0, atol=1e-12)
    theirs = conditional_information_gain(ld, hum, cb, start=0)
    weighted = float((theirs * hum.lengths.double()).sum() / hum.lengths.sum())
    assert float(total) / hum.num_fixations == pytest.approx(weighted, abs=1e-12)


def test_evaluator_outputs_unchanged_by_the_move_to_metrics():
    """Spatial IG rows on three shipped OSIE images, a centre bias fitted on the other nine as the "model". The
    expected values were printed by the evaluator before its maths moved into metrics/ (main at 117dac3); the
    moved code reproduces them bit for bit here (the tolerance only allows for other CPUs' float32 blur)."""
    from gazekit.datasets.registry import load_dataset
    from gazekit.evaluation.freeview import evaluate_freeview
    from gazekit.paths import SAMPLE_DIR

    if not (SAMPLE_DIR / "osie" / "fixations.mat").is_file():
        pytest.skip("gazekit/_sample/osie is not present")
    ds = load_dataset("osie-sample")
    names = sorted(set(ds.scanpaths.image))
    model = FreeviewBaseline("centre-bias").fit(ds.scanpaths.validate("drop")[0], ds.viewing_time_ms)
    res = evaluate_freeview(model, ds, images=names[:3], train_images=names[3:], pair_metrics=False, n_samples=1)
    rows = {r["metric"]: r for r in res["table"]}
    expected = {
        "spatial IG over centre bias (bits/fixation)": {"model": 0.033108717531180984, "centre-bias": 0.0,
                                                        "uniform": -0.6532534958682653, "human": 1.9685047279461214},
        "spatial IG over uniform (bits/fixation)": {"model": 0.6863626772009536, "centre-bias": 0.6532539596697726,
                                                    "uniform": 4.6380150729624503e-07, "human": 2.621758687615894},
    }
    for metric, values in expected.items():
        for method, value in values.items():
            assert rows[metric][method] == pytest.approx(value, rel=1e-9, abs=1e-12), (metric, method)


def test_baseline_densities_and_durations_closed_form():
    hum = _human(30, seed=1)
    pri = fit_freeview_priors(hum, 3000.0)
    cb = FreeviewBaseline("centre-bias", pri)
    lp = cb.pixel_log_density(H, W)
    assert float(torch.logsumexp(lp.double().flatten(), 0)) == pytest.approx(0.0, abs=1e-6)
    # the centre-bias density is the fitted Gaussian at pixel centres, renormalised over the image
    mean, cov = np.array(pri["cb_mean"]), np.array(pri["cb_cov"])
    yy, xx = np.mgrid[0:H, 0:W]
    g = stats.multivariate_normal(mean, cov).logpdf(np.stack([(xx + 0.5) / W, (yy + 0.5) / H], -1))
    g = g - np.log(np.exp(g).sum())
    np.testing.assert_allclose(lp.numpy(), g, atol=1e-5)
    uni = FreeviewBaseline("uniform", pri).pixel_log_density(H, W)
    assert torch.allclose(uni, torch.full((H, W), -math.log(H * W)))
    d = torch.tensor([[150.0, 320.0]], dtype=torch.float64)
    logd = np.log(hum.duration[hum.mask].numpy())
    expected = stats.lognorm.logpdf([150.0, 320.0], logd.std(ddof=1), scale=math.exp(logd.mean()))
    np.testing.assert_allclose(cb.duration_log_density(d).numpy()[0], expected, rtol=1e-9)


def test_baseline_sampling_uses_the_horizon():
    pri = fit_freeview_priors(_human(30, seed=2), 3000.0)
    sp = FreeviewBaseline("centre-bias", pri).predict_scanpaths(
        PredictRequest(images=torch.rand(1, 3, H, W), image_names=["a"], n_samples=20, seed=0, seconds=1.0))
    assert len(sp) == 20 and int(sp.lengths.min()) >= 1
    end = (sp.t_start + sp.duration)[sp.mask]
    assert float(end.max()) <= 1000.0 + 1e-6


def test_loso_kde_ceiling_beats_centre_bias_on_clustered_fixations():
    """Subjects looking at the same two spots: the other subjects' KDE predicts them far better than centre bias."""
    rng = np.random.default_rng(0)
    xs = [np.where(rng.random(4) < 0.5, 15.0, 65.0) + rng.normal(0, 1, 4) for _ in range(8)]
    ys = [np.full(4, 12.0) + rng.normal(0, 1, 4) for _ in range(8)]
    hum = Scanpaths.from_sequences(xs, ys, image="a", subject=[str(i) for i in range(8)], image_size=[W, H])
    cb = FreeviewBaseline("centre-bias", fit_freeview_priors(_human(30), 3000.0)).pixel_log_density(H, W)
    ll_kde, ll_cb, n = loso_kde_log_likelihood(hum, cb, 3.0)
    assert n == 32 and (ll_kde - ll_cb) / n / math.log(2) > 2.0


def test_sampling_seconds_is_the_viewing_time_else_the_median_fixation_time():
    from types import SimpleNamespace

    from gazekit.evaluation.freeview import sampling_seconds

    train = Scanpaths.from_sequences([[1.0, 2.0], [1.0], [1.0, 2.0, 3.0]], [[1.0, 2.0], [1.0], [1.0, 2.0, 3.0]],
                                     None, [[100.0, 200.0], [1000.0], [400.0, 500.0, float("nan")]],
                                     image=["a", "b", "c"], image_size=[10, 10])
    assert sampling_seconds(SimpleNamespace(viewing_time_ms=3000.0), train) == 3.0
    # totals 300, 1000 and 900 ms (the missing duration counts 0): median 900 ms
    assert sampling_seconds(SimpleNamespace(viewing_time_ms=None), train) == pytest.approx(0.9)
    no_durations = Scanpaths.from_sequences([[1.0]], [[1.0]], None, None, image=["a"], image_size=[10, 10])
    assert sampling_seconds(SimpleNamespace(viewing_time_ms=None), no_durations) is None
