"""The static saliency model: exact normalisation at the image's own resolution, smoothness, the centre-bias prior
against a closed form, the offline detectors on images with known content, training on a synthetic task, the
feature cache and checkpoints."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models.saliency import SaliencyModel
from gazekit.models.saliency_core import SaliencyNet
from gazekit.models.saliency_data import collate_same_size
from gazekit.models.saliency_features import extract, face_maps, grid_shape, low_level_maps

HAS_TEXT = importlib.util.find_spec("rapidocr_onnxruntime") is not None and \
    importlib.util.find_spec("onnxruntime") is not None


def _item(maps: torch.Tensor, size, groups=("low",)) -> dict:
    return {"maps": maps, "groups": list(groups), "size": list(size)}


def test_grid_keeps_the_aspect_ratio():
    assert grid_shape(600, 800, 80) == (60, 80)
    assert grid_shape(768, 512, 60) == (60, 40)  # portrait: the longer side (height) gets the cells
    assert grid_shape(100, 3000, 40) == (4, 40)  # at least 4 cells


@pytest.mark.parametrize("size", [(60, 80), (333, 601), (256, 256)])
def test_log_density_is_exactly_normalised_at_the_image_resolution(size):
    torch.manual_seed(0)
    net = SaliencyNet(groups=("low",), grid=20).eval()
    gh, gw = grid_shape(*size, 20)
    with torch.no_grad():
        ld = net.log_density(_item(torch.randn(27, gh, gw), size)).double()
    assert ld.shape == size
    assert abs(float(torch.logsumexp(ld.flatten(), 0))) < 1e-5


def test_density_has_no_cell_blocks():
    """Bilinear upsampling of blurred logits: neighbouring pixels differ by a small fraction of the map's range
    (with nearest-neighbour cells, a 40 px cell boundary would be a step of the full cell-to-cell difference)."""
    torch.manual_seed(0)
    net = SaliencyNet(groups=("low",), grid=20, blur_init=0.001).eval()
    with torch.no_grad():
        net.cb_weight.zero_()
    with torch.no_grad():
        ld = net.log_density(_item(torch.randn(27, 15, 20) * 3, (600, 800)))
    step = max(float((ld[:, 1:] - ld[:, :-1]).abs().max()), float((ld[1:] - ld[:-1]).abs().max()))
    cells = net.grid_logits(_item(torch.randn(27, 15, 20) * 3, (600, 800)))
    assert float(ld.max() - ld.min()) > 0.5  # the map does vary
    assert step < 0.1 * float(ld.max() - ld.min())
    assert cells.shape[-2:] == (15, 20)


def test_centre_bias_only_matches_the_closed_form():
    """With a zero readout the density is the learned Gaussian (mean, scales, correlation, weight) normalised over
    the pixels; compared with numpy."""
    net = SaliencyNet(groups=("low",), grid=16).eval()
    with torch.no_grad():
        net.readout[-1].weight.zero_()
        net.readout[-1].bias.zero_()
        net.cb_mean.copy_(torch.tensor([0.4, 0.6]))
        net.cb_log_std.copy_(torch.log(torch.tensor([0.25, 0.15])))
        net.cb_rho.fill_(math.atanh(0.3))
        net.cb_weight.fill_(0.8)
    h, w = 30, 40
    with torch.no_grad():
        ld = net.log_density(_item(torch.randn(27, 12, 16), (h, w))).double().numpy()
    v, u = (np.arange(h)[:, None] + 0.5) / h, (np.arange(w)[None] + 0.5) / w
    du, dv = (u - 0.4) / 0.25, (v - 0.6) / 0.15
    logit = 0.8 * -(du ** 2 - 2 * 0.3 * du * dv + dv ** 2) / (2 * (1 - 0.09))
    expected = logit - np.log(np.exp(logit).sum())
    np.testing.assert_allclose(ld, expected, atol=1e-5)


def test_low_level_maps_find_a_colour_singleton():
    """A red square on grey: the colour-contrast maps peak at the square."""
    img = torch.full((3, 120, 160), 0.5)
    img[:, 50:62, 100:112] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    maps = low_level_maps(img, 40)
    assert maps.shape == (27, 30, 40)
    rg_contrast = maps[1]  # red-green centre-surround, centre 1 / surround 4
    y, x = np.unravel_index(int(rg_contrast.argmax()), rg_contrast.shape)
    assert 11 <= y <= 16 and 24 <= x <= 29  # the square covers cells y 12.5-15.5, x 25-28
    assert torch.allclose(maps.flatten(1).mean(1), torch.zeros(27), atol=1e-4)


def test_face_map_blobs_sit_on_the_detections(monkeypatch):
    from gazekit.models import saliency_features

    monkeypatch.setattr(saliency_features, "face_boxes", lambda image: [[(105.0, 45.0, 40.0, 40.0)], []])
    maps = face_maps(torch.zeros(3, 200, 400), 40)  # 10 px cells; box centre (125, 65): the centre of cell (6, 12)
    assert maps.shape == (2, 20, 40)
    assert np.unravel_index(int(maps[0].argmax()), maps[0].shape) == (6, 12)
    assert float(maps[0].max()) == pytest.approx(1.0, abs=1e-6)
    assert float(maps[0, 6, 16]) == pytest.approx(math.exp(-0.5 * (40 / 20) ** 2), abs=1e-5)  # 2 sigma away
    assert float(maps[1].abs().max()) == 0.0


@pytest.mark.skipif(not HAS_TEXT, reason="rapidocr-onnxruntime / onnxruntime not installed")
def test_text_detector_finds_rendered_text():
    import cv2

    canvas = np.full((300, 400, 3), 255, np.uint8)
    cv2.putText(canvas, "GAZEKIT TEXT", (40, 220), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    img = torch.from_numpy(canvas).permute(2, 0, 1).float() / 255
    maps = extract(img, ("text",), 40)["maps"][0]  # 10 px cells, 30 x 40
    inside = maps[19:22, 5:35].mean()
    outside = torch.cat([maps[:12].flatten(), maps[25:].flatten()]).mean()
    assert float(inside) > 0.3 and float(outside) < 0.02


def _synthetic(n: int, seed: int) -> list[dict]:
    """Grey images with one bright square; every fixation lands on the square."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        img = torch.full((3, 60, 80), 0.3)
        x0, y0 = int(torch.randint(4, 64, (1,), generator=g)), int(torch.randint(4, 44, (1,), generator=g))
        img[:, y0:y0 + 10, x0:x0 + 10] = 1.0
        uv = torch.stack([(x0 + 10 * torch.rand(30, generator=g)) / 80, (y0 + 10 * torch.rand(30, generator=g)) / 60], 1)
        feats = {"maps": low_level_maps(img, 20), "groups": ["low"], "size": [60, 80]}
        items.append({"features": feats, "fixations": uv, "dataset": 0, "name": f"{i}.png"})
    return items


