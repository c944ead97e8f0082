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
    facts["material"] = call(bpy.ops.ganforge.make_material, image=image.name)
    mat = bpy.data.materials[wm.ganforge_last_material]
    facts["material_links"] = links(mat)
    facts["plane_material"] = plane.active_material.name if plane.active_material else None
    facts["material_image"] = next(n.image.name for n in mat.node_tree.nodes if n.type == "TEX_IMAGE")
    call(bpy.ops.ganforge.make_material, image=image.name, box=True, bump="ON", assign=False)
    box = bpy.data.materials[wm.ganforge_last_material]
    facts["box_links"] = links(box)
    facts["box_projection"] = next(n.projection for n in box.node_tree.nodes if n.type == "TEX_IMAGE")

    # A greyscale pack: Make Material adds a bump from height by itself.
    facts["grey"] = call(bpy.ops.ganforge.generate_texture, pack=grey, seed=1, width=32, height=32)
    grey_image = bpy.data.images[wm.ganforge_last_image]
    call(bpy.ops.ganforge.make_material, image=grey_image.name, assign=False)
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
