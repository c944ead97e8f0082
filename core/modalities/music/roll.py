"""Multi-track binary piano-rolls from MIDI files, music21 scores and the JSB .mat set (torch-free).

A piece becomes a boolean array ``(tracks, steps, pitches)``: ``steps`` at ``steps_per_beat``
per quarter note, 4/4 only (a file in another meter is skipped with its reason, never squashed
into 4/4), pitches ``low .. low + pitches - 1``. Tracks come from the file's MIDI tracks in order
(one voice per track that has notes), drums (channel 10) kept apart as the last track; with
``tracks="single"`` everything goes into one piano track.

Every reader returns :class:`Piece` objects or a reason for skipping, so the dataset can log a
count and a reason per file, and an empty result is a clear error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError

BEATS_PER_BAR = 4  # 4/4 only, for now
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0
MIDI_SUFFIXES = (".mid", ".midi")
XML_SUFFIXES = (".xml", ".musicxml", ".mxl")


@dataclass
class Note:
    pitch: int
    start: int  # steps
    end: int  # steps, exclusive
    velocity: int = 80


@dataclass
class Voice:
    """One track's notes and how it sounds."""

    name: str
    program: int = 0
    drum: bool = False
    notes: list[Note] = field(default_factory=list)


@dataclass
class Piece:
    name: str
    voices: list[Voice]

    @property
    def steps(self) -> int:
        return max((n.end for v in self.voices for n in v.notes), default=0)


class Skip(Exception):
    """A file we cannot use; the message is the reason shown in the log."""


# ---- MIDI (mido) ---------------------------------------------------------------------------------
def read_midi(path: Path, steps_per_beat: int) -> Piece:
    """One MIDI file as a :class:`Piece`; :class:`Skip` with a reason when it cannot be used."""
    import mido

    try:
        mid = mido.MidiFile(str(path), clip=True)
    except Exception as e:  # mido raises OSError, EOFError, ValueError, KeyError... on bad files
        raise Skip(f"unreadable MIDI ({type(e).__name__}: {str(e)[:80]})") from None
    if mid.type == 2:
        raise Skip("type-2 MIDI (independent sequences) is not supported")
    tpb = mid.ticks_per_beat
    voices: list[Voice] = []
    drums = Voice("drums", 0, True)
    for index, track in enumerate(mid.tracks):
        tick = 0
        name, programs = track.name or f"track {index + 1}", {}
        sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start tick, velocity)
        notes: dict[int, list[Note]] = {}  # channel -> notes
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature" and (msg.numerator, msg.denominator) != (4, 4):
                raise Skip(f"meter {msg.numerator}/{msg.denominator} at tick {tick} (only 4/4 is supported)")
            if msg.type == "program_change":
                programs.setdefault(msg.channel, msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                if key in sounding:  # re-struck without a note-off: close the previous one
                    _close(notes, sounding, key, tick, tpb, steps_per_beat)
                sounding[key] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
                _close(notes, sounding, (msg.channel, msg.note), tick, tpb, steps_per_beat)
        for key in list(sounding):
            _close(notes, sounding, key, tick, tpb, steps_per_beat)
        for channel, ns in sorted(notes.items()):
            if channel == DRUM_CHANNEL:
                drums.notes += ns
            elif ns:
                label = name if len(notes) == 1 else f"{name} ch{channel + 1}"
                voices.append(Voice(label, programs.get(channel, 0), False, ns))
    if drums.notes:
        voices.append(drums)
    if not voices:
        raise Skip("no notes")
    return Piece(path.name, voices)


def _close(notes: dict[int, list[Note]], sounding: dict, key: tuple[int, int], tick: int, tpb: int,
           spb: int) -> None:
    start, velocity = sounding.pop(key)
    s = int(round(start / tpb * spb))
    e = max(int(round(tick / tpb * spb)), s + 1)  # a grace note still sounds for one step
    notes.setdefault(key[0], []).append(Note(key[1], s, e, velocity))


# ---- MusicXML / the music21 corpus -----------------------------------------------------------------
def read_music21(source: Any, steps_per_beat: int, name: str) -> Piece:
    """A music21 score (or a path it can parse) as a :class:`Piece`, one voice per part."""
    try:
        import music21
    except ImportError:
        raise DataError("reading MusicXML needs music21 (pip install 'ganforge[music]')") from None
    try:
        score = source if isinstance(source, music21.stream.Score) else music21.converter.parse(str(source))
    except Exception as e:
        raise Skip(f"unreadable score ({type(e).__name__}: {str(e)[:80]})") from None
    for ts in score.recurse().getElementsByClass("TimeSignature"):
        if ts.ratioString != "4/4":
            raise Skip(f"meter {ts.ratioString} (only 4/4 is supported)")
    parts = list(score.parts)
    if not parts:
        raise Skip("no parts")
    # A pickup bar shifts everything so that bar lines fall on multiples of the bar length.
    measures = parts[0].getElementsByClass("Measure")
    shift = 0.0
    if measures and measures[0].duration.quarterLength < BEATS_PER_BAR:
        shift = BEATS_PER_BAR - float(measures[0].duration.quarterLength)
    voices = []
    for part in parts:
        voice = Voice(part.partName or f"part {len(voices) + 1}", 52)  # GM 53: choir aahs
        for element in part.flatten().notes:
            s = int(round((float(element.offset) + shift) * steps_per_beat))
            e = max(int(round((float(element.offset + element.quarterLength) + shift) * steps_per_beat)), s + 1)
            for pitch in getattr(element, "pitches", ()):
                voice.notes.append(Note(int(pitch.midi), s, e, 80))
        if voice.notes:
            voices.append(voice)
    if not voices:
        raise Skip("no notes")
    return Piece(name, voices)


def bach_chorale_paths() -> list[Path]:
    """The Bach chorales that ship inside the music21 wheel (no download)."""
    try:
        from music21 import corpus
    except ImportError:
        raise DataError("the built-in Bach chorales need music21 (pip install 'ganforge[music]')") from None
    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in XML_SUFFIXES)


