"""What the Blender operators compute, without Blender: packs, seeds, latents, pixel layout.

Pure numpy + the torch-free ganforge runtime, so it runs in a worker thread (no ``bpy`` calls
off the main thread) and in tests without Blender. The operators turn these arrays into Image
datablocks on the main thread. What a pack makes is asked of its codec (``rt.codec``: an image
whose size the host picks, or a fixed-size sprite), never of its modality's name; the pack
cache and the interpolation are the runtime's.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.core import pbr, runtime
from ganforge.core.atomic import write_text_atomic
from ganforge.core.errors import GanforgeError, PackError
from ganforge.core.limits import MAX_SIDE as MAX_SIDE  # the largest side the panel offers

#: Upper bounds that keep one click from queueing hours of work.
MAX_COUNT = 64
MAX_STEPS = 240
RECENT_LIMIT = 10

#: One core stays with Blender (UI, viewport) while the worker generates.
_packs = runtime.PackCache(device="cpu", threads=max(1, runtime.default_threads() - 1))


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
    return _packs.get(raw)


def makes_sprites(rt: runtime.PackRuntime) -> bool:
    """Whether the pack makes fixed-size images (Generate Sprite) rather than textures whose
    size the panel picks (Generate Texture, Variations, Interpolate)."""
    return rt.codec.output_kind == "image" and not rt.codec.sized


def check_output(rt: runtime.PackRuntime, sprites: bool) -> None:
    """Refuse a pack that does not make what the operator makes, naming the one that would."""
    makes_textures = rt.codec.output_kind == "image" and rt.codec.sized
    if (makes_sprites(rt) if sprites else makes_textures):
        return
    use = "Generate Sprite" if makes_sprites(rt) else "Generate Texture" if makes_textures else None
    hint = f"; use {use}" if use else ""
    wanted = "image" if sprites else "texture"
    raise PackError(f"{rt.path}: a {rt.meta.modality!r} pack, not a {wanted!r} pack{hint}")


def check_seed(seed: int) -> int:
    if not isinstance(seed, int) or seed < 0:
        raise GanforgeError(f"seed {seed!r} must be a non-negative integer")
    return seed


def resolve_size(rt: runtime.PackRuntime, width: int, height: int) -> tuple[int, int]:
    """``(width, height)``, where 0 means the pack's default; refuses absurd sizes early."""
    if width == 0 or height == 0:
        default = rt.codec.image_size(rt.meta, {}) or (512, 512)
        width, height = width or int(default[0]), height or int(default[1])
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise GanforgeError(f"size {width}x{height} is outside 1..{MAX_SIDE} pixels per side")
    return width, height


def snap_size(rt: runtime.PackRuntime, size: int) -> int:
    """The largest square side <= ``size`` the pack accepts (its size step), for previews and
    thumbnails whose exact size does not matter."""
    for step in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        side = max(step, size - size % step)
        try:
            rt.codec.resolve_dims(rt.meta, {"size": (side, side)})
            return side
        except GanforgeError:
            continue
    raise GanforgeError(f"{rt.path}: no preview size near {size} px fits this pack")


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
    check_output(rt, sprites=False)
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
    check_output(rt, sprites=True)
    options: dict[str, Any] = {"category": category or None, "truncation": float(truncation)}
    rt.codec.scalars(rt.meta, options)  # a bad category or truncation fails before any work
    rt.schedule(count, rt.codec.resolve_dims(rt.meta, options))
    size = (rt.codec.image_size(rt.meta, options) or (0, 0))[0]
    for i in range(count):
        image = rt.generate(seed=seed + i, count=1, **options)[0]
        props = texture_props(rt, seed + i, size, size, ganforge_category=category,
                              ganforge_truncation=float(truncation))
        yield Texture(image, seed + i, props)


