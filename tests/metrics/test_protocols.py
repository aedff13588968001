"""Protocol presets: preprocessing, the raw and distribution (KL) modes, diversity scores."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.errors import InvalidInputError, UnknownNameError
from gazekit.metrics.protocols import (
    MetricSetting,
    Protocol,
    diversity_scores,
    evaluate,
    get_protocol,
    histogram_kl,
    list_protocols,
)
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths, ValidationReport


@register_pair_metric("_test_closeness", higher_is_better=True)
def closeness(pred: Scanpaths, target: Scanpaths, *, scale: float = 10.0) -> torch.Tensor:
    """1 / (1 + |x0 - x0'| / scale): 1 for identical first fixations."""
    return 1.0 / (1.0 + (pred.x[:, 0] - target.x[:, 0]).abs() / scale)


def _humans():
    xs = [[0.0, 1, 2, 3, 4], [10.0, 1, 2, 3, 4], [20.0, 1, 2, 3], [0.0, 5, 6, 7, 8], [30.0, 5]]
    return Scanpaths.from_sequences(xs, [[1.0] * len(x) for x in xs], image=["A", "A", "A", "B", "B"],
                                    subject=["s1", "s2", "s3", "s1", "s2"], image_size=[100, 50])


def test_presets_are_documented():
    names = list_protocols()
    assert {"default", "chenlstm", "tppgaze", "scandiff"} <= set(names)
    chen = get_protocol("chenlstm")
    assert chen.size == (320, 240)
    sm = {s.label: s.options for s in chen.metrics}
    assert sm["scanmatch"] == {"x_bins": 16, "y_bins": 12, "threshold": 3.5}
    assert sm["scanmatch_duration"]["temporal_bin"] == 50.0
    tpp = get_protocol("tppgaze")
    assert tpp.drop_first and tpp.min_length == 4 and tpp.mode == "distribution"
    assert {s.label: s.options for s in tpp.metrics}["scanmatch"]["x_bins"] == 14
    assert "16x12" in get_protocol("scandiff").reading
    with pytest.raises(UnknownNameError):
        get_protocol("chen")


def test_prepare_drops_first_and_short_scanpaths():
    report = ValidationReport()
    out = get_protocol("tppgaze").prepare(_humans(), report)
    assert out.lengths.tolist() == [4, 4, 4]  # scanpath 2 (3 after dropping) and 4 (1) removed
    assert out.x[0].tolist() == [1, 2, 3, 4]
    assert report.dropped_scanpaths == {"fewer than 4 fixations": 2}
    scaled = get_protocol("chenlstm").prepare(_humans())
    assert float(scaled.x[1, 0]) == pytest.approx(10.0 * 3.2)


def test_histogram_kl():
    assert histogram_kl(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]), bins=2) == pytest.approx(0.0, abs=1e-9)
    # P = [1, 0] (+eps), Q = [.5, .5]: KL ~ log 2
    assert histogram_kl(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 1.0]), bins=2) == pytest.approx(math.log(2), abs=1e-6)
    assert histogram_kl(torch.tensor([1.0]), torch.tensor([1.0])) == 0.0
    assert math.isnan(histogram_kl(torch.tensor([]), torch.tensor([1.0])))


def test_evaluate_raw_with_human_baseline():
    proto = Protocol("t", "test", (MetricSetting("close", "_test_closeness", {"scale": 10.0}),
                                   MetricSetting("missing", "no_such_metric", {})))
    humans = _humans()
    pred = Scanpaths.from_sequences([[0.0], [40.0]], [[1.0], [1.0]], image=["A", "B"], subject="m")
    res = evaluate(pred, humans, proto)
    row = res.rows[0]
    # model: A vs (0, 10, 20): (1 + .5 + 1/3)/3 ; B vs (0, 30): (1/5 + 1/2)/2
    assert row["model"] == pytest.approx(((1 + 0.5 + 1 / 3) / 3 + (0.2 + 0.5) / 2) / 2)
    # human LOSO: A: s1 (.5 + 1/3)/2, s2 (.5+.5)/2, s3 (1/3+.5)/2 ; B: 1/4 each
    human = ((0.5 + 1 / 3) / 2 + 0.5 + (1 / 3 + 0.5) / 2 + 0.25 + 0.25) / 5
    assert row["human"] == pytest.approx(human)
    assert "missing" in res.skipped and res.unmatched_predictions == 0
    by_image = evaluate(pred, humans, proto, by="image", human_baseline=False)
    assert [r["group"] for r in by_image.rows] == ["A", "B"] and math.isnan(by_image.rows[0]["human"])
    assert res.to_dict()["rows"][0]["metric"] == "close"


def test_evaluate_distribution_and_diversity():
    proto = Protocol("d", "test", (MetricSetting("close", "_test_closeness", {}),), mode="distribution",
                     diversity=True, kl_bins=5)
    humans = _humans()
    same = evaluate(humans, humans, proto)  # model = the humans themselves, human partners include self
    assert same.rows[0]["kl"] >= 0
    far = Scanpaths.from_sequences([[90.0], [95.0], [99.0]], [[1.0]] * 3, image=["A", "A", "B"])
    res = evaluate(far, humans, proto)
    assert res.rows[0]["kl"] > same.rows[0]["kl"]
    div = res.diversity["close"]
    # model samples on A: 90 vs 95 -> 1/(1.5); human diversity as in the LOSO pairs above
    assert div["model_diversity"] == pytest.approx(1 - 1 / 1.5)
    human_pairs_mean = (0.5 + 1 / 3 + 0.5 + 0.5 + 1 / 3 + 0.5 + 0.25 + 0.25) / 8
    assert div["human_diversity"] == pytest.approx(1 - human_pairs_mean)
    # best match of human 0 (x=0) on A: best of 1/(1+9), 1/(1+9.5)
    assert 0 < div["best_match"] < 1
    with pytest.raises(InvalidInputError):
        evaluate(None, humans, proto)


def test_diversity_needs_a_similarity():
    @register_pair_metric("_test_gap", higher_is_better=False)
    def gap(pred, target):
        return (pred.x[:, 0] - target.x[:, 0]).abs()

    with pytest.raises(InvalidInputError, match="similarity"):
        diversity_scores("_test_gap", _humans(), _humans())


def test_cocosearch_protocol_uses_the_frozen_clusters():
    proto = get_protocol("cocosearch")
    assert proto.size == (512, 320)
    assert {s.options.get("clusters") for s in proto.metrics if s.metric == "sequence_score"} == {"coco_search18"}


@pytest.mark.slow
def test_cocosearch_human_row_on_real_data():
    """COCO-Search18 TP val split 1 (shared data): LOSO human SS with the frozen clusters, IRL reports 0.490."""
    from tests.conftest import require_data

    require_data("coco_search18")
    from gazekit.datasets import load_dataset

    humans = load_dataset("coco_search18").scanpaths
    res = evaluate(None, humans, "cocosearch", metrics=["sequence_score"])
    assert not res.skipped
    assert 0.45 < res.rows[0]["human"] < 0.55
