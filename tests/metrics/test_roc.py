"""ROC counting: the one-pass rank counts equal a sort's, shared ranks give the same metrics, shuffled AUC with
the other maps' fixations as negatives equals its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional import roc as R
from gazekit.metrics.functional._roc import gather_columns, rank_counts


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


@pytest.mark.parametrize("n", [1, 7, 1023, 1024, 1025, 5000])
def test_kernel_edge_cases_equal_the_sorted_counts(n):
    """Block boundaries (rows shorter than, equal to and longer than a block, odd lengths), thresholds below,
    above and equal to the extremes, duplicated thresholds, a constant row, and a range so wide that the grid's
    scale overflows (every pixel then goes through the exact comparison)."""
    rng = np.random.default_rng(n)
    base = rng.normal(size=n)
    rows = np.stack([base, np.full(n, 2.5), np.where(rng.random(n) < 0.5, -1e300, 1e300) * rng.random(n),
                     np.round(base * 2)])
    thresholds = [np.sort(np.concatenate([[base.min() - 1, base.min(), base.max(), base.max() + 1], base[:3]])),
                  np.array([2.5, 2.5, 2.5]), np.sort(np.concatenate([[-1e300, 1e300, 0.0], rows[2, :2]])),
                  np.sort(rows[3, rng.integers(0, n, 9)])]
    fast = rank_counts(rows, thresholds)
    ref = rank_counts(rows, thresholds, use_kernel=False)
    assert fast[2] == ref[2] == -1
    for a, b in zip(fast[0] + fast[1], ref[0] + ref[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fast[0][1], [0, 0, 0])  # the constant row, by hand: no pixel below 2.5
    np.testing.assert_array_equal(fast[1][1], [n, n, n])  # ... and all n at or below it
    assert (fast[0][0][0], fast[1][0][-1]) == (0, n)  # below the minimum / above the maximum


def test_gather_columns_equals_fancy_indexing():
    rng = np.random.default_rng(3)
    idx = np.sort(rng.integers(0, 300, 40))
    for b in (1, 4, 5, 11):  # whole groups of four rows, and the rest
        rows = rng.random((b, 300))
        np.testing.assert_array_equal(gather_columns(rows, idx), rows[:, idx])
        assert gather_columns(rows, idx[:0]).shape == (b, 0)


def test_auc_judd_by_hand_single_fixation_and_constant_map():
    """One fixation on the maximum of a map with distinct values: the ROC goes (0,0) -> (0,1) -> (1,1), area 1;
    on the minimum: every unfixated pixel is >= the threshold, (0,0) -> (1,1) twice, area 0.5; a constant map
    with several fixations (one pixel fixated twice): 0.5. Shuffled AUC of a map whose fixated values all lie
    above the other maps' fixated values: 1."""
    smap = torch.arange(12.0, dtype=torch.float64).reshape(1, 3, 4)
    at = (lambda x, y: (torch.tensor([[x + 0.5]], dtype=torch.float64), torch.tensor([[y + 0.5]], dtype=torch.float64)))
    assert float(R.auc_judd(smap, at(3, 2))) == 1.0
    assert float(R.auc_judd(smap, at(0, 0))) == 0.5
    const = torch.full((1, 3, 4), 7.0, dtype=torch.float64)
    fix = (torch.tensor([[0.5, 0.5, 2.5]], dtype=torch.float64), torch.tensor([[1.5, 1.5, 0.5]], dtype=torch.float64))
    assert float(R.auc_judd(const, fix)) == 0.5
    assert float(R.auc(const, fix)) == 0.5
    maps = torch.stack([smap[0], smap[0]])
    fix2 = (torch.tensor([[3.5, 2.5], [0.5, 1.5]], dtype=torch.float64),
            torch.tensor([[2.5, 2.5], [0.5, 0.5]], dtype=torch.float64))  # map 0 at 11, 10; map 1 at 0, 1
    np.testing.assert_array_equal(R.shuffled_auc(maps, fix2).numpy(), [1.0, 0.0])


