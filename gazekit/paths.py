"""Where gazekit looks for data, caches and shipped files."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = PACKAGE_DIR / "_sample"  # small data sample shipped inside the package (demo, fresh-machine tests)
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # checkpoints trained by us and shipped inside the package


def data_root() -> Path:
    """Root of the real datasets: ``$GAZEKIT_DATA``, else ``../shared/data`` next to the working directory
    or this checkout."""
    env = os.environ.get("GAZEKIT_DATA")
    if env:
        return Path(env).expanduser()
    for base in (Path.cwd(), PACKAGE_DIR.parent):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return (Path.cwd() / ".." / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Parsed-dataset cache: ``$GAZEKIT_CACHE`` or ``~/.cache/gazekit``."""
    path = Path(os.environ.get("GAZEKIT_CACHE", Path.home() / ".cache" / "gazekit")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
