"""Search models (ecc-search, foveated-clip-search, baselines) on synthetic scenes: inhibition of return, the stop
rule, batched == one-at-a-time, (x, y) pixel output, and a unique target found within a few fixations."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gazekit.errors import InvalidInputError
from gazekit.models import create_model
from gazekit.models._search_common import LogNormalDurations, in_box, map_to_xy, xy_to_map
from gazekit.models.base import PredictRequest
from gazekit.models.search_baselines import spectral_residual_saliency

SIZE = 32  # object side, px


def stripes_scene(seed: int, height: int = 256, width: int = 384, n_distractors: int = 10):
    """Grey scene with 10 vertically striped squares and one horizontally striped target; returns the image, the
    target template (crop) and its box (x0, y0, x1, y1) px."""
    g = torch.Generator().manual_seed(seed)
    img = torch.full((3, height, width), 0.5)
    corners: list[tuple[int, int]] = []
    while len(corners) < n_distractors + 1:
        x = int(torch.randint(8, width - SIZE - 8, (1,), generator=g))
        y = int(torch.randint(8, height - SIZE - 8, (1,), generator=g))
        far_from_start = x > 48 or y > 48
        if far_from_start and all(abs(x - cx) > SIZE + 16 or abs(y - cy) > SIZE + 16 for cx, cy in corners):
            corners.append((x, y))
    stripes = (torch.arange(SIZE) // 4) % 2 == 0
    for i, (x, y) in enumerate(corners):
        patch = torch.full((SIZE, SIZE), 0.5)
        if i == 0:
            patch[stripes, :] = 0.0
        else:
            patch[:, stripes] = 0.0
        img[:, y: y + SIZE, x: x + SIZE] = patch
    tx, ty = corners[0]
    box = torch.tensor([tx, ty, tx + SIZE, ty + SIZE], dtype=torch.float64)
    return img, img[:, ty: ty + SIZE, tx: tx + SIZE].clone(), box


def scene_request(seeds, **kwargs) -> PredictRequest:
    imgs, tpls, boxes = zip(*[stripes_scene(s) for s in seeds])
    n = len(seeds)
    defaults = dict(images=torch.stack(imgs), image_names=[f"scene{s}" for s in seeds], templates=list(tpls),
                    target_box=torch.stack(boxes), seed=0, max_fixations=8,
                    extra={"start_xy": torch.tensor([[5.0, 5.0]] * n)})
    defaults.update(kwargs)
    return PredictRequest(**defaults)


@pytest.fixture(scope="module")
def ecc():
    return create_model("ecc-search")


@pytest.fixture(scope="module")
def scenes():
    return scene_request(range(8))


# ------------------------------------------------------------------------------------------- shared helpers
def test_coordinate_helpers_are_x_then_y():
    # a 4 x 8 map over a 40 x 160 image (H x W): cell (row 1, col 6) has its centre at x = 130, y = 15
    xy = map_to_xy(torch.tensor([1 * 8 + 6]), (40, 160), (4, 8))
    assert xy.tolist() == [[130.0, 15.0]]
    assert xy_to_map(xy, (40, 160), (4, 8)).tolist() == [[6.5, 1.5]]
    box = torch.tensor([[100.0, 10.0, 140.0, 20.0]])
    assert in_box(xy, box).tolist() == [True]
    assert in_box(xy.flip(-1), box).tolist() == [False]  # (y, x) order would miss it
    assert in_box(torch.tensor([[100.0, 15.0]]), box).tolist() == [False]  # the border is outside (metric rule)


def test_lognormal_fit_recovers_parameters():
    g = torch.Generator().manual_seed(0)
    d = torch.exp(5.4 + 0.5 * torch.randn(20000, generator=g, dtype=torch.float64))
    mu, sigma = LogNormalDurations.mle(torch.cat([d, torch.tensor([math.nan, 0.0, -3.0])]))
    assert abs(mu - 5.4) < 0.02 and abs(sigma - 0.5) < 0.02
    assert mu == pytest.approx(float(d.log().mean()))
    with pytest.raises(InvalidInputError):
        LogNormalDurations.mle(torch.tensor([100.0]))


def test_spectral_residual_peaks_at_the_odd_one_out():
    # a faint random texture (a flat background has exact spectral zeros, where log-amplitudes are undefined)
    noise = torch.rand(1, 1, 96, 128, generator=torch.Generator().manual_seed(0))
    img = (0.5 + 0.05 * noise).expand(1, 3, 96, 128).clone()
    img[:, :, 60:68, 20:28] = 1.0
    sal = spectral_residual_saliency(img, width=64)[0]  # 48 x 64 map, 2 px per cell
    row, col = divmod(int(sal.argmax()), sal.shape[1])
    assert abs(col * 2 + 1 - 24) <= 6 and abs(row * 2 + 1 - 64) <= 6


# ------------------------------------------------------------------------------------------- ecc-search
def test_ecc_search_finds_unique_target_within_four_fixations(ecc, scenes):
    sp = ecc.predict_scanpaths(scenes)
    assert sp.scanpath_attrs["found"] == ["1"] * 8  # all found within 7 saccades
    assert int((sp.lengths <= 4).sum()) >= 7  # start + at most 3 saccades in 7 of 8 scenes
    assert float(sp.lengths.double().mean()) <= 3.0
    random = create_model("search-random").predict_scanpaths(scenes)
    assert sum(f == "1" for f in random.scanpath_attrs["found"]) <= 2


def test_stop_rule_ends_on_target_and_only_there(ecc, scenes):
    for model in (ecc, create_model("search-saliency"), create_model("search-centre-out")):
        sp = model.predict_scanpaths(scenes)
        for i in range(len(sp)):
            n = int(sp.lengths[i])
            inside = in_box(sp.xy()[i, :n], sp.target_box[i].expand(n, 4))
            if sp.scanpath_attrs["found"][i] == "1":
                assert bool(inside[-1]) and not bool(inside[:-1].any())
            else:
                assert n == 8 and not bool(inside.any())


def test_inhibition_of_return_prevents_refixation(ecc):
    # no target box: the search never stops, so every step must leave the inhibited discs
    req = scene_request([3], target_box=None, templates=[stripes_scene(3)[1]], max_fixations=12)
    for model in (ecc, create_model("search-random"), create_model("search-centre-out"),
                  create_model("search-saliency")):
        sp = model.predict_scanpaths(req)
        assert int(sp.lengths[0]) == 12
        xy = sp.xy()[0]
        d = torch.cdist(xy, xy) + torch.eye(12) * 1e9
        assert float(d.min()) > model.ior_radius_px


def test_ecc_batched_equals_one_at_a_time(ecc):
    starts = torch.tensor([[[5.0, 5.0], [300.0, 200.0]], [[200.0, 30.0], [5.0, 250.0]], [[190.0, 128.0]] * 2])
    batched = ecc.predict_scanpaths(scene_request([0, 1, 2], n_samples=2, extra={"start_xy": starts}))
    for i, seed in enumerate([0, 1, 2]):
        single = ecc.predict_scanpaths(scene_request([seed], n_samples=2, extra={"start_xy": starts[i: i + 1]}))
        for k in range(2):
            row = i * 2 + k
            n = int(single.lengths[k])
            assert int(batched.lengths[row]) == n
            assert torch.equal(batched.xy()[row, :n], single.xy()[k, :n])
            assert torch.equal(batched.duration[row, :n], single.duration[k, :n])


def test_random_baseline_batched_equals_one_at_a_time():
    model = create_model("search-random")
    batched = model.predict_scanpaths(scene_request([0, 1], n_samples=3))
    single = model.predict_scanpaths(scene_request([1], n_samples=3))
    assert torch.equal(batched[3:].x, single.x) and torch.equal(batched[3:].y, single.y)
    assert not torch.equal(batched[3].x, batched[4].x)  # samples differ


def test_xy_pixel_output_on_a_wide_image(ecc):
    # a target far right and near the top of a 384 x 128 image: a (row, col) mix-up would put it off the image
    img = torch.full((3, 128, 384), 0.5)
    stripes = (torch.arange(SIZE) // 4) % 2 == 0
    patch = torch.full((SIZE, SIZE), 0.5)
    patch[stripes, :] = 0.0
    img[:, 10: 10 + SIZE, 330: 330 + SIZE] = patch
    req = PredictRequest(images=img[None], image_names=["wide"], templates=[img[:, 10:42, 330:362]],
                         target_box=torch.tensor([[330.0, 10.0, 362.0, 42.0]]), seed=0)
    sp = ecc.predict_scanpaths(req)
    assert sp.x[0, 0] == 192.0 and sp.y[0, 0] == 64.0  # default start: the centre, (x, y)
    assert sp.scanpath_attrs["found"] == ["1"]
    n = int(sp.lengths[0])
    assert 330 < float(sp.x[0, n - 1]) < 362 and 10 < float(sp.y[0, n - 1]) < 42
    assert sp.image_size[0].tolist() == [384.0, 128.0]
    assert sp.has_durations and bool((sp.duration[sp.mask] > 0).all())


def test_ecc_search_box_target_and_timm_backbone():
    timm_model = create_model("ecc-search", backbone="resnet18", out_indices=(2, 3))
    assert timm_model.reductions == [8, 16]
    req = scene_request([0], templates=None, max_fixations=3)  # target given by its box only
    sp = timm_model.predict_scanpaths(req)
    assert timm_model.pool_slopes == [0.16, 0.32]
    assert 1 <= int(sp.lengths[0]) <= 3 and timm_model.task_kind == "search"


def test_calibrated_preset_pools_the_periphery_harder(ecc, scenes):
    calibrated = create_model("ecc-search-calibrated")
    assert calibrated.pool_slopes == [0.56, 1.28, 2.56]
    assert create_model("ecc-search-calibrated", pool_slope=0.1).pool_slopes == [0.1] * 3
    sp = calibrated.predict_scanpaths(scenes)
    found = sum(f == "1" for f in sp.scanpath_attrs["found"])
    assert 4 <= found <= 8  # still guided (random finds <= 2 of these), but a blurrier periphery searches slower
    assert float(sp.lengths.double().mean()) > float(ecc.predict_scanpaths(scenes).lengths.double().mean())


def test_bad_inputs_raise_clear_errors(ecc):
    req = scene_request([0])
    with pytest.raises(InvalidInputError, match="needs a target"):
        ecc.predict_scanpaths(scene_request([0], templates=None, target_box=None))
    with pytest.raises(InvalidInputError, match="start_xy"):
        ecc.predict_scanpaths(scene_request([0], extra={"start_xy": torch.zeros(3)}))
    with pytest.raises(InvalidInputError, match="images"):
        ecc.predict_scanpaths(PredictRequest(images=req.images[0], image_names=["x"]))
    with pytest.raises(InvalidInputError):
        create_model("ecc-search", pool_slope=(0.1, 0.2))
    with pytest.raises(InvalidInputError):
        create_model("search-random", pretrained="x")


# ------------------------------------------------------------------------------------------- foveated CLIP
class ReferenceScorer(nn.Module):
    """A differentiable stand-in for CLIP whose optimum is known: loss = 1 - cos(foveated image, the same image
    foveated at a known fixation p*), so the best next fixation is p*."""

    input_size = (48, 64)

    def __init__(self, references: dict[str, torch.Tensor]):
        super().__init__()
        self.references = references

    def encode_targets(self, texts):
        return torch.stack([self.references[t] for t in texts])

    def forward(self, images, targets):
        return 1 - F.cosine_similarity(images.flatten(1), targets, dim=1)


def reference_setup(pstars_work):
    from gazekit.ops import foveate
    from gazekit.ops.reference import gaussian_blur

    g = torch.Generator().manual_seed(0)
    images = F.avg_pool2d(torch.rand(len(pstars_work), 3, 96, 128, generator=g), 3, 1, 1)
    work = F.interpolate(images, size=(48, 64), mode="bilinear", align_corners=False, antialias=True)
    blurred = gaussian_blur(work, 41, 10.0)
    refs = {}
    start_work = torch.tensor([[32.0, 24.0]])  # the default start (image centre) at work resolution
    for i, p in enumerate(pstars_work):
        fix = torch.cat([start_work, torch.tensor([p])])[None]
        refs[str(i)] = foveate(work[i: i + 1], fix, mode="neva", blurred=blurred[i: i + 1]).flatten()
    return images, ReferenceScorer(refs)


def test_foveated_search_converges_to_the_known_optimum_in_xy_pixels():
    pstars = [(40.5, 12.5), (10.5, 30.5)]  # (x, y) at the 64 x 48 work resolution = (81, 25), (21, 61) in input px
    images, scorer = reference_setup(pstars)
    model = create_model("foveated-clip-search", scorer=scorer, restarts=4, steps=30, lr_decay=0.9, max_fixations=2)
    sp = model.predict_scanpaths(PredictRequest(images=images, image_names=["a", "b"], target_text=["0", "1"],
                                                seed=0))
    expected = torch.tensor(pstars, dtype=torch.float64) * 2  # work px -> input px (x2 on both axes)
    got = torch.stack([sp.x[:, 1], sp.y[:, 1]], dim=-1)
    assert torch.allclose(got, expected, atol=3.0), got  # x first: a (row, col) swap would be ~40 px off


def test_foveated_search_stops_on_target_and_ior_moves_on():
    images, scorer = reference_setup([(40.5, 12.5)])
    model = create_model("foveated-clip-search", scorer=scorer, restarts=4, steps=30, lr_decay=0.9, max_fixations=4)
    req = PredictRequest(images=images, image_names=["a"], target_text=["0"], seed=0)
    free = model.predict_scanpaths(req)
    assert int(free.lengths[0]) == 4
    first = free.xy()[0, 1]
    assert torch.allclose(first, torch.tensor([81.0, 25.0], dtype=torch.float64), atol=3.0)
    # the memory holds the fixation just made, so the search does not stay there
    assert float((free.xy()[0, 2] - first).norm()) > 20.0
    req.target_box = torch.tensor([[70.0, 15.0, 95.0, 35.0]])
    stopped = model.predict_scanpaths(req)
    assert int(stopped.lengths[0]) == 2 and stopped.scanpath_attrs["found"] == ["1"]
    with torch.inference_mode():  # how Lightning runs validate/test: the search must still get its gradients
        req_inf = PredictRequest(images=images.clone(), image_names=["a"], target_text=["0"], seed=0,
                                 target_box=torch.tensor([[70.0, 15.0, 95.0, 35.0]]))
        assert torch.allclose(model.predict_scanpaths(req_inf).xy(), stopped.xy())


def test_foveated_search_batched_equals_one_at_a_time():
    images, scorer = reference_setup([(40.5, 12.5), (10.5, 30.5)])
    model = create_model("foveated-clip-search", scorer=scorer, restarts=3, steps=6, max_fixations=3)
    texts = ["0", "1"]
    batched = model.predict_scanpaths(PredictRequest(images=images, image_names=["a", "b"], target_text=texts,
                                                     n_samples=2, seed=5))
    for i in range(2):
        single = model.predict_scanpaths(PredictRequest(images=images[i: i + 1], image_names=["ab"[i]],
                                                        target_text=[texts[i]], n_samples=2, seed=5))
        assert torch.allclose(batched.xy()[2 * i: 2 * i + 2], single.xy(), atol=1e-4)


@pytest.fixture(scope="module")
def tiny_clip_name(tmp_path_factory):
    import open_clip

    name = "gazekit-test-tiny-clip"
    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path_factory.mktemp("clipcfg") / f"{name}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return name


def test_tiny_open_clip_mechanics_and_local_checkpoint(tiny_clip_name, tmp_path):
    model = create_model("foveated-clip-search", model_name=tiny_clip_name, steps=3, restarts=2, max_fixations=4)
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    req = PredictRequest(images=images, image_names=["a", "b"], n_samples=2, target_text=["cup", "a bowl"], seed=0)
    sp = model.predict_scanpaths(req)
    assert sp.lengths.tolist() == [4] * 4
    valid = sp.xy()[sp.mask]
    assert bool(((valid[:, 0] >= 0) & (valid[:, 0] <= 96) & (valid[:, 1] >= 0) & (valid[:, 1] <= 64)).all())
    assert not torch.allclose(sp.xy()[:, 1], sp.xy()[:, 0])  # the gradient moved the fixation off the start
    ckpt = tmp_path / "tiny.pt"
    torch.save(model.scorer.model.state_dict(), ckpt)
    again = create_model("foveated-clip-search", backbone_pretrained=str(ckpt), model_name=tiny_clip_name, steps=3,
                         restarts=2, max_fixations=4)
    assert torch.allclose(again.predict_scanpaths(req).xy(), sp.xy())
    with pytest.raises(InvalidInputError, match="target_text"):
        model.predict_scanpaths(PredictRequest(images=images, image_names=["a", "b"]))
    with pytest.raises(InvalidInputError, match="unknown open_clip model"):
        create_model("foveated-clip-search", model_name="no-such-clip")
