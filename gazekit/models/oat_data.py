"""Object-level search data for OAT: the object-array trials as network batches, split by layout.

A *layout* is one search display as a set of objects plus a target: the trial id ``blk<block>-<id>`` of the
object-array data (every session of a block saw the same trials, with positions re-randomised). The split assigns
whole layouts to train / val / test, so test layouts (object sets and targets) are never seen in training.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gazekit.errors import InvalidInputError
from gazekit.models.oat_layers import crop_objects, resize_template
from gazekit.scanpaths import Scanpaths


def layout_split(trials: list[str], val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """``0`` train / ``1`` val / ``2`` test per scanpath, by a seeded hash of its layout id (stable across runs
    and machines, independent of order)."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InvalidInputError(f"bad split fractions val={val_fraction}, test={test_fraction}")
    u = np.array([int(hashlib.sha256(f"{seed}|{t}".encode()).hexdigest()[:8], 16) / 2**32 for t in trials])
    return np.where(u < test_fraction, 2, np.where(u < test_fraction + val_fraction, 1, 0))


def objarray_crop_bank(dataset, crop_size: int) -> torch.Tensor:
    """``[41, 3, S, S]`` crops of the 40 object images exactly as :meth:`OAT.prepare` crops them from a rendered
    array (object resized to its 156 px box, then RoIAlign) — row ``k`` is object id ``k`` (row 0 unused);
    the templates go through :func:`resize_template` from the full 256 px image, as at prediction time."""
    import cv2

    from gazekit.datasets.objarray import OBJECT_SIZE_PX
    from gazekit.images import load_image

    size = int(OBJECT_SIZE_PX)
    objects = torch.zeros(41, 3, crop_size, crop_size)
    templates = torch.zeros_like(objects)
    for key, path in dataset.meta["object_images"].items():
        img = load_image(path)
        tile = cv2.resize(img.permute(1, 2, 0).numpy(), (size, size), interpolation=cv2.INTER_AREA)
        tile = torch.from_numpy(tile).permute(2, 0, 1)
        objects[int(key)] = crop_objects(tile, torch.tensor([[0.0, 0.0, size, size]]), crop_size)[0]
        templates[int(key)] = resize_template(img, crop_size)
    return torch.cat([objects, templates])  # ids 0..40 objects, 41..81 templates


class ObjArrayTrials(Dataset):
    """Trials of the object-array data as dicts of tensors (object ids, centres, fixations, durations)."""

    def __init__(self, dataset, indices: np.ndarray, max_len: int):
        from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_centres

        sp = dataset.scanpaths
        self.layouts = [json.loads(sp.scanpath_attrs["layout"][i]) for i in indices]
        self.objects = [sp.fixation_attrs["object"][i, : sp.lengths[i]].long() for i in indices]
        self.durations = [sp.duration[i, : sp.lengths[i]].float() for i in indices]
        self.centres = torch.tensor(object_centres() / [SCREEN_W, SCREEN_H], dtype=torch.float32)
        self.max_len = max_len
        # what a predicted scanpath table needs to name and place each trial (see trials_to_scanpaths)
        self.info = [{"image": sp.image[i], "trial": sp.trial[i], "task": sp.task[i], "condition": sp.condition[i],
                      "target_box": sp.target_box[i].tolist()} for i in indices]

    def __len__(self) -> int:
        return len(self.layouts)

    def __getitem__(self, i: int) -> dict:
        lay = self.layouts[i]
        n = len(self.objects[i])
        keep = min(n, self.max_len)
        return {"object_ids": torch.tensor(lay["probes"]), "target_ids": torch.tensor(41 + lay["target"]),
                "fixations": self.objects[i][:keep], "durations": self.durations[i][:keep],
                "length": keep, "truncated": n > keep, "info": self.info[i]}


