"""Texture scores and the photo's own baselines, numpy only (``ganforge eval``, benchmarks).

A texture is judged on fixed-size crops (128 px by default): SWD on Laplacian-pyramid patches
(fine grain to coarse layout, :mod:`.swd`) and KID on the random-CNN features (:mod:`.features`),
each against random crops of the photos. A number alone says little, so the same scores are
taken for stand-ins built from the photos themselves, against the *same* reference crops:

``real``       other random crops of the photos (an independent draw): the floor, what a
               perfect generator would score at this crop count
``shuffle64``  crops assembled from random 64-px patches of the photos (right texture,
``shuffle32``  wrong layout; the smaller the patches, the more structure is lost)
``shuffle16``
``noise``      Gaussian noise with the photos' per-channel mean and std, clipped to [0, 1]
``flat``       the photos' mean colour everywhere: the ceiling of a collapsed generator

A generator that learned the texture sits near ``real``; one that learned only colours sits
near ``noise``/``flat``. Every draw comes from ``PCG64`` seeded by ``seed`` and a fixed stream
number, so the numbers are reproducible.

Images are float arrays in [0, 1], (H, W, C) per photo and (N, crop, crop, C) per crop set, with
C = 1 (grey) or 3; photos may differ in size but not in channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import features as _features
from . import frechet as _frechet
from . import swd as _swd

CROP = 128
COUNT = 128
BASELINES = ("real", "shuffle64", "shuffle32", "shuffle16", "noise", "flat")
# stream numbers of the random draws (reference crops and each baseline draw independently)
_REFERENCE, _REAL, _NOISE, _SHUFFLE = 0, 1, 2, 3


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([int(seed), stream]))


def _check(photos: Sequence[np.ndarray], crop: int) -> list[np.ndarray]:
    if not photos:
        raise ValueError("no photos")
    out = [np.asarray(p, np.float32) for p in photos]
    out = [p[:, :, None] if p.ndim == 2 else p for p in out]
    if len({p.shape[2] for p in out}) != 1 or out[0].shape[2] not in (1, 3):
        raise ValueError(f"photos must all be (H, W, 1) or all (H, W, 3), got {[p.shape for p in out]}")
    small = [p.shape for p in out if min(p.shape[:2]) < crop]
    if small:
        raise ValueError(f"a photo of shape {small[0]} is smaller than the crop {crop}")
    return out


def random_crops(photos: Sequence[np.ndarray], crop: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` crops (N, crop, crop, C) float32: each picks a photo uniformly, then a uniform
    position inside it (as training does)."""
    photos = _check(photos, crop)
    which = rng.integers(0, len(photos), count)
    out = np.empty((count, crop, crop, photos[0].shape[2]), np.float32)
    for i, k in enumerate(which):
        h, w = photos[k].shape[:2]
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        out[i] = photos[k][y:y + crop, x:x + crop]
    return out


def reference_crops(photos: Sequence[np.ndarray], crop: int = CROP, count: int = COUNT, seed: int = 0) -> np.ndarray:
    """The crops every candidate (generated or baseline) is scored against."""
    return random_crops(photos, crop, count, _rng(seed, _REFERENCE))


