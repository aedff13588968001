"""ROC counting: the one-pass rank counts equal a sort's, shared ranks give the same metrics, shuffled AUC with
the other maps' fixations as negatives equals its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional import roc as R
from gazekit.metrics.functional._roc import rank_counts


def _rows(seed=0):
    rng = np.random.default_rng(seed)
    rows = [rng.random(3000), np.round(rng.random(3000) * 5), -rng.random(3000) ** 3, np.full(3000, 0.25),
            rng.normal(size=3000) * 1e6, np.exp(rng.normal(size=3000) * 30)]
    return np.stack(rows), rng


@pytest.mark.parametrize("k", [1, 3, 20, 300])
def test_kernel_counts_equal_the_sorted_counts(k):
    rows, rng = _rows(k)
    thresholds = []
    for r in rows:
        t = rng.choice(r, k)  # thresholds are pixel values (ties with pixels and with each other)
        t[: k // 3] = t[0]
        thresholds.append(np.sort(t))
    thresholds[3] = np.sort(np.concatenate([[0.25] * (k - 1), [0.1]]))[:k]  # constant map, equal thresholds
    fast = rank_counts(rows, thresholds)
    ref = rank_counts(rows, thresholds, use_kernel=False)
    assert fast[2] == ref[2] == -1
    for a, b in zip(fast[0] + fast[1], ref[0] + ref[1]):
        np.testing.assert_array_equal(a, b)
    # hand check on the constant map: every pixel equals 0.25
    less, le = fast[0][3], fast[1][3]
    assert all((lv, ev) == ((0, 0) if t < 0.25 else (0, 3000)) for t, lv, ev in zip(thresholds[3], less, le))


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_kernel_reports_the_first_non_finite_row(bad_value):
    rows, _ = _rows()
    rows[2, 17] = bad_value
    rows[4, 3] = bad_value
    thresholds = [np.sort(r[:5]) if i != 2 else np.array([0.0]) for i, r in enumerate(rows)]
    assert rank_counts(rows, thresholds)[2] == 2
    assert rank_counts(rows, thresholds, use_kernel=False)[2] == 2
    t = torch.tensor(rows).reshape(6, 50, 60)
    fix = (torch.full((6, 1), 30.5, dtype=torch.float64), torch.full((6, 1), 20.5, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="map 2 contains NaN or infinite"):
        R.auc_judd(t, fix)


def test_shared_ranks_give_the_same_metrics():
    rng = np.random.default_rng(1)
    maps = torch.tensor(rng.random((3, 40, 50)))
    maps[1] = torch.round(maps[1] * 3)  # ties
    fix = (torch.tensor(rng.uniform(0, 50, (3, 12))), torch.tensor(rng.uniform(0, 40, (3, 12))))
    ranks = R.map_ranks(maps, fix)
    for variant in ("judd", "mit", "zanca"):
        assert torch.equal(R.auc_judd(maps, fix, variant=variant, ranks=ranks), R.auc_judd(maps, fix, variant=variant))
    for negatives in ("all", "unfixated"):
        assert torch.equal(R.auc(maps, fix, negatives=negatives, ranks=ranks), R.auc(maps, fix, negatives=negatives))
    with pytest.raises(InvalidInputError, match="MapRanks"):
        R.auc(maps, fix, ranks=[1, 2])


def _brute_auc(pos, neg):
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (pos.size * neg.size))


def test_shuffled_auc_with_the_other_maps_fixations():
    """"others": the negatives of map i are the fixations of every other map (pysaliency's shuffled
    nonfixations on same-size images), here against the brute-force definition, with ties and padding."""
    rng = np.random.default_rng(2)
    b, h, w, n = 5, 30, 40, 9
    maps = np.round(rng.random((b, h, w)) * 6)  # ties between positives and negatives
    xs, ys = rng.uniform(0, w, (b, n)), rng.uniform(0, h, (b, n))
    xs[4, 6:] = np.nan
    ys[4, 6:] = np.nan
    xi, yi = np.floor(np.nan_to_num(xs)).astype(int), np.floor(np.nan_to_num(ys)).astype(int)
    ok = ~np.isnan(xs)
    ours = R.shuffled_auc(torch.tensor(maps), (torch.tensor(xs), torch.tensor(ys)))
    for i in range(b):
        others = [(yi[j][ok[j]], xi[j][ok[j]]) for j in range(b) if j != i]
        neg = np.concatenate([maps[i][y, x] for y, x in others])
        pos = maps[i][yi[i][ok[i]], xi[i][ok[i]]]
        assert float(ours[i]) == pytest.approx(_brute_auc(pos, neg), abs=1e-14)
    # the same negatives given explicitly
    for i in range(b):
        ox = np.concatenate([xs[j][ok[j]] for j in range(b) if j != i])
        oy = np.concatenate([ys[j][ok[j]] for j in range(b) if j != i])
        one = R.shuffled_auc(torch.tensor(maps[i:i + 1]), (torch.tensor(xs[i:i + 1]), torch.tensor(ys[i:i + 1])),
                             (torch.tensor(ox)[None], torch.tensor(oy)[None]))
        assert float(one) == pytest.approx(float(ours[i]), abs=1e-14)
    single = R.shuffled_auc(torch.tensor(maps[:1]), (torch.tensor(xs[:1]), torch.tensor(ys[:1])))
    assert math.isnan(float(single))  # one map: no other fixations


def test_roc_metrics_match_pysaliency_on_a_large_map():
    """480x640 maps with 20 and 200 fixations (the kernel's grid is fine there), 1e-10 against pysaliency."""
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid
    try:
        from pysaliency.roc import general_roc
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"pysaliency (the parity oracle, test extra) is not importable: {err}")
    rng = np.random.default_rng(4)
    h, w = 480, 640
    yy, xx = np.mgrid[:h, :w]
    smap = np.exp(-((xx - 300) ** 2 + (yy - 200) ** 2) / 5e4) + 0.01 * rng.random((h, w))
    for n in (20, 200):
        x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
        xi, yi = x.astype(int), y.astype(int)
        mask = np.zeros((h, w), bool)
        mask[yi, xi] = True
        fix = (torch.tensor(x)[None], torch.tensor(y)[None])
        judd = float(R.auc_judd(torch.tensor(smap)[None], fix))
        assert abs(judd - general_roc(smap[yi, xi], smap[~mask], judd=1)[0]) < 1e-10
        auc_all = float(R.auc(torch.tensor(smap)[None], fix))
        assert abs(auc_all - general_roc(smap[yi, xi], smap.ravel(), judd=0)[0]) < 1e-10


def test_shuffled_auc_broadcast_and_sorted_paths_agree(monkeypatch):
    rng = np.random.default_rng(6)
    maps = torch.tensor(np.round(rng.random((4, 20, 30)) * 4))
    fix = (torch.tensor(rng.uniform(0, 30, (4, 11))), torch.tensor(rng.uniform(0, 20, (4, 11))))
    neg = (torch.tensor(rng.uniform(0, 30, (4, 17))), torch.tensor(rng.uniform(0, 20, (4, 17))))
    neg[0][2, 5:] = math.nan
    neg[1][2, 5:] = math.nan
    direct = R.shuffled_auc(maps, fix, neg)
    monkeypatch.setattr(R, "_BROADCAST_MAX", 0)
    sorted_path = R.shuffled_auc(maps, fix, neg)
    assert torch.allclose(direct, sorted_path, rtol=0, atol=1e-15)
    xi, yi = fix[0].long().numpy(), fix[1].long().numpy()
    nxi, nyi = neg[0][2, :5].long().numpy(), neg[1][2, :5].long().numpy()
    m = maps[2].numpy()
    assert float(direct[2]) == pytest.approx(_brute_auc(m[yi[2], xi[2]], m[nyi, nxi]), abs=1e-15)
