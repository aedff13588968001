"""Untrusted checkpoint files run no code (issue 13.1): a pickle whose ``__reduce__`` would create a marker file is
refused by every entry point, and only ``trust="<its sha256>"`` / ``--trust-checkpoint SHA256`` lets it run (the
opt-in names the file's content: a wrong hash or a bare ``True`` is refused)."""

from __future__ import annotations

import hashlib
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


def _sha256(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


WRONG = "0123456789abcdef" * 4


def test_the_payload_really_runs_when_trusted(evil):
    """The control: with the file's sha256 (any case) the same file does run its code, so the refusals are real."""
    path, marker = evil
    with pytest.raises(InvalidInputError):  # the file runs, then is not a usable TPP checkpoint
        load_checkpoint(path, trust=_sha256(path).upper())
    assert marker.exists()


def test_a_wrong_sha256_is_refused_naming_both_hashes(evil):
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError) as err:
        load_checkpoint(path, trust=WRONG)
    assert "evil.ckpt" in str(err.value) and WRONG in str(err.value) and _sha256(path) in str(err.value)
    assert not marker.exists()


def test_a_bare_true_is_refused_with_how_to_get_the_hash(evil):
    path, marker = evil
    with pytest.raises(InvalidInputError, match="trust=True is not accepted") as err:
        load_checkpoint(path, trust=True)
    assert "sha256sum" in str(err.value) and not isinstance(err.value, UntrustedCheckpointError)
    assert not marker.exists()


@pytest.mark.parametrize("value", ["abc", WRONG[:-1] + "g", WRONG + "0", b"0" * 64, 1])
def test_a_malformed_sha256_is_an_error_naming_the_argument(evil, value):
    path, marker = evil
    with pytest.raises(InvalidInputError, match="trust must be the sha256"):
        load_checkpoint(path, trust=value)
    assert not marker.exists()


def test_the_checked_bytes_are_the_loaded_bytes(evil, monkeypatch, tmp_path):
    """The file is replaced right after gazekit has read it (time of check): what runs is what was checked."""
    path, marker = evil
    trusted_marker = tmp_path / "marker-of-the-reviewed-file"
    torch.save({"format": "gazekit-tpp", "version": 1, "hyper_parameters": {"x": _Payload(trusted_marker)},
                "state_dict": {}}, path)
    reviewed = _sha256(path)
    swap = tmp_path / "swap.ckpt"
    torch.save({"format": "gazekit-tpp", "version": 1, "hyper_parameters": {"x": _Payload(marker)},
                "state_dict": {}}, swap)
    evil_bytes = swap.read_bytes()
    read_bytes = pathlib.Path.read_bytes

    def read_then_swap(self):
        data = read_bytes(self)
        if self.name == "evil.ckpt":
            pathlib.Path(self).write_bytes(evil_bytes)
        return data

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_then_swap)
    with pytest.raises(InvalidInputError):
        load_checkpoint(path, trust=reviewed)
    assert trusted_marker.exists() and not marker.exists()
    assert read_bytes(path) == evil_bytes  # the swap did happen


@pytest.mark.parametrize("entry", ["load_checkpoint", "create_model", "load_predictor", "from_file", "load_oat"])
@pytest.mark.parametrize("trust", [None, WRONG, True])
def test_python_entry_points_refuse(evil, entry, trust):
    from gazekit.models.oat import load_oat
    from gazekit.models.tpp_core import TPPGazeCore

    path, marker = evil
    call = {"load_checkpoint": lambda: load_checkpoint(path, trust=trust),
            "create_model": lambda: create_model("tpp", pretrained=str(path), trust=trust),
            "load_predictor": lambda: load_predictor(str(path), trust=trust),
            "from_file": lambda: TPPGazeCore.from_file(path, trust=trust),
            "load_oat": lambda: load_oat(path, trust=trust)}[entry]
    expected = {None: UntrustedCheckpointError, WRONG: UntrustedCheckpointError, True: InvalidInputError}[trust]
    with pytest.raises(expected) as err:
        call()
    message = str(err.value)
    if trust is None:  # the refusal names the opt-in with this file's own sha256, ready to copy
        digest = _sha256(path)
        assert f'trust="{digest}"' in message and f"--trust-checkpoint {digest}" in message
        assert "evil.ckpt" in message
    elif trust is True:
        assert "sha256sum" in message
    else:
        assert WRONG in message and _sha256(path) in message
    assert not marker.exists()


