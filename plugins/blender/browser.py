"""The variation browser: scrub seeds with a slider or the arrow keys and see each one live.

Moving the *Browse seed* slider asks a :class:`.jobs.Debouncer` for a preview of that seed; a
``bpy.app.timers`` callback (main thread) starts the generation on the worker thread once the
slider has rested for 0.15 s and applies the finished pixels to the image "ganforge preview",
the small texture tiled 3x3 so seams would show. Scrubbing past ten seeds while one renders
costs one more render, not ten. *Grid* makes N thumbnails from consecutive seeds to pick from;
*Keep* (:class:`.pbr_operators.GANFORGE_OT_keep`) turns the pick into a full-size texture and
material. Timers do not run in background mode: there, :func:`tick` is called by hand.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

import bpy
import numpy as np
from bpy.props import IntProperty

from . import logic
from .jobs import Debouncer
from .operators import _PACK, _SEED_MAX, _abspath, _JobOperator, _status

PREVIEW = "ganforge preview"
GRID = "ganforge grid"
TICK_SECONDS = 0.05


def _preview(key: Hashable) -> Iterator[logic.Texture]:
    pack, seed, size = key  # type: ignore[misc]
    rt = logic.open_pack(pack)
    side = logic.snap_size(rt, size)
    yield from logic.generate_textures(pack, seed, 1, side, side)


_debouncer = Debouncer(_preview)


def debouncer() -> Debouncer:
    return _debouncer


def request(scene: Any) -> None:
    """The slider moved (or an arrow key): want a preview of the scene's browse seed."""
    s = scene.ganforge
    if not s.pack:
        return
    _debouncer.request((os.path.abspath(bpy.path.abspath(s.pack)), int(s.browse_seed), int(s.preview_size)))
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_SECONDS)


def _write_image(name: str, pixels: np.ndarray, seed: int) -> Any:
    """``pixels`` into the image ``name``, rewritten in place (so an editor showing it keeps it)
    or made anew when it is missing or another size."""
    h, w = pixels.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (w, h):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(name, width=w, height=h, alpha=False)
    image.pixels.foreach_set(logic.to_blender_pixels(pixels))
    image.update()
    image["ganforge_seed"] = seed
    return image


def apply_preview(texture: logic.Texture) -> Any:
    """The preview image: the texture tiled 3x3 (rewritten in place, so the editor keeps it)."""
    return _write_image(PREVIEW, np.tile(texture.pixels, (3, 3, 1)), texture.seed)


def _show_preview(image: Any) -> None:
    """Show the preview in the first Image Editor of any window: a timer's context has no
    screen of its own, so the windows are searched."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
                return


def tick() -> float | None:
    """Main thread, on a timer: apply finished previews, start the next; None stops the timer."""
    context = bpy.context
    for _, texture in _debouncer.tick():
        _show_preview(apply_preview(texture))
        _status(context, f"preview: seed {texture.seed}")
    if _debouncer.error is not None:
        from .operators import describe

        _status(context, f"error: {describe(_debouncer.error)}")
        _debouncer.error = None
    return None if _debouncer.idle else TICK_SECONDS


def on_seed_change(settings: Any, context: Any) -> None:
    """``browse_seed``'s update callback."""
    request(context.scene)


class GANFORGE_OT_browse(bpy.types.Operator):
    """Scrub seeds with the arrow keys (Left/Down: previous, Right/Up: next); Enter keeps the seed as a
    material, Esc stops"""

    bl_idname = "ganforge.browse"
    bl_label = "Browse Seeds"
    bl_options = {"REGISTER"}

    STEPS = {"LEFT_ARROW": -1, "DOWN_ARROW": -1, "RIGHT_ARROW": 1, "UP_ARROW": 1}

    def execute(self, context: Any) -> set[str]:
        """Background and scripts: one preview of the current seed, synchronously."""
        s = context.scene.ganforge
        try:
            (texture,) = _preview((bpy.path.abspath(s.pack), s.browse_seed, s.preview_size))
        except Exception as e:
            from .operators import describe

            self.report({"ERROR"}, describe(e))
            return {"CANCELLED"}
        apply_preview(texture)
        return {"FINISHED"}

    def invoke(self, context: Any, event: Any) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        request(context.scene)
        context.window_manager.modal_handler_add(self)
        _status(context, "browsing: ←/→ seed, Enter keeps, Esc stops")
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        s = context.scene.ganforge
        if event.value != "PRESS":
            return {"PASS_THROUGH"}
        if event.type in self.STEPS:
            s.browse_seed = min(_SEED_MAX, max(0, s.browse_seed + self.STEPS[event.type]))  # update -> request
            return {"RUNNING_MODAL"}
        if event.type in ("RET", "NUMPAD_ENTER"):
            _status(context, f"keeping seed {s.browse_seed}")
            keep = bpy.ops.ganforge.keep
            args = dict(pack=s.pack, seed=s.browse_seed, width=s.width, height=s.height, box=s.box,
                        displacement=s.displacement)
            keep("EXEC_DEFAULT" if bpy.app.background else "INVOKE_DEFAULT", **args)
            return {"FINISHED"}
        if event.type in ("ESC", "RIGHTMOUSE"):
            _status(context, "browsing stopped")
            return {"CANCELLED"}
        return {"PASS_THROUGH"}


class GANFORGE_OT_browse_grid(_JobOperator, bpy.types.Operator):
    """Thumbnails of consecutive seeds to pick from"""

    bl_idname = "ganforge.browse_grid"
    bl_label = "Grid"
    bl_options = {"REGISTER"}

    pack: _PACK
    seed: IntProperty(name="First seed", default=0, min=0, max=_SEED_MAX)
    count: IntProperty(name="Count", default=8, min=1, max=logic.MAX_COUNT)
    size: IntProperty(name="Thumbnail size", default=64, min=8, max=512)

    _slot = 0

    def produce(self) -> tuple[Callable[[], Iterable[Any]], int]:
        pack, seed, n, size = _abspath(self.pack), self.seed, self.count, self.size

        def make() -> Iterator[logic.Texture]:
            side = logic.snap_size(logic.open_pack(pack), size)
            yield from logic.generate_textures(pack, seed, n, side, side)

        self._slot = 0
        return make, n

    def apply(self, context: Any, item: logic.Texture) -> None:
        self._slot += 1
        _write_image(f"{GRID} {self._slot}", item.pixels, item.seed)

    def finish(self, context: Any) -> None:
        for stale in [i for i in bpy.data.images if i.name.startswith(GRID + " ")]:
            index = stale.name.removeprefix(GRID + " ")
            if index.isdigit() and int(index) > self._slot:
                bpy.data.images.remove(stale)  # a shorter grid than last time: no leftovers
        context.window_manager.ganforge_grid = self._slot


def grid_images() -> list[Any]:
    """The grid's thumbnails in seed order (the panel draws them)."""
    n = bpy.context.window_manager.ganforge_grid
    return [img for i in range(1, n + 1) if (img := bpy.data.images.get(f"{GRID} {i}")) is not None]


class GANFORGE_OT_pick_seed(bpy.types.Operator):
    """Browse this seed"""

    bl_idname = "ganforge.pick_seed"
    bl_label = "Pick Seed"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    seed: IntProperty(min=0, max=_SEED_MAX)

    def execute(self, context: Any) -> set[str]:
        context.scene.ganforge.browse_seed = self.seed
        return {"FINISHED"}


CLASSES = (GANFORGE_OT_browse, GANFORGE_OT_browse_grid, GANFORGE_OT_pick_seed)
