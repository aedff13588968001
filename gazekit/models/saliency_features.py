"""Image evidence for the static saliency model (:mod:`gazekit.models.saliency_core`), all offline.

Every extractor maps an image ``[3, H, W]`` (RGB in [0, 1], any size) to a stack of maps on a grid whose longer side
has ``grid`` cells (aspect ratio kept), so that the readout sees image-normalised positions. Groups:

* ``low``: hand-crafted multi-scale contrast (Itti-Koch style, computed with torch): intensity and two colour-opponent
  channels (red-green, blue-yellow) as centre-surround differences at two centre and two surround scales, orientation
  energy at four angles and two scales with its centre-surround contrast, gradient density, spectral-residual saliency
  and the blurred colour channels themselves (14 + 8 + 2 + 3 = 27 maps, each standardised per image).
* ``faces``: OpenCV's bundled Haar cascades (frontal face and profile face, both mirror directions; shipped inside
  ``opencv-python-headless`` 4.x as ``cv2.data.haarcascades``): a Gaussian blob per detection, sigma half the box
  size, summed and clipped to [0, 1] (2 maps: frontal, profile).
* ``mtcnn``: the MTCNN face-detection cascade (P-, R- and O-Net) whose trained weights ship inside the
  ``facenet-pytorch`` wheel (``facenet_pytorch/data/{p,r,o}net.pt``, MIT licence), faces from 12 px up: per face a
  Gaussian blob at the box centre (sigma half the box side), one at the eyes (the mean of the two eye landmarks,
  sigma a sixth of the side) and the face blob weighted by the face's size (side / 10 % of the image's longer side,
  at most 1); each blob scaled by the detector's confidence, the maximum over faces kept (3 maps). On 30 EyeCrowd
  images (616 hand-labelled faces, back views and occluded ones included) it finds 84 % of the faces with 99 % of its
  detections on a labelled face; the Haar cascades of ``faces`` find 37 %.
* ``text``: the PP-OCRv4 text-detection network shipped inside the ``rapidocr-onnxruntime`` wheel
  (``models/ch_PP-OCRv4_det_infer.onnx``, run by ``onnxruntime``; the package itself is not imported, it needs
  pyclipper/shapely for its post-processing which gazekit does not use): the per-pixel text probability, averaged
  into the grid (1 map).
* ``deep``: the frozen backbone of the shipped ``tpp-osie`` model (LCNet-0.5 trained by us on the OSIE training
  split; no downloaded weights) run on the image resized to ``backbone_side`` px on its longer side (aspect kept,
  multiples of 32); its three feature levels (strides 8, 16, 32) are kept at their own resolution and upsampled by
  the readout.

The detectors are optional dependencies: a group whose package is missing raises an error naming the package to
install, never a silent zero map.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gazekit.errors import InvalidInputError

GROUPS = ("low", "faces", "mtcnn", "text", "deep")
N_LOW, N_FACES, N_MTCNN, N_TEXT = 27, 2, 3, 1
MTCNN_MIN_FACE = 12  # px; EyeCrowd's crowd faces go down to about 10 px
MTCNN_MIN_CONFIDENCE = 0.9


def grid_shape(height: int, width: int, grid: int) -> tuple[int, int]:
    """``(gh, gw)``: the longer side gets ``grid`` cells, the other in proportion (at least 4)."""
    if width >= height:
        return max(4, round(grid * height / width)), grid
    return grid, max(4, round(grid * width / height))


def _gauss_kernel(sigma: float) -> Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``[N, C, H, W]`` (reflect padding)."""
    k = _gauss_kernel(sigma).to(maps)
    r = (k.numel() - 1) // 2
    n, c, h, w = maps.shape
    x = maps.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return x.view(n, c, h, w)


def _standardise(maps: Tensor) -> Tensor:
    """Per-map zero mean, unit variance (over the map's cells) of ``[C, h, w]``."""
    flat = maps.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-6)).view_as(maps)


