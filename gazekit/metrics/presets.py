"""The named evaluation protocols as data (the presets :mod:`gazekit.metrics.protocols` runs), importable without
torch so that ``gazekit score --list`` can show them. See :mod:`gazekit.metrics.protocols` for what the modes mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gazekit.errors import UnknownNameError

if TYPE_CHECKING:
    from gazekit.scanpaths import Scanpaths, ValidationReport

__all__ = ["PROTOCOLS", "MetricSetting", "Protocol", "get_protocol", "list_protocols"]


@dataclass(frozen=True)
class MetricSetting:
    """One column group of a protocol: a registered pair metric under a label, with fixed options."""

    label: str
    metric: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Protocol:
    """A named evaluation preset (see the module docstring and each preset's ``description``)."""

    name: str
    description: str
    metrics: tuple[MetricSetting, ...]
    size: tuple[int, int] | None = None  # rescale every scanpath to (width, height) px before scoring
    drop_first: bool = False  # drop the first fixation of every scanpath
    min_length: int = 0  # then remove scanpaths with fewer fixations
    max_length: int | None = None  # then keep at most this many fixations
    mode: str = "raw"  # "raw" or "distribution"
    kl_bins: int = 50
    diversity: bool = False
    reading: str = ""  # which reading gazekit implements where the published protocol is ambiguous

    def prepare(self, sp: Scanpaths, report: ValidationReport | None = None) -> Scanpaths:
        """Apply the preprocessing; removed scanpaths are counted in ``report``."""
        if self.size is not None:
            sp = sp.rescale(*self.size)
        if self.drop_first and len(sp):
            from gazekit.scanpaths import _compact

            keep = sp.mask.clone()
            keep[:, 0] = False
            sp = _compact(sp, keep)
        if self.min_length:
            short = sp.lengths < self.min_length
            if report is not None:
                report.add("dropped_scanpaths", f"fewer than {self.min_length} fixations", int(short.sum()))
            sp = sp[~short]
        if self.max_length is not None:
            sp = sp.truncate(self.max_length)
        return sp


def _setting(label: str, metric: str | None = None, **options) -> MetricSetting:
    return MetricSetting(label, metric or label, options)


_CHEN = (_setting("multimatch", screen_size=(320, 240)),
         _setting("scanmatch", x_bins=16, y_bins=12, threshold=3.5),
         _setting("scanmatch_duration", x_bins=16, y_bins=12, threshold=3.5, temporal_bin=50.0),
         _setting("edit_distance", grid=5),
         _setting("stde", "scaled_time_delay_embedding"))
_TPP = (_setting("multimatch"),
        _setting("scanmatch", x_bins=14, y_bins=8, threshold=3.5),
        _setting("scanmatch_duration", x_bins=14, y_bins=8, threshold=3.5, temporal_bin=50.0),
        _setting("sequence_score"),
        _setting("sequence_score_duration", "sequence_score", temporal_bin=50.0))

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("default", "Raw scores with each metric's default settings, native resolution, all fixations.",
             (_setting("multimatch"), _setting("scanmatch"), _setting("sequence_score"))),
    Protocol("chenlstm",
             "Raw-score protocol of ChenLSTM (CVPR'21) and GazeXplain on OSIE: scanpaths scored at 320x240, "
             "MultiMatch with screen 320x240, ScanMatch 16x12 bins, threshold 3.5, 50 ms time bins, SED on a "
             "5x5 grid, STDE; the human row averages all pairs of different subjects.",
             _CHEN, size=(320, 240),
             reading="The human row is gazekit's leave-one-subject-out mean (per scanpath, then over scanpaths); "
                     "ChenLSTM averages all different-subject pairs directly, which weights images by their "
                     "number of pairs."),
    Protocol("cocosearch",
             "COCO-Search18 raw-score protocol of IRL/HAT/Gazeformer: scanpaths rescaled to 512x320, sequence "
             "score with the frozen per-image MeanShift clusters shipped with gazekit (TP validation split 1), "
             "SS with duration (symbols repeated floor(T / 50 ms) times), MultiMatch on the 512x320 screen.",
             (_setting("sequence_score", clusters="coco_search18"),
              _setting("sequence_score_duration", "sequence_score", clusters="coco_search18", temporal_bin=50.0),
              _setting("multimatch", screen_size=(512, 320))),
             size=(512, 320),
             reading="No length cap is applied (HAT/IRL cap generated scanpaths at a maximum number of steps; "
                     "apply the same cap to the predictions yourself). The human row excludes self-comparisons, as "
                     "the IRL maintainers state (Scanpath_Prediction issue #24)."),
    Protocol("tppgaze",
             "Distribution protocol of TPP-Gaze (WACV'25): first fixation dropped, scanpaths shorter than 4 "
             "removed, ScanMatch 14 bins on the longer side and 8 on the shorter, 50 ms time bins; per metric, "
             "KL divergence between the human-human and human-model score distributions (lower is better).",
             _TPP, drop_first=True, min_length=4, mode="distribution",
             reading="14x8 is applied as x_bins=14, y_bins=8 (landscape images); KL density estimate as in the "
                     "module docstring."),
    Protocol("scandiff",
             "ScanDiff (ICCV'25): the TPP-Gaze KL protocol at the original image size with 50 ms time bins, "
             "plus diversity scores of the model's samples.",
             _TPP, drop_first=True, min_length=4, mode="distribution", diversity=True,
             reading="ScanDiff's code computes 14x8 bins but then calls ScanMatch with 16x12; gazekit implements "
                     "the paper's 14x8. The diversity scores are gazekit's definitions (see diversity_scores), "
                     "not a reproduction of ScanDiff's DSS/RSS, whose exact formulas we could not verify."),
)}


def list_protocols() -> list[str]:
    """Names of the evaluation protocols."""
    return sorted(PROTOCOLS)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (unknown names are refused with close matches)."""
    if name not in PROTOCOLS:
        raise UnknownNameError("protocol", name, list(PROTOCOLS))
    return PROTOCOLS[name]
