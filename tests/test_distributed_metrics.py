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


def test_search_validation_means_are_the_pooled_curve(tmp_path):
    """Search models accumulate per-search values (found, curve area, length); their epoch means equal the values
    of the target-fixation curve pooled over every search of the epoch (batches of 5 and 2 searches here)."""
    import pytorch_lightning as pl

    from gazekit.metrics.functional.search import target_fixation_curve, tfp_auc
    from gazekit.models import create_model
    from gazekit.scanpaths import Scanpaths

    g = torch.Generator().manual_seed(0)
    centre, corner = [26.0, 18.0, 38.0, 30.0], [56.0, 40.0, 64.0, 48.0]  # found at once / never within 4
    boxes = [centre if k in (0, 2, 5) else corner for k in range(7)]
    human = Scanpaths.from_sequences([[32.0, 10.0]] * 7, [[24.0, 20.0]] * 7, image=[f"i{k}" for k in range(7)],
                                     task=["t"] * 7, target_box=boxes, image_size=[64, 48])
    images = torch.rand(7, 3, 48, 64, generator=g)
    batches = [(images[:5], human[list(range(5))]), (images[5:], human[[5, 6]])]

    class Collect(pl.Callback):
        preds: list = []

        def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
            self.preds.append(outputs)

    model = create_model("search-centre-out", max_fixations=4)
    collect = Collect()
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[collect], default_root_dir=tmp_path)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, collate_fn=lambda b: b)
    trainer.validate(model, dataloaders=loader, verbose=False)
    pooled = Scanpaths.concat(collect.preds)
    curve = target_fixation_curve(pooled, 4)
    got = model.epoch_metrics["val"]
    assert 0 < got["found_rate"] < 1  # some searches find their target, some do not
    assert got["found_rate"] == pytest.approx(float(curve[-1]), abs=1e-12)
    assert got["tfp_auc"] == pytest.approx(tfp_auc(curve), abs=1e-12)
    assert got["mean_length"] == pytest.approx(float(pooled.lengths.double().mean()), abs=1e-12)
