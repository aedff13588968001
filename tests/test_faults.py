"""Interrupted and failing runs: ``gazekit predict``, ``gazekit data convert`` and dataset-cache building killed at
random points (by time, and in the middle of a chosen file write), and a full disk.

After any kill, every visible output file is whole (byte-equal to an uninterrupted run's, or still the previous
file), and the next run's output is complete and byte-equal to an uninterrupted run's. Default suite: a few seeds;
``--runslow`` runs more.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gazekit.paths import SAMPLE_DIR

REPO = Path(__file__).resolve().parents[1]
KILLABLE = REPO / "tests" / "_scripts" / "killable.py"
IMAGES = sorted(str(p) for p in (SAMPLE_DIR / "osie" / "stimuli").glob("*.jpg"))[:3]
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


def _env(cache: Path, kill_at: int | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GAZEKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    env.pop("GAZEKIT_TEST_KILL_AT_WRITE", None)
    if kill_at:
        env["GAZEKIT_TEST_KILL_AT_WRITE"] = str(kill_at)
    return env


def gazekit(args: list[str], cache: Path, *, kill_at: int | None = None, kill_after: float | None = None,
            sig: int = signal.SIGKILL) -> tuple[int, str, float]:
    """Run the CLI in a subprocess; returns (exit status, stderr, seconds). ``kill_at``: die inside the N-th file
    write; ``kill_after``: send ``sig`` after that many seconds (if it is still running)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(KILLABLE), *args], cwd=REPO, env=_env(cache, kill_at),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err, time.perf_counter() - start


def visible(folder: Path) -> dict[str, bytes]:
    """Files a user (or a later run) would read: everything but hidden temporaries and cache lock files."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".lock")}


def assert_whole(folder: Path, reference: dict[str, bytes], old: dict[str, bytes] | None = None) -> None:
    """Every visible file is the reference's (complete) or the previous run's: never a truncated one."""
    for name, data in visible(folder).items():
        assert name in reference, f"unexpected file {name}"
        assert data == reference[name] or (old is not None and data == old.get(name)), f"{name} is partial"


def cache_is_valid(cache: Path) -> None:
    """One entry: its manifest names the table's sha256, and the table has it."""
    import hashlib

    manifests = [p for p in cache.glob("*.json") if not p.name.startswith(".")]
    assert len(manifests) == 1, sorted(p.name for p in cache.iterdir())
    doc = json.loads(manifests[0].read_text())
    table = manifests[0].with_suffix(".parquet")
    assert hashlib.sha256(table.read_bytes()).hexdigest() == doc["table_sha256"]


# ---------------------------------------------------------------------------------------------- references
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Uninterrupted runs: ``data convert`` (with a fresh cache, so cache building is timed too) and ``predict``."""
    root = tmp_path_factory.mktemp("reference")
    out = {}
    rc, err, seconds = gazekit(["data", "convert", "osie-sample", "--out", str(root / "convert" / "sample.csv")],
                               root / "cache")
    assert rc == 0, err
    out["convert"], out["convert_seconds"] = visible(root / "convert"), seconds
    rc, err, seconds = gazekit(["predict", *IMAGES, "--model", "centre-bias", "--n-samples", "3", "--no-plots",
                                "--out", str(root / "predict")], root / "cache")
    assert rc == 0, err
    out["predict"], out["predict_seconds"] = visible(root / "predict"), seconds
    assert sorted(out["predict"]) == ["scanpaths.csv", "scanpaths.json"]
    return out


# ---------------------------------------------------------------------------------------- kill inside a write
def test_convert_killed_inside_each_write_then_completes(tmp_path, reference):
    """``data convert`` with an empty cache writes the cache table (1), its manifest (2), then the output (3). Die
    inside write 1, then inside write 2, then inside write 3: the output keeps its previous content and the cache
    is never trusted half-built; the fourth run completes, byte-equal to an uninterrupted run."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    old = {"sample.csv": b"image,subject,x,y\nold.jpg,s0,1.0,2.0\n"}  # the previous run's (whole) file
    (out / "sample.csv").write_bytes(old["sample.csv"])
    args = ["data", "convert", "osie-sample", "--out", str(out / "sample.csv")]
    for kill_at in (1, 2, 3):
        rc, err, _ = gazekit(args, cache, kill_at=kill_at)
        assert rc == -signal.SIGKILL, err
        assert visible(out) == old
        assert any(p.name.startswith(".") for p in [*out.iterdir(), *cache.iterdir()])  # the half-written temporary
    rc, err, _ = gazekit(args, cache)
    assert rc == 0, err
    assert visible(out) == reference["convert"]
    cache_is_valid(cache)


def test_predict_killed_inside_each_write_then_completes(tmp_path, reference):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["predict", *IMAGES, "--model", "centre-bias", "--n-samples", "3", "--no-plots", "--out", str(out)]
    rc, err, _ = gazekit(args, cache, kill_at=2)  # inside scanpaths.json, after scanpaths.csv was published
    assert rc == -signal.SIGKILL, err
    assert_whole(out, reference["predict"])
    assert sorted(visible(out)) == ["scanpaths.csv"]
    rc, err, _ = gazekit(args, cache)
    assert rc == 0, err
    assert visible(out) == reference["predict"]


