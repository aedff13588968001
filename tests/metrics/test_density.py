"""Leave-one-subject-out KDE (the human ceiling of spatial information gain): hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional.density import loso_kde_information_gain, loso_kde_log_likelihood
from gazekit.scanpaths import Scanpaths

H, W = 8, 10


def _uniform():
    return torch.full((H, W), -math.log(H * W), dtype=torch.float64)


def test_point_kernel_hand_computed():
    """A vanishing kernel on 1-pixel cells makes the others' KDE their empirical distribution: subject "a" looks
    where "b" looked twice and "c" once, so p_a = 0.9 * 2/3 + 0.1/80 at (3, 2); "b" where nobody else did."""
    sp = Scanpaths.from_sequences([[3.5], [3.2, 3.9], [7.5]], [[2.5], [2.1, 2.7], [5.5]],
                                  subject=["a", "b", "c"], image="i", image_size=[W, H])
    ll_kde, ll_base, n = loso_kde_log_likelihood(sp, _uniform(), 0.05, cell=1)
    base = 0.1 / (H * W)
    p_a = 0.9 * 2 / 3 + base          # others: b (2 fixations at (3, 2)) and c (1 at (7, 5))
    p_b = 0.9 * 1 / 2 + base          # others: a at (3, 2), c elsewhere; b fixates (3, 2) twice
    p_c = base                        # nobody else looked at (7, 5)
    expected = math.log(p_a) + 2 * math.log(p_b) + math.log(p_c)
    assert n == 4
    assert ll_kde == pytest.approx(expected, rel=1e-12)
    assert ll_base == pytest.approx(4 * -math.log(H * W), rel=1e-15)
    gain = loso_kde_information_gain(sp, _uniform(), 0.05, cell=1)
    assert gain == pytest.approx((expected + 4 * math.log(H * W)) / 4 / math.log(2), rel=1e-12)


def test_cells_spread_mass_evenly_and_a_lone_subject_is_not_scored():
    # 2x2 cells on an 8x10 image: the other subject's one fixation puts 1/4 of the mass on each pixel of its cell
    sp = Scanpaths.from_sequences([[4.2], [5.9]], [[2.2], [3.9]], subject=["a", "b"], image_size=[W, H])
    ll_kde, _, n = loso_kde_log_likelihood(sp, _uniform(), 0.05, cell=2)
    p = 0.9 / 4 + 0.1 / (H * W)
    assert n == 2 and ll_kde == pytest.approx(2 * math.log(p), rel=1e-12)
    alone = Scanpaths.from_sequences([[1.0, 2.0]], [[1.0, 2.0]], subject=["a"], image_size=[W, H])
    assert loso_kde_log_likelihood(alone, _uniform(), 2.0) == (0.0, 0.0, 0)
    assert math.isnan(loso_kde_information_gain(alone, _uniform(), 2.0))


def test_input_errors():
    sp = Scanpaths.from_sequences([[1.0]], [[1.0]], subject=["a"])
    with pytest.raises(InvalidInputError, match="H, W"):
        loso_kde_log_likelihood(sp, _uniform()[None], 2.0)
    with pytest.raises(InvalidInputError, match="sigma_px"):
        loso_kde_log_likelihood(sp, _uniform(), 0.0)


def test_metric_class_sums_over_images():
    from gazekit.metrics import HumanKDEInformationGain

    one = Scanpaths.from_sequences([[3.5], [3.2, 3.9], [7.5]], [[2.5], [2.1, 2.7], [5.5]], subject=["a", "b", "c"])
    two = Scanpaths.from_sequences([[4.2], [5.9]], [[2.2], [3.9]], subject=["a", "b"])
    metric = HumanKDEInformationGain(sigma_px=0.05, cell=1)
    metric.update(one, _uniform())
    metric.update(two, _uniform())
    parts = [loso_kde_log_likelihood(sp, _uniform(), 0.05, cell=1) for sp in (one, two)]
    expected = (sum(p[0] for p in parts) - sum(p[1] for p in parts)) / sum(p[2] for p in parts) / math.log(2)
    assert float(metric.compute()) == pytest.approx(expected, rel=1e-12)
