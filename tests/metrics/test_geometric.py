"""DTW, discrete Fréchet, Hausdorff, Eyenalysis, (scaled) time-delay embedding and FDISS: parity with
similaritymeasures, scipy and fdiss, hand-computed cases, edge cases, Metric classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist, directed_hausdorff

from gazekit import Scanpaths
from gazekit.errors import InvalidInputError
from gazekit.metrics import DTW, FDISS, TDE, Eyenalysis, Frechet, Hausdorff, ScaledTDE
from gazekit.metrics.functional import (
    dtw,
    eyenalysis,
    fdiss,
    frechet,
    hausdorff,
    scaled_time_delay_embedding,
    time_delay_embedding,
)

SIZE = (512, 320)


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    xs = [rng.uniform(0, SIZE[0], rng.integers(1, 13)) for _ in range(400)]
    ys = [rng.uniform(0, SIZE[1], len(x)) for x in xs]
    a = [np.stack([xs[i], ys[i]], 1) for i in range(200)]
    c = [np.stack([xs[200 + i], ys[200 + i]], 1) for i in range(200)]
    p = Scanpaths.from_sequences(xs[:200], ys[:200], image_size=SIZE, ppd=30.0)
    t = Scanpaths.from_sequences(xs[200:], ys[200:], image_size=SIZE, ppd=30.0)
    return p, t, a, c


@pytest.mark.oracle
def test_dtw_and_frechet_match_similaritymeasures(pairs):
    sm = pytest.importorskip("similaritymeasures", reason="similaritymeasures (test extra) not installed")
    p, t, a, c = pairs
    np.testing.assert_allclose(dtw(p, t).numpy(), [sm.dtw(x, y)[0] for x, y in zip(a, c)], rtol=1e-12)
    np.testing.assert_allclose(frechet(p, t).numpy(), [sm.frechet_dist(x, y) for x, y in zip(a, c)], rtol=1e-12)


def _dtw_symmetric2(x, y):
    d = cdist(x, y)
    g = np.full((len(x) + 1, len(y) + 1), np.inf)
    for i in range(len(x)):
        for j in range(len(y)):
            if i == j == 0:
                g[1, 1] = d[0, 0]
                continue
            g[i + 1, j + 1] = min(g[i, j] + 2 * d[i, j], g[i, j + 1] + d[i, j], g[i + 1, j] + d[i, j])
    return g[-1, -1]


def test_dtw_symmetric2_variant(pairs):
    p, t, a, c = pairs
    ours = dtw(p[:40], t[:40], step_pattern="symmetric2").numpy()
    np.testing.assert_allclose(ours, [_dtw_symmetric2(x, y) for x, y in zip(a[:40], c[:40])], rtol=1e-12)
    assert (ours >= dtw(p[:40], t[:40]).numpy() - 1e-9).all()


@pytest.mark.oracle
def test_dtw_symmetric2_matches_dtw_python(pairs):
    dtwpy = pytest.importorskip("dtw", reason="dtw-python not installed (optional cross-check)")
    p, t, a, c = pairs
    ours = dtw(p[:10], t[:10], step_pattern="symmetric2").numpy()
    for x, y, v in zip(a[:10], c[:10], ours):
        assert v == pytest.approx(dtwpy.dtw(x, y, dist_method="euclidean").distance, rel=1e-9)


def test_hausdorff_matches_scipy_and_eyenalysis_matches_cdist(pairs):
    p, t, a, c = pairs
    ref = [max(directed_hausdorff(x, y)[0], directed_hausdorff(y, x)[0]) for x, y in zip(a, c)]
    np.testing.assert_allclose(hausdorff(p, t).numpy(), ref, rtol=1e-12)
    ref = [(cdist(x, y).min(1).sum() + cdist(x, y).min(0).sum()) / max(len(x), len(y)) for x, y in zip(a, c)]
    np.testing.assert_allclose(eyenalysis(p, t).numpy(), ref, rtol=1e-12)


@pytest.mark.oracle
def test_fdiss_matches_fdiss_package(pairs):
    oracle = pytest.importorskip("fdiss", reason="fdiss (test extra) not installed").FDISS()
    p, t, a, c = pairs
    for radius, ours in ((45.0, fdiss(p, t, radius=45.0)), (30.0, fdiss(p, t))):  # default: 1 degree = ppd
        ref = [oracle.evaluate(x, y, radius)["fdiss"] for x, y in zip(a, c)]
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)


def _zanca_tde(human, simulated, k):
    hv = [human[i:i + k] for i in range(len(human) - k + 1)]
    sv = [simulated[i:i + k] for i in range(len(simulated) - k + 1)]
    return np.mean([min(np.linalg.norm(np.sqrt(((s - h) ** 2).sum(1))) / k for h in hv) for s in sv])


def test_time_delay_embedding_matches_the_fixatons_definition(pairs):
    p, t, a, c = pairs
    ours = time_delay_embedding(p, t, k=3).numpy()
    for x, y, v in zip(a, c, ours):
        if min(len(x), len(y)) < 3:
            assert math.isnan(v)
        else:
            assert v == pytest.approx(_zanca_tde(y, x, 3), rel=1e-12)  # target = human, pred = simulated
    scaled = scaled_time_delay_embedding(p, t).numpy()
    m = max(SIZE)
    for x, y, v in zip(a[:60], c[:60], scaled[:60]):
        kk = min(len(x), len(y))
        expected = np.mean([np.exp(-_zanca_tde(y / m, x / m, k)) for k in range(1, kk + 1)])
        assert v == pytest.approx(expected, rel=1e-12)


def test_hand_computed_cases():
    p = Scanpaths.from_sequences([[0, 3, 6]], [[0, 4, 8]], image_size=(100, 100))
    t = Scanpaths.from_sequences([[0, 6]], [[0, 8]], image_size=(100, 100))
    # distances p->t: (0, 5, 0); t->p: (0, 0)
    assert hausdorff(p, t).item() == 5.0
    assert eyenalysis(p, t).item() == pytest.approx(5.0 / 3)
    assert dtw(p, t).item() == 5.0  # (0,0) -> (1,0) or (1,1) costs 5 -> (2,1) costs 0
    assert frechet(p, t).item() == 5.0
    assert time_delay_embedding(p, t, k=1).item() == pytest.approx(5.0 / 3)
    assert time_delay_embedding(p, t, k=2).item() == pytest.approx(np.mean([5.0, 5.0]) / 2)
    for fn in (dtw, frechet, hausdorff, eyenalysis):
        assert fn(p, p).item() == 0.0
    assert scaled_time_delay_embedding(p, p).item() == 1.0
    assert fdiss(p, p, radius=10).item() == 1.0
    # two discs of radius r whose centres are r apart: IoU = A / (2 pi r^2 - A), A = (2 pi / 3 - sqrt(3) / 2) r^2
    one = Scanpaths.from_sequences([[0.0]], [[0.0]])
    other = Scanpaths.from_sequences([[10.0]], [[0.0]])
    area = (2 * math.pi / 3 - math.sqrt(3) / 2) * 100
    assert fdiss(one, other, radius=10.0).item() == pytest.approx(area / (2 * math.pi * 100 - area), rel=1e-12)
    assert fdiss(one, Scanpaths.from_sequences([[20.0]], [[0.0]]), radius=10.0).item() == 0.0


def test_edge_cases_and_errors():
    empty = Scanpaths.from_sequences([[]], [[]], image_size=(10, 10), ppd=5.0)
    one = Scanpaths.from_sequences([[1.0]], [[2.0]], image_size=(10, 10), ppd=5.0)
    for fn in (dtw, frechet, hausdorff, eyenalysis, scaled_time_delay_embedding):
        assert math.isnan(fn(empty, one).item()) and math.isnan(fn(one, empty).item())
    assert fdiss(empty, one).item() == 0.0 and math.isnan(fdiss(empty, empty).item())
    assert math.isnan(time_delay_embedding(one, one, k=3).item())  # shorter than k
    assert dtw(one, one).item() == 0.0
    nan = Scanpaths.from_sequences([[float("nan")]], [[2.0]])
    for fn in (dtw, frechet, hausdorff, eyenalysis, fdiss):
        with pytest.raises(InvalidInputError, match="non-finite"):
            fn(nan, one)
    with pytest.raises(InvalidInputError, match="step_pattern"):
        dtw(one, one, step_pattern="asymmetric")
    with pytest.raises(InvalidInputError, match="ppd"):
        fdiss(Scanpaths.from_sequences([[1.0]], [[1.0]]), Scanpaths.from_sequences([[1.0]], [[1.0]]))
    with pytest.raises(InvalidInputError, match="different sizes"):
        scaled_time_delay_embedding(Scanpaths.from_sequences([[1.0]], [[1.0]], image_size=(20, 10)), one)


@pytest.mark.parametrize("cls,fn,opts", [(DTW, dtw, {}), (Frechet, frechet, {}), (Hausdorff, hausdorff, {}),
                                         (Eyenalysis, eyenalysis, {}), (TDE, time_delay_embedding, {"k": 2}),
                                         (ScaledTDE, scaled_time_delay_embedding, {}),
                                         (FDISS, fdiss, {"radius": 40.0})])
def test_metric_classes(pairs, cls, fn, opts):
    p, t, _, _ = pairs
    metric = cls(**opts)
    metric.update(p[:50], t[:50])
    metric.update(p[50:120], t[50:120])
    values = fn(p[:120], t[:120], **opts)
    expected = values[~torch.isnan(values)].mean()
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-12)
    assert cls.full_state_update is False
