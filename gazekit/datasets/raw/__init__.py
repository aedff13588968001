"""Raw eye-tracker samples: readers for EyeLink .asc, Tobii TSV, the lund2013 hand-labelled .mat files and
BIDS events TSV, all producing :class:`RawRecording`. Fixation/saccade detection is in :mod:`gazekit.events`."""

from gazekit.datasets.raw.recording import RawRecording
from gazekit.datasets.raw.registry import guess_format, list_readers, read_raw, reader_info, register_reader

__all__ = ["RawRecording", "guess_format", "list_readers", "read_raw", "reader_info", "register_reader"]
