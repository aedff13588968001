"""Every config in configs/ is a test: each must run as is (with fast_dev_run) through the gazekit CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from gazekit.cli import main
from gazekit.errors import DatasetNotFoundError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert CONFIGS, "configs/ holds no YAML config"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_fast_dev_run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(["fit", "--config", str(config), "--trainer.fast_dev_run=true",
                   f"--trainer.default_root_dir={tmp_path}", "--trainer.accelerator=cpu", "--trainer.devices=1"])
    except DatasetNotFoundError as err:
        pytest.skip(f"data for {config.name} not available: {err}")
    assert rc == 0
