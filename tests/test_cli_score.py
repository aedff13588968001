"""`gazekit score`: files and dataset names in, a table and JSON/CSV out, with the human baseline."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from gazekit.cli import main
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths


@register_pair_metric("_cli_first_x_gap", higher_is_better=False, description="test metric")
def _gap(pred: Scanpaths, target: Scanpaths) -> torch.Tensor:
    return (pred.x[:, 0] - target.x[:, 0]).abs()


def _write(tmp_path):
    humans = Scanpaths.from_sequences([[0.0, 10], [2.0, 20], [6.0, 5], [10.0, 50], [13.0, 40]], [[1.0, 2]] * 5,
                                      durations=[[200, 300]] * 5, image=["A", "A", "A", "B", "B"],
                                      subject=["s1", "s2", "s3", "s1", "s2"], task="freeview",
                                      image_size=[100, 80])
    pred = Scanpaths.from_sequences([[1.0, 30], [11.0, 30], [3.0, 3]], [[1.0, 2]] * 3, durations=[[250, 250]] * 3,
                                    image=["A", "B", "Z"], subject="model", image_size=[100, 80])
    return humans.save(tmp_path / "human.csv"), pred.save(tmp_path / "pred.parquet")


def test_score_files_with_human_baseline_json_csv(tmp_path, capsys):
    human, pred = _write(tmp_path)
    rc = main(["score", "--pred", str(pred), "--human", str(human), "--metrics", "_cli_first_x_gap",
               "--human-baseline", "--json", str(tmp_path / "out.json"), "--csv", str(tmp_path / "out.csv")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "_cli_first_x_gap" in out and "human (LOSO)" in out and "1 predicted scanpaths had no human" in out
    doc = json.loads((tmp_path / "out.json").read_text())
    row = doc["rows"][0]
    # model: A (1 vs 0, 2, 6 -> 7/3), B (11 vs 10, 13 -> 1.5)
    assert row["model"] == pytest.approx((7 / 3 + 1.5) / 2)
    # LOSO: A s1 (2+6)/2=4, s2 (2+4)/2=3, s3 (6+4)/2=5; B: 3, 3
    assert row["human"] == pytest.approx((4 + 3 + 5 + 3 + 3) / 5)
    assert doc["unmatched_predictions"] == 1
    csv = pd.read_csv(tmp_path / "out.csv")
    assert list(csv["metric"]) == ["_cli_first_x_gap"]


def test_score_by_image_and_real_metrics(tmp_path, capsys):
    human, pred = _write(tmp_path)
    rc = main(["score", "--pred", str(pred), "--human", str(human), "--metrics", "scanmatch", "multimatch",
               "--by", "image", "--json", str(tmp_path / "o.json")])
    assert rc == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    groups = {r["group"] for r in doc["rows"]}
    assert groups == {"A", "B"}
    assert any(r["metric"] == "scanmatch" for r in doc["rows"]) or "scanmatch" in doc["skipped"]


def test_human_only_and_errors(tmp_path, capsys):
    human, _ = _write(tmp_path)
    assert main(["score", "--human", str(human), "--human-baseline", "--metrics", "_cli_first_x_gap"]) == 0
    assert "human (LOSO)" in capsys.readouterr().out
    assert main(["score", "--human", str(human)]) == 2  # neither --pred nor --human-baseline
    assert "--human-baseline" in capsys.readouterr().err
    assert main(["score", "--human", str(tmp_path / "missing.csv"), "--human-baseline"]) == 2
    assert main(["score", "--human", "no_such_dataset", "--human-baseline"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["score", "--human", str(human), "--human-baseline", "--protocol", "nope"]) == 2
    assert main(["score", "--human", str(human), "--list"]) == 0
    assert "chenlstm" in capsys.readouterr().out


def test_score_osie_sample_chenlstm_protocol(tmp_path):
    """Real data shipped with gazekit: scanpaths moved to another image score below the human ceiling."""
    from gazekit.datasets import load_dataset

    humans = load_dataset("osie-sample").scanpaths
    images = sorted(set(humans.image))
    shift = {img: images[(k + 1) % len(images)] for k, img in enumerate(images)}
    moved = Scanpaths.from_table(humans.to_table().assign(image=lambda t: t["image"].map(shift)))
    pred_file = moved.save(tmp_path / "moved.parquet")
    rc = main(["score", "--pred", str(pred_file), "--human", "osie-sample", "--human-baseline",
               "--protocol", "chenlstm", "--json", str(tmp_path / "o.json")])
    assert rc == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    rows = {r["metric"]: r for r in doc["rows"]}
    # the OSIE anchors (all 600 images, 800x600): human ScanMatch 0.394, MultiMatch position 0.854
    assert 0.3 < rows["scanmatch"]["human"] < 0.5
    assert 0.8 < rows["multimatch/position"]["human"] < 0.9
    for metric in ("scanmatch", "multimatch/position"):
        assert rows[metric]["model"] < rows[metric]["human"]
    assert rows["edit_distance"]["model"] > rows["edit_distance"]["human"]  # a distance: humans are closer
