"""PBR materials in Blender (main thread only): map images, the node tree, in-place updates.

A material holds one Image Texture node per map, each named ``ganforge <map>`` so that a new
seed finds and rewrites the same images in place (objects keep their material, the .blend keeps
its links). Colour is sRGB; normal, roughness, AO and height are data (Non-Color), or Blender
would gamma-decode them. Height is a float image: 8 bits would terrace the displacement, and a
packed float image is saved as OpenEXR inside the .blend.

The tree follows what Blender users know from Node Wrangler's Principled setup: colour times
AO into Base Color, roughness into Roughness, the normal map through a Normal Map node (tangent
space, so UV only: box projection has no tangents and relies on the height's bump), and the
height through a Displacement node into the output, as bump (the default) or true
displacement (``DISPLACEMENT``/``BOTH``: Cycles, on a subdivided mesh).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ganforge.core import pbr

from . import blend_data, logic

COLORSPACES = {"color": "sRGB", "normal": "Non-Color", "height": "Non-Color", "roughness": "Non-Color",
               "ao": "Non-Color"}
NODE_PREFIX = "ganforge "
DISPLACEMENT_METHODS = ("BUMP", "DISPLACEMENT", "BOTH")
#: Height range in scene units at mapping scale 1: a relief, not a mountain range.
DISPLACEMENT_SCALE = 0.05


def _socket(sockets: Any, identifier: str) -> Any:
    """A socket by identifier: the Mix node has several sockets per name (one per data type)."""
    return next(s for s in sockets if s.identifier == identifier)


def _rgba(array: np.ndarray) -> np.ndarray:
    return logic.to_blender_pixels(array[..., None] if array.ndim == 2 else array)


def write_map(array: np.ndarray, name: str, kind: str, image: Any = None) -> Any:
    """One map into ``image`` (same size) or a new packed Image called ``name``."""
    h, w = array.shape[:2]
    floats = kind == "height"
    if image is None:
        image = bpy.data.images.new(name, width=w, height=h, alpha=False, float_buffer=floats)
    elif tuple(image.size) != (w, h):
        image.scale(w, h)
    image.colorspace_settings.name = COLORSPACES[kind]
    image.pixels.foreach_set(_rgba(array))
    image.update()
    image.pack()  # the pixels travel inside the .blend
    image.use_fake_user = True
    image["ganforge_map"] = kind
    return image


def map_images(mapset: logic.MapSet, base: str, color: Any = None) -> dict[str, Any]:
    """An Image per map of ``mapset`` (``color`` reuses the given colour image unchanged)."""
    images = {}
    for kind, array in mapset.maps.items():
        if kind == "color" and color is not None:
            images[kind] = color
            continue
        images[kind] = write_map(array, base if kind == "color" else f"{base} {kind}", kind)
        for key, value in mapset.props.items():
            images[kind][key] = value
    return images


def material_images(mat: Any) -> dict[str, Any]:
    """The images of a ganforge PBR material, by map name (from its named nodes)."""
    found = {}
    for node in mat.node_tree.nodes:
        if node.type == "TEX_IMAGE" and node.name.startswith(NODE_PREFIX) and node.image is not None:
            found[node.name.removeprefix(NODE_PREFIX)] = node.image
    return found


def build_material(images: dict[str, Any], name: str, props: dict[str, Any], *, box: bool = False,
                   displacement: str = "BUMP", scale: float = 1.0, obj: Any = None) -> Any:
    """A Principled BSDF material wired to the maps in ``images`` (any subset of pbr.MAPS)."""
    if displacement not in DISPLACEMENT_METHODS:
        raise ValueError(f"displacement {displacement!r} is not one of {', '.join(DISPLACEMENT_METHODS)}")
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    nodes, links = nt.nodes, nt.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    output = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
    coords = nodes.new("ShaderNodeTexCoord")
    coords.location = (-1100, 200)
    mapping = nodes.new("ShaderNodeMapping")
    mapping.location = (-920, 200)
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    links.new(coords.outputs["Object" if box else "UV"], mapping.inputs["Vector"])
    tex: dict[str, Any] = {}
    for row, kind in enumerate(k for k in pbr.MAPS if k in images):
        node = nodes.new("ShaderNodeTexImage")
        node.name, node.label = NODE_PREFIX + kind, kind.upper() if kind == "ao" else kind.title()
        node.image = images[kind]
        node.interpolation = "Cubic" if kind == "height" else "Linear"  # cubic: smoother bump
        node.extension = "REPEAT"  # every map tiles: the material repeats without a seam
        node.location = (-700, 420 - 280 * row)
        if box:
            node.projection, node.projection_blend = "BOX", 0.2
        links.new(mapping.outputs["Vector"], node.inputs["Vector"])
        tex[kind] = node
    if "color" in tex and "ao" in tex:
        mix = nodes.new("ShaderNodeMix")
        mix.data_type, mix.blend_type, mix.location = "RGBA", "MULTIPLY", (-320, 420)
        _socket(mix.inputs, "Factor_Float").default_value = 1.0
        links.new(tex["color"].outputs["Color"], _socket(mix.inputs, "A_Color"))
        links.new(tex["ao"].outputs["Color"], _socket(mix.inputs, "B_Color"))
        links.new(_socket(mix.outputs, "Result_Color"), bsdf.inputs["Base Color"])
    elif "color" in tex:
        links.new(tex["color"].outputs["Color"], bsdf.inputs["Base Color"])
    if "roughness" in tex:
        links.new(tex["roughness"].outputs["Color"], bsdf.inputs["Roughness"])
    if "normal" in tex and not box:
        normal = nodes.new("ShaderNodeNormalMap")
        normal.location = (-320, -200)
        links.new(tex["normal"].outputs["Color"], normal.inputs["Color"])
        links.new(normal.outputs["Normal"], bsdf.inputs["Normal"])
    if "height" in tex:
        disp = nodes.new("ShaderNodeDisplacement")
        disp.location = (-320, -480)
        disp.inputs["Midlevel"].default_value = 0.5
        disp.inputs["Scale"].default_value = DISPLACEMENT_SCALE / max(scale, 1e-3)
        links.new(tex["height"].outputs["Color"], disp.inputs["Height"])
        links.new(disp.outputs["Displacement"], output.inputs["Displacement"])
    mat.displacement_method = displacement
    for key, value in props.items():
        mat[key] = value
    mat["ganforge_box"] = bool(box)
    mat.use_fake_user = obj is None  # not on an object yet: kept on save all the same
    blend_data.assign_material(obj, mat)
    return mat


def material_name(pack: str, seed: int) -> str:
    return f"{Path(pack).stem} s{seed}"


def update_material(mat: Any, mapset: logic.MapSet) -> None:
    """Rewrite every map image of ``mat`` with ``mapset`` in place and rename for its seed."""
    images = material_images(mat)
    pack = str(mapset.props.get("ganforge_pack", mat.get("ganforge_pack", "")))
    base = material_name(pack, mapset.seed)
    for kind, image in images.items():
        if kind in mapset.maps:
            write_map(mapset.maps[kind], image.name, kind, image)
            image.name = base if kind == "color" else f"{base} {kind}"
            for key, value in mapset.props.items():
                image[key] = value
    for key, value in mapset.props.items():
        mat[key] = value
    mat.name = base


def material_request(mat: Any) -> tuple[str, int, int, dict[str, Any]]:
    """``(pack, width, height, map options)`` stored on a ganforge PBR material."""
    pack = mat.get("ganforge_pack")
    if not pack or not material_images(mat):
        raise ValueError(f"material {mat.name!r} was not made by ganforge from a pack")
    w, h = (int(v) for v in mat.get("ganforge_size", (0, 0)))
    return str(pack), w, h, json.loads(mat.get("ganforge_pbr", "{}"))


def tile_image(image: Any, n: int = 3) -> Any:
    """A new image showing ``image`` repeated ``n`` x ``n`` (named "<image> 3x3"), so seams show."""
    w, h = image.size
    flat = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(flat)
    tiled = np.tile(flat.reshape(h, w, 4), (n, n, 1))  # bottom-up rows tile the same way
    name = f"{image.name} {n}x{n}"
    out = bpy.data.images.get(name)
    if out is None or tuple(out.size) != (w * n, h * n):
        out = bpy.data.images.new(name, width=w * n, height=h * n, alpha=False)
    out.colorspace_settings.name = image.colorspace_settings.name
    out.pixels.foreach_set(tiled.ravel())
    out.update()
    return out
