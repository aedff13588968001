"""docs/architecture.md is true: the import rules of its layer table hold for every import in the package, and its
extension checklists are enough to add a model, a data set and a metric that the command line then finds."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docblocks import bash_commands, parse_blocks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "gazekit"


# ----------------------------------------------------------------------------------------------- import rules
def layer_rules(text: str) -> dict[str, set[str]]:
    """``{unit: allowed units}`` from the layer table: a row's first cell names units in backticks, its last cell
    says what they may import (``base`` = the units of the row whose layer is "0 base"; ``anything``)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and "may import" not in line and not line.startswith("|---")]
    rows = [r for r in rows if len(r) == 3 and r[0].startswith(("`", "the package"))]
    if not rows:
        raise AssertionError("docs/architecture.md: no layer table found")
    base = next(set(re.findall(r"`([\w.]+)`", r[0])) for r in rows if r[1].endswith("base"))
    rules: dict[str, set[str]] = {}
    for units_cell, _, allowed_cell in rows:
        units = set(re.findall(r"`([\w.]+)`", units_cell))
        if units_cell.startswith("the package"):
            units = {"__init__"}
        allowed = {"*"} if "anything" in allowed_cell else set(re.findall(r"`([\w.]+)`", allowed_cell))
        if re.search(r"\bbase\b", allowed_cell):
            allowed |= base
        for unit in units:
            rules[unit] = allowed | {unit}
    return rules


def unit_of(module: str) -> str:
    """The top-level unit of a dotted module path (``gazekit.models.tpp`` -> ``models``; ``gazekit`` -> ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported gazekit module) for every import statement in a file, wherever it is."""
    here = list(path.relative_to(ROOT).with_suffix("").parts[:-1])  # the package a relative import starts from
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "gazekit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "gazekit":
                if module == "gazekit":  # from gazekit import x: x may be a subpackage
                    found += [(node.lineno, f"gazekit.{a.name}") if (PACKAGE / a.name).exists()
                              or (PACKAGE / f"{a.name}.py").exists() else (node.lineno, "gazekit")
                              for a in node.names]
                else:
                    found.append((node.lineno, module))
    return found


