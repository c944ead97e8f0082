"""The MIDI bridge: play music packs into a DAW through MIDI ports, following its clock.

``ganforge midi play PACK --port NAME | --virtual NAME | --port socket://HOST:PORT`` and
``ganforge midi ports``. Torch-free: onnxruntime, numpy and mido (python-rtmidi for real and
virtual ports; the socket transport needs nothing more). Modules: :mod:`.link` (connections that
survive disconnects), :mod:`.engine` (generation ahead, step playback, clocks, CCs, panic),
:mod:`.cli` (the commands), :mod:`.simdaw` (a scripted DAW over a socket, for tests and benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from ganforge.core.components import Host
from ganforge.core.hookspecs import hookimpl


@hookimpl
def ganforge_register_hosts(register: Callable[[Host], None]) -> None:
    register(Host("midi", "MIDI bridge: music packs played into your DAW in time, clock-following, CC-steerable "
                  "(`ganforge midi play`)", modalities=("music",), entry="ganforge.plugins.midi.cli:play"))


@hookimpl
def ganforge_register_commands(cli: click.Group) -> None:
    from .cli import midi

    cli.add_command(midi)
