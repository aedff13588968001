"""Shared fixtures: the real-data root (skip with a reason when absent) and the --runslow option."""

from __future__ import annotations

import os

import pytest

from gazekit.paths import data_root

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (or $GAZEKIT_DATA); skips the test when it is not there."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set GAZEKIT_DATA to the shared data folder)")
    return root


def require_data(*parts: str):
    """Path under the shared data root; skips with a reason when missing."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data file {path} not found (set GAZEKIT_DATA to the shared data folder)")
    return path