# ---- JSB_Chorales.mat ------------------------------------------------------------------------------
def read_jsb_mat(path: Path, split: str = "traindata", steps_per_beat: int = 4) -> list[np.ndarray]:
    """The JSB .mat set (88-key quarter-note rolls, key 0 = MIDI 21) as single-track rolls
    ``(1, steps, 128)`` at ``steps_per_beat``: each quarter is held for ``steps_per_beat`` steps
    (the file has no onsets, so a held and a repeated pitch look the same)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(f"{path}: reading .mat files needs scipy") from None
    try:
        mat = loadmat(str(path))
    except Exception as e:
        raise DataError(f"{path}: unreadable .mat file ({type(e).__name__})") from None
    if split not in mat:
        raise DataError(f"{path}: no {split!r} in this .mat file")
    rolls = []
    for cell in mat[split].ravel():
        q = np.asarray(cell) > 0  # (quarters, 88)
        full = np.zeros((1, q.shape[0] * steps_per_beat, 128), bool)
        full[0, :, 21:109] = np.repeat(q, steps_per_beat, axis=0)
        rolls.append(full)
    return rolls


# ---- pieces -> rolls ---------------------------------------------------------------------------------
@dataclass
class Layout:
    """How pieces map onto the model's tracks."""

    names: list[str]
    programs: list[int]
    drums: list[bool]

    @property
    def tracks(self) -> int:
        return len(self.names)


