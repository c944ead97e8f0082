"""Reading image datasets (numpy + Pillow, torch-free: ``ganforge eval`` uses it too).

A dataset is a folder of images or an ``.npz`` file:

- a folder whose images sit in sub-folders is *conditional*: each sub-folder is a category
  (its name is the category's name); images directly in the root are then skipped, with a note;
- a folder without sub-folders is unconditional;
- an ``.npz`` holds ``images`` (N, H, W[, C]) uint8 and optionally ``labels`` (N,) integers and
  ``categories`` (K,) names.

Every image becomes ``size``×``size`` by the ``fit`` policy — ``pad`` (default: keep the whole
image and its aspect ratio, scale the longer side to ``size``, pad with transparency, or with the
edge pixels when the set has no alpha), ``crop`` (scale the shorter side, cut the centre square) or
``stretch`` (ignore the aspect ratio). Resampling is Lanczos on premultiplied colour, so the
colour of transparent pixels never bleeds into visible ones.

Channels are the set's: 4 when any image has a pixel that is not opaque, else 1 when every
image is grey, else 3 (grey images are promoted). Colour is stored **premultiplied** by alpha:
a transparent pixel is (0, 0, 0, 0) whatever colour the file held.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
FITS = ("pad", "crop", "stretch")
SIZES = (32, 64, 128)
MIN_PER_CATEGORY = 2
GREY_TOLERANCE = 2


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class ImageSet:
    """Images (N, size, size, C) uint8 with premultiplied colour, and optional labels."""

    images: np.ndarray
    labels: np.ndarray | None
    categories: list[str]
    files: list[str]
    name: str
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    def straight(self) -> np.ndarray:
        """Float images in [0, 1] with straight (un-premultiplied) alpha, as the codec returns."""
        return unpremultiply(self.images.astype(np.float32) / 255.0)


def unpremultiply(x: np.ndarray) -> np.ndarray:
    """(N, H, W, 4) premultiplied in [0, 1] -> straight alpha; other channel counts unchanged."""
    if x.shape[-1] != 4:
        return x
    a = x[..., 3:]
    rgb = np.where(a > 0, np.minimum(x[..., :3], a) / np.maximum(a, 1e-12), 0.0)
    return np.concatenate([rgb, a], axis=-1).astype(np.float32)


# ---- one image -------------------------------------------------------------------------------
def _to_rgba(img: Any) -> np.ndarray:
    """A PIL image -> (H, W, 4) uint8 straight RGBA (grey replicated, opaque when no alpha)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        a = np.clip(a * (255.0 / 65535.0 if a.max() > 255 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return np.dstack([a, a, a, np.full_like(a, 255)])
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGBA"))


def fit_image(rgba: np.ndarray, size: int, fit: str, opaque_pad: bool) -> np.ndarray:
    """(H, W, 4) straight uint8 -> (size, size, 4) premultiplied uint8 by the ``fit`` policy."""
    from PIL import Image

    h, w = rgba.shape[:2]
    img = Image.fromarray(rgba, "RGBA").convert("RGBa")  # premultiplied: resampling is alpha-correct
    if fit == "stretch":
        out = img.resize((size, size), Image.LANCZOS)
    elif fit == "crop":
        s = min(h, w)
        box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        out = img.resize((size, size), Image.LANCZOS, box=box)
    else:
        scale = size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        small = np.asarray(img.resize((nw, nh), Image.LANCZOS))
        top, left = (size - nh) // 2, (size - nw) // 2
        pads = ((top, size - nh - top), (left, size - nw - left), (0, 0))
        return _valid(np.pad(small, pads, mode="edge" if opaque_pad else "constant"))
    return _valid(np.asarray(out))


def _valid(premultiplied: np.ndarray) -> np.ndarray:
    """Lanczos rings, and each channel is clipped on its own: colour can end up above alpha
    (visible colour under a transparent pixel). Clamp it back to a valid premultiplied image."""
    out = premultiplied.copy()
    np.minimum(out[..., :3], out[..., 3:], out=out[..., :3])
    return out


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) straight uint8 -> premultiplied uint8 (rounded), as Pillow's "RGBa" mode."""
    out = rgba.astype(np.uint16)
    out[..., :3] = (out[..., :3] * out[..., 3:] + 127) // 255
    return out.astype(np.uint8)


#: a sprite is fitted to 32-128 px; a 280 KB 16-bit PNG can declare 12000² pixels (3.8 GB decoded)
MAX_MEGAPIXELS = 16


def read_image(path: Path) -> np.ndarray:
    """(H, W, 4) uint8 straight RGBA; OSError/ValueError/... for unreadable files."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        if w * h > MAX_MEGAPIXELS * 1_000_000:  # refused from the header, before decoding
            raise ValueError(f"{w}×{h} is {w * h / 1e6:.0f} megapixels, over the {MAX_MEGAPIXELS}-megapixel "
                             "limit for sprites (they are fitted to at most 128 px): downscale it")
        img.load()  # decode now: truncated files fail here, not in the middle of training
        return _to_rgba(img)


# ---- a dataset -------------------------------------------------------------------------------
def _folder(root: Path, warn: Callable[[str], None]) -> tuple[list[np.ndarray], list[int] | None, list[str],
                                                              list[str], list[dict[str, str]]]:
    def visible(p: Path) -> bool:
        return not any(part.startswith(".") for part in p.relative_to(root).parts)

    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and visible(d))
    direct = sorted(p for p in root.iterdir() if p.is_file() and visible(p) and p.suffix.lower() in EXTENSIONS)
    skipped: list[dict[str, str]] = []
    groups: list[tuple[str | None, list[Path]]]
    class_dirs = [(d.name, sorted(p for p in d.rglob("*") if p.is_file() and visible(p)
                                  and p.suffix.lower() in EXTENSIONS)) for d in subdirs]
    class_dirs = [(n, files) for n, files in class_dirs if files]
    if class_dirs:
        groups = list(class_dirs)
        for p in direct:
            skipped.append({"file": str(p), "reason": "not in a category folder"})
        if direct:
            warn(f"warning: {root}: skipping {len(direct)} image(s) outside the category folders "
                 f"(first: {direct[0].name})")
    else:
        groups = [(None, direct)]
    arrays, labels, files, categories = [], [], [], []
    for cat, paths in groups:
        read: list[tuple[np.ndarray, str]] = []
        for p in paths:
            try:
                read.append((read_image(p), str(p)))
            except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...
                reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
                skipped.append({"file": str(p), "reason": reason})
                warn(f"warning: skipping {p}: not a readable image ({reason})")
        if cat is not None and len(read) < MIN_PER_CATEGORY:
            for _, f in read:
                skipped.append({"file": f, "reason": f"category {cat!r} has fewer than {MIN_PER_CATEGORY} images"})
            warn(f"warning: skipping category {cat!r} ({root / cat}): {len(read)} readable image(s), "
                 f"need at least {MIN_PER_CATEGORY}")
            continue
        if cat is not None:
            categories.append(cat)
        for a, f in read:
            arrays.append(a)
            files.append(f)
            labels.append(len(categories) - 1)
    return arrays, (labels if categories else None), categories, files, skipped


def _npz(path: Path) -> tuple[list[np.ndarray], list[int] | None, list[str], list[str]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"{path}: not a readable .npz file ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    if "images" not in data:
        raise DataError(f"{path}: has no 'images' array (found: {', '.join(sorted(data)) or 'nothing'})")
    images = data["images"]
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3, 4)):
        raise DataError(f"{path}: 'images' must be uint8 (N, H, W) or (N, H, W, 1|3|4), got {images.dtype} {images.shape}")
    if len(images) == 0:
        raise DataError(f"{path}: 'images' is empty")
    if images.ndim == 3:
        images = images[..., None]
    c = images.shape[3]
    if c == 1:
        images = np.repeat(images, 3, axis=3)
    if images.shape[3] == 3:
        images = np.concatenate([images, np.full(images.shape[:3] + (1,), 255, np.uint8)], axis=3)
    labels: list[int] | None = None
    categories: list[str] = []
    if "labels" in data:
        lab = data["labels"]
        if lab.ndim != 1 or len(lab) != len(images):
            raise DataError(f"{path}: 'labels' has shape {lab.shape}, expected ({len(images)},) — one per image")
        if lab.dtype.kind not in "iu":
            raise DataError(f"{path}: 'labels' must be integers, got {lab.dtype}")
        if "categories" in data:
            categories = [str(s) for s in data["categories"].tolist()]
        else:
            categories = [str(i) for i in range(int(lab.max()) + 1)]
        if lab.min() < 0 or lab.max() >= len(categories):
            raise DataError(f"{path}: 'labels' must lie in 0..{len(categories) - 1} (one per category), "
                            f"found {int(lab.min())}..{int(lab.max())}")
        labels = [int(v) for v in lab]
    elif "categories" in data:
        raise DataError(f"{path}: has 'categories' but no 'labels' saying which image is which")
    files = [f"{path.name}[{i}]" for i in range(len(images))]
    return list(images), labels, categories, files


def read_dataset(path: str | Path, size: int, fit: str = "pad",
                 warn: Callable[[str], None] = _stderr) -> ImageSet:
    """Read a folder or .npz into an :class:`ImageSet` at ``size``×``size``; DataError (one
    line, naming the path) when it cannot be used. Unreadable files and categories with fewer
    than two images are skipped with a warning and listed in ``skipped``."""
    if fit not in FITS:
        raise DataError(f"unknown fit policy {fit!r} (choose from {', '.join(FITS)})")
    if not isinstance(size, int) or not 8 <= size <= 1024:
        raise DataError(f"image size {size!r} must be an integer in 8..1024 (typically 32, 64 or 128)")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    skipped: list[dict[str, str]] = []
    if root.is_file() and root.suffix.lower() == ".npz":
        arrays, labels, categories, files = _npz(root)
    elif root.is_file():
        raise DataError(f"{root}: image data must be a folder of images or an .npz file")
    else:
        arrays, labels, categories, files, skipped = _folder(root, warn)
        if not arrays:
            what = f"(skipped {len(skipped)}: first {Path(skipped[0]['file']).name}: {skipped[0]['reason']})" \
                if skipped else "(PNG/JPEG/WebP/GIF/BMP/TIFF, directly or in one sub-folder per category)"
            raise DataError(f"{root}: no usable images {what}")
    if labels is not None and len(categories) < 2:
        labels, categories = None, []  # one category is no condition at all
    has_alpha = any(bool((a[..., 3] < 255).any()) for a in arrays)
    grey = all(int((a[..., :3].max(axis=2).astype(np.int16) - a[..., :3].min(axis=2)).max()) <= GREY_TOLERANCE
               for a in arrays)
    fitted = np.stack([_premultiply(a) if a.shape[:2] == (size, size) else fit_image(a, size, fit, not has_alpha)
                       for a in arrays])
    channels = 4 if has_alpha else (1 if grey else 3)
    images = fitted[..., :3] if channels == 3 else fitted[..., :1] if channels == 1 else fitted
    name = root.stem if root.is_file() else root.name
    return ImageSet(np.ascontiguousarray(images), None if labels is None else np.asarray(labels, np.int64),
                    categories, files, name, skipped)
