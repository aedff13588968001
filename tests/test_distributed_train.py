"""Training under Lightning DDP (2 CPU processes, gloo) with image-grouped batches gives the weights and the
validation NLL of one process.

Why the two runs can be equal, and which single-process run that is: TPP's loss is normalised per *fixation*
(``-log-likelihood / number of fixations in the batch``). DDP averages the gradients of the two ranks' losses,
``(g(b0) + g(b1)) / 2``; one process training on the union batch ``b0 + b1`` would take the gradient of
``-LL(b0 + b1) / (n0 + n1)`` instead, which differs whenever the halves hold different numbers of fixations (they
do: the weights then differ by ~1e-2 after 8 Adam steps, measured). The single-process run that *is* DDP's
computation is gradient accumulation over the same batches: ``accumulate_grad_batches=2`` steps on
``g(b0) / 2 + g(b1) / 2``, and :class:`ImageBatchSampler` hands rank r the batches r, r + 2, ... of the very
sequence the single process iterates, so optimiser step k sees batches 2k and 2k + 1 in both runs. Dropout and
flips are off (random draws would differ between ranks), and the backbone uses GroupNorm: with BatchNorm, DDP keeps
rank 0's running statistics, which no single-process run reproduces (measured with ``--backbone lcnet_050``: the
parameters still agree exactly, but running statistics differ by up to 0.6 and the validation NLL by 1e-4). Under
those conditions the two runs agree to float rounding (measured: identical), and the test allows 1e-6.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gazekit.datasets.grouped import ImageBatchSampler, ImageGroupedDataModule

SCRIPT = Path(__file__).parent / "_scripts" / "train_ddp.py"
KEYS = list("aabbbcddeeefgg")  # 7 images with 2, 3, 1, 2, 3, 1, 2 scanpaths


def _batches(sampler) -> list[list[int]]:
    return [list(b) for b in sampler]


def test_ranks_take_alternate_batches_of_the_single_process_sequence():
    for epoch in (0, 3):
        whole = ImageBatchSampler(KEYS, 2, True, seed=5)
        whole.set_epoch(epoch)
        ranks = [ImageBatchSampler(KEYS, 2, True, seed=5, num_replicas=2, rank=r) for r in range(2)]
        for s in ranks:
            s.set_epoch(epoch)
        single, (r0, r1) = _batches(whole), [_batches(s) for s in ranks]
        assert len(single) == 4 and len(r0) == len(r1) == 2
        assert [b for step in zip(r0, r1) for b in step] == single  # step k: batches 2k (rank 0), 2k + 1 (rank 1)
    assert _batches(ImageBatchSampler(KEYS, 2, True, seed=5)) != single  # the epoch reshuffles


def test_training_pads_to_equal_steps_and_evaluation_uses_every_item_once():
    train = [_batches(ImageBatchSampler(KEYS, 3, True, num_replicas=2, rank=r)) for r in range(2)]
    assert [len(t) for t in train] == [2, 2]  # 3 batches padded with the first one
    assert train[1][1] == train[0][0]
    evaluation = [ImageBatchSampler(KEYS, 3, False, num_replicas=2, rank=r, even=False) for r in range(2)]
    assert [len(s) for s in evaluation] == [2, 1]
    items = sorted(i for s in evaluation for b in s for i in b)
    assert items == list(range(len(KEYS)))
    few = [_batches(ImageBatchSampler(KEYS, 7, False, num_replicas=2, rank=r, even=False)) for r in range(2)]
    assert few[0] == few[1] == [list(range(len(KEYS)))]  # one batch, two ranks: both need one (Lightning)


def test_datamodule_shards_by_the_trainers_rank():
    dm = ImageGroupedDataModule("osie-sample", image_size=(32, 48), images_per_batch=2, fractions=(0.5, 0.5, 0.0))
    dm.setup("fit")
    alone = [sp.image for _, sp in dm.val_dataloader()]
    shares = []
    for rank in range(2):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        shares.append([sp.image for _, sp in dm.val_dataloader()])
    assert shares[0] + shares[1] == alone[0::2] + alone[1::2]
    assert len(alone) == 3 and all(len(set(images)) <= 2 for images in alone)


def _ids(batches) -> list[tuple]:
    return [row for _, sp in batches for row in zip(sp.image, sp.subject, sp.trial)]


def test_gaze_datamodule_shards_training_itself_and_resumes_mid_epoch_on_a_rank():
    """GazeDataModule under DDP: a DistributedSampler of its own (so Lightning keeps the loader whose position the
    DataModule saves); a rank restored from the DataModule's state continues on the very next batch."""
    from torch.utils.data import DistributedSampler

    from gazekit.datasets.datamodule import GazeDataModule

    def module(rank):
        dm = GazeDataModule("osie-sample", image_size=(32, 48), batch_size=8, fractions=(0.75, 0.25, 0.0))
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        return dm

    loaders = [module(r).train_dataloader() for r in range(2)]
    for loader in loaders:
        assert isinstance(loader.sampler, DistributedSampler)
        loader.sampler.set_epoch(1)
    shares = [_ids(loader) for loader in loaders]
    train = _ids(GazeDataModule("osie-sample", image_size=(32, 48), batch_size=8, fractions=(0.75, 0.25, 0.0),
                                shuffle=False).train_dataloader())
    assert len(shares[0]) == len(shares[1]) == (len(train) + 1) // 2  # DistributedSampler pads an odd count
    assert set(shares[0]) | set(shares[1]) == set(train) and len(set(shares[0]) & set(shares[1])) <= 1
    dm = module(1)
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(1)
    it = iter(loader)
    head = [next(it), next(it)]
    state = dm.state_dict()
    resumed = module(1)
    resumed.load_state_dict(state)
    loader = resumed.train_dataloader()
    loader.sampler.set_epoch(1)
    assert _ids(head) + _ids(loader) == shares[1]


def _train(out: Path, *args) -> tuple[dict, dict]:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), str(out), *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=600, check=False)
    if run.returncode != 0:
        raise AssertionError(f"training failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return torch.load(out / "final.pt"), json.loads((out / "val.json").read_text())


def test_ddp_two_processes_equal_one_process_with_gradient_accumulation(tmp_path):
    ddp, ddp_val = _train(tmp_path / "ddp", "--devices", 2)
    one, one_val = _train(tmp_path / "one", "--accumulate", 2)
    initial = torch.load(tmp_path / "one" / "initial.pt")
    assert ddp_val["steps"] == one_val["steps"] == 8  # 2 epochs x 8 train images / 2 per step
    assert ddp.keys() == one.keys()
    diff = max((ddp[k].double() - one[k].double()).abs().max().item() for k in ddp if ddp[k].numel())
    moved = max((one[k].double() - initial[k].double()).abs().max().item() for k in one if one[k].numel())
    print(f"max |DDP - 1 process| weight difference {diff:.3g} (training moved weights by up to {moved:.3g}); "
          f"val NLL {ddp_val['val_nll']} vs {one_val['val_nll']}")
    assert moved > 1e-3  # the comparison is not between two untrained models
    assert diff < 1e-6
    assert ddp_val["val_nll"] == pytest.approx(one_val["val_nll"], abs=1e-6, rel=0)
    # what the model logs (per-fixation means reduced over ranks, tests/test_distributed_metrics.py) is what the
    # callback computes from the batches, on every epoch and in both runs
    for run in (one_val, ddp_val):
        assert run["val_nll"] == pytest.approx(run["logged_val_nll"], abs=1e-5, rel=0)
