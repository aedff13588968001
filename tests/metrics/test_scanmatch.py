"""ScanMatch: parity with GazeParser's ScanMatch (GPL; test-only oracle, never copied) with and without durations,
hand-computed cases and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from gazekit import Scanpaths
from gazekit.errors import InvalidInputError
from gazekit.metrics import ScanMatch
from gazekit.metrics.functional import scanmatch, scanmatch_duration
from gazekit.metrics.functional.scanmatch import grid_cells, substitution_matrix


def _gazeparser():
    module = pytest.importorskip("GazeParser.ScanMatch",
                                 reason="gazeparser (GPL test oracle, pip install --no-deps gazeparser) not installed")
    return module.ScanMatch


def _random(n_pairs, seed, size):
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-5, size[0] + 5, rng.integers(1, 12)) for _ in range(2 * n_pairs)]  # a few off-image
    ys = [rng.uniform(-5, size[1] + 5, len(x)) for x in xs]
    ds = [rng.uniform(10, 700, len(x)) for x in xs]
    return xs, ys, ds


@pytest.mark.oracle
@pytest.mark.parametrize("temporal_bin", [0, 50])
@pytest.mark.parametrize("size,bins", [((512, 320), (16, 12)), ((320, 240), (16, 12)), ((800, 600), (14, 8))])
def test_matches_gazeparser(temporal_bin, size, bins):
    oracle_cls = _gazeparser()
    n = 200 if temporal_bin == 0 else 80
    xs, ys, ds = _random(n, seed=temporal_bin + size[0], size=size)
    p = Scanpaths.from_sequences(xs[:n], ys[:n], durations=ds[:n], image_size=size)
    t = Scanpaths.from_sequences(xs[n:], ys[n:], durations=ds[n:], image_size=size)
    ours = scanmatch(p, t, x_bins=bins[0], y_bins=bins[1], threshold=3.5, temporal_bin=temporal_bin).numpy()
    oracle = oracle_cls(Xres=size[0], Yres=size[1], Xbin=bins[0], Ybin=bins[1], Threshold=3.5, TempBin=temporal_bin)
    compared = 0
    for i in range(n):
        a = oracle.fixationToSequence(np.stack([xs[i], ys[i], ds[i]], 1)).astype(int)
        b = oracle.fixationToSequence(np.stack([xs[n + i], ys[n + i], ds[n + i]], 1)).astype(int)
        if len(a) == 0 or len(b) == 0:
            continue
        assert ours[i] == pytest.approx(oracle.match(a, b)[0], abs=1e-12), f"pair {i}"
        compared += 1
    assert compared > 0.75 * n


@pytest.mark.oracle
def test_nonzero_gap_matches_gazeparser():
    oracle_cls = _gazeparser()
    n = 60
    xs, ys, ds = _random(n, seed=11, size=(512, 320))
    p = Scanpaths.from_sequences(xs[:n], ys[:n], durations=ds[:n], image_size=(512, 320))
    t = Scanpaths.from_sequences(xs[n:], ys[n:], durations=ds[n:], image_size=(512, 320))
    ours = scanmatch(p, t, gap=-0.5).numpy()
    oracle = oracle_cls(Xres=512, Yres=320, Xbin=16, Ybin=12, Threshold=3.5, GapValue=-0.5)
    for i in range(n):
        a = oracle.fixationToSequence(np.stack([xs[i], ys[i], ds[i]], 1)).astype(int)
        b = oracle.fixationToSequence(np.stack([xs[n + i], ys[n + i], ds[n + i]], 1)).astype(int)
        assert ours[i] == pytest.approx(oracle.match(a, b)[0], abs=1e-12)


def test_substitution_matrix_and_cells_by_hand():
    sub = substitution_matrix(2, 2, threshold=1.0)
    # cells 0 (0,0), 1 (1,0), 2 (0,1), 3 (1,1): Sub = threshold - distance
    np.testing.assert_allclose(sub[0], [1.0, 0.0, 0.0, 1.0 - np.sqrt(2)])
    assert sub.max() == 1.0
    cells = grid_cells(np.array([0.0, 19.99, 20.0, 319.0, 400.0, -3.0]), np.array([0.0, 0.0, 20.0, 239.0, 0.0, 0.0]),
                       (320, 240), 16, 12)
    np.testing.assert_array_equal(cells, [0, 0, 16 + 1, 11 * 16 + 15, 15, 0])


def test_hand_computed_scores():
    size = (160, 120)  # 16 x 12 bins of 10 px
    p = Scanpaths.from_sequences([[5, 15]], [[5, 5]], durations=[[100, 100]], image_size=size)
    t = Scanpaths.from_sequences([[5, 25]], [[5, 5]], durations=[[100, 100]], image_size=size)
    # strings [0, 1] vs [0, 2]: best = 3.5 (match 0-0) + (3.5 - 1) (cells 1 and 2 are 1 apart) = 6.0
    assert scanmatch(p, t).item() == pytest.approx(6.0 / (3.5 * 2))
    # with 50 ms bins each symbol repeats twice: best = 2 * 3.5 + 2 * 2.5 = 12 over 4 symbols
    assert scanmatch_duration(p, t).item() == pytest.approx(12.0 / (3.5 * 4))
    assert scanmatch(p, p).item() == 1.0 and scanmatch_duration(t, t).item() == 1.0


def test_edge_cases():
    size = (320, 240)
    sp = Scanpaths.from_sequences([[], [10], [10, 200]], [[], [10], [10, 200]], durations=[[], [200], [200, 10]],
                                  image_size=size)
    empty_vs = scanmatch(sp[[0, 0, 1]], sp[[0, 1, 2]]).numpy()
    assert np.isnan(empty_vs[0]) and empty_vs[1] == 0.0
    assert 0 < empty_vs[2] < 1
    # a 10 ms fixation rounds to zero 50 ms bins and disappears from the duration string
    one = Scanpaths.from_sequences([[10]], [[10]], durations=[[200]], image_size=size)
    assert scanmatch_duration(one, sp[2]).item() == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="duration"):
        scanmatch_duration(Scanpaths.from_sequences([[1.0]], [[1.0]], image_size=size), one)
    with pytest.raises(InvalidInputError, match="non-finite"):
        scanmatch(Scanpaths.from_sequences([[float("nan")]], [[1.0]], image_size=size), one)
    with pytest.raises(InvalidInputError, match="different sizes"):
        scanmatch(Scanpaths.from_sequences([[1.0]], [[1.0]], image_size=(640, 480)), one)
    with pytest.raises(InvalidInputError, match="x_bins"):
        scanmatch(one, one, x_bins=0)


def test_metric_class():
    xs, ys, ds = _random(20, seed=4, size=(512, 320))
    p = Scanpaths.from_sequences(xs[:20], ys[:20], durations=ds[:20], image_size=(512, 320))
    t = Scanpaths.from_sequences(xs[20:], ys[20:], durations=ds[20:], image_size=(512, 320))
    metric = ScanMatch(temporal_bin=50)
    metric.update(p[:7], t[:7])
    metric.update(p[7:], t[7:])
    expected = scanmatch(p, t, temporal_bin=50)
    expected = expected[~expected.isnan()].mean()
    assert metric.compute().item() == pytest.approx(expected.item(), abs=1e-12)
