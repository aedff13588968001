"""``gazekit predict --config FILE``: LightningCLI predict on a config's model + datamodule, scanpaths written by
:class:`gazekit.callbacks.ScanpathWriter`; and the shared ``predict_step`` (:func:`request_from_batch`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gazekit.cli import main
from gazekit.errors import DatasetNotFoundError, InvalidInputError
from gazekit.models.base import PredictOptions, request_from_batch
from gazekit.scanpaths import Scanpaths

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _batch() -> tuple[torch.Tensor, Scanpaths]:
    """Five human scanpaths on three images; image "b" is searched for two different targets."""
    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 3, 4, 6) / 10
    sp = Scanpaths.from_sequences(
        [[1.0, 2.0], [1.5], [3.0, 1.0], [4.0], [5.0, 5.5]], [[1.0, 2.0], [0.5], [3.0, 1.0], [2.0], [1.0, 1.0]],
        image=["a", "a", "b", "b", "c"], task=["cup", "cup", "cup", "pan", "pan"],
        target_box=[[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [0, 0, 2, 2]], image_size=[6, 4])
    return images, sp


def test_request_groups_freeview_batches_by_image():
    images, sp = _batch()
    req = request_from_batch((images, sp), PredictOptions(n_samples=3, seed=5), "freeview", batch_idx=2)
    assert req.image_names == ["a", "b", "c"]
    assert torch.equal(req.images[:, 0, 0, 0], torch.tensor([0.0, 0.2, 0.4]))  # rows 0, 2, 4: first per image
    assert (req.n_samples, req.seed, req.target_text, req.target_box) == (3, 7, None, None)


def test_request_carries_the_decoding_options():
    """predict --config passes the decoding options (writer arguments) into every request; the defaults are the
    request's own, so a config without them samples as before."""
    from gazekit.callbacks import ScanpathWriter
    from gazekit.models.base import DECODING_FIELDS, PredictRequest

    images, sp = _batch()
    plain = request_from_batch((images, sp), PredictOptions(), "freeview")
    defaults = PredictRequest(images=images[:1], image_names=["a"])
    assert {k: getattr(plain, k) for k in DECODING_FIELDS} == {k: getattr(defaults, k) for k in DECODING_FIELDS}
    writer = ScanpathWriter(image_scale=1.5, saliency_beta=0.5, saliency_model="saliency-freeview",
                            return_rate=[0.1, 0.2], return_sigma_deg=0.7, pixels_per_degree=24.0)
    req = request_from_batch((images, sp), writer.options, "freeview")
    assert (req.image_scale, req.saliency_beta, req.saliency_model) == (1.5, 0.5, "saliency-freeview")
    assert (req.return_rate, req.return_sigma_deg, req.pixels_per_degree) == ([0.1, 0.2], 0.7, 24.0)
    given = request_from_batch({"images": images[:1], "image_names": ["a"], "image_scale": 2.0}, writer.options)
    assert given.image_scale == 2.0 and given.saliency_beta == 0.5  # a dict batch's own fields win


def test_request_skips_images_predicted_in_earlier_batches():
    images, sp = _batch()
    seen = {"b"}
    req = request_from_batch((images, sp), PredictOptions(), "freeview", seen=seen)
    assert req.image_names == ["a", "c"] and seen == {"a", "b", "c"}
    assert request_from_batch((images, sp), PredictOptions(), "freeview", seen=seen) is None


def test_request_groups_search_batches_by_display_and_starts_from_the_data():
    images, sp = _batch()
    req = request_from_batch((images, sp), PredictOptions(), "search")
    assert req.image_names == ["a", "b", "b", "c"] and req.target_text == ["cup", "cup", "pan", "pan"]
    assert torch.equal(req.images[:, 0, 0, 0], torch.tensor([0.0, 0.2, 0.3, 0.4]))
    assert req.target_box.tolist() == [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3], [0, 0, 2, 2]]
    assert req.extra["start_xy"].tolist() == [[1.0, 1.0], [3.0, 3.0], [4.0, 2.0], [5.0, 1.0]]
    centre = request_from_batch((images, sp), PredictOptions(start_from_data=False), "search")
    assert "start_xy" not in centre.extra


