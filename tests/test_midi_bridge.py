"""The MIDI bridge against a scripted DAW: real MIDI bytes over a real mido socket port.

The pack is an untrained (but really exported) music generator: its note probabilities sit near
0.5, so the density control's thresholds (0.9 vs 0.1) make silence or a wall of notes — an
unambiguous signal that the CC arrived. The bridge runs as `ganforge midi play` in a subprocess,
so SIGTERM is a real signal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import mido
import pytest
from music_pack import assert_nothing_left_sounding, music_pack

from ganforge.core.errors import GanforgeError
from ganforge.plugins.midi.simdaw import SimulatedDaw

STEP_CLOCKS = 6  # 24 clocks per beat, 4 steps per beat
BAR_CLOCKS = 96


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_pack(tmp_path_factory.mktemp("bridge"))


def start_bridge(pack: Path, daw: SimulatedDaw, *args: str, report: Path | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "ganforge.core.cli", "midi", "play", str(pack), "--port", daw.address, *args]
    if report is not None:
        cmd += ["--report", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert daw.wait_connected(60), "the bridge never connected"
    time.sleep(0.5)  # its first bars are generated in milliseconds; leave it time to settle
    return proc


def notes_balanced(msgs: list[tuple[float, Any]]) -> None:
    """Every note-on has a later note-off of the same channel and key."""
    sounding: dict[tuple[int, int], int] = {}
    for _, m in msgs:
        key = (getattr(m, "channel", -1), getattr(m, "note", -1))
        if m.type == "note_on" and m.velocity > 0:
            sounding[key] = sounding.get(key, 0) + 1
        elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
            sounding[key] = sounding.get(key, 0) - 1
    assert all(v == 0 for v in sounding.values()), f"hanging notes: {[k for k, v in sounding.items() if v]}"


def all_notes_off_channels(msgs: list[tuple[float, Any]], since: float = 0.0) -> set[int]:
    return {m.channel for t, m in msgs if t >= since and m.type == "control_change" and m.control == 123}


def clock_before(times: list[float], t: float) -> int:
    """Index of the last clock sent before ``t``."""
    return max(i for i, c in enumerate(times) if c <= t)


@pytest.fixture
def daw() -> Any:
    d = SimulatedDaw()
    yield d
    d.close()


def test_clock_follow_lands_on_bar_lines_and_follows_tempo(pack: Path, daw: SimulatedDaw, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = start_bridge(pack, daw, "--clock", "follow", "--bars", "2", "--threshold", "0.45", report=report)
    run = daw.play(120, 12, tempo=[(4, 150.0)], stop=False)  # the tempo changes at the second bar
    proc.wait(30)
    assert proc.returncode == 0, proc.stderr
    msgs = daw.messages()
    notes = [(t, m) for t, m in msgs if m.type in ("note_on", "note_off")]
    assert notes, "nothing was played"
    # Every note goes out on the clock that begins its step, right away: the latest step clock
    # before its arrival is a few ms old (40 ms leaves room for a loaded CI machine; the
    # benchmark measures the real figures on a quiet machine), with no later step clock in between.
    lags = []
    for t, _ in notes:
        k = clock_before(run.clocks, t)
        lags.append(t - run.clocks[k - k % STEP_CLOCKS])
    assert max(lags) < 0.060 and sorted(lags)[len(lags) // 2] < 0.030
    # --bars 2: the bridge silences right after the last step of bar 2 (clock 186)
    # (Start itself silences first: anything a previous run left sounding is ended.)
    off = [t for t, m in msgs if m.type == "control_change" and m.control == 123 and t > run.clocks[BAR_CLOCKS]]
    last_step = run.clocks[2 * BAR_CLOCKS - STEP_CLOCKS]
    assert off and all(last_step <= t < last_step + 0.060 for t in off)
    assert not [m for t, m in msgs if t > off[0] and m.type == "note_on"]
    assert all_notes_off_channels(msgs) == {0, 9}  # keys on channel 1, drums on 10
    notes_balanced(msgs)
    stats = json.loads(report.read_text())
    assert stats["bars"] == 2 and stats["underruns"] == 0 and stats["note_ons"] == stats["note_offs"]
    assert stats["followed_bpm"] == pytest.approx(150, rel=0.03)


def test_daw_stop_silences_and_start_resumes_on_a_bar_line(pack: Path, daw: SimulatedDaw) -> None:
    proc = start_bridge(pack, daw, "--clock", "follow", "--threshold", "0.45")
    try:
        first = daw.play(240, 6)  # a bar and a half, then Stop mid-bar
        time.sleep(0.2)
        after_stop = daw.messages(first.stop)
        assert not [m for _, m in after_stop if m.type == "note_on"], "notes after Stop"
        assert all_notes_off_channels(after_stop) == {0, 9}
        notes_balanced(daw.messages())
        second = daw.play(240, 4)  # Start again: from the top, on a bar line
        ons = [t for t, m in daw.messages(second.start) if m.type == "note_on"]
        assert ons and min(ons) >= second.clocks[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0, proc.stderr
    notes_balanced(daw.messages())


def test_sigterm_mid_bar_sends_all_notes_off(pack: Path, daw: SimulatedDaw) -> None:
    proc = start_bridge(pack, daw, "--clock", "follow", "--threshold", "0.4")
    player = threading.Thread(target=daw.play, args=(120, 16), daemon=True)
    player.start()
    time.sleep(0.05 + 1.4 * 2.0)  # 1.4 bars at 120 BPM: mid-bar
    sounding = any(m.type == "note_on" for _, m in daw.messages())
    killed = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    time.sleep(0.1)
    assert proc.returncode == 0, proc.stderr
    assert sounding
    assert all_notes_off_channels(daw.messages(), killed) == {0, 9}
    notes_balanced(daw.messages())
    assert daw.wait_disconnected(5)


def test_density_control_changes_the_next_bar(pack: Path, daw: SimulatedDaw) -> None:
    proc = start_bridge(pack, daw, "--clock", "follow", "--cc", "density=1")
    try:
        daw.send(mido.Message("control_change", control=1, value=0))  # sparse: threshold 0.9
        time.sleep(0.1)
        first = daw.play(240, 4, stop=False)  # bar 0
        daw.send(mido.Message("control_change", control=1, value=127))  # dense: threshold 0.1
        time.sleep(0.05)
        second = daw.play(240, 4, start=False)  # bar 1
        time.sleep(0.1)
        bar0 = [m for t, m in daw.messages() if first.clocks[0] <= t < second.clocks[0] and m.type == "note_on"]
        bar1 = [m for t, m in daw.messages(second.clocks[0]) if m.type == "note_on"]
        # an untrained pack: a few notes clear 0.9, most of the roll clears 0.1
        assert len(bar1) >= 24 and len(bar1) >= 5 * len(bar0), (len(bar0), len(bar1))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    notes_balanced(daw.messages())


def test_listen_answers_the_player(pack: Path, daw: SimulatedDaw, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = start_bridge(pack, daw, "--clock", "follow", "--listen", daw.address, "--bars", "3", report=report)
    player = threading.Thread(target=daw.play, args=(240, 12), daemon=True)
    player.start()
    time.sleep(0.3)  # in bar 0, the player plays a phrase on channel 1
    for note in (60, 64, 67):
        daw.send(mido.Message("note_on", channel=0, note=note, velocity=100))
        time.sleep(0.1)
        daw.send(mido.Message("note_off", channel=0, note=note))
    proc.wait(30)
    player.join()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(report.read_text())["answered"] >= 1


def test_vanished_daw_does_not_crash_the_bridge(pack: Path, daw: SimulatedDaw, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = start_bridge(pack, daw, "--bpm", "240", "--threshold", "0.45", report=report)
    time.sleep(0.6)
    daw.drop_connection()  # the DAW goes away mid-bar
    assert daw.wait_disconnected(5)
    assert daw.wait_connected(10), "the bridge did not reconnect"
    back = time.perf_counter()
    time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    assert all_notes_off_channels(daw.messages(back - 0.5)) == {0, 9}  # silenced on reconnect
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert proc.returncode == 0
    stats = json.loads(report.read_text())
    assert stats["reconnects"] == 1 and stats["bars"] >= 2  # it kept time through the outage


def test_internal_clock_keeps_absolute_time(pack: Path) -> None:
    """No drift: step n plays at t0 + n * step. A send that stalls 25 ms (a slow port) delays
    that step only; a sleep-per-step clock would carry the stall into every later step."""
    from ganforge.core import runtime
    from ganforge.plugins.midi.clocks import InternalClock
    from ganforge.plugins.midi.engine import Bridge

    sent: list[float] = []

    def send(msgs: list[Any]) -> bool:
        sent.append(time.perf_counter())
        if len(sent) == 4:
            time.sleep(0.025)
        return True

    bridge = Bridge(runtime.load(pack, threads=1), send, max_bars=2)
    assert bridge.wait_ready()
    clock = InternalClock(bridge, 240.0)  # 62.5 ms steps
    clock.start()
    assert bridge.finished.wait(10)
    bridge.close()
    steps = sent[:32]
    assert len(steps) == 32
    drift = sorted(abs(steps[n] - steps[0] - n * clock.step_seconds) for n in range(5, 32))
    assert drift[len(drift) // 2] < 0.003  # median: robust to a loaded machine's outliers
    assert bridge.stats.steps == 32 and bridge.stats.note_ons == bridge.stats.note_offs


def test_bad_arguments(pack: Path, daw: SimulatedDaw) -> None:
    from ganforge.plugins.midi.engine import parse_cc_map, parse_channel_map
    from ganforge.plugins.midi.link import Link, parse_socket

    assert parse_channel_map("2,10", [False, True]) == [1, 9]
    assert parse_channel_map(None, [False, False, True]) == [0, 1, 9]
    with pytest.raises(GanforgeError, match="give 2 channel"):
        parse_channel_map("1", [False, True])
    assert parse_cc_map("walk=1")[1] == "walk"
    with pytest.raises(GanforgeError, match="share a CC"):
        parse_cc_map("walk=22")
    with pytest.raises(GanforgeError, match="socket://HOST:PORT"):
        parse_socket("socket://nohost")
    with pytest.raises(GanforgeError, match="cannot connect"):
        Link("socket://127.0.0.1:1")
    proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "midi", "play", str(pack)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--virtual" in proc.stderr


def test_virtual_port_on_windows_points_to_loopmidi(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.plugins.midi.link import Link

    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(GanforgeError, match="loopMIDI"):
        Link("ganforge", virtual=True)


@pytest.mark.skipif(not Path("/dev/snd/seq").exists(), reason="no ALSA sequencer (/dev/snd/seq) on this machine")
def test_virtual_port_is_visible(pack: Path) -> None:
    pytest.importorskip("rtmidi")
    from ganforge.plugins.midi.link import Link, port_names

    link = Link("ganforge-test", virtual=True)
    try:
        assert any("ganforge-test" in name for name in port_names()["outputs"])
    finally:
        link.close()


def test_bridge_and_codec_never_import_torch(pack: Path, tmp_path: Path) -> None:
    script = f"""
