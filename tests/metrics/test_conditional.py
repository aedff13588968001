"""Conditional next-fixation metrics: hand-computed values and the HAT variants' closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.metrics.functional import conditional as C
from gazekit.scanpaths import Scanpaths


def _setup():
    # one scanpath of 3 fixations on a 2x2 image; maps for steps 0..2 (step 0 is not scored by default)
    sp = Scanpaths.from_sequences([[0.5, 1.5, 0.5]], [[0.5, 0.5, 1.5]])
    probs = torch.tensor([[[0.25, 0.25], [0.25, 0.25]],
                          [[0.1, 0.6], [0.2, 0.1]],    # step 1 predicts (x=1, y=0): p = 0.6
                          [[0.4, 0.2], [0.3, 0.1]]],   # step 2 predicts (x=0, y=1): p = 0.3
                         dtype=torch.float64)[None]
    return sp, probs


def test_conditional_ll_and_ig_hand_computed():
    sp, probs = _setup()
    ll = C.conditional_log_likelihood(torch.log(probs), sp)
    assert float(ll) == pytest.approx((math.log(0.6) + math.log(0.3)) / 2, abs=1e-15)
    assert float(C.conditional_log_likelihood(torch.log(probs), sp, unit="bits")) == pytest.approx(
        (math.log2(0.6) + math.log2(0.3)) / 2)
    ig = C.conditional_information_gain(torch.log(probs), sp)
    assert float(ig) == pytest.approx((math.log2(0.6 / 0.25) + math.log2(0.3 / 0.25)) / 2, abs=1e-14)
    # start=0 also scores step 0 (IG 0 against uniform)
    ig0 = C.conditional_information_gain(torch.log(probs), sp, start=0)
    assert float(ig0) == pytest.approx((math.log2(2.4) + math.log2(1.2)) / 3, abs=1e-14)
    # a per-scanpath prior as baseline; HAT's eps variant agrees when probabilities are far from 0
    prior = torch.log(torch.tensor([[[0.1, 0.4], [0.4, 0.1]]], dtype=torch.float64))
    ig_p = C.conditional_information_gain(torch.log(probs), sp, baseline=prior)
    assert float(ig_p) == pytest.approx((math.log2(0.6 / 0.4) + math.log2(0.3 / 0.4)) / 2, abs=1e-14)
    hat = C.conditional_information_gain(torch.log(probs), sp, baseline=prior, variant="hat")
    assert float(hat) == pytest.approx(float(ig_p), abs=1e-12)
    # where the model gives probability 0, HAT's eps keeps the value finite
    zero = probs.clone()
    zero[0, 1] = torch.tensor([[0.5, 0.0], [0.5, 0.0]])
    hat0 = C.conditional_information_gain(torch.log(zero), sp, variant="hat")
    assert math.isfinite(float(hat0))
    assert float(C.conditional_information_gain(torch.log(zero), sp)) == -math.inf


def test_conditional_nss_and_auc_hand_computed():
    sp, probs = _setup()
    m1, m2 = probs[0, 1].flatten(), probs[0, 2].flatten()
    z1 = (0.6 - m1.mean()) / m1.std(correction=0)
    z2 = (0.3 - m2.mean()) / m2.std(correction=0)
    assert float(C.conditional_nss(probs, sp)) == pytest.approx(float((z1 + z2) / 2), abs=1e-14)
    z1h = (0.6 - m1.mean()) / m1.std()
    z2h = (0.3 - m2.mean()) / m2.std()
    assert float(C.conditional_nss(probs, sp, variant="hat")) == pytest.approx(float((z1h + z2h) / 2), abs=1e-14)
    # default cAUC: step 1, p=0.6: 3 lower, 1 equal (itself) -> 3.5/4; step 2, p=0.3: 2 lower, 1 equal -> 2.5/4
    assert float(C.conditional_auc(probs, sp)) == pytest.approx((3.5 / 4 + 2.5 / 4) / 2, abs=1e-15)
    # HAT: fp = other pixels >= p / 3: step 1 -> 0, step 2 -> 1/3; cAUC = 1 - fp/2
    assert float(C.conditional_auc(probs, sp, variant="hat")) == pytest.approx((1 + (1 - 1 / 6)) / 2, abs=1e-15)


def test_hat_cauc_range_and_relation_on_random_maps():
    g = torch.Generator().manual_seed(0)
    b, length, h, w = 5, 6, 12, 16
    maps = torch.rand(b, length, h, w, generator=g, dtype=torch.float64)
    xs = torch.rand(b, length, generator=g, dtype=torch.float64) * w
    ys = torch.rand(b, length, generator=g, dtype=torch.float64) * h
    sp = Scanpaths.from_sequences(list(xs), list(ys))
    hat = C.conditional_auc(maps, sp, variant="hat")
    ours = C.conditional_auc(maps, sp)
    assert bool(((hat >= 0.5) & (hat <= 1)).all())
    # without ties: fp = 1 - (rank+... ) so hat = (1 + ours') / 2 up to the single-pixel offset
    n = h * w
    expected = (1 + (ours * n - 0.5) / (n - 1)) / 2
    assert torch.allclose(hat, expected, atol=1e-12)


def test_conditional_input_errors():
    sp, probs = _setup()
    with pytest.raises(InvalidInputError, match="one map per fixation"):
        C.conditional_nss(probs[:, :2], sp)
    with pytest.raises(InvalidInputError, match=r"\[B, L, H, W\]"):
        C.conditional_nss(probs[0], sp)
    with pytest.raises(InvalidInputError, match="NaN"):
        C.conditional_nss(torch.full_like(probs, math.nan), sp)
    with pytest.raises(InvalidInputError, match="variant"):
        C.conditional_auc(probs, sp, variant="zanca")
    with pytest.raises(InvalidInputError, match="baseline"):
        C.conditional_information_gain(torch.log(probs), sp, baseline=torch.zeros(3, 3))
    short = Scanpaths.from_sequences([[0.5]], [[0.5]])
    assert math.isnan(float(C.conditional_auc(probs[:, :1], short)))  # nothing to score after the first fixation


def test_metric_classes():
    from gazekit.metrics.conditional import ConditionalAUC, ConditionalInformationGain, ConditionalNSS

    sp, probs = _setup()
    cig = ConditionalInformationGain()
    cig.update(torch.log(probs), sp)
    cig.update(torch.log(probs), sp, "uniform")
    assert float(cig.compute()) == pytest.approx(float(C.conditional_information_gain(torch.log(probs), sp)))
    cauc = ConditionalAUC(variant="hat")
    cauc.update(probs, sp)
    assert float(cauc.compute()) == pytest.approx((1 + (1 - 1 / 6)) / 2)
    cnss = ConditionalNSS()
    cnss.update(probs, sp)
    assert float(cnss.compute()) == pytest.approx(float(C.conditional_nss(probs, sp)))


def test_conditional_ll_and_ig_match_pysaliency_scanpath_model():
    """pysaliency's ScanpathModel.log_likelihoods / information_gains (uniform baseline), per fixation, 1e-10."""
    import numpy as np

    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid
    try:
        import pysaliency
    except Exception as err:  # noqa: BLE001  (ImportError or build problems inside pysaliency)
        pytest.skip(f"pysaliency (the parity oracle, test extra) is not importable: {err}")
    rng = np.random.default_rng(3)
    b, length, h, w = 3, 5, 12, 16
    logits = rng.normal(size=(b, length, h, w))
    log_dens = logits - np.log(np.exp(logits).sum(axis=(2, 3), keepdims=True))
    lengths = [5, 3, 4]
    xs = [rng.uniform(0, w, n) for n in lengths]
    ys = [rng.uniform(0, h, n) for n in lengths]
    stimuli = pysaliency.Stimuli([rng.random((h, w, 3)) for _ in range(b)])
    trains = pysaliency.FixationTrains.from_fixation_trains(xs, ys, [np.arange(n, dtype=float) for n in lengths],
                                                            list(range(b)), list(range(b)))

    class Lookup(pysaliency.ScanpathModel):
        def conditional_log_density(self, stimulus, x_hist, y_hist, t_hist, attributes=None, out=None):
            return log_dens[int(attributes["scanpath_index"]), len(x_hist)]

    model = Lookup()
    ll = model.log_likelihoods(stimuli, trains)
    ig = model.information_gains(stimuli, trains)  # uniform baseline
    sp = Scanpaths.from_sequences(xs, ys)
    starts = np.cumsum([0] + lengths[:-1])
    for start in (0, 1):
        ref_ll = [ll[s + start:s + n].mean() for s, n in zip(starts, lengths)]
        ref_ig = [ig[s + start:s + n].mean() for s, n in zip(starts, lengths)]
        ours_ll = C.conditional_log_likelihood(torch.tensor(log_dens), sp, start=start)
        ours_ig = C.conditional_information_gain(torch.tensor(log_dens), sp, start=start)
        assert np.allclose(ours_ll.numpy(), ref_ll, rtol=0, atol=1e-10)
        assert np.allclose(ours_ig.numpy(), ref_ig, rtol=0, atol=1e-10)
