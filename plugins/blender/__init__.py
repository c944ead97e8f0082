"""ganforge for Blender: seamless textures and materials from generator packs.

This folder is the Blender extension (``blender_manifest.toml`` sits beside this file);
``ganforge blender build`` zips it with the torch-free ganforge runtime and onnxruntime wheels.
Blender calls :func:`register` / :func:`unregister`; the modules that need ``bpy`` are imported
only then, so ``ganforge.plugins.blender`` (the build and the host plugin) imports anywhere.

Scripting API (background mode runs synchronously and returns ``{'FINISHED'}``)::

    bpy.ops.ganforge.generate_texture(pack="/path/bricks.onnx", seed=7, width=1024, height=1024)
    bpy.ops.ganforge.variations(pack=..., seed=0, count=4, width=512, height=512)
    bpy.ops.ganforge.interpolate(pack=..., seed_a=0, seed_b=9, steps=24, width=512, height=512)
    bpy.ops.ganforge.make_material(image="bricks s7", box=True)
"""

from __future__ import annotations


def _classes() -> tuple:
    from . import operators, ui

    return (*ui.CLASSES, *operators.CLASSES)


def register() -> None:
    import bpy

    from . import ui

    for cls in _classes():
        bpy.utils.register_class(cls)
    ui.register_props()


def unregister() -> None:
    import bpy

    from . import ui

    ui.unregister_props()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