def _fit(model, batch: dict, steps: int, lr: float) -> None:
    """Full-batch Adam on the fixation log-likelihood."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = -model.batch_log_likelihood(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_training_learns_where_fixations_are():
    torch.manual_seed(0)
    model = SaliencyModel(groups=("low",), grid=20, hidden=8, dropout=0.0)
    train, val = collate_same_size(_synthetic(16, 0)), collate_same_size(_synthetic(8, 1))
    with torch.no_grad():
        before = float(model.batch_log_likelihood(val).mean()) / math.log(2)
    _fit(model, train, steps=60, lr=1e-2)
    model.eval()
    with torch.no_grad():
        after = float(model.batch_log_likelihood(val).mean()) / math.log(2)
    # a 10 x 10 square on 80 x 60 is 1/48 of the image: perfect knowledge would give log2(48) = 5.6 bits
    assert before < 1.0 and after > 2.5


def test_checkpoint_round_trip_and_registry(tmp_path):
    from gazekit.models import create_model, load_checkpoint

    torch.manual_seed(0)
    model = create_model("saliency", pretrained=False, groups=("low",), grid=20)
    path = tmp_path / "s.pt"
    model.save_checkpoint(path)
    again = load_checkpoint(path)
    assert isinstance(again, SaliencyModel)
    item = _item(torch.randn(27, 15, 20), (60, 80))
    assert torch.equal(model.eval().log_density(item), again.log_density(item))
    data = torch.load(str(path), weights_only=True)  # tensors and plain values only
    assert data["format"] == "gazekit-saliency"


def test_feature_cache_round_trip(tmp_path):
    from gazekit.models.saliency_data import build_cache, load_cached
    from gazekit.paths import SAMPLE_DIR

    images = {"1001.jpg": SAMPLE_DIR / "osie" / "stimuli" / "1001.jpg"}
    assert build_cache("osie-sample", tmp_path, images, groups=("low", "faces")) == 1
    assert build_cache("osie-sample", tmp_path, images, groups=("low", "faces")) == 0  # kept
    item = load_cached(tmp_path, "osie-sample", "1001.jpg")
    assert item["maps"].shape == (29, 60, 80) and item["maps"].dtype == torch.float16
    assert item["groups"] == ["low", "faces"] and item["size"] == [600, 800]


def test_predict_maps_writes_a_normalised_npy_and_a_png(tmp_path):
    from gazekit.cli import main
    from gazekit.paths import SAMPLE_DIR

    torch.manual_seed(0)
    model = SaliencyModel(groups=("low",), grid=20)
    ckpt = tmp_path / "s.pt"
    model.save_checkpoint(ckpt)
    image = SAMPLE_DIR / "osie" / "stimuli" / "1001.jpg"
    assert main(["predict", str(image), "--model", f"saliency:{ckpt}", "--out", str(tmp_path / "out")]) == 0
    ld = np.load(tmp_path / "out" / "1001_saliency.npy")
    assert ld.shape == (600, 800) and ld.dtype == np.float32
    assert abs(float(np.log(np.exp(ld.astype(np.float64)).sum()))) < 1e-4
    png = (tmp_path / "out" / "1001_saliency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "out" / "scanpaths.csv").exists()  # a density-only model writes maps only


@pytest.mark.parametrize("name", ["saliency-osie", "saliency-freeview"])
def test_shipped_saliency_weights_load_fast_and_checked(name):
    """The shipped map models load by name through the fast path (no Lightning import), their files are
    sha256-checked, and the map on a sample photo is normalised and differs from the map on noise."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from gazekit.models.registry import load_predictor\n"
            "from gazekit.images import load_image\n"
            "from gazekit.paths import SAMPLE_DIR\n"
            f"m = load_predictor({name!r})\n"
            "assert 'pytorch_lightning' not in sys.modules and 'lightning' not in sys.modules\n"
            "photo = m.predict_log_density(load_image(SAMPLE_DIR / 'osie' / 'stimuli' / '1001.jpg'))\n"
            "noise = m.predict_log_density(torch.rand(3, 600, 800, generator=torch.Generator().manual_seed(0)))\n"
            "print(float(torch.logsumexp(photo.flatten(), 0)), 0.5 * float((photo.exp() - noise.exp()).abs().sum()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert abs(float(out[0])) < 1e-6
    assert float(out[1]) > 0.2  # total variation between the photo's and the noise image's densities


