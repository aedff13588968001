"""``gazekit predict`` on real folders (issue 15): directories, non-image files, EXIF orientation, transparency,
large images at a bounded size, extreme aspect ratios, density colour bars, --device."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gazekit.cli import main
from gazekit.images import load_image, read_image
from gazekit.paths import SAMPLE_DIR
from gazekit.plotting.overlay import marker_radius
from gazekit.scanpaths import Scanpaths, read_table

OSIE = SAMPLE_DIR / "osie" / "stimuli"


def _table(out):
    return Scanpaths.from_table(read_table(out / "scanpaths.csv"))


def test_a_folder_is_searched_recursively_and_non_images_are_skipped_and_listed(tmp_path, capsys):
    """Why: a directory was reported as 'does not exist' and one non-image file aborted the whole batch."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(OSIE / "1001.jpg", folder / "1001.jpg")
    shutil.copy(OSIE / "1002.jpg", folder / "sub" / "1002.jpg")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub" / "data.csv").write_text("a,b\n")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", "centre-bias", "--n-samples", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "skipped 2 file(s) that are not images" in captured.err and "notes.txt" in captured.err
    assert "data.csv" in captured.err and "(skipped: 2 non-image, 0 unreadable)" in captured.out
    sp = _table(out)
    assert sorted(set(sp.image)) == ["1001.jpg", "sub/1002.jpg"]
    assert (out / "1001_scanpaths.png").is_file() and (out / "sub__1002_scanpaths.png").is_file()
    assert main(["predict", str(tmp_path / "nothing-here"), "--model", "centre-bias", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unreadable_image_follows_the_policy(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(OSIE / "1001.jpg", folder / "a.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG but not really")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", "centre-bias", "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "not a readable image" in err and "--on-invalid drop" in err
    assert main(["predict", str(folder), "--model", "centre-bias", "--out", str(out), "--no-plots", "--on-invalid",
                 "drop"]) == 0
    assert "skipped 1 unreadable image file(s)" in capsys.readouterr().err
    assert _table(out).image == ["a.jpg"] * 10


def test_exif_orientation_is_applied(tmp_path):
    """Why: EXIF orientation was ignored (a phone photo stored sideways was predicted sideways)."""
    stored = np.asarray(Image.open(OSIE / "1001.jpg"))  # 800x600 as stored
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: 600 wide, 800 high
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown, size = read_image(tmp_path / "phone.jpg")
    assert size == (600, 800) and tuple(shown.shape) == (3, 800, 600)
    upright = torch.from_numpy(np.rot90(stored, k=-1).copy()).permute(2, 0, 1).float() / 255
    assert (shown - upright).abs().mean() < 0.02  # the displayed orientation (JPEG re-encoding aside)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "phone.jpg"), "--model", "centre-bias", "--out", str(out)]) == 0
    sp = _table(out)
    assert sp.image_size[0].tolist() == [600.0, 800.0] and float(sp.x[sp.mask].max()) <= 600
    assert Image.open(out / "phone_scanpaths.png").size == (600, 800)


def test_transparency_is_composited_at_the_image_size(tmp_path):
    """Why: an RGBA image was drawn on white at another size."""
    rgba = np.zeros((300, 500, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :250, 3] = 255  # left half opaque red, right half fully transparent
    Image.fromarray(rgba).save(tmp_path / "logo.png")
    shown, size = read_image(tmp_path / "logo.png")
    assert size == (500, 300) and shown[:, 150, 100].tolist() == [1.0, 0.0, 0.0]
    assert shown[:, 150, 400].tolist() == [1.0, 1.0, 1.0]  # transparent -> white
    assert torch.equal(shown, load_image(tmp_path / "logo.png"))  # the same conversion the data loaders use
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "logo.png"), "--model", "centre-bias", "--out", str(out)]) == 0
    assert Image.open(out / "logo_scanpaths.png").size == (500, 300)


def test_large_images_are_predicted_at_a_bounded_size_in_original_pixels(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((2000, 3000, 3)) * 255).astype(np.uint8)).save(tmp_path / "wide.jpg")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "wide.jpg"), "--model", "centre-bias", "--max-side", "600", "--out",
                 str(out)]) == 0
    sp = _table(out)
    assert sp.image_size[0].tolist() == [3000.0, 2000.0]
    assert float(sp.x[sp.mask].max()) > 600 and float(sp.x[sp.mask].max()) <= 3000  # original pixels
    assert Image.open(out / "wide_scanpaths.png").size == (600, 400)  # drawn at the working size
    density = Image.open(out / "wide_density.png")
    assert density.size[1] == 400 and density.size[0] > 600  # the image plus a colour bar


def test_density_png_has_a_colour_bar(tmp_path):
    out = tmp_path / "out"
    assert main(["predict", str(OSIE / "1001.jpg"), "--model", "centre-bias", "--out", str(out)]) == 0
    arr = np.asarray(Image.open(out / "1001_density.png").convert("RGB")).astype(int)
    assert arr.shape[:2] == (600, 888)
    bar = arr[60:540, 800:888]
    # the bar's colours run from dark (0) to bright (maximum) along its height
    column = arr[:, 800 + int(np.argmax(bar.std(axis=(0, 2)))), :].sum(axis=1)
    assert column[80] > column[520] + 200


def test_markers_follow_the_short_side_on_extreme_aspect_ratios(tmp_path):
    """Why: a 3000x200 panorama gave an unreadable overlay (circles 120 px across a 200 px image)."""
    assert marker_radius(800, 600) == 32.0 and marker_radius(3000, 200) == 16.0
    pano = np.asarray(Image.open(OSIE / "1001.jpg").resize((3000, 200)))
    Image.fromarray(pano).save(tmp_path / "pano.png")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "pano.png"), "--model", "centre-bias", "--out", str(out)]) == 0
    assert Image.open(out / "pano_scanpaths.png").size == (1024, 68)  # drawn at most 1024 px long


def test_device_option(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(OSIE / "1001.jpg"), "--model", "centre-bias", "--device", "cpu", "--no-plots",
                 "--out", str(out)]) == 0
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the no-GPU message cannot be checked here")
    assert main(["predict", str(OSIE / "1001.jpg"), "--device", "cuda", "--out", str(out)]) == 2
    assert "--device cuda: no CUDA GPU" in capsys.readouterr().err


@pytest.mark.slow
def test_8000x6000_photo_with_plots(tmp_path):
    """The large-image case of issue 15 (65 s and 11.8 GB before): predicted at 2048 px, drawn at 1024 px;
    memory and time are measured side by side with the old behaviour in benchmarks/bench_predict_large.py."""
    y, x = np.mgrid[0:6000, 0:8000]
    img = np.stack([x * 255 // 8000, y * 255 // 6000, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "big.jpg", quality=90)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "big.jpg"), "--n-samples", "10", "--out", str(out)]) == 0
    sp = _table(out)
    assert sp.image_size[0].tolist() == [8000.0, 6000.0] and float(sp.x[sp.mask].max()) > 2048
    assert Image.open(out / "big_scanpaths.png").size == (1024, 768)
