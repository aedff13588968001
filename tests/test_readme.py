"""The README: it starts with the two commands (install + run the main job; run the tests), CI runs the same test
command, the main job runs as written, and every link points at an existing file. The walkthrough that used to live
here is docs/getting-started.md, run by tests/test_docs.py."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _first_block() -> list[str]:
    return re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1).strip().splitlines()


def test_readme_starts_with_setup_and_test_commands():
    first = _first_block()
    assert README.lstrip().startswith("# gazekit\n\n```bash\n"), "the two commands come first"
    assert first[0].startswith("bash scripts/install.sh && gazekit predict")
    ci = (ROOT / ".ci" / "run").read_text()
    assert first[1] in ci, ".ci/run must run the README's test command"
    assert "bash scripts/install.sh" in ci


def test_readme_main_job_runs(tmp_path):
    """The main job of the first command (after the install), with its output folder redirected."""
    job = _first_block()[0].split("&&", 1)[1].strip()
    args = [a.replace("outputs/", f"{tmp_path}/") for a in shlex.split(job)]
    out = subprocess.run([sys.executable, "-m", "gazekit", *args[1:]], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    produced = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"scanpaths.csv", "scanpaths.json", "1001_scanpaths.png", "1001_density.png"} <= produced


def test_readme_is_short_and_links_resolve():
    assert len(README) < 4000, "the README holds what a newcomer needs first; the rest goes to docs/"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
    assert len(re.findall(r"!\[", README)) == 1, "one picture"