def test_shipped_saliency_weights_refuse_a_changed_file(tmp_path, monkeypatch):
    from gazekit.errors import InvalidInputError
    from gazekit.models.saliency import OSIE_WEIGHTS
    from gazekit.models.saliency_core import load_fast

    bad = tmp_path / "s.pt"
    bad.write_bytes(OSIE_WEIGHTS.path.read_bytes() + b"x")
    with pytest.raises(InvalidInputError, match="sha256"):
        load_fast(bad, OSIE_WEIGHTS.sha256)


def test_validation_metrics_are_per_fixation_means_over_unequal_batches():
    # Batches with 30 and 90 fixations: the epoch's val/nll must be the mean over all 120 fixations, not the mean
    # of the two batch means (which is what sync_dist logging gave under DDP).
    torch.manual_seed(0)
    model = SaliencyModel(groups=("low",), grid=20, hidden=8, dropout=0.0).eval()
    small, large = collate_same_size(_synthetic(1, 2)), collate_same_size(_synthetic(3, 3))
    model.on_validation_epoch_start()
    lls = []
    with torch.no_grad():
        for batch in (small, large):
            model._step(batch, "val")
            lls.append(model.batch_log_likelihood(batch).double())
    means = model._epoch_means("val").compute()
    every = torch.cat(lls)
    assert len(every) == 120
    assert abs(means["nll"] - float(-every.mean())) < 1e-12
    assert abs(means["ig_uniform_bits"] - float(every.mean()) / math.log(2)) < 1e-6  # divided in float32
    batch_mean_of_means = float(-(lls[0].mean() + lls[1].mean()) / 2)
    assert abs(means["nll"] - batch_mean_of_means) > 1e-6  # the case distinguishes the two reductions


