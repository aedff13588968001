"""gazekit.ops.foveate: fused op == plain-torch reference, identities, gradients, registration, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gazekit.errors import InvalidInputError
from gazekit.ops import Foveate, foveate, gaussian_pyramid, perry_geisler_level_offset
from gazekit.ops import op as op_module
from gazekit.ops._layout import build_chain
from gazekit.ops.reference import foveate_reference, pg_blend_weight, pyr_down


def _fixations(batch, n_fix, height, width, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    # up to 30 % off the image on every side
    u = torch.rand(batch, n_fix, 2, generator=g, dtype=torch.float64) * 1.6 - 0.3
    return (u * torch.tensor([width, height], dtype=torch.float64)).to(dtype)


def _images(batch, channels, height, width, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, height, width, generator=g, dtype=torch.float64).to(dtype)


CASES = [  # (B, C, H, W, F, levels, blend, e2)
    (2, 3, 37, 53, 1, 5, "linear", 3.0),
    (1, 2, 40, 31, 3, 7, "pg", 2.0),
    (3, 1, 17, 9, 2, 2, "linear", 1.5),
    (2, 3, 23, 64, 2, 4, "pg", 5.0),
    (1, 3, 5, 3, 1, 6, "linear", 0.7),
]


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference_fp32(case):
    b, c, h, w, n_fix, levels, blend, e2 = case
    x, f = _images(b, c, h, w), _fixations(b, n_fix, h, w)
    out = foveate(x, f, levels=levels, e2=e2, blend=blend)
    ref = foveate_reference(x, f, levels=levels, e2=e2, blend=blend)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert (out - ref).abs().max().item() <= 1e-6
    assert (out - x).abs().max().item() > 1e-3  # the case really blurs


def test_forward_float64_ppd_offset_and_valid_mask():
    x, f = _images(2, 3, 29, 41, torch.float64), _fixations(2, 3, 29, 41, torch.float64)
    valid = torch.tensor([[True, False, True], [False, False, True]])
    f_nan = f.clone()
    f_nan[~valid] = math.nan  # padding may hold NaN when it is marked invalid
    out = foveate(x, f_nan, valid, levels=4, e2=0.1, ppd=30.0, level_offset=1.0, blend="pg")
    ref = foveate_reference(x, f, valid, levels=4, e2=0.1, scale=1 / 30.0, offset=1.0, blend="pg")
    assert (out - ref).abs().max().item() <= 1e-12
    # the invalid fixations are ignored: same as passing only the valid ones
    only = foveate(x, f[:, 2:], levels=4, e2=0.1, ppd=30.0, level_offset=1.0, blend="pg")
    assert not torch.allclose(out[0], only[0])  # image 0 also has its valid fixation 0
    assert torch.allclose(out[1], only[1], atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_half_precision_within_stated_tolerance(dtype, tol):
    # half inputs are computed in float32 and rounded once: the error is the output rounding (fp16 2^-11, bf16 2^-8)
    x, f = _images(2, 3, 31, 27).to(dtype), _fixations(2, 2, 31, 27)
    out = foveate(x, f, levels=5, e2=3.0)
    ref = foveate_reference(x.float(), f, levels=5, e2=3.0)
    assert out.dtype == dtype
    assert (out.float() - ref).abs().max().item() <= tol


def test_infinite_e2_returns_the_image():
    x, f = _images(2, 3, 19, 23), _fixations(2, 2, 19, 23)
    assert torch.equal(foveate(x, f, e2=math.inf), x)


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_constant_level_map_returns_that_level(k):
    x = _images(2, 3, 21, 30)
    out = foveate(x, mode="map", level_map=torch.full((2, 21, 30), float(k)), levels=5)
    expected = F.interpolate(gaussian_pyramid(x, 5)[k], size=(21, 30), mode="bilinear", align_corners=False)
    assert (out - expected).abs().max().item() <= 1e-6


def test_level_map_between_levels_is_the_linear_blend():
    x = _images(1, 2, 16, 16)
    pyr = [F.interpolate(g, size=(16, 16), mode="bilinear", align_corners=False) for g in gaussian_pyramid(x, 3)]
    out = foveate(x, mode="map", level_map=torch.full((1, 16, 16), 1.25), levels=3)
    assert torch.allclose(out, 0.75 * pyr[1] + 0.25 * pyr[2], atol=1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_every_blend_path_of_the_cpu_kernel_matches_reference(dtype, tol):
    # width 256 = 2^6 x 4: every level of 7 is upsampled at fixed phases (factors 2 .. 64, the ones above 8 through
    # a resampled row); width 250 reads the bilinear tables from level 2 on; a noisy level map gives runs of one or
    # two pixels (the table path for short runs); e2 = 0.5 puts pixels on every level, including level 0
    for width in (256, 250):
        x, f = _images(2, 2, 40, width, dtype), _fixations(2, 2, 40, width, dtype)
        out = foveate(x, f, levels=7, e2=0.5)
        assert (out - foveate_reference(x, f, levels=7, e2=0.5)).abs().max().item() <= tol
        lam = torch.rand(2, 40, width, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 7.4 - 0.2
        lam = lam.to(dtype)
        out = foveate(x, mode="map", level_map=lam, levels=7)
        assert (out - foveate_reference(x, None, level_map=lam, levels=7)).abs().max().item() <= tol
    # no valid fixation: every pixel is on the top level (eccentricity inf)
    x, f = _images(1, 3, 24, 64, dtype), _fixations(1, 2, 24, 64, dtype)
    none = torch.zeros(1, 2, dtype=torch.bool)
    top = F.interpolate(gaussian_pyramid(x, 5)[4], size=(24, 64), mode="bilinear", align_corners=False)
    assert (foveate(x, f, none, levels=5) - top).abs().max().item() <= tol


def test_pyr_down_hand_computed():
    # impulse at column 4 of a 1 x 9 row: reflect padding, taps [1,4,6,4,1]/16, stride 2 -> columns 0, 2, 4, 6, 8
    x = torch.zeros(1, 1, 1, 9, dtype=torch.float64)
    x[..., 4] = 16.0
    row = pyr_down(x)[0, 0, 0]  # height 1 is replicate-padded: vertical weights sum to 1
    assert row.tolist() == [0.0, 1.0, 6.0, 1.0, 0.0]
    const = torch.full((1, 3, 13, 7), 0.25)
    assert torch.allclose(foveate(const, _fixations(1, 1, 13, 7), levels=6, e2=1.0), const, atol=1e-7)


def test_pg_weight_and_offset_values():
    frac = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    t = pg_blend_weight(frac)
    # t(0)=0, t(1)=1; t(0.5): T_fine = 2^-0.5, T_coarse = 2^-2 -> (0.70711 - 0.5) / (0.70711 - 0.25)
    assert t[0].item() == 0.0 and abs(t[2].item() - 1.0) < 1e-15
    assert abs(t[1].item() - (2**-0.5 - 0.5) / (2**-0.5 - 0.25)) < 1e-15
    # P&G's calibrated level offset at 90 px/deg: log2(2 ln 75 / (0.106 * 90)) = -0.1438
    assert abs(perry_geisler_level_offset(90.0) - math.log2(2 * math.log(75) / (0.106 * 90))) < 1e-12
    assert abs(perry_geisler_level_offset(90.0) + 0.1438) < 1e-4


@pytest.mark.parametrize("blend", ["linear", "pg"])
def test_gradients_match_autograd_through_reference(blend):
    x, f = _images(2, 3, 26, 33), _fixations(2, 2, 26, 33)
    x1, f1 = x.clone().requires_grad_(), f.clone().requires_grad_()
    x2, f2 = x.clone().requires_grad_(), f.clone().requires_grad_()
    g = torch.randn(2, 3, 26, 33, generator=torch.Generator().manual_seed(3))
    gx1, gf1 = torch.autograd.grad(foveate(x1, f1, levels=5, e2=2.0, blend=blend), (x1, f1), g)
    gx2, gf2 = torch.autograd.grad(foveate_reference(x2, f2, levels=5, e2=2.0, blend=blend), (x2, f2), g)
    assert (gx1 - gx2).abs().max().item() <= 1e-5 * gx2.abs().max().item()
    assert (gf1 - gf2).abs().max().item() <= 1e-5 * gf2.abs().max().item()
    assert gf2.abs().min().item() > 0  # every fixation is nearest somewhere and gets a gradient


def test_level_map_gradient_matches_reference():
    x = _images(1, 2, 12, 14)
    lam = torch.rand(1, 12, 14, generator=torch.Generator().manual_seed(5)) * 4.4 - 0.2  # some clamped
    l1, l2 = lam.clone().requires_grad_(), lam.clone().requires_grad_()
    g = torch.randn(1, 2, 12, 14, generator=torch.Generator().manual_seed(6))
    (a,) = torch.autograd.grad(foveate(x, mode="map", level_map=l1, levels=4), (l1,), g)
    (b,) = torch.autograd.grad(foveate_reference(x, None, level_map=l2, levels=4), (l2,), g)
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.all(a[lam < 0] == 0) and torch.all(a[lam > 3] == 0)


def test_gradcheck_float64_image_and_fixations():
    x = _images(1, 2, 9, 11, torch.float64).requires_grad_()
    f = torch.tensor([[[3.3, 4.1], [9.7, 2.2]]], dtype=torch.float64, requires_grad=True)
    for blend in ("linear", "pg"):
        assert torch.autograd.gradcheck(lambda a, b: foveate(a, b, levels=4, e2=1.3, blend=blend), (x, f))


def test_gradcheck_float64_level_map():
    x = _images(1, 1, 7, 8, torch.float64).requires_grad_()
    lam = (torch.rand(1, 7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2.6 + 0.2)
    lam = lam.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, m: foveate(a, mode="map", level_map=m, levels=4, blend="pg"), (x, lam))


def test_fixation_exactly_on_a_pixel_centre_has_finite_gradients():
    x = _images(1, 3, 10, 12).requires_grad_()
    f = torch.tensor([[[4.5, 6.5]]], requires_grad=True)  # centre of pixel (row 6, col 4)
    for backend in ("op", "reference"):
        out = foveate(x, f, levels=4, e2=2.0, backend=backend)
        gx, gf = torch.autograd.grad(out.square().sum(), (x, f))
        assert torch.isfinite(gx).all() and torch.isfinite(gf).all() and torch.isfinite(out).all()
        assert torch.equal(out[0, :, 6, 4], x[0, :, 6, 4])  # level 0 exactly at the fixation


def test_opcheck_registered_op():
    x, f = _images(1, 2, 9, 10, torch.float64), _fixations(1, 2, 9, 10, torch.float64)
    chain = build_chain(x, 3)
    lam = torch.rand(1, 9, 10, dtype=torch.float64) * 2
    samples = [
        (x.requires_grad_(), chain.requires_grad_(), f.requires_grad_(), None, None, 3, 2.0, 1.0, 0.0, False),
        (x.float(), chain.float(), f.float(), torch.tensor([[True, False]]), None, 3, 2.0, 0.5, 1.0, True),
        (x, chain, None, None, lam.requires_grad_(), 3, 2.0, 1.0, 0.0, True),
    ]
    for args in samples:
        torch.library.opcheck(torch.ops.gazekit.foveate_blend.default, args)
    for shape, levels in (((1, 2, 9, 10), 3), ((2, 1, 5, 2), 4)):
        xp = torch.rand(shape, dtype=torch.float64, requires_grad=True)
        torch.library.opcheck(torch.ops.gazekit.pyramid_chain.default, (xp, levels))


def test_torch_compile_fullgraph_no_graph_breaks():
    torch._dynamo.reset()
    fov = Foveate(levels=3, e2=2.0)
    x, f = _images(1, 2, 12, 10).requires_grad_(), _fixations(1, 1, 12, 10).requires_grad_()
    compiled = torch.compile(fov, fullgraph=True, backend="aot_eager")
    out = compiled(x, f)
    assert torch.allclose(out, foveate_reference(x, f, levels=3, e2=2.0), atol=1e-6)
    gx, gf = torch.autograd.grad(out.sum(), (x, f))
    rx, rf = torch.autograd.grad(foveate_reference(x, f, levels=3, e2=2.0).sum(), (x, f))
    assert torch.allclose(gx, rx, atol=1e-5) and torch.allclose(gf, rf, atol=1e-5)


@pytest.mark.slow
def test_torch_compile_inductor_fullgraph():
    torch._dynamo.reset()
    x, f = _images(2, 3, 20, 18), _fixations(2, 2, 20, 18)
    compiled = torch.compile(lambda a, b: foveate(a, b, levels=4, e2=2.0, blend="pg"), fullgraph=True)
    assert torch.allclose(compiled(x, f), foveate_reference(x, f, levels=4, e2=2.0, blend="pg"), atol=1e-6)


def test_fallback_without_cpu_kernel_matches(monkeypatch):
    x = _images(1, 2, 11, 13).requires_grad_()
    f = _fixations(1, 2, 11, 13).requires_grad_()
    fast = foveate(x, f, levels=4, e2=2.0)
    chain = build_chain(x.detach(), 4)
    g_chain = torch.randn_like(chain)
    fast_adjoint = torch.ops.gazekit.pyramid_chain_backward(g_chain, x.detach(), 4)
    g_fast = torch.autograd.grad(fast.sum(), (x, f))
    monkeypatch.setitem(op_module._STATE, "cpu", None)
    # the explicit torch adjoint of the pyramid (used off-CPU) equals the numba one
    assert torch.allclose(torch.ops.gazekit.pyramid_chain_backward(g_chain, x.detach(), 4), fast_adjoint, atol=1e-6)
    slow = foveate(x, f, levels=4, e2=2.0)
    g_slow = torch.autograd.grad(slow.sum(), (x, f))
    assert torch.allclose(fast, slow, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_fast, g_slow))


def test_module_equals_functional():
    x, f = _images(2, 3, 15, 17), _fixations(2, 1, 15, 17)
    module = Foveate(levels=4, e2=2.0, blend="pg")
    assert torch.equal(module(x, f), foveate(x, f, levels=4, e2=2.0, blend="pg"))
    assert "blend='pg'" in repr(module)


def test_layouts_and_batch_edge_cases():
    x, f = _images(2, 3, 14, 18), _fixations(2, 1, 14, 18)
    ref = foveate(x, f, levels=4, e2=2.0)
    cl = x.to(memory_format=torch.channels_last)
    assert torch.allclose(foveate(cl, f, levels=4, e2=2.0), ref, atol=1e-7)
    big = torch.zeros(2, 3, 14, 36)
    big[..., ::2] = x
    strided = big[..., ::2]  # non-contiguous view holding the same values
    assert not strided.is_contiguous()
    assert torch.allclose(foveate(strided, f, levels=4, e2=2.0), ref, atol=1e-7)
    assert torch.allclose(foveate(x, f[:, 0], levels=4, e2=2.0), ref)  # [B, 2] fixations
    assert foveate(x[:0], f[:0]).shape == (0, 3, 14, 18)
    no_fix = foveate(x, f, torch.zeros(2, 1, dtype=torch.bool), levels=4)  # no valid fixation: all periphery
    coarsest = F.interpolate(gaussian_pyramid(x, 4)[3], size=(14, 18), mode="bilinear", align_corners=False)
    assert torch.allclose(no_fix, coarsest, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(images=torch.zeros(1, 3, 8, 8, dtype=torch.int64)), "float16"),
        (dict(images=torch.zeros(3, 8, 8)), r"\[B, C, H, W\]"),
        (dict(fixations=torch.zeros(1, 1, 3)), r"\[B, F, 2\]"),
        (dict(fixations=torch.zeros(2, 1, 2)), "B = 1"),
        (dict(fixations=torch.zeros(1, 1, 2, dtype=torch.int64)), "float"),
        (dict(fixations=torch.full((1, 1, 2), math.nan)), "NaN"),
        (dict(valid=torch.ones(1, 1)), "bool"),
        (dict(levels=1), "levels"),
        (dict(mode="blur"), "mode"),
        (dict(blend="cubic"), "blend"),
        (dict(e2=0.0), "e2"),
        (dict(ppd=-3.0), "ppd"),
        (dict(mode="map"), "level_map"),
        (dict(mode="map", level_map=torch.zeros(1, 7, 8)), "level_map"),
        (dict(mode="map", level_map=torch.full((1, 8, 8), math.nan)), "NaN"),
    ],
)
def test_bad_input_raises_clear_error(kwargs, match):
    args = dict(images=torch.zeros(1, 3, 8, 8), fixations=torch.zeros(1, 1, 2))
    args.update(kwargs)
    images, fixations = args.pop("images"), args.pop("fixations")
    with pytest.raises(InvalidInputError, match=match):
        foveate(images, fixations, **args)


def test_float64_scanpath_fixations_with_float32_images_and_empty_rows():
    # Scanpaths hold float64 px; images are float32. A row without valid fixations gets zero fixation gradients.
    x = _images(2, 3, 12, 16).requires_grad_()
    f = _fixations(2, 2, 12, 16, dtype=torch.float64).requires_grad_()
    valid = torch.tensor([[True, True], [False, False]])
    out = foveate(x, f, valid, levels=4, e2=2.0)
    ref = foveate_reference(x, f.float(), valid, levels=4, e2=2.0)
    assert (out - ref).abs().max().item() <= 1e-6
    gx, gf = torch.autograd.grad(out.sum(), (x, f))
    assert gf.dtype == torch.float64 and torch.isfinite(gf).all() and torch.isfinite(gx).all()
    assert torch.all(gf[1] == 0) and gf[0].abs().min() > 0
