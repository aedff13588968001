"""Properties every scanpath-similarity metric must keep on arbitrary inputs (hypothesis): ranges, symmetry where
the definition is symmetric, identity = best score, and batching = scoring pairs one at a time."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gazekit import Scanpaths
from gazekit.metrics.functional import dtw, edit_distance, eyenalysis, fdiss, frechet, hausdorff, multimatch, scanmatch

SIZE = (320, 240)
fixation = st.tuples(st.floats(0, SIZE[0] - 1e-6), st.floats(0, SIZE[1] - 1e-6), st.floats(1, 900))
scanpath = st.lists(fixation, min_size=0, max_size=9)


def _batch(paths):
    return Scanpaths.from_sequences([[f[0] for f in p] for p in paths], [[f[1] for f in p] for p in paths],
                                    durations=[[f[2] for f in p] for p in paths], image_size=SIZE, ppd=20.0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(scanpath, scanpath), min_size=1, max_size=6))
def test_ranges_symmetry_identity_and_batching(pairs):
    p, t = _batch([a for a, _ in pairs]), _batch([b for _, b in pairs])
    mm = multimatch(p, t).numpy()
    ok = ~np.isnan(mm)
    assert ((mm[ok] >= -1e-12) & (mm[ok] <= 1 + 1e-12)).all()
    lengths = np.minimum(p.lengths.numpy(), t.lengths.numpy())
    assert (np.isnan(mm).all(axis=1) == (lengths < 3)).all()
    sm = scanmatch(p, t, temporal_bin=50).numpy()
    assert (sm[~np.isnan(sm)] <= 1 + 1e-12).all()
    for fn in (hausdorff, eyenalysis, fdiss, frechet, dtw, edit_distance):
        np.testing.assert_allclose(fn(p, t).numpy(), fn(t, p).numpy(), rtol=1e-12, atol=1e-9)
    # identity gives the best value wherever the metric is defined
    self_mm = multimatch(p, p).numpy()
    assert np.allclose(self_mm[~np.isnan(self_mm)], 1.0)
    for fn, best in ((hausdorff, 0.0), (dtw, 0.0), (frechet, 0.0), (edit_distance, 0.0), (fdiss, 1.0)):
        v = fn(p, p).numpy()
        assert np.allclose(v[~np.isnan(v)], best)
    # batched = one pair at a time
    single = torch.cat([multimatch(p[i], t[i]) for i in range(len(p))]).numpy()
    np.testing.assert_array_equal(np.isnan(single), np.isnan(mm))
    np.testing.assert_allclose(single[ok], mm[ok], rtol=0, atol=1e-12)
    single_sm = torch.cat([scanmatch(p[i], t[i], temporal_bin=50) for i in range(len(p))]).numpy()
    np.testing.assert_allclose(single_sm, sm, rtol=0, atol=1e-12)