def test_request_rejects_batches_without_images_or_of_unknown_shape():
    _, sp = _batch()
    with pytest.raises(InvalidInputError, match="needs images"):
        request_from_batch((None, sp), PredictOptions())
    with pytest.raises(InvalidInputError, match="dict predict batch"):
        request_from_batch({"images": torch.zeros(1, 3, 2, 2), "bogus": 1}, PredictOptions())
    with pytest.raises(InvalidInputError, match="n_samples"):
        request_from_batch((None, sp), PredictOptions(n_samples=0))


def test_predict_help_mentions_the_config_form(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--help"])
    assert exc.value.code == 0
    assert "gazekit predict --config FILE" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--config", str(CONFIGS / "oat_objarray.yaml"), "--help"])
    assert exc.value.code == 0
    assert "--writer.n_samples" in capsys.readouterr().out


def _run(config: str, tmp_path, *overrides: str) -> Scanpaths:
    out = tmp_path / "preds"
    try:
        rc = main(["predict", "--config", str(CONFIGS / config), "--trainer.limit_predict_batches=1",
                   f"--trainer.default_root_dir={tmp_path}", "--trainer.accelerator=cpu", "--trainer.devices=1",
                   f"--writer.out_dir={out}", *overrides])
    except DatasetNotFoundError as err:
        pytest.skip(f"data for {config} not available: {err}")
    assert rc == 0
    return Scanpaths.load(out / "scanpaths.csv")


def _assert_inside(sp: Scanpaths):
    m = sp.mask
    w, h = sp.image_size[:, :1].expand_as(sp.x), sp.image_size[:, 1:].expand_as(sp.y)
    assert bool(torch.isfinite(sp.x[m]).all() and torch.isfinite(sp.y[m]).all())
    assert bool(((sp.x >= 0) & (sp.x <= w) & (sp.y >= 0) & (sp.y <= h))[m].all())


def test_predict_config_ecc_search_interiors(tmp_path, monkeypatch):
    """Search model: one search per display of the first test batch, at half resolution, written back in native
    pixels; each search starts on the recorded first fixation (exact: the 2x rescale is lossless)."""
    from gazekit.datasets.datamodule import GazeDataModule

    monkeypatch.chdir(tmp_path)
    pred = _run("ecc_search_interiors.yaml", tmp_path, "--data.init_args.batch_size=4",
                "--data.init_args.image_size=[384, 512]", "--writer.n_samples=2")
    dm = GazeDataModule("interiors", image_size=None, batch_size=4, fractions=(0.8, 0.1, 0.1), seed=0)
    human = dm.split("test").scanpaths[[0, 1, 2, 3]]
    displays = {}
    for i, name in enumerate(human.image):
        displays.setdefault((name, human.task[i]), i)
    assert len(pred) == 2 * len(displays)
    assert sorted(set(pred.image)) == sorted({name for name, _ in displays})
    assert pred.image_size.tolist() == [[1024.0, 768.0]] * len(pred)
    _assert_inside(pred)
    for r in range(len(pred)):
        i = displays[(pred.image[r], pred.task[r])]
        assert (pred.x[r, 0].item(), pred.y[r, 0].item()) == (human.x[i, 0].item(), human.y[i, 0].item())
        assert pred.target_box[r].tolist() == human.target_box[i].tolist()
    assert 1 <= int(pred.lengths.max()) <= 13  # the config's max_fixations


def test_predict_config_oat_objarray(tmp_path, monkeypatch):
    """Object-search model: every fixation is the centre of one of the six array positions."""
    from gazekit.datasets.objarray import object_centres
    from gazekit.datasets.objarray_trials import ObjArrayDataModule

    monkeypatch.chdir(tmp_path)
    pred = _run("oat_objarray.yaml", tmp_path, "--data.init_args.batch_size=6", "--writer.n_samples=3",
                "--writer.format=csv")
    dm = ObjArrayDataModule(batch_size=6)
    dm.setup()
    trials = [dm.parts["test"].info[k]["image"] for k in range(6)]
    assert pred.image == [name for name in trials for _ in range(3)]
    assert pred.subject == ["oat-0", "oat-1", "oat-2"] * 6
    assert pred.image_size.tolist() == [[1024.0, 768.0]] * 18
    _assert_inside(pred)
    centres = object_centres()
    xy = torch.stack([pred.x[pred.mask], pred.y[pred.mask]], 1).numpy()
    nearest = np.abs(xy[:, None] - centres[None]).sum(-1).min(1)
    assert nearest.max() < 1e-9
    obj = pred.fixation_attrs["object"][pred.mask].numpy().astype(int)
    np.testing.assert_allclose(xy, centres[obj])


def test_integer_batch_limits_survive_the_typing_cache():
    """rich.console builds Optional[Union[float, int]] first; Python's typing cache then hands Lightning's
    Optional[Union[int, float]] to jsonargparse in that order and "1" parses as 1.0 (all batches). The CLI restores
    integers that were given as integers, and integral values above 1."""
    from types import SimpleNamespace

    from gazekit.cli._lightning import restore_integer_limits

    cfg = SimpleNamespace(limit_predict_batches=1.0, limit_val_batches=4.0, limit_train_batches=0.5,
                          limit_test_batches=1.0, val_check_interval=1.0)
    restore_integer_limits(cfg, ["--trainer.limit_predict_batches=1", "--trainer.limit_test_batches", "1.0"])
    assert (cfg.limit_predict_batches, cfg.limit_val_batches) == (1, 4)
    assert type(cfg.limit_predict_batches) is int and type(cfg.limit_val_batches) is int
    assert (cfg.limit_train_batches, cfg.limit_test_batches, cfg.val_check_interval) == (0.5, 1.0, 1.0)
    assert type(cfg.limit_test_batches) is float and type(cfg.val_check_interval) is float


def test_predict_config_tpp_osie(tmp_path, monkeypatch):
    """Free-viewing model (randomly initialised TPP from the config, no checkpoint): n_samples scanpaths per
    distinct image of the first test batch, at the config's 192 x 256 and written back in OSIE's 800 x 600 px."""
    from gazekit.datasets.grouped import ImageGroupedDataModule

    monkeypatch.chdir(tmp_path)
    pred = _run("tpp_osie.yaml", tmp_path, "--data.init_args.images_per_batch=2", "--writer.n_samples=3",
                "--writer.seed=7", "--model.init_args.max_fixations=6")
    dm = ImageGroupedDataModule("osie", image_size=(192, 256), images_per_batch=2, preload_images=False)
    images = list(dict.fromkeys(next(iter(dm.predict_dataloader()))[1].image))
    assert len(images) == 2
    assert pred.image == [name for name in images for _ in range(3)]
    assert pred.subject == ["sample0", "sample1", "sample2"] * 2
    assert pred.image_size.tolist() == [[800.0, 600.0]] * 6
    _assert_inside(pred)
    assert 1 <= int(pred.lengths.min()) and int(pred.lengths.max()) <= 6
    d = pred.duration[pred.mask]
    assert bool(torch.isfinite(d).all() and (d > 0).all())


def test_trainer_predict_with_the_writer_on_a_baseline(tmp_path):
    """Outside the CLI: Trainer.predict + ScanpathWriter on the shipped centre-bias baseline (OSIE sample, no
    external data): one row per (image, sample) with durations, in the images' native pixels."""
    import pytorch_lightning as pl

    from gazekit.callbacks import ScanpathWriter
    from gazekit.datasets.datamodule import GazeDataModule
    from gazekit.models import create_model

    dm = GazeDataModule("osie-sample", image_size=(60, 80), batch_size=64, fractions=(0.0, 0.0, 1.0))
    writer = ScanpathWriter(out_dir=str(tmp_path), n_samples=4, seed=3, max_fixations=5)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, callbacks=[writer])
    trainer.predict(create_model("centre-bias"), datamodule=dm, return_predictions=False)
    pred = Scanpaths.load(writer.path)
    native = dm.load().scanpaths
    images = list(dict.fromkeys(native.image))
    assert writer.path == tmp_path / "scanpaths.csv"
    assert pred.image == [name for name in images for _ in range(4)]
    size = {name: native.image_size[native.image.index(name)].tolist() for name in images}
    assert pred.image_size.tolist() == [size[name] for name in pred.image]
    _assert_inside(pred)
    assert int(pred.lengths.max()) <= 5 and bool((pred.duration[pred.mask] > 0).all())


