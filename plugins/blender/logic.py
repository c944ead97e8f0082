"""What the Blender operators compute, without Blender: packs, seeds, latents, pixel layout.

Pure numpy + the torch-free ganforge runtime, so it runs in a worker thread (no ``bpy`` calls
off the main thread) and in tests without Blender. The operators turn these arrays into Image
datablocks on the main thread.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.core import runtime, tiling
from ganforge.core.errors import GanforgeError, PackError

#: Largest side the panel offers (the runtime's memory guard still has the last word).
MAX_SIDE = 16384
#: Upper bounds that keep one click from queueing hours of work.
MAX_COUNT = 64
MAX_STEPS = 240
RECENT_LIMIT = 10

_cache: dict[tuple[str, int, int], runtime.PackRuntime] = {}
_cache_lock = threading.Lock()


@dataclass
class Texture:
    """One generated texture: ``pixels`` is float32 (H, W, 3) in [0, 1], top-left origin."""

    pixels: np.ndarray
    seed: int
    props: dict[str, Any]


def open_pack(path: str | os.PathLike[str]) -> runtime.PackRuntime:
    """The pack at ``path``, opened once per file version (path, size, mtime) and reused."""
    raw = os.fspath(path).strip()
    if not raw:
        raise PackError("no pack file chosen (pick a .onnx generator pack)")
    p = Path(raw).expanduser()
    try:
        st = p.stat()
    except OSError:
        raise PackError(f"{p}: no such pack file") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        rt = _cache.get(key)
    if rt is None:
        # One core stays with Blender (UI, viewport) while the worker generates.
        rt = runtime.load(p, device="cpu", threads=max(1, runtime.default_threads() - 1))
        with _cache_lock:
            for old in [k for k in _cache if k[0] == key[0]]:
                del _cache[old]  # a rewritten pack replaces its old session
            _cache[key] = rt
    return rt


def check_modality(rt: runtime.PackRuntime, modality: str) -> None:
    if rt.meta.modality != modality:
        use = {"texture": "Generate Texture", "image": "Generate Sprite"}.get(rt.meta.modality)
        hint = f"; use {use}" if use else ""
        raise PackError(f"{rt.path}: a {rt.meta.modality!r} pack, not a {modality!r} pack{hint}")


def check_seed(seed: int) -> int:
    if not isinstance(seed, int) or seed < 0:
        raise GanforgeError(f"seed {seed!r} must be a non-negative integer")
    return seed


def resolve_size(rt: runtime.PackRuntime, width: int, height: int) -> tuple[int, int]:
    """``(width, height)``, where 0 means the pack's default; refuses absurd sizes early."""
    if width == 0 or height == 0:
        default = rt.meta.decoder.get("default_size") or [512, 512]
        width, height = width or int(default[0]), height or int(default[1])
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise GanforgeError(f"size {width}x{height} is outside 1..{MAX_SIDE} pixels per side")
    return width, height


def random_seed() -> int:
    """A fresh seed for the dice button (fits Blender's 32-bit IntProperty)."""
    return random.randrange(0, 2**31 - 1)


def texture_props(rt: runtime.PackRuntime, seed: int, width: int, height: int, **extra: Any) -> dict[str, Any]:
    """Custom properties stored on a generated image: enough to regenerate it exactly."""
    return {
        "ganforge_seed": int(seed),
        "ganforge_pack": str(rt.path),
        "ganforge_pack_sha256": rt.sha256,
        "ganforge_size": [int(width), int(height)],
        "ganforge_modality": rt.meta.modality,
        "ganforge_channels": int(rt.meta.decoder.get("channels", 3)),
        **extra,
    }


def open_texture_pack(pack: str | os.PathLike[str], width: int, height: int,
                      count: int) -> tuple[Any, int, int, dict[str, int]]:
    """Open a texture pack and refuse a size or memory need before any work is done.

    Returns the runtime, the resolved width and height (0 = the pack's default) and the dims.
    """
    rt = open_pack(pack)
    check_modality(rt, "texture")
    width, height = resolve_size(rt, width, height)
    dims = rt.codec.resolve_dims(rt.meta, {"size": (width, height)})
    rt.schedule(count, dims)
    return rt, width, height, dims


