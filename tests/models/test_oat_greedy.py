"""OAT greedy decoding (temperature 0) stops: the stop rule, the step cap, and target-absent trials on real data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gazekit.models import create_model
from tests.conftest import require_data
from tests.models.test_oat import colour_batch


def fixed_step_outputs(p_stop: float, n: int, favourite: int = 2):
    """``step_outputs`` replacement: every step, stop has probability ``p_stop`` and object ``favourite`` is the
    argmax (the rest share what is left), whatever was fixated before: a model that refixates forever under
    plain argmax."""
    probs = torch.full((n + 1,), (1 - p_stop) * 0.2 / (n - 1), dtype=torch.float64)
    probs[favourite] = (1 - p_stop) * 0.8
    probs[n] = p_stop
    logits = probs.log().float()

    def step_outputs(memory, object_mask, prefix):
        b, t = prefix.shape
        return logits.expand(b, t + 1, n + 1).clone(), None

    return step_outputs


@pytest.mark.parametrize("p_stop,expected_len", [(0.3, 1), (0.1, 6), (0.05, 13)])
def test_greedy_stops_at_the_median_stopping_time(monkeypatch, p_stop, expected_len):
    """Stop probability p at every step: P(stopped within k steps) = 1 - (1 - p)^k first reaches 1/2 at
    k = ceil(log 2 / -log(1 - p)) (2, 7, 14 for p = 0.3, 0.1, 0.05); the sequence holds the k - 1 objects before
    that stop. Plain argmax (the object scores 0.8 (1 - p) > p) never stopped."""
    model = create_model("oat-tiny").eval()
    batch, _ = colour_batch(3, n=6)
    monkeypatch.setattr(model, "step_outputs", fixed_step_outputs(p_stop, 6))
    k = math.ceil(math.log(2) / -math.log1p(-p_stop))
    assert k - 1 == expected_len
    out = model.decode(batch, temperature=0, max_fixations=40)
    assert out["lengths"].tolist() == [expected_len] * 3
    assert out["stopped"].all()
    assert (out["objects"][:, :expected_len] == 2).all()
    assert torch.isfinite(out["durations"]).sum() == 0  # no duration head in this stand-in: NaN durations


def test_greedy_step_cap(monkeypatch):
    """A model that never stops ends at max_fixations, marked as not stopped."""
    model = create_model("oat-tiny").eval()
    batch, _ = colour_batch(2, n=6)
    monkeypatch.setattr(model, "step_outputs", fixed_step_outputs(0.0, 6))
    out = model.decode(batch, temperature=0, max_fixations=9)
    assert out["lengths"].tolist() == [9, 9] and not out["stopped"].any()
    out = model.decode(batch, temperature=0)  # no cap given: the model's own (hparams.max_fixations)
    assert out["lengths"].tolist() == [model.hparams.max_fixations] * 2


def test_greedy_still_stops_when_stop_is_the_argmax(monkeypatch):
    model = create_model("oat-tiny").eval()
    batch, _ = colour_batch(2, n=6)
    monkeypatch.setattr(model, "step_outputs", fixed_step_outputs(0.9, 6))
    out = model.decode(batch, temperature=0, max_fixations=9)
    assert out["lengths"].tolist() == [0, 0] and out["stopped"].all()


def test_greedy_target_absent_on_real_data():
    """The shipped weights on held-out target-absent layouts: plain argmax refixated one object until the cap
    (62 % stopped within 60 steps, mean length 35.5 vs 5.3 for the humans); greedy now stops on all of them
    with human-like lengths (measured 6.3 on these 150 trials), and target-present trials are unchanged."""
    require_data("objarray", "subjectsdata", "LISTCORRECTFILES.txt")
    from gazekit.datasets import load_dataset
    from gazekit.datasets.objarray_trials import ObjArrayTrials, collate_trials, objarray_crop_bank
    from gazekit.datasets.splits import split_by

    model = create_model("oat-objarray")
    ds = load_dataset("objarray")
    test = split_by(ds.scanpaths.trial, (0.7, 0.1, 0.2), 0, rule="hash")["test"]
    bank = objarray_crop_bank(ds, 32)
    means = {}
    for cond in ("absent", "present"):
        rows = [i for i in test if ds.scanpaths.condition[i] == cond][:150]
        trials = ObjArrayTrials(ds, np.array(rows), max_len=50)
        batch = collate_trials([trials[k] for k in range(len(trials))], bank, trials.centres)
        out = model.decode(batch, temperature=0, max_fixations=60)
        assert out["stopped"].all(), cond
        human = float(ds.scanpaths.lengths[rows].double().mean())
        means[cond] = float(out["lengths"].double().mean())
        assert means[cond] < 2 * human, (cond, means[cond], human)
    assert means["absent"] > 2 * means["present"]  # absent searches are longer, as for the humans
