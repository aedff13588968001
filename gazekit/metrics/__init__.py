
# --- scanpath similarity Metric classes ---
from gazekit.metrics.scanpath import (  # noqa: E402,F401
    DTW, FDISS, TDE, EditDistance, Eyenalysis, Frechet, Hausdorff, MultiMatch, ScaledTDE, ScanMatch,
    SemanticSequenceScore, SequenceScore,
)
# --- end scanpath similarity ---

# --- map, conditional, search and duration Metric classes; human baseline, pairing, protocols ---
from gazekit.metrics.saliency import (  # noqa: E402,F401
    AUC, CC, KLD, NSS, SIM, AUCBorji, AUCJudd, InformationGain, LogLikelihood, ShuffledAUC,
)
from gazekit.metrics.conditional import (  # noqa: E402,F401
    ConditionalAUC, ConditionalInformationGain, ConditionalLogLikelihood, ConditionalNSS,
)
from gazekit.metrics.search import FixationsToTarget, ScanpathRatio, TargetFixationProbability  # noqa: E402,F401
from gazekit.metrics.duration import DurationKS, DurationLogLikelihood, DurationWasserstein  # noqa: E402,F401
from gazekit.metrics.human import HumanBaseline, human_baseline  # noqa: E402,F401
from gazekit.metrics.protocols import evaluate, get_protocol, list_protocols  # noqa: E402,F401
# --- end map, conditional, search and duration ---
