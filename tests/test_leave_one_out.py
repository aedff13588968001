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
    assert "held out: eyecrowd (2 images)" in capsys.readouterr().out
