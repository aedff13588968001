"""Functional metrics: one maths implementation per metric (the Metric classes in gazekit.metrics wrap these).

Each module below registers its scanpath-pair metrics in ``gazekit.metrics.registry``.
"""

# --- scanpath similarity (multimatch, scanmatch, sequence, clusters, geometric, fdiss) ---
from gazekit.metrics.functional.multimatch import MULTIMATCH_DIMENSIONS, multimatch  # noqa: E402,F401
from gazekit.metrics.functional.scanmatch import scanmatch, scanmatch_duration  # noqa: E402,F401
from gazekit.metrics.functional.clusters import SequenceClusters, fit_clusters  # noqa: E402,F401
from gazekit.metrics.functional.sequence import (  # noqa: E402,F401
    edit_distance, semantic_sequence_score, sequence_score,
)
from gazekit.metrics.functional.geometric import (  # noqa: E402,F401
    dtw, eyenalysis, frechet, hausdorff, scaled_time_delay_embedding, time_delay_embedding,
)
from gazekit.metrics.functional.fdiss import fdiss  # noqa: E402,F401
# --- end scanpath similarity ---
