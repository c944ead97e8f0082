"""The bridge's musician controls on real MIDI bytes: key lock, live key changes (CC and program
change) without stuck notes, --key follow, and Ableton Link with a second peer in this process."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
from test_midi_bridge import all_notes_off_channels, notes_balanced, pack, start_bridge  # noqa: F401

from ganforge.core.modalities.music import controls
from ganforge.plugins.midi.simdaw import SimulatedDaw


def in_key(tonic: int, scale: str) -> set[int]:
    return {(tonic + i) % 12 for i in controls.SCALES[scale]}


@pytest.fixture
def daw() -> Any:
    d = SimulatedDaw()
    yield d
    d.close()


def test_key_lock_and_live_key_changes_leave_no_stuck_note(pack: Path, daw: SimulatedDaw) -> None:  # noqa: F811
    proc = start_bridge(pack, daw, "--clock", "follow", "--threshold", "0.3", "--key", "D", "--scale", "minor")
    try:
        bars = [daw.play(240, 4, stop=False)]  # bar 0: D minor
        daw.send(mido.Message("program_change", program=12 * 8 + 1))  # C# blues
        time.sleep(0.05)
        bars.append(daw.play(240, 4, start=False, stop=False))  # bar 1
        daw.send(mido.Message("control_change", control=25, value=70))  # key CC: zone 6 = F# (blues kept)
        time.sleep(0.05)
        bars.append(daw.play(240, 4, start=False))  # bar 2, then Stop
        time.sleep(0.2)
        msgs = daw.messages()
        expected = [in_key(2, "minor"), in_key(1, "blues"), in_key(6, "blues")]
        for i, run in enumerate(bars):
            end = bars[i + 1].clocks[0] if i + 1 < len(bars) else run.stop
            ons = [m.note for t, m in msgs if run.clocks[0] <= t < end and m.type == "note_on" and m.velocity
                   and m.channel == 0]
            assert ons, f"bar {i} is silent"
            assert {n % 12 for n in ons} <= expected[i], (i, {n % 12 for n in ons} - expected[i])
        notes_balanced(msgs)  # every note-on ended by a note-off, across both key changes
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0, proc.stderr
    notes_balanced(daw.messages())


def play_bars(bridge: Any, bars: int, during: Any = None) -> None:
    """Drive the bridge's steps by hand (a clock without time), waiting for each next bar."""
    for b in range(bars):
        for step in range(16):
            if during is not None:
                during(b, step)
            bridge.on_step(step)
        deadline = time.time() + 5
        while b + 1 not in bridge._ready and time.time() < deadline:
            time.sleep(0.005)


def test_key_follow_locks_the_key_the_player_plays(pack: Path) -> None:  # noqa: F811
    from ganforge.core import runtime
    from ganforge.plugins.midi.engine import Bridge

    sent: list[Any] = []
    bridge = Bridge(runtime.load(pack, threads=1), lambda msgs: sent.extend(msgs) or True, threshold=0.3,
                    listen=True, notes=controls.NoteControls(), follow_key=True)
    assert bridge.wait_ready()
    a_minor = [57, 60, 64, 69, 62, 65, 69, 64]  # A C E A D F A E: A minor's tonic triad leads

    def player(bar: int, step: int) -> None:
        if bar < 2 and step % 2 == 0:
            note = a_minor[(step // 2) % len(a_minor)]
            bridge.on_note(mido.Message("note_on", channel=0, note=note, velocity=90))
            bridge.on_note(mido.Message("note_off", channel=0, note=note))

    start = len(sent)
    play_bars(bridge, 2, player)
    assert bridge.stats.key == "A minor" and bridge.stats.key_changes == 1
    mark = len(sent)
    play_bars(bridge, 3)
    bridge.close()
    later = [m.note for m in sent[mark:] if m.type == "note_on" and m.velocity and m.channel == 0]
    assert later and {n % 12 for n in later} <= in_key(9, "minor")
    assert any(m.note % 12 not in in_key(9, "minor") for m in sent[start:mark] if m.type == "note_on" and m.velocity
               and m.channel == 0)  # before the estimate the bridge played unlocked
    sounding: set[tuple[int, int]] = set()
    for m in sent:
        if m.type == "note_on" and m.velocity:
            sounding.add((m.channel, m.note))
        elif m.type in ("note_off", "note_on"):
            sounding.discard((m.channel, m.note))
    assert not sounding


def test_link_clock_joins_a_peer_starts_on_its_bar_and_follows_tempo(pack: Path) -> None:  # noqa: F811
    aalink = pytest.importorskip("aalink", reason="--clock link needs aalink (pip install 'ganforge[link]')")
    from ganforge.core import runtime
    from ganforge.plugins.midi.ableton import LinkClock
    from ganforge.plugins.midi.engine import Bridge

    loop = asyncio.new_event_loop()  # aalink wants a loop; ours never runs: we only read the peer
    peer = aalink.Link(100.0, loop)
    peer.quantum = 4
    peer.enabled = True
    sent: list[tuple[float, float]] = []  # (time, the peer's beat) of each step that sent notes
    bridge = Bridge(runtime.load(pack, threads=1), lambda msgs: sent.append((time.perf_counter(), peer.beat)) or True,
                    threshold=0.3, max_bars=3)
    assert bridge.wait_ready()
    time.sleep(1.0)  # the peer's session runs a while: the bridge must join its phase, not start at 0
    reports: list[str] = []
    clock = LinkClock(bridge, 120.0, report=reports.append)
    clock.start()
    try:
        time.sleep(2.5)
        if clock.peers < 1:
            pytest.skip("Ableton Link's discovery (UDP multicast 224.76.78.75:20808) found no peer on this machine")
        peer.tempo = 150.0
        assert bridge.finished.wait(30)
    finally:
        clock.stop()
        bridge.close()
        peer.enabled = False
    assert any("1 other peer" in r for r in reports) and clock.peers == 1
    first_beat = sent[0][1]
    assert abs(first_beat - round(first_beat / 4) * 4) < 0.1  # on a bar line of the peer's timeline
    assert clock.tempo == pytest.approx(150.0, abs=0.1)  # the peer's tempo change reached us
    steps = np.diff([t for t, _ in sent[:48]])
    assert np.median(steps[:12]) == pytest.approx(60 / 100 / 4, rel=0.1)
    assert np.median(steps[-12:]) == pytest.approx(60 / 150 / 4, rel=0.1)
    assert bridge.stats.note_ons == bridge.stats.note_offs
