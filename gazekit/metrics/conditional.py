"""torchmetrics ``Metric`` classes for the conditional next-fixation metrics (maths and exact definitions in
:mod:`gazekit.metrics.functional.conditional`). Mean over scanpaths of the per-scanpath means, summed states
synced across DDP ranks.

>>> cig = ConditionalInformationGain(variant="hat")
>>> cig.update(log_densities, scanpaths, prior)   # [B, L, H, W], Scanpaths, baseline ([H, W] / [B, H, W])
"""

from __future__ import annotations

from gazekit.metrics.functional import conditional as F
from gazekit.metrics.saliency import MapMean

__all__ = ["ConditionalAUC", "ConditionalInformationGain", "ConditionalLogLikelihood", "ConditionalNSS"]


class ConditionalLogLikelihood(MapMean):
    """Conditional log-likelihood (options ``start``, ``unit``). ``update(log_density, scanpaths)``."""

    def _values(self, log_density, scanpaths):
        return F.conditional_log_likelihood(log_density, scanpaths, **self.options)


class ConditionalInformationGain(MapMean):
    """cIG in bits (options ``start``, ``variant``, ``eps``). ``update(log_density, scanpaths, baseline="uniform")``."""

    def _values(self, log_density, scanpaths, baseline="uniform"):
        return F.conditional_information_gain(log_density, scanpaths, baseline, **self.options)


class ConditionalNSS(MapMean):
    """cNSS (options ``start``, ``variant``). ``update(maps, scanpaths)``."""

    def _values(self, maps, scanpaths):
        return F.conditional_nss(maps, scanpaths, **self.options)


class ConditionalAUC(MapMean):
    """cAUC (options ``start``, ``variant``). ``update(maps, scanpaths)``."""

    def _values(self, maps, scanpaths):
        return F.conditional_auc(maps, scanpaths, **self.options)