# ------------------------------------------------------------------------------------- kill at a random time
def _random_kills(tmp_path, reference, which: str, seeds) -> None:
    for seed in seeds:
        rng = random.Random(seed)
        out, cache = tmp_path / f"{which}-{seed}" / "out", tmp_path / f"{which}-{seed}" / "cache"
        if which == "convert":
            args = ["data", "convert", "osie-sample", "--out", str(out / "sample.csv")]
        else:
            args = ["predict", *IMAGES, "--model", "centre-bias", "--n-samples", "3", "--no-plots", "--out", str(out)]
        delay = rng.uniform(0.2, 1.0) * reference[f"{which}_seconds"]
        sig = rng.choice(SIGNALS)
        gazekit(args, cache, kill_after=delay, sig=sig)
        assert_whole(out, reference[which])
        if cache.is_dir() and any(cache.glob("*.json")):
            cache_is_valid(cache)  # a published manifest always describes a whole table
        rc, err, _ = gazekit(args, cache)
        assert rc == 0, (seed, err)
        assert visible(out) == reference[which], seed
        if which == "convert":  # (predicting with the centre-bias model reads no dataset)
            cache_is_valid(cache)


def test_convert_and_cache_build_killed_at_random_times(tmp_path, reference):
    _random_kills(tmp_path, reference, "convert", seeds=(0,))


def test_predict_killed_at_a_random_time(tmp_path, reference):
    _random_kills(tmp_path, reference, "predict", seeds=(0,))


@pytest.mark.slow  # 16 more killed runs and their reruns
@pytest.mark.parametrize("which", ["convert", "predict"])
def test_killed_at_random_times_more_seeds(tmp_path, reference, which):
    _random_kills(tmp_path, reference, which, seeds=range(1, 9))


@pytest.mark.slow  # three predict runs with plots
def test_predict_with_plots_killed_then_completes(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["predict", *IMAGES[:2], "--model", "centre-bias", "--n-samples", "2", "--out"]
    rc, err, seconds = gazekit([*args, str(tmp_path / "ref")], cache)
    assert rc == 0, err
    ref = visible(tmp_path / "ref")
    assert len(ref) == 6  # two PNGs per image and the two tables
    gazekit([*args, str(out)], cache, kill_at=3)  # inside the third PNG
    assert_whole(out, ref)
    gazekit([*args, str(out)], cache, kill_after=0.7 * seconds)
    assert_whole(out, ref)
    rc, err, _ = gazekit([*args, str(out)], cache)
    assert rc == 0, err
    assert visible(out) == ref


# ----------------------------------------------------------------------------------------------- a full disk
def _enospc_after(nbytes: int):
    """A ``to_csv`` replacement that writes ``nbytes`` of the table, then fails as a full disk does."""
    import io

    import pandas as pd

    real = pd.DataFrame.to_csv

    def to_csv(self, path, *args, **kwargs):
        buf = io.StringIO()
        real(self, buf, *args, **kwargs)
        with open(path, "w") as f:
            f.write(buf.getvalue()[:nbytes])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    return to_csv


def test_full_disk_is_a_clear_error_and_leaves_the_old_file(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from gazekit.cli import main

    monkeypatch.setenv("GAZEKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out" / "sample.csv"
    out.parent.mkdir()
    out.write_text("image,subject,x,y\nold.jpg,s0,1.0,2.0\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc_after(5000))
    assert main(["data", "convert", "osie-sample", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no space left" in err and str(out) in err
    assert out.read_text() == "image,subject,x,y\nold.jpg,s0,1.0,2.0\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["sample.csv"]  # no partial temporary either


def test_full_disk_while_caching_still_loads(tmp_path, monkeypatch):
    """The cache copy is a convenience: when it cannot be written, the parsed data are returned with a warning."""
    import pandas as pd

    from gazekit.datasets import load_dataset

    cache = tmp_path / "cache"
    monkeypatch.setenv("GAZEKIT_CACHE", str(cache))

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.warns(RuntimeWarning, match="could not write the dataset cache entry"):
        data = load_dataset("osie-sample")
    assert len(data) == 180
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt || exit 1"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and tmpfs mounts (Linux user namespaces)")
def test_real_full_tmpfs(tmp_path):
    """A real 64 KiB file system (tmpfs in a private mount namespace) and a ~155 KB table: the CLI says the disk is
    full, names the file, and leaves nothing on the file system."""
    disk = tmp_path / "disk"
    disk.mkdir()
    target = disk / "sample.csv"
    script = (f"mount -t tmpfs -o size=64k tmpfs {disk} && "
              f"{sys.executable} {KILLABLE} data convert osie-sample --out {target}; "
              f"echo rc=$?; ls -A {disk}")
    run = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                         env=_env(tmp_path / "cache"), cwd=REPO, check=False)
    assert "rc=2" in run.stdout, run.stderr[-2000:]
    assert run.stdout.strip().endswith("rc=2")  # ls printed nothing: no file, no temporary
    assert "no space left" in run.stderr and str(target) in run.stderr
