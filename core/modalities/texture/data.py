"""Texture training data: one image or a folder of images, held in memory, sampled as random crops.

``build_dataset(path, crop, options)`` reads every image once (texture sets are a handful of
photos) and returns a :class:`TextureDataset` whose ``sample(batch, gen)`` draws random crops in
[-1, 1] using only the given CPU ``torch.Generator`` — so a resumed run draws the same crops.

Channels: 1 when every image is greyscale (by mode, or RGB with equal channels), else 3
(greyscale promoted to RGB, alpha dropped).
``path="builtin:skimage"`` uses scikit-image's bundled CC0 photos brick, grass and gravel.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
BUILTIN = "builtin:skimage"
GREY_TOLERANCE = 2  # max channel spread (of 255) for an RGB image to count as grey
OPTIONS: dict[str, Any] = {"hflip": True, "vflip": False, "rot90": False}


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


class TextureDataset:
    """In-memory uint8 images (C, H, W) and a crop sampler."""

    def __init__(self, images: list[torch.Tensor], crop: int, info: dict[str, Any],
                 options: dict[str, Any]) -> None:
        self.images, self.crop = images, crop
        self.options = {**OPTIONS, **options}
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise DataError(f"unknown texture data option(s): {', '.join(unknown)} "
                            f"(known: {', '.join(OPTIONS)})")
        #: JSON-serialisable facts: channels, crop, count, name, files, skipped
        self.data_info = info

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """``batch`` random crops (B, C, crop, crop), float32 in [-1, 1], on CPU.

        Each crop picks an image uniformly, then a uniform position inside it, then the enabled
        flips/rotations; every draw comes from ``gen``.
        """
        c = self.crop
        which = torch.randint(0, len(self.images), (batch,), generator=gen)
        pos = torch.rand(batch, 2, generator=gen, dtype=torch.float64)
        flips = torch.rand(batch, 3, generator=gen)
        crops = []
        for i in range(batch):
            img = self.images[int(which[i])]
            h, w = img.shape[1:]
            y = int(pos[i, 0] * (h - c + 1))
            x = int(pos[i, 1] * (w - c + 1))
            t = img[:, y:y + c, x:x + c]
            if self.options["hflip"] and flips[i, 0] < 0.5:
                t = t.flip(2)
            if self.options["vflip"] and flips[i, 1] < 0.5:
                t = t.flip(1)
            if self.options["rot90"] and flips[i, 2] < 0.5:
                t = t.transpose(1, 2)
            crops.append(t)
        return torch.stack(crops).float().div_(127.5).sub_(1.0)


# ---- reading ---------------------------------------------------------------------------------
def _read_image(path: Path) -> np.ndarray:
    """(H, W) for greyscale or (H, W, 3) uint8; raises OSError/ValueError for unreadable files."""
    from PIL import Image

    with Image.open(path) as img:
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


def _builtin() -> tuple[list[np.ndarray], list[str], str]:
    try:
        from skimage import data as skdata
    except ImportError:
        raise DataError(f"{BUILTIN}: needs scikit-image (pip install scikit-image)") from None
    names = ("brick", "grass", "gravel")
    return [np.asarray(getattr(skdata, n)()) for n in names], [f"skimage.data.{n}" for n in names], \
        "skimage-textures"


def build_dataset(path: str | Path, crop: int, options: dict[str, Any] | None = None,
                  warn: Callable[[str], None] = _stderr) -> TextureDataset:
    """Load a texture dataset. DataError (one line, naming the path) when it cannot be used;
    a corrupt file among good ones is skipped with a warning and listed in ``data_info``."""
    options = dict(options or {})
    skipped: list[dict[str, str]] = []
    if str(path) == BUILTIN:
        arrays, files, name = _builtin()
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
    for a, f in zip(arrays, files, strict=True):
        h, w = a.shape[:2]
        if h < crop or w < crop:
            raise DataError(f"{f}: image is {w}×{h}, smaller than the crop {crop}×{crop} "
                            "(use a smaller --crop or a larger image)")
    channels = 1 if all(a.ndim == 2 for a in arrays) else 3
    images = []
    for a in arrays:
        if a.ndim == 2:
            a = a[:, :, None] if channels == 1 else np.repeat(a[:, :, None], 3, axis=2)
        images.append(torch.from_numpy(a.transpose(2, 0, 1).copy()))  # own, writable memory
    info = {"name": name, "source": str(path), "channels": channels, "crop": int(crop),
            "count": len(images), "files": files, "skipped": skipped}
    return TextureDataset(images, crop, info, options)
