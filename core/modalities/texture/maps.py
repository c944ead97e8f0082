"""``ganforge generate --maps``: PBR map files beside a texture (numpy + Pillow, torch-free).

The texture codec's ``write`` hands over here when ``--maps`` or ``--orm`` is given. Maps are
derived from the decoded float colour by :mod:`ganforge.core.pbr` (never from an 8-bit file),
so the CLI, Python and Blender get the same maps. Each map is a PNG named ``<stem>_<map>.png``:
colour and normal 8-bit RGB, roughness and AO 8-bit grey, height 16-bit grey (8 bits would
terrace a displacement); ``--orm`` adds ``<stem>_orm.png`` (AO, roughness, metallic 0 in R, G, B:
glTF's and Unreal's packed texture). The runtime's ``all_or_nothing`` group makes the files of
one call land together or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ... import png
from ...pbr import MAPS, NORMAL_FORMATS, PbrOptions, derive, orm, parse_maps

#: Options ``ganforge generate`` adds for textures; their names are :class:`PbrOptions` fields
#: (``maps``, ``orm`` aside), so ``PbrOptions.from_options`` reads them as they come.
OPTIONS: list[click.Option] = [
    click.Option(["--maps"], default=None, metavar="LIST",
                 help=f"Write these maps, one PNG each named NAME_<map>.png: any of {','.join(MAPS)} "
                      "(height in 16 bits)."),
    click.Option(["--orm/--no-orm"], default=False,
                 help="Also write NAME_orm.png: ambient occlusion, roughness, metallic (0) in R, G, B "
                      "(the glTF/Unreal packing)."),
    click.Option(["--normal-format", "normal_format"], type=click.Choice(NORMAL_FORMATS), default=None,
                 help="Normal map convention: opengl (Blender, glTF; default) or directx (Unreal; green flipped)."),
    click.Option(["--normal-strength", "normal_strength"], type=float, default=None,
                 help="Depth of the height's full range in pixels (default 2): larger is bumpier."),
    click.Option(["--height-detail", "detail"], type=float, default=None,
                 help="0..1: broad shapes (0) to fine grain (1) in the height (default 0.5)."),
    click.Option(["--height-contrast", "contrast"], type=float, default=None,
                 help="Height spread around mid-grey (default 1)."),
    click.Option(["--roughness-range", "roughness_range"], default=None, metavar="LO,HI",
                 help="Roughness values the map spans (default 0.35,0.9)."),
    click.Option(["--invert-roughness/--no-invert-roughness", "invert_roughness"], default=None,
                 help="Smooth where the default is rough (e.g. polished stone)."),
    click.Option(["--ao-strength", "ao_strength"], type=float, default=None,
                 help="How dark cavities get in the AO map (default 1)."),
]


def requested(options: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """``(maps, orm)`` asked for; ``((), False)``: a plain texture. Checks the map options, so a
    typo fails in one line before anything is generated (called from ``resolve_dims``)."""
    maps = parse_maps(options.get("maps"))
    packed = bool(options.get("orm"))
    if maps or packed:
        PbrOptions.from_options(options)
    if packed and not maps:
        maps = ("color",)  # --orm alone: the colour and its packed companion
    return maps, packed


def _save(array: np.ndarray, path: Path, bits: int = 8) -> Path:
    """A float map in [0, 1] -> PNG, written atomically (grey when 2-D). The writer is
    ganforge's own (numpy + zlib), so Blender's Python, which has no Pillow, bakes the same files."""
    x = np.clip(array, 0.0, 1.0)
    if bits == 16:
        return png.write(path, (x * 65535.0 + 0.5).astype(np.uint16))
    u8 = (x * 255.0 + 0.5).astype(np.uint8)
    if u8.ndim == 3 and np.array_equal(u8[..., 0], u8[..., 1]) and np.array_equal(u8[..., 0], u8[..., 2]):
        u8 = u8[..., 0]  # a greyscale pack's colour: one channel on disk, as without --maps
    return png.write(path, u8)


def write_maps(image: np.ndarray, target: Path, options: dict[str, Any]) -> list[Path]:
    """The maps of one texture beside ``target`` (``bricks.png`` -> ``bricks_normal.png``...)."""
    maps, packed = requested(options)
    o = PbrOptions.from_options(options)
    wanted = set(maps) | ({"ao", "roughness"} if packed else set())
    derived = derive(image, [m for m in MAPS if m in wanted], o)
    written: list[Path] = []
    for name in maps:
        path = target.with_name(f"{target.stem}_{name}.png")
        written.append(_save(derived[name], path, bits=16 if name == "height" else 8))
        if name == "color" and options.get("tile_preview"):
            preview = path.with_name(f"{path.stem}_tiled2x2.png")
            written.append(_save(np.tile(derived[name], (2, 2, 1)), preview))
    if packed:
        written.append(_save(orm(derived["ao"], derived["roughness"]), target.with_name(f"{target.stem}_orm.png")))
    return written


__all__ = ["OPTIONS", "requested", "write_maps"]
