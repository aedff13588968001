"""Pictures built from the overlay: human-vs-model side by side, a fixation density heatmap from scanpaths, and an
animated GIF of a scanpath unfolding fixation by fixation."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from gazekit._atomic import atomic_path
from gazekit.errors import InvalidInputError
from gazekit.plotting.overlay import plot_density_heatmap, plot_scanpath_overlay
from gazekit.scanpaths import Scanpaths


def _png_array(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def fixation_log_density(scanpaths: Scanpaths, height: int, width: int, sigma_px: float) -> torch.Tensor:
    """Gaussian kernel density of all valid fixations, ``[H, W]`` natural-log density summing to 1 over pixels.

    ``sigma_px`` is the kernel width in pixels (1 degree of visual angle is the usual choice).
    """
    if sigma_px <= 0:
        raise InvalidInputError(f"sigma_px must be positive, got {sigma_px}")
    mask = scanpaths.mask
    xs, ys = scanpaths.x[mask], scanpaths.y[mask]
    keep = torch.isfinite(xs) & torch.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.numel() == 0:
        raise InvalidInputError("no valid fixation to build a density from")
    gx = torch.arange(width, dtype=torch.float64) + 0.5
    gy = torch.arange(height, dtype=torch.float64) + 0.5
    # separable Gaussian: density(y, x) = sum_i N(x; x_i) N(y; y_i)
    kx = torch.exp(-0.5 * ((gx[None, :] - xs[:, None]) / sigma_px) ** 2)
    ky = torch.exp(-0.5 * ((gy[None, :] - ys[:, None]) / sigma_px) ** 2)
    dens = ky.T @ kx + 1e-300
    return torch.log(dens / dens.sum())


def plot_fixation_density(image, scanpaths: Scanpaths, out: str | Path, *, sigma_px: float = 24.0,
                          title: str | None = None) -> Path:
    """Heatmap of where the scanpaths' fixations fall (Gaussian KDE, ``sigma_px`` wide) over the image."""
    h, w = _image_hw(image)
    return plot_density_heatmap(image, fixation_log_density(scanpaths, h, w, sigma_px), out, title=title)


def _image_hw(image) -> tuple[int, int]:
    shape = tuple(image.shape)
    if len(shape) == 3 and shape[0] == 3 and shape[-1] != 3:
        return shape[1], shape[2]
    if len(shape) == 3 and shape[2] == 3:
        return shape[0], shape[1]
    raise InvalidInputError(f"image must be [3, H, W] or H x W x 3, got shape {shape}")


def plot_side_by_side(image, panels: dict[str, Scanpaths], out: str | Path, *, rows: int | None = 3) -> Path:
    """One overlay per source (e.g. ``{"human": ..., "model": ...}``), side by side in one PNG, each titled.

    ``rows``: draw at most this many scanpaths per panel (None: all).
    """
    from PIL import Image

    if not panels:
        raise InvalidInputError("plot_side_by_side needs at least one panel")
    out = Path(out)
    tiles = []
    with tempfile.TemporaryDirectory(prefix="gazekit-tiles-") as scratch:  # never beside ``out``
        for name, sp in panels.items():
            if len(sp) == 0:
                raise InvalidInputError(f"panel {name!r} has no scanpath")
            tile = Path(scratch) / f"tile{len(tiles)}.png"
            picked = list(range(len(sp) if rows is None else min(rows, len(sp))))
            plot_scanpath_overlay(image, sp, tile, rows=picked, title=f"{name} ({len(picked)} of {len(sp)})")
            tiles.append(_png_array(tile))
    height = max(t.shape[0] for t in tiles)
    gap = np.full((height, 8, 3), 255, np.uint8)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    joined = np.concatenate([x for t in padded for x in (t, gap)][:-1], axis=1)
    with atomic_path(out) as tmp:
        Image.fromarray(joined).save(tmp)
    return out


def animate_scanpath(image, scanpaths: Scanpaths, out: str | Path, *, row: int = 0, ms_per_frame: int | None = None,
                     max_side: int = 640) -> Path:
    """Animated GIF: scanpath ``row`` drawn fixation by fixation. Each frame lasts the fixation's duration (ms)
    when durations are known, else ``ms_per_frame`` (default 300 ms)."""
    from PIL import Image

    if not 0 <= row < len(scanpaths):
        raise InvalidInputError(f"row {row} out of range for {len(scanpaths)} scanpaths")
    one = scanpaths[row]
    n = int(one.lengths[0])
    if n == 0:
        raise InvalidInputError(f"scanpath {row} has no fixation to animate")
    out = Path(out)
    h, w = _image_hw(image)
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:  # draw frames at the GIF's size: far fewer pixels to render per frame
        chw = torch.as_tensor(np.asarray(image)) if not torch.is_tensor(image) else image
        chw = chw.permute(2, 0, 1) if chw.shape[-1] == 3 and chw.shape[0] != 3 else chw
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        image = torch.nn.functional.interpolate(chw[None].float(), size=size, mode="area")[0]
        one = replace(one, x=one.x * scale, y=one.y * scale)
    frames, durations = [], []
    dur = one.duration[0, :n].tolist()
    for k in range(1, n + 1):
        tmp = out.with_name(f".{out.stem}-frame.png")
        plot_scanpath_overlay(image, one.truncate(k), tmp, title=f"fixation {k}/{n}")
        frame = Image.fromarray(_png_array(tmp))
        tmp.unlink()
        frames.append(frame)
        d = dur[k - 1]
        durations.append(int(d) if ms_per_frame is None and np.isfinite(d) and d > 0 else (ms_per_frame or 300))
    durations[-1] = max(durations[-1], 1500)  # hold the full scanpath before looping
    with atomic_path(out) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out
