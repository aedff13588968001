"""The dataset cache: content-keyed, rebuilt when corrupt or stale, built once by concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from gazekit.datasets import cache as cache_mod
from gazekit.datasets.table import load as load_table

REPO = Path(__file__).resolve().parents[2]


def write_fixations(path: Path, n_scanpaths: int = 4, n_fix: int = 5) -> Path:
    rows = [{"subject": f"s{s}", "image": f"img{s % 2}.jpg", "x": 10.0 * f + s, "y": 5.0 * f + 0.25,
             "duration": 100 + f, "image_width": 800, "image_height": 600}
            for s in range(n_scanpaths) for f in range(n_fix)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GAZEKIT_CACHE", str(folder))
    return folder


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def _count_parses(monkeypatch) -> list[int]:
    from gazekit.datasets import table

    calls = []
    real = table.parse_table

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(table, "parse_table", counting)
    return calls


def test_entry_layout_and_reuse(tmp_path, cache, monkeypatch):
    src = write_fixations(tmp_path / "fix.csv")
    calls = _count_parses(monkeypatch)
    first = load_table(src).scanpaths
    second = load_table(src).scanpaths
    assert len(calls) == 1
    assert torch.equal(first.x, second.x) and first.subject == second.subject
    names = _entries(cache)
    assert len(names) == 2 and names[0].endswith(".json") and names[1].endswith(".parquet")
    doc = json.loads((cache / names[0]).read_text())
    assert doc["format"] == "gazekit-dataset-cache" and doc["identity"]["cache_version"] == cache_mod.CACHE_VERSION
    assert doc["identity"]["sources"][0]["size"] == src.stat().st_size
    assert len(doc["identity"]["reader"]) == 16  # sha256 of gazekit/datasets/table.py


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "no_manifest", "garbage_manifest", "other_identity"])
def test_damaged_entry_is_rebuilt(tmp_path, cache, monkeypatch, damage):
    src = write_fixations(tmp_path / "fix.csv")
    expected = load_table(src).scanpaths
    table = next(cache.glob("table-*.parquet"))
    manifest = table.with_suffix(".json")
    if damage == "truncate":
        table.write_bytes(table.read_bytes()[:100])
    elif damage == "flip_byte":  # still a readable file of the right size: only the checksum sees it
        data = bytearray(table.read_bytes())
        data[len(data) // 2] ^= 0x01
        table.write_bytes(bytes(data))
    elif damage == "no_manifest":
        manifest.unlink()
    elif damage == "garbage_manifest":
        manifest.write_text("{not json")
    else:
        doc = json.loads(manifest.read_text())
        doc["identity"]["options"]["time_unit"] = "s"
        manifest.write_text(json.dumps(doc))
    calls = _count_parses(monkeypatch)
    again = load_table(src).scanpaths
    assert len(calls) == 1
    assert torch.equal(again.x, expected.x) and torch.equal(again.duration, expected.duration)
    assert load_table(src).scanpaths.subject == expected.subject and len(calls) == 1  # the rebuilt entry is used


def test_stale_entries_are_replaced(tmp_path, cache, monkeypatch):
    src = write_fixations(tmp_path / "fix.csv", n_scanpaths=2)
    assert len(load_table(src)) == 2
    write_fixations(src, n_scanpaths=3)
    os.utime(src, ns=(1, 1))
    assert len(load_table(src)) == 3
    assert len(_entries(cache)) == 2  # the old entry is gone
    other = write_fixations(tmp_path / "other.csv", n_scanpaths=1)  # another file's entry is kept
    load_table(other)
    assert len(_entries(cache)) == 4


def test_reader_change_invalidates(tmp_path, cache, monkeypatch):
    src = write_fixations(tmp_path / "fix.csv")
    load_table(src)
    calls = _count_parses(monkeypatch)
    monkeypatch.setattr(cache_mod, "_reader_version", lambda build: "0123456789abcdef")
    load_table(src)
    assert len(calls) == 1 and len(_entries(cache)) == 2


_BUILDER = textwrap.dedent("""
    import os, sys, time
    from gazekit.datasets import table
    real = table.parse_table
    def slow(*a, **k):
        with open(sys.argv[3], "a") as f:
            f.write("parse\\n")
        time.sleep(float(sys.argv[4]))
        return real(*a, **k)
    table.parse_table = slow
    sp = table.load(sys.argv[1]).scanpaths
    sp.save(sys.argv[2])
""")


def run_builders(src: Path, cache: Path, out_dir: Path, n: int, delay: float) -> list[subprocess.Popen]:
    env = {**os.environ, "GAZEKIT_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    script = out_dir / "builder.py"
    script.write_text(_BUILDER)
    return [subprocess.Popen([sys.executable, str(script), str(src), str(out_dir / f"out{i}.csv"),
                              str(out_dir / "parses.log"), str(delay)], env=env, cwd=REPO)
            for i in range(n)]


def test_concurrent_processes_build_once(tmp_path):
    """Three real processes ask for the same entry at once: it is parsed once, the others wait for it and
    read it, and every process gets the same table."""
    src = write_fixations(tmp_path / "fix.csv", n_scanpaths=30)
    cache = tmp_path / "cache"
    procs = run_builders(src, cache, tmp_path, n=3, delay=1.0)
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert (tmp_path / "parses.log").read_text().count("parse") == 1
    outs = [(tmp_path / f"out{i}.csv").read_text() for i in range(3)]
    assert outs[0] == outs[1] == outs[2] and outs[0].count("\n") == 30 * 5 + 1
    assert len(_entries(cache)) == 2
