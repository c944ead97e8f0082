"""``ganforge midi play`` and ``ganforge midi ports`` (torch-free: onnxruntime, numpy and mido)."""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from ganforge.core.atomic import write_text_atomic
from ganforge.core.errors import GanforgeError

CLOCK_TYPES = ("clock", "start", "stop", "continue", "songpos")


class _Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP, handled like Ctrl-C: silence, then leave."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated()


@click.group("midi")
def midi() -> None:
    """The MIDI bridge: play a music pack into your DAW, in time, steerable live.

    \b
    Examples:
      ganforge midi ports
      ganforge midi play bach.onnx --virtual ganforge --clock follow
      ganforge midi play bach.onnx --port socket://127.0.0.1:9080 --bpm 96
    """


@midi.command("ports")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ports(as_json: bool) -> None:
    """List the MIDI input and output ports this machine offers."""
    from .link import port_names

    info = port_names()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if info["error"]:
        click.echo(f"no MIDI ports available ({info['error']}); socket://HOST:PORT still works", err=True)
    click.echo("outputs:")
    for name in info["outputs"]:
        click.echo(f"  {name}")
    click.echo("inputs:")
    for name in info["inputs"]:
        click.echo(f"  {name}")


@midi.command("play")
@click.argument("pack", type=click.Path(path_type=Path))
@click.option("--port", metavar="NAME|socket://HOST:PORT",
              help="Output port name (see `ganforge midi ports`) or a mido socket server to connect to.")
@click.option("--virtual", metavar="NAME", help="Create a virtual port NAME that DAWs can see (Linux, macOS).")
@click.option("--bpm", type=click.FloatRange(20, 400), default=120.0, show_default=True,
              help="Tempo of the internal clock.")
@click.option("--clock", type=click.Choice(["internal", "follow", "link"]), default="internal", show_default=True,
              help="'follow': play on the DAW's MIDI clock (start/stop/continue/song position); 'link': join "
                   "the Ableton Link session on the network (pip install 'ganforge[link]').")
@click.option("--channel-map", metavar="C1,C2,...", help="MIDI channel (1-16) per track; default 1, 2, ... and 10 for drums.")
@click.option("--cc", "cc_map", metavar="NAME=CC,...",
              help="CC numbers of the live controls walk, variation, density, seed and key (default walk=21, "
                   "variation=22, density=23, seed=24, key=25).")
@click.option("--listen", metavar="IN_PORT", help="Record what the player plays on IN_PORT and answer it: the "
                                                 "last bar played conditions the next one.")
@click.option("--control", metavar="IN_PORT", help="Input port carrying the DAW's clock and CCs, when --port is "
                                                  "output only (a socket or virtual port carries them itself).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the first bar (the bar `ganforge generate --seed S --bars 1` writes); the seed "
                   "control moves on to S+1, S+2, ... live.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Starting note threshold (the density control changes it live); default: the pack's.")
@click.option("--key", metavar="NOTE|follow", default=None,
              help="Lock to a key (C, F#, Bb...; out-of-scale pitches are masked before decoding), or 'follow': "
                   "the key of what you play on --listen. A key CC or a program change switches it live.")
@click.option("--scale", metavar="NAME", default=None,
              help="Scale of --key: major, minor, harmonic-minor, melodic-minor, dorian, mixolydian, pentatonic, "
                   "minor-pentatonic, blues, chromatic (default major; with follow: kept when it fits the mode).")
@click.option("--lowest", metavar="PITCH", default=None, help="Lowest pitch of melodic tracks (number or name, C4 = 60).")
@click.option("--highest", metavar="PITCH", default=None, help="Highest pitch of melodic tracks.")
@click.option("--density", type=click.FloatRange(0, 64, min_open=True), default=None, metavar="N",
              help="About N notes starting per bar in each track (the density CC then scales it, 0 to 2N).")
@click.option("--temperature", type=click.FloatRange(0, 10), default=None, metavar="T",
              help="0: threshold the note probabilities (default); T > 0: sample them (1: the model's odds).")
