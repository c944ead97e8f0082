"""Operators for PBR materials: Keep (texture + maps + material), a new seed for a material,
Bake to files, and the 3x3 tile preview. Generation runs on the worker thread from the UI (see
:class:`.operators._JobOperator`) and to completion in the background, like the others::

    bpy.ops.ganforge.keep(pack="/packs/bricks.onnx", seed=7, width=1024, height=1024)
    bpy.ops.ganforge.reseed_material(material="bricks s7", seed=8)      # every map, in place
    bpy.ops.ganforge.bake_maps(pack="/packs/bricks.onnx", seed=8, directory="/tmp/bricks")
    bpy.ops.ganforge.tile_preview(image="bricks s8")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import logic, materials
from .operators import (
    _ASSIGN,
    _BOX,
    _HEIGHT,
    _NORMAL_STRENGTH,
    _PACK,
    _SCALE,
    _SEED,
    _WIDTH,
    _abspath,
    _JobOperator,
    _map_options,
    _named_image,
    _show,
    _status,
)

DISPLACEMENT_ITEMS = [("BUMP", "Bump", "The height bumps the shading normal (any renderer, no extra geometry)"),
                      ("DISPLACEMENT", "Displacement", "True displacement (Cycles; subdivide the mesh)"),
                      ("BOTH", "Both", "True displacement plus bump for the finer detail (Cycles)")]


class GANFORGE_OT_keep(_JobOperator, bpy.types.Operator):
    """Generate the texture of this seed at full size with all its maps, as a material"""

    bl_idname = "ganforge.keep"
    bl_label = "Keep"
    bl_options = {"REGISTER", "UNDO"}

    pack: _PACK
    seed: _SEED
    width: _WIDTH
    height: _HEIGHT
    box: _BOX
    displacement: EnumProperty(name="Displacement", items=DISPLACEMENT_ITEMS, default="BUMP")
    normal_strength: _NORMAL_STRENGTH
    scale: _SCALE
    assign: _ASSIGN

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, w, h, o = _abspath(self.pack), self.seed, self.width, self.height, _map_options(self.normal_strength)
        return (lambda: logic.generate_maps(pack, seed, w, h, o)), 1

    def apply(self, context: Any, item: logic.MapSet) -> None:
        name = materials.material_name(self.pack, item.seed)
        images = materials.map_images(item, name)
        obj = context.active_object if self.assign else None
        mat = materials.build_material(images, name, item.props, box=self.box, displacement=self.displacement,
                                       scale=self.scale, obj=obj)
        wm = context.window_manager
        wm.ganforge_last_image, wm.ganforge_last_material = images["color"].name, mat.name
        _show(context, images["color"])


class GANFORGE_OT_reseed_material(_JobOperator, bpy.types.Operator):
    """Regenerate every map of a ganforge material from another seed, in place"""

    bl_idname = "ganforge.reseed_material"
    bl_label = "New Seed for Material"
    bl_options = {"REGISTER", "UNDO"}

    material: StringProperty(name="Material", description="Material name (empty: the last made)")
    seed: _SEED

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        name = self.material or bpy.context.window_manager.ganforge_last_material
        mat = bpy.data.materials.get(name) if name else None
        if mat is None:
            raise ValueError(f"no material named {name!r}" if name else "no material given or made yet")
        pack, w, h, options = materials.material_request(mat)
        self.material, seed = mat.name, self.seed  # the worker's result goes to this datablock
        return (lambda: logic.generate_maps(pack, seed, w, h, options)), 1

    def apply(self, context: Any, item: logic.MapSet) -> None:
        mat = bpy.data.materials[self.material]
        materials.update_material(mat, item)
        self.material = mat.name  # renamed for the new seed
        wm = context.window_manager
        wm.ganforge_last_material = mat.name
        wm.ganforge_last_image = materials.material_images(mat)["color"].name


class GANFORGE_OT_bake_maps(_JobOperator, bpy.types.Operator):
    """Write every map of a seed to a folder as PNGs (the files `ganforge generate --maps` writes)"""

    bl_idname = "ganforge.bake_maps"
    bl_label = "Bake to Files"
    bl_options = {"REGISTER"}

    pack: _PACK
    seed: _SEED
    width: _WIDTH
    height: _HEIGHT
    directory: StringProperty(name="Folder", subtype="DIR_PATH")
    orm: BoolProperty(name="ORM", description="Also write AO/roughness/metallic packed in RGB", default=True)
    normal_strength: _NORMAL_STRENGTH

    _written: list[str] | None = None

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, w, h, orm = _abspath(self.pack), self.seed, self.width, self.height, self.orm
        folder, o = bpy.path.abspath(self.directory) if self.directory else "", _map_options(self.normal_strength)
        self._written = []
        return (lambda: logic.bake_maps(pack, seed, w, h, folder, o, orm)), 6

    def apply(self, context: Any, item: Path) -> None:
        assert self._written is not None
        self._written.append(str(item))

    def finish(self, context: Any) -> None:
        folder = Path(self._written[0]).parent if self._written else self.directory
        self.report({"INFO"}, f"ganforge: {len(self._written or [])} maps written to {folder}")
        _status(context, f"baked to {folder}")


class GANFORGE_OT_tile_preview(bpy.types.Operator):
    """Show an image repeated 3x3, to check that it tiles without seams"""

    bl_idname = "ganforge.tile_preview"
    bl_label = "Tile Preview 3x3"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(name="Image", description="Image datablock name (empty: the last generated)")

    def execute(self, context: Any) -> set[str]:
        image = _named_image(self, context)
        if image is None:
            return {"CANCELLED"}
        tiled = materials.tile_image(image, 3)
        context.window_manager.ganforge_last_preview = tiled.name
        _show(context, tiled)
        return {"FINISHED"}


CLASSES = (GANFORGE_OT_keep, GANFORGE_OT_reseed_material, GANFORGE_OT_bake_maps, GANFORGE_OT_tile_preview)