def shuffled(photos: Sequence[np.ndarray], crop: int, count: int, patch: int,
             rng: np.random.Generator) -> np.ndarray:
    """``count`` crop-sized images tiled from independent random ``patch``-px patches."""
    cells = -(-crop // patch)
    pieces = random_crops(photos, patch, count * cells * cells, rng)
    c = pieces.shape[3]
    grid = pieces.reshape(count, cells, cells, patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(grid.reshape(count, cells * patch, cells * patch, c)[:, :crop, :crop])


def pixel_stats(photos: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over every pixel of every photo."""
    flat = np.concatenate([p.reshape(-1, p.shape[2]) for p in _check(photos, 1)]).astype(np.float64)
    return flat.mean(axis=0), flat.std(axis=0)


def texture_baselines(photos: Sequence[np.ndarray], crop: int = CROP, count: int = COUNT,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """The baseline crop sets ``{name: (count, crop, crop, C)}`` for :data:`BASELINES`."""
    photos = _check(photos, crop)
    mean, std = pixel_stats(photos)
    c = photos[0].shape[2]
    out = {"real": random_crops(photos, crop, count, _rng(seed, _REAL))}
    for k, patch in enumerate((64, 32, 16)):
        out[f"shuffle{patch}"] = shuffled(photos, crop, count, min(patch, crop), _rng(seed, _SHUFFLE + k))
    noise = _rng(seed, _NOISE).standard_normal((count, crop, crop, c)) * std + mean
    out["noise"] = np.clip(noise, 0.0, 1.0).astype(np.float32)
    out["flat"] = np.broadcast_to(mean.astype(np.float32), (count, crop, crop, c)).copy()
    return out


class Reference:
    """Reference crops with what every comparison needs from them computed once (KID features;
    per Laplacian level the normalised SWD descriptors and their statistics), for scoring many
    candidate sets against the same crops. Scores equal :func:`.swd.swd` and KID's exactly."""

    def __init__(self, crops: np.ndarray, seed: int = 0, per_image: int = 32, patch: int = 7,
                 directions: int = 256, min_size: int = 16) -> None:
        self.crops = np.asarray(crops, np.float32)
        if self.crops.ndim != 4 or len(self.crops) < 2:
            raise ValueError(f"reference crops must be (N >= 2, S, S, C), got {self.crops.shape}")
        self.seed, self.per_image, self.patch, self.directions = int(seed), per_image, patch, directions
        self.features = _features.random_cnn_features(self.crops)
        self.levels = max(1, int(np.log2(self.crops.shape[1] / min_size)) + 1)
        self._levels = []  # (side, mean, std, normalised descriptors) per usable level
        for k, band in enumerate(_swd.laplacian_pyramid(self.crops, self.levels)):
            if min(band.shape[1:3]) < patch:
                break
            d = _swd._descriptors(band, per_image, patch, np.random.Generator(np.random.PCG64([self.seed, k])))
            mean, std = d.mean(axis=(0, 1)), d.std(axis=(0, 1)) + 1e-8
            self._levels.append((band.shape[1], mean, std, ((d - mean) / std).reshape(len(d), -1)))

    def swd(self, generated: np.ndarray) -> dict[str, float]:
        """:func:`.swd.swd` of ``generated`` (as many crops as the reference) against these crops."""
        out: dict[str, float] = {}
        for k, (band, (side, mean, std, db)) in enumerate(zip(_swd.laplacian_pyramid(generated, self.levels),
                                                              self._levels, strict=False)):
            da = _swd._descriptors(band, self.per_image, self.patch,
                                   np.random.Generator(np.random.PCG64([self.seed, k])))
            da = ((da - mean) / std).reshape(len(da), -1)
            out[f"swd_{side}"] = _swd.sliced_wasserstein_descriptors(da, db, self.directions, self.seed + k)
        return {"swd": float(np.mean(list(out.values()))), **out}


def score_texture(generated: np.ndarray, reference: np.ndarray | Reference, seed: int = 0) -> dict[str, float]:
    """``{"swd": ..., "kid": ...}`` of crop set ``generated`` against ``reference`` (as many crops
    of the same shape, or a :class:`Reference` of them); lower is better for both. SWD is the
    mean over the Laplacian levels (``swd_<side>`` per level come too); KID is unbiased, so the
    real-vs-real floor can be slightly negative."""
    ref = reference if isinstance(reference, Reference) else Reference(reference, seed)
    gen = np.asarray(generated, np.float32)
    if gen.shape != ref.crops.shape:
        raise ValueError(f"crop sets differ in shape: {gen.shape} and {ref.crops.shape}")
    result = ref.swd(gen)
    kid, _ = _frechet.kid(_features.random_cnn_features(gen), ref.features, seed=ref.seed)
    return {"swd": result.pop("swd"), "kid": float(kid), **result}


def score_baselines(photos: Sequence[np.ndarray], reference: np.ndarray | Reference, crop: int = CROP,
                    count: int = COUNT, seed: int = 0) -> dict[str, dict[str, float]]:
    """``{baseline: {"swd": ..., "kid": ..., "swd_<side>": ...}}`` against ``reference``, in
    :data:`BASELINES` order (the per-level SWDs say at which scale a pack differs from them)."""
    ref = reference if isinstance(reference, Reference) else Reference(reference, seed)
    return {name: score_texture(crops, ref) for name, crops in texture_baselines(photos, crop, count, seed).items()}


def pixel_std(crops: np.ndarray) -> float:
    """Mean over channels of the per-channel pixel standard deviation of a crop set (the issue's
    collapse check: a generator's should be at least half the photos')."""
    x = np.asarray(crops, np.float64)
    return float(x.reshape(-1, x.shape[-1]).std(axis=0).mean())
