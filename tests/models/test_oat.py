"""OAT: pointer decoding, permutation equivariance, persistence, input checks and a solvable synthetic task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.errors import InvalidInputError
from gazekit.models import create_model, list_models
from gazekit.models.base import PredictRequest
from gazekit.models.oat import OAT, load_oat
from gazekit.models.oat_layers import GaussianPositionalEncoding, check_boxes

PALETTE = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0],
                        [1, 0.5, 0], [0.5, 0.5, 0.5]], dtype=torch.float32)


def colour_batch(b: int, n: int = 6, size: int = 16, seed: int = 0) -> tuple[dict, torch.Tensor]:
    """Solid-colour objects (distinct palette colours) at random positions; the target is one of them and the
    'human' scanpath is: fixate the target, stop."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.argsort(torch.rand(b, len(PALETTE), generator=g), 1)[:, :n]
    crops = PALETTE[pick][..., None, None].expand(b, n, 3, size, size).clone()
    target = torch.randint(0, n, (b,), generator=g)
    batch = {"crops": crops, "target_crops": crops[torch.arange(b), target], "centres": torch.rand(b, n, 2, generator=g),
             "object_mask": torch.ones(b, n, dtype=torch.bool), "fixations": target[:, None],
             "lengths": torch.ones(b, dtype=torch.long)}
    return batch, target


def tiny(**kw) -> OAT:
    torch.manual_seed(0)
    return create_model("oat-tiny", **kw).eval()


def test_registered():
    assert {"oat", "oat-tiny", "oat-objarray"} <= set(list_models("oat*"))
    assert OAT.task_kind == "object_search"


def test_pointer_never_selects_padding():
    model = tiny()
    batch, _ = colour_batch(4, n=6)
    valid = torch.tensor([6, 2, 4, 1])
    batch["object_mask"] = torch.arange(6)[None] < valid[:, None]
    logits, _ = model.step_outputs(model.encode(batch), batch["object_mask"], torch.zeros(4, 0, dtype=torch.long))
    assert torch.isinf(logits[:, 0, :6][~batch["object_mask"]]).all()
    for temperature in (1.0, 5.0):  # a hot softmax would expose any leak onto padding
        out = model.decode(batch, n_samples=200, temperature=temperature, max_fixations=12,
                           generator=torch.Generator().manual_seed(0))
        lim = valid.repeat_interleave(200)[:, None]
        objs = out["objects"]
        chosen = objs >= 0
        assert chosen.any()
        assert (objs[chosen] < lim.expand_as(objs)[chosen]).all()


