"""Decoding options of the TPP model (gazekit.models.tpp_decoding): image-term scale, saliency product, explicit
returns. Defaults leave the samples unchanged; each option's density is checked against a direct computation and
its samples against what the option promises."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gazekit.errors import InvalidInputError
from gazekit.images import load_image
from gazekit.models import create_model, load_predictor
from gazekit.models import tpp_decoding
from gazekit.models.base import PredictRequest
from gazekit.models.tpp_decoding import make_decoding, return_log_density
from gazekit.paths import SAMPLE_DIR
from gazekit.scanpaths import Scanpaths

W, H = 200, 150


@pytest.fixture(scope="module")
def tpp():
    return load_predictor("tpp-osie")


@pytest.fixture(scope="module")
def photo():
    img = load_image(SAMPLE_DIR / "osie" / "stimuli" / "1001.jpg")
    return F.interpolate(img[None], size=(H, W), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


class BoxMap:
    """A static density that is uniform on a box and zero elsewhere (log: -inf)."""

    def __init__(self, box):
        self.box = box

    def predict_log_density(self, image):
        h, w = image.shape[-2:]
        x0, y0, x1, y1 = self.box
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        return torch.where(inside, -math.log(int(inside.sum())), -math.inf).double()


@pytest.fixture
def box_map(monkeypatch):
    monkeypatch.setitem(tpp_decoding._SALIENCY, "test-box", BoxMap((120, 30, 170, 90)))
    return "test-box"


def _sample(model, image, n=8, seed=3, **kw):
    with torch.no_grad():
        return model.predict_scanpaths(PredictRequest(image[None], ["img"], n_samples=n, seed=seed, **kw))


def _equal(a: Scanpaths, b: Scanpaths) -> bool:
    return all(torch.equal(getattr(a, f).nan_to_num(-1), getattr(b, f).nan_to_num(-1))
               for f in ("x", "y", "t_start", "duration")) and torch.equal(a.lengths, b.lengths)


def _history() -> Scanpaths:
    return Scanpaths.from_sequences([[30.0, 150.0, 60.0, 140.0], [100.0, 20.0]], [[20.0, 100.0, 70.0, 40.0],
                                                                                  [75.0, 130.0]],
                                    None, [[200.0, 250.0, 300.0, 220.0], [180.0, 260.0]], image=["img", "img"],
                                    image_size=[W, H])


def test_neutral_options_leave_the_samples_bit_for_bit(tpp, photo):
    base = _sample(tpp, photo)
    same = _sample(tpp, photo, image_scale=1.0, saliency_beta=0.0, return_rate=[0.0, 0.0])
    assert _equal(base, same)
    assert not _equal(base, _sample(tpp, photo, image_scale=2.0))  # and the options do change them


def test_options_are_seeded_and_deterministic(tpp, photo, box_map):
    kw = {"image_scale": 1.7, "saliency_beta": 0.5, "saliency_model": box_map, "return_rate": [0.2, 0.4]}
    a, b = _sample(tpp, photo, seed=5, **kw), _sample(tpp, photo, seed=5, **kw)
    assert _equal(a, b)
    assert not _equal(a, _sample(tpp, photo, seed=6, **kw))


def test_image_scale_zero_removes_the_image_from_the_first_fixation(tpp, photo):
    noise = torch.rand(3, H, W, generator=torch.Generator().manual_seed(0))
    hist = _history()[:1]

    def first_map(image, scale):
        return tpp.conditional_log_density(image[None], hist, image_scale=scale)[0, 0].exp()

    tv = 0.5 * float((first_map(photo, 1.0) - first_map(noise, 1.0)).abs().sum())
    assert tv > 0.1  # as trained, the first fixation depends on the image
    torch.testing.assert_close(first_map(photo, 0.0), first_map(noise, 0.0), rtol=0, atol=1e-6)
    a, b = _sample(tpp, photo, n=20, image_scale=0.0), _sample(tpp, noise, n=20, image_scale=0.0)
    assert torch.equal(a.x[:, 0], b.x[:, 0]) and torch.equal(a.y[:, 0], b.y[:, 0])


def test_image_scale_multiplies_the_image_term_of_the_logits(tpp, photo):
    """log p_alpha - log p_1 at the first fixation is (alpha - 1) * image term + a constant: check it with the
    image term read from alpha = 0 and alpha = 1."""
    hist = _history()[:1]
    maps = {a: tpp.conditional_log_density(photo[None], hist, image_scale=a)[0, 0].double() for a in (0.0, 1.0, 2.5)}
    term = maps[1.0] - maps[0.0]
    predicted = maps[1.0] + 1.5 * term
    predicted = predicted - torch.logsumexp(predicted.flatten(), 0)
    torch.testing.assert_close(maps[2.5], predicted, rtol=0, atol=1e-4)


def test_saliency_product_density_matches_the_pixel_product(tpp, photo, monkeypatch):
    g = torch.Generator().manual_seed(1)
    sal = torch.randn(H, W, generator=g, dtype=torch.float64)
    sal = sal - torch.logsumexp(sal.flatten(), 0)

    class Fixed:
        def predict_log_density(self, image):
            return sal

    monkeypatch.setitem(tpp_decoding._SALIENCY, "test-fixed", Fixed())
    hist = _history()
    batch = photo[None].expand(len(hist), -1, -1, -1)
    base = tpp.conditional_log_density(batch, hist).double()
    got = tpp.conditional_log_density(batch, hist, saliency_beta=0.7, saliency_model="test-fixed").double()
    dec = make_decoding(saliency_beta=0.7, saliency_model="test-fixed")
    bonus = tpp_decoding.saliency_bonus(tpp, photo[None], dec)[0]
    expected = base + bonus
    expected = expected - torch.logsumexp(expected.flatten(2), -1)[..., None, None]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_saliency_product_samples_stay_where_the_map_is_nonzero(tpp, photo, box_map):
    sp = _sample(tpp, photo, n=30, saliency_beta=1.0, saliency_model=box_map)
    x, y = sp.x[sp.mask], sp.y[sp.mask]
    assert len(x) > 60
    assert bool(((x >= 120) & (x < 170) & (y >= 30) & (y < 90)).all())
    greedy = _sample(tpp, photo, n=2, saliency_beta=1.0, saliency_model=box_map, temperature=0)
    assert bool(((greedy.x[greedy.mask] >= 120) & (greedy.x[greedy.mask] < 170)).all())


def test_cell_pixels_cover_uneven_cells():
    """On a 90 x 70 image the cells hold different numbers of pixels; every pixel must be reachable from its own
    cell and from no other."""
    torch.manual_seed(0)
    model = create_model("tpp-tiny").eval()
    img = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(4))
    feats, _ = model.encode_images(img)
    g = model.grids(feats, 90.0, 70.0)
    cells = tpp_decoding.pixel_cells(70, 90, g, "cpu")
    pix = tpp_decoding.CellPixels(70, 90, g, "cpu")
    bonus = torch.zeros(1, 70, 90, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    n_cells = g["gh"] * g["gw"]
    fy, fx = torch.arange(n_cells) // g["gw"], torch.arange(n_cells) % g["gw"]
    seen = torch.zeros(70 * 90, dtype=torch.bool)
    for _ in range(400):  # cells hold at most 20 pixels: each is drawn about 20 times
        x, y = pix.draw(bonus, torch.zeros(n_cells, dtype=torch.long), fy, fx, gen, 1.0)
        flat = y.floor().long() * 90 + x.floor().long()
        assert torch.equal(cells[flat], torch.arange(n_cells))
        seen[flat] = True
    assert bool(seen.all())


def test_returns_with_rate_one_land_near_an_earlier_fixation(tpp, photo):
    sigma_deg, ppd = 0.5, 10.0
    sp = _sample(tpp, photo, n=20, return_rate=1.0, return_sigma_deg=sigma_deg, pixels_per_degree=ppd)
    x, y, n = sp.x, sp.y, sp.lengths
    checked = 0
    for b in range(len(sp)):
        for k in range(2, int(n[b])):
            d = torch.hypot(x[b, : k - 1] - x[b, k], y[b, : k - 1] - y[b, k]).min()
            assert float(d) <= 3 * math.sqrt(2) * sigma_deg * ppd + 1e-6  # 3 sigma of the 2-D offset
            checked += 1
    assert checked > 40


def test_return_mixture_density(tpp, photo):
    hist = _history()
    batch = photo[None].expand(len(hist), -1, -1, -1)
    base = tpp.conditional_log_density(batch, hist).double()
    dec = make_decoding(return_rate=[0.0, 0.3], pixels_per_degree=12.0)
    got = tpp.conditional_log_density(batch, hist, return_rate=[0.0, 0.3], pixels_per_degree=12.0).double()
    torch.testing.assert_close(got[:, :3], base[:, :3], rtol=0, atol=1e-6)  # r_2 = 0; k < 2 never returns
    ret = return_log_density(dec, hist.x[0], hist.y[0], hist.mask[0], H, W)
    assert abs(float(torch.logsumexp(ret[3].flatten(), 0))) < 1e-9  # a normalised component
    expected = torch.logaddexp(base[0, 3] + math.log(0.7), ret[3] + math.log(0.3))
    torch.testing.assert_close(got[0, 3], expected, rtol=0, atol=1e-5)
    # the component is centred on fixations 0 and 1 (not on the last one, 2)
    peak = ret[3].argmax()
    py, px = int(peak) // W, int(peak) % W
    assert min(abs(px - 30) + abs(py - 20), abs(px - 150) + abs(py - 100)) <= 2


def test_bad_options_are_refused_with_their_name(tpp, photo):
    for kw, word in (({"image_scale": -1.0}, "image_scale"), ({"saliency_beta": math.nan}, "saliency_beta"),
                     ({"return_rate": [0.2, 1.5]}, "return_rate"), ({"return_sigma_deg": 0.0}, "return_sigma_deg"),
                     ({"pixels_per_degree": -3.0}, "pixels_per_degree")):
        with pytest.raises(InvalidInputError, match=word):
            _sample(tpp, photo, **kw)
    with pytest.raises(InvalidInputError, match="temperature"):
        _sample(tpp, photo, return_rate=0.2, temperature=0)
    with pytest.raises(InvalidInputError, match="static density"):
        _sample(tpp, photo, saliency_beta=0.5, saliency_model="tpp-osie")
