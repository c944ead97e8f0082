"""The texture modality's offline evaluation (torch-free): what ``ganforge eval TEXTURE_PACK``
runs through the codec hooks (``load_reference``, ``eval_samples``, ``eval_report``) and the
registered ``swd`` and ``kid`` metrics.

A texture pack is scored on ``CROP``-px crops: ``count`` crops cut at random from a few
generated textures, against as many random crops of the photos; the photos' own baselines
(:mod:`ganforge.core.metrics.texture`) are scored against the same reference crops, so the report
shows where the pack sits between ``real`` (the floor) and ``flat``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...metrics import texture as _texture
from ...pack import PackMeta

CROP = _texture.CROP
#: generated textures are at least this side (a multiple of the pack's stride) and each gives
#: about CROPS_PER_TEXTURE crops, so the crops cover several global latents
MIN_SIDE = 256
CROPS_PER_TEXTURE = 16
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class TexturePhotos:
    """The photos to score against, as float32 (H, W, C) in [0, 1] with the pack's channel count
    (1 for a greyscale pack, else 3), and the reference crops/scores computed once per draw."""

    def __init__(self, photos: list[np.ndarray], files: list[str], channels: int) -> None:
        self.images, self.files, self.channels = photos, files, channels
        self._reference: tuple[tuple[int, int], _texture.Reference] | None = None
        self._scores: tuple[Any, int, dict[str, float]] | None = None  # (crops, seed, scores)

    def __len__(self) -> int:
        return len(self.images)

    def reference(self, count: int, seed: int) -> _texture.Reference:
        """The ``count`` reference crops for ``seed`` (prepared once)."""
        if self._reference is None or self._reference[0] != (count, seed):
            crops = _texture.reference_crops(self.images, CROP, count, seed)
            self._reference = ((count, seed), _texture.Reference(crops, seed))
        return self._reference[1]

    def score(self, crops: np.ndarray, seed: int) -> dict[str, float]:
        """:func:`~ganforge.core.metrics.texture.score_texture` of ``crops`` (the last result is kept,
        so the swd and kid metrics share one computation)."""
        if self._scores is None or self._scores[0] is not crops or self._scores[1] != seed:
            self._scores = (crops, seed, _texture.score_texture(crops, self.reference(len(crops), seed)))
        return self._scores[2]


def _unit(a: np.ndarray, channels: int) -> np.ndarray:
    x = a.astype(np.float32) / np.float32(255.0)
    if x.ndim == 2:
        x = x[:, :, None]
    if channels == 1 and x.shape[2] == 3:
        return (x @ _LUMA)[:, :, None]
    if channels == 3 and x.shape[2] == 1:
        return np.repeat(x, 3, axis=2)
    return x


def load_reference(path: str | Path, meta: PackMeta) -> TexturePhotos:
    """The photos at ``path`` (an image, a folder, or ``builtin:skimage``), read as training reads
    them; a photo smaller than :data:`CROP` on a side is a DataError naming it."""
    from . import codec
    from .photos import read_photos

    channels = 1 if codec.settings(meta)[1] == 1 else 3
    photos = read_photos(path)
    photos.check_size(CROP, "evaluation crop", f"texture packs are scored on {CROP}-px crops; use larger photos")
    return TexturePhotos([_unit(a, channels) for a in photos.arrays], photos.files, channels)


def eval_samples(runtime: Any, reference: TexturePhotos, count: int, seed: int,
                 crops_per_texture: int = CROPS_PER_TEXTURE, **options: Any) -> np.ndarray:
    """``count`` random ``CROP``-px crops (N, CROP, CROP, C) of generated textures of side
    ``MIN_SIDE`` or more (a multiple of the pack's stride), ``crops_per_texture`` from each;
    deterministic in ``seed``. Each texture has one global latent, so the default (16: 8 textures
    for 128 crops) scores what a few textures hold; 1 scores the family (one crop per latent), as
    independent as the reference's crops."""
    from . import codec

    if crops_per_texture < 1:
        raise ValueError(f"crops_per_texture must be at least 1 (got {crops_per_texture})")
    stride = codec.settings(runtime.meta)[0]
    side = -(-max(MIN_SIDE, CROP) // stride) * stride
    textures = max(1, min(count, -(-count // int(crops_per_texture))))
    images = runtime.generate(seed, textures, size=f"{side}x{side}", **options)
    images = images[..., :1] if reference.channels == 1 else images[..., :3]
    rng = np.random.Generator(np.random.PCG64([int(seed), 101]))
    out = np.empty((count, CROP, CROP, images.shape[3]), np.float32)
    for i in range(count):
        y, x = (int(v) for v in rng.integers(0, side - CROP + 1, 2))
        out[i] = images[i % textures, y:y + CROP, x:x + CROP]
    return out


def eval_report(generated: np.ndarray, reference: TexturePhotos, seed: int) -> dict[str, Any]:
    """The baselines and pixel statistics ``ganforge eval`` adds to a texture report."""
    ref = reference.reference(len(generated), seed)
    baselines = _texture.score_baselines(reference.images, ref, CROP, len(generated), seed)
    std, ref_std = _texture.pixel_std(generated), _texture.pixel_std(ref.crops)
    return {"baselines": baselines, "pixel_std": std, "reference_pixel_std": ref_std,
            "pixel_std_ratio": std / ref_std if ref_std > 0 else float("nan"),
            "crop": CROP, "reference": len(generated), "photos": len(reference)}


# ---- registered metrics ------------------------------------------------------------------------
def swd(samples: np.ndarray, reference: TexturePhotos, **options: Any) -> dict[str, Any]:
    scores = reference.score(samples, int(options.get("seed", 0)))
    return {"value": scores["swd"], **{k: v for k, v in scores.items() if k.startswith("swd_")}}


def kid(samples: np.ndarray, reference: TexturePhotos, **options: Any) -> float:
    return reference.score(samples, int(options.get("seed", 0)))["kid"]

