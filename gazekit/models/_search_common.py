"""Pieces every visual-search model in gazekit shares.

* :class:`LogNormalDurations`: the fixation-duration distribution the search models attach to their fixations,
  fitted by maximum likelihood on training scanpaths (log-normal, as in ChenLSTM / TPP-Gaze's duration heads).
* :func:`wta_search`: batched winner-take-all search on priority maps with inhibition of return and an oracle stop
  rule (the fixation lands in the target box), the decision rule of eccNet and of the map-based baselines.
* :class:`SearchModel`: the LightningModule base (``task_kind = "search"``); ``fit`` fits the durations, ``validate``
  runs the search on a batch and logs target-found rates. Subclasses implement ``search(...)``.

Coordinates are (x, y) pixels of the input image, origin top-left, everywhere in this module; maps are indexed
``[row, col]`` = ``[y, x]`` and every conversion between the two happens in :func:`map_to_xy` / :func:`xy_to_map`.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models._epoch_means import ValTestEpochMeans
from gazekit.models.base import PredictRequest, ScanpathPredictMixin, generator_for
from gazekit.scanpaths import Scanpaths

# Maximum-likelihood fit on Interiors: the 39,933 positive durations of all fixations after each trial's initial
# one (info_all_subj.mat; geometric mean 220 ms). Refit on other data with ``gazekit train`` or ``.fit``.
INTERIORS_LOG_DURATION_MU = 5.3919
INTERIORS_LOG_DURATION_SIGMA = 0.7231


class LogNormalDurations(torch.nn.Module):
    """Fixation durations ~ LogNormal(mu, sigma) in ms, fitted by maximum likelihood."""

    def __init__(self, mu: float = INTERIORS_LOG_DURATION_MU, sigma: float = INTERIORS_LOG_DURATION_SIGMA):
        super().__init__()
        if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
            raise InvalidInputError(f"log-normal durations need finite mu and sigma > 0, got {mu}, {sigma}")
        self.register_buffer("mu", torch.tensor(float(mu), dtype=torch.float64))
        self.register_buffer("sigma", torch.tensor(float(sigma), dtype=torch.float64))

    @staticmethod
    def mle(durations_ms: Tensor) -> tuple[float, float]:
        """Maximum-likelihood (mu, sigma) of log-durations; NaN and non-positive values are excluded."""
        d = torch.as_tensor(durations_ms, dtype=torch.float64).flatten()
        d = d[torch.isfinite(d) & (d > 0)]
        if d.numel() < 2:
            raise InvalidInputError(f"need at least 2 positive durations to fit a log-normal, got {d.numel()}")
        logd = d.log()
        return float(logd.mean()), float(logd.std(unbiased=False))

    def fit(self, scanpaths: Scanpaths, skip_first: bool = True) -> LogNormalDurations:
        """Fit on every valid fixation duration of ``scanpaths`` (the first fixation of each scanpath, the
        pre-search fixation on the start point, is left out when ``skip_first``)."""
        mask = scanpaths.mask.clone()
        if skip_first:
            mask[:, 0] = False
        mu, sigma = self.mle(scanpaths.duration[mask])
        self.mu.fill_(mu)
        self.sigma.fill_(sigma)
        return self

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(shape, generator=generator, dtype=torch.float64)
        return torch.exp(self.mu.cpu() + self.sigma.cpu() * z)


# ---------------------------------------------------------------------------------------------- coordinates
def xy_to_map(xy: Tensor, image_hw: tuple[int, int], map_hw: tuple[int, int]) -> Tensor:
    """(x, y) image pixels -> (col, row) fractional map coordinates (pixel centres at integer + 0.5 scaled)."""
    sx = map_hw[1] / image_hw[1]
    sy = map_hw[0] / image_hw[0]
    return torch.stack([xy[..., 0] * sx, xy[..., 1] * sy], dim=-1)


def map_to_xy(flat_index: Tensor, image_hw: tuple[int, int], map_hw: tuple[int, int]) -> Tensor:
    """Flat index into an ``[h, w]`` map -> (x, y) image pixels of that cell's centre."""
    h, w = map_hw
    row = torch.div(flat_index, w, rounding_mode="floor")
    col = flat_index - row * w
    x = (col.to(torch.float64) + 0.5) * (image_hw[1] / w)
    y = (row.to(torch.float64) + 0.5) * (image_hw[0] / h)
    return torch.stack([x, y], dim=-1)


