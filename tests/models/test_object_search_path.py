"""One prediction path for object search (#16.2): OAT's crop-bank decoding is the fast path of
``predict_scanpaths``, and the object-search floors are registered models answering the same request."""

from __future__ import annotations

import torch

from gazekit.models import create_model
from gazekit.models.base import PredictRequest, ScanpathPredictor
from gazekit.models.object_search_baselines import baseline_sequences


def _bank_request(b: int = 5, n: int = 6, seed: int = 0) -> tuple[PredictRequest, dict]:
    g = torch.Generator().manual_seed(seed)
    bank = torch.rand(12, 3, 16, 16, generator=g)
    ids = torch.stack([torch.randperm(10, generator=g)[:n] for _ in range(b)])
    target_ids = torch.randint(0, 12, (b,), generator=g)
    centres = torch.rand(b, n, 2, generator=g)
    boxes = [torch.cat([c * 100 - 5, c * 100 + 5], 1) for c in centres]
    extra = {"crop_bank": bank, "object_ids": ids, "target_ids": target_ids, "centres": centres,
             "image_size": (100.0, 100.0)}
    request = PredictRequest(images=None, image_names=[f"d{i}" for i in range(b)], boxes=boxes, n_samples=3,
                             target_index=[None] * b, extra=extra)
    batch = {"crop_bank": bank, "object_ids": ids, "target_ids": target_ids, "centres": centres,
             "object_mask": torch.ones(b, n, dtype=torch.bool)}
    return request, batch


def test_oat_crop_bank_request_is_its_decode():
    torch.manual_seed(0)
    model = create_model("oat-tiny").eval()
    request, batch = _bank_request()
    request.generator = torch.Generator().manual_seed(7)
    sp = model.predict_scanpaths(request)
    ref = model.decode(batch, 3, 1.0, None, torch.Generator().manual_seed(7))
    assert len(sp) == 15 and sp.lengths.tolist() == ref["lengths"].tolist()
    for r in range(len(sp)):
        n = int(sp.lengths[r])
        assert sp.fixation_attrs["object"][r, :n].long().tolist() == ref["objects"][r, :n].tolist()
        box = request.boxes[r // 3][ref["objects"][r, 0]] if n else None
        if n:  # the fixation sits at the centre of the chosen object's box
            assert float(sp.x[r, 0]) == float((box[0] + box[2]) / 2)


def test_baselines_are_registered_models():
    for kind in ("random", "nearest", "similarity"):
        m = create_model(f"object-{kind}")
        assert isinstance(m, ScanpathPredictor) and m.task_kind == "object_search"


def test_nearest_baseline_by_hand():
    """Three objects on a row (x = 0, 10, 4), start at the centre of a 10 x 2 px frame (5, 1): nearest-first is
    4, then 0, then 10 (objects 2, 0, 1); with object 0 as the target the search stops there."""
    boxes = torch.tensor([[-0.5, 0.5, 0.5, 1.5], [9.5, 0.5, 10.5, 1.5], [3.5, 0.5, 4.5, 1.5]])
    model = create_model("object-nearest")
    for target, expected in ((0, [2, 0]), (None, [2, 0, 1])):
        sp = model.predict_scanpaths(PredictRequest(images=None, image_names=["a"], boxes=[boxes],
                                                    target_index=[target], extra={"image_size": (10.0, 2.0)}))
        n = int(sp.lengths[0])
        assert sp.fixation_attrs["object"][0, :n].long().tolist() == expected
        assert sp.x[0, :n].tolist() == [[0.0, 10.0, 4.0][k] for k in expected]


def test_similarity_baseline_on_an_image_goes_to_the_matching_colour_first():
    image = torch.full((3, 40, 120), 0.5)
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    boxes = []
    for k, c in enumerate(colours):
        image[:, 10:30, 10 + 40 * k: 30 + 40 * k] = torch.tensor(c)[:, None, None]
        boxes.append([10.0 + 40 * k, 10.0, 30.0 + 40 * k, 30.0])
    template = torch.tensor(colours[2])[:, None, None].expand(3, 8, 8).clone()
    sp = create_model("object-similarity").predict_scanpaths(PredictRequest(
        images=image[None], image_names=["x"], boxes=[torch.tensor(boxes)], templates=[template],
        target_index=[2]))
    assert sp.fixation_attrs["object"][0, : int(sp.lengths[0])].long().tolist() == [2]


def test_random_baseline_draws_from_the_shared_generator():
    request, _ = _bank_request()
    centres = torch.stack([torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], -1) for b in request.boxes])
    request.generator = torch.Generator().manual_seed(3)
    sp = create_model("object-random").predict_scanpaths(request)
    objs, lens = baseline_sequences("random", centres.double(), torch.tensor([50.0, 50.0]),
                                    torch.full((5,), -1), n_samples=3, generator=torch.Generator().manual_seed(3))
    assert sp.lengths.tolist() == lens.tolist() == [6] * 15
    assert sp.fixation_attrs["object"].long().tolist() == objs.tolist()