@pytest.mark.parametrize("context,reach", [(0, 1), (2, 1 + 2 + 4)])
def test_context_layers_widen_the_readout_view(context, reach, tmp_path):
    """The readout's receptive field on the grid: 1 cell for the single 3x3 layer, 1 + 2 + 4 cells with two
    dilated layers; and a context model survives a checkpoint round trip."""
    torch.manual_seed(0)
    net = SaliencyNet(groups=("low",), grid=40, hidden=8, dropout=0.0, context=context).eval()
    x = torch.zeros(1, 8, 31, 31)
    with torch.no_grad():
        base = net.readout(x)
        x[0, :, 15, 15] = 5.0
        diff = (net.readout(x) - base)[0, 0].abs() > 0
    rows, cols = torch.nonzero(diff, as_tuple=True)
    assert int((rows - 15).abs().max()) == reach and int((cols - 15).abs().max()) == reach
    path = tmp_path / "ctx.pt"
    net.save_checkpoint(path)
    again = SaliencyNet.from_file(path)
    assert again.cfg.context == context
    item = _item(torch.randn(27, 30, 40), (300, 400))
    with torch.no_grad():
        assert torch.equal(net.log_density(item), again.log_density(item))


def test_mirror_batch_equals_the_features_of_the_mirrored_image():
    """Every low-level map of the mirrored batch matches the map computed on the mirrored image (correlation
    > 0.999), except the raw 45-degree orientation energy (its mirror, 135 degrees, is not a cached channel);
    without the 45/135 swap the orientation-contrast channels would not match. Fixations mirror, and mirroring
    twice is the identity."""
    from gazekit.models.saliency_data import mirror_batch

    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(120.0), torch.arange(160.0), indexing="ij")
    img = torch.rand(3, 120, 160) * 0.5
    img[0] += 0.5 * torch.sin((xx + yy) / 3) * (xx < 80)  # 45-degree stripes on the left
    img[1] += 0.5 * torch.sin((xx - yy) / 4) * (yy > 60)  # 135-degree stripes at the bottom
    img = img.clamp(0, 1)
    a, b = low_level_maps(img, 40), low_level_maps(img.flip(-1), 40)
    batch = {"features": {"maps": a[None], "groups": ["low"], "size": [120, 160], "deep384": [a[None, :3]]},
             "fixations": [torch.tensor([[0.25, 0.5], [0.9, 0.1]])]}
    m = mirror_batch(batch)
    maps = m["features"]["maps"][0]
    corr = [float(torch.corrcoef(torch.stack([maps[c].flatten(), b[c].flatten()]))[0, 1]) for c in range(27)]
    assert [c for c in range(27) if corr[c] < 0.999] == [13]
    assert float(torch.corrcoef(torch.stack([a[15].flip(-1).flatten(), b[15].flatten()]))[0, 1]) < 0.5
    assert torch.allclose(m["fixations"][0], torch.tensor([[0.75, 0.5], [0.1, 0.1]]))
    assert torch.equal(m["features"]["deep384"][0], a[None, :3].flip(-1))
    twice = mirror_batch(m)
    assert torch.equal(twice["features"]["maps"], batch["features"]["maps"])
    assert torch.allclose(twice["fixations"][0], batch["fixations"][0])


def test_items_with_different_cached_groups_never_share_a_batch():
    """A cache built with and without the face maps: same image size, different channel counts; the sampler keeps
    them apart so that every batch stacks."""
    from gazekit.models.saliency_data import SameSizeBatches, size_key

    def item(groups, n):
        return {"size": [60, 80], "features": {"maps": torch.zeros(n, 6, 8), "groups": groups, "size": [60, 80]}}

    items = [item(["low", "faces", "text"], 30)] * 3 + [item(["low", "text"], 28)] * 3
    batches = list(SameSizeBatches([size_key(it) for it in items], 8, shuffle=True))
    assert sorted(sorted(b) for b in batches) == [[0, 1, 2], [3, 4, 5]]
    for b in batches:
        collate_same_size([dict(items[i], fixations=torch.zeros(1, 2), dataset=0, name=str(i)) for i in b])


