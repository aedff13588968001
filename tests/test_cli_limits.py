"""Integer batch limits stay integers (``1`` = one batch, ``1.0`` = all batches) whether they are written on the
command line or in a YAML config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytorch_lightning as pl

from gazekit.cli._lightning import given_values, restore_integer_limits

REPO = Path(__file__).resolve().parents[1]
# rich.console builds Optional[Union[float, int]] first; Python's typing cache then gives Lightning's Trainer the
# annotation Union[float, int, None], and jsonargparse reads 1 as 1.0
RICH_FIRST = ("import sys, rich.console; from gazekit.cli import main; "
              "sys.exit(max(main(['validate', '--config', c]) for c in sys.argv[1:]))")


def _cfg(**kw):
    base = dict(limit_train_batches=None, limit_val_batches=None, limit_test_batches=None,
                limit_predict_batches=None, overfit_batches=0.0, val_check_interval=None)
    return SimpleNamespace(**{**base, **kw})


def test_yaml_integers_are_restored(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("trainer:\n  limit_val_batches: 1\n  limit_test_batches: 1.0\n  limit_train_batches: 0.25\n"
                        "model:\n  limit_predict_batches: 1\n")  # not under trainer: not a trainer option
    cfg = _cfg(limit_val_batches=1.0, limit_test_batches=1.0, limit_train_batches=0.25, limit_predict_batches=1.0)
    restore_integer_limits(cfg, ["--config", str(cfg_file)])
    assert type(cfg.limit_val_batches) is int and cfg.limit_val_batches == 1
    assert type(cfg.limit_test_batches) is float and type(cfg.limit_predict_batches) is float
    assert cfg.limit_train_batches == 0.25


def test_later_sources_win(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("trainer:\n  limit_val_batches: 1\n  limit_test_batches: 1\n")
    b.write_text("trainer:\n  limit_test_batches: 1.0\n")
    trainer_file = tmp_path / "t.yaml"
    trainer_file.write_text("limit_predict_batches: 1\n")
    argv = [f"--config={a}", "--config", str(b), "--trainer.limit_val_batches", "1.0", "--trainer", str(trainer_file),
            "--print_config", "--trainer.val_check_interval=1"]
    assert given_values(argv) == {"limit_val_batches": 1.0, "limit_test_batches": 1.0, "limit_predict_batches": 1,
                                  "val_check_interval": 1}
    inline = given_values(["--config", "{trainer: {limit_val_batches: 1}}"])  # jsonargparse accepts inline YAML
    assert inline == {"limit_val_batches": 1} and type(inline["limit_val_batches"]) is int


def test_missing_or_broken_config_is_left_to_jsonargparse(tmp_path):
    assert given_values(["--config", str(tmp_path / "nope.yaml")]) == {}
    (tmp_path / "bad.yaml").write_text("trainer: [unclosed\n")
    assert given_values(["--config", str(tmp_path / "bad.yaml"), "--trainer.limit_val_batches"]) == {}


class CountBatches(pl.Callback):
    """Writes the number of validation batches run to ``out`` (JSON)."""

    def __init__(self, out: str):
        self.out, self.n = out, 0

    def on_validation_batch_end(self, *args, **kwargs):
        self.n += 1

    def on_validation_end(self, trainer, module):
        Path(self.out).write_text(json.dumps({"batches": self.n}))


def test_yaml_one_runs_one_validation_batch(tmp_path):
    """End to end, in a fresh process (the typing cache is per process) that imports rich.console before Lightning
    (as any gazekit command that draws a progress bar or a table first does): ``limit_val_batches: 1`` in a config
    runs one batch of the centre-bias baseline's validation batches, ``1.0`` runs all of them."""
    configs = []
    for written in ("1", "1.0"):
        cfg = tmp_path / f"validate-{written}.yaml"
        cfg.write_text(f"""
model:
  class_path: gazekit.models.baselines.FreeviewBaseline
  init_args: {{kind: centre-bias}}
data:
  class_path: gazekit.datasets.datamodule.GazeDataModule
  init_args: {{dataset: osie-sample, with_images: false, batch_size: 4, fractions: [0.4, 0.6, 0.0], seed: 0}}
trainer:
  limit_val_batches: {written}
  accelerator: cpu
  devices: 1
  logger: false
  enable_progress_bar: false
  default_root_dir: {tmp_path}
  callbacks:
    - class_path: tests.test_cli_limits.CountBatches
      init_args: {{out: {tmp_path / f"count-{written}.json"}}}
""")
        configs.append(str(cfg))
    run = subprocess.run([sys.executable, "-c", RICH_FIRST, *configs], cwd=REPO, capture_output=True, text=True,
                         timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    counts = {w: json.loads((tmp_path / f"count-{w}.json").read_text())["batches"] for w in ("1", "1.0")}
    assert counts["1"] == 1
    assert counts["1.0"] == 27  # every validation batch of the sample (4 scanpaths each)
