"""The fused CPU path on large images (outputs and pyramid chains of several MiB): same values as the
plain-torch reference, and the returned tensors behave as ordinary tensors."""

from __future__ import annotations

import gc

import pytest
import torch

from gazekit.ops import foveate
from gazekit.ops import op as op_module


@pytest.mark.skipif(not op_module.cpu_kernel_available(), reason="numba kernel not available")
def test_large_image_matches_reference_and_buffers_are_ordinary_tensors():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 1100, 1030, generator=g)  # 13.6 MB, odd-sized pyramid levels
    f = torch.tensor([[[200.5, 900.25], [1000.0, 10.0]]])
    ours = foveate(x, f, levels=6, e2=24.0)
    ref = foveate(x, f, levels=6, e2=24.0, backend="reference")
    assert (ours - ref).abs().max().item() < 2e-6
    chain = op_module.pyramid_chain(x, 6)
    assert chain.shape[2] * 4 * 3 >= 4 << 20 and ours.is_contiguous()
    del x, chain
    gc.collect()  # the mapping lives as long as the tensor
    kept = ours.clone()
    ours.mul_(2.0)
    assert torch.equal(ours, kept * 2.0) and ours.view(-1).shape[0] == 3 * 1100 * 1030
    small = op_module._new_buffer((2, 3), torch.float32)
    big = op_module._new_buffer((3, 1 << 20), torch.float64)
    assert small.shape == (2, 3) and big.shape == (3, 1 << 20) and big.dtype == torch.float64
    big.fill_(1.5)
    assert big.sum().item() == 1.5 * 3 * (1 << 20)
