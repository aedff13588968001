"""Agreement of per-sample event labels: Cohen's kappa, and events (runs) of one class."""

from __future__ import annotations

import numpy as np

from gazekit.errors import InvalidInputError
from gazekit.events.preprocess import runs

__all__ = ["class_events", "cohen_kappa"]


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa between two label sequences of equal length (any hashable labels, e.g. bool or int).

    kappa = (p_o - p_e) / (1 - p_e) with p_o the observed agreement and p_e the agreement expected from the two
    label distributions. 1.0 when both are constant and equal (p_e = 1), as there is nothing to disagree on.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidInputError(f"label arrays must be 1-D and of equal length, got {a.shape} and {b.shape}")
    if not len(a):
        raise InvalidInputError("cannot compute kappa of empty label arrays")
    labels, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inv[: len(a)], inv[len(a):]
    k = len(labels)
    conf = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k).astype(np.float64) / len(a)
    po = np.trace(conf)
    pe = float(conf.sum(1) @ conf.sum(0))
    return 1.0 if pe == 1.0 else float((po - pe) / (1.0 - pe))


def class_events(labels: np.ndarray, value, time_ms: np.ndarray, sample_interval_ms: float) -> np.ndarray:
    """Durations (ms) of the runs of ``labels == value``: last time - first time + one sample interval."""
    s, e = runs(np.asarray(labels) == value)
    t = np.asarray(time_ms, np.float64)
    return t[e] - t[s] + sample_interval_ms
