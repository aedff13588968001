"""Scanpaths and densities drawn over their image (matplotlib, Agg backend, PNG).

* :func:`plot_scanpath_overlay`: numbered fixations, circle area proportional to duration, saccade arrows; one
  colour per scanpath.
* :func:`plot_density_heatmap`: a (log-)density map blended over the image.

Both take the image as ``[3, H, W]`` float in [0, 1] (a tensor or array, as :func:`gazekit.images.load_image`
returns) or ``H x W x 3``; coordinates are pixels of that image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit._atomic import atomic_path
from gazekit.errors import InvalidInputError
from gazekit.scanpaths import Scanpaths


def _hwc(image) -> np.ndarray:
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidInputError(f"image must be [3, H, W] or H x W x 3, got shape {arr.shape}")
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _figure(width: int, height: int, max_inches: float = 10.0):
    # A bare Figure (no pyplot): no global figure registry to clean up, and a second less of import time.
    from matplotlib.figure import Figure

    scale = max_inches / max(width, height)
    fig = Figure(figsize=(width * scale, height * scale), dpi=max(72, int(max(width, height) / max_inches)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    return fig, ax


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    # zlib level 3 instead of 6: PNG encoding took most of the drawing time, for files ~10 % larger.
    with atomic_path(out) as tmp:
        fig.savefig(tmp, **({"pil_kwargs": {"compress_level": 3}} if out.suffix.lower() == ".png" else {}))
    return out


def plot_scanpath_overlay(image, scanpaths: Scanpaths, out: str | Path, *, rows: list[int] | None = None,
                          max_radius: float | None = None, numbers: bool = True, title: str | None = None) -> Path:
    """Draw scanpaths over ``image`` and write a PNG.

    Args:
        image: ``[3, H, W]`` in [0, 1].
        scanpaths: coordinates in pixels of ``image``; durations (ms) set circle areas (equal circles if NaN).
        out: PNG path. rows: which scanpaths to draw (default all, at most 10 colours are distinct).
        max_radius: radius (px) of the longest fixation's circle; default 4 % of the longer image side.
        numbers: write the fixation index (1-based) in each circle.
    """
    img = _hwc(image)
    h, w = img.shape[:2]
    fig, ax = _figure(w, h)
    ax.imshow(img, extent=(0, w, h, 0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    rows = list(range(len(scanpaths))) if rows is None else rows
    durs = scanpaths.duration[scanpaths.mask]
    finite = durs[np.isfinite(durs.numpy())] if len(durs) else durs
    d_max = float(finite.max()) if len(finite) else float("nan")
    r_max = max_radius or 0.04 * max(w, h)
    from matplotlib import colormaps
    from matplotlib.patches import Circle, FancyArrowPatch

    colours = colormaps["tab10"]
    for c, i in enumerate(rows):
        sp = scanpaths.scanpath(i)
        colour = colours(c % 10)
        xs, ys, ds = sp["x"], sp["y"], sp["duration"]
        for k in range(len(xs) - 1):
            ax.add_patch(FancyArrowPatch((xs[k], ys[k]), (xs[k + 1], ys[k + 1]), arrowstyle="-|>", mutation_scale=12,
                                         color=colour, lw=1.5, alpha=0.85, shrinkA=4, shrinkB=6))
        for k, (x, y, d) in enumerate(zip(xs, ys, ds)):
            radius = r_max * np.sqrt(d / d_max) if np.isfinite(d) and np.isfinite(d_max) and d_max > 0 else r_max / 2
            ax.add_patch(Circle((x, y), max(radius, 3.0), facecolor=(*colour[:3], 0.45), edgecolor=colour, lw=1.5))
            if numbers:
                ax.text(x, y, str(k + 1), ha="center", va="center", fontsize=8, color="white", weight="bold")
    if title:
        ax.text(6, 6, title, ha="left", va="top", fontsize=9, color="white",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 2})
    return _save(fig, out)


def plot_density_heatmap(image, log_density, out: str | Path, *, alpha: float = 0.6, cmap: str = "inferno",
                         title: str | None = None) -> Path:
    """Blend a density over ``image``; ``log_density`` is ``[H, W]`` natural-log density (any normalisation).

    The colour scale is the density itself (not its log), normalised to its maximum, so bright = likely.
    """
    img = _hwc(image)
    h, w = img.shape[:2]
    ld = log_density.detach().cpu().numpy() if hasattr(log_density, "detach") else np.asarray(log_density)
    if ld.shape != (h, w):
        raise InvalidInputError(f"log_density has shape {ld.shape}, expected the image's {(h, w)}")
    if not np.isfinite(ld).any():
        raise InvalidInputError("log_density has no finite value")
    dens = np.exp(ld - np.nanmax(ld[np.isfinite(ld)]))
    dens = np.where(np.isfinite(dens), dens, 0.0)
    fig, ax = _figure(w, h)
    ax.imshow(img * (1 - alpha * 0.5), extent=(0, w, h, 0))
    ax.imshow(dens, extent=(0, w, h, 0), cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0, interpolation="bilinear")
    if title:
        ax.text(6, 6, title, ha="left", va="top", fontsize=9, color="white",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 2})
    return _save(fig, out)
