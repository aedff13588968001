"""``gazekit predict`` / ``gazekit evaluate`` decoding options (--image-scale, --saliency-beta, --return-rate, ...)
reach the model, and evaluate reports return rates and per-index statistics."""

from __future__ import annotations

import json

import pytest
import torch

from gazekit.cli import main
from gazekit.evaluation.freeview_stats import return_rate
from gazekit.paths import SAMPLE_DIR
from gazekit.scanpaths import Scanpaths, read_table

IMAGE = SAMPLE_DIR / "osie" / "stimuli" / "1001.jpg"


def test_predict_decoding_options_change_the_samples_and_bad_values_fail(tmp_path, capsys):
    runs = {"plain": [], "sharp": ["--image-scale", "2", "--return-rate", "0.2", "0.3", "--return-sigma", "0.5"]}
    for run, extra in runs.items():
        assert main(["predict", str(IMAGE), "--n-samples", "3", "--seed", "2", "--no-plots", "--out",
                     str(tmp_path / run), *extra]) == 0
    plain, sharp = (Scanpaths.from_table(read_table(tmp_path / r / "scanpaths.csv")) for r in runs)
    assert len(plain) == len(sharp) == 3
    assert not torch.equal(plain.x[:, 1:3].nan_to_num(0), sharp.x[:, 1:3].nan_to_num(0))
    capsys.readouterr()
    assert main(["predict", str(IMAGE), "--return-rate", "1.5", "--out", str(tmp_path / "bad")]) == 2
    assert "return_rate" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "scanpaths.csv").exists()


@pytest.mark.skipif(not (SAMPLE_DIR / "osie" / "fixations.mat").is_file(), reason="gazekit/_sample/osie is absent")
def test_evaluate_applies_decoding_and_reports_returns(tmp_path):
    out = tmp_path / "eval.json"
    rc = main(["evaluate", "--model", "tpp-osie", "--data", "osie-sample", "--split", "all", "--max-images", "1",
               "--n-samples", "4", "--no-pair-metrics", "--return-rate", "1", "--by-index",
               "--baselines", "centre-bias", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["decoding"] == {"return_rate": [1.0], "pixels_per_degree": 24.0}  # the data set's degree
    rows = {r["metric"]: r for r in result["table"]}
    returns = rows["return rate within 1 degree (fixations 3+)"]
    assert set(returns) == {"metric", "tpp-osie", "centre-bias", "human", "higher_is_better"}  # --baselines
    # every fixation from the third on is drawn 0.5 degree (per axis) around an earlier one: most land within 1 deg
    assert returns["tpp-osie"] > 0.7 > returns["centre-bias"]
    from gazekit.datasets.registry import load_dataset

    sp = load_dataset("osie-sample").scanpaths
    first = sorted(set(sp.image))[0]
    human = sp[[i for i, n in enumerate(sp.image) if n == first]]
    assert returns["human"] == pytest.approx(return_rate(human, 24.0))
    by_index = result["by_index"]
    assert set(by_index) == {"tpp-osie", "human"}
    assert sum(r["n"] for r in by_index["human"]) == human.num_fixations
    assert sum(r["n"] for r in by_index["tpp-osie"]) == round(rows["mean scanpath length (fixations)"]["tpp-osie"] * 4)
