"""PBR maps from a generated texture: height, normal, roughness, ambient occlusion (numpy only).

A texture pack makes colour; game engines and renderers want a full map set beside it. This
module derives the other maps from the colour, torch-free, so the CLI, Python and the Blender
extension make the same maps from the same pixels.

**Every filter wraps around.** Blurs are products in the Fourier domain (a periodic Gaussian),
gradients are ``np.roll`` differences: the maps are computed on the torus, exactly like the
generator's circular padding, so each map tiles wherever the colour tiles. Shifting the colour
by ``(dy, dx)`` shifts every map by the same amount (tested).

Maps (all float32 in [0, 1], top-left origin):

- ``height`` (H, W): luminance blended across scales (``detail``: fine versus coarse), centred
  and scaled by ``contrast``. A greyscale pack's output *is* its height and is used as it is.
- ``normal`` (H, W, 3): tangent space, ``0.5 + 0.5 * n``; OpenGL convention (green = +Y up, what
  Blender and glTF use) or DirectX (green flipped, Unreal); ``strength``: height units per pixel.
- ``roughness`` (H, W): rough where the colour is busy and in cavities, in ``roughness_range``;
  ``invert_roughness`` swaps smooth and rough.
- ``ao`` (H, W): cavity occlusion: how far each point lies below its neighbourhood's mean height.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .errors import GanforgeError

#: Map names in the order they are written; ``color`` is the texture itself.
MAPS: tuple[str, ...] = ("color", "normal", "height", "roughness", "ao")
#: Maps with one channel (written as greyscale PNGs; height in 16 bits).
GREY_MAPS = frozenset({"height", "roughness", "ao"})
NORMAL_FORMATS = ("opengl", "directx")
#: Luma weights (Rec. 709): green carries most of perceived brightness, so of "shape".
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
#: Blur radii (pixels) the height blends: fine grain to broad shapes.
_HEIGHT_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
#: Neighbourhood radii for the cavity (AO) and the local contrast (roughness).
_AO_SIGMAS = (2.0, 6.0, 16.0)
_CONTRAST_SIGMA = 3.0


@dataclass(frozen=True)
class PbrOptions:
    """How maps are derived; the defaults are what ``ganforge generate --maps`` uses."""

    detail: float = 0.5            # 0: broad shapes only, 1: finest grain dominates the height
    contrast: float = 1.0          # height spread around 0.5
    normal_strength: float = 2.0   # the height's full range, in pixels of depth
    normal_format: str = "opengl"  # or "directx" (green flipped)
    roughness_range: tuple[float, float] = field(default=(0.35, 0.9))
    invert_roughness: bool = False
    ao_strength: float = 1.0

    def __post_init__(self) -> None:
        lo, hi = self.roughness_range
        checks = [(0.0 <= self.detail <= 1.0, f"detail {self.detail} is outside 0..1"),
                  (0.0 <= self.contrast <= 10.0, f"contrast {self.contrast} is outside 0..10"),
                  (0.0 <= self.normal_strength <= 100.0, f"normal strength {self.normal_strength} is outside 0..100"),
                  (self.normal_format in NORMAL_FORMATS,
                   f"normal format {self.normal_format!r} is not one of {', '.join(NORMAL_FORMATS)}"),
                  (0.0 <= lo <= 1.0 and 0.0 <= hi <= 1.0, f"roughness range {lo},{hi} is outside 0..1"),
                  (0.0 <= self.ao_strength <= 10.0, f"AO strength {self.ao_strength} is outside 0..10")]
        for ok, message in checks:
            if not ok:
                raise GanforgeError(message)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PbrOptions:
        """The options named like this class's fields (CLI, host settings); others are ignored."""
        given = {f.name: options[f.name] for f in fields(cls) if options.get(f.name) is not None}
        if "roughness_range" in given:
            given["roughness_range"] = parse_range(given["roughness_range"])
        return replace(cls(), **given)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