def test_training_step_mirrors_with_the_given_probability():
    from gazekit.models.saliency_data import mirror_batch

    torch.manual_seed(0)
    batch = collate_same_size(_synthetic(4, 0))
    always = SaliencyModel(groups=("low",), grid=20, hidden=8, dropout=0.0, mirror=1.0)
    never = SaliencyModel(groups=("low",), grid=20, hidden=8, dropout=0.0, mirror=0.0)
    never.load_state_dict(always.state_dict())
    with torch.no_grad():
        got = float(always.training_step(batch, 0))
        assert got == pytest.approx(float(never.training_step(mirror_batch(batch), 0)), abs=1e-6)
        assert abs(got - float(never.training_step(batch, 0))) > 1e-4
    with pytest.raises(InvalidInputError, match="mirror"):
        SaliencyModel(groups=("low",), mirror=1.5)


def test_per_dataset_priors_learn_each_data_sets_centre_bias():
    """Two data sets with the same (uninformative) images, fixations on the left third in 'a' and the right third
    in 'b': with a prior per data set, each learns its own side; scoring picks the prior by data-set name."""
    torch.manual_seed(0)
    model = SaliencyModel(groups=("low",), grid=20, hidden=8, dropout=0.0, priors=("a", "b"))
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(8):
        side = "a" if i % 2 == 0 else "b"
        u = torch.rand(40, generator=g) / 3 + (0.0 if side == "a" else 2 / 3)
        items.append({"features": {"maps": torch.zeros(27, 15, 20), "groups": ["low"], "size": [60, 80]},
                      "fixations": torch.stack([u, torch.rand(40, generator=g)], 1), "dataset": i % 2,
                      "dataset_name": side, "name": f"{i}.png"})
    _fit(model, collate_same_size(items), steps=80, lr=3e-2)
    assert model.cb_mean.shape == (2, 2)
    assert float(model.cb_mean[0, 0]) < 0.35 and float(model.cb_mean[1, 0]) > 0.65
    model.eval()
    with torch.no_grad():
        feats = {"maps": torch.zeros(27, 15, 20), "groups": ["low"], "size": [60, 80]}
        left, right = model.log_density(feats, prior="a"), model.log_density(feats, prior="b")
        assert float(left[:, :20].exp().sum()) > 0.7 and float(right[:, 60:].exp().sum()) > 0.7
        assert float(left[:, :20].exp().sum()) > 4 * float(right[:, :20].exp().sum())
        assert torch.equal(model.log_density(feats), left)  # default: the first data set's prior
    with pytest.raises(InvalidInputError, match="no centre-bias prior for data set 'c'"):
        model.log_density(feats, prior="c")
    one = SaliencyNet(groups=("low",), grid=20)
    assert one.cb_mean.shape == (2,) and one.cb_weight.shape == ()  # a single prior keeps the shipped shapes


def test_export_writes_the_shipping_file_of_any_family(tmp_path, capsys):
    """`python -m gazekit.models.export CKPT OUT` reads the checkpoint's family from the file; exporting a shipped
    file gives it back byte for byte, with its sha256 printed."""
    import subprocess
    import sys

    from gazekit.models.export import export
    from gazekit.models.saliency import FREEVIEW_WEIGHTS

    out = tmp_path / "again.pt"
    assert export(FREEVIEW_WEIGHTS.path, out) == FREEVIEW_WEIGHTS.sha256
    assert out.read_bytes() == FREEVIEW_WEIGHTS.path.read_bytes()
    assert FREEVIEW_WEIGHTS.sha256 in capsys.readouterr().out
    cli = subprocess.run([sys.executable, "-m", "gazekit.models.export", str(FREEVIEW_WEIGHTS.path),
                          str(tmp_path / "cli.pt")], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "cli.pt").read_bytes() == out.read_bytes()
    bad = subprocess.run([sys.executable, "-m", "gazekit.models.export"], capture_output=True, text=True)
    assert bad.returncode == 1 and "usage" in bad.stderr
