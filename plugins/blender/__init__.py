"""ganforge for Blender: seamless textures and materials from generator packs.

This folder is the Blender extension (``blender_manifest.toml`` sits beside this file);
``ganforge blender build`` zips it with the torch-free ganforge runtime and onnxruntime wheels.
Blender calls :func:`register` / :func:`unregister`; the modules that need ``bpy`` are imported
only then, so ``ganforge.plugins.blender`` (the build and the host plugin) imports anywhere.

Scripting API (background mode runs synchronously and returns ``{'FINISHED'}``)::

    bpy.ops.ganforge.generate_texture(pack="/path/bricks.onnx", seed=7, width=1024, height=1024)
    bpy.ops.ganforge.variations(pack=..., seed=0, count=4, width=512, height=512)
    bpy.ops.ganforge.interpolate(pack=..., seed_a=0, seed_b=9, steps=24, width=512, height=512)
    bpy.ops.ganforge.make_material(image="bricks s7", box=True)     # colour, normal, height, roughness, AO
    bpy.ops.ganforge.reseed_material(material="bricks s7", seed=8)  # every map, in place
    bpy.ops.ganforge.keep(pack=..., seed=8)                         # texture + maps + material
    bpy.ops.ganforge.bake_maps(pack=..., seed=8, directory="/tmp/bricks")
"""

from __future__ import annotations


def _classes() -> tuple:
    from . import browser, operators, pbr_operators, ui

    return (*ui.CLASSES, *operators.CLASSES, *pbr_operators.CLASSES, *browser.CLASSES)


def register() -> None:
    import bpy

    from . import ui

    for cls in _classes():
        bpy.utils.register_class(cls)
    ui.register_props()


def unregister() -> None:
    import bpy

    from . import browser, ui

    if bpy.app.timers.is_registered(browser.tick):  # a live preview must not outlive the add-on
        bpy.app.timers.unregister(browser.tick)
    browser.debouncer().cancel()
    ui.unregister_props()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
