"""torchmetrics ``Metric`` classes for the conditional next-fixation metrics, generated from the registered
conditional metrics (maths and exact definitions in :mod:`gazekit.metrics.functional.conditional`). Mean over
scanpaths of the per-scanpath means, summed states synced across DDP ranks.

>>> cig = ConditionalInformationGain(variant="hat")
>>> cig.update(log_densities, scanpaths, prior)   # [B, L, H, W], Scanpaths, baseline ([H, W] / [B, H, W])
"""

from __future__ import annotations

from gazekit.metrics._generate import generate_metric_classes
from gazekit.metrics.saliency import MapMean

# one class per conditional metric registered with metric_class=... (ConditionalInformationGain, ConditionalNSS, ...)
__all__ = sorted(generate_metric_classes("conditional", MapMean, globals()))
