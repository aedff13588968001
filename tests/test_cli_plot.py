"""`gazekit plot` makes every picture kind from files; scenes produce real content."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gazekit import Scanpaths
from gazekit.cli import main
from gazekit.paths import SAMPLE_DIR
from gazekit.plotting.scenes import fixation_log_density

IMAGE = sorted((SAMPLE_DIR / "osie" / "stimuli").glob("*.jpg"))[0]


def _rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_fixation_density_normalised_and_peaks_at_fixation():
    sp = Scanpaths.from_sequences([[30.0, 30.0, 100.0]], [[20.0, 20.0, 50.0]])
    ld = fixation_log_density(sp, 80, 120, sigma_px=5.0)
    assert torch.isclose(ld.exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    y, x = divmod(int(ld.argmax()), 120)
    assert (x, y) in ((29, 19), (30, 20), (29, 20), (30, 19))  # pixel centre nearest (30, 20): twice weighted


@pytest.mark.parametrize("kind", ["scanpath", "density"])
def test_plot_image_kinds(kind, tmp_path):
    out = tmp_path / f"{kind}.png"
    assert main(["plot", kind, str(IMAGE), "osie-sample", "--out", str(out)]) == 0
    # the density has its colour bar on the right (issue 15): the image area keeps the image's own size
    assert _rgb(out).shape[:2] == ((600, 888) if kind == "density" else (600, 800))


def test_plot_gif_has_one_frame_per_fixation(tmp_path):
    from PIL import Image

    table = tmp_path / "sp.csv"
    assert main(["data", "convert", "osie-sample", "--out", str(table)]) == 0
    sp = Scanpaths.load(table)
    first = [i for i, im in enumerate(sp.image) if im in (IMAGE.name, IMAGE.stem)][0]
    out = tmp_path / "a.gif"
    assert main(["plot", "scanpath", str(IMAGE), str(table), "--gif", "--out", str(out),
                 "--subject", sp.subject[first]]) == 0
    with Image.open(out) as im:
        assert im.n_frames == int(sp.lengths[first])


def test_plot_compare_two_panels(tmp_path):
    out = tmp_path / "cmp.png"
    assert main(["plot", "compare", str(IMAGE), "--human", "osie-sample", "--model", "osie-sample",
                 "--out", str(out)]) == 0
    assert _rgb(out).shape[1] > 2 * _rgb(IMAGE).shape[1] * 0.9


def test_plot_tfp_and_metrics_from_json(tmp_path):
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"human": {"tfp_curve": [0.1, 0.6, 0.9]}, "ecc-search": {"tfp_curve": [0.1, 0.3, 0.5]},
                              "protocol": {"dataset": "interiors"}}))
    assert main(["plot", "tfp", str(ev), "--out", str(tmp_path / "tfp.png")]) == 0
    sc = tmp_path / "score.json"
    sc.write_text(json.dumps({"rows": [{"group": "all", "metric": "scanmatch", "model": 0.3, "human": 0.39},
                                       {"group": "all", "metric": "ss", "model": 0.4, "human": None}]}))
    assert main(["plot", "metrics", str(sc), "--out", str(tmp_path / "m.png")]) == 0


def test_plot_bad_inputs_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"something\": 1}")
    assert main(["plot", "tfp", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "tfp_curve" in capsys.readouterr().err
    assert main(["plot", "metrics", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["plot", "scanpath", str(IMAGE), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["plot", "scanpath", str(IMAGE), "osie-sample", "--subject", "nobody",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "no scanpath for image" in capsys.readouterr().err
