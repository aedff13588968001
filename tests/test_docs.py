"""The documentation site: it builds with ``mkdocs build --strict``, and every code block on its pages runs as
written (the convention is in tests/docblocks.py and docs/contributing.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gazekit.paths import data_root

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblocks import bash_commands, parse_blocks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md"))
SCRATCH_SKIP = {".git", "outputs", "lightning_logs", "site", ".pytest_cache", ".hypothesis"}


def scratch_repo(tmp_path: Path) -> Path:
    """A folder that looks like the repository root (every top-level entry linked) with a real ``outputs/`` and
    ``../shared/data`` pointing at the shared datasets, so pages' commands run as written without writing into
    the checkout."""
    work = tmp_path / "repo"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in SCRATCH_SKIP:
            (work / entry.name).symlink_to(entry)
    (work / "outputs").mkdir()
    if data_root().is_dir():
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(data_root())
    return work


def run_page(page: str, tmp_path: Path, runslow: bool) -> tuple[Path, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    work = scratch_repo(tmp_path)
    args = [sys.executable, str(ROOT / "tests" / "_scripts" / "run_doc_page.py"), str(ROOT), page]
    args += ["--runslow"] if runslow else []
    args += [] if data_root().is_dir() else ["--no-data"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), "GAZEKIT_DATA": str(data_root())}
    out = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    log = out.stdout + out.stderr
    if out.returncode:
        failed = [line for line in log.splitlines() if line.startswith("FAIL ")]
        pytest.fail(f"{failed[-1] if failed else page + ': the page runner failed'}\n{log[-6000:]}", pytrace=False)
    return work, log


@pytest.mark.parametrize("page", PAGES)
def test_page_code_blocks_run(page, tmp_path, request):
    """Every bash/python block of the page runs as written; a failure names the page and line."""
    blocks = parse_blocks(ROOT / page, ROOT)
    for block in blocks:
        if block.lang == "bash" and "../shared/data" in block.code:
            assert "data" in block.markers, f"{block.where}: the block uses ../shared/data: mark it docs-test: data"
        if "ci" in block.markers:
            ci = (ROOT / ".ci" / "run").read_text().splitlines()
            for line, command in bash_commands(block):
                assert command in ci, f"{block.page}:{line}: '{command}' is marked ci but .ci/run does not run it"
    if not any(b.lang in ("bash", "python") and not {"ci", "checklist"} & set(b.markers) and not b.target
               for b in blocks):
        return
    work, log = run_page(page, tmp_path, request.config.getoption("--runslow"))
    check = PAGE_CHECKS.get(page)
    if check:
        check(work, log)


def _check_getting_started(work: Path, log: str) -> None:
    """The walkthrough: later commands read what earlier ones wrote, and the outputs are all there."""
    produced = {p.name for p in (work / "outputs").rglob("*") if p.is_file()}
    assert {"scanpaths.csv", "1001_scanpaths.png", "score.json", "compare.png", "human_1001.gif",
            "eval.json"} <= produced
    if data_root().is_dir():
        import pandas as pd

        fixations = pd.read_csv(work / "outputs" / "raccoons_fixations.csv")
        assert (fixations["index"] >= 0).sum() == 1  # the one fixation the tracker's own parser found too


PAGE_CHECKS = {"docs/getting-started.md": _check_getting_started}


def test_walkthrough_has_the_user_path():
    blocks = parse_blocks(DOCS / "getting-started.md", ROOT)
    verbs = {cmd.split()[1] for b in blocks if b.lang == "bash" and "ci" not in b.markers
             for _, cmd in bash_commands(b) if cmd.startswith("gazekit ")}
    assert {"predict", "score", "plot", "train", "evaluate", "events"} <= verbs


def test_block_parser_refuses_unlabelled_fences_and_unknown_markers(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n\n```\nls\n```\n")
    with pytest.raises(ValueError, match=r"p.md:3: code fence without a language"):
        parse_blocks(page, tmp_path)
    page.write_text("<!-- docs-test: sloow -->\n```bash\nls\n```\n")
    with pytest.raises(ValueError, match=r"p.md:1: unknown docs-test marker"):
        parse_blocks(page, tmp_path)
    page.write_text("a\n<!-- docs-test: slow data -->\n```bash\ngazekit a \\\n  --b c  # note\n\n  gazekit d\n```\n")
    (block,) = parse_blocks(page, tmp_path)
    assert (block.line, block.markers) == (4, ("slow", "data"))
    assert bash_commands(block) == [(4, "gazekit a --b c"), (7, "gazekit d")]


def test_page_runner_points_at_page_and_line(tmp_path):
    """A failing python block's traceback and a failing command both name the page and the line."""
    page = tmp_path / "selftest.md"
    page.write_text("# t\n\n```python\nx = 1\ny = x / 0\n```\n\n```bash\ngazekit models\n```\n")
    with pytest.raises(pytest.fail.Exception) as err:
        run_page(str(page), tmp_path / "a", False)
    assert f'File "{page}", line 5' in str(err.value)
    assert f"FAIL {page}:4: python block raised" in str(err.value)
    page.write_text("# t\n\n```bash\ngazekit models\ngazekit no-such-command\n```\n")
    with pytest.raises(pytest.fail.Exception) as err:
        run_page(str(page), tmp_path / "b", False)
    assert f"FAIL {page}:5: exit status 2: gazekit no-such-command" in str(err.value)
    assert "tpp-osie" in str(err.value)  # the output of the command before it


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="mkdocs not installed (pip install -e '.[docs]'; scripts/install.sh does it)")
def test_mkdocs_build_strict(tmp_path):
    """No broken links, no missing pages, every generated reference page renders (warnings are errors)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    built = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    for page in PAGES:
        name = Path(page).relative_to("docs").with_suffix("").as_posix()
        expected = "index.html" if name == "index" else f"{name}/index.html"
        assert expected in built, f"{page} was not built"
    assert "reference/gazekit/models/registry/index.html" in built


def test_pages_missing_from_the_nav_are_added_under_more_guides(tmp_path):
    """scripts/mkdocs_hooks.py: a page another change added without a nav entry still gets one (titled by its
    heading, before the API reference); listed pages keep their place."""
    import importlib.util as iu

    spec = iu.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    hooks = iu.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    (tmp_path / "index.md").write_text("# Home\n")
    (tmp_path / "listed.md").write_text("# Listed\n")
    (tmp_path / "new-page.md").write_text("intro\n\n# A new guide\n")
    nav = [{"Home": "index.md"}, {"Group": [{"Listed": "listed.md"}]}, {"API reference": "reference/"}]
    config = hooks.on_config({"docs_dir": str(tmp_path), "nav": nav})
    assert config["nav"] == [{"Home": "index.md"}, {"Group": [{"Listed": "listed.md"}]},
                             {"More guides": [{"A new guide": "new-page.md"}]}, {"API reference": "reference/"}]
