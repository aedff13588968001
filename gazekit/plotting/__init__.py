"""Plots of scanpaths and results: overlays on images (:mod:`~gazekit.plotting.overlay`), side-by-side scenes and GIFs
(:mod:`~gazekit.plotting.scenes`) and metric charts (:mod:`~gazekit.plotting.charts`)."""
