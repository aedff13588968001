"""Return flags and per-index statistics of free-viewing scanpaths (gazekit.evaluation.freeview_stats), on
hand-computed scanpaths."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.evaluation.freeview_stats import IndexStats, return_flags, return_rate
from gazekit.scanpaths import Scanpaths


def _sp() -> Scanpaths:
    # row 0: 0 -> 1 -> 2 (back near 0: a return) -> 3 (near 2 only: the last one, not a return) -> 4 (near 1)
    # row 1: two fixations (none eligible)
    xs = [[100.0, 300.0, 110.0, 115.0, 305.0], [50.0, 60.0]]
    ys = [[100.0, 100.0, 105.0, 100.0, 90.0], [50.0, 50.0]]
    return Scanpaths.from_sequences(xs, ys, None, [[200.0] * 5, [200.0] * 2], image=["a", "a"],
                                    image_size=[400, 200])


def test_return_flags_skip_the_last_fixation():
    returned, eligible = return_flags(_sp(), 24.0)
    assert eligible.tolist() == [[False, False, True, True, True], [False, False, False, False, False]]
    # fixation 3 (115, 100) is 5.4 px from fixation 2 (the last one) but 15 px from fixation 0: a return too
    assert returned[0].tolist() == [False, False, True, True, True]
    assert return_rate(_sp(), 24.0) == 1.0
    assert return_rate(_sp(), 12.0) == pytest.approx(2 / 3)  # fixation 3 is 15 px from 0: not within 12 px
    returned, _ = return_flags(_sp(), 5.0)
    assert returned[0].tolist() == [False, False, False, False, False]


def test_index_stats_by_hand():
    st = IndexStats(max_index=3)
    human = torch.zeros(200, 400, dtype=torch.float64)
    cb = torch.full((200, 400), -1.0, dtype=torch.float64)
    human[100, 300] = 2.0  # fixation 1 of row 0 gets (2 - (-1)) / ln 2 bits; everything else 1 / ln 2
    st.add(_sp(), 400.0, 200.0, 12.0, human, cb)
    rows = {r["k"]: r for r in st.rows()}
    assert rows[0]["n"] == 2 and rows[1]["n"] == 2 and rows[">=2"]["n"] == 3
    assert rows[0]["centre_deg"] == pytest.approx((math.hypot(100, 0) + math.hypot(150, 50)) / 2 / 12)
    assert rows[1]["amplitude_deg"] == pytest.approx((200 + 10) / 2 / 12)
    assert math.isnan(rows[0]["amplitude_deg"]) and math.isnan(rows[1]["return_rate"])
    # within 12 px: fixations 2 and 4 (11.2 px), not 3 (15 px)
    assert rows[">=2"]["return_rate"] == pytest.approx(2 / 3)
    assert rows[1]["gain_bits"] == pytest.approx((3 + 1) / 2 / math.log(2))
    assert st.return_rate() == pytest.approx(2 / 3)


def test_human_gain_by_index_leaves_the_subject_out():
    from gazekit.evaluation.freeview_stats import add_human_by_index
    from gazekit.metrics.functional.density import KDE_MIX
    from gazekit.metrics.human_maps import human_log_density

    hum = Scanpaths.from_sequences([[100.0, 300.0], [110.0, 50.0]], [[100.0, 100.0], [100.0, 150.0]], None,
                                   [[200.0, 200.0], [200.0, 200.0]], image=["a", "a"], subject=["s1", "s2"],
                                   image_size=[400, 200])
    cb = torch.full((200, 400), -math.log(400 * 200), dtype=torch.float64)
    st = IndexStats(max_index=2)
    add_human_by_index(st, hum, 400.0, 200.0, 12.0, cb)
    rows = {r["k"]: r for r in st.rows()}
    # fixation 0 of s1 is read from s2's density and vice versa; neither sees its own fixations
    p_s2 = human_log_density(torch.tensor([110.0, 50.0]).numpy(), torch.tensor([100.0, 150.0]).numpy(), cb, 12.0,
                             mix=KDE_MIX)
    p_s1 = human_log_density(torch.tensor([100.0, 300.0]).numpy(), torch.tensor([100.0, 100.0]).numpy(), cb, 12.0,
                             mix=KDE_MIX)
    expected = (float(p_s2[100, 100] - cb[100, 100]) + float(p_s1[100, 110] - cb[100, 110])) / 2 / math.log(2)
    assert rows[0]["gain_bits"] == pytest.approx(expected)
    # s1's second fixation (300, 100) is far from every s2 fixation: a low density, below its own-map value
    own = human_log_density(hum.x[hum.mask].numpy(), hum.y[hum.mask].numpy(), cb, 12.0, mix=KDE_MIX)
    assert rows[">=1"]["gain_bits"] < float(own[100, 300] - cb[100, 300]) / math.log(2)
