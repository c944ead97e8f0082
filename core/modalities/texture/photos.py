"""Reading texture photos, torch-free: training (``data.build_dataset``) and evaluation
(``codec.load_reference``) read the same files the same way.

A path is one image or a folder of images (searched recursively, hidden entries skipped), or
``builtin:skimage`` (scikit-image's bundled CC0 brick, grass and gravel photos) or
``builtin:ihc`` (its colour immunohistochemistry micrograph: what ``make demo`` learns). Images come
back as uint8 arrays, (H, W) for greyscale (by mode, or RGB with equal channels) else (H, W, 3).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
BUILTIN = "builtin:skimage"
#: built-in data sets: name -> (scikit-image data functions, data set name)
BUILTINS: dict[str, tuple[tuple[str, ...], str]] = {
    BUILTIN: (("brick", "grass", "gravel"), "skimage-textures"),
    # Colour, and a texture through and through (stained tissue: nuclei, glands, fibres), 512²;
    # scikit-image ships it (public domain) so a fresh install has it offline.
    "builtin:ihc": (("immunohistochemistry",), "skimage-ihc"),
}
GREY_TOLERANCE = 2  # max channel spread (of 255) for an RGB image to count as grey
#: Photos are held in memory whole; above this a photo is refused before it is decoded (a small
#: compressed file can declare 12000² pixels). Texture training samples crops of ~64 px, so a
#: larger photo adds nothing a downscaled or cropped one would not.
MAX_MEGAPIXELS = 64


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class Photos:
    """What :func:`read_photos` found: uint8 arrays, their file names, skipped files, a name."""

    arrays: list[np.ndarray]
    files: list[str]
    name: str
    skipped: list[dict[str, str]] = field(default_factory=list)

    def check_size(self, crop: int, what: str, advice: str) -> None:
        """DataError naming the first image smaller than ``crop`` on either side."""
        for a, f in zip(self.arrays, self.files, strict=True):
            h, w = a.shape[:2]
            if h < crop or w < crop:
                raise DataError(f"{f}: image is {w}×{h}, smaller than the {what} {crop}×{crop} ({advice})")


# ---- reading ---------------------------------------------------------------------------------
def _read_image(path: Path) -> np.ndarray:
    """(H, W) for greyscale or (H, W, 3) uint8; raises OSError/ValueError for unreadable files."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        if w * h > MAX_MEGAPIXELS * 1_000_000:
            raise ValueError(f"{w}×{h} is {w * h / 1e6:.0f} megapixels, over the {MAX_MEGAPIXELS}-megapixel "
                             "limit: downscale or crop it")
        img.load()  # decode now: truncated/corrupt files fail here, not mid-training
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            a = np.asarray(img, dtype=np.float64)
            scale = 255.0 / 65535.0 if a.max() > 255 else 1.0
            return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
        if mode in ("1", "L", "LA"):
            return np.asarray(img.convert("L"))
        rgb = np.asarray(img.convert("RGB"))  # RGBA, P, CMYK, YCbCr...
    # Grey content stored as RGB (WebP has no grey mode; many JPEGs) counts as greyscale; lossy
    # codecs leave channels a level or two apart, far below anything visible.
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    if spread.max() <= GREY_TOLERANCE:
        return np.round(rgb.mean(axis=2)).astype(np.uint8)
    return rgb


def _list_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _builtin(path: str) -> tuple[list[np.ndarray], list[str], str]:
    try:
        from skimage import data as skdata
    except ImportError:
        raise DataError(f"{path}: needs scikit-image (pip install scikit-image)") from None
    names, name = BUILTINS[path]
    return [np.asarray(getattr(skdata, n)()) for n in names], [f"skimage.data.{n}" for n in names], name


def read_photos(path: str | Path, warn: Callable[[str], None] = _stderr) -> Photos:
    """Every readable image under ``path``. DataError (one line, naming the path) when there is
    none; a corrupt file among good ones is skipped with a warning and listed in ``skipped``."""
    skipped: list[dict[str, str]] = []
    if str(path) in BUILTINS:
        arrays, files, name = _builtin(str(path))
    else:
        root = Path(path).expanduser()
        if not root.exists():
            raise DataError(f"{root}: no such file or folder")
        all_files = _list_files(root)
        if root.is_dir() and not all_files:
            raise DataError(f"{root}: folder is empty")
        candidates = [p for p in all_files if p.suffix.lower() in EXTENSIONS or root.is_file()]
        if not candidates:
            raise DataError(f"{root}: no images (PNG/JPEG/WebP) in this folder "
                            f"({len(all_files)} other file(s))")
        arrays, files = [], []
        for p in candidates:
            try:
                arrays.append(_read_image(p))
                files.append(str(p))
            except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...
                reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
                if root.is_file():
                    raise DataError(f"{p}: not a readable image ({reason})") from None
                skipped.append({"file": str(p), "reason": reason})
                warn(f"warning: skipping {p}: not a readable image ({reason})")
        if not arrays:
            raise DataError(f"{root}: none of the {len(candidates)} image file(s) could be read "
                            f"(first: {Path(skipped[0]['file']).name}: {skipped[0]['reason']})")
        name = root.stem if root.is_file() else root.name
    return Photos(arrays, files, name, skipped)
