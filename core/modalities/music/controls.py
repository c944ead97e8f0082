"""A musician's controls on the music decoder (numpy only): key and scale lock, register, density
(notes per bar) and sampling temperature.

Every control acts on the note *probabilities* before they become notes, never on the notes
after: a pitch outside the scale or the register gets probability 0, so it can never cross a
threshold, and what sounds instead is whatever in-scale pitch the model rated next. With a
density target the threshold of each bar and track is searched so that about that many notes
start; a locked key therefore keeps its bar's note count by letting the next-best in-scale notes
through, instead of leaving holes where out-of-scale notes were.

Temperature. The pack's graph has no temperature input (it outputs per-pitch probabilities, not
logits to sample from), so temperature lives here: with ``T > 0`` each pitch's on/off decision
becomes a draw that is on with probability ``sigmoid((logit p - logit threshold) / T)``: ``T -> 0``
is the deterministic threshold, ``T = 1`` at threshold 0.5 samples the model's own
probabilities, larger is wilder. It is done by adding ``T`` times logistic noise to the logits
(one draw per track, pitch and *beat*, so a note is not chopped up by fresh noise every step),
seeded per item from the generation seed: the same seed gives the same notes.

Drum tracks are never masked: their keys are instruments, not pitches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click
import numpy as np

from ...errors import GanforgeError

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}

#: Intervals above the tonic. The order is the program-change order (see :func:`from_program`).
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic-minor": (0, 2, 3, 5, 7, 9, 11),  # the ascending (jazz) form
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),  # major pentatonic
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
ALIASES = {"natural-minor": "minor", "ionian": "major", "aeolian": "minor", "major-pentatonic": "pentatonic"}
SCALE_CHOICES = tuple(SCALES) + tuple(ALIASES)
#: Which scales an estimated key's mode keeps (``--key follow``): a major estimate keeps a
#: major-flavoured --scale, a minor one a minor-flavoured one; otherwise plain major or minor.
MAJOR_FAMILY = {"major", "mixolydian", "pentatonic", "chromatic"}
MINOR_FAMILY = {"minor", "harmonic-minor", "melodic-minor", "dorian", "minor-pentatonic", "blues", "chromatic"}

# Krumhansl & Kessler's probe-tone profiles (1982), as used by the Krumhansl-Schmuckler algorithm.
KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

MIN_THRESHOLD, MAX_THRESHOLD = 0.02, 0.98  # the density search's bounds (never 0: p = 0 must stay off)
HOLD = 0.6  # as the codec: a sounding note holds while above HOLD * threshold


def parse_key(text: str) -> int:
    """``"D"``, ``"f#"``, ``"Bb"``, ``"C#m"`` (a trailing m is ignored: --scale says the mode) ->
    pitch class 0..11."""
    t = text.strip()
    if t.endswith("m") and len(t) > 1:
        t = t[:-1]
    if not t or t[0].lower() not in _LETTERS or any(c not in "#b" for c in t[1:]):
        raise GanforgeError(f"--key {text!r}: expected a note name such as C, F#, Bb (or 'follow' for midi play)")
    return (_LETTERS[t[0].lower()] + t[1:].count("#") - t[1:].count("b")) % 12


def parse_scale(text: str) -> str:
    name = text.strip().lower().replace("_", "-").replace(" ", "-")
    name = ALIASES.get(name, name)
    if name not in SCALES:
        raise GanforgeError(f"--scale {text!r}: one of {', '.join(SCALES)}")
    return name


def parse_pitch(text: str | int) -> int:
    """A MIDI note number or a name with octave, C4 = 60 (``"C4"``, ``"F#2"``, ``"Bb-1"``)."""
    if isinstance(text, int) or str(text).strip().lstrip("-").isdigit():
        n = int(text)
    else:
        t = str(text).strip()
        i = 1
        while i < len(t) and t[i] in "#b":
            i += 1
        try:
            # not taken modulo 12: Cb4 is 59 and B#3 is 60, as the names say
            n = _LETTERS[t[0].lower()] + t[1:i].count("#") - t[1:i].count("b") + 12 * (int(t[i:]) + 1)
        except (KeyError, IndexError, ValueError):
            raise GanforgeError(f"pitch {text!r}: a MIDI number 0-127 or a name such as C4 (= 60), F#2") from None
    if not 0 <= n <= 127:
        raise GanforgeError(f"pitch {text!r}: outside MIDI's 0-127")
    return n


def key_name(tonic: int | None, scale: str) -> str:
    return "unlocked" if tonic is None or scale == "chromatic" else f"{NOTE_NAMES[tonic]} {scale}"


@dataclass
class NoteControls:
    """What shapes the decoding. ``tonic`` None (or scale chromatic): no key lock."""

    tonic: int | None = None
    scale: str = "major"
    lowest: int | None = None  # MIDI pitches, inclusive
    highest: int | None = None
    density: float | None = None  # notes starting per bar in each track; None: the threshold decides
    temperature: float = 0.0

    @property
    def locked(self) -> bool:
        return self.tonic is not None and self.scale != "chromatic"

    def pitch_classes(self) -> set[int]:
        if not self.locked:
            return set(range(12))
        return {(self.tonic + i) % 12 for i in SCALES[self.scale]}  # type: ignore[operator]

    def with_key(self, tonic: int | None, scale: str | None = None) -> NoteControls:
        return NoteControls(tonic, scale or self.scale, self.lowest, self.highest, self.density, self.temperature)


def from_options(options: dict[str, Any], defaults: dict[str, Any] | None = None, *,
                 allow_follow: bool = False) -> tuple[NoteControls, bool]:
    """The controls from generate/play options (``key``, ``scale``, ``lowest``, ``highest``,
    ``density``, ``temperature``), falling back to the pack's recorded ``defaults``; returns them
    and whether the key follows the player (``--key follow``)."""
    d = defaults or {}

    def pick(name: str) -> Any:
        v = options.get(name)
        return d.get(name) if v is None else v

    key, scale = pick("key"), pick("scale")
    follow = isinstance(key, str) and key.strip().lower() == "follow"
    if follow and not allow_follow:
        raise GanforgeError("--key follow listens to a player: it works with `ganforge midi play --listen`")
    scale_name = parse_scale(scale) if scale else "major"
    if scale and not key and not follow and scale_name != "chromatic":
        raise GanforgeError(f"--scale {scale}: give the key too (--key D --scale {scale_name})")
    tonic = parse_key(key) if key and not follow else None
    lowest = None if pick("lowest") is None else parse_pitch(pick("lowest"))
    highest = None if pick("highest") is None else parse_pitch(pick("highest"))
    if lowest is not None and highest is not None and lowest > highest:
        raise GanforgeError(f"--lowest {lowest} is above --highest {highest}")
    density = pick("density")
    if density is not None and not 0 < float(density) <= 64:
        raise GanforgeError(f"--density {density}: notes per bar must be in (0, 64]")
    temperature = float(pick("temperature") or 0.0)
    if not 0 <= temperature <= 10 or not np.isfinite(temperature):
        raise GanforgeError(f"--temperature {temperature:g}: must be in 0..10")
    return NoteControls(tonic, scale_name, lowest, highest, None if density is None else float(density),
                        temperature), follow


def from_program(program: int, current: NoteControls) -> NoteControls:
    """A program change picks a key: tonic ``program % 12`` (0 = C), scale number ``program // 12``
    in :data:`SCALES`' order (0 major, 1 minor, ... 9 chromatic); programs 120-127 change the
    tonic only."""
    index = program // 12
    return current.with_key(program % 12, list(SCALES)[index] if index < len(SCALES) else None)


def tonic_from_cc(value: int) -> int:
    """A key CC 0..127 in twelve equal zones, C .. B (a knob reaches every key)."""
    return min(value * 12 // 128, 11)


def pitch_mask(nc: NoteControls, low: int, pitches: int, drums: Sequence[bool]) -> np.ndarray:
    """``(tracks, pitches)`` bool: where a note may sound. Drum tracks are never masked."""
    midi = low + np.arange(pitches)
    ok = np.isin(midi % 12, sorted(nc.pitch_classes()))
    if nc.lowest is not None:
        ok &= midi >= nc.lowest
    if nc.highest is not None:
        ok &= midi <= nc.highest
    return np.array([np.ones(pitches, bool) if d else ok for d in drums])


def check_range(nc: NoteControls, low: int, pitches: int, drums: Sequence[bool]) -> None:
    """Refuse a register or key that leaves a melodic track no pitch at all (silence is not an answer)."""
    mask = pitch_mask(nc, low, pitches, drums)
    if not all(mask[t].any() for t, d in enumerate(drums) if not d):
        raise GanforgeError(f"the pack plays MIDI pitches {low}-{low + pitches - 1}; --lowest/--highest and the "
                            f"key ({key_name(nc.tonic, nc.scale)}) leave no pitch in that range")


def logistic_noise(seed: int, beats: int, tracks: int, pitches: int) -> np.ndarray:
    """``(beats, tracks, pitches)`` standard logistic draws for the temperature, from a stream of
    its own (not the pack's input draws). Beats lead, so the first ``k`` beats are the same
    whatever the length: a bar decoded alone sees the noise it sees inside the whole piece."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 0x7E4D])))
    return rng.logistic(size=(beats, tracks, pitches)).astype(np.float32)


def shaped_probabilities(prob: np.ndarray, nc: NoteControls, mask: np.ndarray, steps_per_beat: int,
                         noise: np.ndarray | None) -> np.ndarray:
    """``(..., tracks, steps, pitches)`` probabilities with the mask (0 outside) and, for
    ``temperature > 0``, the tempered noise applied: what thresholding sees."""
    p = np.where(mask[:, None, :], np.asarray(prob, np.float32), 0.0).astype(np.float32)
    if nc.temperature <= 0 or noise is None:
        return p
    steps = p.shape[-2]
    beats = -(-steps // steps_per_beat)
    n = np.repeat(np.moveaxis(noise[:beats], 0, -2), steps_per_beat, axis=-2)[..., :steps, :]  # (tracks, steps, P)
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-np.minimum(p, 1 - 1e-7))
    x = 1.0 / (1.0 + np.exp(-(logit + nc.temperature * n)))
    return np.where(p > 0, x, 0.0).astype(np.float32)


def bar_thresholds(p: np.ndarray, target: float, steps_per_bar: int, min_steps: int, threshold_notes: Any,
                   iterations: int = 12) -> np.ndarray:
    """``(..., tracks, steps, 1)`` thresholds: per bar and track, the one whose decoding starts
    closest to ``target`` notes (bisection; the onset count falls as the threshold rises)."""
    *lead, tracks, steps, pitches = p.shape
    bars = steps // steps_per_bar
    q = p.reshape(*lead, tracks, bars, steps_per_bar, pitches)
    lo = np.full((*lead, tracks, bars), MIN_THRESHOLD, np.float32)
    hi = np.full_like(lo, MAX_THRESHOLD)
    best, best_err = np.full_like(lo, 0.5), np.full_like(lo, np.inf)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        on = threshold_notes(q, mid[..., None, None], min_steps)
        starts = (on & ~np.concatenate([np.zeros_like(on[..., :1, :]), on[..., :-1, :]], axis=-2)).sum(axis=(-2, -1))
        err = np.abs(starts - target)
        better = err < best_err
        best, best_err = np.where(better, mid, best), np.where(better, err, best_err)
        too_few = starts < target
        hi, lo = np.where(too_few, mid, hi), np.where(too_few, lo, mid)
    return np.repeat(best, steps_per_bar, axis=-1)[..., None]


def shape_notes(prob: np.ndarray, nc: NoteControls, *, low: int, drums: Sequence[bool], steps_per_beat: int,
                threshold: float, min_steps: int, threshold_notes: Any, velocities: Any,
                noise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(..., tracks, steps, pitches)`` probabilities -> (sounding bool, uint8 velocities) under
    the controls: masked, tempered, thresholded (per bar with a density target)."""
    prob = np.asarray(prob, np.float32)
    mask = pitch_mask(nc, low, prob.shape[-1], drums)
    p = shaped_probabilities(prob, nc, mask, steps_per_beat, noise)
    spb = 4 * steps_per_beat
    thr: Any = threshold
    if nc.density is not None and prob.shape[-2] % spb == 0:
        thr = bar_thresholds(p, nc.density, spb, min_steps, threshold_notes)
    on = threshold_notes(p, thr, min_steps)
    on &= mask[:, None, :]  # by construction already; kept as the guarantee the tests rely on
    return on, velocities(np.where(mask[:, None, :], prob, 0.0), on)


def estimate_key(durations: Iterable[float]) -> tuple[int, str, float] | None:
    """Krumhansl-Schmuckler: ``(tonic, "major" | "minor", correlation)`` of a pitch-class duration
    histogram (12 values), or None when nothing (or one flat colour) was played."""
    h = np.asarray(list(durations), np.float64)
    if h.shape != (12,) or h.sum() <= 0 or np.allclose(h, h[0]):
        return None
    best: tuple[int, str, float] | None = None
    for mode, profile in (("major", KS_MAJOR), ("minor", KS_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(h, np.roll(profile, tonic))[0, 1])
            if best is None or r > best[2]:
                best = (tonic, mode, r)
    return best


def follow_scale(mode: str, wanted: str | None) -> str:
    """The scale to lock after an estimate: the user's --scale when it fits the mode, else the mode."""
    family = MAJOR_FAMILY if mode == "major" else MINOR_FAMILY
    return wanted if wanted in family and wanted != "chromatic" else mode


#: ``ganforge generate`` options (``--temperature`` is shared with text packs: one option, each
#: codec reads it its own way, so it keeps the text codec's type and default).
GENERATE_OPTIONS: list[click.Option] = [
    click.Option(["--key"], default=None, metavar="NOTE",
                 help="Music: lock to this key (C, F#, Bb...): pitches outside --scale are masked before "
                      "decoding, so the model's next-best in-scale note sounds."),
    click.Option(["--scale"], type=click.Choice(SCALE_CHOICES, case_sensitive=False), default=None,
                 help="Music: scale of --key (default major)."),
    click.Option(["--lowest"], default=None, metavar="PITCH",
                 help="Music: lowest pitch of melodic tracks (MIDI number or name, C4 = 60)."),
    click.Option(["--highest"], default=None, metavar="PITCH", help="Music: highest pitch of melodic tracks."),
    click.Option(["--density"], type=click.FloatRange(0, 64, min_open=True), default=None, metavar="N",
                 help="Music: about N notes starting per bar in each track (the threshold is searched per "
                      "bar; default: --threshold decides)."),
    click.Option(["--temperature"], type=float, default=None, metavar="T",
                 help="Text: sampling temperature (default 1; lower is safer, higher wilder). Music: 0 "
                      "(default) thresholds the note probabilities; T > 0 samples them (1: the model's own "
                      "odds), seeded by --seed."),
]

__all__ = ["NOTE_NAMES", "GENERATE_OPTIONS", "NoteControls", "SCALES", "SCALE_CHOICES", "bar_thresholds", "check_range",
           "estimate_key", "follow_scale", "from_options", "from_program", "key_name", "logistic_noise",
           "parse_key", "parse_pitch", "parse_scale", "pitch_mask", "shape_notes", "shaped_probabilities",
           "tonic_from_cc"]
