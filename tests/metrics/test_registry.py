"""One registry of metrics: the torch-free catalog, the generated Metric classes and the import graph agree with it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gazekit.errors import GazekitError, UnknownNameError
from gazekit.metrics.catalog import list_metrics
from gazekit.metrics.registry import KINDS, get_metric, get_pair_metric, metric_specs, register_metric

ROOT = Path(__file__).resolve().parents[2]
METRICS_DIR = ROOT / "gazekit" / "metrics"


def test_catalog_lists_exactly_what_the_registry_holds():
    specs = {s.name: s for s in metric_specs() if not s.name.startswith("_")}  # tests register "_..." metrics
    listed = {m.name: m for m in list_metrics() if not m.name.startswith("_")}
    assert sorted(listed) == sorted(specs)
    for name, s in specs.items():
        m = listed[name]
        assert (m.kind, m.higher_is_better, m.description, m.outputs, m.needs, m.inputs, m.metric_class) == (
            s.kind, s.higher_is_better, s.description, s.outputs, s.needs, s.inputs, s.metric_class), name
        assert m.function == f"{s.fn.__module__}.{s.fn.__qualname__}"
        assert m.better == ("higher" if s.higher_is_better else "lower")
    kinds = {m.kind for m in listed.values()}
    assert kinds == set(KINDS)
    assert {"multimatch", "nss", "auc_judd", "shuffled_auc", "conditional_information_gain"} <= set(listed)
    assert listed["kld"].better == "lower" and listed["multimatch"].outputs[0] == "vector"


def test_catalog_imports_no_torch_and_is_the_static_scan():
    code = ("import sys, json; from gazekit.metrics.catalog import list_metrics; "
            "from gazekit.metrics.presets import PROTOCOLS; ms = list_metrics(); "
            "print(json.dumps({'torch': 'torch' in sys.modules, 'numpy': 'numpy' in sys.modules, "
            "'n': len(ms), 'protocols': sorted(PROTOCOLS)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    res = json.loads(out.stdout)
    assert not res["torch"] and not res["numpy"]
    assert res["n"] == len([s for s in metric_specs() if not s.name.startswith("_")])
    assert "chenlstm" in res["protocols"]


def test_generated_metric_classes_follow_the_specs():
    import gazekit.metrics as M
    from torchmetrics import Metric

    with_class = [s for s in metric_specs() if s.metric_class]
    assert len(with_class) >= 25
    for s in with_class:
        cls = getattr(M, s.metric_class)
        assert issubclass(cls, Metric) and cls.spec is s and cls._fn is s.fn, s.name
        assert cls.higher_is_better is s.higher_is_better and cls.outputs == s.outputs
        assert s.name in cls.__doc__ and s.metric_class in M.__all__
    assert {"HumanBaseline", "evaluate", "TargetFixationProbability", "DurationKS", "HumanKDEInformationGain"} <= set(
        M.__all__)
    with pytest.raises(AttributeError):
        M.NoSuchMetric  # noqa: B018


def test_registry_errors():
    assert get_pair_metric("multimatch").kind == "pair"
    with pytest.raises(UnknownNameError):
        get_pair_metric("nss")  # a map metric is not a pair metric
    with pytest.raises(UnknownNameError):
        get_metric("no_such_metric")
    with pytest.raises(GazekitError, match="kind"):
        register_metric("_bad_kind", kind="volume", higher_is_better=True)
    with pytest.raises(GazekitError, match="registered twice"):
        register_metric("multimatch", kind="pair", higher_is_better=True)(lambda pred, target: None)


def _module_level_imports(path: Path, package: str) -> set[str]:
    """gazekit modules imported at module level (not inside functions) by the file at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # e.g. "if TYPE_CHECKING:" blocks are not run
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gazekit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
            if base.startswith("gazekit"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_metrics_import_graph_has_no_cycle():
    """Module-level imports between gazekit.metrics modules form a DAG (the registry imports no metric)."""
    modules = {}
    for path in METRICS_DIR.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        modules[name] = (path, package)
    graph = {n: {m for m in _module_level_imports(p, pkg) if m in modules and m != n}
             for n, (p, pkg) in modules.items()}
    assert "gazekit.metrics.functional" not in graph["gazekit.metrics.registry"]
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, n, m]))
            if m not in state:
                visit(m, [*stack, n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


def test_each_metrics_module_imports_first_in_a_fresh_state():
    """Every gazekit.metrics module imports on its own, first (as in a fresh interpreter: gazekit is removed
    from sys.modules before each), so no import order hides a cycle."""
    names = sorted(".".join(p for p in path.relative_to(ROOT).with_suffix("").parts if p != "__init__")
                   for path in METRICS_DIR.rglob("*.py"))
    code = ("import importlib, json, sys\n"
            "failed = {}\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    for m in [m for m in sys.modules if m == 'gazekit' or m.startswith('gazekit.')]:\n"
            "        del sys.modules[m]\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception as err:\n"
            "        failed[name] = repr(err)\n"
            "print(json.dumps(failed))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(names)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {}
    assert len(names) >= 25
