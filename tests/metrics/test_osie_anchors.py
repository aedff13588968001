"""OSIE human ceiling (leave-one-subject-out, every subject against every other on the same image, mean over
images) with gazekit's metrics against the values in shared/notes/osie-anchors.md, computed there with the
oracle packages (multimatch-gaze, GazeParser ScanMatch, rapidfuzz)."""

from __future__ import annotations

import numpy as np
import pytest

from gazekit.metrics.functional import edit_distance, multimatch, scanmatch
from tests.conftest import require_data


@pytest.mark.slow
@pytest.mark.data
def test_osie_human_ceiling_matches_the_oracle_anchors():
    from gazekit.datasets import load_dataset

    require_data("osie", "fixations.mat")
    sp = load_dataset("osie").scanpaths
    by_image: dict[str, list[int]] = {}
    for i, name in enumerate(sp.image):
        by_image.setdefault(name, []).append(i)
    pi, ti, owner = [], [], []
    for k, rows in enumerate(by_image.values()):
        for u in rows:
            for v in rows:
                if u != v:
                    pi.append(u)
                    ti.append(v)
                    owner.append(k)
    owner = np.asarray(owner)
    pred, target = sp[pi], sp[ti]

    def mean_over_images(values):
        sums = np.zeros((len(by_image),) + values.shape[1:])
        counts = np.zeros((len(by_image),) + values.shape[1:])
        np.add.at(sums, owner, np.nan_to_num(values))
        np.add.at(counts, owner, ~np.isnan(values))
        return (sums / counts).mean(axis=0)

    mm = mean_over_images(multimatch(pred, target, screen_size=(800, 600)).numpy())
    np.testing.assert_allclose(mm, [0.941, 0.698, 0.929, 0.854, 0.619], atol=6e-4)
    assert mean_over_images(scanmatch(pred, target).numpy()) == pytest.approx(0.394, abs=6e-4)
    assert mean_over_images(scanmatch(pred, target, temporal_bin=50).numpy()) == pytest.approx(0.392, abs=6e-4)
    assert mean_over_images(edit_distance(pred, target, normalize=True).numpy()) == pytest.approx(0.718, abs=6e-4)
