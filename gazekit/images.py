"""Reading images into the tensors models use: ``[3, H, W]`` float32 RGB in [0, 1].

Conversions are documented, never silent: grayscale is replicated to 3 channels, an alpha channel is
composited onto white, 16-bit images are scaled to [0, 1]. Unreadable files and absurd sizes raise
:class:`~gazekit.errors.InvalidInputError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

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


# --------------------------------------------------------------------------------------------- display images
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}  # EXIF orientation -> PIL transpose that shows the image upright


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag of an image file (1, upright, when absent or unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # no EXIF block, or a damaged one: the pixels are shown as stored
        return 1


def read_image(path: str | Path, *, max_side: int | None = None, min_side: int = MIN_SIDE,
               limit: int = MAX_SIDE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Read an image as it is displayed, at a bounded working size.

    Returns ``([3, h, w] float32 RGB in [0, 1], (width, height))``: the tensor at most ``max_side`` px on its long
    side (None: full size) and the full size as displayed. The EXIF orientation is applied; an alpha channel is
    composited onto white at the image's own size; grayscale is replicated; 16-bit values are scaled to [0, 1].
    JPEGs larger than the working size are decoded at a reduced scale (never in full), so peak memory follows
    ``max_side``, not the file. Unreadable files and sides outside ``[min_side, limit]`` raise
    :class:`InvalidInputError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image file {str(path)!r} does not exist")
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InvalidInputError(f"{str(path)!r} is not a readable image ({err})") from err
    with img:
        orientation = exif_orientation(path)
        w0, h0 = img.size
        width, height = (h0, w0) if orientation in (5, 6, 7, 8) else (w0, h0)
        if min(width, height) < min_side:
            raise InvalidInputError(f"{path}: image is {width}x{height} px; the smallest side must be at least "
                                    f"{min_side} px")
        if max(width, height) > limit:
            raise InvalidInputError(f"{path}: image is {width}x{height} px; the largest side may be at most {limit} "
                                    "px (resize it first)")
        scale = 1.0 if not max_side else min(1.0, max_side / max(width, height))
        try:
            if scale < 1.0 and img.format == "JPEG":
                img.draft("RGB", (max(1, int(w0 * scale)), max(1, int(h0 * scale))))  # libjpeg DCT scaling
            img.load()
            if orientation in _TRANSPOSE:
                img = img.transpose(getattr(Image.Transpose, _TRANSPOSE[orientation]))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if scale < 1.0 and img.size != size:
                if img.mode == "P":
                    img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                img = img.resize(size, Image.BILINEAR, reducing_gap=2.0)
            arr = _pil_to_rgb(img)
        except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt pixel data
            raise InvalidInputError(f"{str(path)!r} is not a readable image ({err})") from err
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), (width, height)


def _pil_to_rgb(img) -> np.ndarray:
    """A PIL image -> ``H x W x 3`` float32 in [0, 1] (alpha onto white, gray replicated, 16-bit scaled)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(arr, 0.0, 1.0)[:, :, None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InvalidInputError("image contains NaN or infinite values")
        return np.repeat(np.clip(arr, 0.0, 1.0)[:, :, None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    img = img.convert("RGBA" if has_alpha else "RGB")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if has_alpha:
        alpha = arr[:, :, 3:4]
        arr = arr[:, :, :3] * alpha + (1.0 - alpha)  # composite onto white
    return arr


def crop_objects(image: Tensor, boxes: Tensor, size: int) -> Tensor:
    """``[N, 3, size, size]`` crops of ``image`` ``[3, H, W]`` at ``boxes`` ``[N, 4]`` px (area-averaged
    RoIAlign, so large boxes are anti-aliased)."""
    from torchvision.ops import roi_align

    rois = torch.cat([torch.zeros(len(boxes), 1, dtype=image.dtype), boxes.to(image.dtype)], 1)
    return roi_align(image[None].float(), rois.float(), output_size=size, spatial_scale=1.0, sampling_ratio=-1,
                     aligned=True)


def resize_template(template: Tensor, size: int) -> Tensor:
    """A target template ``[3, h, w]`` resized to ``[3, size, size]`` (anti-aliased bilinear)."""
    if template.dim() != 3 or template.shape[0] != 3:
        raise InvalidInputError(f"target template must be [3, h, w], got shape {tuple(template.shape)}")
    return F.interpolate(template[None].float(), size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)[0]
