"""The ``bpy.ops.ganforge.*`` operators: a public, scriptable API.

In the background (``blender -b``, scripts, the ``bpy`` module) an operator runs to completion
in ``execute`` and returns ``{'FINISHED'}``. From the UI, ``invoke`` starts a worker thread
(:mod:`.jobs`) and a modal timer drains its queue: pixels are applied on the main thread, the
progress shows in the panel, ESC cancels. Bad input is a Blender error report, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import blend_data, logic
from .jobs import Job

ADDON = __package__
_SEED_MAX = 2**31 - 1


def recent_file() -> Path | None:
    try:
        return Path(bpy.utils.extension_path_user(ADDON, path="recent.json", create=False))
    except (ValueError, KeyError, RuntimeError):  # loaded outside an extensions repository
        return None


def describe(exc: BaseException) -> str:
    """One line for a report: our errors as they are, anything else with its type."""
    from ganforge.core.errors import GanforgeError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, GanforgeError) else f"{type(exc).__name__}: {text}"


class _JobOperator:
    """Shared run logic. Subclasses define ``produce() -> (iterable factory, total)``,
    ``apply(context, item)`` (main thread) and optionally ``finish(context)``."""

    _job: Job | None = None
    _timer: Any = None

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        raise NotImplementedError

    def apply(self, context: Any, item: Any) -> None:
        raise NotImplementedError

    def finish(self, context: Any) -> None:
        pass

    def _succeeded(self, context: Any) -> None:
        self.finish(context)
        pack = getattr(self, "pack", "")
        path = recent_file()
        if pack and path is not None:
            logic.remember_pack(path, str(Path(bpy.path.abspath(pack)).resolve()))

    def _fail(self, context: Any, exc: BaseException) -> set[str]:
        message = describe(exc)
        _status(context, f"error: {message}")
        self.report({"ERROR"}, message)
        return {"CANCELLED"}

    # ---- synchronous: background mode and scripts ------------------------------------------
    def execute(self, context: Any) -> set[str]:
        try:
            factory, _ = self.produce()
            for item in factory():
                self.apply(context, item)
            self._succeeded(context)
        except Exception as e:
            return self._fail(context, e)
        _status(context, "done")
        return {"FINISHED"}

    # ---- threaded: the UI ------------------------------------------------------------------
    def invoke(self, context: Any, event: Any) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if context.window_manager.ganforge_running:
            self.report({"WARNING"}, "ganforge is already generating; wait or press Esc")
            return {"CANCELLED"}
        try:
            self.start_job(context)
        except Exception as e:
            return self._fail(context, e)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS":
            return self.cancel_job(context)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        return self.drain(context)

    # The threaded run without Blender's event loop: invoke/modal only add the timer and Esc.
    def start_job(self, context: Any) -> None:
        """Start the worker thread (numpy work only); :meth:`drain` applies its results."""
        factory, total = self.produce()
        self._job = Job(factory, total).start()
        wm = context.window_manager
        wm.ganforge_running, wm.ganforge_progress = True, 0.0
        _status(context, "generating… (Esc cancels)")

    def drain(self, context: Any) -> set[str]:
        """On the main thread: apply what the worker finished; ``{'RUNNING_MODAL'}`` until done."""
        job = self._job
        assert job is not None
        try:
            for msg in job.poll():
                if msg.kind == "item":
                    self.apply(context, msg.value)
                elif msg.kind == "error":
                    self._stop(context)
                    return self._fail(context, msg.value)
                elif msg.kind == "done":
                    self._stop(context)
                    self._succeeded(context)
                    _status(context, "done")
                    return {"FINISHED"}
        except Exception as e:  # applying failed (e.g. the image was deleted meanwhile)
            job.cancel()
            self._stop(context)
            return self._fail(context, e)
        context.window_manager.ganforge_progress = job.progress
        _redraw(context)
        return {"RUNNING_MODAL"}

    def cancel_job(self, context: Any) -> set[str]:
        """Esc: the worker stops after its current item; nothing more is applied."""
        if self._job is not None:
            self._job.cancel()
        self._stop(context)
        _status(context, "cancelled")
        self.report({"WARNING"}, "ganforge: cancelled")
        return {"CANCELLED"}

    def _stop(self, context: Any) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.ganforge_running, wm.ganforge_progress = False, 0.0
        _redraw(context)


def _status(context: Any, text: str) -> None:
    context.window_manager.ganforge_status = text


def _redraw(context: Any) -> None:
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen else ():
        if area.type in ("IMAGE_EDITOR", "NODE_EDITOR"):
            area.tag_redraw()


def _show(context: Any, image: Any) -> None:
    """Show ``image`` in the Image Editor the user is looking at, if any."""
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen else ():
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image
            return


_PACK = StringProperty(name="Pack", description="Generator pack (.onnx)", subtype="FILE_PATH")
_SEED = IntProperty(name="Seed", default=0, min=0, max=_SEED_MAX)
_WIDTH = IntProperty(name="Width", description="Pixels (0: the pack's default)", default=0, min=0,
                     max=logic.MAX_SIDE)
_HEIGHT = IntProperty(name="Height", description="Pixels (0: the pack's default)", default=0, min=0,
                      max=logic.MAX_SIDE)
# the material options shared by Make Material and Keep
_NORMAL_STRENGTH = FloatProperty(name="Normal strength", description="Depth of the height's range in pixels",
                                 default=2.0, min=0.0, max=100.0)
_BOX = BoolProperty(name="Box projection", description="Project on object coordinates: no UVs needed")
_SCALE = FloatProperty(name="Scale", default=1.0, min=0.001, soft_max=100.0)
_ASSIGN = BoolProperty(name="Assign to active object", default=True)


def _abspath(pack: str) -> str:
    return bpy.path.abspath(pack) if pack else pack


def _map_options(normal_strength: float) -> dict[str, Any]:
    """The PBR map options the operators pass to :mod:`.logic`."""
    return {"normal_strength": float(normal_strength)}


def _named_image(op: Any, context: Any) -> Any:
    """The Image ``op.image`` names (empty: the last generated), or None after an error report."""
    name = op.image or context.window_manager.ganforge_last_image
    image = bpy.data.images.get(name) if name else None
    if image is None:
        op.report({"ERROR"}, f"no image named {name!r}" if name else "no image given or generated yet")
    return image


def _apply_texture(op: Any, context: Any, item: logic.Texture) -> None:
    """One generated texture -> an Image datablock, shown and remembered (main thread only)."""
    image = blend_data.texture_to_image(item, blend_data.image_name(op.pack, item.seed))
    context.window_manager.ganforge_last_image = image.name
    _show(context, image)


class GANFORGE_OT_generate_texture(_JobOperator, bpy.types.Operator):
    """Generate a seamless texture from a generator pack into a new image"""

    bl_idname = "ganforge.generate_texture"
    bl_label = "Generate Texture"
    bl_options = {"REGISTER", "UNDO"}

    pack: _PACK
    seed: _SEED
    width: _WIDTH
    height: _HEIGHT

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, w, h = _abspath(self.pack), self.seed, self.width, self.height
        return (lambda: logic.generate_textures(pack, seed, 1, w, h)), 1

    def apply(self, context: Any, item: logic.Texture) -> None:
        _apply_texture(self, context, item)


class GANFORGE_OT_variations(_JobOperator, bpy.types.Operator):
    """Generate textures from consecutive seeds, one image each"""

    bl_idname = "ganforge.variations"
    bl_label = "Variations"
    bl_options = {"REGISTER", "UNDO"}

    pack: _PACK
    seed: IntProperty(name="First seed", default=0, min=0, max=_SEED_MAX)
    count: IntProperty(name="Count", default=4, min=1, max=logic.MAX_COUNT)
    width: _WIDTH
    height: _HEIGHT

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, n, w, h = _abspath(self.pack), self.seed, self.count, self.width, self.height
        return (lambda: logic.generate_textures(pack, seed, n, w, h)), n

    def apply(self, context: Any, item: logic.Texture) -> None:
        _apply_texture(self, context, item)


class GANFORGE_OT_interpolate(_JobOperator, bpy.types.Operator):
    """Interpolate between two seeds (slerp of the latents) into an image sequence"""

    bl_idname = "ganforge.interpolate"
    bl_label = "Interpolate"
    bl_options = {"REGISTER", "UNDO"}

    pack: _PACK
    seed_a: IntProperty(name="From seed", default=0, min=0, max=_SEED_MAX)
    seed_b: IntProperty(name="To seed", default=1, min=0, max=_SEED_MAX)
    steps: IntProperty(name="Frames", default=24, min=2, max=logic.MAX_STEPS)
    width: _WIDTH
    height: _HEIGHT

    _folder: Path | None = None
    _frames = 0
    _props: dict[str, Any] | None = None

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, a, b, n = _abspath(self.pack), self.seed_a, self.seed_b, self.steps
        w, h = self.width, self.height
        self._folder = blend_data.sequence_dir(pack, a, b, w, h)
        self._frames, self._props = 0, {}
        return (lambda: logic.interpolate(pack, a, b, n, w, h)), n

    def apply(self, context: Any, item: logic.Texture) -> None:
        self._frames += 1
        blend_data.write_frame(item, self._folder / f"frame_{self._frames:04d}.png")
        self._props = {k: v for k, v in item.props.items() if k != "ganforge_t"}

    def finish(self, context: Any) -> None:
        name = f"{Path(self.pack).stem} s{self.seed_a}-s{self.seed_b}"
        assert self._folder is not None
        blend_data.prune_frames(self._folder, self._frames)
        image = blend_data.load_sequence(self._folder / "frame_0001.png", self._frames, name, self._props or {})
        context.window_manager.ganforge_last_image = image.name
        _show(context, image)


class GANFORGE_OT_generate_sprite(_JobOperator, bpy.types.Operator):
    """Generate sprites or decals with alpha from an image pack"""

    bl_idname = "ganforge.generate_sprite"
    bl_label = "Generate Sprite"
    bl_options = {"REGISTER", "UNDO"}

    pack: _PACK
    seed: _SEED
    count: IntProperty(name="Count", default=1, min=1, max=logic.MAX_COUNT)
    category: StringProperty(name="Category", description="One of the pack's categories (empty: any)")
    truncation: FloatProperty(name="Truncation", description="1: full variety; 0.5-0.8: more typical",
                              default=1.0, min=0.0, max=2.0)

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, n, cat, psi = _abspath(self.pack), self.seed, self.count, self.category, self.truncation
        return (lambda: logic.generate_sprites(pack, seed, n, cat, psi)), n

    def apply(self, context: Any, item: logic.Texture) -> None:
        name = blend_data.image_name(self.pack, item.seed) + (f" {self.category}" if self.category else "")
        image = blend_data.texture_to_image(item, name)
        context.window_manager.ganforge_last_image = image.name
        _show(context, image)


class GANFORGE_OT_make_material(bpy.types.Operator):
    """Make a Principled BSDF material from a generated texture: colour, normal, height, roughness
    and AO maps (or a decal from a sprite)"""

    bl_idname = "ganforge.make_material"
    bl_label = "Make Material"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(name="Image", description="Image datablock name (empty: the last generated)")
    pbr: BoolProperty(name="PBR maps", default=True,
                      description="Normal, height, roughness and AO maps beside the colour (textures)")
    displacement: EnumProperty(name="Displacement", default="BUMP", items=[
        ("BUMP", "Bump", "The height bumps the shading normal"),
        ("DISPLACEMENT", "Displacement", "True displacement (Cycles; subdivide the mesh)"),
        ("BOTH", "Both", "True displacement plus bump (Cycles)")])
    normal_strength: _NORMAL_STRENGTH
    bump: EnumProperty(name="Bump", items=[("AUTO", "Auto", "Bump from height for greyscale packs"),
                                           ("ON", "On", "Bump from the texture's value"),
                                           ("OFF", "Off", "No bump")], default="AUTO",
                       description="Without PBR maps: a bump from the colour's value")
    box: _BOX
    scale: _SCALE
    assign: _ASSIGN

    def execute(self, context: Any) -> set[str]:
        image = _named_image(self, context)
        if image is None:
            return {"CANCELLED"}
        obj = context.active_object if self.assign else None
        try:
            if self.pbr and blend_data.takes_maps(image):
                mat = self._pbr_material(image, obj)
            else:
                bump = None if self.bump == "AUTO" else self.bump == "ON"
                mat = blend_data.make_material(image, bump=bump, box=self.box, scale=self.scale, obj=obj)
        except Exception as e:
            self.report({"ERROR"}, describe(e))
            return {"CANCELLED"}
        context.window_manager.ganforge_last_material = mat.name
        return {"FINISHED"}

    def _pbr_material(self, image: Any, obj: Any) -> Any:
        """Maps from the pack that made ``image`` (exactly the CLI's), or, when that pack is
        gone or changed, from the image's own 8-bit pixels (with a warning)."""
        from . import materials

        options = _map_options(self.normal_strength)
        pack, size = str(image.get("ganforge_pack", "")), list(image.get("ganforge_size", []))
        mapset = None
        if pack and len(size) == 2 and Path(pack).is_file():
            rt = logic.open_pack(pack)
            if rt.sha256 == image.get("ganforge_pack_sha256"):
                (mapset,) = logic.generate_maps(pack, int(image["ganforge_seed"]), size[0], size[1], options)
        if mapset is None:
            self.report({"WARNING"}, f"{image.name}: its pack is not at hand; maps made from its pixels")
            pixels = blend_data.pixels_top_left(image)
            mapset = logic.MapSet(logic.maps_from_pixels(pixels, options), int(image.get("ganforge_seed", 0)),
                                  {"ganforge_pbr": json.dumps(logic.pbr_options(options).as_dict())})
            name = f"{image.name} material"
        else:
            name = materials.material_name(pack, mapset.seed)
        images = materials.map_images(mapset, image.name, color=image)
        return materials.build_material(images, name, mapset.props, box=self.box, displacement=self.displacement,
                                        scale=self.scale, obj=obj)


class GANFORGE_OT_random_seed(bpy.types.Operator):
    """Roll a new random seed"""

    bl_idname = "ganforge.random_seed"
    bl_label = "Random Seed"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        context.scene.ganforge.seed = logic.random_seed()
        return {"FINISHED"}


class GANFORGE_OT_use_pack(bpy.types.Operator):
    """Use a recently used pack"""

    bl_idname = "ganforge.use_pack"
    bl_label = "Use Pack"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    path: StringProperty()

    def execute(self, context: Any) -> set[str]:
        context.scene.ganforge.pack = self.path
        return {"FINISHED"}


CLASSES = (GANFORGE_OT_generate_texture, GANFORGE_OT_variations, GANFORGE_OT_interpolate,
           GANFORGE_OT_generate_sprite, GANFORGE_OT_make_material, GANFORGE_OT_random_seed, GANFORGE_OT_use_pack)