def unit_of_file(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:
        return "__init__" if rel.name == "__init__.py" else rel.stem
    return rel.parts[0]


def test_every_package_is_in_the_layer_table():
    rules = layer_rules(PAGE.read_text())
    units = {unit_of_file(p) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(rules))
    assert not missing, f"top-level parts of gazekit without a row in the layer table of docs/architecture.md: {missing}"


def test_imports_follow_the_layer_table():
    rules = layer_rules(PAGE.read_text())
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of_file(path)
        allowed = rules.get(unit, set())
        for line, module in imports_of(path):
            target = unit_of(module)
            if "*" not in allowed and target not in allowed and target != "__init__":
                broken.append(f"{path.relative_to(ROOT)}:{line}: {unit} imports {module} ({target} is not in "
                              f"what {unit} may import: {sorted(allowed - {unit})})")
    assert not broken, "imports against docs/architecture.md's layer table:\n  " + "\n  ".join(broken)


def test_the_rule_check_sees_a_violation():
    rules = layer_rules(PAGE.read_text())
    assert "models" not in rules["metrics"] and "models" not in rules["datasets"]
    assert {"errors", "scanpaths"} <= rules["metrics"] and rules["cli"] == {"*", "cli"}
    assert unit_of("gazekit.models.tpp") == "models" and unit_of("gazekit") == "__init__"


# ----------------------------------------------------------------------------- the extension checklists
def _apply_checklists(copy_root: Path, env: dict) -> list[str]:
    """Write the checklists' file blocks into the copy, then run their command blocks there (page order);
    returns the paths written."""
    written = []
    blocks = parse_blocks(PAGE, ROOT)
    for block in blocks:
        if not block.target:
            continue
        mode, rel = block.target
        dest = copy_root / rel
        assert dest.resolve().is_relative_to(copy_root.resolve() / "gazekit"), f"{block.where}: {rel} is outside"
        if mode == "file":
            assert not dest.exists(), f"{block.where}: {rel} exists already; a checklist adds new files"
            dest.write_text(block.code + "\n")
        else:
            assert dest.is_file(), f"{block.where}: {rel} does not exist, nothing to append to"
            dest.write_text(dest.read_text() + block.code + "\n")
        written.append(rel)
    for block in blocks:
        if "checklist" in block.markers:
            assert block.lang == "bash", f"{block.where}: a checklist step is a bash block"
            for line, command in bash_commands(block):
                out = subprocess.run(["bash", "-c", command], cwd=copy_root, env=env, capture_output=True, text=True,
                                     timeout=600)
                assert out.returncode == 0, f"{block.page}:{line}: {command}\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    return written


_RUNNER = """
import json, sys
from gazekit.cli import main
for argv in json.loads(sys.argv[1]):
    print("== gazekit " + " ".join(argv), flush=True)
    rc = main(argv)
    sys.stdout.flush()
    if rc:
        print(f"== exit status {rc}", flush=True)
        sys.exit(rc)
# the checklist's metric_class= generated a torchmetrics class
from gazekit.metrics import ToyLengthDifference
from gazekit.scanpaths import Scanpaths
metric = ToyLengthDifference()
metric.update(Scanpaths.from_sequences([[1, 2, 3]], [[1, 2, 3]]), Scanpaths.from_sequences([[1]], [[1]]))
print("== ToyLengthDifference", float(metric.compute()), flush=True)
"""


@pytest.mark.filterwarnings("ignore")
def test_toy_model_dataset_and_metric_added_by_the_checklists_are_found(tmp_path):
    copy_root = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy_root / "gazekit", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    env = {**os.environ, "PYTHONPATH": str(copy_root), "GAZEKIT_DATA": str(tmp_path / "data"),
           "GAZEKIT_CACHE": str(tmp_path / "cache"), "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    written = _apply_checklists(copy_root, env)
    assert sorted(written) == ["gazekit/datasets/toy_gaze.py", "gazekit/metrics/functional/toy_length.py",
                               "gazekit/models/toy_centre.py"]
    data = tmp_path / "data" / "toy_gaze"
    data.mkdir(parents=True)
    # two viewers of 1001.jpg: 2 and 5 fixations
    rows = ["viewer,picture,gx,gy,ms"] + [f"A,1001.jpg,{100 + 10 * k},{200 + 5 * k},{200 + k}" for k in range(2)]
    rows += [f"B,1001.jpg,{400 - 20 * k},{300 + 7 * k},{150 + k}" for k in range(5)]
    (data / "fixations.csv").write_text("\n".join(rows) + "\n")
    image = ROOT / "gazekit" / "_sample" / "osie" / "stimuli" / "1001.jpg"
    out = tmp_path / "out"
    commands = [
        ["models", "--json"],
        ["data", "list"],
        ["score", "--list"],
        ["predict", str(image), "--model", "toy-centre", "--n-samples", "2", "--out", str(out)],
        ["data", "info", "toy-gaze", "--json"],
        ["score", "--pred", str(out / "scanpaths.csv"), "--human", "toy-gaze", "--metrics", "toy_length_difference",
         "--json", str(tmp_path / "score.json")],
    ]
    run = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(commands)], cwd=copy_root, env=env,
                         capture_output=True, text=True, timeout=600)
    log = run.stdout
    assert run.returncode == 0, log[-4000:] + run.stderr[-4000:]
    sections = dict(zip([" ".join(c) for c in commands], re.split(r"^== gazekit .*$", log, flags=re.M)[1:]))
    models = {m["name"]: m for m in json.loads(sections["models --json"])}
    assert models["toy-centre"]["predicts"] == ["positions", "durations"]
    assert "toy-centre" in models and "tpp-osie" in models  # added, and nothing lost
    assert re.search(r"^toy-gaze\s+toy: one CSV", sections["data list"], flags=re.M)
    assert "toy_length_difference" in sections["score --list"]
    from gazekit.scanpaths import Scanpaths

    predicted = Scanpaths.load(out / "scanpaths.csv")
    assert len(predicted) == 2 and predicted.x[0, :3].tolist() == [400.0, 400.0, 400.0]
    info = json.loads(sections["data info toy-gaze --json"])
    assert (info["scanpaths"], info["fixations"], info["subjects"]) == (2, 7, 2)
    score = json.loads((tmp_path / "score.json").read_text())
    # each prediction (3 fixations) against each human (2 and 5): |3 - 2| and |3 - 5|, mean 1.5
    assert re.search(r"^== ToyLengthDifference 2.0$", log, flags=re.M), log[-2000:]
    (row,) = score["rows"]
    assert (row["metric"], row["model"], row["higher_is_better"]) == ("toy_length_difference", 1.5, False)
