"""Texture training data: one image or a folder of images, held in memory, sampled as random crops.

With ``holdout=F`` (off by default), a band at the end of each photo's longer side (a fraction
F of it, at least one crop wide) is never trained on, and the training loop's sample metric,
and so the ``best`` checkpoint, is measured on crops of it (``eval_sample``). Off by default
because one strip of a photo is not the photo: on immunohistochemistry the band's SWD rose from
1.29 to 2.15 over 30 minutes while the texture's score against the whole photo fell from 0.21
to 0.08, so "best on the band" was the worst checkpoint (benchmarks/RESULTS.md, session 11). A
photo too small for a band and a training crop beside it is trained on whole; when no photo has
a band the metric uses training crops.

``build_dataset(path, crop, options)`` reads every image once (texture sets are a handful of
photos) and returns a :class:`TextureDataset` whose ``sample(batch, gen)`` draws random crops in
[-1, 1] using only the given CPU ``torch.Generator`` — so a resumed run draws the same crops.

Channels: 1 when every image is greyscale (by mode, or RGB with equal channels), else 3
(greyscale promoted to RGB, alpha dropped).
``path="builtin:skimage"`` uses scikit-image's bundled CC0 photos brick, grass and gravel.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from .photos import BUILTIN, EXTENSIONS, GREY_TOLERANCE, read_photos

OPTIONS: dict[str, Any] = {"hflip": True, "vflip": False, "rot90": False, "holdout": 0.0}
MAX_HOLDOUT = 0.5  # a larger band would leave the model less of the photo than it is judged on
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
        #: JSON-serialisable facts: channels, crop, count, name, files, skipped, holdout
        self.data_info = info
        holdout = self.options["holdout"]
        if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout <= MAX_HOLDOUT:
            raise DataError(f"holdout must be a fraction from 0 to {MAX_HOLDOUT} of each photo (got {holdout!r})")
        self.train_boxes, self.eval_boxes = [], []
        for img in images:
            train, held = split(img.shape[1], img.shape[2], crop, float(holdout))
            self.train_boxes.append(train)
            self.eval_boxes.append(held)
        #: the photos with a held-out band
        self.held = [i for i, box in enumerate(self.eval_boxes) if box is not None]
        self.data_info["holdout"] = {"fraction": float(holdout), "photos": len(self.held)}
        #: the photos' contrast, as ``ganforge eval`` measures it (mean over channels of the
        #: per-channel pixel std, in [0, 1] units): the texture family's ``r1_contrast`` reads it
        self.data_info["pixel_std"] = pixel_std(images)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """``batch`` random crops (B, C, crop, crop), float32 in [-1, 1], on CPU.

        Each crop picks an image uniformly, then a uniform position inside it, then the enabled
        flips/rotations; every draw comes from ``gen``.
        """
        return self._crops(list(range(len(self.images))), self.train_boxes, batch, gen, flip=True)

    def eval_sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """``batch`` crops of the held-out bands (no flips): the sample metric's real side.
        Training crops (:meth:`sample`) when no photo has a band."""
        if not self.held:
            return self.sample(batch, gen)
        return self._crops(self.held, self.eval_boxes, batch, gen, flip=False)

    def _crops(self, which_images: list[int], boxes: list, batch: int, gen: torch.Generator,
               flip: bool) -> torch.Tensor:
        c = self.crop
        which = torch.randint(0, len(which_images), (batch,), generator=gen)
        pos = torch.rand(batch, 2, generator=gen, dtype=torch.float64)
        flips = torch.rand(batch, 3, generator=gen)
        crops = []
        for i in range(batch):
            k = which_images[int(which[i])]
            img, (y0, y1, x0, x1) = self.images[k], boxes[k]
            y = y0 + int(pos[i, 0] * (y1 - y0 - c + 1))
            x = x0 + int(pos[i, 1] * (x1 - x0 - c + 1))
            t = img[:, y:y + c, x:x + c]
            if flip and self.options["hflip"] and flips[i, 0] < 0.5:
                t = t.flip(2)
            if flip and self.options["vflip"] and flips[i, 1] < 0.5:
                t = t.flip(1)
            if flip and self.options["rot90"] and flips[i, 2] < 0.5:
                t = t.transpose(1, 2)
            crops.append(t)
        return torch.stack(crops).float().div_(127.5).sub_(1.0)


def pixel_std(images: list[torch.Tensor]) -> float:
    """Mean over channels of the per-channel std of every pixel of ``images`` (uint8 (C, H, W)),
    in [0, 1] units; exact over photos of different sizes. From 256-bin histograms, so an
    enormous photo costs no float copy of itself."""
    channels = images[0].shape[0]
    counts = torch.zeros(channels, 256, dtype=torch.float64)
    for img in images:
        for c in range(channels):
            counts[c] += torch.bincount(img[c].flatten(), minlength=256).double()
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    p = counts / counts.sum(dim=1, keepdim=True)
    mean = p @ levels
    var = (p @ levels.square() - mean.square()).clamp_min(0)
    return float(var.sqrt().mean())


def split(h: int, w: int, crop: int, fraction: float) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int] | None]:
    """(training box, held-out box or None) of an ``h``×``w`` photo, each ``(y0, y1, x0, x1)``:
    a band across the end of the longer side, ``fraction`` of it and at least ``crop`` wide,
    when a training crop still fits beside it."""
    whole = (0, h, 0, w)
    if fraction <= 0:
        return whole, None
    side = max(h, w)
    band = max(crop, math.ceil(fraction * side))
    if side - band < crop:
        return whole, None
    if w >= h:
        return (0, h, 0, w - band), (0, h, w - band, w)
    return (0, h - band, 0, w), (h - band, h, 0, w)


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


#: data options newer than some saved runs, with what those runs had (the training engine gives a
#: resumed run whose ``data_info`` lacks the key this value): runs saved before the held-out band
#: trained on whole photos and go on doing so
build_dataset.added_later = {"holdout": 0}  # type: ignore[attr-defined]
