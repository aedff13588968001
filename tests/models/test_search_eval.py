"""The search evaluator on real Interiors data (skips when the shared data is absent)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import require_data


@pytest.fixture(scope="module")
def interiors():
    require_data("interiors", "info_all_subj.mat")
    from gazekit.datasets import load_dataset

    return load_dataset("interiors")


def _human_curve_oracle(dataset, names, max_saccades):
    """TFP of the humans computed directly from the per-trial arrays (strictly inside the box)."""
    sp = dataset.scanpaths
    hits = []
    for i in range(len(sp)):
        if sp.image[i] not in names or float(sp.scanpath_attrs["nsaccades_allowed"][i]) < max_saccades:
            continue
        n = min(int(sp.lengths[i]), max_saccades + 1)
        if n == 0:
            continue
        x, y = sp.x[i, :n].numpy(), sp.y[i, :n].numpy()
        x0, y0, x1, y1 = sp.target_box[i].numpy()
        inside = np.flatnonzero((x > x0) & (x < x1) & (y > y0) & (y < y1))
        hits.append(inside[0] + 1 if inside.size else math.inf)
    hits = np.array(hits)
    return np.array([(hits <= k).mean() for k in range(1, max_saccades + 2)])


def test_search_evaluator_on_interiors(interiors):
    from gazekit.evaluation import get_evaluator
    from gazekit.evaluation.search import select_search_trials
    from gazekit.models import create_model

    keep = select_search_trials(interiors.scanpaths, 12)
    names = sorted({interiors.scanpaths.image[i] for i in keep})[:6]
    res = get_evaluator("search")(create_model("ecc-search"), interiors, images=names, model_name="ecc-search",
                                  n_samples=2, seed=0)
    per_image = {n: sum(interiors.scanpaths.image[i] == n for i in keep) for n in names}
    n_searches = sum(min(2, c) for c in per_image.values())
    assert res["protocol"]["images"] == 6 and res["protocol"]["searches"] == n_searches
    np.testing.assert_allclose(res["human"]["tfp_curve"], _human_curve_oracle(interiors, set(names), 12), atol=1e-6)
    for method in ("ecc-search", "search-random", "search-centre-out", "search-saliency"):
        r = res[method]
        assert len(r["tfp_curve"]) == 13 and r["n_scanpaths"] == n_searches
        assert r["probability_mismatch"] == pytest.approx(
            float(np.abs(np.array(r["tfp_curve"]) - np.array(res["human"]["tfp_curve"])).sum()))
        assert 0 <= r["multimatch_vector"] <= 1 and 0 <= r["sequence_score"] <= 1
    assert res["ecc-search"]["tfp_auc"] > res["search-random"]["tfp_auc"]
    assert res["ecc-search"]["tfp_auc"] > res["search-centre-out"]["tfp_auc"]
    rows = {row["metric"]: row for row in res["table"]}
    assert rows["tfp_auc"]["ecc-search"] == res["ecc-search"]["tfp_auc"]


@pytest.mark.slow
def test_ecc_search_beats_baselines_on_all_of_interiors(interiors):
    from gazekit.evaluation.search import evaluate_search
    from gazekit.models import create_model

    res = evaluate_search(create_model("ecc-search"), interiors, starts_per_image=3, pair_metrics=False,
                          model_name="ecc-search")
    assert res["protocol"]["images"] == 130  # 4 of the 134 images have no trial with a 12-saccade budget
    for baseline in ("search-random", "search-centre-out", "search-saliency"):
        assert res["ecc-search"]["tfp_auc"] > res[baseline]["tfp_auc"] + 1.0


def test_dataset_without_images_scores_humans_and_image_free_baselines_only(tmp_path):
    from gazekit.datasets.base import GazeDataset
    from gazekit.errors import InvalidInputError
    from gazekit.evaluation.search import IMAGE_FREE_BASELINES, evaluate_search
    from gazekit.models import create_model
    from gazekit.scanpaths import Scanpaths

    box = [100.0, 100.0, 140.0, 140.0]
    # subject a: on target at fixation 2; b: at fixation 3; c: never (within 4 fixations); on both images
    xs = [[160, 10, 120], [160, 10, 20, 130], [160, 10, 20, 30, 120]] * 2
    ys = [[120, 10, 120], [120, 10, 20, 120], [120, 10, 20, 30, 120]] * 2
    sp = Scanpaths.from_sequences(xs, ys, durations=[[200.0] * len(x) for x in xs], image=["i1"] * 3 + ["i2"] * 3,
                                  subject=["a", "b", "c"] * 2, task="cup", target_box=box, image_size=[320, 240])
    ds = GazeDataset("toy", sp, tmp_path)
    res = evaluate_search(None, ds, max_saccades=3, baselines=IMAGE_FREE_BASELINES, pair_metrics=False)
    assert res["human"]["tfp_curve"] == pytest.approx([0.0, 0.0, 1 / 3, 2 / 3])
    assert res["human"]["tfp_auc"] == pytest.approx(1.0)
    assert set(res) == {"human", "search-random", "search-centre-out", "protocol"}
    assert res["search-centre-out"]["n_scanpaths"] == res["protocol"]["searches"] == 6
    with pytest.raises(InvalidInputError, match="no images"):
        evaluate_search(create_model("search-random"), ds, max_saccades=3, baselines=())
