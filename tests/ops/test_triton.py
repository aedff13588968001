"""The Triton blend kernels equal the CPU kernel (run in the Triton interpreter on CPU tensors, in a subprocess,
because TRITON_INTERPRET must be set before triton is imported). No GPU is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")


def test_triton_interpreter_matches_cpu_kernel():
    script = Path(__file__).with_name("triton_interpreter_check.py")
    env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"fixations_linear", "fixations_pg_ppd", "map_pg"}
    for name, diffs in result.items():
        assert diffs["out"] <= 1e-6, (name, diffs)
        for key in ("x", "chain", "fix", "map"):
            assert diffs[key] <= 1e-6 * max(diffs[key + "_scale"], 1.0), (name, key, diffs)
        wanted = ("x", "chain", "map") if name == "map_pg" else ("x", "chain", "fix")
        assert all(diffs[k + "_scale"] > 0.1 for k in wanted), (name, diffs)  # the gradients are not all zero
