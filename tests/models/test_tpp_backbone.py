"""The timm ``features_only`` backbone wrapper: local checkpoints, clear errors, no downloads."""

from __future__ import annotations

import pytest
import timm
import torch

from gazekit.errors import InvalidInputError
from gazekit.models.backbones import Backbone


def test_features_and_strides():
    bb = Backbone("lcnet_050")
    feats = bb(torch.rand(2, 3, 64, 96))
    assert bb.reductions == [8, 16, 32]
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // r, 96 // r) for c, r in zip(bb.channels, bb.reductions)]


def test_local_checkpoint_of_a_full_timm_model_loads(tmp_path):
    torch.manual_seed(1)
    full = timm.create_model("lcnet_050", pretrained=False)
    path = tmp_path / "lcnet.pth"
    torch.save({"state_dict": full.state_dict()}, path)
    bb = Backbone("lcnet_050", pretrained=str(path))
    assert torch.equal(bb.body.state_dict()["conv_stem.weight"], full.state_dict()["conv_stem.weight"])


def test_bad_backbones_give_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown timm backbone"):
        Backbone("no_such_net")
    with pytest.raises(InvalidInputError, match="does not exist"):
        Backbone("lcnet_050", pretrained=str(tmp_path / "missing.pth"))
    other = tmp_path / "other.pth"
    torch.save({"unrelated.weight": torch.zeros(3)}, other)
    with pytest.raises(InvalidInputError, match="no weights matching"):
        Backbone("lcnet_050", pretrained=str(other))
    with pytest.raises(InvalidInputError, match=r"\[B, 3, H, W\]"):
        Backbone("lcnet_050")(torch.rand(1, 1, 64, 64))