# ---- PBR map sets (Make Material, Keep, a new seed for a material, Bake) ------------------------
@dataclass
class MapSet:
    """One texture and its PBR maps: ``maps[name]`` is float32, top-left origin, (H, W, 3) for
    colour and normal, (H, W) for height, roughness and AO (see :mod:`ganforge.core.pbr`)."""

    maps: dict[str, np.ndarray]
    seed: int
    props: dict[str, Any]


def pbr_options(options: dict[str, Any] | None) -> pbr.PbrOptions:
    """The map settings a material stores (``ganforge_pbr``), checked; ``None``: the defaults."""
    return pbr.PbrOptions.from_options(dict(options or {}))


def generate_maps(pack: str | os.PathLike[str], seed: int, width: int, height: int,
                  options: dict[str, Any] | None = None, maps: tuple[str, ...] = pbr.MAPS) -> Iterator[MapSet]:
    """The texture of ``seed`` and its maps, derived from the float colour exactly as
    ``ganforge generate --maps`` derives them (so each map equals the CLI's file)."""
    check_seed(seed)
    o = pbr_options(options)
    rt, width, height, _ = open_texture_pack(pack, width, height, 1)
    image = rt.generate(seed=seed, count=1, size=(width, height))[0]
    yield MapSet(pbr.derive(image, maps, o), seed,
                 texture_props(rt, seed, width, height, ganforge_pbr=json.dumps(o.as_dict())))


def maps_from_pixels(pixels: np.ndarray, options: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Maps of an image whose pack is not at hand (moved, or not ganforge's): from its pixels."""
    return pbr.derive(np.asarray(pixels)[..., :3], pbr.MAPS, pbr_options(options))


def bake_maps(pack: str | os.PathLike[str], seed: int, width: int, height: int, folder: str | os.PathLike[str],
              options: dict[str, Any] | None = None, orm: bool = True) -> Iterator[Path]:
    """Write every map of ``seed`` to ``folder`` as ``<pack>_s<seed>_<map>.png`` (and ``_orm``)
    through the texture codec: the same files as ``ganforge generate --maps ... --orm``."""
    check_seed(seed)
    out = Path(folder)
    if not str(folder).strip():
        raise GanforgeError("no folder chosen to bake the maps into")
    out.mkdir(parents=True, exist_ok=True)
    rt, width, height, _ = open_texture_pack(pack, width, height, 1)
    settings = {k: v for k, v in pbr_options(options).as_dict().items()}
    settings["roughness_range"] = tuple(settings["roughness_range"])
    opts = {"size": (width, height), "maps": ",".join(pbr.MAPS), "orm": orm, **settings}
    image = rt.generate(seed=seed, count=1, **opts)
    yield from rt.write(image, out / f"{Path(pack).stem}_s{seed}.png", **opts)


# ---- interpolation ---------------------------------------------------------------------------
def interpolate(pack: str | os.PathLike[str], seed_a: int, seed_b: int, steps: int, width: int,
                height: int) -> Iterator[Texture]:
    """``steps`` textures from seed ``a`` to seed ``b`` (both included), one at a time."""
    check_seed(seed_a)
    check_seed(seed_b)
    if not 2 <= steps <= MAX_STEPS:
        raise GanforgeError(f"steps {steps} is outside 2..{MAX_STEPS}")
    rt, width, height, dims = open_texture_pack(pack, width, height, 1)
    a, b = rt.draw_inputs(seed_a, 1, dims), rt.draw_inputs(seed_b, 1, dims)
    for i in range(steps):  # one frame at a time: a cancel point between them, one frame in memory
        t = i / (steps - 1)
        image = rt.decode_feeds(rt.between(a, b, t), dims)[0]
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
    meta, train = rt.meta, rt.meta.train
    rows = [("Modality", meta.modality), ("Precision", meta.precision), ("License", meta.license)]
    rows += rt.codec.summary(meta)
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
    write_text_atomic(path, json.dumps(recent, indent=1))
    return recent
