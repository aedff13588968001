"""The shipped OAT object-array weights on held-out layouts of the real data, and the predict CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gazekit.cli import main
from gazekit.models import create_model
from gazekit.models.base import PredictRequest
from tests.conftest import require_data


@pytest.fixture(scope="module")
def model():
    return create_model("oat-objarray")


@pytest.fixture(scope="module")
def held_out():
    require_data("objarray", "subjectsdata", "LISTCORRECTFILES.txt")
    from gazekit.datasets import load_dataset
    from gazekit.datasets.splits import split_by

    ds = load_dataset("objarray")
    test = split_by(ds.scanpaths.trial, (0.7, 0.1, 0.2), 0, rule="hash")["test"]
    train = split_by(ds.scanpaths.trial, (0.7, 0.1, 0.2), 0, rule="hash")["train"]
    return ds, test, train


def test_split_is_by_layout(held_out):
    ds, test, train = held_out
    assert not {ds.scanpaths.trial[i] for i in test} & {ds.scanpaths.trial[i] for i in train}
    assert 0.15 < len(test) / len(ds) < 0.25


def test_shipped_weights_load(model):
    assert model.task_kind == "object_search" and not model.training
    assert model.hparams.crop_size == 32


def test_target_absent_trials_end_with_stop(model, held_out):
    from gazekit.datasets.objarray_trials import ObjArrayTrials, collate_trials, objarray_crop_bank

    ds, test, _ = held_out
    absent = [i for i in test if ds.scanpaths.condition[i] == "absent"][:150]
    trials = ObjArrayTrials(ds, np.array(absent), max_len=50)
    batch = collate_trials([trials[k] for k in range(len(trials))], objarray_crop_bank(ds, 32), trials.centres)
    # sampling (the evaluation's and the CLI's default) ends every absent search with the stop slot (greedy
    # decoding's stop rule: tests/models/test_oat_greedy.py)
    sampled = model.decode(batch, n_samples=4, temperature=1.0, max_fixations=20,
                           generator=torch.Generator().manual_seed(0))
    assert float(sampled["stopped"].float().mean()) >= 0.98
    # absent trials search longer than present ones, as the humans do
    present = [i for i in test if ds.scanpaths.condition[i] == "present"][:150]
    tp = ObjArrayTrials(ds, np.array(present), max_len=50)
    pb = collate_trials([tp[k] for k in range(len(tp))], objarray_crop_bank(ds, 32), tp.centres)
    p_len = model.decode(pb, n_samples=4, generator=torch.Generator().manual_seed(0))["lengths"].double().mean()
    assert float(sampled["lengths"].double().mean()) > float(p_len)


def test_rendered_layouts_predict_like_the_training_crops(model, held_out):
    """``predict_scanpaths`` on a drawn array (the CLI path) sees what training saw (the crop bank)."""
    from gazekit.datasets.objarray import object_boxes, object_image_path, render_layout
    from gazekit.images import load_image
    from gazekit.datasets.objarray_trials import ObjArrayTrials, collate_trials, objarray_crop_bank

    ds, test, _ = held_out
    rows = test[:40]
    trials = ObjArrayTrials(ds, rows, max_len=50)
    bank = objarray_crop_bank(ds, 32)
    batch = collate_trials([trials[k] for k in range(len(trials))], bank, trials.centres)
    ref = model.decode(batch, temperature=0, max_fixations=10)
    images = torch.stack([torch.from_numpy(render_layout(ds.root, lay["probes"])).permute(2, 0, 1)
                          for lay in trials.layouts])
    req = PredictRequest(images=images, image_names=[str(i) for i in rows], boxes=[torch.tensor(object_boxes())] * 40,
                         templates=[load_image(object_image_path(ds.root, lay["target"])) for lay in trials.layouts],
                         temperature=0, max_fixations=10)
    prepared = model.prepare(req.images, req.boxes, req.templates)
    assert float((prepared["crops"] - bank[batch["object_ids"]]).abs().mean()) < 0.02
    sp = model.predict_scanpaths(req)
    same = [np.array_equal(sp.scanpath(k)["object"], ref["objects"][k, : ref["lengths"][k]].numpy())
            for k in range(40)]
    assert np.mean(same) >= 0.9


def test_predict_cli_on_a_new_layout(tmp_path, held_out):
    import cv2

    from gazekit.datasets.objarray import object_boxes, object_image_path, render_layout

    ds, _, _ = held_out
    img = render_layout(ds.root, [5, 12, 19, 26, 33, 40])
    cv2.imwrite(str(tmp_path / "layout.png"), (img[:, :, ::-1] * 255).round().astype(np.uint8))
    boxes = object_boxes()
    (tmp_path / "boxes.json").write_text(json.dumps(boxes.tolist()))
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "layout.png"), "--model", "oat-objarray", "--boxes",
               str(tmp_path / "boxes.json"), "--target", str(object_image_path(ds.root, 19)), "--n-samples", "5",
               "--out", str(out)])
    assert rc == 0
    assert (out / "layout_scanpaths.png").stat().st_size > 10_000
    from gazekit.scanpaths import Scanpaths

    sp = Scanpaths.load(out / "scanpaths.csv")
    assert len(sp) == 5
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    for row in sp:
        np.testing.assert_allclose(np.stack([row["x"], row["y"]], 1), centres[row["object"].astype(int)])
    # a box outside the image is refused with a clear message, not a traceback
    bad = boxes.copy()
    bad[0, 2] = 2000
    (tmp_path / "bad.json").write_text(json.dumps(bad.tolist()))
    rc = main(["predict", str(tmp_path / "layout.png"), "--model", "oat-objarray", "--boxes",
               str(tmp_path / "bad.json"), "--target", str(object_image_path(ds.root, 19)), "--out", str(out)])
    assert rc == 2


def test_grid_positional_encoding_on_the_amazon_layout(model):
    """The learned position table, trained towards a Gaussian similarity of index distance (sigma 2 rows),
    carries over to the 14 x 6 book-cover grid: column embeddings decay with column distance."""
    require_data("amazon_books", "Amazon.json")
    from gazekit.datasets import load_dataset

    ds = load_dataset("amazon_books")
    boxes = torch.tensor(ds.meta["object_boxes"], dtype=torch.float32)
    width, height = ds.scanpaths.image_size[0].tolist()
    cols = ((boxes[:14, 0] + boxes[:14, 2]) / 2 / width).float()
    e = model.pos(cols).detach()
    e = e / e.norm(dim=1, keepdim=True)
    sim = (e @ e.T)[0]
    assert float(sim[1]) > 0.6 and float(sim[3]) < 0.5 and float(sim[6:].abs().max()) < 0.1
    assert (sim[:6].diff() < 0).all()
    # and the model predicts on that layout (84 objects; the collage images are not shipped, so the covers are
    # random grey levels here): every fixation is one of the 84 boxes
    g = torch.Generator().manual_seed(0)
    img = torch.full((3, int(height), int(width)), 0.5)
    for x0, y0, x1, y1 in boxes.round().long().tolist():
        img[:, y0:y1, x0:x1] = torch.rand(3, 1, 1, generator=g)
    target = json.loads(ds.scanpaths.scanpath_attrs["layout"][0])["target_pos"]
    req = PredictRequest(images=img[None], image_names=["1.jpg"], n_samples=8, boxes=[boxes], target_index=[target],
                         seed=0, max_fixations=12)
    sp = model.predict_scanpaths(req)
    objs = sp.fixation_attrs["object"][sp.mask]
    assert len(objs) > 0 and bool(((objs >= 0) & (objs < 84)).all())


def test_evaluator_beats_baselines_on_behavioural_error(model, held_out):
    from gazekit.evaluation import get_evaluator
    from gazekit.evaluation.object_search import baseline_sequences

    ds, test, _ = held_out
    evaluate = get_evaluator("object_search")
    some = sorted({ds.scanpaths.image[i] for i in test[:300]})
    result = evaluate(model, ds, images=some, train_images=None, n_samples=3, seed=0, model_name="oat")
    assert result["n_trials"] == 300
    errors = {m: result[m]["behavioural_error"] for m in ("oat", "random", "nearest", "similarity")}
    assert errors["oat"] < min(errors["random"], errors["nearest"], errors["similarity"])
    assert result["human"]["behavioural_error"] < 0.1
    assert {r["metric"] for r in result["table"]} >= {"SS (object ids)", "behavioural error vs humans"}
    # baselines by hand: nearest-first from the centre on a row of three objects, target in the middle
    centres = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [4.0, 0.0]]])
    objs, lens = baseline_sequences("nearest", centres, torch.tensor([5.0, 0.0]), torch.tensor([0]))
    assert objs[0, : lens[0]].tolist() == [2, 0]
    objs, lens = baseline_sequences("nearest", centres, torch.tensor([5.0, 0.0]), torch.tensor([-1]))
    assert objs[0].tolist() == [2, 0, 1] and int(lens[0]) == 3
