"""The fused CPU kernels are a declared part of gazekit, not a side effect of the test oracles: numba is in the
package metadata, a fresh process without the oracles takes the fused path, and compiling says so once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from gazekit.ops import op as op_module

ROOT = Path(__file__).resolve().parents[2]


def test_metadata_declares_numba():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
             for d in project["dependencies"]]
    assert "numba" in names  # a core dependency: a plain `pip install gazekit` gets the fused kernels
    assert not any("numba" in d for extra in project.get("optional-dependencies", {}).values() for d in extra)


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT)


def test_fresh_process_without_the_test_oracles_uses_the_fused_path():
    out = _run("""
        import sys, warnings
        for oracle in ("pysaliency", "gazeparser", "multimatch_gaze", "pymovements", "pytest"):
            sys.modules[oracle] = None  # as in an install without the test extras: importing them fails
        warnings.simplefilter("error")  # the fallback announces itself with a RuntimeWarning
        import torch
        from gazekit.ops import foveate, op
        def no_fallback(*args):
            raise AssertionError("plain-torch fallback used")
        op._torch_forward = no_fallback
        out = foveate(torch.rand(2, 3, 20, 24), torch.tensor([[[4.0, 5.0]], [[20.0, 1.0]]]), levels=3)
        print(op._STATE["cpu"].__name__, tuple(out.shape))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["gazekit.ops._cpu", "(2,", "3,", "20,", "24)"]


def test_compile_message_once_and_only_when_not_cached(monkeypatch, capsys):
    def kernel(index):
        cache = SimpleNamespace(_cache_file=SimpleNamespace(_load_index=lambda: index))
        return SimpleNamespace(_cache=cache, stats=SimpleNamespace(cache_path="/cache/dir"))

    fake = SimpleNamespace(blend_forward=kernel({}), pyr_down_level=kernel({}), blend_backward=kernel({"sig": "f"}))
    monkeypatch.setattr(op_module, "_STATE", {"cpu": fake})
    op_module._kernel("blend_backward")  # cached: silent
    assert capsys.readouterr().err == ""
    op_module._kernel("pyr_down_level")
    op_module._kernel("blend_forward")  # also uncached, but the process has said it already
    op_module._kernel("pyr_down_level")
    err = capsys.readouterr().err
    assert err.count("compiling the fused CPU foveation kernels") == 1 and "/cache/dir" in err


@pytest.mark.slow
def test_first_use_compiles_with_a_message_then_reads_the_cache(tmp_path):
    code = """
        import torch
        from gazekit.ops import foveate
        x, f = torch.rand(1, 3, 40, 50), torch.tensor([[[10.0, 20.0]]])
        foveate(x, f, levels=3)
        foveate(x, f, levels=3)
    """
    first = _run(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("gazekit.ops: compiling the fused CPU foveation kernels") == 1
    second = _run(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0 and "compiling" not in second.stderr
