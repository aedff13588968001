"""Functional metrics: one maths implementation per metric (the Metric classes in gazekit.metrics wrap these).

Each module below registers its scanpath-pair metrics in ``gazekit.metrics.registry``.
"""

# --- scanpath similarity (multimatch, scanmatch, sequence, clusters, geometric, fdiss) ---
from gazekit.metrics.functional.multimatch import MULTIMATCH_DIMENSIONS, multimatch  # noqa: E402,F401
from gazekit.metrics.functional.scanmatch import scanmatch, scanmatch_duration  # noqa: E402,F401
# --- end scanpath similarity ---
