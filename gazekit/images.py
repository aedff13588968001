"""Reading images into the tensors models use: ``[3, H, W]`` float32 RGB in [0, 1].

Conversions are documented, never silent: grayscale is replicated to 3 channels, an alpha channel is
composited onto white, 16-bit images are scaled to [0, 1]. Unreadable files and absurd sizes raise
:class:`~gazekit.errors.InvalidInputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gazekit.errors import InvalidInputError

MIN_SIDE = 32  # smaller images carry no usable structure for any gazekit model
MAX_SIDE = 8192  # larger ones are refused rather than exhausting memory; resize them first


def load_image(path: str | Path, *, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> torch.Tensor:
    """Read an image file as ``[3, H, W]`` float32 RGB in [0, 1] (see module docstring for conversions)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image file {str(path)!r} does not exist")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InvalidInputError(f"{str(path)!r} is not a readable image (OpenCV could not decode it)")
    return image_to_tensor(img, source=path, min_side=min_side, max_side=max_side, bgr=True)


def image_to_tensor(img: np.ndarray, *, source: object = "<array>", min_side: int = MIN_SIDE,
                    max_side: int = MAX_SIDE, bgr: bool = False) -> torch.Tensor:
    """Convert an ``H x W``, ``H x W x 1|3|4`` uint8/uint16/float array to ``[3, H, W]`` float32 RGB in [0, 1]."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"{source}: expected an H x W (x 1, 3 or 4) image, got shape {img.shape}")
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        raise InvalidInputError(f"{source}: image is {w}x{h} px; the smallest side must be at least {min_side} px")
    if max(h, w) > max_side:
        raise InvalidInputError(f"{source}: image is {w}x{h} px; the largest side may be at most {max_side} px "
                                "(resize it first)")
    if img.dtype == np.uint8:
        arr = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        arr = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        arr = img.astype(np.float32)
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"{source}: image contains NaN or infinite values")
    else:
        raise InvalidInputError(f"{source}: unsupported image dtype {img.dtype}")
    c = arr.shape[2]
    if c == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif c == 4:
        alpha = arr[:, :, 3:4]
        arr = arr[:, :, :3] * alpha + (1.0 - alpha)  # composite onto white
    if bgr and c in (3, 4):
        arr = arr[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).clamp_(0.0, 1.0)
