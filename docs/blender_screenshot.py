"""Render the README's Blender screenshot with Blender itself (Cycles, CPU, background mode).

Installs the built extension zip into a throwaway user folder, generates a texture with the
public operators, makes the full PBR material (colour, normal, height as bump, roughness, AO)
on a plane (UV, tiled 3x to show that every map is seamless) and on a cube (box projection, no
UVs), and renders::

    make blender-venv && ganforge blender build --platform linux-x64 -o dist
    BLENDER_USER_RESOURCES=$(mktemp -d) .venv-blender/bin/python docs/blender_screenshot.py \\
        dist/ganforge-0.1.0-linux_x64.zip demo-out/texture.onnx docs/blender.png
"""

from __future__ import annotations

import math
import sys

import bpy


def main(zip_path: str, pack: str, out: str, seed: int = 0, samples: int = 24) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    wm = bpy.context.window_manager

    bpy.ops.ganforge.generate_texture(pack=pack, seed=seed, width=512, height=512)
    image = wm.ganforge_last_image

    bpy.ops.mesh.primitive_plane_add(size=8)
    bpy.ops.ganforge.make_material(image=image, scale=3.0)
    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(1.4, 0.1, 0.6), rotation=(0, 0, math.radians(30)))
    bpy.ops.ganforge.make_material(image=image, box=True, scale=0.7)

    bpy.ops.object.camera_add(location=(0, -7.0, 4.2), rotation=(math.radians(60), 0, 0))
    bpy.context.scene.camera = bpy.context.active_object
    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(40), math.radians(20), math.radians(30)))
    bpy.context.active_object.data.energy = 3.5
    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    bpy.context.scene.world = world

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.render.resolution_x, scene.render.resolution_y = 640, 360
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.compression = 100
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
