"""Fuzz the text parsers (COCO-Search18 JSON, tables as CSV/TSV/JSON, gazekit tables, Interiors categories) and
the MATLAB readers with random truncations and mutations of real files: only gazekit's documented errors
(:class:`gazekit.errors.GazekitError` subclasses) may escape."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazekit.datasets.coco_search18 import parse_coco_search18
from gazekit.datasets.interiors import _categories, parse_interiors
from gazekit.datasets.osie import parse_osie
from gazekit.datasets.table import parse_table
from gazekit.errors import GazekitError
from gazekit.paths import SAMPLE_DIR, data_root
from tests.datasets._mat import interiors_trial, write_interiors

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
POLICIES = st.sampled_from(["raise", "drop", "clip"])


def _coco_seed() -> bytes:
    real = data_root() / "coco_search18" / "coco_search18_fixations_TP_validation_split1.json"
    if real.is_file():
        return json.dumps(json.loads(real.read_text())[:6]).encode()
    return json.dumps([{"name": "a.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [1, 2, 3, 4],
                        "X": [840.0, 10.5], "Y": [525.0, 9.0], "T": [200, 100], "length": 2, "correct": 1,
                        "RT": 500, "split": "valid"}]).encode()


def _csv_seed() -> bytes:
    real = data_root() / "eyelink_asc" / "18sat_fixfinal.csv"
    if real.is_file():
        return b"\n".join(real.read_bytes().splitlines()[:8]) + b"\n"
    return b"participant,stimulus,x,y,start,end,duration\np1,a,1,2,0,100,100\np1,a,3,4,120,300,180\n"


def _gazekit_table_seed(suffix: str) -> bytes:
    from gazekit.datasets import load_dataset

    sp = load_dataset("osie-sample", cache=False).scanpaths[:3]
    with tempfile.TemporaryDirectory() as tmp:
        return sp.save(Path(tmp) / f"t{suffix}").read_bytes()


SEEDS = {"coco.json": _coco_seed(), "fix.csv": _csv_seed(), "gk.csv": _gazekit_table_seed(".csv"),
         "gk.json": _gazekit_table_seed(".json"), "fix.tsv": _csv_seed().replace(b",", b"\t"),
         "records.json": json.dumps([{"subject": "s", "image": "a", "x": 1.5, "y": 2, "duration": 100},
                                     {"subject": "s", "image": "a", "x": 3, "y": 4, "duration": 50}]).encode(),
         "categories.json": json.dumps({"a.jpg": {"target_object": "cup"}, "b.jpg": {"target_object": "bowl"}}).encode()}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """A truncation, byte flips, an insertion or a deletion (or several) of ``seed``."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "token"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "truncate":
            data = data[:pos]
        elif op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        else:  # a plausible but wrong JSON/CSV token
            data[pos:pos] = draw(st.sampled_from([b"null", b"NaN", b"-1e999", b"[]", b"{}", b'"x"', b",", b"\n",
                                                  b"true", b"1e308", b"\t", b'"', b"-0"]))
    return bytes(data)


def _check(name: str, payload: bytes, policy: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(payload)
        try:
            if name == "coco.json":
                parse_coco_search18([path], on_invalid=policy)
            elif name == "categories.json":
                (Path(tmp) / "targets_categories.json").write_bytes(payload)
                _categories(Path(tmp))
            else:
                parse_table(path, on_invalid=policy, image_size=(1024, 768))
        except GazekitError:
            pass  # a documented refusal


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seeds_parse(name):
    _check(name, SEEDS[name], "clip")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutated_files_raise_only_gazekit_errors(name):
    @FUZZ
    @given(payload=mutated(SEEDS[name]), policy=POLICIES)
    def run(payload, policy):
        _check(name, payload, policy)

    run()


@FUZZ
@given(cut=st.floats(0.0, 0.999), policy=POLICIES)
def test_truncated_matlab_files_raise_only_gazekit_errors(cut, policy):
    osie = (SAMPLE_DIR / "osie" / "fixations.mat").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "fixations.mat"
        p.write_bytes(osie[: int(len(osie) * cut)])
        try:
            parse_osie(p, on_invalid=policy)
        except GazekitError:
            pass
        q = Path(tmp) / "info_all_subj.mat"
        write_interiors(q, [interiors_trial(), interiors_trial(subj="S2")])
        q.write_bytes(q.read_bytes()[: int(q.stat().st_size * cut)])
        try:
            parse_interiors(q, on_invalid=policy)
        except GazekitError:
            pass