def map_grid_xy(image_hw: tuple[int, int], map_hw: tuple[int, int], device=None) -> Tensor:
    """``[h, w, 2]`` (x, y) image pixels of every map cell's centre."""
    h, w = map_hw
    ys = (torch.arange(h, device=device, dtype=torch.float64) + 0.5) * (image_hw[0] / h)
    xs = (torch.arange(w, device=device, dtype=torch.float64) + 0.5) * (image_hw[1] / w)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def in_box(xy: Tensor, box: Tensor, margin: float = 0.0) -> Tensor:
    """True where (x, y) lies strictly inside (x0, y0, x1, y1) grown by ``margin`` px (the convention of
    :func:`gazekit.metrics.functional.search.on_target`); False for NaN boxes."""
    return ((xy[..., 0] > box[..., 0] - margin) & (xy[..., 0] < box[..., 2] + margin)
            & (xy[..., 1] > box[..., 1] - margin) & (xy[..., 1] < box[..., 3] + margin))  # fmt: skip


# ---------------------------------------------------------------------------------------------- search loop
def wta_search(priority_fn, start_xy: Tensor, image_hw: tuple[int, int], map_hw: tuple[int, int], *,
               max_fixations: int, ior_radius_px: float, target_box: Tensor | None = None,
               target_margin_px: float = 0.0, stop_on_target: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Winner-take-all search with inhibition of return, batched over N searches.

    Args:
        priority_fn: ``fn(step, current_xy [N, 2], active [N] bool) -> [N, h, w]`` priority maps (higher = look
            there next); called once per saccade with the current fixations.
        start_xy: ``[N, 2]`` first fixation (x, y) px.
        image_hw, map_hw: sizes of the image and of the priority maps.
        max_fixations: scanpath length limit, the start fixation included.
        ior_radius_px: radius of the inhibited disc around every past fixation (image px).
        target_box: ``[N, 4]`` (x0, y0, x1, y1) px, or None (search never stops early).
        stop_on_target: stop a search as soon as a fixation lands in its target box (oracle recognition).

    Returns:
        xy ``[N, max_fixations, 2]`` (x, y) px (zero after the end), lengths ``[N]``, found ``[N]`` bool.
    """
    n = start_xy.shape[0]
    if max_fixations < 1:
        raise InvalidInputError(f"max_fixations must be >= 1, got {max_fixations}")
    grid = map_grid_xy(image_hw, map_hw, device=start_xy.device).view(1, -1, 2)
    xy = torch.zeros(n, max_fixations, 2, dtype=torch.float64, device=start_xy.device)
    xy[:, 0] = start_xy.to(torch.float64)
    lengths = torch.ones(n, dtype=torch.int64, device=start_xy.device)
    inhibited = torch.zeros(n, grid.shape[1], dtype=torch.bool, device=start_xy.device)
    found = torch.zeros(n, dtype=torch.bool, device=start_xy.device)
    if target_box is not None:
        found = in_box(xy[:, 0], target_box.to(xy), target_margin_px)
    active = ~found if stop_on_target else torch.ones_like(found)
    for step in range(1, max_fixations):
        if not bool(active.any()):
            break
        current = xy[torch.arange(n), lengths - 1]
        inhibited |= ((grid - current[:, None]) ** 2).sum(-1) <= ior_radius_px**2
        prio = priority_fn(step, current, active).reshape(n, -1).to(torch.float64)
        prio = prio.masked_fill(inhibited, -math.inf)
        best = prio.argmax(dim=1)
        exhausted = torch.isinf(prio.gather(1, best[:, None]).squeeze(1))  # everything inhibited: stop
        go = active & ~exhausted
        nxt = map_to_xy(best, image_hw, map_hw)
        xy[go, step] = nxt[go]
        lengths = lengths + go.long()
        if target_box is not None:
            hit = go & in_box(nxt, target_box.to(xy), target_margin_px)
            found |= hit
            if stop_on_target:
                go = go & ~hit
        active = go
    return xy, lengths, found


# ---------------------------------------------------------------------------------------------- requests
def request_starts(request: PredictRequest) -> Tensor:
    """``[B * n_samples, 2]`` start fixations (x, y) px: ``request.extra["start_xy"]`` (``[B, 2]`` or
    ``[B, n_samples, 2]``) or the image centre."""
    b, _, h, w = request.images.shape
    s = request.n_samples
    start = request.extra.get("start_xy")
    if start is None:
        return torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64).repeat(b * s, 1)
    start = torch.as_tensor(start, dtype=torch.float64)
    if start.shape == (b, 2):
        start = start[:, None].expand(b, s, 2)
    if tuple(start.shape) != (b, s, 2):
        raise InvalidInputError(f"extra['start_xy'] must be [B, 2] or [B, n_samples, 2] = [{b}, {s}, 2] (x, y) px,"
                                f" got {tuple(start.shape)}")
    if not bool(torch.isfinite(start).all()):
        raise InvalidInputError("extra['start_xy'] contains NaN or infinite values")
    return start.reshape(b * s, 2).clone()


def request_target_boxes(request: PredictRequest, required: bool = False) -> Tensor | None:
    """``[B * n_samples, 4]`` target boxes (x0, y0, x1, y1) px, or None when the request has none."""
    b = request.images.shape[0]
    if request.target_box is None:
        if required:
            raise InvalidInputError("this model needs PredictRequest.target_box ([B, 4] x0, y0, x1, y1 px)")
        return None
    box = torch.as_tensor(request.target_box, dtype=torch.float64)
    if tuple(box.shape) != (b, 4):
        raise InvalidInputError(f"target_box must be [B, 4] = [{b}, 4] (x0, y0, x1, y1) px, got {tuple(box.shape)}")
    return box.repeat_interleave(request.n_samples, dim=0)


def check_images(request: PredictRequest) -> None:
    imgs = request.images
    if not isinstance(imgs, Tensor) or imgs.dim() != 4 or imgs.shape[1] != 3:
        raise InvalidInputError(f"PredictRequest.images must be a [B, 3, H, W] tensor, got "
                                f"{tuple(imgs.shape) if isinstance(imgs, Tensor) else type(imgs).__name__}")
    if imgs.shape[0] == 0:
        raise InvalidInputError("PredictRequest.images holds no image (B = 0)")
    if len(request.image_names) != imgs.shape[0]:
        raise InvalidInputError(f"{len(request.image_names)} image_names for {imgs.shape[0]} images")
    if request.n_samples < 1:
        raise InvalidInputError(f"n_samples must be >= 1, got {request.n_samples}")


def scanpath_seeds(request: PredictRequest) -> list[int | None]:
    """One RNG seed per output scanpath, derived from (seed, image name, sample index), so a scanpath does not
    depend on which other images share its batch."""
    if request.seed is None:
        return [None] * (len(request.image_names) * request.n_samples)
    import zlib

    return [(int(request.seed) * 1_000_003 + zlib.crc32(f"{name}#{k}".encode())) % (2**63 - 1)
            for name in request.image_names for k in range(request.n_samples)]


def make_scanpaths(xy: Tensor, lengths: Tensor, request: PredictRequest, durations: LogNormalDurations,
                   found: Tensor | None = None, dataset: str = "") -> Scanpaths:
    """Canonical :class:`Scanpaths` for the searches of ``request`` (row ``i * n_samples + k``), with durations
    drawn from ``durations`` (one generator per scanpath, see :func:`scanpath_seeds`)."""
    b, _, h, w = request.images.shape
    s = request.n_samples
    n, length = xy.shape[:2]
    dur = torch.zeros(n, length, dtype=torch.float64)
    for i, seed in enumerate(scanpath_seeds(request)):
        dur[i] = durations.sample((length,), generator_for(seed))
    names = [name for name in request.image_names for _ in range(s)]
    tasks = [t for t in (request.target_text or [""] * b) for _ in range(s)]
    box = request_target_boxes(request)
    xs = [xy[i, : int(lengths[i]), 0].cpu() for i in range(n)]
    ys = [xy[i, : int(lengths[i]), 1].cpu() for i in range(n)]
    ds = [dur[i, : int(lengths[i])] for i in range(n)]
    attrs = {}
    if found is not None:
        attrs["found"] = ["1" if bool(f) else "0" for f in found.cpu()]
    return Scanpaths.from_sequences(
        xs, ys, None, ds, dataset=dataset, image=names, subject=[f"sample{i % s}" for i in range(n)], task=tasks,
        condition="present" if box is not None else "",
        target_box=None if box is None else box.cpu().numpy(), image_size=[float(w), float(h)],
        scanpath_attrs=attrs, max_length=int(lengths.max()) if n else 0,
    )


class SearchModel(ValTestEpochMeans, ScanpathPredictMixin, pl.LightningModule):
    """Base of gazekit's zero-shot search models (a LightningModule, ``task_kind = "search"``).

    Nothing is learned by gradient descent: ``fit`` (``gazekit train``) fits the log-normal duration
    distribution to the training scanpaths' durations (the first fixation of each scanpath, on the start point,
    left out); ``validate``/``test`` search the batch's images from each human scanpath's first fixation for its
    target box (templates: the box crop; text: the ``task`` field) and log the target-found rate, TFP-AUC and
    mean length. Batches are ``(images [B, 3, H, W], Scanpaths)`` as :class:`~gazekit.datasets.datamodule.
    GazeDataModule` yields them (row b of the images is scanpath b's image).

    Args:
        val_searches: search at most this many scanpaths of each validation/test batch (None: all).
    """

    epoch_mean_names = ("found_rate", "tfp_auc", "mean_length")  # per search (ValTestEpochMeans)

    task_kind = "search"

    def __init__(self, duration_mu: float = INTERIORS_LOG_DURATION_MU,
                 duration_sigma: float = INTERIORS_LOG_DURATION_SIGMA, max_fixations: int = 13,
                 target_margin_px: float = 0.0, val_searches: int | None = None):
        super().__init__()
        if max_fixations < 1:
            raise InvalidInputError(f"max_fixations must be >= 1, got {max_fixations}")
        if val_searches is not None and val_searches < 1:
            raise InvalidInputError(f"val_searches must be >= 1 or None, got {val_searches}")
        self.durations = LogNormalDurations(duration_mu, duration_sigma)
        self.max_fixations = int(max_fixations)
        self.target_margin_px = float(target_margin_px)
        self.val_searches = val_searches
        self.automatic_optimization = False
        self._fit_durations: list[Tensor] = []

    # ------------------------------------------------------------------ the one method subclasses implement
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence
    checkpoint_format: str | None = None  # "gazekit-<family>" for families that save checkpoints

    def save_checkpoint(self, path) -> str:
        """Write ``{"format", "hyper_parameters", "state_dict"}`` (atomically); returns its sha256. Read it back
        with :func:`gazekit.models.load_checkpoint`."""
        from gazekit.models._checkpoint import save_torch

        if self.checkpoint_format is None:
            raise InvalidInputError(f"{type(self).__name__} has no weights to save")
        return save_torch({"format": self.checkpoint_format, "version": 1, "hyper_parameters": dict(self.hparams),
                           "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}, path)

    @classmethod
    def from_checkpoint(cls, state: dict, *, source: str = "checkpoint", **overrides):
        """From a :meth:`save_checkpoint` dict or a Lightning ``.ckpt``; ``overrides`` replace stored
        hyper-parameters. Backbone weights come from the checkpoint (``backbone_pretrained`` is not re-read)."""
        import inspect

        if "hyper_parameters" not in state or "state_dict" not in state:
            raise InvalidInputError(f"{source!r} is not a {cls.__name__} checkpoint (no hyper_parameters/state_dict)")
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        hp = {k: v for k, v in {**dict(state["hyper_parameters"]), **overrides}.items() if k in known}
        if "backbone_pretrained" in known:
            hp["backbone_pretrained"] = None
        model = cls(**hp)
        model.load_state_dict(state["state_dict"])
        return model.eval()

    # ------------------------------------------------------------------ Lightning plumbing
    def configure_optimizers(self):
        return None

    @staticmethod
    def _unpack(batch) -> tuple[Tensor | None, Scanpaths]:
        images, sp = batch if isinstance(batch, (tuple, list)) else (None, batch)
        if not isinstance(sp, Scanpaths):
            raise InvalidInputError("search models expect (images, Scanpaths) batches (gazekit.GazeDataModule)")
        return images, sp

    def training_step(self, batch, batch_idx):
        _, sp = self._unpack(batch)
        mask = sp.mask.clone()
        mask[:, 0] = False
        self._fit_durations.append(sp.duration[mask].detach().cpu())

    def on_train_epoch_end(self) -> None:
        if self._fit_durations:
            d = torch.cat(self._fit_durations)
            d = d[torch.isfinite(d) & (d > 0)]
            if d.numel() >= 2:
                mu, sigma = LogNormalDurations.mle(d)
                self.durations.mu.fill_(mu)
                self.durations.sigma.fill_(sigma)
                self.log_dict({"duration_mu": mu, "duration_sigma": sigma})
        self._fit_durations = []

    def _search_batch(self, batch, stage: str) -> Scanpaths | None:
        from gazekit.metrics.functional.search import steps_to_target

        images, sp = self._unpack(batch)
        if images is None:
            raise InvalidInputError("search validation needs images (this dataset ships none)")
        rows = ((~torch.isnan(sp.target_box).any(dim=1)) & (sp.lengths > 0)).nonzero().flatten().tolist()
        rows = rows[: self.val_searches] if self.val_searches is not None else rows
        if not rows:
            return None
        sp = sp[rows]
        request = PredictRequest(images=images[rows], image_names=list(sp.image), target_text=list(sp.task),
                                 target_box=sp.target_box, seed=0,
                                 extra={"start_xy": torch.stack([sp.x[:, 0], sp.y[:, 0]], -1)})
        pred = self.predict_scanpaths(request)
        # per search: found within max_fixations, its TFP-curve area (sum over k of "found by fixation k": the
        # mean of these is tfp_auc of the mean curve) and its length; averaged over the epoch and every rank
        steps = steps_to_target(pred)
        within = steps[:, None] <= torch.arange(1, self.max_fixations + 1, dtype=torch.float64)[None]
        acc = self._epoch_means(stage)
        acc.add_values("found_rate", within[:, -1].double())
        acc.add_values("tfp_auc", within.double().sum(1))
        acc.add_values("mean_length", pred.lengths.double())
        return pred

    def validation_step(self, batch, batch_idx):
        return self._search_batch(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._search_batch(batch, "test")

