"""The contract every gazekit scanpath model follows (a LightningModule).

* ``predict_scanpaths(request) -> Scanpaths``: sample or decode scanpaths for a batch of images, in pixels of the
  images given (x, y origin top-left; durations in ms, NaN only if the model has no durations). Scanpath ``k`` of
  image ``i`` is row ``i * request.n_samples + k``; its ``image`` attribute is ``request.image_names[i]``.
* ``conditional_log_density(images, history) -> Tensor`` (probabilistic models only): ``[B, L, H, W]`` natural-log
  densities over the pixels of the images, entry ``[b, k]`` is the density of fixation ``k`` of ``history[b]``
  given fixations ``0..k-1`` (``k = 0``: no history); each map sums (``logsumexp``) to 0 over pixels.
  The conditional metrics (cIG, cNSS, cAUC) and pysaliency-style evaluation consume it.
* ``task_kind``: ``"freeview"``, ``"search"`` or ``"object_search"``; selects the evaluation protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from gazekit.scanpaths import Scanpaths


@dataclass
class PredictRequest:
    """Inputs for ``predict_scanpaths``; models read the fields they need and raise on missing ones.

    images: ``[B, 3, H, W]`` float RGB in [0, 1].
    image_names: B names written into the output scanpaths' ``image`` field.
    n_samples: scanpaths per image. seconds / max_fixations: stopping rules (None = model default).
    target_text: B target names or captions. templates: B ``[3, h, w]`` target template images.
    target_box: ``[B, 4]`` (x0, y0, x1, y1) px. boxes: B ``[N_i, 4]`` object boxes (x0, y0, x1, y1) px.
    temperature: sampling temperature (0 = greedy where the model supports it). seed: RNG seed.
    """

    images: Tensor
    image_names: list[str]
    n_samples: int = 1
    seconds: float | None = None
    max_fixations: int | None = None
    target_text: list[str] | None = None
    templates: list[Tensor] | None = None
    target_box: Tensor | None = None
    boxes: list[Tensor] | None = None
    target_index: list[int] | None = None
    temperature: float = 1.0
    seed: int | None = None
    extra: dict = field(default_factory=dict)


def generator_for(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
