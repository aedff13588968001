"""Fixation and saccade detection in raw samples: I-VT and I-DT with shared preprocessing (velocities, track
loss and blinks, time gaps), thresholds in degrees when the screen geometry is known.

    from gazekit.datasets.raw import read_raw
    from gazekit.events import detect_events
    det = detect_events(read_raw("sub1.asc", geometry=geom), "ivt")   # det.fixations is a gazekit.Scanpaths
"""

from gazekit.events.agreement import class_events, cohen_kappa
from gazekit.events.detect import DEFAULTS, EventDetection, UnitsWarning, detect_events
from gazekit.events.idt import idt
from gazekit.events.ivt import ivt
from gazekit.events.preprocess import invalid_mask, runs, velocity

__all__ = [
           "DEFAULTS",
           "EventDetection",
           "UnitsWarning",
           "class_events",
           "cohen_kappa",
           "detect_events",
           "idt",
           "invalid_mask",
           "ivt",
           "runs",
           "velocity",
]
