"""Every unknown name a gazekit command takes is refused with close matches (UnknownNameError's message), exit
status 2 and no traceback; and every command explains itself with --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gazekit.cli import LIGHTNING_COMMANDS, build_parser, main
from gazekit.errors import UnknownNameError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# (argv, the close match the message must suggest); {tmp} is a scratch folder holding x.asc
CASES = {
    "command": (["scor"], "score"),
    "data-action": (["data", "inf", "osie"], "info"),
    "dataset": (["data", "info", "osiee"], "osie"),
    "model-evaluate": (["evaluate", "--model", "tpp-osei", "--data", "osie"], "tpp-osie"),
    "dataset-evaluate": (["evaluate", "--model", "uniform", "--data", "osie-sampel"], "osie-sample"),
    "split-evaluate": (["evaluate", "--model", "uniform", "--data", "osie", "--split", "tset"], "test"),
    "model-predict": (["predict", "--model", "oat-objaray", "--out", "{tmp}/p", "{tmp}/none.png"], "oat-objarray"),
    "model-models": (["models", "centre-bais"], "centre-bias"),
    "protocol-score": (["score", "--human", "osie-sample", "--human-baseline", "--protocol", "defualt"], "default"),
    "grouping-score": (["score", "--human", "osie-sample", "--by", "imgae"], "image"),
    "reader-events": (["events", "info", "{tmp}/x.asc", "--format", "eyelnk"], "eyelink_asc"),
    "method-events": (["events", "detect", "{tmp}/x.asc", "--method", "ivx", "--out", "{tmp}/f.csv"], "ivt"),
    "events-action": (["events", "detec", "{tmp}/x.asc"], "detect"),
    "plot-kind": (["plot", "scanpth", "--out", "{tmp}/a.png"], "scanpath"),
}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse refusals
        rc = exc.code
    out = capsys.readouterr()
    return rc, " ".join((out.out + out.err).split())  # rich wraps long lines


@pytest.mark.parametrize("case", sorted(CASES))
def test_unknown_names_get_close_matches(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.asc").write_text("** gazekit test file\n")
    argv, suggestion = CASES[case]
    rc, text = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert rc == 2, text
    assert f"Did you mean: {suggestion}" in text, text
    assert "Traceback" not in text


def test_unknown_metric_is_refused_up_front_with_close_matches(capsys):
    rc, text = _run(["score", "--human", "osie-sample", "--pred", "osie-sample", "--metrics", "multimach"], capsys)
    assert rc == 2, text
    assert "unknown metric 'multimach'. Did you mean: multimatch" in text
    assert "protocol" not in text  # refused before scoring: no result table


def test_unknown_evaluator_kind():
    from gazekit.evaluation import get_evaluator

    with pytest.raises(UnknownNameError, match="Did you mean: search"):
        get_evaluator("serch")


def _bad_dataset_config(tmp_path) -> Path:
    text = (CONFIGS / "ecc_search_interiors.yaml").read_text().replace("dataset: interiors", "dataset: interiorz")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["fit", "predict"])
def test_config_with_an_unknown_dataset_raises_from_python(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownNameError, match="Did you mean: interiors"):
        main([command, "--config", str(_bad_dataset_config(tmp_path)), f"--trainer.default_root_dir={tmp_path}"])


def test_config_with_an_unknown_dataset_is_one_line_on_the_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gazekit", "predict", "--config", str(_bad_dataset_config(tmp_path)),
                          f"--trainer.default_root_dir={tmp_path}"], capture_output=True, text=True, timeout=300, check=False,
                         cwd=tmp_path)
    assert out.returncode == 2
    assert "gazekit predict: error: unknown dataset 'interiorz'. Did you mean: interiors" in out.stderr
    assert "Traceback" not in out.stderr


def _subcommand_paths() -> list[list[str]]:
    _, mods = build_parser()
    paths = [[], *([name] for name in sorted(mods))]
    paths += [["data", a] for a in ("list", "info", "convert")] + [["events", a] for a in ("info", "detect", "readers")]
    return paths


@pytest.mark.parametrize("path", _subcommand_paths(), ids=lambda p: " ".join(p) or "gazekit")
def test_help_exits_0_and_explains(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gazekit")
    assert len(out.split()) > 15  # more than a bare usage line: descriptions of the arguments


@pytest.mark.parametrize("command", sorted(LIGHTNING_COMMANDS))
def test_lightning_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--config" in capsys.readouterr().out
