"""Object-search floors, registered as models (``task_kind = "object_search"``), like the search baselines:

* ``object-random``: the objects in a random order;
* ``object-nearest``: from the image centre always to the nearest unvisited object (ties: lowest index);
* ``object-similarity``: objects by decreasing cosine similarity of their crop's pixels (mean-removed) with the
  target template's.

Each stops on reaching the target (``request.target_index``), or after every object when the target is absent
(``target_index`` None). Requests are OAT's: ``boxes`` plus ``templates`` / ``target_index`` on ``images``, or
the pre-cropped fast path (``extra["crop_bank"]``, ``object_ids``, ``target_ids``, ``image_size``) that the
object-search evaluation uses. Fixations sit at the chosen object's box centre; ``fixation_attrs["object"]`` is
the index into the boxes; durations are NaN (the baselines have none).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models.base import PredictRequest, generator_for
from gazekit.models.registry import register_model
from gazekit.scanpaths import Scanpaths

KINDS = ("random", "nearest", "similarity")


def baseline_sequences(kind: str, centres: Tensor, start: Tensor, target_pos: Tensor,
                       crop_feats: Tensor | None = None, target_feats: Tensor | None = None,
                       n_samples: int = 1, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Object sequences ``[B * n_samples, N]`` (-1 padded) and lengths of a baseline.

    Args:
        kind: ``"random"``, ``"nearest"`` or ``"similarity"``.
        centres: ``[B, N, 2]`` object centres px. start: ``[2]`` start position px (screen centre).
        target_pos: ``[B]`` target object index, -1 when absent (the sequence then visits every object).
        crop_feats / target_feats: ``[B, N, F]`` / ``[B, F]`` appearance vectors (``"similarity"`` only).
    """
    b, n, _ = centres.shape
    if kind == "random":
        order = torch.argsort(torch.rand(b * n_samples, n, generator=generator), dim=1)
    elif kind == "nearest":
        order = torch.empty(b, n, dtype=torch.long)
        pos = start.expand(b, 2).clone().double()
        visited = torch.zeros(b, n, dtype=torch.bool)
        for k in range(n):
            d = torch.linalg.norm(centres.double() - pos[:, None], dim=-1).masked_fill(visited, math.inf)
            d = torch.round(d, decimals=6)  # equal distances tie exactly, then the lowest index wins
            nxt = d.argmin(1)
            order[:, k] = nxt
            visited[torch.arange(b), nxt] = True
            pos = centres[torch.arange(b), nxt].double()
        order = order.repeat_interleave(n_samples, 0)
    elif kind == "similarity":
        if crop_feats is None or target_feats is None:
            raise InvalidInputError("the similarity baseline needs crop_feats and target_feats")
        f = crop_feats - crop_feats.mean(-1, keepdim=True)
        t = target_feats - target_feats.mean(-1, keepdim=True)
        sim = torch.nn.functional.cosine_similarity(f, t[:, None], dim=-1)
        order = torch.argsort(-sim, dim=1, stable=True).repeat_interleave(n_samples, 0)
    else:
        raise InvalidInputError(f"unknown baseline {kind!r}; use random, nearest or similarity")
    tp = target_pos.repeat_interleave(n_samples, 0)
    hit = order == tp[:, None]
    lengths = torch.where(hit.any(1), hit.float().argmax(1) + 1, torch.full_like(tp, n))
    objects = torch.where(torch.arange(n)[None] < lengths[:, None], order, -1)
    return objects, lengths


