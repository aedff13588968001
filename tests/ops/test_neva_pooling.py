"""NeVA mode of gazekit.ops.foveate and eccNet-style eccentricity_pool: hand-computed values and oracles."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gazekit.errors import InvalidInputError
from gazekit.ops import eccentricity_pool, foveate, gaussian_blur, pool_sizes
from gazekit.ops.reference import neva_blur_weight


def _images(b=1, c=3, h=9, w=11, seed=0, dtype=torch.float64):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_gaussian_blur_matches_explicit_2d_kernel():
    x = _images(1, 2, 12, 15)
    taps = torch.arange(-2, 3, dtype=torch.float64)
    k1 = torch.exp(-(taps**2) / (2 * 1.5**2))
    k2 = torch.outer(k1, k1) / k1.sum() ** 2
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    expected = F.conv2d(padded.reshape(2, 1, 16, 19), k2.view(1, 1, 5, 5)).reshape(1, 2, 12, 15)
    assert torch.allclose(gaussian_blur(x, 5, 1.5), expected, atol=1e-12)


def test_neva_weight_hand_computed():
    # 1 x 3 image: NeVA grid u = -1, 0, 1; a fixation at x = 1.5 px is on the centre pixel (u = 0).
    fix = torch.tensor([[[1.5, 0.5]]], dtype=torch.float64)
    w = neva_blur_weight(fix, None, 1, 3, sigma=0.5, amplitude=1.0)
    expected = [1 - math.exp(-1 / 0.5), 0.0, 1 - math.exp(-1 / 0.5)]
    assert torch.allclose(w[0, 0], torch.tensor(expected, dtype=torch.float64), atol=1e-12)


def test_neva_memory_of_past_fixations():
    # fixations at the left then the right pixel of a 1 x 3 image, forgetting 0.5:
    # memory = mask(left) (rolled in when the right one arrives); weight = clip(1 - (memory + mask(right)), 0, 1)
    fix = torch.tensor([[[0.5, 0.5], [2.5, 0.5]]], dtype=torch.float64)
    sigma = 1.0
    w = neva_blur_weight(fix, None, 1, 3, sigma=sigma, forgetting=0.5)
    u = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    left, right = torch.exp(-((u + 1) ** 2) / sigma), torch.exp(-((u - 1) ** 2) / sigma)
    assert torch.allclose(w[0, 0], (1 - (left + right)).clamp(0, 1), atol=1e-12)
    # a third fixation decays the older memory by the forgetting factor
    fix3 = torch.tensor([[[0.5, 0.5], [2.5, 0.5], [1.5, 0.5]]], dtype=torch.float64)
    centre = torch.exp(-(u**2) / sigma)
    w3 = neva_blur_weight(fix3, None, 1, 3, sigma=sigma, forgetting=0.5)
    assert torch.allclose(w3[0, 0], (1 - (0.5 * left + right + centre)).clamp(0, 1), atol=1e-12)
    # invalid fixations are skipped entirely
    valid = torch.tensor([[True, False, True]])
    w_skip = neva_blur_weight(fix3, valid, 1, 3, sigma=sigma, forgetting=0.5)
    assert torch.allclose(w_skip[0, 0], (1 - (left + centre)).clamp(0, 1), atol=1e-12)


def test_neva_mode_output_and_fixation_gradient():
    x = _images(2, 3, 16, 20)
    fix = torch.tensor([[[5.5, 4.5]], [[12.0, 9.0]]], dtype=torch.float64, requires_grad=True)
    blurred = gaussian_blur(x, 7, 2.0)
    out = foveate(x, fix, mode="neva", blurred=blurred, sigma=0.1)
    # at the fixated pixel the mask is 1, so the image is untouched; far away the blurred copy shows
    assert torch.allclose(out[0, :, 4, 5], x[0, :, 4, 5], atol=1e-12)
    assert torch.allclose(out[0, :, 15, 19], blurred[0, :, 15, 19], atol=1e-3)
    no_mask = foveate(x, fix, mode="neva", amplitude=0.0, kernel_size=7, blur_sigma=2.0)
    assert torch.allclose(no_mask, blurred, atol=1e-15)
    (g,) = torch.autograd.grad(out.sum(), fix)
    assert torch.isfinite(g).all() and g.abs().min() > 0
    assert torch.autograd.gradcheck(lambda f: foveate(x, f, mode="neva", blurred=blurred, sigma=0.1), (fix,))


def test_neva_half_precision_and_bad_blur():
    x = _images(1, 3, 10, 10, dtype=torch.float32)
    fix = torch.tensor([[[3.0, 3.0]]])
    out = foveate(x.half(), fix, mode="neva", kernel_size=5, blur_sigma=5.0)
    ref = foveate(x, fix, mode="neva", kernel_size=5, blur_sigma=5.0)
    assert out.dtype == torch.float16 and (out.float() - ref).abs().max() < 2e-3
    with pytest.raises(InvalidInputError, match="odd"):
        foveate(x, fix, mode="neva", kernel_size=4)
    with pytest.raises(InvalidInputError, match="blurred"):
        foveate(x, fix, mode="neva", blurred=x[:, :2])


def test_pool_sizes_hand_computed():
    # deg2px 8, fovea 4 deg (radius 16 px), rings of 8 px, slope 0.16
    ecc = torch.tensor([0.0, 16.0, 16.5, 24.0, 30.0])
    sizes = pool_sizes(ecc, deg2px=8.0, slope=0.16)
    # ring outer edges: fovea, fovea, 24, 24, 32 -> 2 + round(0.16 * (2 r - 32)) = 2, 2, 2 + round(2.56), ..,
    # 2 + round(5.12)
    assert sizes.tolist() == [2, 2, 5, 5, 7]


def test_eccentricity_pool_zero_slope_is_avg_pool():
    feats = _images(2, 4, 14, 17, dtype=torch.float32)
    out = eccentricity_pool(feats, torch.tensor([[3.0, 4.0], [10.0, 2.0]]), deg2px=8.0, slope=0.0)
    assert torch.allclose(out, F.avg_pool2d(feats, 2, 2), atol=1e-6)


def test_eccentricity_pool_window_is_clipped_mean():
    feats = _images(1, 2, 20, 20, dtype=torch.float64).requires_grad_()
    fix = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    out = eccentricity_pool(feats, fix, deg2px=2.0, slope=0.32, fovea_deg=2.0, ring_deg=1.0)
    # output (5, 7): centre (15, 11) px, distance sqrt(14^2 + 10^2) = 17.2 -> ring outer 18 -> size 2 + round(0.32 *
    # (36 - 4)) = 12; start = 2 * 7 - 5 = 9 (cols 9..20, clipped to 19), rows 10 - 5 = 5 .. 16
    ecc = math.hypot(15 - 1.0, 11 - 1.0)
    assert pool_sizes(torch.tensor([ecc]), deg2px=2.0, slope=0.32, fovea_deg=2.0).item() == 12
    expected = feats[0, :, 5:17, 9:20].mean(dim=(1, 2))
    assert torch.allclose(out[0, :, 5, 7], expected, atol=1e-12)
    (g,) = torch.autograd.grad(out[0, 0, 5, 7], feats)
    assert torch.allclose(g[0, 0, 5:17, 9:20], torch.full((12, 11), 1 / 132, dtype=torch.float64))
    assert g.sum().item() == pytest.approx(1.0)


def test_eccentricity_pool_image_coordinates_and_errors():
    feats = _images(1, 3, 16, 16, dtype=torch.float32)
    a = eccentricity_pool(feats, torch.tensor([[[4.0, 6.0]]]), deg2px=2.0, slope=0.3)
    b = eccentricity_pool(feats, torch.tensor([[[16.0, 24.0]]]), deg2px=2.0, slope=0.3, image_size=(64, 64))
    assert torch.equal(a, b)
    with pytest.raises(InvalidInputError, match="valid"):
        eccentricity_pool(feats, torch.tensor([[[math.nan, 1.0]]]), torch.tensor([[True]]), deg2px=2.0, slope=0.3)
    with pytest.raises(InvalidInputError, match=r"\[B, 2\]"):
        eccentricity_pool(feats, torch.zeros(2, 2), deg2px=2.0, slope=0.3)
