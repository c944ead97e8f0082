"""Settings and panels: the Image Editor and Shader Editor sidebars (tab "ganforge")."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import browser, logic, operators, pbr_operators


class GanforgeSettings(bpy.types.PropertyGroup):
    pack: StringProperty(name="Pack", description="Generator pack (.onnx)", subtype="FILE_PATH")
    seed: IntProperty(name="Seed", default=0, min=0, max=2**31 - 1)
    seed_b: IntProperty(name="To seed", default=1, min=0, max=2**31 - 1)
    width: IntProperty(name="Width", default=0, min=0, max=logic.MAX_SIDE,
                       description="Pixels (0: the pack's default)")
    height: IntProperty(name="Height", default=0, min=0, max=logic.MAX_SIDE,
                        description="Pixels (0: the pack's default)")
    count: IntProperty(name="Count", default=4, min=1, max=logic.MAX_COUNT)
    steps: IntProperty(name="Frames", default=24, min=2, max=logic.MAX_STEPS)
    category: StringProperty(name="Category", description="One of the pack's categories (empty: any)")
    truncation: FloatProperty(name="Truncation", default=1.0, min=0.0, max=2.0,
                              description="1: full variety; 0.5-0.8: more typical")
    # The variation browser and PBR materials.
    browse_seed: IntProperty(name="Browse seed", default=0, min=0, max=2**31 - 1, update=browser.on_seed_change,
                             description="Move to preview seeds live (arrow keys: Browse Seeds)")
    preview_size: IntProperty(name="Preview", default=128, min=16, max=512, description="Preview side in pixels")
    grid_count: IntProperty(name="Thumbnails", default=8, min=1, max=32)
    box: BoolProperty(name="Box projection", description="Project on object coordinates: no UVs needed")
    displacement: EnumProperty(name="Displacement", items=pbr_operators.DISPLACEMENT_ITEMS, default="BUMP")
    bake_dir: StringProperty(name="Folder", subtype="DIR_PATH", description="Where Bake to Files writes the maps")


class GANFORGE_MT_recent(bpy.types.Menu):
    bl_label = "Recent Packs"
    bl_idname = "GANFORGE_MT_recent"

    def draw(self, context: Any) -> None:
        path = operators.recent_file()
        recent = logic.load_recent(path) if path is not None else []
        if not recent:
            self.layout.label(text="No recent packs")
        for pack in recent:
            self.layout.operator(operators.GANFORGE_OT_use_pack.bl_idname, text=pack).path = pack


def _draw_info(layout: Any, pack: str) -> bool:
    """The pack's facts; returns whether it makes sprites (False also when there is no readable
    pack: the texture controls are the panel's default)."""
    if not pack:
        layout.label(text="Pick a generator pack (.onnx)", icon="INFO")
        return False
    try:
        path = bpy.path.abspath(pack)
        rows = logic.pack_summary(path)
        sprites = logic.makes_sprites(logic.open_pack(path))
    except Exception as e:  # drawing must never raise: show the one-line reason instead
        layout.label(text=operators.describe(e), icon="ERROR")
        return False
    box = layout.box()
    col = box.column(align=True)
    for label, value in rows:
        split = col.split(factor=0.4)
        split.label(text=label)
        split.label(text=value)
    return sprites


class _GanforgePanel:
    bl_region_type = "UI"
    bl_category = "ganforge"
    bl_label = "ganforge"

    def draw(self, context: Any) -> None:
        layout = self.layout
        s = context.scene.ganforge
        wm = context.window_manager
        row = layout.row(align=True)
        row.prop(s, "pack", text="")
        row.menu(GANFORGE_MT_recent.bl_idname, text="", icon="RECOVER_LAST")
        sprites = _draw_info(layout, s.pack)

        row = layout.row(align=True)
        row.prop(s, "seed")
        row.operator(operators.GANFORGE_OT_random_seed.bl_idname, text="", icon="FILE_REFRESH")
        busy = wm.ganforge_running
        col = layout.column()
        col.enabled = not busy
        if sprites:
            self._draw_sprite(col, s)
        else:
            self._draw_texture(col, s)
        if not sprites:
            row = col.row(align=True)
            row.prop(s, "box")
            row.prop(s, "displacement", text="")
        op = col.operator(operators.GANFORGE_OT_make_material.bl_idname, icon="MATERIAL")
        op.image, op.box, op.displacement = "", s.box, s.displacement
        row = col.row(align=True)
        row.operator(pbr_operators.GANFORGE_OT_tile_preview.bl_idname, icon="MESH_GRID").image = ""
        row.operator(pbr_operators.GANFORGE_OT_reseed_material.bl_idname, text="Material ← Seed",
                     icon="FILE_REFRESH").seed = s.seed
        if not sprites:
            _draw_browser(layout.box(), s, busy)

        if busy:
            layout.progress(factor=wm.ganforge_progress, type="BAR", text="Generating… Esc cancels")
        elif wm.ganforge_status:
            layout.label(text=wm.ganforge_status)

    @staticmethod
    def _draw_sprite(col: Any, s: Any) -> None:
        col.prop(s, "category")
        col.prop(s, "truncation")
        row = col.row(align=True)
        row.prop(s, "count")
        op = row.operator(operators.GANFORGE_OT_generate_sprite.bl_idname, icon="IMAGE_RGB_ALPHA")
        op.pack, op.seed, op.count, op.category, op.truncation = s.pack, s.seed, s.count, s.category, s.truncation

    @staticmethod
    def _draw_texture(col: Any, s: Any) -> None:
        row = col.row(align=True)
        row.prop(s, "width")
        row.prop(s, "height")
        op = col.operator(operators.GANFORGE_OT_generate_texture.bl_idname, icon="TEXTURE")
        op.pack, op.seed, op.width, op.height = s.pack, s.seed, s.width, s.height
        row = col.row(align=True)
        row.prop(s, "count")
        op = row.operator(operators.GANFORGE_OT_variations.bl_idname)
        op.pack, op.seed, op.count, op.width, op.height = s.pack, s.seed, s.count, s.width, s.height
        row = col.row(align=True)
        row.prop(s, "seed_b")
        row.prop(s, "steps")
        op = col.operator(operators.GANFORGE_OT_interpolate.bl_idname)
        op.pack, op.seed_a, op.seed_b, op.steps = s.pack, s.seed, s.seed_b, s.steps
        op.width, op.height = s.width, s.height