def spectral_residual(gray: Tensor, side: int = 64) -> Tensor:
    """Spectral-residual saliency (Hou & Zhang 2007) of ``[h, w]`` computed at ``side`` px on the longer side."""
    h, w = gray.shape
    sh, sw = grid_shape(h, w, side)
    small = F.interpolate(gray[None, None], size=(sh, sw), mode="area")[0, 0].double()
    spec = torch.fft.fft2(small)
    log_amp = torch.log(spec.abs() + 1e-8)
    avg = F.avg_pool2d(F.pad(log_amp[None, None], (1, 1, 1, 1), mode="replicate"), 3, 1)[0, 0]
    residual = torch.exp((log_amp - avg) + 1j * torch.angle(spec))
    sal = torch.fft.ifft2(residual).abs() ** 2
    return gaussian_blur(sal.float()[None, None], 2.5)[0, 0]


def low_level_maps(image: Tensor, grid: int) -> Tensor:
    """The ``low`` group (see module docstring): ``[3, H, W]`` -> ``[27, gh, gw]``."""
    _, h, w = image.shape
    gh, gw = grid_shape(h, w, grid)
    wh, ww = 2 * gh, 2 * gw  # working resolution: twice the grid
    img = F.interpolate(image[None].float(), size=(wh, ww), mode="area")[0]
    r, g, b = img[0], img[1], img[2]
    intensity = (r + g + b) / 3
    rg = r - g
    by = b - (r + g) / 2
    chans = torch.stack([intensity, rg, by])[None]  # [1, 3, wh, ww]
    blurred = {s: gaussian_blur(chans, s) for s in (1.0, 2.0, 4.0, 8.0, 16.0)}
    cs = [(blurred[c] - blurred[s]).abs() for c, s in ((1.0, 4.0), (1.0, 8.0), (2.0, 8.0), (2.0, 16.0))]
    contrast = torch.cat(cs, 1)[0]  # 12 maps
    gy, gx = torch.gradient(blurred[1.0][0, 0])
    orient = []
    for sigma in (1.0, 2.0):
        gys, gxs = (gy, gx) if sigma == 1.0 else torch.gradient(blurred[2.0][0, 0])
        for theta in (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4):
            energy = (gxs * math.cos(theta) + gys * math.sin(theta)) ** 2
            orient.append(gaussian_blur(energy[None, None], 2 * sigma)[0, 0])
    orient = torch.stack(orient)[None]  # [1, 8, wh, ww]
    orient_cs = (orient - gaussian_blur(orient, 8.0)).abs()[0]
    grad_density = gaussian_blur((gx ** 2 + gy ** 2).sqrt()[None, None], 4.0)[0]
    sr = spectral_residual(intensity)
    sr = F.interpolate(sr[None, None], size=(wh, ww), mode="bilinear", align_corners=False)[0]
    colour = blurred[2.0][0]
    # 12 colour/intensity contrasts + 2 raw orientation energies + 8 orientation contrasts + gradient density
    # + spectral residual + 3 blurred colour channels = 27
    maps = torch.cat([contrast, orient[0][:2], orient_cs, grad_density, sr, colour], 0)
    out = F.interpolate(maps[None], size=(gh, gw), mode="area")[0]
    return _standardise(out)


@lru_cache(maxsize=1)
def _cascades():
    import cv2

    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if base is None:
        raise InvalidInputError("the 'faces' features need OpenCV 4.x with its bundled Haar cascades "
                                "(pip install 'opencv-python-headless<5')")
    out = []
    for name in ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"):
        c = cv2.CascadeClassifier(base + name)
        if c.empty():
            raise InvalidInputError(f"OpenCV Haar cascade {base + name!r} could not be loaded")
        out.append(c)
    return out


