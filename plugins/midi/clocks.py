"""The clocks that drive a :class:`~.engine.Bridge` step by step: its own (on absolute times)
and the DAW's MIDI clock. Ableton Link's is in :mod:`.link`."""

from __future__ import annotations

import threading
import time
from typing import Any

from ganforge.core.errors import GanforgeError

from .engine import CLOCKS_PER_BEAT, Bridge


class InternalClock:
    """Steps on absolute times ``t0 + n * step`` (sleep, then spin the last ~1.5 ms): no drift
    accumulates however long it plays, and each send is within about a millisecond of its time."""

    SPIN = 0.0015

    def __init__(self, bridge: Bridge, bpm: float) -> None:
        if not 20 <= bpm <= 400:
            raise GanforgeError(f"--bpm {bpm:g}: must be in 20..400")
        self.bridge, self.bpm = bridge, bpm
        self.step_seconds = 60.0 / bpm / bridge.s.steps_per_beat
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="midi-clock", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        s = self.bridge.s.steps_per_bar
        t0 = time.perf_counter() + 0.05
        n = 0
        while not self._stop.is_set() and not self.bridge.finished.is_set():
            target = t0 + n * self.step_seconds
            remaining = target - time.perf_counter()
            if remaining > self.SPIN:
                if self._stop.wait(remaining - self.SPIN):
                    return
            while time.perf_counter() < target:
                pass
            self.bridge.stats.late.append(time.perf_counter() - target)
            self.bridge.on_step(n % s)
            n += 1


class ClockFollower:
    """Follows the DAW's MIDI clock: start, continue, stop, song position, 24 clocks per beat.

    After Start (or Continue, or a Song Position), the next clock is the position's first tick;
    a grid step plays on the clock that begins it, so bars land on the DAW's bar lines and tempo
    changes are followed with no estimate involved. ``bpm`` is measured for display only.
    """

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.clocks_per_step = CLOCKS_PER_BEAT // bridge.s.steps_per_beat
        self.tick = -1  # position in clocks of the last clock received
        self.running = False
        self.bpm: float | None = None
        self._times: list[float] = []

    def on_message(self, msg: Any) -> None:
        kind = msg.type
        if kind == "clock":
            now = time.perf_counter()
            self._times = (self._times + [now])[-CLOCKS_PER_BEAT - 1:]
            if len(self._times) > CLOCKS_PER_BEAT:
                self.bpm = 60.0 / (self._times[-1] - self._times[0])
            if not self.running:
                return
            self.tick += 1
            if self.tick % self.clocks_per_step == 0:
                self.bridge.on_step((self.tick // self.clocks_per_step) % self.bridge.s.steps_per_bar)
        elif kind == "start":
            self.bridge.panic()
            self.tick, self.running = -1, True
        elif kind == "continue":
            self.running = True
        elif kind == "stop":
            self.running = False
            self.bridge.panic()
        elif kind == "songpos":  # in sixteenth notes: 6 clocks each
            self.bridge.panic()
            self.tick = msg.pos * 6 - 1
        elif kind == "control_change":
            self.bridge.on_control(msg)
