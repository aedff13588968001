"""Duration distribution metrics vs scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional import duration as D
from gazekit.scanpaths import Scanpaths


def test_against_scipy():
    rng = np.random.default_rng(0)
    a = rng.lognormal(5.2, 0.5, 300)
    b = np.round(rng.lognormal(5.3, 0.6, 211))  # ties
    assert D.duration_ks(torch.tensor(a), torch.tensor(b)) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-15)
    assert D.duration_wasserstein(torch.tensor(a), torch.tensor(b)) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-12)
    mu, sigma = D.fit_lognormal(torch.tensor(b))
    shape, _, scale = stats.lognorm.fit(b, floc=0)
    assert sigma == pytest.approx(shape, rel=1e-9) and mu == pytest.approx(math.log(scale), rel=1e-9)
    ll = D.lognormal_log_likelihood(torch.tensor(a), mu, sigma)
    assert ll == pytest.approx(stats.lognorm(s=sigma, scale=math.exp(mu)).logpdf(a).mean(), abs=1e-12)
    assert D.duration_log_likelihood(torch.tensor(a), torch.tensor(b)) == pytest.approx(ll)


def test_hand_computed_and_scanpaths_input():
    sp = Scanpaths.from_sequences([[1, 2], [3]], [[1, 2], [3]], durations=[[100, 200], [300]])
    other = Scanpaths.from_sequences([[1, 2, 3]], [[1, 2, 3]], durations=[[100, 200, 400]])
    assert D.duration_ks(sp, sp) == 0.0
    assert D.duration_ks(sp, other) == pytest.approx(1 / 3)
    assert D.duration_wasserstein(sp, other) == pytest.approx(100 / 3)
    summary = D.duration_summary(sp)
    assert summary["count"] == 3 and summary["median"] == 200 and summary["mean"] == 200
    assert D.duration_summary(torch.tensor([100.0, 300.0]))["median"] == 200


def test_errors():
    no_durations = Scanpaths.from_sequences([[1, 2]], [[1, 2]])
    with pytest.raises(InvalidInputError, match="NaN"):
        D.duration_ks(no_durations, torch.tensor([100.0]))
    with pytest.raises(InvalidInputError, match="positive"):
        D.duration_ks(torch.tensor([-1.0]), torch.tensor([100.0]))
    with pytest.raises(InvalidInputError, match="no fixation durations"):
        D.duration_ks(torch.tensor([]), torch.tensor([100.0]))
    with pytest.raises(InvalidInputError, match="equal"):
        D.fit_lognormal(torch.tensor([100.0, 100.0]))


def test_metric_classes_and_merge():
    from gazekit.metrics.duration import DurationKS, DurationLogLikelihood, DurationWasserstein

    rng = np.random.default_rng(3)
    a, b = rng.lognormal(5, 0.5, 100), rng.lognormal(5.2, 0.5, 80)
    for cls, fn in ((DurationKS, D.duration_ks), (DurationWasserstein, D.duration_wasserstein),
                    (DurationLogLikelihood, D.duration_log_likelihood)):
        m1, m2 = cls(), cls()
        m1.update(torch.tensor(a[:50]), torch.tensor(b[:40]))
        m2.update(torch.tensor(a[50:]), torch.tensor(b[40:]))
        m1.merge_state(m2)  # what the DDP sync does with dist_reduce_fx="cat"
        assert float(m1.compute()) == pytest.approx(fn(torch.tensor(a), torch.tensor(b)), abs=1e-12)