def test_permuting_objects_permutes_predictions():
    model = tiny()
    batch, _ = colour_batch(3, n=6, seed=1)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])  # new position k holds old object perm[k]
    inv = torch.argsort(perm)
    permuted = dict(batch, crops=batch["crops"][:, perm], centres=batch["centres"][:, perm])
    a = model.decode(batch, temperature=0, max_fixations=8)
    b = model.decode(permuted, temperature=0, max_fixations=8)
    assert torch.equal(a["lengths"], b["lengths"])
    mapped = torch.where(a["objects"] >= 0, inv[a["objects"].clamp(min=0)], -1)
    assert torch.equal(mapped, b["objects"])
    prefix = torch.tensor([[0, 1], [2, 2], [5, 3]])
    la, _ = model.step_outputs(model.encode(batch), batch["object_mask"], prefix)
    lb, _ = model.step_outputs(model.encode(permuted), batch["object_mask"], inv[prefix])
    torch.testing.assert_close(la[..., :6][..., perm], lb[..., :6], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(la[..., 6], lb[..., 6], atol=1e-5, rtol=1e-5)


def _layout_image(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.full((3, 240, 320), 0.5)
    boxes = torch.tensor([[10 + 60 * k, 40 + 20 * (k % 2), 60 + 60 * k, 90 + 20 * (k % 2)] for k in range(n)],
                         dtype=torch.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
        img[:, y0:y1, x0:x1] = torch.rand(3, 1, 1, generator=g)
    return img, boxes


def test_predict_scanpaths_pixels_at_box_centres_and_permutation():
    model = tiny()
    img, boxes = _layout_image()
    template = img[:, 45:85, 75:105].clone()  # inside box 1
    req = PredictRequest(images=img[None], image_names=["a"], n_samples=3, boxes=[boxes], templates=[template],
                         temperature=0, max_fixations=6)
    sp = model.predict_scanpaths(req)
    assert len(sp) == 3 and sp.image == ["a"] * 3
    for row in sp:
        obj = row["object"].astype(int)
        np.testing.assert_allclose(row["x"], ((boxes[:, 0] + boxes[:, 2]) / 2).numpy()[obj])
        np.testing.assert_allclose(row["y"], ((boxes[:, 1] + boxes[:, 3]) / 2).numpy()[obj])
        assert np.isnan(row["t_start"]).all() and (row["duration"] > 0).all()
    perm = torch.tensor([4, 2, 0, 3, 1])
    sp2 = model.predict_scanpaths(PredictRequest(images=img[None], image_names=["a"], n_samples=3,
                                                 boxes=[boxes[perm]], templates=[template], temperature=0,
                                                 max_fixations=6))
    torch.testing.assert_close(sp2.x, sp.x)
    torch.testing.assert_close(sp2.y, sp.y)
    # target given as an index: its box is the scanpath's target box
    sp3 = model.predict_scanpaths(PredictRequest(images=img[None], image_names=["a"], boxes=[boxes],
                                                 target_index=[2], seed=3))
    np.testing.assert_allclose(sp3.target_box[0].numpy(), boxes[2].numpy())
    assert sp3.condition == ["present"]


def test_sampling_is_seeded_and_batched():
    model = tiny()
    batch, _ = colour_batch(2, seed=4)
    a = model.decode(batch, n_samples=50, generator=torch.Generator().manual_seed(9))
    b = model.decode(batch, n_samples=50, generator=torch.Generator().manual_seed(9))
    assert a["objects"].shape[0] == 100
    assert torch.equal(a["objects"], b["objects"])
    assert len({tuple(r.tolist()) for r in a["objects"][:50]}) > 1  # samples differ from each other


def test_save_load_round_trip(tmp_path):
    model = tiny()
    batch, _ = colour_batch(3, seed=2)
    ref = model.step_outputs(model.encode(batch), batch["object_mask"], torch.tensor([[0, 1]] * 3))
    path = tmp_path / "oat.pt"
    model.save_checkpoint(path)
    loaded = load_oat(path)
    out = loaded.step_outputs(loaded.encode(batch), batch["object_mask"], torch.tensor([[0, 1]] * 3))
    torch.testing.assert_close(out[0], ref[0])
    torch.testing.assert_close(out[1], ref[1])
    assert loaded.hparams.dim == 32
    via_factory = create_model("oat", pretrained=str(path))
    assert torch.equal(via_factory.pointer.q.weight, model.pointer.q.weight)


def test_hash_named_checkpoint_is_verified(tmp_path):
    import hashlib

    path = tmp_path / "x.pt"
    tiny().save_checkpoint(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    good = path.rename(tmp_path / f"oat-test-{digest}.pt")
    load_oat(good)
    bad = tmp_path / "oat-test-00000000.pt"
    bad.write_bytes(good.read_bytes())
    with pytest.raises(InvalidInputError, match="content hash"):
        load_oat(bad)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match="not a readable torch checkpoint"):
        load_oat(tmp_path / "junk.pt")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_oat(tmp_path / "missing.pt")


def test_positional_encoding_regulariser_is_zero_for_a_gaussian_table():
    pe = GaussianPositionalEncoding(bins=6, dim=64, sigma=2.0)
    # an exact Gaussian-similarity table: rows of the Cholesky factor of the target Gram matrix, equal norms
    chol = torch.linalg.cholesky(pe.target_sim.double() + 1e-9 * torch.eye(6, dtype=torch.float64))
    with torch.no_grad():
        pe.table.zero_()
        pe.table[:, :6] = chol.float()
        assert float(pe.regulariser()) < 1e-6
        # interpolation: halfway between rows 1 and 2 reads their mean
        torch.testing.assert_close(pe(torch.tensor([1.5 / 5]))[0], (pe.table[1] + pe.table[2]) / 2)


def test_training_lowers_pe_regulariser():
    pe = GaussianPositionalEncoding(bins=10, dim=16)
    opt = torch.optim.Adam(pe.parameters(), 0.05)
    start = float(pe.regulariser().detach())
    for _ in range(100):
        loss = pe.regulariser()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(pe.regulariser().detach()) < 0.2 * start


@pytest.mark.parametrize("boxes, match", [
    (None, "got none"),
    (torch.zeros(0, 4), "no object boxes"),
    (torch.tensor([[10.0, 10, 50]]), r"\[N, 4\]"),
    (torch.tensor([[10.0, 10, 50, 50], [60, 60, 60, 90]]), "box 1 .* degenerate"),
    (torch.tensor([[10.0, 10, 50, 50], [300, 10, 340, 50]]), "box 1 .* outside the 320x240"),
    (torch.tensor([[-5.0, 10, 50, 50]]), "box 0 .* outside"),
    (torch.tensor([[10.0, 10, 50, 50], [12, 12, 52, 52]]), "boxes 0 and 1 overlap"),
    (torch.tensor([[10.0, math.nan, 50, 50]]), "NaN"),
])
def test_bad_boxes_raise_clear_errors(boxes, match):
    with pytest.raises(InvalidInputError, match=match):
        check_boxes(boxes, 320, 240)


def test_touching_boxes_are_fine():
    b = check_boxes(torch.tensor([[0.0, 0, 50, 50], [50, 0, 100, 50], [40, 40, 90, 90]]), 320, 240)
    assert b.shape == (3, 4)


def test_bad_requests_raise_clear_errors():
    model = tiny()
    img, boxes = _layout_image()
    base = {"images": img[None], "image_names": ["a"]}
    with pytest.raises(InvalidInputError, match="needs the target"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes]))
    with pytest.raises(InvalidInputError, match="target_index 7 is not among the 5 objects"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes], target_index=[7]))
    with pytest.raises(InvalidInputError, match="target_index -1"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes], target_index=[-1]))
    with pytest.raises(InvalidInputError, match="one \\[N, 4\\] box array per image"):
        model.predict_scanpaths(PredictRequest(**base, target_index=[0]))
    with pytest.raises(InvalidInputError, match="overlap"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[torch.cat([boxes, boxes[:1] + 1])], target_index=[0]))
    with pytest.raises(InvalidInputError, match="n_samples"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes], target_index=[0], n_samples=0))
    with pytest.raises(InvalidInputError, match="temperature"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes], target_index=[0], temperature=-1))
    with pytest.raises(InvalidInputError, match="template must be"):
        model.predict_scanpaths(PredictRequest(**base, boxes=[boxes], templates=[torch.rand(4, 4)]))
    with pytest.raises(InvalidInputError, match="at least 14 px"):
        OAT(crop_size=8)
    with pytest.raises(InvalidInputError, match="appearance"):
        OAT(appearance="resnet")


