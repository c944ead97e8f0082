"""Blender-side work (main thread only): textures -> Image datablocks, images -> materials.

Each function is what an operator does after the numpy work; tests and scripts may call them
directly. Images are 8-bit sRGB, packed into the .blend (a generated image would otherwise be
lost on save) and kept with a fake user, since a fresh texture has no users yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ganforge.core.atomic import write_atomic

from . import logic


def texture_to_image(texture: logic.Texture, name: str, image: Any = None) -> Any:
    """Write ``texture`` into the Image ``image`` (or a new one called ``name``)."""
    h, w, c = texture.pixels.shape
    if image is None or tuple(image.size) != (w, h):
        image = bpy.data.images.new(name, width=w, height=h, alpha=c == 4, float_buffer=False)
    image.colorspace_settings.name = "sRGB"
    image.alpha_mode = "STRAIGHT"  # the codecs return straight (un-premultiplied) alpha
    image.pixels.foreach_set(logic.to_blender_pixels(texture.pixels))
    image.update()
    image.pack()  # the pixels travel inside the .blend
    image.use_fake_user = True
    for key, value in texture.props.items():
        image[key] = value
    return image


def image_name(pack: str, seed: int) -> str:
    return f"{Path(pack).stem} s{seed}"


def generate_texture(pack: str, seed: int, width: int, height: int) -> Any:
    """One texture as an Image datablock (what ``ganforge.generate_texture`` does in the background)."""
    (texture,) = logic.generate_textures(pack, seed, 1, width, height)
    return texture_to_image(texture, image_name(pack, seed))


def generate_sprites(pack: str, seed: int, count: int = 1, category: str = "",
                     truncation: float = 1.0) -> list[Any]:
    """Sprites/decals with alpha from an image pack, one Image each."""
    return [texture_to_image(t, image_name(pack, t.seed) + (f" {category}" if category else ""))
            for t in logic.generate_sprites(pack, seed, count, category, truncation)]


def generate_variations(pack: str, seed: int, count: int, width: int, height: int) -> list[Any]:
    return [texture_to_image(t, image_name(pack, t.seed))
            for t in logic.generate_textures(pack, seed, count, width, height)]


def sequence_dir(pack: str, seed_a: int, seed_b: int, width: int, height: int) -> Path:
    """Where an interpolation's frames go: the extension's user folder (or a temp dir outside it)."""
    sub = f"sequences/{Path(pack).stem}_{seed_a}-{seed_b}_{width}x{height}"
    try:
        return Path(bpy.utils.extension_path_user(__package__, path=sub, create=True))
    except (ValueError, KeyError, RuntimeError):  # not running as an installed extension
        import tempfile

        return Path(tempfile.mkdtemp(prefix="ganforge-seq-"))


def write_frame(texture: logic.Texture, path: Path) -> None:
    """Save one frame as an 8-bit PNG with Blender's own writer (atomic, see ganforge.core.atomic)."""
    h, w = texture.pixels.shape[:2]
    tmp_name = "__ganforge_frame__"
    image = bpy.data.images.new(tmp_name, width=w, height=h, alpha=False, float_buffer=False)
    try:
        image.colorspace_settings.name = "sRGB"
        image.pixels.foreach_set(logic.to_blender_pixels(texture.pixels))
        image.file_format = "PNG"

        def save(tmp: str) -> None:
            image.filepath_raw = tmp
            image.save()

        write_atomic(path, save)
    finally:
        bpy.data.images.remove(image)


def prune_frames(folder: Path, frames: int) -> None:
    """Remove frames past ``frames`` left by a longer earlier run into the same folder."""
    for stale in folder.glob("frame_*.png"):
        index = stale.stem.removeprefix("frame_")
        if index.isdigit() and int(index) > frames:
            stale.unlink()


def load_sequence(first_frame: Path, frames: int, name: str, props: dict[str, Any]) -> Any:
    image = bpy.data.images.load(str(first_frame), check_existing=False)
    image.name = name
    image.source = "SEQUENCE"
    image.colorspace_settings.name = "sRGB"
    image.use_fake_user = True
    for key, value in props.items():
        image[key] = value
    image["ganforge_frames"] = frames
    return image


