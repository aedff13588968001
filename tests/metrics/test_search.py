"""Search metrics: hand-computed TFP curves, TFP-AUC, mismatch, scanpath ratio and OAT behaviour statistics."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional import search as Q
from gazekit.scanpaths import Scanpaths

BOX = [10.0, 10.0, 20.0, 20.0]


def _sp():
    # 0: starts outside, hits at fixation 2 (1-based step 3); 1: hits at fixation 1; 2: never; 3: border only
    xs = [[0, 5, 15], [0, 12, 30], [0, 40, 50, 60], [0, 10]]
    ys = [[0, 5, 15], [0, 18, 30], [0, 40, 50, 60], [0, 15]]
    return Scanpaths.from_sequences(xs, ys, target_box=BOX, task=["a", "a", "b", "b"])


def test_steps_and_found_rate():
    sp = _sp()
    assert Q.steps_to_target(sp).tolist() == [3, 2, math.inf, math.inf]
    assert Q.steps_to_target(sp, inclusive=True).tolist() == [3, 2, math.inf, 2]
    ftt = Q.fixations_to_target(sp)
    assert ftt[:2].tolist() == [2, 1] and torch.isnan(ftt[2:]).all()
    assert Q.target_found_rate(sp) == 0.5
    assert Q.target_found_rate(sp, max_steps=2) == 0.25


def test_tfp_curve_auc_and_mismatch():
    sp = _sp()
    curve = Q.target_fixation_curve(sp, max_steps=4)
    assert curve.tolist() == [0.0, 0.25, 0.5, 0.5]
    assert Q.tfp_auc(curve) == 1.25
    assert Q.tfp_auc(curve, method="trapezoid") == pytest.approx(0.125 + 0.375 + 0.5)
    by_task = Q.target_fixation_curve(sp, max_steps=4, by_task=True)  # task a: [0, .5, 1, 1], b: zeros
    assert by_task.tolist() == [0.0, 0.25, 0.5, 0.5]
    model = torch.tensor([0.0, 0.5, 0.5, 0.75])
    assert Q.probability_mismatch(curve, model) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError):
        Q.probability_mismatch(curve, model[:3])


def test_scanpath_ratio():
    sp = _sp()
    r = Q.scanpath_ratio(sp)
    direct = math.hypot(15, 15)
    path = math.hypot(5, 5) + math.hypot(10, 10)
    assert float(r[0]) == pytest.approx(direct / path)
    assert float(r[1]) == pytest.approx(direct / math.hypot(12, 18))
    assert torch.isnan(r[2:]).all()


def test_missing_target_box_is_an_error():
    sp = Scanpaths.from_sequences([[1.0]], [[1.0]])
    with pytest.raises(InvalidInputError, match="no target box"):
        Q.steps_to_target(sp)


def test_oat_behaviour_and_error():
    objects = torch.tensor([[0, 1, 1, 2, 0, 3], [4, 3, 0, 0, 0, 0]])
    lengths = torch.tensor([6, 2])
    stats = Q.search_behaviour(objects, lengths, torch.tensor([3, 5]))
    # moves of row 0: 1 new, 1 refix, 2 new, 0 revisit, 3 new; row 1: 3 new -> 4 search, 1 refix, 1 revisit
    assert stats == pytest.approx({"found_rate": 0.5, "length": 4.0, "search": 4 / 6, "refixation": 1 / 6,
                                   "revisit": 1 / 6})
    model = dict(stats, length=5.0, found_rate=1.0)
    assert Q.behavioural_error(stats, model) == pytest.approx((1.0 + 0.25) / 5)
    sp = Scanpaths.from_sequences([[1, 18, 40]], [[1, 12, 40]])
    boxes = torch.tensor([[0, 0, 5, 5], [15, 10, 20, 15], [30, 30, 35, 35]], dtype=torch.float64)
    assert Q.snap_to_objects(sp, boxes).tolist() == [[0, 1, 2]]


def test_metric_classes():
    from gazekit.metrics.search import FixationsToTarget, ScanpathRatio, TargetFixationProbability

    sp = _sp()
    tfp = TargetFixationProbability(max_steps=4)
    tfp.update(sp[[0, 1]])
    tfp.update(sp[[2, 3]])
    out = tfp.compute()
    assert out["curve"].tolist() == [0.0, 0.25, 0.5, 0.5]
    assert float(out["tfp_auc"]) == 1.25 and float(out["found_rate"]) == 0.5
    ftt = FixationsToTarget()
    ftt.update(sp)
    assert float(ftt.compute()) == 1.5
    ratio = ScanpathRatio()
    ratio.update(sp)
    assert float(ratio.compute()) == pytest.approx(float(torch.nanmean(Q.scanpath_ratio(sp))))