def test_timm_appearance_backbone_runs():
    pytest.importorskip("timm")
    model = OAT(dim=32, enc_layers=1, dec_layers=1, heads=2, ffn=64, crop_size=32, appearance="timm:resnet10t")
    batch, _ = colour_batch(2, size=32)
    out = model.losses(batch)
    assert torch.isfinite(out["loss"])


def test_synthetic_unique_colour_target_is_found_first():
    """A short training run must learn to look at the object whose colour matches the template first:
    >= 90% of held-out trials (chance: 1/6)."""
    torch.manual_seed(0)
    model = create_model("oat-tiny", duration_head=False, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    model.train()
    for step in range(150):
        batch, _ = colour_batch(32, seed=1000 + step)
        loss = model.losses(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    batch, target = colour_batch(500, seed=7)
    out = model.decode(batch, temperature=0, max_fixations=4)
    first = out["objects"][:, 0]
    assert float((first == target).float().mean()) >= 0.9
    # and it learned to stop after the target (the human sequences are "target, stop")
    assert float(out["stopped"].float().mean()) >= 0.9


def _search_batch(b: int, seed: int) -> dict:
    """``b`` colour trials with 1-3 fixations each, durations (one unknown) and one scanpath cut before its stop."""
    batch, _ = colour_batch(b, seed=seed)
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 4, (b,), generator=g)
    pad = torch.arange(int(lengths.max()))[None] >= lengths[:, None]
    fix = torch.randint(0, 6, pad.shape, generator=g).masked_fill(pad, -1)
    dur = (100 + 400 * torch.rand(pad.shape, generator=g)).masked_fill(pad, math.nan)
    dur[0, 0] = math.nan
    stop_known = torch.ones(b, dtype=torch.bool)
    stop_known[-1] = False
    return {**batch, "fixations": fix, "lengths": lengths, "durations": dur, "stop_known": stop_known}


def _items(model: OAT, batch: dict) -> dict:
    """Per-item values of one batch, with the targets built here from the batch: CE and correctness per known
    step (each fixation, then the stop where it was observed), the duration NLL per known duration."""
    logits, dur = model.step_outputs(model.encode(batch), batch["object_mask"], batch["fixations"])
    logp = torch.log_softmax(logits, -1)
    ce, hit, dnll = [], [], []
    for i, n in enumerate(batch["lengths"].tolist()):
        steps = batch["fixations"][i, :n].tolist() + ([logits.shape[-1] - 1] if batch["stop_known"][i] else [])
        for s, k in enumerate(steps):
            ce.append(-logp[i, s, k])
            hit.append(float(logits[i, s].argmax() == k))
        for s in range(n):
            d = batch["durations"][i, s]
            if torch.isfinite(d):
                mu, log_sigma = dur[i, s, 0], dur[i, s, 1].clamp(-3, 3)
                z = (d.log() - mu) / log_sigma.exp()
                dnll.append(0.5 * z**2 + log_sigma + d.log())
    return {"ce": torch.stack(ce).double(), "acc": torch.tensor(hit, dtype=torch.float64),
            "duration_nll": torch.stack(dnll).double()}


def test_validation_metrics_are_pooled_means_over_unequal_batches():
    """Batches of 3 and 9 trials (unequal numbers of steps and durations): the epoch's val/ce, val/acc and
    val/duration_nll are the means over every item of both batches (not the mean of the batch means), and
    val/loss is the training loss's formula on them."""
    model = tiny(dropout=0.0)
    small, large = _search_batch(3, seed=1), _search_batch(9, seed=2)
    model.on_validation_epoch_start()
    with torch.no_grad():
        for k, batch in enumerate((small, large)):
            model.validation_step(batch, k)
        items = [_items(model, small), _items(model, large)]
        pe = float(model.pos.regulariser())
    means = model._epoch_means("val").compute()
    assert len(items[0]["ce"]) != len(items[1]["ce"]) and len(items[0]["duration_nll"]) < len(items[1]["duration_nll"])
    for name in ("ce", "acc", "duration_nll"):
        every = torch.cat([it[name] for it in items])
        assert abs(means[name] - float(every.mean())) < 1e-12, name
    assert means["pe"] == pe
    batch_means = (float(items[0]["ce"].mean()) + float(items[1]["ce"].mean())) / 2
    assert abs(means["ce"] - batch_means) > 1e-3  # the pooled mean is not the mean of batch means here
    loss = model.derived_epoch_means(means)["loss"]
    hp = model.hparams
    assert loss == means["ce"] + hp.pe_weight * pe + hp.duration_weight * means["duration_nll"]


def test_validation_epoch_logs_the_pooled_means():
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    model = tiny(dropout=0.0)
    batches = [_search_batch(3, seed=1), _search_batch(9, seed=2)]
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
                         enable_model_summary=False)
    trainer.validate(model, DataLoader(batches, batch_size=None))
    with torch.no_grad():
        ce = torch.cat([_items(model, b)["ce"] for b in batches]).mean()
    assert float(trainer.callback_metrics["val/ce"]) == pytest.approx(float(ce), rel=1e-6)
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(model.epoch_metrics["val"]["loss"], rel=1e-6)
    assert set(model.epoch_metrics["val"]) == {"ce", "pe", "duration_nll", "acc", "loss"}
