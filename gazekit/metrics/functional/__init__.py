"""Functional metrics: one maths implementation per metric (the Metric classes in gazekit.metrics wrap these).

Each module registers its metrics in :mod:`gazekit.metrics.registry` where they are defined (the registry imports
every public module of this package); the imports below only make the functions reachable from this package.
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

# --- map, conditional, search and duration metrics ---
from gazekit.metrics.functional.saliency import (  # noqa: E402,F401
    MapRanks, auc, auc_borji, auc_judd, cc, centre_bias_log_density, emd, fit_centre_bias, fixations_per_image,
    information_gain, kld, log_likelihood, map_ranks, nss, shuffled_auc, sim, uniform_log_density,
)
from gazekit.metrics.functional.conditional import (  # noqa: E402,F401
    conditional_auc, conditional_information_gain, conditional_log_likelihood, conditional_nss,
)
from gazekit.metrics.functional.search import (  # noqa: E402,F401
    behavioural_error, fixations_to_target, on_target, probability_mismatch, scanpath_ratio, search_behaviour,
    snap_to_objects, steps_to_target, target_fixation_curve, target_found_rate, tfp_auc,
)
from gazekit.metrics.functional.duration import (  # noqa: E402,F401
    duration_ks, duration_log_likelihood, duration_summary, duration_wasserstein, fit_lognormal,
    lognormal_log_likelihood,
)
# --- end map, conditional, search and duration metrics ---
