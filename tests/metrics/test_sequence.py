"""Sequence score (SS), semantic SS, string edit distance and the frozen cluster protocol: parity with
scikit-learn's MeanShift pipeline and rapidfuzz, hand-computed cases, fixture round trips, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazekit import Scanpaths
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.metrics import EditDistance, SequenceScore
from gazekit.metrics.functional import edit_distance, semantic_sequence_score, sequence_score
from gazekit.metrics.functional.clusters import (
    FACTORS_SEARCH,
    ImageClusters,
    SequenceClusters,
    estimate_bandwidth,
    fit_clusters,
    fit_image_clusters,
    mean_shift,
)


def _human(seed=0, images=3, subjects=8, size=(512, 320)):
    rng = np.random.default_rng(seed)
    xs, ys, ds, img, subj = [], [], [], [], []
    for k in range(images):
        hot = rng.uniform((40, 40), (size[0] - 40, size[1] - 40), (5, 2))
        for s in range(subjects):
            n = int(rng.integers(2, 9))
            pts = hot[rng.integers(0, 5, n)] + rng.normal(0, 18, (n, 2))
            xs.append(pts[:, 0])
            ys.append(pts[:, 1])
            ds.append(rng.uniform(60, 500, n))
            img.append(f"img{k}")
            subj.append(f"s{s}")
    return Scanpaths.from_sequences(xs, ys, durations=ds, dataset="toy", image=img, subject=subj, task="freeview",
                                    image_size=size)


def _points_by_image(sp):
    out = {}
    for i in range(len(sp)):
        n = int(sp.lengths[i])
        out.setdefault(sp.image[i], []).append(np.stack([sp.x[i, :n].numpy(), sp.y[i, :n].numpy()], 1))
    return out


@pytest.mark.oracle
def test_clusters_match_the_sklearn_pipeline():
    cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn (oracle for MeanShift) not installed")
    human = _human(seed=1, images=1)  # scikit-learn's MeanShift takes ~2 s per image here
    for sps in _points_by_image(human).values():
        pts = np.concatenate(sps)
        bw = cluster.estimate_bandwidth(pts)
        assert estimate_bandwidth(pts) == pytest.approx(bw, rel=1e-12)
        rates = []
        for f in FACTORS_SEARCH:
            ms = cluster.MeanShift(bandwidth=bw * f).fit(pts)
            np.testing.assert_allclose(mean_shift(pts, bw * f), ms.cluster_centers_, atol=1e-6)
            strings = [ms.predict(sp) for sp in sps]
            nw = sum(int((s[1:] == s[:-1]).sum()) for s in strings)
            nb = sum(len(s) - 1 for s in strings) - nw
            rates.append((nb - nw) / len(ms.cluster_centers_))
        ours = fit_image_clusters(sps)
        assert ours.factor == FACTORS_SEARCH[int(np.argmax(rates))]
        assert ours.bandwidth == pytest.approx(bw * ours.factor, rel=1e-12)


def test_mean_shift_by_hand():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [100.0, 100.0], [101.0, 100.0]])
    centres = mean_shift(pts, bandwidth=5.0)
    np.testing.assert_allclose(centres, [[1 / 3, 1 / 3], [100.5, 100.0]])  # strongest (3 points) first
    # k = int(0.3 * 5) = 1: each point's nearest neighbour counting itself -> distance 0
    assert estimate_bandwidth(pts) == 0.0
    assert estimate_bandwidth(pts, quantile=0.5) == 1.0  # k = 2: every point's nearest other point is 1 away
    # k = 3: third-nearest counting itself: 1, sqrt 2, sqrt 2, |(100,100)-(1,0)|, |(101,100)-(1,0)|
    expected = (1 + 2 * np.sqrt(2) + np.hypot(99, 100) + np.hypot(100, 100)) / 5
    assert estimate_bandwidth(pts, quantile=0.6) == pytest.approx(expected, rel=1e-12)


def test_fixture_round_trip_is_lossless(tmp_path):
    human = _human(seed=2)
    cl = fit_clusters(human, description="toy set at 512x320")
    path = cl.save(tmp_path / "clusters.json")
    loaded = SequenceClusters.load(path)
    assert sorted(loaded.clusters) == ["toy|img0|freeview", "toy|img1|freeview", "toy|img2|freeview"]
    for k, c in cl.clusters.items():
        np.testing.assert_array_equal(loaded[k].centres, c.centres)
        assert loaded[k].factor == c.factor and loaded[k].n_points == c.n_points
    pred = human[list(range(1, len(human))) + [0]]
    a = sequence_score(pred, human, clusters=cl).numpy()
    b = sequence_score(pred, human, clusters=str(path)).numpy()
    np.testing.assert_array_equal(a, b)
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    with pytest.raises(DataFormatError, match="format"):
        SequenceClusters.load(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="no sequence-score clusters for image key"):
        sequence_score(Scanpaths.from_sequences([[1.0]], [[1.0]], image="unknown"),
                       Scanpaths.from_sequences([[1.0]], [[1.0]], image="unknown"), clusters=cl)


@pytest.mark.oracle
def test_sequence_score_matches_rapidfuzz_lcs():
    lcs = pytest.importorskip("rapidfuzz.distance", reason="rapidfuzz (test extra) not installed").LCSseq
    human = _human(seed=3, images=2, subjects=10)
    cl = fit_clusters(human)
    rng = np.random.default_rng(0)
    pred_idx, tgt_idx = [], []
    for img in ("img0", "img1"):
        rows = [i for i in range(len(human)) if human.image[i] == img]
        for _ in range(40):
            i, j = rng.choice(rows, 2, replace=False)
            pred_idx.append(int(i))
            tgt_idx.append(int(j))
    pred, tgt = human[pred_idx], human[tgt_idx]
    for truncate, temporal_bin in ((None, None), (4, None), (None, 50.0)):
        ours = sequence_score(pred, tgt, clusters=cl, truncate=truncate, temporal_bin=temporal_bin).numpy()
        for b in range(len(pred_idx)):
            syms = []
            for sp in (pred, tgt):
                n = int(sp.lengths[b]) if truncate is None else min(int(sp.lengths[b]), truncate)
                s = cl[f"toy|{sp.image[b]}|freeview"].symbols(torch.stack([sp.x[b, :n], sp.y[b, :n]], 1).numpy())
                if temporal_bin:
                    s = np.repeat(s, np.floor(sp.duration[b, :n].numpy() / temporal_bin).astype(int))
                syms.append(list(s))
            expected = lcs.similarity(syms[0], syms[1]) / max(len(syms[0]), len(syms[1]))
            assert ours[b] == pytest.approx(expected, abs=1e-12)


def _clusters_2():
    centres = np.array([[10.0, 10.0], [100.0, 10.0], [10.0, 100.0]])  # symbols 0, 1, 2
    return SequenceClusters({"|im|": ImageClusters(centres, 20.0, 1.0, 9)})


def test_sequence_score_by_hand():
    cl = _clusters_2()
    # pred symbols 0 1 2 0, target 0 2 0: LCS = 3 ("0 2 0"), max length 4
    p = Scanpaths.from_sequences([[12, 98, 9, 11]], [[9, 12, 99, 10]], image="im", durations=[[120, 60, 60, 30]])
    t = Scanpaths.from_sequences([[10, 10, 10]], [[10, 100, 10]], image="im", durations=[[100, 100, 100]])
    assert sequence_score(p, t, clusters=cl).item() == pytest.approx(3 / 4)
    assert sequence_score(p, p, clusters=cl).item() == 1.0
    assert sequence_score(p, t, clusters=cl, truncate=2).item() == pytest.approx(1 / 2)  # "0 1" vs "0 2"
    # floor(T / 50): pred 0 0 1 2 (30 ms vanishes), target 0 0 2 2 0 0: LCS "0 0 2" = 3 of 6
    assert sequence_score(p, t, clusters=cl, temporal_bin=50).item() == pytest.approx(3 / 6)
    empty = Scanpaths.from_sequences([[]], [[]], image="im")
    assert np.isnan(sequence_score(empty, empty, clusters=cl).item())
    assert sequence_score(empty, t, clusters=cl).item() == 0.0
    with pytest.raises(InvalidInputError, match="truncate"):
        sequence_score(p, t, clusters=cl, truncate=0)
    with pytest.raises(InvalidInputError, match="clusters"):
        sequence_score(p, t, clusters=42)


def test_semantic_sequence_score_by_hand():
    seg = np.zeros((100, 200), dtype=np.int64)
    seg[:, 100:] = 7  # right half is object 7
    seg[50:, :100] = 3  # bottom-left is object 3
    p = Scanpaths.from_sequences([[10, 150, 20]], [[10, 10, 80]], image="a", durations=[[100, 100, 100]])
    t = Scanpaths.from_sequences([[150, 20, 199.9]], [[90, 60, 99.9]], image="a", durations=[[100, 100, 100]])
    # labels: pred 0 7 3, target 7 3 7 -> LCS "7 3" = 2 of 3
    assert semantic_sequence_score(p, t, label_maps={"a": seg}).item() == pytest.approx(2 / 3)
    attrs_p = Scanpaths.from_sequences([[1, 2, 3]], [[1, 2, 3]], fixation_attrs={"obj": [[0, 7, 3]]})
    attrs_t = Scanpaths.from_sequences([[1, 2, 3]], [[1, 2, 3]], fixation_attrs={"obj": [[7, 3, 7]]})
    assert semantic_sequence_score(attrs_p, attrs_t, label_attr="obj").item() == pytest.approx(2 / 3)
    with pytest.raises(InvalidInputError, match="no label map"):
        semantic_sequence_score(p, t, label_maps={})
    with pytest.raises(InvalidInputError, match="exactly one"):
        semantic_sequence_score(p, t)


def _letters(xs, ys, size, n=5):
    ws, hs = size[0] // n, size[1] // n
    return "".join(chr(97 + min(int(y) // hs, n - 1) * n + min(int(x) // ws, n - 1)) for x, y in zip(xs, ys))


@pytest.mark.oracle
def test_edit_distance_matches_rapidfuzz():
    lev = pytest.importorskip("rapidfuzz.distance", reason="rapidfuzz (test extra) not installed").Levenshtein
    rng = np.random.default_rng(7)
    size = (320, 240)
    xs = [rng.uniform(0, size[0], rng.integers(0, 14)) for _ in range(600)]
    ys = [rng.uniform(0, size[1], len(x)) for x in xs]
    p = Scanpaths.from_sequences(xs[:300], ys[:300], image_size=size)
    t = Scanpaths.from_sequences(xs[300:], ys[300:], image_size=size)
    ours = edit_distance(p, t).numpy()
    ref = [lev.distance(_letters(xs[i], ys[i], size), _letters(xs[300 + i], ys[300 + i], size)) for i in range(300)]
    np.testing.assert_array_equal(ours, ref)
    norm = edit_distance(p, t, normalize=True).numpy()
    lens = np.maximum([len(x) for x in xs[:300]], [len(x) for x in xs[300:]])
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(norm, np.array(ref) / lens)


def test_edit_distance_by_hand_and_zanca_variant():
    size = (500, 500)  # 100 px cells
    p = Scanpaths.from_sequences([[50, 150, 450]], [[50, 50, 450]], image_size=size)  # cells 0 1 24
    t = Scanpaths.from_sequences([[50, 450]], [[50, 450]], image_size=size)  # cells 0 24
    assert edit_distance(p, t).item() == 1.0
    assert edit_distance(p, p).item() == 0.0
    # Zanca's Python-3 port: int(x / 100 + (y / 100) * 5); y = 150 adds 7.5 instead of 5 -> different cell
    q = Scanpaths.from_sequences([[50]], [[150]], image_size=size)
    r = Scanpaths.from_sequences([[50]], [[120]], image_size=size)
    assert edit_distance(q, r).item() == 0.0  # both in cell 5
    assert edit_distance(q, r, cells="zanca").item() == 1.0  # int(0.5 + 7.5) = 8 vs int(0.5 + 6) = 6
    metric = EditDistance()
    metric.update(p, t)
    metric.update(p, p)
    assert metric.compute().item() == 0.5 and EditDistance.higher_is_better is False
    with pytest.raises(InvalidInputError, match="cells"):
        edit_distance(p, t, cells="other")


def test_sequence_score_metric_class():
    human = _human(seed=4, images=2, subjects=6)
    cl = fit_clusters(human)
    pred = human[list(range(1, len(human))) + [0]]
    metric = SequenceScore(clusters=cl)
    metric.update(pred[:5], human[:5])
    metric.update(pred[5:], human[5:])
    assert metric.compute().item() == pytest.approx(sequence_score(pred, human, clusters=cl).mean().item())


@pytest.mark.data
def test_shipped_coco_search18_fixture_is_reproducible_and_gives_the_human_ss():
    """The shipped clusters are rebuilt exactly from the data, and human-vs-human SS lands near the published
    Human row (0.490 with self-pairs, IRL CVPR 2020; this split and fixture: see the README)."""
    from gazekit.datasets import load_dataset
    from tests.conftest import require_data

    require_data("coco_search18", "coco_search18_fixations_TP_validation_split1.json")
    frozen = SequenceClusters.builtin("coco_search18")
    human = load_dataset("coco_search18").scanpaths.rescale(512, 320)
    assert len(frozen) == len(set(zip(human.image, human.task))) == 326
    keys = sorted(frozen.clusters)[:25]
    rows = [i for i in range(len(human)) if f"{human.dataset[i]}|{human.image[i]}|{human.task[i]}" in keys]
    rebuilt = fit_clusters(human[rows])
    for k in keys:
        np.testing.assert_allclose(rebuilt[k].centres, frozen[k].centres, rtol=0, atol=1e-9)
        assert rebuilt[k].factor == frozen[k].factor
    pi, ti = [], []
    for k in keys:
        own = [i for i in rows if f"{human.dataset[i]}|{human.image[i]}|{human.task[i]}" == k]
        pi += [u for u in own for v in own if u != v]
        ti += [v for u in own for v in own if u != v]
    ss = sequence_score(human[pi], human[ti], clusters="coco_search18").numpy()
    assert 0.35 < np.nanmean(ss) < 0.65
