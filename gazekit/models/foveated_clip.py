"""Foveated CLIP search (NevaClip: Zanca et al., "Contrastive Language-Image Pretrained Models are Zero-Shot Human
Scanpath Predictors"; algorithm from NeVA, Schwinn et al.).

Each next fixation is found by test-time optimisation of the fixation location: the image is foveated at a
candidate location (NeVA's blend with one blurred copy, :func:`gazekit.ops.foveate` ``mode="neva"``, whose memory
of the past fixations gives inhibition of return), scored by a differentiable scorer (default: 1 - cosine between
the CLIP embedding of the foveated image and the CLIP embedding of the text), and the location is moved by
sign-gradient steps, the gradient flowing through the foveation op. Restarts (random initial locations, re-sampled
when the loss stops improving) fight the local optima; the best location over all steps and restarts wins.

Differences from the public NevaClip code, on purpose: any open_clip model and weights (``pretrained`` is an
open_clip tag or a local checkpoint, loaded by open_clip itself); many images x many start points x restarts in one
batched optimisation; fixations come out as (x, y) pixels of the input image (the public code returns (row, col) on
a [-1, 1] grid); a start fixation, a stop rule on the target box and fitted log-normal durations make the output a
complete search scanpath.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gazekit.errors import InvalidInputError
from gazekit.models._search_common import (
    INTERIORS_LOG_DURATION_MU,
    INTERIORS_LOG_DURATION_SIGMA,
    SearchModel,
    check_images,
    in_box,
    make_scanpaths,
    request_starts,
    request_target_boxes,
    scanpath_seeds,
)
from gazekit.models.base import PredictRequest, generator_for
from gazekit.models.registry import register_model
from gazekit.scanpaths import Scanpaths

__all__ = ["ClipScorer", "FoveatedClipSearch"]


class ClipScorer(nn.Module):
    """1 - cosine(CLIP image embedding of the foveated image, CLIP text embedding), for any open_clip model.

    Args:
        model_name: an open_clip architecture (``open_clip.list_models()``), e.g. ``"RN50"`` (NevaClip's) or
            ``"ViT-B-32"``; configs added with ``open_clip.add_model_config`` work too.
        pretrained: an open_clip pretrained tag (``"openai"``, ``"laion2b_s34b_b79k"``, ...; needs the weights in
            the local cache or network access) or a local checkpoint path; None = random initialisation (only
            useful to test the mechanics).
    """

    def __init__(self, model_name: str = "RN50", pretrained: str | None = None):
        super().__init__()
        import open_clip

        if model_name not in open_clip.list_models():
            raise InvalidInputError(f"unknown open_clip model {model_name!r}; see open_clip.list_models() or "
                                    "register a config with open_clip.add_model_config")
        try:
            model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        except (RuntimeError, OSError, ConnectionError) as err:
            raise InvalidInputError(
                f"could not load open_clip weights {pretrained!r} for {model_name!r}: {err}. Nothing can be "
                "downloaded offline: pass a local checkpoint path as pretrained=...") from err
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(model_name)
        size = model.visual.image_size
        self.input_size = (size, size) if isinstance(size, int) else tuple(size)
        mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def encode_targets(self, texts: list[str]) -> Tensor:
        """``[B, D]`` unit-norm text embeddings."""
        device = self.mean.device
        emb = self.model.encode_text(self.tokenizer(texts).to(device))
        return F.normalize(emb.float(), dim=-1)

    def forward(self, images: Tensor, targets: Tensor) -> Tensor:
        """``[N]`` loss of ``[N, 3, h, w]`` images in [0, 1] against ``[N, D]`` target embeddings."""
        emb = self.model.encode_image((images - self.mean) / self.std)
        return 1.0 - (F.normalize(emb.float(), dim=-1) * targets).sum(-1)


class FoveatedClipSearch(SearchModel):
    """Foveated CLIP search (NevaClip-style), a LightningModule with ``task_kind = "search"``.

    Args:
        model_name, backbone_pretrained: the open_clip model and its weights (tag or local path), see
            :class:`ClipScorer`. Whole-model weights are ``create_model(..., pretrained=CHECKPOINT)``.
        scorer: instead of CLIP, any module with ``input_size`` (h, w), ``encode_targets(list[str]) -> [B, D]``
            and ``forward(images [N, 3, h, w] in [0, 1], targets [N, D]) -> loss [N]`` (differentiable in the
            images); lower loss = better fixation.
        prompt: format string applied to each target text (``"a photo of a {}."``; ``"{}"`` for captions).
        fovea_sigma: NeVA mask ``exp(-d^2 / fovea_sigma)`` with d on a [-1, 1] grid (NevaClip: 0.2).
        blur_kernel, blur_sigma: the peripheral blur at the scorer's input size, px (NevaClip: 41, 10).
        steps: sign-gradient steps per fixation (NevaClip: 20). lr: step size on the [-1, 1] grid (NevaClip: 0.1).
        lr_decay: the step size is multiplied by this after every step (NevaClip: 1, constant); < 1 lets the
            location settle more precisely than ``lr``.
        restarts: optimisations run in parallel per fixation: the first starts at the image centre, the others at
            uniform random locations; the best wins.
        resample_on_plateau: re-sample a candidate uniformly when a step does not lower its loss (NevaClip).
        forgetting: memory decay of past foveations (NevaClip: 0 = only the previous fixation is remembered).
        max_fixations: scanpath length limit, start fixation included. stop_on_target: end a search whose fixation
            lands in its target box (oracle recognition, as in eccNet / IRL evaluations).
        chunk_size: candidates foveated and scored per forward pass (memory bound).
        duration_mu, duration_sigma, target_margin_px, val_searches: see
            :class:`~gazekit.models._search_common.SearchModel`.
    """

    checkpoint_format = "gazekit-foveated-clip"

    def __init__(self, model_name: str = "RN50", backbone_pretrained: str | None = None,
                 scorer: nn.Module | None = None,
                 prompt: str = "{}", fovea_sigma: float = 0.2, blur_kernel: int = 41, blur_sigma: float = 10.0,
                 steps: int = 20, lr: float = 0.1, lr_decay: float = 1.0, restarts: int = 1,
                 resample_on_plateau: bool = True,
                 forgetting: float = 0.0, max_fixations: int = 10, stop_on_target: bool = True,
                 chunk_size: int = 64, duration_mu: float = INTERIORS_LOG_DURATION_MU,
                 duration_sigma: float = INTERIORS_LOG_DURATION_SIGMA, target_margin_px: float = 0.0,
                 val_searches: int | None = None):
        super().__init__(duration_mu, duration_sigma, max_fixations, target_margin_px, val_searches)
        if steps < 1 or restarts < 1 or chunk_size < 1 or not lr > 0 or not fovea_sigma > 0:
            raise InvalidInputError(f"need steps, restarts, chunk_size >= 1 and lr, fovea_sigma > 0; got {steps}, "
                                    f"{restarts}, {chunk_size}, {lr}, {fovea_sigma}")
        if not 0.0 < lr_decay <= 1.0:
            raise InvalidInputError(f"lr_decay must lie in (0, 1], got {lr_decay}")
        if not 0.0 <= forgetting <= 1.0:
            raise InvalidInputError(f"forgetting must lie in [0, 1], got {forgetting}")
        if "{}" not in prompt:
            raise InvalidInputError(f"prompt must contain '{{}}' where the target text goes, got {prompt!r}")
        self.save_hyperparameters(ignore=["scorer"])
        self.scorer = scorer if scorer is not None else ClipScorer(model_name, backbone_pretrained)
        for name in ("input_size", "encode_targets"):
            if not hasattr(self.scorer, name):
                raise InvalidInputError(f"scorer has no {name!r}; see FoveatedClipSearch's docstring")
        self.prompt, self.fovea_sigma = prompt, float(fovea_sigma)
        self.blur_kernel, self.blur_sigma = int(blur_kernel), float(blur_sigma)
        self.steps, self.lr, self.lr_decay, self.restarts = int(steps), float(lr), float(lr_decay), int(restarts)
        self.resample_on_plateau, self.forgetting = bool(resample_on_plateau), float(forgetting)
        self.stop_on_target, self.chunk_size = bool(stop_on_target), int(chunk_size)

    # ------------------------------------------------------------------ grid <-> pixels
    @staticmethod
    def grid_to_px(u: Tensor, size_hw: tuple[int, int]) -> Tensor:
        """(x, y) on the [-1, 1] grid -> (x, y) px of an image of ``size_hw`` (NeVA grid: pixel centre j at
        -1 + 2 j / (W - 1))."""
        h, w = size_hw
        return torch.stack([0.5 + (u[..., 0] + 1) * (w - 1) / 2, 0.5 + (u[..., 1] + 1) * (h - 1) / 2], dim=-1)

    @staticmethod
    def px_to_grid(xy: Tensor, size_hw: tuple[int, int]) -> Tensor:
        """(x, y) pixel positions to ``grid_sample`` coordinates in [-1, 1] for an image of ``size_hw``."""
        h, w = size_hw
        return torch.stack([(xy[..., 0] - 0.5) * 2 / max(w - 1, 1) - 1, (xy[..., 1] - 0.5) * 2 / max(h - 1, 1) - 1],
                           dim=-1)

    # ------------------------------------------------------------------ one fixation
    def _losses(self, work: Tensor, blurred: Tensor, targets: Tensor, history: Tensor, cand: Tensor,
                owner: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None]:
        """Loss (and its gradient w.r.t. ``cand``) of candidates ``cand`` [M, 2] (grid units) of searches
        ``owner`` [M], each with its past fixations ``history[owner]`` [M, k, 2] (work px)."""
        from gazekit.ops import foveate

        size = work.shape[-2:]
        losses, grads = [], []
        for lo in range(0, cand.shape[0], self.chunk_size):
            idx = owner[lo: lo + self.chunk_size]
            u = cand[lo: lo + self.chunk_size].detach().clone().requires_grad_(need_grad)
            with torch.enable_grad():
                fix = torch.cat([history[idx], self.grid_to_px(u, size)[:, None].to(history)], dim=1)
                fov = foveate(work[idx], fix.to(work.dtype), mode="neva", blurred=blurred[idx],
                              sigma=self.fovea_sigma, forgetting=self.forgetting)
                loss = self.scorer(fov, targets[idx])
                if need_grad:
                    grads.append(torch.autograd.grad(loss.sum(), u)[0])
            losses.append(loss.detach())
        return torch.cat(losses), (torch.cat(grads) if need_grad else None)

    def next_fixations(self, work: Tensor, blurred: Tensor, targets: Tensor, history: Tensor,
                       gens: list[torch.Generator | None]) -> Tensor:
        """Optimise the next fixation of each of N searches; returns ``[N, 2]`` grid units (x, y)."""
        n, r = history.shape[0], self.restarts
        device = work.device
        owner = torch.arange(n, device=device).repeat_interleave(r)

        def uniform(rows: Tensor) -> Tensor:  # per-search generators keep results batch-independent
            out = torch.zeros(rows.numel(), 2, dtype=torch.float64)
            for j, row in enumerate(rows.tolist()):
                out[j] = torch.rand(2, generator=gens[owner[row]], dtype=torch.float64) * 2 - 1
            return out.to(device)

        cand = torch.zeros(n * r, 2, dtype=torch.float64, device=device)
        if r > 1:
            rest = (torch.arange(n * r, device=device) % r) != 0
            cand[rest] = uniform(rest.nonzero().flatten())
        best_loss = torch.full((n * r,), math.inf, dtype=torch.float64, device=device)
        best = cand.clone()
        for step in range(self.steps):
            loss, grad = self._losses(work, blurred, targets, history, cand, owner, need_grad=True)
            loss = loss.to(torch.float64)
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best[better] = cand[better]
            moved = (cand - self.lr * self.lr_decay**step * torch.sign(grad.to(torch.float64))).clamp(-1.0, 1.0)
            if self.resample_on_plateau and step > 0 and bool((~better).any()):
                stuck = (~better).nonzero().flatten()
                moved[stuck] = uniform(stuck)
            cand = moved
        # the best restart of each search
        pick = best_loss.view(n, r).argmin(dim=1)
        return best.view(n, r, 2)[torch.arange(n, device=device), pick]

    # ------------------------------------------------------------------ search
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        """Search for ``request.target_text`` (target names or captions) from ``request.extra["start_xy"]``
        (default: the centre); stop on ``request.target_box`` when given and ``stop_on_target``.
        Output (x, y) px of the input images, durations in ms.

        Gradients are needed even where the caller disabled them (Lightning runs validation under
        ``torch.inference_mode``), so the search re-enables autograd and copies its inputs out of inference mode."""
        with torch.inference_mode(False), torch.enable_grad():
            return self._search(request)

    def _search(self, request: PredictRequest) -> Scanpaths:
        check_images(request)
        if request.target_text is None or len(request.target_text) != request.images.shape[0]:
            raise InvalidInputError("foveated CLIP search needs PredictRequest.target_text: one target name or "
                                    "caption per image")
        from gazekit.ops.reference import gaussian_blur

        images = request.images.to(self.device, torch.float32).clone()  # a normal tensor even from inference mode
        b, _, h, w = images.shape
        s = request.n_samples
        size = tuple(int(v) for v in self.scorer.input_size)
        work = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        blurred = gaussian_blur(work, self.blur_kernel, self.blur_sigma)
        texts = [self.prompt.format(t) for t in request.target_text]
        targets = self.scorer.encode_targets(texts)
        sample_image = torch.arange(b, device=self.device).repeat_interleave(s)
        work, blurred, targets = work[sample_image], blurred[sample_image], targets[sample_image]
        scale = torch.tensor([size[1] / w, size[0] / h], dtype=torch.float64, device=self.device)
        starts = request_starts(request).to(self.device).clone()
        boxes = request_target_boxes(request)
        boxes = None if boxes is None else boxes.to(self.device).clone()
        gens = [generator_for(seed) for seed in scanpath_seeds(request)]
        max_fix = request.max_fixations or self.max_fixations
        n = b * s
        xy = torch.zeros(n, max_fix, 2, dtype=torch.float64, device=self.device)
        xy[:, 0] = starts
        lengths = torch.ones(n, dtype=torch.int64, device=self.device)
        found = (in_box(starts, boxes, self.target_margin_px) if boxes is not None
                 else torch.zeros(n, dtype=torch.bool, device=self.device))
        active = ~found if (self.stop_on_target and boxes is not None) else torch.ones_like(found)
        for k in range(1, max_fix):
            idx = active.nonzero().flatten()
            if idx.numel() == 0:
                break
            history = xy[idx, :k] * scale  # work-resolution px
            u = self.next_fixations(work[idx], blurred[idx], targets[idx], history, [gens[i] for i in idx])
            nxt = self.grid_to_px(u, size) / scale  # back to input-image px, (x, y)
            xy[idx, k] = nxt
            lengths[idx] += 1
            if boxes is not None:
                hit = in_box(nxt, boxes[idx], self.target_margin_px)
                found[idx] |= hit
                if self.stop_on_target:
                    active[idx[hit]] = False
        return make_scanpaths(xy.cpu(), lengths.cpu(), request, self.durations,
                              found.cpu() if boxes is not None else None)


@register_model("foveated-clip-search", predicts=("positions", "durations", "stop"),
                formats=(FoveatedClipSearch.checkpoint_format, "gazekit.models.foveated_clip.FoveatedClipSearch"),
                inputs=("image", "target_text", "target_box"),
                description="NevaClip-style foveated CLIP search: sign-gradient optimisation of each fixation "
                            "through the differentiable NeVA foveation; any open_clip model (tag or local "
                            "checkpoint)")
def foveated_clip_search(checkpoint: dict | None = None, **kwargs) -> FoveatedClipSearch:
    """``backbone_pretrained`` is the open_clip tag or local checkpoint of ``model_name`` (default ``"RN50"``);
    ``pretrained=`` a saved foveated-clip-search checkpoint."""
    if checkpoint is not None:
        return FoveatedClipSearch.from_checkpoint(checkpoint, **kwargs)
    return FoveatedClipSearch(**kwargs)
