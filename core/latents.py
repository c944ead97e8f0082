"""Moving between two seeds' inputs (numpy only): the one interpolation every host and codec uses.

Re-exported by :mod:`ganforge.core.runtime` (``runtime.slerp``, ``PackRuntime.between``); hosts
(Blender's Interpolate) and codecs (the image strip) call it there instead of keeping a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of two normal draws (each array treated as one vector).

    A linear mix of two independent standard-normal vectors has norm ~sqrt(1/2) of theirs
    half-way, which a generator trained on N(0, 1) renders washed out; slerp keeps the norm.
    ``t=0`` and ``t=1`` return ``a`` and ``b`` exactly, so the ends of an interpolation are the
    seeds' own results. Computed in float64 (float32 arccos near 1 loses the small angles) and
    returned in ``a``'s dtype.
    """
    if t <= 0.0:
        return a.copy()
    if t >= 1.0:
        return b.copy()
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0.0 or nb == 0.0:
        return ((1 - t) * a64 + t * b64).reshape(a.shape).astype(a.dtype)
    omega = np.arccos(np.clip(np.dot(a64 / na, b64 / nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: slerp is undefined there, the lerp is fine
        out = (1 - t) * a64 + t * b64
    else:
        out = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return out.reshape(a.shape).astype(a.dtype)


def mix_inputs(specs: Sequence[Any], a: dict[str, np.ndarray], b: dict[str, np.ndarray],
               t: float) -> dict[str, np.ndarray]:
    """One item's inputs at ``t`` between two single-item draws ``a`` and ``b`` (``specs``: the
    pack's ``meta.inputs``): ``normal`` and ``field`` draws move along the great circle (:func:`slerp`);
    every other input keeps ``a``'s value. A uniform or Gumbel draw usually picks something
    discrete (a category, a token), so a linear mix would jump between choices mid-way rather
    than move smoothly; host-given inputs (a label, a condition) are the user's, not the seed's.
    """
    return {spec.name: slerp(a[spec.name], b[spec.name], t) if spec.draw in ("normal", "field")
            else a[spec.name]
            for spec in specs}


def stack_items(specs: Sequence[Any], items: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Single-item feeds joined into one batch along each input's ``batch`` axis (an input
    without one is shared: the first item's)."""
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        parts = [item[spec.name] for item in items]
        out[spec.name] = (np.concatenate(parts, axis=list(spec.shape).index("batch"))
                          if "batch" in spec.shape else parts[0])
    return out


__all__ = ["mix_inputs", "slerp", "stack_items"]
