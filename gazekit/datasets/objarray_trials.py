"""Object-level search data (OAT's): the object-array trials as network batches, split by layout.

A *layout* is one search display as a set of objects plus a target: the trial id ``blk<block>-<id>`` of the
object-array data (every session of a block saw the same trials, with positions re-randomised). The split assigns
whole layouts to train / val / test, so test layouts (object sets and targets) are never seen in training.
"""

from __future__ import annotations

import json

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gazekit.datasets.splits import SplitLoaders, split_by
from gazekit.images import crop_objects, resize_template

# The layout split the shipped OAT was trained and is evaluated on: split_by(trial ids, LAYOUT_FRACTIONS,
# LAYOUT_SEED, rule="hash"), i.e. whole layouts go to train / val / test by a seeded hash of their id.
LAYOUT_FRACTIONS = (0.7, 0.1, 0.2)
LAYOUT_SEED = 0


def objarray_crop_bank(dataset, crop_size: int) -> torch.Tensor:
    """``[82, 3, S, S]`` crops of the 40 object images exactly as :meth:`gazekit.models.oat.OAT.prepare` crops
    them from a rendered array (object resized to its 156 px box, then RoIAlign): row ``k`` is object id ``k`` (row
    0 unused), row ``41 + k`` its template;
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


class ObjArrayDataModule(SplitLoaders, pl.LightningDataModule):
    """The object-array search trials for OAT, split by layout.

    Args:
        root: the ``objarray`` folder (default: under the shared data root).
        crop_size: must equal the model's ``crop_size``.
        batch_size, num_workers: data loading.
        val_fraction / test_fraction / split_seed: the layout split: ``split_by(trial ids, (1 - val - test, val,
            test), split_seed, rule="hash")`` (:func:`gazekit.datasets.splits.split_by`).
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
        fractions = (1.0 - hp.val_fraction - hp.test_fraction, hp.val_fraction, hp.test_fraction)
        parts = split_by(self.dataset.scanpaths.trial, fractions, hp.split_seed, rule="hash")
        self.bank = objarray_crop_bank(self.dataset, hp.crop_size)
        self.parts = {name: ObjArrayTrials(self.dataset, idx, hp.max_len) for name, idx in parts.items()}

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        centres = self.parts[part].centres
        return DataLoader(self.parts[part], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers,
                          collate_fn=lambda items: collate_trials(items, self.bank, centres))

    def predict_dataloader(self):
        return self._loader("test", False)
