"""Runs inside a Python that has ``bpy`` (Blender as a module, headless) and nothing of ganforge.

Called by ``tests/test_blender_addon.py``: installs the built extension zip the way a user does,
drives the public operators, saves and reopens a .blend, and writes what it saw (pixels as
.npy, facts as JSON) for the test to check against the torch-free runtime. Usage::

    python blender_driver.py ZIP PACK GREY_PACK BAD_PACK IMAGE_PACK OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import bpy
import numpy as np


def pixels(image) -> np.ndarray:
    w, h = image.size
    flat = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(flat)
    return flat.reshape(h, w, 4)[::-1]  # Blender's rows start at the bottom


def links(material) -> list[list[str]]:
    return sorted([lk.from_node.type, lk.from_socket.identifier, lk.to_node.type, lk.to_socket.identifier]
                  for lk in material.node_tree.links)


def props(idblock) -> dict:
    return {k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
            for k, v in idblock.items() if k.startswith("ganforge_")}


def call(op, **kwargs) -> dict:
    """Run an operator; an error report arrives as RuntimeError (Blender's Python API)."""
    try:
        return {"result": sorted(op(**kwargs)), "error": None}
    except RuntimeError as e:
        return {"result": None, "error": str(e)}


def threaded(op_class, context, timeout: float = 120.0, cancel_after: int | None = None, **props) -> dict:
    """The UI path without Blender's event loop (timers do not fire in the bpy module): the
    operator's own start_job/drain/cancel_job on a plain object carrying its properties,
    since Blender creates operator instances itself. The worker thread is real."""
    import time

    reports: list[list[str]] = []
    names = ("produce", "apply", "finish", "start_job", "drain", "cancel_job", "_stop", "_succeeded", "_fail")
    shell = type("Shell", (), {n: getattr(op_class, n) for n in names})()
    shell.__dict__.update(props, _job=None, _timer=None)
    shell.report = lambda kind, message: reports.append([sorted(kind)[0], message])
    wm = context.window_manager
    shell.start_job(context)
    running, progress, polls = wm.ganforge_running, [], 0
    deadline = time.monotonic() + timeout
    result, applied = {"RUNNING_MODAL"}, None
    while result == {"RUNNING_MODAL"} and time.monotonic() < deadline:
        time.sleep(0.02)
        if cancel_after is not None and shell._job.done_items >= cancel_after:
            applied = shell._job.done_items
            result = shell.cancel_job(context)
            break
        result = shell.drain(context)
        progress.append(round(wm.ganforge_progress, 3))
        polls += 1
    shell._job.join(timeout)
    leftover = [m.kind for m in shell._job.poll()]  # finished by the worker, never applied
    return {"applied": applied, "produced": shell._job.done_items, "leftover": leftover, "result": sorted(result), "running_during": running, "running_after": wm.ganforge_running,
            "progress": sorted(set(progress)), "polls": polls, "reports": reports, "status": wm.ganforge_status,
            "thread_alive": shell._job._thread.is_alive()}


def pbr_facts(mat) -> dict:
    """A PBR material's links, displacement method and, per map, its image's facts."""
    images = {}
    for node in mat.node_tree.nodes:
        if node.type == "TEX_IMAGE" and node.name.startswith("ganforge "):
            img = node.image
            images[node.name.removeprefix("ganforge ")] = {
                "name": img.name, "colorspace": img.colorspace_settings.name, "float": img.is_float,
                "size": list(img.size), "packed": img.packed_file is not None, "pointer": img.as_pointer(),
                "extension": node.extension, "projection": node.projection, "seed": img.get("ganforge_seed")}
    return {"name": mat.name, "links": links(mat), "displacement": mat.displacement_method, "images": images,
            "pointer": mat.as_pointer(), "props": props(mat)}


def save_maps(mat, out_dir: Path, prefix: str) -> None:
    for node in mat.node_tree.nodes:
        if node.type == "TEX_IMAGE" and node.name.startswith("ganforge "):
            np.save(out_dir / f"{prefix}_{node.name.removeprefix('ganforge ')}.npy", pixels(node.image))


def pbr_section(facts: dict, out_dir: Path, pack: str, grey: str, image) -> str:
    """Make Material with every map, Keep, a new seed in place (sync, threaded, cancelled), Bake,
    the 3x3 preview, the variation browser (debounced live preview, arrow keys, grid)."""
    import time
    from types import SimpleNamespace

    from bl_ext.user_default.ganforge import browser, pbr_operators

    wm, ctx = bpy.context.window_manager, bpy.context
    facts["pbr"] = call(bpy.ops.ganforge.make_material, image=image.name, assign=False)
    pbr_mat = bpy.data.materials[wm.ganforge_last_material]
    facts["pbr_material"] = pbr_facts(pbr_mat)
    save_maps(pbr_mat, out_dir, "pbr")
    call(bpy.ops.ganforge.make_material, image=image.name, assign=False, box=True, displacement="DISPLACEMENT")
    facts["pbr_box"] = pbr_facts(bpy.data.materials[wm.ganforge_last_material])
    call(bpy.ops.ganforge.generate_texture, pack=grey, seed=2, width=32, height=32)
    grey_image = bpy.data.images[wm.ganforge_last_image]
    call(bpy.ops.ganforge.make_material, image=grey_image.name, assign=False)
    save_maps(bpy.data.materials[wm.ganforge_last_material], out_dir, "grey")
    np.save(out_dir / "grey_image.npy", pixels(grey_image))

    # Keep on a plane, then a new seed: the same material and images, rewritten in place.
    bpy.ops.mesh.primitive_plane_add()
    plane = bpy.context.active_object
    facts["keep"] = call(bpy.ops.ganforge.keep, pack=pack, seed=21, width=32, height=32)
    kept = bpy.data.materials[wm.ganforge_last_material]
    facts["kept"] = pbr_facts(kept)
    facts["reseed"] = call(bpy.ops.ganforge.reseed_material, material=kept.name, seed=22)
    facts["reseeded"] = pbr_facts(kept)
    facts["reseed_plane"] = plane.active_material.as_pointer() == kept.as_pointer()
    save_maps(kept, out_dir, "reseed22")
    facts["reseed_threaded"] = threaded(pbr_operators.GANFORGE_OT_reseed_material, ctx, material=kept.name, seed=23)
    facts["reseed_threaded_name"] = kept.name
    save_maps(kept, out_dir, "reseed23")
    facts["reseed_cancel"] = threaded(pbr_operators.GANFORGE_OT_reseed_material, ctx, cancel_after=0,
                                      material=kept.name, seed=24)
    facts["reseed_cancel_name"] = kept.name
    facts["reseed_missing"] = call(bpy.ops.ganforge.reseed_material, material="no such material", seed=1)

    facts["bake"] = call(bpy.ops.ganforge.bake_maps, pack=pack, seed=22, width=32, height=32,
                         directory=str(out_dir / "baked"))
    facts["bake_threaded"] = threaded(pbr_operators.GANFORGE_OT_bake_maps, ctx, pack=pack, seed=23, width=32,
                                      height=32, directory=str(out_dir / "baked_threaded"), orm=False,
                                      normal_strength=2.0)
    facts["tile"] = call(bpy.ops.ganforge.tile_preview, image=image.name)
    np.save(out_dir / "tile3x3.npy", pixels(bpy.data.images[wm.ganforge_last_preview]))

    # The browser: five quick slider moves give one preview (the last seed), not five.
    scene = bpy.context.scene
    scene.ganforge.pack, scene.ganforge.preview_size = pack, 32
    deb = browser.debouncer()
    for seed in (3, 4, 5, 6, 7):
        scene.ganforge.browse_seed = seed  # the update callback asks for a preview
    facts["timer_registered"] = bpy.app.timers.is_registered(browser.tick)
    applied = []

    def run_ticks(until) -> None:
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            before = bpy.data.images.get(browser.PREVIEW)
            seed_before = before.get("ganforge_seed") if before else None
            browser.tick()
            now = bpy.data.images.get(browser.PREVIEW)
            if now is not None and now.get("ganforge_seed") != seed_before:
                applied.append(now["ganforge_seed"])
            time.sleep(0.01)

    run_ticks(lambda: deb.idle)
    facts["browse_first"] = {"started": deb.started, "applied": list(applied)}
    np.save(out_dir / "preview7.npy", pixels(bpy.data.images[browser.PREVIEW]))
    # Seeds asked for while a preview renders: only the newest is rendered after it.
    scene.ganforge.browse_seed = 8
    run_ticks(lambda: deb.running)
    for seed in (9, 10, 11):
        scene.ganforge.browse_seed = seed
    run_ticks(lambda: deb.idle)
    facts["browse_busy"] = {"started": deb.started, "applied": list(applied)}

    # Arrow keys and Enter/Esc through the modal handler (events made by hand: no event loop here).
    op = type("Shell", (), {"modal": browser.GANFORGE_OT_browse.modal, "STEPS": browser.GANFORGE_OT_browse.STEPS})()
    press = lambda kind: SimpleNamespace(type=kind, value="PRESS")  # noqa: E731
    results = [sorted(op.modal(ctx, press(k))) for k in ("RIGHT_ARROW", "RIGHT_ARROW", "LEFT_ARROW", "A")]
    facts["browse_keys"] = {"results": results, "seed": scene.ganforge.browse_seed,
                            "release": sorted(op.modal(ctx, SimpleNamespace(type="RIGHT_ARROW", value="RELEASE")))}
    run_ticks(lambda: deb.idle)
    scene.ganforge.width = scene.ganforge.height = 32
    n_materials = len(bpy.data.materials)
    facts["browse_enter"] = sorted(op.modal(ctx, press("RET")))
    facts["browse_enter_material"] = {"new": len(bpy.data.materials) - n_materials, "name": wm.ganforge_last_material}
    facts["browse_esc"] = sorted(op.modal(ctx, press("ESC")))
    facts["browse_sync"] = call(bpy.ops.ganforge.browse)

    facts["grid"] = call(bpy.ops.ganforge.browse_grid, pack=pack, seed=30, count=4, size=32)
    facts["grid_seeds"] = [img["ganforge_seed"] for img in browser.grid_images()]
    call(bpy.ops.ganforge.browse_grid, pack=pack, seed=40, count=2, size=32)
    facts["grid_shorter"] = sorted(i.name for i in bpy.data.images if i.name.startswith(browser.GRID))
    bpy.ops.ganforge.pick_seed(seed=41)
    facts["picked"] = scene.ganforge.browse_seed
    facts["panel"] = draw_panel(ctx)
    return pbr_mat.name


class Layout:
    """Stands in for a UI layout (panels are not drawn without a window): every call returns
    another one and records what was asked, so the panel's own code runs."""

    calls: list[str] = []

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            Layout.calls.append(name if name != "operator" else f"operator:{args[0]}")
            return Layout()
        return call


def draw_panel(ctx) -> dict:
    from bl_ext.user_default.ganforge import ui

    Layout.calls = []
    parts = {n: staticmethod(getattr(ui._GanforgePanel, n)) for n in ("_draw_texture", "_draw_sprite")}
    panel = type("Panel", (), {"layout": Layout(), **parts})()
    try:
        ui.GANFORGE_PT_image.draw(panel, ctx)
    except Exception as e:  # reported to the test, which names it
        return {"error": f"{type(e).__name__}: {e}", "calls": Layout.calls}
    return {"error": None, "calls": Layout.calls}


def main() -> None:
    zip_path, pack, grey, bad, sprite_pack, out = sys.argv[1:7]
    out_dir = Path(out)
    facts: dict = {"background": bpy.app.background, "version": bpy.app.version_string}

    facts["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True))
    facts["addons"] = [a.module for a in bpy.context.preferences.addons]
    import onnxruntime

    import ganforge.core
    from ganforge.core import plugins

    facts["ganforge_core"] = ganforge.core.__file__
    facts["onnxruntime"] = onnxruntime.__file__
    facts["plugin_warnings"] = plugins.get_registry().warnings
    wm = bpy.context.window_manager

    # Generate Texture, through the public operator.
    facts["generate"] = call(bpy.ops.ganforge.generate_texture, pack=pack, seed=5, width=64, height=32)
    image = bpy.data.images[wm.ganforge_last_image]
    facts["generate_image"] = {"name": image.name, "size": list(image.size), "props": props(image),
                               "packed": image.packed_file is not None, "colorspace": image.colorspace_settings.name}
    np.save(out_dir / "seed5.npy", pixels(image))

    # Variations: consecutive seeds.
    facts["variations"] = call(bpy.ops.ganforge.variations, pack=pack, seed=10, count=3, width=32, height=32)
    for seed in (10, 11, 12):
        var = bpy.data.images[f"{Path(pack).stem} s{seed}"]
        np.save(out_dir / f"var{seed}.npy", pixels(var))
    facts["variation_seeds"] = [bpy.data.images[f"{Path(pack).stem} s{s}"]["ganforge_seed"] for s in (10, 11, 12)]

    # Interpolate: an image sequence on disk, loaded as one datablock.
    facts["interpolate"] = call(bpy.ops.ganforge.interpolate, pack=pack, seed_a=5, seed_b=9, steps=4,
                                width=64, height=32)
    seq = bpy.data.images[wm.ganforge_last_image]
    frames = Path(bpy.path.abspath(seq.filepath)).parent
    facts["sequence"] = {"source": seq.source, "frames": sorted(p.name for p in frames.glob("*.png")),
                         "folder": str(frames), "props": props(seq)}

    shutil.copytree(frames, out_dir / "sequence")  # kept for the test: the rerun rewrites the folder
    call(bpy.ops.ganforge.interpolate, pack=pack, seed_a=5, seed_b=9, steps=3, width=64, height=32)
    facts["sequence_rerun"] = sorted(p.name for p in frames.glob("*.png"))

    # Make Material on a plane, UV mapped; then box projection with a bump.
    bpy.ops.mesh.primitive_plane_add()
    plane = bpy.context.active_object
    facts["material"] = call(bpy.ops.ganforge.make_material, image=image.name, pbr=False)
    mat = bpy.data.materials[wm.ganforge_last_material]
    facts["material_links"] = links(mat)
    facts["plane_material"] = plane.active_material.name if plane.active_material else None
    facts["material_image"] = next(n.image.name for n in mat.node_tree.nodes if n.type == "TEX_IMAGE")
    call(bpy.ops.ganforge.make_material, image=image.name, box=True, bump="ON", assign=False, pbr=False)
    box = bpy.data.materials[wm.ganforge_last_material]
    facts["box_links"] = links(box)
    facts["box_projection"] = next(n.projection for n in box.node_tree.nodes if n.type == "TEX_IMAGE")

    # A greyscale pack: Make Material adds a bump from height by itself.
    facts["grey"] = call(bpy.ops.ganforge.generate_texture, pack=grey, seed=1, width=32, height=32)
    grey_image = bpy.data.images[wm.ganforge_last_image]
    call(bpy.ops.ganforge.make_material, image=grey_image.name, assign=False, pbr=False)
    facts["grey_links"] = links(bpy.data.materials[wm.ganforge_last_material])

    # Sprites with alpha from an image pack; as a decal material the alpha drives the BSDF's.
    facts["sprite"] = call(bpy.ops.ganforge.generate_sprite, pack=sprite_pack, seed=2, count=2, category="gem",
                           truncation=0.7)
    for seed in (2, 3):
        sprite = bpy.data.images[f"{Path(sprite_pack).stem} s{seed} gem"]
        np.save(out_dir / f"sprite{seed}.npy", pixels(sprite))
    facts["sprite_props"] = props(sprite)
    call(bpy.ops.ganforge.make_material, image=sprite.name, assign=False)
    decal = bpy.data.materials[wm.ganforge_last_material]
    facts["decal_links"] = links(decal)
    facts["decal_extension"] = next(n.extension for n in decal.node_tree.nodes if n.type == "TEX_IMAGE")
    facts["sprite_bad_category"] = call(bpy.ops.ganforge.generate_sprite, pack=sprite_pack, category="sword")
    facts["texture_from_image_pack"] = call(bpy.ops.ganforge.generate_texture, pack=sprite_pack)

    # The UI's threaded path: worker thread, queue, pixels applied here on the main thread, Esc.
    from bl_ext.user_default.ganforge import operators

    ctx = bpy.context
    n_images = len(bpy.data.images)
    facts["thread_ok"] = threaded(operators.GANFORGE_OT_variations, ctx, pack=pack, seed=40, count=3, width=64,
                                  height=64)
    facts["thread_images"] = len(bpy.data.images) - n_images
    np.save(out_dir / "thread41.npy", pixels(bpy.data.images[f"{Path(pack).stem} s41"]))
    n_images = len(bpy.data.images)
    facts["thread_cancel"] = threaded(operators.GANFORGE_OT_variations, ctx, cancel_after=1, pack=pack, seed=50,
                                      count=64, width=256, height=256)
    facts["thread_cancel_images"] = len(bpy.data.images) - n_images
    facts["thread_error"] = threaded(operators.GANFORGE_OT_generate_texture, ctx, pack=bad, seed=0, width=32,
                                     height=32)

    # Bad input: reports, no exceptions from inside the operator, nothing created.
    before = len(bpy.data.images)
    facts["bad_schema"] = call(bpy.ops.ganforge.generate_texture, pack=bad, seed=0, width=32, height=32)
    facts["missing_pack"] = call(bpy.ops.ganforge.generate_texture, pack=str(out_dir / "nope.onnx"))
    facts["bad_size"] = call(bpy.ops.ganforge.generate_texture, pack=pack, seed=0, width=101, height=101)
    facts["absurd_size"] = call(bpy.ops.ganforge.variations, pack=pack, seed=0, count=64, width=16384,
                                height=16384)
    facts["no_image"] = call(bpy.ops.ganforge.make_material, image="no such image")
    facts["images_after_errors"] = len(bpy.data.images) - before
    facts["status"] = wm.ganforge_status

    pbr_name = pbr_section(facts, out_dir, pack, grey, image)

    # Save, reopen: the generated pixels, properties and material survive.
    mat_name, plane_name = mat.name, plane.name
    blend = out_dir / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    again = bpy.data.images[facts["generate_image"]["name"]]
    np.save(out_dir / "reopened.npy", pixels(again))
    facts["reopened"] = {"props": props(again), "material_links": links(bpy.data.materials[mat_name]),
                         "plane_material": bpy.data.objects[plane_name].active_material.name}
    reopened_pbr = bpy.data.materials[pbr_name]
    facts["reopened_pbr"] = pbr_facts(reopened_pbr)
    save_maps(reopened_pbr, out_dir, "reopened_pbr")

    scene = bpy.context.scene
    scene.ganforge.seed = 0
    bpy.ops.ganforge.random_seed()
    facts["dice_seed"] = scene.ganforge.seed
    bpy.ops.ganforge.use_pack(path=pack)
    facts["use_pack"] = scene.ganforge.pack

    recent = Path(bpy.utils.extension_path_user("bl_ext.user_default.ganforge")) / "recent.json"
    facts["recent"] = json.loads(recent.read_text()) if recent.exists() else None
    facts["torch_loaded"] = "torch" in sys.modules
    bpy.ops.preferences.addon_disable(module="bl_ext.user_default.ganforge")
    facts["disabled"] = {"addon": "bl_ext.user_default.ganforge" in bpy.context.preferences.addons,
                         "settings": hasattr(bpy.types.Scene, "ganforge"),
                         "operator": hasattr(bpy.types, "GANFORGE_OT_generate_texture")}
    (out_dir / "facts.json").write_text(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