class ObjectSearchBaseline(nn.Module):
    """One of :data:`KINDS` as a gazekit model (see the module docstring). ``crop_size``: side of the crops the
    similarity baseline compares when it crops images itself."""

    task_kind = "object_search"

    def __init__(self, kind: str, crop_size: int = 32):
        super().__init__()
        if kind not in KINDS:
            raise InvalidInputError(f"object-search baseline kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.crop_size = kind, int(crop_size)

    def _features(self, request: PredictRequest, boxes: list[Tensor]) -> tuple[Tensor | None, Tensor | None]:
        if self.kind != "similarity":
            return None, None
        extra = request.extra
        if "crop_bank" in extra:
            bank = extra["crop_bank"]
            return bank[extra["object_ids"]].flatten(2), bank[extra["target_ids"]].flatten(1)
        from gazekit.models.oat_layers import crop_objects, resize_template

        crops = torch.stack([crop_objects(request.images[i], bx, self.crop_size) for i, bx in enumerate(boxes)])
        targets = []
        for i, bx in enumerate(boxes):
            if request.templates is not None and request.templates[i] is not None:
                targets.append(resize_template(torch.as_tensor(request.templates[i]), self.crop_size))
            elif request.target_index is not None and request.target_index[i] is not None:
                targets.append(crops[i, int(request.target_index[i])])
            else:
                raise InvalidInputError(f"image {i}: the similarity baseline needs a template or a target_index")
        return crops.flatten(2), torch.stack(targets).flatten(1)

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """``request.n_samples`` object sequences per display (see the module docstring for the request)."""
        if request.boxes is None or len(request.boxes) != len(request.image_names):
            raise InvalidInputError(f"object-{self.kind} needs one [N, 4] box array per image")
        boxes = [torch.as_tensor(b, dtype=torch.float64).reshape(-1, 4) for b in request.boxes]
        if len({len(b) for b in boxes}) != 1:
            raise InvalidInputError("object-search baselines need the same number of objects in every display of "
                                    "one request")
        if "image_size" in request.extra:
            w, h = (float(v) for v in request.extra["image_size"])
        else:
            h, w = (float(v) for v in request.images.shape[-2:])
        centres = torch.stack([torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], -1) for b in boxes])
        tidx = request.target_index or [None] * len(boxes)
        target_pos = torch.tensor([-1 if t is None else int(t) for t in tidx])
        feats, tfeats = self._features(request, boxes)
        ns = request.n_samples
        objects, lengths = baseline_sequences(self.kind, centres, torch.tensor([w / 2, h / 2]), target_pos, feats,
                                              tfeats, ns, generator_for(request.seed, "cpu", request.generator))
        rows = [objects[r, : int(lengths[r])] for r in range(len(objects))]
        return Scanpaths.from_sequences(
            [centres[r // ns][i, 0].numpy() for r, i in enumerate(rows)],
            [centres[r // ns][i, 1].numpy() for r, i in enumerate(rows)], None,
            [torch.full((len(i),), math.nan, dtype=torch.float64).numpy() for i in rows],
            dataset=f"object-{self.kind}", image=[request.image_names[r // ns] for r in range(len(rows))],
            subject=[f"object-{self.kind}-{r % ns}" for r in range(len(rows))], image_size=[w, h],
            fixation_attrs={"object": [i.double().numpy() for i in rows]})


_INFO = dict(predicts=("positions", "stop"), inputs=("image", "boxes", "target_template"))


def _no_weights(name: str, checkpoint: dict | None) -> None:
    if checkpoint is not None:
        raise InvalidInputError(f"model {name!r} has no weights; got a checkpoint (pretrained=...)")


@register_model("object-random", **_INFO, description="Object-search floor: the objects in a random order, stop on "
                                                      "the target")
def object_random(checkpoint: dict | None = None, **kwargs) -> ObjectSearchBaseline:
    """The ``random`` object-search floor (no weights)."""
    _no_weights("object-random", checkpoint)
    return ObjectSearchBaseline("random", **kwargs)


@register_model("object-nearest", **_INFO, description="Object-search floor: from the centre always to the nearest "
                                                       "unvisited object, stop on the target")
def object_nearest(checkpoint: dict | None = None, **kwargs) -> ObjectSearchBaseline:
    """The ``nearest`` object-search floor (no weights)."""
    _no_weights("object-nearest", checkpoint)
    return ObjectSearchBaseline("nearest", **kwargs)


@register_model("object-similarity", **_INFO, description="Object-search floor: objects by pixel similarity to the "
                                                          "target template, stop on the target")
def object_similarity(checkpoint: dict | None = None, **kwargs) -> ObjectSearchBaseline:
    """The ``similarity`` object-search floor (no weights)."""
    _no_weights("object-similarity", checkpoint)
    return ObjectSearchBaseline("similarity", **kwargs)
