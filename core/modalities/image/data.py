"""Image training data: a whole dataset held in memory as uint8, sampled with the engine's RNG.

``build_dataset(path, size, options)`` reads the set once (:mod:`.io`: folder or .npz, fit policy,
premultiplied alpha) and returns an :class:`ImageDataset` whose ``sample(batch, gen)`` returns
images in [-1, 1] (B, C, size, size) — and, for a conditional set, ``(images, labels)``, which the
engine passes on to the family. Every draw comes from the given CPU ``torch.Generator``, so a
resumed run draws the same batches.

Options (``data_options`` in the run's config): ``fit`` ("pad" | "crop" | "stretch", see
:mod:`.io`), ``hflip`` (random horizontal flips, default on: most sprites and icons read the same
mirrored; turn it off for text-like data), ``limit`` (use only the first N images after a seeded
shuffle — small-data experiments).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from .io import read_dataset

OPTIONS: dict[str, Any] = {"fit": "pad", "hflip": True, "limit": None}


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


class ImageDataset:
    def __init__(self, images: np.ndarray, labels: np.ndarray | None, info: dict[str, Any],
                 options: dict[str, Any]) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # (N, C, S, S)
        self.labels = None if labels is None else torch.from_numpy(labels.astype(np.int64))
        self.options = options
        #: JSON-serialisable facts: channels, crop, count, categories, name, files, skipped
        self.data_info = info

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``batch`` images drawn uniformly with replacement, float32 in [-1, 1] on CPU
        (+ their labels for a conditional set)."""
        idx = torch.randint(0, len(self.images), (batch,), generator=gen)
        flips = torch.rand(batch, generator=gen) < 0.5
        x = self.images[idx].float().div_(127.5).sub_(1.0)
        if self.options["hflip"]:
            x = torch.where(flips[:, None, None, None], x.flip(3), x)
        return x if self.labels is None else (x, self.labels[idx])


def build_dataset(path: str | Path, crop: int, options: dict[str, Any] | None = None,
                  warn: Callable[[str], None] = _stderr) -> ImageDataset:
    """Load an image dataset at ``crop``×``crop`` pixels (``--size``); DataError naming the path
    when it cannot be used."""
    opts = {**OPTIONS, **(options or {})}
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise DataError(f"unknown image data option(s): {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    crop = int(crop)
    if crop < 8 or crop & (crop - 1):
        raise DataError(f"image size {crop} is not a power of two of at least 8 (use --size 32, 64 or 128)")
    data = read_dataset(path, crop, opts["fit"], warn)
    images, labels, files = data.images, data.labels, data.files
    if opts["limit"] is not None:
        limit = int(opts["limit"])
        if limit < 2:
            raise DataError(f"data option limit={limit}: need at least 2 images")
        keep = np.sort(np.random.Generator(np.random.PCG64(0)).permutation(len(images))[:limit])
        images, files = images[keep], [files[i] for i in keep]
        labels = None if labels is None else labels[keep]
    info = {"name": data.name, "source": str(path), "channels": data.channels, "crop": int(crop),
            "count": len(images), "categories": data.categories, "fit": opts["fit"],
            "files": files if len(files) <= 10_000 else files[:10_000], "skipped": data.skipped}
    if labels is not None:  # the training mix, which a family may need after training
        info["category_counts"] = np.bincount(labels, minlength=len(data.categories)).tolist()
    return ImageDataset(images, labels, info, opts)
