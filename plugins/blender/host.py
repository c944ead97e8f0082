"""The Blender host plugin: lists the host and adds ``ganforge blender build`` (no bpy, no torch)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ganforge.core.components import Host
from ganforge.core.hookspecs import hookimpl

PLATFORM_CHOICES = ("linux-x64", "windows-x64", "macos-arm64")


@hookimpl
def ganforge_register_hosts(register: Callable[[Host], None]) -> None:
    register(Host("blender", "Blender 4.2+ extension: seamless textures, materials and sprites "
                  "(`ganforge blender build`)", modalities=("texture", "image"),
                  entry="ganforge.plugins.blender.build:build"))


@click.group("blender")
def blender() -> None:
    """The Blender extension (textures and materials inside Blender 4.2+)."""


@blender.command("build")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Folder for the zips.")
@click.option("--platform", "platforms", multiple=True, type=click.Choice(PLATFORM_CHOICES),
              help="Build only these platforms (repeatable; default: all three).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Wheel download cache (default: $GANFORGE_CACHE or ~/.cache/ganforge, + /blender-wheels).")
@click.option("--no-validate", is_flag=True, help="Skip Blender's own validation (done when bpy is installed).")
def build_command(out: Path, platforms: tuple[str, ...], cache: Path | None, no_validate: bool) -> None:
    """Build the Blender extension: one installable zip per platform.

    Each zip bundles the torch-free ganforge runtime and onnxruntime wheels for Python 3.11
    (Blender 4.2-5.0) and 3.13 (Blender 5.1+), downloaded once with `pip download` and cached.
    Install in Blender with Edit > Preferences > Get Extensions > Install from Disk.
    """
    from .build import build, validator

    zips = build(out, list(platforms) or None, cache, check=not no_validate)
    for z in zips:
        click.echo(f"{z}  ({z.stat().st_size / 1e6:.1f} MB)")
    if not no_validate and validator() is None:
        click.echo("not validated: no Blender found (install bpy, set GANFORGE_BPY_PYTHON or put "
                   "`blender` on PATH) to run Blender's own checks", err=True)


@hookimpl
def ganforge_register_commands(cli: click.Group) -> None:
    cli.add_command(blender)
