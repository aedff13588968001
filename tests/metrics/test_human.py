"""Pairing and the leave-one-subject-out human baseline, with a simple pair metric defined here."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.errors import InvalidInputError, UnknownNameError
from gazekit.metrics.human import human_baseline
from gazekit.metrics.pairing import aggregate, human_pairs, pair_scanpaths, score_pairs
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths


@register_pair_metric("_test_first_x_gap", higher_is_better=False, description="|x0(pred) - x0(target)| (tests)")
def first_x_gap(pred: Scanpaths, target: Scanpaths, *, scale: float = 1.0) -> torch.Tensor:
    return (pred.x[:, 0] - target.x[:, 0]).abs() * scale


@register_pair_metric("_test_two_outputs", higher_is_better=True, outputs=("a", "b"))
def two_outputs(pred: Scanpaths, target: Scanpaths) -> torch.Tensor:
    gap = (pred.x[:, 0] - target.x[:, 0]).abs()
    return torch.stack([gap, -gap], dim=1)


def _humans():
    #            s1 on A, s2 on A, s3 on A, s1 on B, s2 on B, s1 again on A (same subject, 2nd trial), s1 on C
    xs = [[0.0], [2.0], [6.0], [10.0], [13.0], [1.0], [5.0]]
    return Scanpaths.from_sequences(xs, [[0.0]] * 7, image=["A", "A", "A", "B", "B", "A", "C"],
                                    subject=["s1", "s2", "s3", "s1", "s2", "s1", "s1"], task="freeview")


def test_human_pairs_exclude_same_subject_and_self():
    hp = human_pairs(_humans())
    pairs = set(zip(hp.pred_index.tolist(), hp.target_index.tolist()))
    assert (0, 5) not in pairs and (5, 0) not in pairs and (0, 0) not in pairs
    assert (0, 1) in pairs and (1, 0) in pairs and (5, 2) in pairs and (3, 4) in pairs
    assert len(pairs) == len(hp) == 2 * 2 + 3 * 2 + 2  # scanpaths 0,5: 2 partners; 1,2: 3 partners; B: 2 ordered
    assert hp.unmatched == [6]  # the lone scanpath on image C


def test_human_baseline_hand_computed():
    result = human_baseline("_test_first_x_gap", _humans())
    # per scanpath means: 0: (2+6)/2=4, 5: (1+5)/2=3, 1: (2+4+1)/3=7/3, 2: (6+4+5)/3=5, 3: 3, 4: 3; C unmatched
    expected = (4 + 3 + 7 / 3 + 5 + 3 + 3) / 6
    assert float(result.groups["all"][0]) == pytest.approx(expected)
    by_image = human_baseline("_test_first_x_gap", _humans(), by="image", options={"scale": 2.0}).groups
    assert set(by_image) == {"A", "B"}
    assert float(by_image["B"][0]) == pytest.approx(6.0)
    assert float(by_image["A"][0]) == pytest.approx(2 * (4 + 3 + 7 / 3 + 5) / 4)
    multi = human_baseline("_test_two_outputs", _humans())
    assert multi.columns == ["_test_two_outputs/a", "_test_two_outputs/b"]
    assert float(multi.groups["all"][1]) == pytest.approx(-expected)


def test_prediction_pairing_and_aggregation():
    humans = _humans()
    pred = Scanpaths.from_sequences([[1.0], [11.0], [0.0]], [[0.0]] * 3, image=["A", "B", "Z"], subject="model")
    pairs = pair_scanpaths(pred, humans)
    assert pairs.keys == ("image",)  # the model names no task, so only images are matched
    assert pairs.unmatched == [2]
    values = score_pairs("_test_first_x_gap", pred, humans, pairs, chunk_size=2)
    groups = aggregate(values, pairs, pred)
    # pred A vs humans on A (x 0, 2, 6, 1): (1+1+5+0)/4 = 1.75; pred B vs 10, 13: (1+2)/2 = 1.5
    assert float(groups["all"][0]) == pytest.approx((1.75 + 1.5) / 2)
    seen = []
    score_pairs("_test_first_x_gap", pred, humans, pairs, chunk_size=2, progress=seen.append)
    assert sum(seen) == len(pairs)


def test_nan_pairs_are_ignored_in_means():
    humans = _humans()

    @register_pair_metric("_test_nan_for_b", higher_is_better=True)
    def nan_for_b(pred, target):
        out = (pred.x[:, 0] - target.x[:, 0]).abs()
        return torch.where(torch.tensor([i == "B" for i in pred.image]), math.nan, out)

    groups = human_baseline("_test_nan_for_b", humans, by="image").groups
    assert math.isnan(float(groups["B"][0])) and not math.isnan(float(groups["A"][0]))


def test_errors():
    with pytest.raises(UnknownNameError):
        human_baseline("no_such_metric", _humans())
    with pytest.raises(InvalidInputError, match="keys"):
        human_pairs(_humans(), keys=("colour",))
    with pytest.raises(InvalidInputError, match="by"):
        human_baseline("_test_first_x_gap", _humans(), by="colour")
    no_image = Scanpaths.from_sequences([[1.0]], [[1.0]])
    with pytest.raises(InvalidInputError, match="no image"):
        pair_scanpaths(no_image, _humans())
