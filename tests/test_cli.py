"""The gazekit command dispatcher and its help texts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gazekit.cli import build_parser, main
from gazekit.errors import UnknownNameError


def test_help_lists_every_command(capsys):
    parser, mods = build_parser()
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ["train", "fit", "validate", "test", *mods]:
        assert name in out


def test_every_subcommand_has_help(capsys):
    _, mods = build_parser()
    for name in mods:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage: gazekit" in capsys.readouterr().out


def test_models_json_lists_registered_models(capsys):
    from gazekit.models import list_models

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_models()
    for r in rows:
        assert set(r) >= {"name", "predicts", "inputs", "weights"}


def test_unknown_name_suggests_close_matches():
    err = UnknownNameError("model", "tpp-osei", ["tpp-osie", "oat-objarray", "uniform"])
    assert "Did you mean: tpp-osie" in str(err)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "gazekit", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "gazekit" in out.stdout
