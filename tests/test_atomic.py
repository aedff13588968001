"""gazekit._atomic: a destination holds the old content or the complete new one, never a partial file."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from gazekit._atomic import atomic_open, atomic_path, write_bytes, write_text
from gazekit.errors import DiskFullError, GazekitError


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_write_text_and_bytes(tmp_path):
    out = write_text(tmp_path / "sub" / "a.json", '{"a": 1}')
    assert json.loads(out.read_text()) == {"a": 1}
    write_bytes(tmp_path / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\xff"
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "sub") == []


def test_new_file_has_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_failure_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "w") as f:
            f.write("half of the new")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    assert not target.exists() and _leftovers(tmp_path) == []


def test_library_path_keeps_suffix(tmp_path):
    """np.save appends .npy unless the name ends in it; the temporary name keeps the suffix, so the file the
    library wrote is the one that is published."""
    arr = np.arange(5.0)
    with atomic_path(tmp_path / "a.npy") as tmp:
        assert tmp.suffix == ".npy" and tmp.parent == tmp_path and tmp.name.startswith(".")
        np.save(tmp, arr)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_block_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(tmp_path / "a.png"):
            pass
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("where", ["write", "fsync", "wrapped"])
def test_disk_full_is_a_clear_error_and_no_partial_file(tmp_path, monkeypatch, where):
    target = tmp_path / "scanpaths.csv"
    target.write_text("previous run\n")
    enospc = OSError(errno.ENOSPC, "No space left on device")
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(enospc))
    with pytest.raises(DiskFullError) as info:
        with atomic_path(target) as tmp:
            tmp.write_text("x" * 1000)
            if where == "write":
                raise enospc
            if where == "wrapped":  # e.g. pyarrow re-raising with its own type
                try:
                    raise enospc
                except OSError as err:
                    raise RuntimeError("write failed") from err
    err = info.value
    assert isinstance(err, GazekitError) and isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert str(target) in str(err) and "no space left" in str(err)
    assert target.read_text() == "previous run\n"
    assert _leftovers(tmp_path) == []


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
            raise PermissionError(errno.EACCES, "denied")
    assert _leftovers(tmp_path) == []


def test_bad_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "a", "a"):
            pass
