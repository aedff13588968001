"""Deterministic, seeded splits that keep every item sharing a key (e.g. an image) in the same split.

The rule (platform- and version-independent, no RNG library involved):
    1. take the distinct keys (as strings);
    2. order them by ``sha256(f"{seed}:{key}")``;
    3. cut that order into consecutive runs of ``round(cumsum(fractions) * n_keys)`` keys: the first run is
       split 0 (``"train"``), the next split 1 (``"val"``), the rest split 2 (``"test"``).
Every item goes to the split of its key. Adding keys later moves only a few existing keys across a boundary.

``rule="hash"`` (OAT's layout split) draws each key on its own instead: ``u = int(sha256(f"{seed}|{key}")[:8],
16) / 2**32`` in [0, 1), and the key goes to the *last* split whose interval holds ``u``, the intervals laid
from the last split down (``test`` = [0, f_test), ``val`` = [f_test, f_test + f_val), ``train`` the rest). A
key's split never depends on the other keys, so the fractions hold only on average.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from gazekit.errors import InvalidInputError

DEFAULT_NAMES = ("train", "val", "test")


def split_keys(keys: Sequence, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> list[list[str]]:
    """Partition the distinct ``keys`` into ``len(fractions)`` lists of keys (see the module rule)."""
    fractions = _check_fractions(fractions)
    distinct = sorted({str(k) for k in keys})
    ordered = sorted(distinct, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    bounds = np.round(np.cumsum(fractions) * len(ordered)).astype(int)
    bounds[-1] = len(ordered)
    starts = np.concatenate([[0], bounds[:-1]])
    return [sorted(ordered[a:b]) for a, b in zip(starts, bounds)]


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    fractions = [float(f) for f in fractions]
    if not fractions or any(not np.isfinite(f) or f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise InvalidInputError(f"Expected argument `fractions` to be non-negative numbers summing to 1, "
                                f"got {fractions}")
    return fractions


def hash_assignment(keys: Sequence, fractions: Sequence[float], seed: int = 0) -> np.ndarray:
    """Split index per item under ``rule="hash"`` (see the module rule)."""
    fractions = _check_fractions(fractions)
    u = np.array([int(hashlib.sha256(f"{seed}|{k}".encode()).hexdigest()[:8], 16) / 2**32 for k in keys])
    assignment = np.zeros(len(u), dtype=np.int64)
    assigned = np.zeros(len(u), dtype=bool)
    bound = 0.0
    for s in range(len(fractions) - 1, 0, -1):
        bound = bound + fractions[s]
        hit = ~assigned & (u < bound)
        assignment[hit], assigned = s, assigned | hit
    return assignment


def split_by(keys: Sequence, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
             names: Sequence[str] = DEFAULT_NAMES, rule: str = "rank") -> dict[str, np.ndarray]:
    """Split items grouped by key.

    Args:
        keys: one key per item (e.g. the ``image`` of each scanpath); items with equal keys share a split.
        fractions: fraction of the distinct keys in each split (sums to 1).
        seed: changes the assignment; the same seed always gives the same split.
        names: split names, one per fraction.
        rule: ``"rank"`` (the default: exact fractions of the distinct keys) or ``"hash"`` (each key on its own;
            OAT's layout split). See the module docstring.
    Returns:
        split name -> sorted int64 indices of the items in it.
    """
    if len(names) != len(fractions):
        raise InvalidInputError(f"got {len(fractions)} fractions but {len(names)} split names")
    if rule == "hash":
        assignment = hash_assignment(keys, fractions, seed)
    elif rule == "rank":
        groups = split_keys(keys, fractions, seed)
        where = {k: s for s, group in enumerate(groups) for k in group}
        assignment = np.array([where[str(k)] for k in keys], dtype=np.int64)
    else:
        raise InvalidInputError(f"unknown split rule {rule!r}; use 'rank' or 'hash'")
    return {name: np.flatnonzero(assignment == s).astype(np.int64) for s, name in enumerate(names)}


class SplitLoaders:
    """``train_dataloader`` (shuffled), ``val_dataloader`` and ``test_dataloader`` of a LightningDataModule that
    builds each split's loader with ``self._loader(split, shuffle)``. A mixin, listed before
    ``pl.LightningDataModule`` in the bases."""

    def train_dataloader(self):
        """The training split, shuffled."""
        return self._loader("train", True)

    def val_dataloader(self):
        """The validation split, in order."""
        return self._loader("val", False)

    def test_dataloader(self):
        """The test split, in order."""
        return self._loader("test", False)