def face_boxes(image: Tensor, max_side: int = 640) -> list[list[tuple[float, float, float, float]]]:
    """Haar detections ``[frontal, profile]`` as ``(x, y, w, h)`` boxes in image pixels (profile: both mirror
    directions). The image is analysed at ``max_side`` px on its longer side at most."""
    import cv2

    _, h, w = image.shape
    scale = min(1.0, max_side / max(h, w))
    gray = (image.mean(0).numpy() * 255).astype(np.uint8)
    if scale < 1:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    frontal, profile = _cascades()
    min_size = (max(12, gray.shape[1] // 60),) * 2
    boxes = [[], []]
    for k, (cascade, flips, step) in enumerate(((frontal, (False,), 1.1), (profile, (False, True), 1.2))):
        for flip in flips:
            src = gray[:, ::-1].copy() if flip else gray
            for x, y, bw, bh in cascade.detectMultiScale(src, scaleFactor=step, minNeighbors=4, minSize=min_size):
                x = src.shape[1] - x - bw if flip else x
                boxes[k].append((x / scale, y / scale, bw / scale, bh / scale))
    return boxes


def face_maps(image: Tensor, grid: int) -> Tensor:
    """The ``faces`` group: ``[2, gh, gw]`` blobs of frontal and profile face detections."""
    _, h, w = image.shape
    gh, gw = grid_shape(h, w, grid)
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * h / gh
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * w / gw
    out = torch.zeros(2, gh, gw)
    for k, boxes in enumerate(face_boxes(image)):
        for x, y, bw, bh in boxes:
            cx, cy, s = x + bw / 2, y + bh / 2, max(bw, bh) / 2
            out[k] += torch.exp(-0.5 * (((xs[None] - cx) ** 2 + (ys[:, None] - cy) ** 2) / s ** 2))
    return out.clamp(max=1.0)


@lru_cache(maxsize=1)
def _mtcnn():
    try:
        from facenet_pytorch import MTCNN
    except ImportError as err:
        raise InvalidInputError("the 'mtcnn' features need the MTCNN face detector shipped in the facenet-pytorch "
                                "wheel: pip install --no-deps facenet-pytorch==2.6.0") from err
    return MTCNN(keep_all=True, min_face_size=MTCNN_MIN_FACE, select_largest=False, device="cpu")


def mtcnn_faces(image: Tensor, max_side: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MTCNN detections of ``image [3, H, W]`` (analysed at ``max_side`` px on its longer side at most):
    ``boxes (n, 4)`` ``[x0, y0, x1, y1]`` px, ``confidence (n,)`` and the five landmarks ``(n, 5, 2)`` px (left eye,
    right eye, nose, mouth corners); faces below :data:`MTCNN_MIN_CONFIDENCE` are left out."""
    _, h, w = image.shape
    scale = min(1.0, max_side / max(h, w))
    src = image[None].float()
    if scale < 1:
        src = F.interpolate(src, size=(round(h * scale), round(w * scale)), mode="area")
    rgb = (src[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    with torch.no_grad():
        boxes, conf, points = _mtcnn().detect(rgb, landmarks=True)
    if boxes is None:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    keep = np.asarray(conf, dtype=np.float64) >= MTCNN_MIN_CONFIDENCE
    return (np.asarray(boxes, np.float64)[keep] / scale, np.asarray(conf, np.float64)[keep],
            np.asarray(points, np.float64)[keep] / scale)


def mtcnn_maps(image: Tensor, grid: int) -> Tensor:
    """The ``mtcnn`` group: ``[3, gh, gw]`` face, eye and size-weighted face blobs (see the module docstring)."""
    _, h, w = image.shape
    gh, gw = grid_shape(h, w, grid)
    ys = (torch.arange(gh, dtype=torch.float64) + 0.5) * h / gh
    xs = (torch.arange(gw, dtype=torch.float64) + 0.5) * w / gw
    cell = max(h / gh, w / gw)
    out = torch.zeros(3, gh, gw, dtype=torch.float64)

    def blob(cx, cy, sigma):
        sigma = max(sigma, cell / 2)  # a face smaller than a cell still lights its cell
        return torch.exp(-0.5 * ((xs[None] - cx) ** 2 + (ys[:, None] - cy) ** 2) / sigma ** 2)

    boxes, conf, points = mtcnn_faces(image)
    for (x0, y0, x1, y1), c, pts in zip(boxes, conf, points):
        side = max(x1 - x0, y1 - y0)
        face = c * blob((x0 + x1) / 2, (y0 + y1) / 2, side / 2)
        eyes = c * blob(pts[:2, 0].mean(), pts[:2, 1].mean(), side / 6)
        size = min(1.0, side / (0.1 * max(h, w)))
        out = torch.maximum(out, torch.stack([face, eyes, face * size]))
    return out.float()


@lru_cache(maxsize=1)
def _text_session():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise InvalidInputError("the 'text' features need the PP-OCRv4 detector shipped in the "
                                "rapidocr-onnxruntime wheel: pip install --no-deps rapidocr-onnxruntime==1.4.4 "
                                "onnxruntime")
    model = Path(spec.origin).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if not model.is_file():
        raise InvalidInputError(f"text detector model {str(model)!r} is missing from the rapidocr-onnxruntime "
                                "installation")
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise InvalidInputError("the 'text' features need onnxruntime (pip install onnxruntime)") from err
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])


def text_probability(image: Tensor, side: int = 640) -> Tensor:
    """PP-OCRv4 per-pixel text probability ``[h', w']`` of the image resized to ``side`` px on its longer side
    (sides multiples of 32). Input normalisation as the detector was trained: BGR, (x - 0.5) / 0.5."""
    _, h, w = image.shape
    sh, sw = grid_shape(h, w, side)
    sh, sw = max(32, round(sh / 32) * 32), max(32, round(sw / 32) * 32)
    x = F.interpolate(image[None].float(), size=(sh, sw), mode="area")[0]
    x = ((x.flip(0) - 0.5) / 0.5).numpy()[None].astype(np.float32)  # RGB -> BGR
    sess = _text_session()
    prob = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return torch.from_numpy(np.ascontiguousarray(prob[0, 0]))


def text_maps(image: Tensor, grid: int) -> Tensor:
    """The ``text`` group: ``[1, gh, gw]`` mean text probability per grid cell."""
    _, h, w = image.shape
    gh, gw = grid_shape(h, w, grid)
    return F.interpolate(text_probability(image)[None, None], size=(gh, gw), mode="area")[0]


def backbone_input(image: Tensor, side: int) -> Tensor:
    """The image resized for the backbone: ``side`` px on the longer side, aspect kept, multiples of 32."""
    _, h, w = image.shape
    sh, sw = grid_shape(h, w, side)
    sh, sw = max(32, round(sh / 32) * 32), max(32, round(sw / 32) * 32)
    return F.interpolate(image[None].float(), size=(sh, sw), mode="area", antialias=False)


def extract(image: Tensor, groups: tuple[str, ...], grid: int, backbone=None, backbone_side: int = 384) -> dict:
    """All requested groups of ``image [3, H, W]``: ``{"maps": [C, gh, gw] (low/faces/mtcnn/text, in GROUPS order),
    "deep": [levels of [C_i, h_i, w_i]] (when asked)}``."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise InvalidInputError(f"saliency features expect an image [3, H, W], got shape {tuple(image.shape)}")
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise InvalidInputError(f"unknown feature groups {unknown}; known: {', '.join(GROUPS)}")
    parts = []
    if "low" in groups:
        parts.append(low_level_maps(image, grid))
    if "faces" in groups:
        parts.append(face_maps(image, grid))
    if "mtcnn" in groups:
        parts.append(mtcnn_maps(image, grid))
    if "text" in groups:
        parts.append(text_maps(image, grid))
    _, h, w = image.shape
    out = {"maps": torch.cat(parts, 0) if parts else torch.zeros(0, *grid_shape(h, w, grid))}
    if "deep" in groups:
        if backbone is None:
            raise InvalidInputError("the 'deep' features need a backbone")
        with torch.no_grad():
            out["deep"] = [f[0] for f in backbone(backbone_input(image, backbone_side))]
    return out