def layout_for(pieces: Iterable[Piece], mode: str = "tracks", max_tracks: int = 4) -> Layout:
    """Track slots: the largest voice count seen (capped), drums last when any piece has them."""
    pieces = list(pieces)
    if mode == "single":
        return Layout(["piano"], [0], [False])
    if mode != "tracks":
        raise DataError(f"unknown track mode {mode!r} (use 'tracks' or 'single')")
    has_drums = any(v.drum for p in pieces for v in p.voices)
    melodic = min(max((sum(not v.drum for v in p.voices) for p in pieces), default=1),
                  max_tracks - has_drums)
    # each slot takes the name and program most pieces give it (a chorale with an extra horn
    # part does not rename the soprano track)
    seen: list[Counter[tuple[str, int]]] = [Counter() for _ in range(melodic)]
    for p in pieces:
        for i, v in enumerate(v for v in p.voices if not v.drum):
            if i < melodic:
                seen[i][(v.name, v.program)] += 1
    names, programs = [], []
    for i, counts in enumerate(seen):
        name, program = counts.most_common(1)[0][0] if counts else (f"track {i + 1}", 0)
        names.append(name)
        programs.append(program)
    if has_drums:
        names, programs = names + ["drums"], programs + [0]
    return Layout(names, programs, [False] * melodic + [True] * has_drums)


def to_roll(piece: Piece, layout: Layout) -> np.ndarray:
    """``(tracks, steps, 128)`` bool; voices beyond the layout's melodic slots fold into the last one."""
    roll = np.zeros((layout.tracks, piece.steps, 128), bool)
    melodic = layout.tracks - sum(layout.drums)
    i = 0
    for v in piece.voices:
        if v.drum and any(layout.drums):
            t = layout.tracks - 1
        elif layout.tracks == 1:
            t = 0
        else:
            t = min(i, melodic - 1)
            i += not v.drum
        for n in v.notes:
            roll[t, n.start:n.end, n.pitch] = True
    return roll


def pitch_range(rolls: list[np.ndarray], drums: list[bool]) -> tuple[int, int]:
    """``(low, count)`` covering every melodic note in ``rolls`` (drums use their own keys)."""
    melodic = [t for t, d in enumerate(drums) if not d] or list(range(len(drums)))
    used = np.zeros(128, bool)
    for r in rolls:
        used |= r[melodic].any(axis=(0, 1))
    keys = np.flatnonzero(used)
    if not len(keys):
        raise DataError("the data has no melodic notes")
    return int(keys[0]), int(keys[-1] - keys[0] + 1)


#: a piece becomes a (tracks, steps, 128) piano-roll in memory: a 37-byte file can declare a
#: 4-million-step note (ticks_per_beat=1), so length is capped per piece and per note. At 4 steps a
#: beat and 120 bpm, 32,768 steps are 68 minutes; 4,096 steps hold one note for 8.5 minutes.
MAX_PIECE_STEPS = 32_768
MAX_NOTE_STEPS = 4_096


def _check_length(piece: Piece) -> None:
    longest = max((n.end - n.start for v in piece.voices for n in v.notes), default=0)
    if longest > MAX_NOTE_STEPS:
        raise Skip(f"a note lasts {longest:,} steps (the limit is {MAX_NOTE_STEPS:,}): a damaged or hostile file?")
    if piece.steps > MAX_PIECE_STEPS:
        raise Skip(f"{piece.steps:,} steps long (the limit is {MAX_PIECE_STEPS:,}, about an hour): split it")


def collect(files: list[Path], read: Callable[[Path], Piece], warn: Callable[[str], None]
            ) -> tuple[list[Piece], list[dict[str, str]]]:
    """Read every file; unusable ones are skipped with a reason (returned and printed)."""
    pieces, skipped = [], []
    for f in files:
        try:
            piece = read(f)
            _check_length(piece)
            pieces.append(piece)
        except Skip as e:
            skipped.append({"file": str(f), "reason": str(e)})
            warn(f"skipped {f}: {e}")
    if skipped:
        warn(f"{len(skipped)} of {len(files)} file(s) skipped")
    return pieces, skipped