@pytest.mark.parametrize("fused", [True, False])
def test_shuffled_auc_others_with_repeated_fixations(fused, monkeypatch):
    """The same pixel fixated twice on one map and by several maps: each fixation is one positive of its map and
    one negative of every other map (the brute-force definition); the numba kernel and the numpy steps."""
    if not fused:
        monkeypatch.setattr(R, "others_auc", lambda *args: None)
    rng = np.random.default_rng(8)
    b, h, w = 4, 10, 12
    maps = np.round(rng.random((b, h, w)) * 3)
    xs = rng.integers(0, w, (b, 6)).astype(float) + 0.5
    ys = rng.integers(0, h, (b, 6)).astype(float) + 0.5
    xs[:, 0], ys[:, 0] = 3.5, 4.5  # the same pixel on every map
    xs[1, 1], ys[1, 1] = 3.5, 4.5  # ... twice on map 1
    xs[2, 5], ys[2, 5] = math.nan, math.nan
    xs[3, 2], ys[3, 2] = math.nan, math.nan  # padding before a valid fixation
    ok = ~np.isnan(xs)
    xi, yi = np.floor(np.nan_to_num(xs)).astype(int), np.floor(np.nan_to_num(ys)).astype(int)
    ours = R.shuffled_auc(torch.tensor(maps), (torch.tensor(xs), torch.tensor(ys)))
    for i in range(b):
        neg = np.concatenate([maps[i][yi[j][ok[j]], xi[j][ok[j]]] for j in range(b) if j != i])
        pos = maps[i][yi[i][ok[i]], xi[i][ok[i]]]
        assert float(ours[i]) == pytest.approx(_brute_auc(pos, neg), abs=1e-14)
    # non-finite at its own fixation (the pixel every map fixated), or at one only map 0 fixated
    own = {(int(y), int(x)) for y, x in zip(yi[1][ok[1]], xi[1][ok[1]])}
    other = next((int(y), int(x)) for y, x in zip(yi[0][ok[0]], xi[0][ok[0]]) if (int(y), int(x)) not in own)
    for bad_row, bad_at, where in ((2, (4, 3), "at its fixations"), (1, other, "at the other maps' fixations")):
        broken = maps.copy()
        broken[bad_row][bad_at] = math.nan
        with pytest.raises(InvalidInputError, match=f"map {bad_row} contains NaN or infinite values {where}"):
            R.shuffled_auc(torch.tensor(broken), (torch.tensor(xs), torch.tensor(ys)))


def _osie_maps(n_images):
    """Real maps: for each OSIE image, the fixations of all its viewers blurred (sigma 24 px) on 800x600,
    and the same maps quantised to 256 levels (as saved to PNG: many ties)."""
    from scipy.ndimage import gaussian_filter

    from gazekit.datasets import load_dataset
    from gazekit.metrics.functional._maps import fixations_per_image
    from tests.conftest import require_data

    require_data("osie", "fixations.mat")
    sp = load_dataset("osie").scanpaths
    images = list(dict.fromkeys(sp.image))[:n_images]
    x, y = (v.numpy() for v in fixations_per_image(sp, images))
    h, w = 600, 800
    maps = np.zeros((len(images), h, w))
    for i in range(len(images)):
        ok = ~np.isnan(x[i])
        np.add.at(maps[i], (np.minimum(y[i][ok], h - 1).astype(int), np.minimum(x[i][ok], w - 1).astype(int)), 1.0)
        maps[i] = gaussian_filter(maps[i], 24)
    quantised = np.round(maps / maps.max(axis=(1, 2), keepdims=True) * 255)
    return maps, quantised, x, y


@pytest.mark.data
def test_roc_metrics_match_pysaliency_on_real_osie_maps():
    """AUC-Judd, the all-threshold AUC and shuffled AUC over the other images' fixations, 1e-10 against
    pysaliency on 6 real OSIE maps, smooth and quantised to 256 levels (ties between pixels and fixations)."""
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid
    try:
        from pysaliency.roc import general_roc
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"pysaliency (the parity oracle, test extra) is not importable: {err}")
    smooth, quantised, x, y = _osie_maps(6)
    ok = ~np.isnan(x)
    xi = np.minimum(np.floor(np.nan_to_num(x)).astype(int), 799)  # a fixation on the border: the last pixel
    yi = np.minimum(np.floor(np.nan_to_num(y)).astype(int), 599)
    fix = (torch.tensor(x), torch.tensor(y))
    for maps in (smooth, quantised):
        t = torch.tensor(maps)
        ranks = R.map_ranks(t, fix)
        judd, auc_all = R.auc_judd(t, fix, ranks=ranks), R.auc(t, fix, ranks=ranks)
        sauc = R.shuffled_auc(t, fix)
        for i in range(len(maps)):
            pos = maps[i][yi[i][ok[i]], xi[i][ok[i]]]
            mask = np.zeros(maps[i].shape, bool)
            mask[yi[i][ok[i]], xi[i][ok[i]]] = True
            assert abs(float(judd[i]) - general_roc(pos, maps[i][~mask], judd=1)[0]) < 1e-10
            assert abs(float(auc_all[i]) - general_roc(pos, maps[i].ravel(), judd=0)[0]) < 1e-10
            others = [j for j in range(len(maps)) if j != i]
            neg = np.concatenate([maps[i][yi[j][ok[j]], xi[j][ok[j]]] for j in others])
            assert abs(float(sauc[i]) - general_roc(pos, neg, judd=0)[0]) < 1e-10
