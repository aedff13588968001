"""`gazekit score --devices 2`: two CPU processes (Lightning Fabric, DDP over gloo) share the pairs and print and
write the same results as one process."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from gazekit.cli import main
from gazekit.datasets import load_dataset
from gazekit.errors import InvalidInputError
from gazekit.metrics.distributed import shard_bounds
from gazekit.metrics.pairing import human_pairs
from gazekit.metrics.registry import register_pair_metric
from gazekit.scanpaths import Scanpaths

TOL = 1e-12  # means of the same per-pair values; only rounding inside a metric's padded chunks may differ


def test_shard_bounds_cover_every_item_once():
    assert [shard_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    assert [shard_bounds(1, r, 2) for r in range(2)] == [(0, 1), (1, 1)]
    assert [shard_bounds(0, r, 2) for r in range(2)] == [(0, 0), (0, 0)]


def _moved_predictions(tmp_path) -> str:
    """OSIE-sample humans moved to the next image: a 'model' with 15 samples per image, scored on real data."""
    humans = load_dataset("osie-sample").scanpaths
    images = sorted(set(humans.image))
    shift = {img: images[(k + 1) % len(images)] for k, img in enumerate(images)}
    moved = Scanpaths.from_table(humans.to_table().assign(image=lambda t: t["image"].map(shift)))
    return str(moved.save(tmp_path / "moved.parquet"))


def _assert_same_results(one: dict, two: dict) -> float:
    """Equal documents (rows within TOL); returns the largest difference seen."""
    assert [(r["group"], r["metric"]) for r in one["rows"]] == [(r["group"], r["metric"]) for r in two["rows"]]
    assert {k: v for k, v in one.items() if k not in ("rows", "diversity")} == \
           {k: v for k, v in two.items() if k not in ("rows", "diversity")}
    worst = 0.0
    pairs = [(a, b) for ra, rb in zip(one["rows"], two["rows"]) for a, b in zip(ra.values(), rb.values())]
    pairs += [(one["diversity"][m][k], two["diversity"][m][k]) for m in one["diversity"] for k in one["diversity"][m]]
    assert set(one["diversity"]) == set(two["diversity"])
    for a, b in pairs:
        if isinstance(a, float) and not math.isnan(a):
            assert b == pytest.approx(a, abs=TOL, rel=0)
            worst = max(worst, abs(a - b))
        else:
            assert a == b
    return worst


def _score(args: list[str], out, capsys) -> tuple[dict, str]:
    assert main(["score", *args, "--json", str(out)]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def test_two_processes_print_and_write_the_single_process_results(tmp_path, capsys):
    """Model rows, LOSO human rows, per-image groups and the unmatched count (unknown metric names are refused
    before scoring, see tests/test_cli_names.py; a metric failing mid-run is covered below)."""
    pred = _moved_predictions(tmp_path)
    args = ["--pred", pred, "--human", "osie-sample", "--human-baseline", "--protocol", "chenlstm", "--by", "image",
            "--metrics", "scanmatch", "multimatch", "edit_distance"]
    one, table_one = _score(args, tmp_path / "one.json", capsys)
    two, table_two = _score([*args, "--devices", "2"], tmp_path / "two.json", capsys)
    assert len(one["rows"]) == 12 * 7  # 12 images x (scanmatch, 5 MultiMatch columns, SED)
    worst = _assert_same_results(one, two)
    print(f"largest |1 process - 2 processes| difference: {worst:.3g}")
    assert table_one == table_two and "multimatch/position" in table_one


def test_two_processes_distribution_protocol_with_diversity(tmp_path, capsys):
    """ScanDiff protocol: KL between pair-score histograms (needs every pair value in single-process order) and
    the diversity scores, all within 1e-12 of one process."""
    pred = _moved_predictions(tmp_path)
    args = ["--pred", pred, "--human", "osie-sample", "--protocol", "scandiff", "--metrics", "scanmatch",
            "sequence_score"]
    one, table_one = _score(args, tmp_path / "one.json", capsys)
    two, table_two = _score([*args, "--devices", "3"], tmp_path / "two.json", capsys)
    assert one["diversity"] and all(r["kl"] is not None for r in one["rows"])
    _assert_same_results(one, two)
    assert table_one == table_two


@register_pair_metric("_fails_on_last_image", higher_is_better=True, description="test metric")
def _fails_on_last_image(pred: Scanpaths, target: Scanpaths) -> torch.Tensor:
    if "osie_sample_last" in pred.image:
        raise InvalidInputError("no score for the last image")
    return pred.x[:, 0] * 0 + 1


def test_an_error_on_one_rank_is_the_same_skipped_metric_and_hangs_no_rank(tmp_path, capsys):
    """Only the rank holding the renamed image's pairs (rank 1) fails; both runs must list the metric as skipped."""
    human = load_dataset("osie-sample").scanpaths
    last = human.image[-1]
    human = replace(human, image=["osie_sample_last" if name == last else name for name in human.image])
    pairs = human_pairs(human)
    failing = [p for p in range(len(pairs)) if human.image[int(pairs.pred_index[p])] == "osie_sample_last"]
    assert failing and min(failing) >= shard_bounds(len(pairs), 1, 2)[0]  # all on rank 1
    path = str(human.save(tmp_path / "human.parquet"))
    args = ["--human", path, "--human-baseline", "--metrics", "_fails_on_last_image", "scanmatch"]
    one, table_one = _score(args, tmp_path / "one.json", capsys)
    two, table_two = _score([*args, "--devices", "2"], tmp_path / "two.json", capsys)
    assert one["skipped"] == {"_fails_on_last_image": "no score for the last image"}
    _assert_same_results(one, two)
    assert table_one == table_two


def test_devices_must_be_positive(tmp_path, capsys):
    assert main(["score", "--human", "osie-sample", "--human-baseline", "--devices", "0"]) == 2
    assert "--devices" in capsys.readouterr().err