def _draw_browser_grid(col: Any) -> None:
    images = browser.grid_images()
    if not images:
        return
    grid = col.grid_flow(columns=4, even_columns=True, align=True)
    for image in images:
        cell = grid.column(align=True)
        cell.template_icon(icon_value=image.preview_ensure().icon_id, scale=3.0)
        seed = int(image.get("ganforge_seed", 0))
        cell.operator(browser.GANFORGE_OT_pick_seed.bl_idname, text=str(seed)).seed = seed


def _draw_browser(box: Any, s: Any, busy: bool) -> None:
    """Variation browser: live preview slider, arrow keys, thumbnails, keep, bake."""
    box.label(text="Variation browser", icon="SEQ_PREVIEW")
    row = box.row(align=True)
    row.prop(s, "browse_seed")
    row.prop(s, "preview_size")
    box.operator(browser.GANFORGE_OT_browse.bl_idname, icon="ARROW_LEFTRIGHT")
    col = box.column()
    col.enabled = not busy
    row = col.row(align=True)
    row.prop(s, "grid_count")
    op = row.operator(browser.GANFORGE_OT_browse_grid.bl_idname, icon="IMGDISPLAY")
    op.pack, op.seed, op.count = s.pack, s.browse_seed, s.grid_count
    _draw_browser_grid(col)
    op = col.operator(pbr_operators.GANFORGE_OT_keep.bl_idname, icon="CHECKMARK")
    op.pack, op.seed, op.width, op.height = s.pack, s.browse_seed, s.width, s.height
    op.box, op.displacement = s.box, s.displacement
    row = col.row(align=True)
    row.prop(s, "bake_dir", text="")
    op = row.operator(pbr_operators.GANFORGE_OT_bake_maps.bl_idname, icon="EXPORT")
    op.pack, op.seed, op.width, op.height, op.directory = s.pack, s.browse_seed, s.width, s.height, s.bake_dir


class GANFORGE_PT_image(_GanforgePanel, bpy.types.Panel):
    bl_idname = "GANFORGE_PT_image"
    bl_space_type = "IMAGE_EDITOR"


class GANFORGE_PT_shader(_GanforgePanel, bpy.types.Panel):
    bl_idname = "GANFORGE_PT_shader"
    bl_space_type = "NODE_EDITOR"

    @classmethod
    def poll(cls, context: Any) -> bool:
        return getattr(context.space_data, "tree_type", "") == "ShaderNodeTree"


CLASSES = (GanforgeSettings, GANFORGE_MT_recent, GANFORGE_PT_image, GANFORGE_PT_shader)

WM_PROPS = {
    "ganforge_running": lambda: bpy.props.BoolProperty(default=False),
    "ganforge_progress": lambda: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR"),
    "ganforge_status": lambda: StringProperty(default=""),
    "ganforge_last_image": lambda: StringProperty(default=""),
    "ganforge_last_material": lambda: StringProperty(default=""),
    "ganforge_last_preview": lambda: StringProperty(default=""),
    "ganforge_grid": lambda: IntProperty(default=0, min=0),
}


def register_props() -> None:
    bpy.types.Scene.ganforge = PointerProperty(type=GanforgeSettings)
    for name, make in WM_PROPS.items():
        setattr(bpy.types.WindowManager, name, make())


def unregister_props() -> None:
    del bpy.types.Scene.ganforge
    for name in WM_PROPS:
        delattr(bpy.types.WindowManager, name)
