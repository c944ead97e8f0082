"""Smooth normal fields (numpy only): a latent that varies slowly across a texture.

A texture's global latent picks which of the photo's regions it draws (the cup, the crema, the
saucer); one vector per texture makes every texture one region. A *field* gives every ``cell``
latent cells an independent standard-normal vector and blends neighbours smoothly, so one texture
holds several regions with boundaries between them, and a crop of it looks like a crop of the
photo. The runtime draws it (input draw ``"field"``, ``cell`` in the input's ``default``) and the
texture family draws the same process in training, through these functions.

Blending: each position takes the two nearest coarse vectors along each axis with weights
cos² / sin² of the fractional position (smooth, no kinks at the coarse points, so the generator
sees no grid), and is divided by the weights' L2 norm, so every position is exactly N(0, 1)
like the vector it replaces. Over a whole texture the coarse grid is periodic and fits the size
exactly, so the field, and the texture, still tile without a seam.
"""

from __future__ import annotations

import math

import numpy as np


def coarse_cells(n: int, cell: int) -> int:
    """Coarse vectors across ``n`` latent cells of a whole (periodic) texture: about one per
    ``cell``, at least one."""
    return max(1, round(n / cell))


def blend_weights(n: int, coarse: int, period: float, offset: float = 0.0) -> np.ndarray:
    """(n, coarse) float64 weights: row i blends the coarse vectors around latent cell i.

    Latent cell i sits at ``(i + 0.5 + offset) * coarse / period - 0.5`` in coarse units,
    wrapped around ``coarse``: a whole texture uses ``period = n`` (it tiles); training crops use
    a window (``period`` larger than ``n``, a random ``offset``) so they never see the wrap.
    Rows have unit L2 norm (each entry of the blend is N(0, 1) again).
    """
    u = (np.arange(n, dtype=np.float64) + 0.5 + offset) * coarse / period - 0.5
    j0 = np.floor(u)
    t = u - j0
    out = np.zeros((n, coarse), dtype=np.float64)
    rows = np.arange(n)
    np.add.at(out, (rows, j0.astype(np.int64) % coarse), np.cos(0.5 * math.pi * t) ** 2)
    np.add.at(out, (rows, (j0.astype(np.int64) + 1) % coarse), np.sin(0.5 * math.pi * t) ** 2)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def periodic_field(coarse: np.ndarray, h: int, w: int) -> np.ndarray:
    """Blend ``coarse`` (..., gh, gw) into a (..., h, w) float32 field that wraps around."""
    gh, gw = coarse.shape[-2:]
    a, b = blend_weights(h, gh, h), blend_weights(w, gw, w)
    return np.einsum("ij,...jk,lk->...il", a, coarse.astype(np.float64), b).astype(np.float32)


def draw_field(rng: np.random.Generator, shape: tuple[int, ...], cell: int) -> np.ndarray:
    """The runtime's ``field`` draw: ``shape`` (..., h, w), one normal vector per ``cell`` cells."""
    *lead, h, w = shape
    coarse = rng.standard_normal((*lead, coarse_cells(h, cell), coarse_cells(w, cell)), dtype=np.float32)
    return periodic_field(coarse, h, w)


__all__ = ["blend_weights", "coarse_cells", "draw_field", "periodic_field"]