def collate_trials(items: list[dict], bank: torch.Tensor, centres: torch.Tensor) -> dict:
    """Batch object-array trials: padded fixated-object indices and durations, with the crop bank and object centres."""
    b = len(items)
    t = max(max(it["length"] for it in items), 1)
    fix = torch.full((b, t), -1, dtype=torch.long)
    dur = torch.full((b, t), float("nan"))
    for k, it in enumerate(items):
        fix[k, : it["length"]] = it["fixations"]
        dur[k, : it["length"]] = it["durations"]
    ids = torch.stack([it["object_ids"] for it in items])
    return {"crop_bank": bank, "object_ids": ids, "target_ids": torch.stack([it["target_ids"] for it in items]),
            "centres": centres.expand(b, -1, -1), "object_mask": torch.ones(ids.shape, dtype=torch.bool),
            "fixations": fix, "durations": dur, "lengths": torch.tensor([it["length"] for it in items]),
            "stop_known": torch.tensor([not it["truncated"] for it in items]),
            "info": [it["info"] for it in items]}


def trials_to_scanpaths(batch: dict, decoded: dict, n_samples: int) -> Scanpaths:
    """Decoded object sequences (:meth:`gazekit.models.oat.OAT.decode` on a :func:`collate_trials` batch) as
    scanpaths in screen pixels: each fixation at the centre of the chosen array position; row
    ``i * n_samples + k`` is sample k of trial i, named after the trial's shown array (``image``)."""
    from gazekit.datasets.objarray import SCREEN_H, SCREEN_W, object_centres

    objects, lengths = decoded["objects"].cpu(), decoded["lengths"].cpu()
    centres = torch.from_numpy(object_centres())  # float64 px; the batch holds them screen-normalised in float32
    info = [batch["info"][row // n_samples] for row in range(len(objects))]
    idx = [objects[row, : int(lengths[row])] for row in range(len(objects))]
    return Scanpaths.from_sequences(
        [centres[i, 0].numpy() for i in idx], [centres[i, 1].numpy() for i in idx], None,
        [decoded["durations"][row, : len(i)].cpu().numpy() for row, i in enumerate(idx)], dataset="oat",
        image=[d["image"] for d in info], subject=[f"oat-{row % n_samples}" for row in range(len(objects))],
        trial=[d["trial"] for d in info], task=[d["task"] for d in info], condition=[d["condition"] for d in info],
        target_box=np.asarray([d["target_box"] for d in info], dtype=np.float64).reshape(-1, 4),
        image_size=[float(SCREEN_W), float(SCREEN_H)], fixation_attrs={"object": [i.double().numpy() for i in idx]},
        scanpath_attrs={"stopped": [str(bool(s)).lower() for s in decoded["stopped"].tolist()]})


class ObjArrayDataModule(pl.LightningDataModule):
    """The object-array search trials for OAT, split by layout.

    Args:
        root: the ``objarray`` folder (default: under the shared data root).
        crop_size: must equal the model's ``crop_size``.
        batch_size, num_workers: data loading.
        val_fraction / test_fraction / split_seed: the layout split (see :func:`layout_split`).
        max_len: longer human scanpaths are cut to this many fixations (their stop is then not trained).
    """

    def __init__(self, root: str | None = None, crop_size: int = 32, batch_size: int = 64, num_workers: int = 0,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 0, max_len: int = 24):
        super().__init__()
        self.save_hyperparameters()
        self.dataset = None

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is not None:
            return
        from gazekit.datasets import load_dataset

        hp = self.hparams
        self.dataset = load_dataset("objarray", root=hp.root)
        self.split = layout_split(self.dataset.scanpaths.trial, hp.val_fraction, hp.test_fraction, hp.split_seed)
        self.bank = objarray_crop_bank(self.dataset, hp.crop_size)
        self.parts = {name: ObjArrayTrials(self.dataset, np.flatnonzero(self.split == k), hp.max_len)
                      for k, name in enumerate(("train", "val", "test"))}

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        centres = self.parts[part].centres
        return DataLoader(self.parts[part], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers,
                          collate_fn=lambda items: collate_trials(items, self.bank, centres))

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        return self._loader("val", False)

    def test_dataloader(self):
        return self._loader("test", False)

    def predict_dataloader(self):
        return self._loader("test", False)
