"""Image folders next to fixation data: which file an ``image`` name means, and how big it is.

Matching (``index_images``): a name matches the file with that relative path first; a name without a matching
file matches by stem (``"1001"`` or ``"1001.png"`` finds ``1001.jpg``) when exactly one image file has that stem.
Names that match no file, or several, are returned in ``missing`` / ``ambiguous`` so callers can say so: nothing
is dropped silently.

Sizes (``image_size``) come from the file header (no decoding) and are the size *as displayed*: an EXIF
orientation that swaps the axes (rotations by 90 degrees) swaps width and height, as :func:`gazekit.images.load_image`
does when it reads the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gazekit.errors import DataFormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 or 270 degrees


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by suffix), sorted; hidden files are skipped."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if is_image_file(p))


@dataclass
class ImageIndex:
    """``files``: image name -> path; ``missing``: names with no file; ``ambiguous``: name -> candidate files."""

    files: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[Path]] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"matched": len(self.files), "missing": len(self.missing), "ambiguous": len(self.ambiguous),
                "missing_examples": self.missing[:5]}


def index_images(folder: str | Path, names, *, recursive: bool = True, files: list[Path] | None = None) -> ImageIndex:
    """Match image names (the ``image`` field of scanpaths) to files under ``folder`` (see module docstring);
    ``files``: the folder's image files when already listed."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataFormatError("image folder does not exist (pass --images DIR naming a folder of image files)",
                              file=folder)
    files = list_images(folder, recursive=recursive) if files is None else files
    by_rel = {p.relative_to(folder).as_posix(): p for p in files}
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for p in files:
        by_name.setdefault(p.name, []).append(p)
        by_stem.setdefault(p.stem, []).append(p)
    out = ImageIndex()
    for name in sorted({str(n) for n in names if str(n)}):
        rel = name.replace("\\", "/")
        if rel in by_rel:
            out.files[name] = by_rel[rel]
            continue
        candidates = by_name.get(Path(rel).name) or by_stem.get(Path(rel).stem if Path(rel).suffix.lower() in
                                                                IMAGE_SUFFIXES else Path(rel).name) or []
        if len(candidates) == 1:
            out.files[name] = candidates[0]
        elif candidates:
            out.ambiguous[name] = candidates
        else:
            out.missing.append(name)
    return out


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` px of an image file as displayed (EXIF rotation applied), read from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            try:
                orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            except Exception:  # a damaged EXIF block does not make the pixels unreadable
                orientation = 1
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataFormatError(f"not a readable image ({err})", file=path) from err
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def image_sizes(files: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """``image_size`` of every file of an index."""
    return {name: image_size(path) for name, path in files.items()}


def match_names(names, candidates) -> dict[str, str]:
    """``{name: candidate}`` for names absent from ``candidates`` that match exactly one candidate by stem
    (``"1001"`` or ``"1001.png"`` -> ``"1001.jpg"``), the rule image files are matched with."""
    candidates = {str(c) for c in candidates}
    by_stem: dict[str, list[str]] = {}
    for c in candidates:
        by_stem.setdefault(_stem(c), []).append(c)
    out = {}
    for name in {str(n) for n in names} - candidates:
        found = by_stem.get(_stem(name), [])
        if len(found) == 1:
            out[name] = found[0]
    return out


def _stem(name: str) -> str:
    path = Path(name.replace("\\", "/"))
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name
