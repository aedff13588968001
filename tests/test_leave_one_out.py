"""Leave-one-data-set-out evaluation: argument checks, and the table on real data (OSIE-fitted centre bias scored
on EyeCrowd against EyeCrowd's own centre bias)."""

from __future__ import annotations

import json
import math

import pytest

from gazekit import InvalidInputError
from gazekit.cli import main
from gazekit.evaluation.lodo import leave_one_dataset_out
from tests.conftest import require_data


def test_entries_are_checked(capsys):
    with pytest.raises(InvalidInputError, match="not among the data sets"):
        leave_one_dataset_out({"interiors": "centre-bias"})
    with pytest.raises(InvalidInputError, match="at least one"):
        leave_one_dataset_out({})
    assert main(["evaluate", "--leave-one-out", "eyecrowd:centre-bias"]) == 2
    assert "HELD_OUT=MODEL" in capsys.readouterr().err
    assert main(["evaluate", "--data", "osie"]) == 2
    assert "--model and --data" in capsys.readouterr().err


@pytest.mark.slow
def test_leave_one_out_table_on_eyecrowd(tmp_path, capsys):
    require_data("eyecrowd", "eye", "fixations.mat")
    out = tmp_path / "lodo.json"
    assert main(["evaluate", "--leave-one-out", "eyecrowd=centre-bias", "--max-images", "2", "--no-pair-metrics",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    row = doc["rows"][0]
    assert doc["format"] == "gazekit-leave-one-out" and row["held_out"] == "eyecrowd" and row["images"] == 2
    assert row["trained_on"] == ["osie", "nus_sun500"]
    # the OSIE centre bias is a worse prior on EyeCrowd than EyeCrowd's own one; history and humans far better
    # (measured: -0.064, history 1.661, human 1.635 bits/fixation on these two images)
    assert row["model"] < 0 < 1.0 < min(row["history"], row["human"])
    assert math.isclose(row["share"], row["model"] / row["human"]) and row["target_met"] is False
    assert doc["results"]["eyecrowd"]["baselines_fitted_on"].startswith("3840 training scanpaths")
    assert "eyecrowd" in capsys.readouterr().out


def test_decoding_options_reach_the_held_out_evaluation(monkeypatch, capsys):
    """`gazekit evaluate --leave-one-out ... --image-scale 1.5 --return-rate 0.1` evaluates with those decoding
    options (the evaluator is replaced by a recorder; the data set by 20 named images)."""
    from types import SimpleNamespace

    import gazekit.datasets.registry as registry
    import gazekit.evaluation.freeview as freeview

    seen = []

    def fake_evaluate(model, data, **kwargs):
        seen.append(kwargs.get("decoding"))
        row = {"metric": "spatial IG over centre bias (bits/fixation)", "model": 0.5, "history": 0.4, "human": 1.0}
        return {"table": [row]}

    monkeypatch.setattr(freeview, "evaluate_freeview", fake_evaluate)
    monkeypatch.setattr(registry, "load_dataset",
                        lambda name: SimpleNamespace(scanpaths=SimpleNamespace(image=[f"i{k}" for k in range(20)])))
    assert main(["evaluate", "--leave-one-out", "eyecrowd=centre-bias", "--image-scale", "1.5",
                 "--return-rate", "0.1"]) == 0
    assert seen == [{"image_scale": 1.5, "return_rate": [0.1]}]
    assert "eyecrowd" in capsys.readouterr().out
    leave_one_dataset_out({"eyecrowd": "centre-bias"})
    assert seen[-1] is None  # no options: the evaluator's defaults
