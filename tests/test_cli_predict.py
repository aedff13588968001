"""``gazekit predict`` and ``gazekit evaluate`` end to end on small inputs (random tiny model, shipped sample)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from gazekit.cli import main
from gazekit.scanpaths import Scanpaths, read_table


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    files = {
        "rgb": root / "rgb.png", "gray": root / "gray.jpg", "rgba": root / "rgba.png",
        "tiny": root / "tiny.png", "text": root / "text.png",
    }
    cv2.imwrite(str(files["rgb"]), (rng.random((90, 120, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(files["gray"]), (rng.random((80, 100)) * 255).astype(np.uint8))
    cv2.imwrite(str(files["rgba"]), (rng.random((64, 64, 4)) * 255).astype(np.uint8))
    cv2.imwrite(str(files["tiny"]), (rng.random((20, 20, 3)) * 255).astype(np.uint8))
    files["text"].write_text("not an image")
    return files


def test_predict_writes_tables_and_plots(image_files, tmp_path, capsys):
    out = tmp_path / "pred"
    rc = main(["predict", str(image_files["rgb"]), str(image_files["gray"]), str(image_files["rgba"]),
               "--model", "tpp-tiny", "--n-samples", "3", "--seconds", "1.5", "--seed", "1", "--out", str(out)])
    assert rc == 0
    table = read_table(out / "scanpaths.csv")
    sp = Scanpaths.from_table(table)
    assert len(sp) == 9 and sorted(set(sp.image)) == ["gray.jpg", "rgb.png", "rgba.png"]
    assert sp.has_durations and (sp.t_start + sp.duration)[sp.mask].max() <= 1500 + 1e-6
    rgb = sp[[i for i, n in enumerate(sp.image) if n == "rgb.png"]]
    assert float(rgb.x[rgb.mask].max()) <= 120 and float(rgb.y[rgb.mask].max()) <= 90
    js = json.loads((out / "scanpaths.json").read_text())
    assert js["format"] == "gazekit-scanpaths" and len(js["rows"]) == len(table)
    for stem in ("rgb", "gray", "rgba"):
        for kind in ("scanpaths", "density"):
            img = cv2.imread(str(out / f"{stem}_{kind}.png"))
            assert img is not None and img.shape[0] > 50
    assert "wrote 9 scanpaths for 3 image(s)" in capsys.readouterr().out


def test_predict_baseline_model_and_seed_reproducible(image_files, tmp_path):
    for run in ("a", "b"):
        assert main(["predict", str(image_files["rgb"]), "--model", "centre-bias", "--n-samples", "2", "--seed", "5",
                     "--out", str(tmp_path / run), "--no-plots"]) == 0
    a, b = (read_table(tmp_path / r / "scanpaths.csv") for r in ("a", "b"))
    assert a.equals(b)
    assert not (tmp_path / "a" / "rgb_scanpaths.png").exists()


@pytest.mark.parametrize("name, message", [("text", "not a readable image"), ("tiny", "at least 32 px")])
def test_predict_bad_images_give_clear_errors(image_files, tmp_path, capsys, name, message):
    rc = main(["predict", str(image_files[name]), "--model", "tpp-tiny", "--out", str(tmp_path)])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_predict_unknown_model_and_bad_options(image_files, tmp_path, capsys):
    assert main(["predict", str(image_files["rgb"]), "--model", "tpp-tny", "--out", str(tmp_path)]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["predict", str(image_files["rgb"]), "--model", "tpp-tiny", "--n-samples", "0",
                 "--out", str(tmp_path)]) == 2
    boxes = tmp_path / "boxes.json"
    boxes.write_text("{not json")
    assert main(["predict", str(image_files["rgb"]), "--model", "tpp-tiny", "--boxes", str(boxes),
                 "--out", str(tmp_path)]) == 2
    assert "cannot read JSON" in capsys.readouterr().err


def test_predict_request_fields_for_other_models(image_files, tmp_path):
    """--target/--template/--boxes reach the PredictRequest that search and object-search models read."""
    import argparse

    from gazekit.cli.predict import add_arguments, build_request
    from gazekit.images import load_image

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"rgb.png": {"boxes": [[0, 0, 10, 10], [20, 20, 40, 30]], "target": 1}}))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(image_files["rgb"]), "--target", "mug", "--template", str(image_files["gray"]),
                              "--boxes", str(boxes), "--n-samples", "2"])
    req = build_request(load_image(image_files["rgb"]), "rgb.png", args)
    assert req.target_text == ["mug"] and req.templates[0].shape == (3, 80, 100)
    assert req.boxes[0].tolist() == [[0, 0, 10, 10], [20, 20, 40, 30]] and req.target_index == [1]
    assert req.images.shape == (1, 3, 90, 120) and req.n_samples == 2


def test_evaluate_on_an_osie_format_folder(tmp_path, capsys):
    """The shipped OSIE sample folder (same format as OSIE) scored end to end with --split all."""
    from gazekit.paths import SAMPLE_DIR

    if not (SAMPLE_DIR / "osie" / "fixations.mat").is_file():
        pytest.skip("gazekit/_sample/osie is not present")
    out = tmp_path / "eval.json"
    rc = main(["evaluate", "--model", "tpp-tiny", "--data", "osie-sample", "--split", "all", "--max-images", "1",
               "--n-samples", "2", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    rows = {r["metric"]: r for r in result["table"]}
    ig = rows["spatial IG over centre bias (bits/fixation)"]
    assert ig["centre-bias"] == pytest.approx(0.0, abs=1e-9)
    assert ig["uniform"] < 0 < ig["human"]
    assert "multimatch/position" in rows and "scanmatch" in rows and "sequence_score" in rows
    assert rows["multimatch/position"]["human"] > rows["multimatch/position"]["uniform"]
    assert result["baselines_fitted_on"].startswith("the evaluated images")
