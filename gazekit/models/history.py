"""The history-only free-viewing baseline (registered as ``history``): where people look next from where they
looked before, without the image.

Fitted on training scanpaths (:meth:`HistoryBaseline.fit`; ``gazekit evaluate`` fits it on the training images of
the evaluated data set, like the centre bias). Positions are measured in units of the image's longer side
(``L = max(W, H)``), so a fit on 800 x 600 images applies to any image size. The density of fixation ``i``:

* ``i = 0`` (no history): ``(1 - w_cb) * KDE(first fixations) + w_cb * CB``; the KDE of the training first
  fixations (image-normalised ``x / W, y / H``) has sigma ``first_sigma * L``.
* ``i >= 1``: ``(1 - w_ret) * [(1 - w_cb) * V(x - x_{i-1}) + w_cb * CB] + w_ret * R``, with ``V`` the kernel
  density of the training saccade vectors (sigma ``vec_sigma * L``; 6 px on 800 x 600) placed at the previous
  fixation, and ``R`` Gaussian bumps (sigma ``ret_sigma * L``; 16 px) on the earlier fixations ``x_0 ... x_{i-2}``
  ("return to an earlier fixation"; absent, with its weight given to the rest, when there are none).

Each part is normalised over the image's pixels, so every map sums to 1. ``CB`` is the centre-bias Gaussian of
:class:`~gazekit.models.baselines.FreeviewBaseline`, durations its log-normal. Sampling draws positions from the
same maps, step by step. The recipe and its weights come from the decomposition of tpp-osie's gain (history alone
explains 65-75 % of it on OSIE).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gazekit.errors import InvalidInputError
from gazekit.models.base import PredictRequest
from gazekit.models.baselines import FreeviewBaseline, fixation_times, sampled_scanpaths
from gazekit.models.registry import register_model
from gazekit.scanpaths import Scanpaths


def _blur(grid: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(grid.astype(np.float32), (0, 0), max(sigma, 1e-3), borderType=cv2.BORDER_CONSTANT)


class HistoryBaseline(FreeviewBaseline):
    """History-only baseline (see the module docstring); ``fit`` adds the vectors and first fixations to the
    centre-bias priors."""

    def __init__(self, priors: dict | None = None, max_fixations: int = 30, *, w_cb: float = 0.2,
                 w_ret: float = 0.1, vec_sigma: float = 6 / 800, ret_sigma: float = 16 / 800,
                 first_sigma: float = 24 / 800):
        super().__init__("centre-bias", priors, max_fixations)
        if not (0 <= w_cb <= 1 and 0 <= w_ret < 1 and min(vec_sigma, ret_sigma, first_sigma) > 0):
            raise InvalidInputError(f"need 0 <= w_cb <= 1, 0 <= w_ret < 1 and positive sigmas; got {w_cb}, {w_ret}, "
                                    f"{vec_sigma}, {ret_sigma}, {first_sigma}")
        self.weights = {"w_cb": w_cb, "w_ret": w_ret, "vec_sigma": vec_sigma, "ret_sigma": ret_sigma,
                        "first_sigma": first_sigma}
        self._maps: dict = {}

    def fit(self, scanpaths: Scanpaths, viewing_time_ms: float | None = None) -> HistoryBaseline:
        super().fit(scanpaths, viewing_time_ms)
        size = scanpaths.image_size
        long = size.max(dim=1).values[:, None]
        mask = scanpaths.mask
        u, v = scanpaths.x / long, scanpaths.y / long
        step = mask[:, 1:] & mask[:, :-1]
        du, dv = (u[:, 1:] - u[:, :-1])[step], (v[:, 1:] - v[:, :-1])[step]
        first = scanpaths.lengths > 0
        fu, fv = (scanpaths.x[:, 0] / size[:, 0])[first], (scanpaths.y[:, 0] / size[:, 1])[first]
        if len(du) < 1 or len(fu) < 1:
            raise InvalidInputError("the history baseline needs training scanpaths with at least two fixations")
        self.priors.update(vectors=torch.stack([du, dv], 1).round(decimals=5).tolist(),
                           first=torch.stack([fu, fv], 1).round(decimals=5).tolist(), history=dict(self.weights))
        self._maps = {}
        return self

    # ------------------------------------------------------------------ maps (probabilities over the pixels)
    def _cached(self, key, make):
        if key not in self._maps:
            if len(self._maps) > 64:
                self._maps.clear()
            self._maps[key] = make()
        return self._maps[key]

    def _cb(self, h: int, w: int) -> np.ndarray:
        return self._cached(("cb", h, w), lambda: self.pixel_log_density(h, w).double().exp().numpy())

    def _first(self, h: int, w: int) -> np.ndarray:
        def make():
            pts = np.asarray(self._need()["first"], dtype=np.float64)
            grid = np.zeros((h, w), np.float32)
            np.add.at(grid, (np.clip((pts[:, 1] * h).astype(int), 0, h - 1),
                             np.clip((pts[:, 0] * w).astype(int), 0, w - 1)), 1.0)
            kde = _blur(grid, self.weights["first_sigma"] * max(h, w)).astype(np.float64)
            kde /= kde.sum()
            return (1 - self.weights["w_cb"]) * kde + self.weights["w_cb"] * self._cb(h, w)
        return self._cached(("first", h, w), make)

    def _vectors(self, h: int, w: int) -> np.ndarray:
        """Kernel density of saccade vectors on a ``(2H - 1, 2W - 1)`` grid centred on the zero vector."""
        def make():
            vec = np.asarray(self._need()["vectors"], dtype=np.float64) * max(h, w)
            r = np.floor(vec[:, 1] + 0.5).astype(int) + h - 1
            c = np.floor(vec[:, 0] + 0.5).astype(int) + w - 1
            ok = (r >= 0) & (r < 2 * h - 1) & (c >= 0) & (c < 2 * w - 1)
            grid = np.zeros((2 * h - 1, 2 * w - 1), np.float32)
            np.add.at(grid, (r[ok], c[ok]), 1.0)
            return _blur(grid, self.weights["vec_sigma"] * max(h, w)).astype(np.float64)
        return self._cached(("vec", h, w), make)

    @staticmethod
    def _returns(h: int, w: int, xs, ys, sigma: float) -> np.ndarray:
        """Mean of Gaussian bumps at ``(xs, ys)``, each normalised over the image (computed within 5 sigma)."""
        out = np.zeros((h, w))
        reach = int(math.ceil(5 * sigma))
        for x, y in zip(xs, ys):
            c0, c1 = max(0, int(x) - reach), min(w, int(x) + reach + 1)
            r0, r1 = max(0, int(y) - reach), min(h, int(y) + reach + 1)
            gx = np.exp(-0.5 * ((np.arange(c0, c1) + 0.5 - x) / sigma) ** 2)
            gy = np.exp(-0.5 * ((np.arange(r0, r1) + 0.5 - y) / sigma) ** 2)
            if gx.sum() > 0 and gy.sum() > 0:
                out[r0:r1, c0:c1] += np.outer(gy / gy.sum(), gx / gx.sum())
        return out / max(len(xs), 1)

    def step_density(self, h: int, w: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``[H, W]`` probabilities of the next fixation after fixations ``(xs, ys)`` (px; empty: the first)."""
        if len(xs) == 0:
            return self._first(h, w)
        wt = self.weights
        r = int(np.clip(np.floor(ys[-1]), 0, h - 1))
        c = int(np.clip(np.floor(xs[-1]), 0, w - 1))
        vec = self._vectors(h, w)[h - 1 - r: 2 * h - 1 - r, w - 1 - c: 2 * w - 1 - c]
        total = vec.sum()
        vec = vec / total if total > 0 else self._cb(h, w)
        out = (1 - wt["w_cb"]) * vec + wt["w_cb"] * self._cb(h, w)
        if len(xs) >= 2 and wt["w_ret"] > 0:
            ret = self._returns(h, w, xs[:-1], ys[:-1], wt["ret_sigma"] * max(h, w))
            out = (1 - wt["w_ret"]) * out + wt["w_ret"] * ret
        return out

    @torch.no_grad()
    def conditional_log_density(self, images: Tensor, history: Scanpaths) -> Tensor:
        """``[B, L, H, W]`` log-density of fixation ``l`` of each scanpath given fixations ``0 .. l-1`` (padding
        steps hold the uniform density)."""
        b, _, h, w = images.shape
        length = max(1, history.max_length)
        out = torch.empty(b, length, h, w)
        x, y = history.x.numpy(), history.y.numpy()
        for i in range(b):
            n = int(history.lengths[i]) if i < len(history) else 0
            for j in range(min(n, length) if n else 1):
                out[i, j] = torch.from_numpy(np.log(np.maximum(self.step_density(h, w, x[i, :j], y[i, :j]),
                                                               1e-300))).float()
            out[i, max(n, 1):] = -math.log(h * w)  # padding: never read, filled with the uniform density
        return out

    @torch.no_grad()
    def predict_scanpaths(self, request: PredictRequest) -> Scanpaths:
        pri, (n_img, h, w), gen, horizon, max_fix = self._sampling_setup(request)

        def duration(_) -> float:
            return math.exp(pri["logd_loc"] + pri["logd_scale"] * request.temperature
                            * float(torch.randn(1, generator=gen, dtype=torch.float64)))

        xs, ys, ts, ds = [], [], [], []
        for _ in range(n_img * request.n_samples):
            px, py, t_i, d_i = [], [], [], []
            for t, d in fixation_times(duration, horizon, pri["gap_ms"], max_fix):
                probs = torch.from_numpy(self.step_density(h, w, np.asarray(px), np.asarray(py)).reshape(-1))
                pix = int(torch.multinomial(probs, 1, generator=gen))
                jit = torch.rand(2, generator=gen, dtype=torch.float64)
                px.append(pix % w + float(jit[0]))
                py.append(pix // w + float(jit[1]))
                t_i.append(t)
                d_i.append(d)
            xs.append(px), ys.append(py), ts.append(t_i), ds.append(d_i)
        return sampled_scanpaths(request, xs, ys, ts, ds, w, h)

    def save_checkpoint(self, path) -> str:
        from gazekit.models._checkpoint import save_json

        return save_json({"format": "gazekit-baseline-history", "version": 1, "kind": "history",
                          "max_fixations": self.max_fixations, "priors": self._need()}, path)


@register_model("history", predicts=("positions", "durations", "density"), inputs=("image",),
                formats=("gazekit-baseline-history",),
                description="history only (no image): centre bias + saccade-vector density + returns; fitted on "
                            "the training images by gazekit evaluate")
def history(checkpoint: dict | None = None, **kwargs) -> HistoryBaseline:
    """Unfitted unless ``checkpoint`` (a :meth:`HistoryBaseline.save_checkpoint` file) is given; ``gazekit
    evaluate`` fits an unfitted one on the training images of the evaluated data set."""
    if checkpoint is None:
        return HistoryBaseline(None, **kwargs)
    priors = checkpoint.get("priors", checkpoint)
    missing = [k for k in ("cb_mean", "cb_cov", "vectors", "first") if k not in priors]
    if missing:
        raise InvalidInputError(f"not a history baseline checkpoint (missing {missing})")
    kwargs.setdefault("max_fixations", checkpoint.get("max_fixations", 30))
    return HistoryBaseline(priors, **{**priors.get("history", {}), **kwargs})
