"""MIDI files and the music codec's rolls: a file's last bar as a pack's ``condition``, and a
decoded item as a type-1 file (one track per voice, GM programs, drums on channel 10). numpy +
mido, torch-free; :mod:`.codec` writes the files through these."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import GanforgeError

if TYPE_CHECKING:
    from .codec import Settings

DEFAULT_BPM = 120.0


def fold(pitch: int, s: Settings) -> int | None:
    """A MIDI pitch moved by octaves into the pack's range (None if the range is under an octave
    and misses its pitch class)."""
    p = pitch - s.low
    while p < 0:
        p += 12
    while p >= s.pitches:
        p -= 12
    return p if p >= 0 else None


def condition_from_midi(path: str | Path, s: Settings) -> np.ndarray:
    """The last bar of a MIDI file as the pack's ``condition`` ``(tracks, steps, pitches)``: voices
    in file order onto the pack's melodic tracks, drums onto its drum track, pitches folded by
    octaves into its range."""
    from .roll import Skip, read_midi

    try:
        piece = read_midi(Path(path), s.steps_per_beat)
    except Skip as e:
        raise GanforgeError(f"--continue {path}: {e}") from None
    except FileNotFoundError:
        raise GanforgeError(f"--continue {path}: no such file") from None
    cond = np.zeros((s.tracks, s.steps_per_bar, s.pitches), np.float32)
    end = -(-piece.steps // s.steps_per_bar) * s.steps_per_bar
    start = end - s.steps_per_bar
    melodic = [t for t in range(s.tracks) if not s.drums[t]] or [0]
    drum_track = next((t for t in range(s.tracks) if s.drums[t]), None)
    voice = 0
    for v in piece.voices:
        if v.drum and drum_track is None:
            continue
        track = drum_track if v.drum else melodic[min(voice, len(melodic) - 1)]
        voice += not v.drum
        for n in v.notes:
            p = fold(n.pitch, s)
            if p is not None and n.end > start:
                cond[track, max(n.start - start, 0):n.end - start, p] = 1.0
    return cond


def notes(roll: np.ndarray) -> list[tuple[int, int, int, int]]:
    """One track's ``(steps, pitches)`` velocities -> ``(pitch index, start, end, velocity)``,
    a note being a maximal run of sounding steps."""
    on = np.asarray(roll) > 0
    padded = np.pad(on.T.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    out = []
    for (p, s), (_, e) in zip(np.argwhere(d == 1), np.argwhere(d == -1), strict=True):
        out.append((int(p), int(s), int(e), int(np.max(roll[s:e, p]))))
    return sorted(out, key=lambda n: (n[1], n[0]))


def to_midi(roll: np.ndarray, s: Settings, bpm: float = DEFAULT_BPM, ticks_per_beat: int = 480) -> Any:
    """One item ``(tracks, steps, pitches)`` -> a type-1 ``mido.MidiFile``: a tempo track, then
    one track per voice with its name and GM program (drums on channel 10)."""
    import mido

    if not 20 <= bpm <= 400:
        raise GanforgeError(f"--bpm {bpm:g}: must be in 20..400")
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    meta = mido.MidiTrack([mido.MetaMessage("track_name", name="ganforge", time=0),
                           mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                           mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    meta.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(meta)
    tick = ticks_per_beat // s.steps_per_beat
    melodic_channels = iter(c for c in range(16) if c != 9)
    for t in range(s.tracks):
        channel = 9 if s.drums[t] else next(melodic_channels)
        events = []
        for p, start, end, vel in notes(roll[t]):
            pitch = s.low + p
            events.append((start * tick, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=vel)))
            events.append((end * tick, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same tick
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=s.names[t], time=0)])
        if not s.drums[t]:
            track.append(mido.Message("program_change", channel=channel, program=s.programs[t], time=0))
        now = 0
        for at, _, msg in events:
            track.append(msg.copy(time=at - now))
            now = at
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    return mid