@pytest.mark.parametrize("entry", ["create_model", "load_predictor"])
def test_a_bare_true_is_refused_even_for_shipped_weights(entry):
    call = {"create_model": lambda: create_model("centre-bias", trust=True),
            "load_predictor": lambda: load_predictor("centre-bias", trust=True)}[entry]
    with pytest.raises(InvalidInputError, match="sha256sum"):
        call()


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


def _cli_args(command, path, tmp_path):
    rest = ([IMAGE, "--out", str(tmp_path / "out")] if command == "predict"
            else ["--data", "osie-sample", "--split", "all"])
    return [command, "--model", str(path), *rest]


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_predict_and_evaluate_refuse(evil, command, tmp_path, capsys):
    path, marker = evil
    assert main(_cli_args(command, path, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "refused" in err and f"--trust-checkpoint {_sha256(path)}" in err
    assert main([*_cli_args(command, path, tmp_path), "--trust-checkpoint", WRONG]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and WRONG in err and _sha256(path) in err
    assert not marker.exists()
    assert not (tmp_path / "out" / "scanpaths.csv").exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_trust_checkpoint_needs_a_sha256(evil, command, tmp_path, capsys):
    path, marker = evil
    for bad in (["--trust-checkpoint"], ["--trust-checkpoint", "yes"]):
        with pytest.raises(SystemExit) as exit_:
            main([*_cli_args(command, path, tmp_path), *bad])
        assert exit_.value.code == 2
        assert "--trust-checkpoint" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_runs_the_file_whose_sha256_is_given(evil, command, tmp_path, capsys):
    """The CLI control: the file's own sha256 (among others: the option repeats) lets it run."""
    path, marker = evil
    args = [*_cli_args(command, path, tmp_path), "--trust-checkpoint", WRONG, "--trust-checkpoint", _sha256(path)]
    assert main(args) == 2  # the file runs, then is not a usable TPP checkpoint
    assert "do not fit" in capsys.readouterr().err
    assert marker.exists()


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
    with pytest.raises(UntrustedCheckpointError, match=f"--trust-checkpoint {_sha256(path)}"):
        main([command, "--config", str(_tiny_config(tmp_path)), "--ckpt_path", str(path)])
    with pytest.raises(UntrustedCheckpointError, match=WRONG):
        main([command, "--config", str(_tiny_config(tmp_path)), "--ckpt_path", str(path), "--trust-checkpoint", WRONG])
    for bad in (["--trust-checkpoint"], ["--trust-checkpoint=True"]):
        with pytest.raises(InvalidInputError, match="--trust-checkpoint"):
            main([command, "--config", str(_tiny_config(tmp_path)), "--ckpt_path", str(path), *bad])
    assert not marker.exists()


def test_lightning_loads_the_checked_private_copy(tmp_path, monkeypatch):
    """``--ckpt_path`` with ``--trust-checkpoint SHA256``: a real Lightning checkpoint carrying a payload runs it
    (the control), and when the file is replaced right after gazekit checked it, Lightning still loads the
    checked bytes (its private copy), never the replacement; the copy is removed afterwards."""
    import tempfile

    import gazekit.models._checkpoint as ck

    cfg = _tiny_config(tmp_path)
    text = cfg.read_text().replace("enable_checkpointing: false", "enable_checkpointing: true")
    cfg.write_text(text.replace("max_epochs: 1", "max_epochs: 1\n  limit_train_batches: 1\n  limit_val_batches: 1"))
    assert main(["train", "--config", str(cfg)]) == 0
    state = torch.load(next((tmp_path / "run").rglob("*.ckpt")), weights_only=False)  # our own file
    reviewed_marker, replacement_marker = tmp_path / "reviewed-ran", tmp_path / "replacement-ran"
    path, replacement = tmp_path / "reviewed.ckpt", tmp_path / "replacement.ckpt"
    torch.save({**state, "extra": _Payload(reviewed_marker)}, path)
    torch.save({**state, "extra": _Payload(replacement_marker)}, replacement)
    digest = _sha256(path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    check = ck.check_lightning_checkpoint

    def check_then_replace(ckpt, *, trust=None):
        out = check(ckpt, trust=trust)
        path.write_bytes(replacement.read_bytes())  # the attacker's moment: after the check, before Lightning
        return out

    monkeypatch.setattr(ck, "check_lightning_checkpoint", check_then_replace)
    assert main(["validate", "--config", str(cfg), "--ckpt_path", str(path), f"--trust-checkpoint={digest}"]) == 0
    assert reviewed_marker.exists() and not replacement_marker.exists()
    assert _sha256(path) != digest  # the file was replaced
    assert not list((tmp_path / "tmp").iterdir())  # the private copy is gone
