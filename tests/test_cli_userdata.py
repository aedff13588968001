"""The user's own data through the commands (issue 15): the exact cases of its 'Why', on the real OSIE sample."""

from __future__ import annotations

import json

import pytest

from gazekit.cli import main
from gazekit.datasets import load_dataset
from gazekit.paths import SAMPLE_DIR

STIMULI = SAMPLE_DIR / "osie" / "stimuli"


@pytest.fixture(scope="module")
def human():
    return load_dataset("osie-sample").scanpaths


def _minimal_pred(human, path, *, images=("1001.jpg", "1002.jpg"), edit=None):
    """Subject 1's real scanpaths on two images as a minimal user table (image, subject, x, y, duration_ms)."""
    rows = ["image,subject,x,y,duration_ms"]
    for i in range(len(human)):
        if human.image[i] in images and human.subject[i] == "1":
            s = human.scanpath(i)
            rows += [f"{human.image[i].split('.')[0]},model,{x},{y},{d}" for x, y, d in
                     zip(s["x"], s["y"], s["duration"])]
    if edit:
        rows = edit(rows)
    path.write_text("\n".join(rows) + "\n")
    return path


def _bad(rows):
    rows[2] = rows[2].rsplit(",", 1)[0] + ",-63"  # negative duration
    x_field = rows[3].split(",")
    x_field[2] = "12000"  # far outside the 800x600 image
    rows[3] = ",".join(x_field)
    return rows


def test_score_refuses_negative_durations_and_far_outside_fixations(tmp_path, capsys, human):
    """Why: score accepted negative durations and fixations far outside the image with exit 0 (MultiMatch
    duration -0.063) while 'data info' rejected the same file."""
    pred = _minimal_pred(human, tmp_path / "pred.csv", edit=_bad)
    args = ["score", "--pred", str(pred), "--human", "osie-sample", "--metrics", "multimatch", "--images",
            str(STIMULI)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pred.csv', record 0 (image '1001', subject 'model'), field 'duration_ms'" in err
    assert "non-positive duration: x=390.6, y=326.4, duration=-63.0" in err
    assert "--on-invalid drop or clip" in err and "Traceback" not in err
    assert main(["data", "info", str(pred), "--images", str(STIMULI), "--no-cache"]) == 2  # the same verdict
    assert main(args + ["--on-invalid", "drop", "--json", str(tmp_path / "s.json")]) == 0
    assert "--pred (pred): dropped fixations: 1 (non-positive duration), 1 (outside the image)" in \
        capsys.readouterr().err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["format"] == "gazekit-score" and doc["version"] == 2
    assert doc["validation"]["pred"]["dropped_fixations"] == {"non-positive duration": 1, "outside the image": 1}
    duration = next(r for r in doc["rows"] if r["metric"] == "multimatch/duration")
    assert 0.0 <= duration["model"] <= 1.0


def test_one_nan_fixation_does_not_void_the_run(tmp_path, capsys, human):
    """Why: one NaN fixation voided every metric of the whole run ('no metric could be computed')."""
    def nan(rows):
        rows[4] = rows[4].replace(rows[4].split(",")[2], "nan", 1)
        return rows

    pred = _minimal_pred(human, tmp_path / "pred.csv", edit=nan)
    args = ["score", "--pred", str(pred), "--human", "osie-sample", "--metrics", "scanmatch", "--json",
            str(tmp_path / "s.json"), "--on-invalid", "drop"]
    assert main(args) == 0
    assert "no metric could be computed" not in capsys.readouterr().out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["rows"][0]["model"] > 0 and doc["validation"]["pred"]["dropped_fixations"] == {"nan coordinate": 1}


def test_minimal_prediction_table_scores_like_the_full_one(tmp_path, human):
    """Why: a user's own prediction table needed five boilerplate columns (dataset, trial, task, condition,
    index)."""
    minimal = _minimal_pred(human, tmp_path / "pred.csv")
    full = human[[i for i in range(len(human)) if human.image[i] in ("1001.jpg", "1002.jpg")
                  and human.subject[i] == "1"]]
    full.subject = ["model"] * len(full)
    full.save(tmp_path / "full.csv")
    docs = []
    for pred in (minimal, tmp_path / "full.csv"):
        out = tmp_path / f"{pred.stem}.json"
        assert main(["score", "--pred", str(pred), "--human", "osie-sample", "--metrics", "scanmatch",
                     "edit_distance", "--json", str(out)]) == 0
        docs.append(json.loads(out.read_text()))
    assert [r["model"] for r in docs[0]["rows"]] == pytest.approx([r["model"] for r in docs[1]["rows"]])


def test_score_list_needs_no_human(capsys):
    """Why: 'gazekit score --list' (shown in the README) failed: --human was required."""
    assert main(["score", "--list"]) == 0
    assert "multimatch" in capsys.readouterr().out
    assert main(["score", "--pred", "x.csv"]) == 2
    assert "--human HUMAN is required" in capsys.readouterr().err


def test_human_column_is_computed_on_the_scored_images(tmp_path, human):
    """Why: the 'human (LOSO)' column was computed over every image of the human set even when the model was
    scored on two of them."""
    pred = _minimal_pred(human, tmp_path / "pred.csv")
    out = tmp_path / "s.json"
    assert main(["score", "--pred", str(pred), "--human", "osie-sample", "--metrics", "edit_distance",
                 "--human-baseline", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["human_scope"] == {"scanpaths": 30, "images": 2}
    two = human[[i for i in range(len(human)) if human.image[i] in ("1001.jpg", "1002.jpg")]]
    two.save(tmp_path / "two.csv")
    assert main(["score", "--human", str(tmp_path / "two.csv"), "--metrics", "edit_distance", "--human-baseline",
                 "--json", str(tmp_path / "h.json")]) == 0
    alone = json.loads((tmp_path / "h.json").read_text())
    assert doc["rows"][0]["human"] == pytest.approx(alone["rows"][0]["human"])
    everything = tmp_path / "all.json"
    assert main(["score", "--human", "osie-sample", "--metrics", "edit_distance", "--human-baseline", "--json",
                 str(everything)]) == 0
    assert json.loads(everything.read_text())["rows"][0]["human"] != pytest.approx(doc["rows"][0]["human"])


def test_empty_table_is_an_error(tmp_path, capsys):
    """Why: an empty table (header only) was accepted silently as 0 scanpaths."""
    (tmp_path / "empty.csv").write_text("image,subject,x,y\n")
    assert main(["score", "--pred", str(tmp_path / "empty.csv"), "--human", "osie-sample"]) == 2
    assert "no rows (only the header" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path / "empty.csv"), "--no-cache"]) == 2


