"""Start-up: the listing commands import no torch (each runs in a fresh process), and the dataset catalog read from
the sources equals the registry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [["--help"], [], ["models"], ["data", "list"], ["score", "--list"],
                                  ["data", "--help"], ["score", "--help"]])
def test_listing_commands_do_not_import_torch(argv):
    code = textwrap.dedent(f"""
        import sys
        from gazekit.cli import main
        try:
            rc = main({argv!r})
        except SystemExit as stop:  # --help
            rc = stop.code
        heavy = sorted(m for m in ("torch", "pandas", "pytorch_lightning", "scipy") if m in sys.modules)
        print("RESULT", rc, ",".join(heavy) or "none")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert result == ["RESULT 0 none"], out.stderr[-2000:]


def test_dataset_catalog_equals_the_registry():
    from gazekit.datasets.catalog import _static
    from gazekit.datasets.registry import DATASETS, dataset_info, list_datasets

    static = _static(DATASETS.skip)
    shipped = [n for n in list_datasets() if DATASETS.get(n).obj.__module__.startswith("gazekit.datasets.")]
    assert sorted(static) == shipped  # (other tests may register toy datasets at run time: those are not files)
    assert all(static[name] == dataset_info(name) for name in static)
    assert {"osie", "osie-sample", "table"} <= set(static)
