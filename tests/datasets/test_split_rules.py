"""``split_by(rule="hash")`` is OAT's former layout split, result for result (one split function for both)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from gazekit.datasets.splits import split_by
from gazekit.errors import InvalidInputError
from tests.conftest import require_data


def _layout_split_oracle(trials, val_fraction, test_fraction, seed):
    """The removed ``oat_data.layout_split``, verbatim in its arithmetic: 0 train / 1 val / 2 test per item."""
    u = np.array([int(hashlib.sha256(f"{seed}|{t}".encode()).hexdigest()[:8], 16) / 2**32 for t in trials])
    return np.where(u < test_fraction, 2, np.where(u < test_fraction + val_fraction, 1, 0))


def _as_array(parts: dict, n: int) -> np.ndarray:
    out = np.full(n, -1)
    for k, name in enumerate(("train", "val", "test")):
        out[parts[name]] = k
    return out


@pytest.mark.parametrize("val, test, seed", [(0.1, 0.2, 0), (0.0, 0.3, 5), (0.25, 0.25, 1), (0.1, 0.0, 2)])
def test_hash_rule_equals_the_layout_split(val, test, seed):
    rng = np.random.default_rng(seed)
    keys = [f"blk{rng.integers(1, 30)}-{rng.integers(0, 500)}" for _ in range(3000)]
    got = _as_array(split_by(keys, (1.0 - val - test, val, test), seed, rule="hash"), len(keys))
    assert np.array_equal(got, _layout_split_oracle(keys, val, test, seed))
    assert len(set(np.unique(got))) >= 2  # not a degenerate case


def test_hash_rule_on_the_real_trials():
    require_data("objarray", "subjectsdata", "LISTCORRECTFILES.txt")
    from gazekit.datasets import load_dataset
    from gazekit.datasets.objarray_trials import LAYOUT_FRACTIONS, LAYOUT_SEED

    trials = load_dataset("objarray").scanpaths.trial
    got = _as_array(split_by(trials, LAYOUT_FRACTIONS, LAYOUT_SEED, rule="hash"), len(trials))
    oracle = _layout_split_oracle(trials, 0.1, 0.2, 0)
    assert np.array_equal(got, oracle)
    assert int((oracle == 2).sum()) == 2607  # the held-out trials the README's OAT numbers are on


def test_rules_are_checked():
    with pytest.raises(InvalidInputError, match="unknown split rule"):
        split_by(["a"], rule="random")
    with pytest.raises(InvalidInputError, match="summing to 1"):
        split_by(["a"], (0.5, 0.1, 0.1), rule="hash")
