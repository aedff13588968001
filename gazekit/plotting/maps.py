"""Static fixation-density maps as files: a PNG with a colour bar and the ``.npy`` log-density itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gazekit.errors import InvalidInputError


def plot_log_density_map(image, log_density, out: str | Path, *, title: str | None = None,
                         cmap: str = "magma") -> Path:
    """Image and a normalised per-pixel log-density side by side; the map is drawn in bits relative to the uniform
    density (``log2(p * H * W)``: 0 = as likely as a random pixel) with a labelled colour bar. Written atomically."""
    from matplotlib.figure import Figure

    from gazekit._atomic import atomic_path
    from gazekit.plotting.overlay import _hwc

    img = _hwc(image)
    h, w = img.shape[:2]
    ld = log_density.detach().cpu().double().numpy() if hasattr(log_density, "detach") else np.asarray(log_density)
    if ld.shape != (h, w):
        raise InvalidInputError(f"log_density has shape {ld.shape}, expected the image's {(h, w)}")
    if not np.isfinite(ld).all():
        raise InvalidInputError("log_density has non-finite values")
    bits = (ld + math.log(h * w)) / math.log(2)
    lo = float(np.percentile(bits, 1))
    fig = Figure(figsize=(11, 11 * h / w / 2 + 0.8), dpi=100)
    ax_img, ax_map = fig.subplots(1, 2)
    ax_img.imshow(img)
    ax_img.set_axis_off()
    im = ax_map.imshow(bits, cmap=cmap, vmin=lo, vmax=float(bits.max()), interpolation="bilinear")
    ax_map.set_axis_off()
    bar = fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.02)
    bar.set_label("log2 density / uniform (bits)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def save_log_density(log_density, out: str | Path) -> Path:
    """Write ``[H, W]`` natural-log density per pixel as float32 ``.npy`` (atomically)."""
    from gazekit._atomic import atomic_path

    arr = log_density.detach().cpu().float().numpy() if hasattr(log_density, "detach") else np.asarray(
        log_density, dtype=np.float32)
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)
    return out
