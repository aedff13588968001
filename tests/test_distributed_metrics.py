"""Validation/test metrics under DDP are means over all items of all processes (sums and counts reduced), equal to
one process's to 1e-12 when the processes hold different numbers of fixations."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gazekit.models._epoch_means import EpochMeans

SCRIPT = Path(__file__).parent / "_scripts" / "validate_ddp.py"
REPO = Path(__file__).resolve().parents[1]


def _gloo_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    means = EpochMeans(["a", "b", "never"])
    if rank == 0:  # 3 items of a (sum 6), 1 of b
        means.add_values("a", torch.tensor([1.0, 2.0, 3.0]))
        means.add("b", 10.0, 1)
    else:  # 1 item of a, none of b
        means.add_values("a", torch.tensor([10.0]))
    result = means.compute()
    dist.barrier()
    if rank == 0:
        Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


def test_epoch_means_reduce_sums_and_counts_over_processes(tmp_path):
    """(1 + 2 + 3 + 10) / 4 = 4, not the mean of the per-process means (2 + 10) / 2 = 6."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_gloo_worker, args=(2, port, str(tmp_path / "r.json")), nprocs=2, join=True,
                       start_method="fork")  # fork: no re-import of torch in the children
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["a"] == 4.0 and result["b"] == 10.0 and math.isnan(result["never"])


def test_epoch_means_single_process_and_reset():
    means = EpochMeans(["x"])
    means.add_values("x", torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    means.add("x", 8.0, 3)
    assert means.compute() == {"x": 20.0 / 7}
    assert math.isnan(means.compute()["x"])  # compute resets


def test_baseline_validation_is_the_per_fixation_mean(tmp_path):
    """One process, batches with different numbers of fixations: val/nll is sum(-log-likelihood) / fixations
    (Lightning's own epoch value of per-batch means weighted by scanpaths per batch was not)."""
    import pytorch_lightning as pl

    from gazekit.datasets.datamodule import GazeDataModule
    from gazekit.models.baselines import FreeviewBaseline
    from gazekit.paths import SAMPLE_DIR

    dm = GazeDataModule("osie-sample", root=str(SAMPLE_DIR / "osie"), with_images=False, batch_size=7,
                        fractions=(0.5, 0.5, 0.0), seed=0)
    dm.setup("fit")
    model = FreeviewBaseline(kind="centre-bias").fit(dm.split("train").scanpaths)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.validate(model, datamodule=dm, verbose=False)
    sp = dm.split("val").scanpaths
    spatial = model.fixation_log_density(sp)[sp.mask].double()
    duration = model.duration_log_likelihood(None, sp)[sp.mask].double()
    known = torch.isfinite(duration)
    expected = -(spatial.sum() + duration[known].sum()) / sp.mask.sum()
    assert model.epoch_metrics["val"]["nll"] == pytest.approx(float(expected), rel=1e-12)
    assert model.epoch_metrics["val"]["spatial_ll"] == pytest.approx(float(spatial.mean()), rel=1e-12)
    assert float(trainer.callback_metrics["val/nll"]) == pytest.approx(float(expected), rel=1e-6)


def _validate(out: Path, model: str, devices: int) -> dict:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, str(SCRIPT), str(out), model, "--devices", str(devices)],
                         capture_output=True, text=True, env=env, timeout=600, check=False, cwd=REPO)
    if run.returncode != 0:
        raise AssertionError(f"validation failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return json.loads((out / "val.json").read_text())


@pytest.mark.slow  # two Lightning runs, one of them 2-process DDP (~50 s here)
@pytest.mark.parametrize("model", ["tpp", "centre-bias"])
def test_ddp_validation_equals_one_process(tmp_path, model):
    one = _validate(tmp_path / "one", model, 1)
    ddp = _validate(tmp_path / "ddp", model, 2)
    (s0, f0), (s1, f1) = ddp["counts"]
    assert [s0 + s1, f0 + f1] == one["counts"][0]  # every validation scanpath once, none repeated
    assert f0 != f1  # the shards hold different numbers of fixations
    assert one["epoch"].keys() == ddp["epoch"].keys() == one["reference"].keys()
    for name, value in one["epoch"].items():
        assert ddp["epoch"][name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        # the reference sums float64 values of the float32 likelihoods; the model sums per batch in float32
        assert value == pytest.approx(one["reference"][name], rel=1e-6), name
        logged = f"val/{name}"
        assert ddp["logged"][logged] == pytest.approx(one["logged"][logged], rel=1e-7), name
