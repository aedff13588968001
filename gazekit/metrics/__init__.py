
# --- scanpath similarity Metric classes ---
from gazekit.metrics.scanpath import (  # noqa: E402,F401
    DTW, FDISS, TDE, EditDistance, Eyenalysis, Frechet, Hausdorff, MultiMatch, ScaledTDE, ScanMatch,
    SemanticSequenceScore, SequenceScore,
)
# --- end scanpath similarity ---