@click.option("--bars", type=click.IntRange(min=1), default=None, help="Stop after this many bars (default: play until stopped).")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write timing and generation statistics (JSON) here on exit.")
def play(pack: Path, port: str | None, virtual: str | None, bpm: float, clock: str, channel_map: str | None,
         cc_map: str | None, listen: str | None, control: str | None, seed: int, threshold: float | None,
         key: str | None, scale: str | None, lowest: str | None, highest: str | None, density: float | None,
         temperature: float | None, bars: int | None, report: Path | None) -> None:
    """Play the music pack PACK into a MIDI port, bar after bar, until stopped.

    Bars are generated ahead in a worker thread and sent on absolute times (internal clock) or on
    the DAW's clock ticks (--clock follow), so they land on the DAW's bar lines and follow its tempo.
    Stop (from the DAW), Ctrl-C, SIGTERM, an error or a vanished port end every sounding note and
    send All Notes Off on every channel used; a vanished port is reopened when it comes back.
    """
    from ganforge.core import runtime

    from .clocks import ClockFollower, InternalClock
    from .engine import Bridge
    from .link import Link

    if (port is None) == (virtual is None):
        raise GanforgeError("give one of --port NAME|socket://HOST:PORT or --virtual NAME")
    rt = runtime.load(pack, device="cpu", threads=1)  # one bar is tiny: one thread, no contention
    if rt.meta.modality != "music":
        raise GanforgeError(f"{pack}: is a {rt.meta.modality!r} pack; the MIDI bridge plays music packs")
    threshold = threshold if threshold is not None else rt.codec.settings(rt.meta, str(pack)).threshold
    asked = {"key": key, "scale": scale, "lowest": lowest, "highest": highest, "density": density,
             "temperature": temperature}
    follow = (key or "").strip().lower() == "follow"
    # the pack's codec parses and checks the controls (the bridge imports no modality); with
    # --key follow the key is locked once the player has played enough, the rest applies at once
    notes = rt.codec.note_controls(rt.meta, {**asked, "key": None, "scale": None} if follow else asked)
    if follow and notes is None:
        notes = rt.codec.controls.NoteControls()
    links: list[Link] = []
    linkclock: Any = None

    def send(msgs: list[Any]) -> bool:
        return links[0].send_many(msgs) if links else False

    bridge = Bridge(rt, send, seed=seed, channel_map=channel_map, cc_map=cc_map, threshold=threshold,
                    listen=listen is not None, max_bars=bars, notes=notes, follow_key=follow,
                    follow_scale=rt.codec.controls.parse_scale(scale) if scale else None)
    follower = ClockFollower(bridge) if clock == "follow" else None
    spec = port or virtual
    same_listen = listen is not None and listen == spec

    def incoming(msg: Any, notes: bool, clocks: bool) -> None:
        if msg.type in CLOCK_TYPES:
            if clocks and follower is not None:
                follower.on_message(msg)
        elif msg.type == "control_change":
            bridge.on_control(msg)
        elif msg.type == "program_change":
            bridge.on_program(msg)
        elif msg.type in ("note_on", "note_off") and notes:
            bridge.on_note(msg)

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM))}
    for s in previous:
        signal.signal(s, _terminate)
    internal = None
    try:
        links.append(Link(spec, virtual=virtual is not None, on_reconnect=bridge.silence_after_reconnect,
                          on_message=lambda m: incoming(m, same_listen, True)))
        if listen is not None and not same_listen:
            links.append(Link(listen, output=False, on_message=lambda m: incoming(m, True, False)))
        if control is not None:
            links.append(Link(control, output=False, on_message=lambda m: incoming(m, False, True)))
        if not bridge.wait_ready() and not bridge.failed.is_set():
            raise GanforgeError(f"{pack}: generating the first bars took too long")
        if bridge.failed.is_set():
            raise GanforgeError(f"generation failed: {bridge.error}")
        # Everything loaded so far lives as long as the bridge: freezing it keeps the garbage
        # collector's full passes (which walk every tracked object) from pausing a downbeat.
        gc.collect()
        gc.freeze()
        if clock == "link":
            from .ableton import LinkClock

            linkclock = LinkClock(bridge, bpm, report=lambda text: click.echo(text, err=True))
            linkclock.start()
            click.echo(f"playing {pack.name} on {spec} with Ableton Link, from the next bar of the session "
                       "(Ctrl-C stops)", err=True)
        elif follower is None:
            internal = InternalClock(bridge, bpm)
            internal.start()
            click.echo(f"playing {pack.name} on {spec} at {bpm:g} BPM (Ctrl-C stops)", err=True)
        else:
            click.echo(f"playing {pack.name} on {spec}, following its MIDI clock (Ctrl-C stops)", err=True)
        while not bridge.finished.wait(0.2) and not bridge.failed.is_set():
            pass
        if bridge.failed.is_set():  # the finally below sends note-offs and All Notes Off first
            raise GanforgeError(f"generation failed while playing: {bridge.error}")
    except KeyboardInterrupt as e:
        click.echo("stopping: all notes off", err=True)
        if not isinstance(e, _Terminated):
            raise
    finally:
        if internal is not None:
            internal.stop()
        if linkclock is not None:
            linkclock.stop()
        bridge.close()  # note-offs and All Notes Off, before the ports close
        time.sleep(0.05)
        for link in reversed(links):
            link.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if report is not None:
            _write_report(report, bridge, follower, links, linkclock)


def _write_report(path: Path, bridge: Any, follower: Any, links: list[Any], linkclock: Any = None) -> None:
    import numpy as np

    st = bridge.stats
    bar_seconds = 4 * 60.0 / (follower.bpm if follower and follower.bpm else 120.0)
    gen = np.array(st.generated or [0.0])
    late = np.array(st.late or [0.0]) * 1000
    data = {"bars": st.bars, "steps": st.steps, "note_ons": st.note_ons, "note_offs": st.note_offs,
            "underruns": st.underruns, "panics": st.panics, "answered": st.answered,
            "generate_ms_p50": float(np.percentile(gen, 50) * 1000), "generate_ms_max": float(gen.max() * 1000),
            "generate_fraction_of_bar_p50": float(np.percentile(gen, 50) / bar_seconds),
            "late_ms_p50": float(np.percentile(late, 50)), "late_ms_p99": float(np.percentile(late, 99)),
            "dropped": sum(link.dropped for link in links), "reconnects": sum(link.reconnects for link in links),
            "followed_bpm": follower.bpm if follower else None,
            "key": st.key, "key_changes": st.key_changes,
            "link_peers": linkclock.peers if linkclock else None,
            "link_bpm": linkclock.tempo if linkclock else None}
    try:
        write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    except (OSError, GanforgeError) as e:
        print(f"ganforge midi: cannot write {path}: {e}", file=sys.stderr)
