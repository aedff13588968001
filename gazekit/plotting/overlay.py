"""Scanpaths and densities drawn over their image (matplotlib, Agg backend, PNG).

* :func:`plot_scanpath_overlay`: numbered fixations, circle area proportional to duration, saccade arrows; one
  colour per scanpath.
* :func:`plot_density_heatmap`: a (log-)density map blended over the image, with a colour bar (density relative
  to its maximum).

Output size is bounded (``MAX_PLOT_SIDE`` px on the long side) and the raster handed to matplotlib is downsampled
to what is shown, so an 8000x6000 image costs no more to draw than a 1600x1200 one; marker, number and arrow
sizes follow the image's short side, so extreme aspect ratios (a 3000x200 panorama) stay readable.

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


MAX_PLOT_SIDE = 1600  # px of the longer side of a written overlay, whatever the image size


def _figure(width: int, height: int, max_inches: float = 10.0, extra_inches: float = 0.0):
    """A bare Figure (no pyplot registry) whose image area is ``width x height`` scaled to ``max_inches`` on the long
    side, written at most ``MAX_PLOT_SIDE`` px long; ``extra_inches`` adds room on the right (a colour bar)."""
    from matplotlib.figure import Figure

    max_inches = min(max_inches, max(width, height) / 72)  # small images: 72 dpi, drawn at their own size
    scale = max_inches / max(width, height)
    w_in, h_in = width * scale, height * scale
    dpi = min(max(width, height), MAX_PLOT_SIDE) / max_inches
    fig = Figure(figsize=(w_in + extra_inches, h_in), dpi=dpi)
    ax = fig.add_axes([0, 0, w_in / (w_in + extra_inches), 1])
    ax.set_axis_off()
    return fig, ax


def _raster(img: np.ndarray, fig) -> np.ndarray:
    """The image downsampled to the pixels the figure will show (no full-resolution copy reaches matplotlib)."""
    h, w = img.shape[:2]
    target = int(max(fig.get_size_inches()) * fig.dpi)
    if max(h, w) <= 2 * target:
        return img
    from PIL import Image

    scale = 2 * target / max(h, w)
    small = Image.fromarray((img * 255.0 + 0.5).astype(np.uint8)).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.float32) / 255.0


def marker_radius(width: int, height: int) -> float:
    """Radius (px) of the longest fixation's circle: 4 % of the long side, at most 8 % of the short side (so a
    3000x200 panorama gets circles of 16 px that fit in it, not 120 px ones)."""
    return min(0.04 * max(width, height), 0.08 * min(width, height))


def _points_per_pixel(fig, width: int, height: int) -> float:
    """Figure points per image pixel (72 points per inch)."""
    return 72.0 * fig.get_size_inches()[1] / height


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
    ax.imshow(_raster(img, fig), extent=(0, w, h, 0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    rows = list(range(len(scanpaths))) if rows is None else rows
    durs = scanpaths.duration[scanpaths.mask]
    finite = durs[np.isfinite(durs.numpy())] if len(durs) else durs
    d_max = float(finite.max()) if len(finite) else float("nan")
    r_max = max_radius or marker_radius(w, h)
    r_pt = r_max * _points_per_pixel(fig, w, h)  # the largest circle's radius in points
    font = float(np.clip(0.7 * r_pt, 4.0, 8.0))
    head = float(np.clip(0.8 * r_pt, 4.0, 12.0))
    from matplotlib import colormaps
    from matplotlib.patches import Circle, FancyArrowPatch

    colours = colormaps["tab10"]
    for c, i in enumerate(rows):
        sp = scanpaths.scanpath(i)
        colour = colours(c % 10)
        xs, ys, ds = sp["x"], sp["y"], sp["duration"]
        for k in range(len(xs) - 1):
            ax.add_patch(FancyArrowPatch((xs[k], ys[k]), (xs[k + 1], ys[k + 1]), arrowstyle="-|>",
                                         mutation_scale=head, color=colour, lw=1.5 * head / 12, alpha=0.85,
                                         shrinkA=head / 3, shrinkB=head / 2))
        for k, (x, y, d) in enumerate(zip(xs, ys, ds)):
            radius = r_max * np.sqrt(d / d_max) if np.isfinite(d) and np.isfinite(d_max) and d_max > 0 else r_max / 2
            ax.add_patch(Circle((x, y), max(radius, r_max / 8), facecolor=(*colour[:3], 0.45), edgecolor=colour,
                                lw=1.5 * head / 12))
            if numbers:
                ax.text(x, y, str(k + 1), ha="center", va="center", fontsize=font, color="white", weight="bold")
    _title(ax, title, w, h, fig)
    return _save(fig, out)


def _title(ax, title: str | None, w: int, h: int, fig) -> None:
    if title:
        size = float(np.clip(0.12 * min(w, h) * _points_per_pixel(fig, w, h), 5.0, 9.0))
        ax.text(0.01 * w, 0.02 * h, title, ha="left", va="top", fontsize=size, color="white",
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 2})


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
    fig, ax = _figure(w, h, extra_inches=1.1)
    ax.imshow(_raster(img, fig) * (1 - alpha * 0.5), extent=(0, w, h, 0))
    shown = ax.imshow(_raster(np.repeat(dens[:, :, None], 3, axis=2).astype(np.float32), fig)[:, :, 0],
                      extent=(0, w, h, 0), cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0, interpolation="bilinear")
    left = ax.get_position().x1
    cax = fig.add_axes([left + 0.15 * (1 - left), 0.08, 0.25 * (1 - left), 0.84])
    bar = fig.colorbar(shown, cax=cax)
    bar.solids.set_alpha(1.0)
    if fig.get_size_inches()[1] >= 2.0:  # a panorama's bar keeps its ticks; its label would not fit
        bar.set_label("density / maximum", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    _title(ax, title, w, h, fig)
    return _save(fig, out)
