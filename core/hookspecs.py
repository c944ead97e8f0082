"""The plugin author's contract: every hook ganforge calls.

A plugin is a module (or object) with functions decorated by ``ganforge.core.hookspecs.hookimpl``
and named after the specs below, exposed through the entry-point group ``ganforge``::

    [project.entry-points.ganforge]
    myplugin = "my_package.ganforge_plugin"

Registration hooks receive a ``register`` callback rather than returning values, so ganforge can
report name clashes and keep one plugin's failure its own. The built-in texture modality and the
ONNX exporter register through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable

import click
import pluggy

from .components import Exporter, Host, Metric, Modality, ModelFamily

hookspec = pluggy.HookspecMarker("ganforge")
hookimpl = pluggy.HookimplMarker("ganforge")


@hookspec
def ganforge_register_modalities(register: Callable[[Modality], None]) -> None:
    """Register modalities: ``register(Modality(name, description, codec=..., data=...))``."""


@hookspec
def ganforge_register_families(register: Callable[[ModelFamily], None]) -> None:
    """Register model families (networks + losses + export wrapper) for a modality."""


@hookspec
def ganforge_register_exporters(register: Callable[[Exporter], None]) -> None:
    """Register exporters that turn a run directory into a pack file."""


@hookspec
def ganforge_register_hosts(register: Callable[[Host], None]) -> None:
    """Register host adapters (Blender, MIDI bridge, editor server, ...)."""


@hookspec
def ganforge_register_metrics(register: Callable[[Metric], None]) -> None:
    """Register offline quality metrics for a modality."""


@hookspec
def ganforge_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``ganforge`` CLI (``cli.add_command(...)``)."""