def generate_textures(pack: str | os.PathLike[str], seed: int, count: int, width: int,
                      height: int) -> Iterator[Texture]:
    """``count`` textures from consecutive seeds, one at a time (a cancel point between them).

    Texture ``i`` equals ``ganforge generate PACK --seed seed+i --size WxH``; a side of 0
    means the pack's default.
    """
    check_seed(seed)
    if not 1 <= count <= MAX_COUNT:
        raise GanforgeError(f"count {count} is outside 1..{MAX_COUNT}")
    rt, width, height, _ = open_texture_pack(pack, width, height, count)
    for i in range(count):
        image = rt.generate(seed=seed + i, count=1, size=(width, height))[0]
        yield Texture(image, seed + i, texture_props(rt, seed + i, width, height))


def generate_sprites(pack: str | os.PathLike[str], seed: int, count: int, category: str = "",
                     truncation: float = 1.0) -> Iterator[Texture]:
    """``count`` sprites/decals from an image pack (consecutive seeds), with the pack's alpha.

    ``category``: one of the pack's categories (empty: drawn by the seed); ``truncation``: ψ.
    Sprite ``i`` equals ``ganforge generate PACK --seed seed+i --category C --truncation ψ``.
    """
    check_seed(seed)
    if not 1 <= count <= MAX_COUNT:
        raise GanforgeError(f"count {count} is outside 1..{MAX_COUNT}")
    rt = open_pack(pack)
    check_modality(rt, "image")
    options: dict[str, Any] = {"category": category or None, "truncation": float(truncation)}
    rt.codec.scalars(rt.meta, options)  # a bad category or truncation fails before any work
    rt.schedule(count, rt.codec.resolve_dims(rt.meta, options))
    size = int(rt.meta.decoder.get("size", 0))
    for i in range(count):
        image = rt.generate(seed=seed + i, count=1, **options)[0]
        props = texture_props(rt, seed + i, size, size, ganforge_category=category,
                              ganforge_truncation=float(truncation))
        yield Texture(image, seed + i, props)


# ---- interpolation ---------------------------------------------------------------------------
def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of two normal draws (treated as one vector each).

    A linear mix of two independent standard-normal vectors has norm ~sqrt(1/2) of theirs
    half-way, which a generator trained on N(0, 1) renders washed out; slerp keeps the norm.
    ``t=0`` and ``t=1`` return ``a`` and ``b`` exactly.
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


def mix_inputs(rt: runtime.PackRuntime, a: dict[str, np.ndarray], b: dict[str, np.ndarray],
               t: float) -> dict[str, np.ndarray]:
    """Inputs between two draws: slerp for ``normal`` draws, linear for ``uniform``/``gumbel``,
    and the first draw's value for host-given inputs (scalars, conditions)."""
    out = {}
    for spec in rt.meta.inputs:
        if spec.draw == "normal":
            out[spec.name] = slerp(a[spec.name], b[spec.name], t)
        elif spec.draw in ("uniform", "gumbel"):
            out[spec.name] = ((1 - t) * a[spec.name] + t * b[spec.name]).astype(a[spec.name].dtype)
        else:
            out[spec.name] = a[spec.name]
    return out


def decode_feeds(rt: runtime.PackRuntime, feeds: dict[str, np.ndarray], dims: dict[str, int]) -> np.ndarray:
    """Run and decode one item from ready inputs, in tiles when the memory guard asks for them."""
    _, plan = rt.schedule(1, dims)
    if plan is None:
        return rt.codec.decode(rt.run(feeds), rt.meta, {})[0]
    result: np.ndarray | None = None
    for window, outs in tiling.run_tiled(rt.run, feeds, plan):
        part = rt.codec.decode(outs, rt.meta, {})
        if result is None:
            result = np.empty(tiling.full_shape(part.shape, plan.decoded, plan), dtype=part.dtype)
        tiling.place(result, part, plan.decoded, window)
    assert result is not None
    return result[0]


