"""Metrics: functional maths in ``gazekit.metrics.functional``, torchmetrics ``Metric`` classes here.

The Metric classes need torchmetrics, whose import pulls in torchvision and torch._dynamo (tens of seconds on a
loaded machine), so they are loaded on first access: ``from gazekit.metrics import MultiMatch`` works as usual,
while ``gazekit score`` and the functional metrics never pay for it.
"""

from __future__ import annotations

import importlib

_LAZY: dict[str, str] = {}

# --- scanpath similarity Metric classes ---
_LAZY.update(dict.fromkeys((
    "DTW", "FDISS", "TDE", "EditDistance", "Eyenalysis", "Frechet", "Hausdorff", "MultiMatch", "ScaledTDE",
    "ScanMatch", "SemanticSequenceScore", "SequenceScore",
), "gazekit.metrics.scanpath"))
# --- end scanpath similarity ---

# --- map, conditional, search and duration Metric classes; human baseline, pairing, protocols ---
_LAZY.update(dict.fromkeys(("AUC", "CC", "KLD", "NSS", "SIM", "AUCBorji", "AUCJudd", "HumanKDEInformationGain", "InformationGain",
                            "LogLikelihood", "ShuffledAUC"), "gazekit.metrics.saliency"))
_LAZY.update(dict.fromkeys(("ConditionalAUC", "ConditionalInformationGain", "ConditionalLogLikelihood",
                            "ConditionalNSS"), "gazekit.metrics.conditional"))
_LAZY.update(dict.fromkeys(("FixationsToTarget", "ScanpathRatio", "TargetFixationProbability"),
                           "gazekit.metrics.search"))
_LAZY.update(dict.fromkeys(("DurationKS", "DurationLogLikelihood", "DurationWasserstein"), "gazekit.metrics.duration"))
_LAZY.update(dict.fromkeys(("HumanBaseline", "human_baseline"), "gazekit.metrics.human"))
_LAZY.update(dict.fromkeys(("evaluate", "get_protocol", "list_protocols"), "gazekit.metrics.protocols"))
# --- end map, conditional, search and duration ---

__all__ = sorted(_LAZY)  # noqa: PLE0605  (the lazily loaded names, a list)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gazekit.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