def interpolate(pack: str, seed_a: int, seed_b: int, steps: int, width: int, height: int) -> Any:
    """Frames from seed a to seed b written as PNGs and loaded as an image sequence."""
    folder = sequence_dir(pack, seed_a, seed_b, width, height)
    props: dict[str, Any] = {}
    for i, texture in enumerate(logic.interpolate(pack, seed_a, seed_b, steps, width, height)):
        write_frame(texture, folder / f"frame_{i + 1:04d}.png")
        props = texture.props
    prune_frames(folder, steps)
    props = {k: v for k, v in props.items() if k != "ganforge_t"}
    return load_sequence(folder / "frame_0001.png", steps, f"{Path(pack).stem} s{seed_a}-s{seed_b}", props)


# ---- materials -------------------------------------------------------------------------------
def takes_maps(image: Any) -> bool:
    """Whether Make Material gives ``image`` PBR maps: a still texture, not a sprite or decal
    (alpha, or an image pack's) nor an image sequence."""
    sprite = image.get("ganforge_modality") == "image" or int(image.get("ganforge_channels", 3)) == 4
    return image.source != "SEQUENCE" and not sprite


def make_material(image: Any, *, bump: bool | None = None, box: bool = False, scale: float = 1.0,
                  bump_strength: float = 0.5, obj: Any = None) -> Any:
    """A Principled BSDF material with ``image`` as base colour.

    ``bump``: drive a Bump node from the texture's value (default: for greyscale packs).
    ``box``: box projection on object coordinates (no UVs needed) instead of the UV map.
    ``obj``: assign the material to this mesh object (its active slot).
    A sprite with alpha becomes a decal: its alpha drives the BSDF's, and it does not repeat.
    """
    if bump is None:
        bump = int(image.get("ganforge_channels", 3)) == 1
    mat = bpy.data.materials.new(f"{image.name} material")
    mat.use_nodes = True
    nt = mat.node_tree
    nodes, links = nt.nodes, nt.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Cubic"
    tex.extension = "REPEAT"  # seamless: the texture wraps
    tex.location = (-420, 260)
    if image.source == "SEQUENCE":
        tex.image_user.frame_duration = int(image.get("ganforge_frames", 1))
        tex.image_user.use_auto_refresh = True
    coords = nodes.new("ShaderNodeTexCoord")
    coords.location = (-820, 260)
    mapping = nodes.new("ShaderNodeMapping")
    mapping.location = (-640, 260)
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    if box:
        tex.projection = "BOX"
        tex.projection_blend = 0.2
        links.new(coords.outputs["Object"], mapping.inputs["Vector"])
    else:
        links.new(coords.outputs["UV"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    if int(image.get("ganforge_channels", 3)) == 4:
        tex.extension = "CLIP"
        links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    if bump:
        node = nodes.new("ShaderNodeBump")
        node.location = (-200, -120)
        node.inputs["Strength"].default_value = bump_strength
        links.new(tex.outputs["Color"], node.inputs["Height"])
        links.new(node.outputs["Normal"], bsdf.inputs["Normal"])
    mat["ganforge_image"] = image.name
    assign_material(obj, mat)
    return mat


def assign_material(obj: Any, mat: Any) -> None:
    """Put ``mat`` in the active slot of ``obj`` when it is a mesh (a new slot if it has none)."""
    if obj is not None and getattr(obj, "type", None) == "MESH":
        if obj.data.materials:
            obj.data.materials[obj.active_material_index] = mat
        else:
            obj.data.materials.append(mat)


def links_of(material: Any) -> list[tuple[str, str, str, str]]:
    """(from node type, from socket, to node type, to socket) for each link, for checks."""
    return sorted((lk.from_node.type, lk.from_socket.identifier, lk.to_node.type, lk.to_socket.identifier)
                  for lk in material.node_tree.links)


def pixels_top_left(image: Any) -> np.ndarray:
    """The image's pixels as (H, W, 4) floats with a top-left origin."""
    w, h = image.size
    flat = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(flat)
    return logic.from_blender_pixels(flat, w, h)