import sys, time
from ganforge.core import runtime
from ganforge.plugins.midi.engine import Bridge
rt = runtime.load({str(pack)!r}, threads=1)
bridge = Bridge(rt, lambda msgs: True, max_bars=1)
assert bridge.wait_ready()
for step in range(16):
    bridge.on_step(step)
bridge.close()
rt.write(rt.generate(0, 1, bars=2), {str(tmp_path / "x.mid")!r}, preview=True)
from ganforge.core.metrics import music
print("torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_generation_failing_mid_song_stops_with_all_notes_off(pack: Path) -> None:
    """A pack that breaks after two bars: the bridge stops, says why, and leaves nothing sounding
    (it used to keep its clock running with a dead worker: silence forever, exit 0)."""
    from ganforge.core import runtime
    from ganforge.plugins.midi.clocks import InternalClock
    from ganforge.plugins.midi.engine import Bridge

    class BreaksOnThirdBar:  # the real runtime, with the pack failing from its third bar on
        def __init__(self, rt: Any) -> None:
            self.rt, self.calls = rt, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.rt, name)

        def run(self, feeds: dict[str, Any]) -> Any:
            self.calls += 1
            if self.calls >= 3:
                raise GanforgeError(f"{self.rt.path}: the pack failed while generating (boom)")
            return self.rt.run(feeds)

    sent: list[Any] = []
    bridge = Bridge(BreaksOnThirdBar(runtime.load(pack, threads=1)), lambda msgs: sent.extend(msgs) or True,
                    threshold=0.4, ahead=1)
    assert bridge.wait_ready()
    clock = InternalClock(bridge, 400.0)
    clock.start()
    assert bridge.failed.wait(20) and "boom" in (bridge.error or "")
    clock.stop()
    bridge.close()
    assert_nothing_left_sounding(sent)  # a note-off or All Notes Off ended each note


def test_a_pack_the_bridge_cannot_play_is_one_line(pack: Path, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from click.testing import CliRunner

    from ganforge.core.cli import cli

    model = onnx.load(str(pack))
    for prop in model.metadata_props:
        if prop.key == "ganforge.decoder":
            prop.value = json.dumps({**json.loads(prop.value), "steps_per_beat": 5})
    bad = tmp_path / "five.onnx"
    onnx.save(model, str(bad))
    result = CliRunner().invoke(cli, ["midi", "play", str(bad), "--port", "socket://127.0.0.1:1"])
    assert result.exit_code == 2 and "steps per beat" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