def test_column_mapping_and_time_unit_on_the_command_line(tmp_path, capsys, human):
    rows = ["pic,who,gx,gy,dur_s"]
    s = human.scanpath(human.trial.index("1001.jpg/1"))
    rows += [f"1001,me,{x},{y},{d / 1000}" for x, y, d in zip(s["x"], s["y"], s["duration"])]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert main(["data", "info", str(tmp_path / "t.csv"), "--columns", "image=pic,subject=who,x=gx,y=gy,"
                 "duration=dur_s", "--time-unit", "s", "--images", str(STIMULI), "--json", "--no-cache"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fixations"] == len(s["x"]) and info["image_sizes"] == [[800.0, 600.0]]
    assert info["images_without_file"] == 0
    assert main(["data", "info", str(tmp_path / "t.csv"), "--columns", "x=nope"]) == 2
    assert "column 'nope' (mapped to 'x') is not in the table" in capsys.readouterr().err


def _minimal_human_table(human, path):
    rows = ["image,subject,x,y,duration_ms"]
    for i in range(len(human)):
        s = human.scanpath(i)
        rows += [f"{human.image[i].split('.')[0]},{human.subject[i]},{x},{y},{d}" for x, y, d in
                 zip(s["x"], s["y"], s["duration"])]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_evaluate_on_a_table_plus_images_with_baselines_from_a_named_data_set(tmp_path, human):
    """Images + table = a data set for evaluate; baselines fitted on another data set's training split instead of
    in-sample; the JSON has its format, version and validation counts."""
    table = _minimal_human_table(human, tmp_path / "mine.csv")
    out = tmp_path / "ev.json"
    assert main(["evaluate", "--model", "tpp-osie", "--data", "table", "--root", str(table), "--images", str(STIMULI),
                 "--split", "all", "--max-images", "1", "--n-samples", "1", "--no-pair-metrics", "--baselines-from",
                 "osie-sample", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "gazekit-evaluate" and doc["version"] == 2 and doc["images"] == 1
    assert doc["baselines_fitted_on"] == "150 training scanpaths of osie-sample (train split)"
    assert doc["validation"]["data"] == {"dropped_fixations": {}, "clipped_fixations": {}, "dropped_scanpaths": {},
                                         "scanpaths": 180, "fixations": 1689}


def test_evaluate_table_without_images_says_which_flag(tmp_path, capsys, human):
    table = _minimal_human_table(human, tmp_path / "mine.csv")
    assert main(["evaluate", "--model", "tpp-osie", "--data", str(table), "--split", "all"]) == 2
    err = capsys.readouterr().err
    assert "has no image files" in err and "--images DIR" in err


def test_training_config_reads_a_table_plus_images(tmp_path, human):
    from gazekit.datasets.datamodule import GazeDataModule

    table = _minimal_human_table(human, tmp_path / "mine.csv")
    dm = GazeDataModule(dataset="table", root=str(table), image_size=(60, 80), batch_size=4,
                        dataset_kwargs={"images_dir": str(STIMULI)}, preload_images=False)
    dm.setup()
    assert sum(len(dm.split(s)) for s in ("train", "val", "test")) == 180
    images, sp = next(iter(dm.train_dataloader()))
    assert tuple(images.shape[1:]) == (3, 60, 80) and len(sp) == 4
    assert sp.image_size[0].tolist() == [80.0, 60.0]  # rescaled from the 800x600 read off the files