def interpolate(pack: str | os.PathLike[str], seed_a: int, seed_b: int, steps: int, width: int,
                height: int) -> Iterator[Texture]:
    """``steps`` textures from seed ``a`` to seed ``b`` (both included), one at a time."""
    check_seed(seed_a)
    check_seed(seed_b)
    if not 2 <= steps <= MAX_STEPS:
        raise GanforgeError(f"steps {steps} is outside 2..{MAX_STEPS}")
    rt, width, height, dims = open_texture_pack(pack, width, height, 1)
    a, b = rt.draw_inputs(seed_a, 1, dims), rt.draw_inputs(seed_b, 1, dims)
    for i in range(steps):
        t = i / (steps - 1)
        image = decode_feeds(rt, mix_inputs(rt, a, b, t), dims)
        props = texture_props(rt, seed_a, width, height, ganforge_seed_b=int(seed_b), ganforge_t=float(t))
        yield Texture(image, seed_a, props)


# ---- Blender's pixel layout ------------------------------------------------------------------
def to_blender_pixels(image: np.ndarray) -> np.ndarray:
    """(H, W, 1|3|4) top-left-origin floats -> Blender's flat RGBA rows, bottom row first."""
    h, w, c = image.shape
    rgba = np.ones((h, w, 4), dtype=np.float32)
    if c == 1:  # grey
        rgba[..., :3] = image
    else:
        rgba[..., :min(c, 4)] = image[..., :4]
    return np.ascontiguousarray(rgba[::-1]).ravel()


def from_blender_pixels(flat: np.ndarray, width: int, height: int) -> np.ndarray:
    """Blender's flat RGBA (bottom row first) -> (H, W, 4) with a top-left origin."""
    return np.asarray(flat, dtype=np.float32).reshape(height, width, 4)[::-1]


# ---- pack info and recent packs --------------------------------------------------------------
def pack_summary(pack: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(label, value) rows for the panel: modality, sizes, training data, license, hash."""
    rt = open_pack(pack)
    meta, d, train = rt.meta, rt.meta.decoder, rt.meta.train
    rows = [("Modality", meta.modality), ("Precision", meta.precision), ("License", meta.license)]
    if meta.modality == "texture":
        w, h = d.get("default_size", ["?", "?"])
        rows += [("Default size", f"{w}x{h}"), ("Size step", f"{d.get('stride', '?')} px"),
                 ("Tileable", "yes" if d.get("tileable", True) else "no")]
    elif meta.modality == "image":
        size, channels = d.get("size", "?"), d.get("channels", 3)
        rows += [("Size", f"{size}x{size}"), ("Channels", {1: "grey", 3: "RGB", 4: "RGBA"}.get(channels, "?"))]
        if d.get("categories"):
            rows.append(("Categories", ", ".join(d["categories"])))
    if train.get("data"):
        data = train["data"]
        rows.append(("Trained on", data if isinstance(data, str) else json.dumps(data)[:60]))
    if train.get("steps") is not None:
        rows.append(("Steps", str(train["steps"])))
    rows.append(("sha256", rt.sha256[:16]))
    return rows


def load_recent(path: Path) -> list[str]:
    """Recent pack paths stored at ``path`` (a damaged file reads as empty)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in data if isinstance(p, str)][:RECENT_LIMIT] if isinstance(data, list) else []


def remember_pack(path: Path, pack: str) -> list[str]:
    """Put ``pack`` first in the recent list at ``path`` (written atomically)."""
    recent = [pack] + [p for p in load_recent(path) if p != pack]
    recent = recent[:RECENT_LIMIT]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".recent-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(recent, f, indent=1)
    os.replace(tmp, path)
    return recent
