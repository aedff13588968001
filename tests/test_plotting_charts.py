"""Result charts write real, non-blank PNGs and refuse malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from gazekit.errors import InvalidInputError
from gazekit.plotting.charts import plot_duration_histograms, plot_metric_bars, plot_tfp_curves


def _png(path):
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def test_tfp_curves_png(tmp_path):
    out = plot_tfp_curves({"human": [0.1, 0.5, 0.8, 0.9], "model": [0.05, 0.3, 0.6, 0.7]}, tmp_path / "tfp.png")
    img = _png(out)
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert img[..., :3].std() > 0.05  # something was drawn


def test_tfp_curves_reject_out_of_range(tmp_path):
    with pytest.raises(InvalidInputError, match="fractions"):
        plot_tfp_curves({"bad": [0.2, 1.5]}, tmp_path / "x.png")
    with pytest.raises(InvalidInputError):
        plot_tfp_curves({}, tmp_path / "x.png")


def test_duration_histograms_ignore_absent_values(tmp_path):
    rng = np.random.default_rng(0)
    human = np.exp(rng.normal(5.22, 0.56, 500))
    out = plot_duration_histograms({"human": np.r_[human, np.nan], "model": human * 1.1}, tmp_path / "d.png")
    assert _png(out)[..., :3].std() > 0.05
    with pytest.raises(InvalidInputError, match="positive durations"):
        plot_duration_histograms({"x": [np.nan, -1.0]}, tmp_path / "e.png")


def test_metric_bars_with_ceiling(tmp_path):
    out = plot_metric_bars({"tpp": {"ScanMatch": 0.3, "SS": 0.4}, "centre bias": {"ScanMatch": 0.2, "SS": 0.3}},
                           tmp_path / "m.png", ceiling={"ScanMatch": 0.39, "SS": 0.5})
    assert _png(out).shape[1] >= 700


def test_lower_is_better_and_unbounded_metrics_get_their_own_axes(tmp_path):
    """Issue 15: an edit distance of 8 drawn on the axis of 0-1 similarities flattened them; now each
    lower-is-better or unbounded metric has its own axis."""
    from gazekit.plotting.charts import metric_panels

    scores = {"model": {"scanmatch": 0.27, "sequence_score": 0.27, "edit_distance": 8.55, "ig": 1.7}}
    ceiling = {"scanmatch": 0.39, "sequence_score": 0.37, "edit_distance": 7.49, "ig": 2.4}
    panels = metric_panels(scores, ceiling, {"edit_distance": False})
    assert panels == [("higher is better, 0-1", ["scanmatch", "sequence_score"]),
                      ("edit_distance (lower is better)", ["edit_distance"]), ("ig (higher is better)", ["ig"])]
    out = plot_metric_bars(scores, tmp_path / "m.png", ceiling=ceiling, higher_is_better={"edit_distance": False})
    assert _png(out).shape[1] >= 800
