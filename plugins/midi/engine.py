"""The MIDI bridge's engine: bars generated ahead in a worker thread, played step by step on a
clock (internal, on absolute times, or the DAW's MIDI clock), steered by CCs, answering the
player, and never leaving a note hanging.

Threads: the worker generates bars (onnxruntime + the music codec's decoding); the clock — the
internal clock thread or the connection's reader thread for ``--clock follow`` (:mod:`.clocks`;
Ableton Link in :mod:`.link`) — calls
:meth:`Bridge.on_step` once per grid step, which sends that step's note-offs and note-ons in one
write. Every note-on is recorded in ``sounding`` until its note-off, so :meth:`Bridge.panic`
(stop, Ctrl-C, SIGTERM, an exception, the end) can end each one and then send All Notes Off
(CC 123) on every channel the bridge uses.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganforge.core.errors import GanforgeError

CLOCKS_PER_BEAT = 24  # MIDI clock resolution (the clocks that drive a Bridge: clocks.py)
ALL_NOTES_OFF = 123
CONTROLS = ("walk", "variation", "density", "seed", "key")
DEFAULT_CC = {"walk": 21, "variation": 22, "density": 23, "seed": 24, "key": 25}
FOLLOW_BARS = 4  # --key follow: the window of bars the player's key is estimated from
FOLLOW_MIN_STEPS = 8  # ... and the note-steps it needs before it locks anything


def parse_cc_map(text: str | None) -> dict[int, str]:
    """``"walk=21,density=1"`` -> ``{21: "walk", 1: "density"}`` (defaults for the ones not given)."""
    names = dict(DEFAULT_CC)
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, number = part.partition("=")
        if name not in CONTROLS or not number.isdigit() or not 0 <= int(number) <= 119:
            raise GanforgeError(f"--cc {part!r}: expected NAME=CC with NAME in {', '.join(CONTROLS)} and CC 0..119")
        names[name] = int(number)
    if len(set(names.values())) != len(names):
        raise GanforgeError(f"--cc: two controls share a CC number ({names})")
    return {cc: name for name, cc in names.items()}


def parse_channel_map(text: str | None, drums: list[bool]) -> list[int]:
    """``"1,2,10"`` (1-based, one per track) -> 0-based channels; default: melodic tracks on 1, 2, ...
    (skipping 10), drums on 10."""
    if text:
        try:
            chans = [int(c) - 1 for c in text.split(",")]
        except ValueError:
            chans = []
        if len(chans) != len(drums) or not all(0 <= c < 16 for c in chans):
            raise GanforgeError(f"--channel-map {text!r}: give {len(drums)} channel number(s) in 1..16, one per track")
        return chans
    if sum(not d for d in drums) > 15:  # a pack's 16 melodic tracks: one would have no channel
        raise GanforgeError(f"{sum(not d for d in drums)} melodic tracks and 15 melodic MIDI channels: "
                            "give --channel-map (tracks may share a channel)")
    melodic = iter(c for c in range(16) if c != 9)
    return [9 if d else next(melodic) for d in drums]


@dataclass
class Controls:
    walk: float = 0.15  # latent walk per bar, as a fraction of a quarter turn
    variation: float = 1.0  # scale of the per-bar latents
    threshold: float = 0.5  # note threshold (density)
    reseed: int = 0  # bumped by the "seed" control
    notes: Any = None  # the music codec's NoteControls (key, register, density, temperature); None: none


@dataclass
class Bar:
    index: int
    on: np.ndarray  # (tracks, steps, pitches) bool
    velocity: np.ndarray  # same shape, uint8
    seconds: float  # generation time


@dataclass
class Stats:
    generated: list[float] = field(default_factory=list)  # seconds per bar
    steps: int = 0
    bars: int = 0
    underruns: int = 0
    answered: int = 0  # bars generated from what the player played (--listen)
    note_ons: int = 0
    note_offs: int = 0
    panics: int = 0
    key_changes: int = 0
    key: str = "unlocked"  # the key locked at the end
    late: list[float] = field(default_factory=list)  # internal clock: send time - intended (s)


class LatentPlayer:
    """The pack side: latents that walk from bar to bar, one bar per run."""

    def __init__(self, runtime: Any, seed: int) -> None:
        from ganforge.core.errors import PackError

        # The pack's own codec, through the runtime (a music codec: settings, threshold_notes,
        # velocities, fold), so the bridge imports no modality directly.
        self.runtime, self.codec = runtime, runtime.codec
        self.s = self.codec.settings(runtime.meta, str(runtime.path))
        missing = sorted({"z", "z_tracks", "z_bars", "condition"} - set(runtime.input_names))
        if missing:
            raise PackError(f"{runtime.path}: the MIDI bridge needs the music inputs z, z_tracks, z_bars and "
                            f"condition; this pack lacks {', '.join(missing)}")
        if CLOCKS_PER_BEAT % self.s.steps_per_beat:  # a step must begin on a whole MIDI clock
            raise PackError(f"{runtime.path}: {self.s.steps_per_beat} steps per beat do not divide MIDI "
                            f"clock's {CLOCKS_PER_BEAT} pulses per beat (use 1, 2, 3, 4, 6, 8, 12 or 24)")
        self.min_steps = self.s.min_note_steps
        self.seed = seed
        self.reset(seed)

    def reset(self, seed: int) -> None:
        # Bar 0 of seed s is what `ganforge generate --seed s --bars 1` gives: the pack's draw contract.
        feeds = self.runtime.draw_inputs(seed, 1, {"bars": 1})
        self.z, self.z_tracks, self.z_bar_scale = feeds["z"], feeds["z_tracks"], 1.0
        self.first = feeds["z_bars"]
        self.rng = np.random.Generator(np.random.PCG64(seed + 1_000_003))

    def next(self, condition: np.ndarray, controls: Controls) -> tuple[np.ndarray, np.ndarray]:
        if self.first is not None:
            z_bars, self.first = self.first, None
        else:
            angle = controls.walk * math.pi / 2  # slerp-like step: keeps the latents Gaussian
            c, s = math.cos(angle), math.sin(angle)
            self.z = (c * self.z + s * self.rng.standard_normal(self.z.shape, np.float32)).astype(np.float32)
            self.z_tracks = (c * self.z_tracks + s * self.rng.standard_normal(self.z_tracks.shape, np.float32)
                             ).astype(np.float32)
            z_bars = self.rng.standard_normal((1, 1, self.z.shape[1]), np.float32)
        feeds = {"z": self.z, "z_tracks": self.z_tracks, "z_bars": (z_bars * controls.variation).astype(np.float32),
                 "condition": condition[None].astype(np.float32)}
        prob = self.runtime.run(feeds)[0][0]
        nc = controls.notes
        if nc is None:
            on = self.codec.threshold_notes(prob, controls.threshold, self.min_steps)
            return on, self.codec.velocities(prob, on)
        # key, register, density and temperature act on the probabilities, before thresholding
        noise = (self.rng.logistic(size=(4, self.s.tracks, self.s.pitches)).astype(np.float32)
                 if nc.temperature > 0 else None)
        return self.codec.shape(prob, nc, self.s, controls.threshold, self.min_steps, noise)


class Bridge:
    def __init__(self, runtime: Any, send: Callable[[list[Any]], bool], *, seed: int = 0,
                 channel_map: str | None = None, cc_map: str | None = None, threshold: float = 0.5,
                 listen: bool = False, ahead: int = 2, max_bars: int | None = None, notes: Any = None,
                 follow_key: bool = False, follow_scale: str | None = None) -> None:
        self.player = LatentPlayer(runtime, seed)
        s = self.player.s
        self.s, self.send, self.seed = s, send, seed
        self.channels = parse_channel_map(channel_map, s.drums)
        self.cc = parse_cc_map(cc_map)
        self.controls = Controls(threshold=threshold, notes=notes)
        self.density_target = notes.density if notes is not None else None  # the density CC scales it
        if follow_key and not listen:
            raise GanforgeError("--key follow estimates the key from what you play: give --listen IN_PORT")
        self.follow_key, self.follow_scale = follow_key, follow_scale
        self._heard: deque[np.ndarray] = deque(maxlen=FOLLOW_BARS)  # pitch-class steps per bar played
        self.listen, self.ahead, self.max_bars = listen, (1 if listen else max(1, ahead)), max_bars
        self.stats = Stats(key=self._key_name())
        self.sounding = np.zeros((s.tracks, s.pitches), bool)
        self._lock = threading.RLock()  # playing and panicking never interleave
        self._cv = threading.Condition()
        self._ready: dict[int, Bar] = {}
        self._next_gen = 0  # index of the next bar the worker makes
        self._want = self.ahead - 1  # the worker makes bars up to this index
        self._bar_no = -1  # index of the bar playing now (-1: none yet)
        self._step = 0  # grid step playing now
        self._current: Bar | None = None
        self._last_generated = np.zeros((s.tracks, s.steps_per_bar, s.pitches), bool)
        self._played = np.zeros((s.tracks, s.steps_per_bar, s.pitches), bool)  # --listen: this bar
        self._held = np.zeros((s.tracks, s.pitches), bool)
        self._cc_last: dict[int, int] = {}
        self._epoch = 0  # bumped when queued bars must be made again (a control moved)
        self._stop = threading.Event()
        self.finished = threading.Event()  # max_bars played
        self.failed = threading.Event()  # generation failed: ``error`` says why
        self._closed = False
        self.error: str | None = None
        self._worker = threading.Thread(target=self._work, name="midi-generate", daemon=True)
        self._worker.start()

    # ---- generation (worker thread) ------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._stop.is_set() and self._next_gen > self._want:
                    self._cv.wait()
                if self._stop.is_set():
                    return
                index, epoch = self._next_gen, self._epoch
                condition = self._condition()
                if self.listen and self._played.any():
                    self.stats.answered += 1
            started = time.perf_counter()
            try:
                on, velocity = self.player.next(condition, self.controls)
            except Exception as e:  # a broken pack: stop cleanly (the player panics), never play silence
                first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
                self.error = first if str(self.player.runtime.path) in first else f"{self.player.runtime.path}: {first}"
                with self._cv:
                    self._stop.set()
                    self._cv.notify_all()
                self.failed.set()
                return
            bar = Bar(index, on, velocity, time.perf_counter() - started)
            with self._cv:
                self.stats.generated.append(bar.seconds)
                if epoch != self._epoch:  # the controls changed meanwhile: make it again
                    continue
                self._last_generated = on
                if index > self._bar_no:  # a bar that came too late is dropped, not played late
                    self._ready[index] = bar
                self._next_gen = index + 1
                self._cv.notify_all()

    def _condition(self) -> np.ndarray:
        """The previous bar: what the player played (``--listen``) if anything, else our own."""
        if self.listen and self._played.any():
            return self._played.copy()
        return self._last_generated

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until the first bars are generated (before the clock starts)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._next_gen > self._want or self._stop.is_set(), timeout)

    # ---- playing (clock thread) --------------------------------------------------------------
    def on_step(self, step: int) -> None:
        """Play grid step ``step`` of the bar (0 = a bar line: the next bar starts)."""
        with self._lock:
            if self._stop.is_set() or self.finished.is_set():
                return
            if step == 0:
                self._start_bar()
            try:
                self._play_step(step)
            finally:
                # The worker makes the bar after next once the step after the bar line is out
                # (a whole bar of slack remains). Woken at the bar line itself, its Python work
                # competed with the downbeat for the GIL and the CPU: downbeat lag p50 1.7 ms
                # against 0.6 ms on other steps when woken first; tails to 2 ms when woken just
                # after (measured at 120 BPM on 2 cores).
                if step == min(1, self.s.steps_per_bar - 1):
                    with self._cv:
                        self._cv.notify_all()

    def _play_step(self, step: int) -> None:
        """Send step ``step``'s note-offs and note-ons (caller holds ``_lock``)."""
        s = self.s
        self._step = step
        if self._current is None:  # started mid-bar: wait for the next bar line
            return
        if self.listen:
            self._played[:, step] |= self._held
        bar = self._current
        on, vel = bar.on[:, step], bar.velocity[:, step]
        offs, ons = self.sounding & ~on, on & ~self.sounding
        msgs = self._messages(offs, ons, vel)
        self.sounding = on.copy()
        self.stats.steps += 1
        self.send(msgs)
        if self.listen and step == s.steps_per_bar - 1:
            if self.follow_key:
                self._follow()
            with self._cv:  # answer this bar: generate the next one now, from what was played
                self._want = self._bar_no + 1
                self._cv.notify_all()
        if step == s.steps_per_bar - 1 and self.max_bars is not None and self.stats.bars >= self.max_bars:
            self.panic()
            self.finished.set()

    def _start_bar(self) -> None:
        with self._cv:
            self._bar_no += 1
            self._current = self._ready.pop(self._bar_no, None)
            if self._current is None:
                self.stats.underruns += 1
                self._current = Bar(self._bar_no, np.zeros_like(self._last_generated),
                                    np.zeros(self._last_generated.shape, np.uint8), 0.0)
            if not self.listen:
                self._want = self._bar_no + self.ahead
            self._played[:] = False
            self.stats.bars += 1

    def _messages(self, offs: np.ndarray, ons: np.ndarray, vel: np.ndarray) -> list[Any]:
        import mido

        low, msgs = self.s.low, []
        for t, p in zip(*np.nonzero(offs), strict=True):
            msgs.append(mido.Message("note_off", channel=self.channels[t], note=low + int(p), velocity=0))
        for t, p in zip(*np.nonzero(ons), strict=True):
            msgs.append(mido.Message("note_on", channel=self.channels[t], note=low + int(p), velocity=int(vel[t, p])))
        self.stats.note_offs += int(offs.sum())
        self.stats.note_ons += int(ons.sum())
        return msgs

    def panic(self) -> None:
        """Note-off for every sounding note, then All Notes Off on every channel we use."""
        import mido

        with self._lock:
            msgs = self._messages(self.sounding, np.zeros_like(self.sounding), np.zeros(self.sounding.shape, np.uint8))
            msgs += [mido.Message("control_change", channel=c, control=ALL_NOTES_OFF, value=0)
                     for c in sorted(set(self.channels))]
            self.sounding[:] = False
            self._current = None  # after a stop, playing resumes at the next bar line
            self.stats.panics += 1
            self.send(msgs)

    def silence_after_reconnect(self) -> None:
        """The far end came back: whatever it held is unknown, so silence it and start clean."""
        self.panic()

    # ---- keys: set by a CC, a program change or the player (--key follow) ------------------------
    def _key_name(self) -> str:
        nc = self.controls.notes
        return "unlocked" if nc is None else self.player.codec.controls.key_name(nc.tonic, nc.scale)

    def _set_key(self, tonic: int, scale: str | None) -> bool:
        """Lock a key from the next bar not yet playing (caller holds ``_cv``). Notes of the bar
        playing now end at their own note-offs; a note held over the bar line that the new key
        masks gets its note-off at that bar line, like any note the next bar does not hold."""
        ctl = self.player.codec.controls
        current = self.controls.notes or ctl.NoteControls()
        if current.tonic == tonic and (scale is None or scale == current.scale):
            return False
        self.controls.notes = current.with_key(tonic, scale)
        self.stats.key_changes += 1
        self.stats.key = self._key_name()
        return True

    def _follow(self) -> None:
        """--key follow: at the end of each bar, the Krumhansl-Schmuckler key of the last
        ``FOLLOW_BARS`` bars the player played (note-steps per pitch class, drums left out)."""
        melodic = [t for t, d in enumerate(self.s.drums) if not d]
        steps = self._played[melodic].sum(axis=(0, 1))  # (pitches,)
        pcs = np.zeros(12)
        np.add.at(pcs, (self.s.low + np.arange(self.s.pitches)) % 12, steps)
        self._heard.append(pcs)
        total = np.sum(self._heard, axis=0)
        if total.sum() < FOLLOW_MIN_STEPS:
            return
        ctl = self.player.codec.controls
        found = ctl.estimate_key(total)
        if found is None:
            return
        tonic, mode, _ = found
        with self._cv:
            if self._set_key(tonic, ctl.follow_scale(mode, self.follow_scale)):
                self._requeue()

    def _requeue(self) -> None:
        """Queued bars were made under old controls: make them again (caller holds ``_cv``)."""
        self._epoch += 1
        self._ready = {k: b for k, b in self._ready.items() if k <= self._bar_no}
        self._next_gen = self._bar_no + 1
        self._cv.notify_all()

    # ---- incoming: CCs and the player's notes --------------------------------------------------
    def on_control(self, msg: Any) -> None:
        """A CC: controls apply from the next bar not yet playing (queued bars are made again)."""
        name = self.cc.get(msg.control)
        if name is None:
            return
        v = msg.value / 127.0
        rising = msg.value >= 64 and self._cc_last.get(msg.control, 0) < 64
        self._cc_last[msg.control] = msg.value
        with self._cv:
            if name == "walk":
                self.controls.walk = v
            elif name == "variation":
                self.controls.variation = 2.0 * v
            elif name == "density" and self.density_target is not None:
                # with a notes-per-bar target, the knob scales it (0 .. twice the target)
                nc = self.controls.notes
                nc.density = max(0.25, 2.0 * v * self.density_target)
            elif name == "density":
                self.controls.threshold = float(np.clip(0.9 - 0.8 * v, 0.05, 0.95))
            elif name == "seed":
                if not rising:
                    return
                self.controls.reseed += 1
                self.player.reset(self.seed + self.controls.reseed)
            elif name == "key":
                self.follow_key = False  # a key set by hand wins over the player's
                if not self._set_key(self.player.codec.controls.tonic_from_cc(msg.value), None):
                    return
            self._requeue()

    def on_program(self, msg: Any) -> None:
        """A program change picks a key: tonic = program % 12, scale = program // 12 (see the
        music codec's ``controls.from_program``)."""
        ctl = self.player.codec.controls
        with self._cv:
            self.follow_key = False
            chosen = ctl.from_program(msg.program, self.controls.notes or ctl.NoteControls())
            if self._set_key(chosen.tonic, chosen.scale):
                self._requeue()

    def on_note(self, msg: Any) -> None:
        """A note from the player (``--listen``): held notes mark the current bar's steps."""
        if not self.listen:
            return
        track = self.channels.index(msg.channel) if msg.channel in self.channels else 0
        pitch = self.player.codec.fold(msg.note, self.s)
        if pitch is None:
            return
        with self._lock:
            if msg.type == "note_on" and msg.velocity > 0:
                self._held[track, pitch] = True
                # a note shorter than a step still counts for the step it was struck in
                if self._current is not None:
                    self._played[track, self._step, pitch] = True
            else:
                self._held[track, pitch] = False

    def close(self) -> None:
        """Silence everything and stop the worker (idempotent). A failed worker has stopped the
        playing already; the notes it left sounding are silenced here all the same."""
        if not self._closed:
            self._closed = True
            try:
                self.panic()
            finally:
                self._stop.set()
                with self._cv:
                    self._cv.notify_all()
        self._worker.join(timeout=5)