def parse_maps(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"color,normal"`` (or a list) -> known map names in :data:`MAPS` order, no repeats;
    an unknown name is one error line listing the known ones."""
    if value is None:
        return ()
    names = [n.strip().lower() for n in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in MAPS]
    if unknown:
        raise GanforgeError(f"unknown map {', '.join(map(repr, unknown))}: choose from {', '.join(MAPS)}")
    if not names:
        raise GanforgeError(f"--maps is empty: choose from {', '.join(MAPS)}")
    return tuple(m for m in MAPS if m in names)


def parse_range(value: str | Sequence[float]) -> tuple[float, float]:
    """``"0.3,0.9"`` or ``(0.3, 0.9)`` -> ``(0.3, 0.9)``."""
    try:
        parts = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        parts = []
    if len(parts) != 2:
        raise GanforgeError(f"roughness range {value!r} is not LOW,HIGH (e.g. 0.35,0.9)")
    return parts[0], parts[1]


# ---- periodic filters ---------------------------------------------------------------------------
def _gaussian_transfer(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """The Fourier transform of a Gaussian of ``sigma`` pixels on a torus of ``shape`` (for rfft2)."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy * fy + fx * fx))


class _Torus:
    """One field's spectrum, reused for every blur of it (one forward FFT, one inverse each)."""

    def __init__(self, x: np.ndarray) -> None:
        self.shape = x.shape
        self.spectrum = np.fft.rfft2(x.astype(np.float64, copy=False))

    def blur(self, sigma: float) -> np.ndarray:
        out = np.fft.irfft2(self.spectrum * _gaussian_transfer(self.shape, sigma), s=self.shape)
        return out.astype(np.float32)


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Periodic Gaussian blur of a 2-D field (wraps around: what leaves one edge enters the other)."""
    return _Torus(x).blur(sigma)


# ---- the maps -----------------------------------------------------------------------------------
def _as_image(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[2] not in (1, 3, 4) or min(x.shape[:2]) < 2:
        raise GanforgeError(f"a texture for PBR maps is (H, W, 1|3|4) with sides >= 2, got {np.shape(image)}")
    return x


def is_grey(image: np.ndarray) -> bool:
    """One channel, or three equal ones (how the texture codec returns a greyscale pack)."""
    x = _as_image(image)
    return x.shape[2] == 1 or (np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2]))


def luminance(image: np.ndarray) -> np.ndarray:
    x = _as_image(image)
    return x[..., 0].copy() if x.shape[2] == 1 else x[..., :3] @ _LUMA


def height(image: np.ndarray, options: PbrOptions | None = None) -> np.ndarray:
    """Height in [0, 1] (H, W); a greyscale texture is its own height (see the module docstring)."""
    o = options or PbrOptions()
    x = _as_image(image)
    if is_grey(x):
        return np.clip(x[..., 0], 0.0, 1.0).astype(np.float32)
    lum = _Torus(luminance(x))
    # Weights fall geometrically from fine to coarse (detail > 0.5) or the reverse (< 0.5): one
    # knob moves the height between grain and broad relief without changing its overall spread.
    ratio = 4.0 ** (1.0 - 2.0 * o.detail)
    weights = np.array([ratio ** k for k in range(len(_HEIGHT_SIGMAS))])
    weights /= weights.sum()
    h = sum(w * lum.blur(s) for w, s in zip(weights, _HEIGHT_SIGMAS, strict=True))
    h = h - h.mean()
    spread = float(h.std())
    if spread < 1e-6:  # a flat texture has a flat height, not amplified noise
        return np.full(x.shape[:2], 0.5, dtype=np.float32)
    # 3 standard deviations span the half range at contrast 1: few pixels clip.
    return np.clip(0.5 + o.contrast * h / (6.0 * spread), 0.0, 1.0).astype(np.float32)


def normal(h: np.ndarray, strength: float = 2.0, normal_format: str = "opengl") -> np.ndarray:
    """Tangent-space normals of the height field ``h`` (H, W), encoded ``0.5 + 0.5 * n``.

    The surface is ``z = strength * h`` in pixel units; central differences wrap around. Rows
    go down the image while tangent-space +Y (OpenGL) points up, hence the sign of ``dy``.
    """
    if normal_format not in NORMAL_FORMATS:
        raise GanforgeError(f"normal format {normal_format!r} is not one of {', '.join(NORMAL_FORMATS)}")
    h = np.asarray(h, dtype=np.float32)
    dx = (np.roll(h, -1, axis=1) - np.roll(h, 1, axis=1)) * (0.5 * strength)
    dy = (np.roll(h, -1, axis=0) - np.roll(h, 1, axis=0)) * (0.5 * strength)  # d/d(row), row down
    n = np.stack([-dx, dy, np.ones_like(h)], axis=-1)
    if normal_format == "directx":
        n[..., 1] *= -1.0
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return (0.5 + 0.5 * n).astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    """To [0, 1] between the 1st and 99th percentiles: one outlier does not flatten the rest."""
    lo, hi = np.percentile(x, [1.0, 99.0])
    if hi - lo < 1e-6:
        return np.full_like(x, 0.5)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def cavity(h: np.ndarray) -> np.ndarray:
    """How far each point lies below its neighbourhood's mean height, over three radii (>= 0)."""
    t = _Torus(h)
    return np.mean([np.maximum(t.blur(s) - h, 0.0) for s in _AO_SIGMAS], axis=0).astype(np.float32)


def ambient_occlusion(h: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """AO in [0, 1] (1: open): cavities darken in proportion to their depth in height units
    (a pit half the height range deep is black at strength 1), so a flat height gives 1."""
    return np.clip(1.0 - 2.0 * strength * cavity(np.asarray(h, dtype=np.float32)), 0.0, 1.0).astype(np.float32)


def roughness(image: np.ndarray, h: np.ndarray, options: PbrOptions | None = None) -> np.ndarray:
    """Roughness in ``roughness_range``: busy colour (local contrast) and cavities are rough,
    smooth raised areas glossy; ``invert_roughness`` swaps them (e.g. polished stone)."""
    o = options or PbrOptions()
    lum = luminance(image)
    t = _Torus(lum)
    mean = t.blur(_CONTRAST_SIGMA)
    local = np.sqrt(np.maximum(_Torus(lum * lum).blur(_CONTRAST_SIGMA) - mean * mean, 0.0))
    r = 0.5 * _normalise(local) + 0.5 * (1.0 - np.asarray(h, dtype=np.float32))
    if o.invert_roughness:
        r = 1.0 - r
    lo, hi = o.roughness_range
    return np.clip(lo + (hi - lo) * r, 0.0, 1.0).astype(np.float32)


def derive(image: np.ndarray, maps: Iterable[str] = MAPS, options: PbrOptions | None = None) -> dict[str, np.ndarray]:
    """The requested maps of one texture (H, W, C) in [0, 1], by name (``color``: RGB float32)."""
    o = options or PbrOptions()
    wanted = parse_maps(list(maps))
    x = _as_image(image)
    out: dict[str, np.ndarray] = {}
    if "color" in wanted:
        out["color"] = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else np.ascontiguousarray(x[..., :3])
    if not set(wanted) - {"color"}:
        return out
    h = height(x, o)
    if "height" in wanted:
        out["height"] = h
    if "normal" in wanted:
        out["normal"] = normal(h, o.normal_strength, o.normal_format)
    if "roughness" in wanted:
        out["roughness"] = roughness(x, h, o)
    if "ao" in wanted:
        out["ao"] = ambient_occlusion(h, o.ao_strength)
    return out


def orm(ao: np.ndarray, rough: np.ndarray, metallic: np.ndarray | float = 0.0) -> np.ndarray:
    """Occlusion, roughness, metallic in R, G, B (glTF's and Unreal's packed texture)."""
    metal = np.broadcast_to(np.asarray(metallic, dtype=np.float32), ao.shape)
    return np.stack([ao, rough, metal], axis=-1).astype(np.float32)


__all__ = ["GREY_MAPS", "MAPS", "NORMAL_FORMATS", "PbrOptions", "ambient_occlusion", "blur", "cavity", "derive",
           "height", "is_grey", "luminance", "normal", "orm", "parse_maps", "parse_range", "roughness"]
