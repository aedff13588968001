"""Untrusted checkpoint files run no code (issue 13.1): a pickle whose ``__reduce__`` would create a marker file is
refused by every entry point, and only ``trust=True`` / ``--trust-checkpoint`` lets it run."""

from __future__ import annotations

import pathlib
import textwrap

import pytest
import torch

from gazekit.cli import main
from gazekit.errors import InvalidInputError, UntrustedCheckpointError
from gazekit.models import create_model, load_checkpoint, load_predictor
from gazekit.paths import SAMPLE_DIR

IMAGE = str(SAMPLE_DIR / "osie" / "stimuli" / "1001.jpg")


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears exactly when the pickle's code runs."""

    def __init__(self, marker: pathlib.Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path):
    """``(checkpoint path, marker path)``: a TPP-shaped checkpoint whose hyper-parameters hold the payload."""
    marker = tmp_path / "marker-created-by-pickle"
    path = tmp_path / "evil.ckpt"
    torch.save({"format": "gazekit-tpp", "version": 1, "hyper_parameters": {"x": _Payload(marker)},
                "state_dict": {}}, path)
    return path, marker


def test_the_payload_really_runs_when_trusted(evil):
    """The control: with the opt-in the same file does run its code (so the refusals below are real)."""
    path, marker = evil
    with pytest.raises(InvalidInputError):  # the file runs, then is not a usable TPP checkpoint
        load_checkpoint(path, trust=True)
    assert marker.exists()


@pytest.mark.parametrize("entry", ["load_checkpoint", "create_model", "load_predictor", "from_file", "load_oat"])
def test_python_entry_points_refuse(evil, entry):
    from gazekit.models.oat import load_oat
    from gazekit.models.tpp_core import TPPGazeCore

    path, marker = evil
    call = {"load_checkpoint": lambda: load_checkpoint(path),
            "create_model": lambda: create_model("tpp", pretrained=str(path)),
            "load_predictor": lambda: load_predictor(str(path)),
            "from_file": lambda: TPPGazeCore.from_file(path),
            "load_oat": lambda: load_oat(path)}[entry]
    with pytest.raises(UntrustedCheckpointError, match="trust=True") as err:
        call()
    assert "--trust-checkpoint" in str(err.value) and "evil.ckpt" in str(err.value)
    assert not marker.exists()


def test_backbone_weights_are_read_weights_only(evil):
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError):
        create_model("tpp-tiny", backbone_pretrained=str(path))
    assert not marker.exists()


def test_legacy_pickle_format_is_refused_too(tmp_path):
    import pickle

    marker = tmp_path / "marker"
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"state_dict": {}, "hyper_parameters": _Payload(marker)}, protocol=2))
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_predict_and_evaluate_refuse(evil, command, tmp_path, capsys):
    path, marker = evil
    args = ([IMAGE, "--out", str(tmp_path / "out")] if command == "predict"
            else ["--data", "osie-sample", "--split", "all"])
    assert main([command, "--model", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "--trust-checkpoint" in err
    assert not marker.exists()
    assert not (tmp_path / "out" / "scanpaths.csv").exists()


def _tiny_config(tmp_path) -> pathlib.Path:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        trainer:
          max_epochs: 1
          accelerator: cpu
          logger: false
          enable_progress_bar: false
          enable_checkpointing: false
          default_root_dir: {tmp_path / "run"}
        model:
          class_path: gazekit.models.tpp.TPPGaze
          init_args: {{input_width: 96, input_height: 64, feature_dim: 8, hidden_dim: 16, head_dim: 8}}
        data:
          class_path: gazekit.datasets.datamodule.GazeDataModule
          init_args: {{dataset: osie-sample, image_size: [64, 96], batch_size: 4}}
        """))
    return cfg


@pytest.mark.parametrize("command", ["train", "validate", "predict"])
def test_lightning_ckpt_path_is_refused(evil, command, tmp_path):
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError, match="--trust-checkpoint"):
        main([command, "--config", str(_tiny_config(tmp_path)), "--ckpt_path", str(path)])
    assert not marker.exists()
