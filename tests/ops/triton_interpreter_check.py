"""Run the Triton blend kernels in the interpreter (CPU tensors) and print their largest differences from the CPU
kernel as JSON. Run as a subprocess by test_triton.py: TRITON_INTERPRET must be set before triton is imported."""

from __future__ import annotations

import json
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402

from gazekit.ops import _triton  # noqa: E402
from gazekit.ops import op  # noqa: E402,F401  (registers gazekit::foveate_blend)
from gazekit.ops._layout import build_chain  # noqa: E402


def main() -> None:
    g = torch.Generator().manual_seed(0)
    b, c, h, w, levels = 2, 3, 13, 19, 4
    x = torch.rand(b, c, h, w, generator=g)
    chain = build_chain(x, levels)
    fix = torch.rand(b, 3, 2, generator=g) * torch.tensor([w * 1.4, h * 1.4]) - torch.tensor([w * 0.2, h * 0.2])
    valid = torch.tensor([[True, False, True], [False, True, True]])
    lam = torch.rand(b, h, w, generator=g) * 3.4 - 0.2
    grad = torch.randn(b, c, h, w, generator=g)
    cases = {
        "fixations_linear": (fix, valid, None, 1.7, 1.0, 0.0, False),
        "fixations_pg_ppd": (fix, None, None, 0.1, 1 / 20.0, 0.5, True),
        "map_pg": (None, None, lam, 1.0, 1.0, 0.0, True),
    }
    result = {}
    for name, (f, v, m, e2, scale, offset, pg) in cases.items():
        args = (x, chain, f, v, m, levels, e2, scale, offset, pg)
        cpu = torch.ops.gazekit.foveate_blend(*args)
        tri = _triton.blend_forward(*args)
        cpu_g = torch.ops.gazekit.foveate_blend_backward(grad, *args)
        tri_g = _triton.blend_backward(grad, *args)
        diffs = {"out": (cpu - tri).abs().max().item()}
        for key, a, t in zip(("x", "chain", "fix", "map"), cpu_g, tri_g):
            diffs[key] = (a - t).abs().max().item() if a.numel() else 0.0
            diffs[key + "_scale"] = a.abs().max().item() if a.numel() else 0.0
        result[name] = diffs
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
