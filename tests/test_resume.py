"""Training killed mid-epoch (hard exit, no clean-up) resumes from its last checkpoint and ends with exactly the
weights of an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parent / "_scripts" / "train_tiny.py"


def _run(*args, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=False, capture_output=True, text=True,
                         env=env,
                         timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"training failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


# GazeDataModule: 17 steps per epoch, die at the start of step 23; ImageGroupedDataModule (TPP's, one image per
# batch): 9 steps per epoch, die at step 13. Both in the middle of the second epoch, after an odd number of steps
# since the last checkpoint (every 2 steps), so the resumed run replays part of an epoch.
@pytest.mark.parametrize(("extra", "kill_at"), [((), 23), (("--grouped",), 13)], ids=["plain", "image-grouped"])
def test_kill_mid_epoch_then_resume_gives_identical_weights(tmp_path, extra, kill_at):
    full, part = tmp_path / "full", tmp_path / "part"
    _run(full, "--epochs", "2", *extra)
    killed = _run(part, "--epochs", "2", "--kill-at", kill_at, *extra, check=False)
    assert killed.returncode == 9, killed.stderr[-2000:]
    assert not (part / "final.pt").exists()
    _run(part, "--epochs", "2", "--resume", part / "last.ckpt", *extra)
    a, b = torch.load(full / "final.pt"), torch.load(part / "final.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
