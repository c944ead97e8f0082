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
from .photos import BUILTIN, EXTENSIONS, GREY_TOLERANCE, read_photos

OPTIONS: dict[str, Any] = {"hflip": True, "vflip": False, "rot90": False}
__all__ = ["BUILTIN", "EXTENSIONS", "GREY_TOLERANCE", "OPTIONS", "TextureDataset", "build_dataset"]


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


def build_dataset(path: str | Path, crop: int, options: dict[str, Any] | None = None,
                  warn: Callable[[str], None] = _stderr) -> TextureDataset:
    """Load a texture dataset. DataError (one line, naming the path) when it cannot be used;
    a corrupt file among good ones is skipped with a warning and listed in ``data_info``."""
    options = dict(options or {})
    photos = read_photos(path, warn)
    arrays, files, name, skipped = photos.arrays, photos.files, photos.name, photos.skipped
    photos.check_size(crop, "crop", "use a smaller --crop or a larger image")
    channels = 1 if all(a.ndim == 2 for a in arrays) else 3
    images = []
    for a in arrays:
        if a.ndim == 2:
            a = a[:, :, None] if channels == 1 else np.repeat(a[:, :, None], 3, axis=2)
        images.append(torch.from_numpy(a.transpose(2, 0, 1).copy()))  # own, writable memory
    info = {"name": name, "source": str(path), "channels": channels, "crop": int(crop),
            "count": len(images), "files": files, "skipped": skipped}
    return TextureDataset(images, crop, info, options)
