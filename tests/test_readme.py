"""The README's walkthrough commands run as written (outputs redirected to a temporary folder)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gazekit.paths import data_root

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _walkthrough_commands() -> list[str]:
    start = README.index("## Walkthrough")
    end = README.index("\n## ", start + 5)
    blocks = re.findall(r"```bash\n(.*?)```", README[start:end], flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("gazekit ")]


COMMANDS = _walkthrough_commands()


def test_readme_starts_with_setup_and_test_commands():
    first = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1).strip().splitlines()
    assert first[0].startswith("bash scripts/install.sh && gazekit predict")
    ci = (ROOT / ".ci" / "run").read_text()
    assert first[1] in ci, ".ci/run must run the README's test command"


def test_walkthrough_has_the_user_path():
    verbs = {c.split()[1] for c in COMMANDS}
    assert {"predict", "score", "plot", "train", "evaluate", "events"} <= verbs


def test_walkthrough_commands_in_order(tmp_path):
    """Run in order: later commands read what earlier ones wrote."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for command in COMMANDS:
        if "../shared/data" in command and not data_root().is_dir():
            continue  # the shared datasets are absent on this machine
        args = [a.replace("outputs/", f"{tmp_path}/") for a in shlex.split(command)]
        args = [a.replace("../shared/data", str(data_root())) for a in args]
        out = subprocess.run([sys.executable, "-m", "gazekit", *args[1:]], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    produced = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"scanpaths.csv", "1001_scanpaths.png", "score.json", "compare.png", "human_1001.gif",
            "eval.json"} <= produced
    if data_root().is_dir():
        import pandas as pd

        fixations = pd.read_csv(tmp_path / "raccoons_fixations.csv")
        assert (fixations["index"] >= 0).sum() == 1  # the one fixation the tracker's own parser found too