@pytest.mark.slow
def test_predict_config_ddp_writes_one_table_per_rank(tmp_path):
    """2 CPU processes (DDP over gloo): each rank predicts its own images and writes scanpaths-rank<r>.csv."""
    import os
    import subprocess
    import sys

    from gazekit.paths import data_root

    if not (data_root() / "osie").is_dir():
        pytest.skip("OSIE data not available")
    out = tmp_path / "preds"
    run = subprocess.run([sys.executable, "-m", "gazekit", "predict", "--config", str(CONFIGS / "tpp_osie.yaml"),
                          "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu",
                          "--trainer.limit_predict_batches=1", f"--trainer.default_root_dir={tmp_path}",
                          "--data.init_args.images_per_batch=2", f"--writer.out_dir={out}", "--writer.n_samples=2"],
                         cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [Scanpaths.load(out / f"scanpaths-rank{r}.csv") for r in (0, 1)]
    images = [set(sp.image) for sp in ranks]
    assert [len(sp) for sp in ranks] == [4, 4] and [len(s) for s in images] == [2, 2]
    assert not images[0] & images[1]
    assert len(Scanpaths.concat(ranks)) == 8


@pytest.mark.slow  # a 2-process DDP run (~30 s here)
def test_ddp_predicts_each_image_once_when_batches_hold_scanpaths(tmp_path):
    """GazeDataModule batches by scanpath; under DDP its prediction loader shards by image, so an image whose
    scanpaths would fall on both ranks is predicted on one of them only: n_samples rows per image over all ranks
    (Lightning's own sharding by scanpath predicted every sample image on both ranks: 4 rows instead of 2)."""
    import os
    import subprocess
    import sys

    from gazekit.datasets import load_dataset

    script = Path(__file__).parent / "_scripts" / "predict_ddp.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--devices", "2"], cwd=tmp_path,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])},
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [Scanpaths.load(tmp_path / f"scanpaths-rank{r}.csv") for r in (0, 1)]
    images = [set(sp.image) for sp in ranks]
    assert not images[0] & images[1] and images[0] and images[1]
    every = set(load_dataset("osie-sample").scanpaths.image)
    assert images[0] | images[1] == every
    pred = Scanpaths.concat(ranks)
    assert sorted(pred.image) == sorted(name for name in every for _ in range(2))


def test_image_shard_sampler_keeps_each_image_on_one_rank():
    from torch.utils.data import DistributedSampler

    from gazekit.datasets.datamodule import ImageShardSampler

    images = list("aabacbdde")  # distinct in order: a b c d e -> ranks 0 1 0 1 0
    shards = [list(ImageShardSampler(images, num_replicas=2, rank=r)) for r in (0, 1)]
    assert shards == [[0, 1, 3, 4, 8], [2, 5, 6, 7]]
    assert isinstance(ImageShardSampler(images, 2, 0), DistributedSampler)  # Lightning keeps it
    assert list(ImageShardSampler(images, 3, 2)) == [4]  # c, the third distinct image
