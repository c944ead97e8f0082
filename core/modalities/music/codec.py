"""Music codec: the runtime side of the music modality (numpy + mido, torch-free).

The pack outputs note probabilities ``(N, tracks, bars * steps_per_bar, pitches)`` in [0, 1].
:func:`decode` turns them into notes with hysteresis (a note starts above ``threshold`` and
holds while above ``0.6 * threshold``, so a dip does not cut it in two — MuseGAN's fragmented
notes came from thresholding each step alone), fills one-step gaps, drops unconfident one-step
blips, and gives each note a velocity from its probability. The result is a :class:`Rolls`
array of velocities (0 = silent) that carries the pack's decoder settings, so :func:`write` can
make type-1 MIDI files (one track per voice, GM programs, drums on channel 10), a piano-roll PNG
(``preview``) and, when fluidsynth and a GM soundfont are installed, a WAV (``audio``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ...atomic import write_atomic
from ...codec import Codec
from ...errors import GanforgeError, PackError
from ...pack import PackMeta
from . import controls, render, variants
from .midi_files import DEFAULT_BPM, condition_from_midi, fold, notes, to_midi

DEFAULT_THRESHOLD = 0.5
HOLD = 0.6  # a sounding note holds while its probability stays above HOLD * threshold
BLIP_KEEP = 0.8  # a one-step note survives only with at least this probability


@dataclass
class Settings:
    steps_per_beat: int
    bars: int
    low: int
    pitches: int
    names: list[str]
    programs: list[int]
    drums: list[bool]
    threshold: float = DEFAULT_THRESHOLD  # the pack's starting note threshold
    min_note_steps: int = 1  # unconfident notes shorter than this are dropped

    @property
    def tracks(self) -> int:
        return len(self.names)

    @property
    def steps_per_bar(self) -> int:
        return 4 * self.steps_per_beat


def settings(meta: PackMeta, source: str = "pack") -> Settings:
    d = meta.decoder
    try:
        s = Settings(int(d["steps_per_beat"]), int(d["bars"]), int(d["low"]), int(d["pitches"]),
                     [str(n) for n in d["track_names"]], [int(p) for p in d["programs"]],
                     [bool(x) for x in d["drums"]], float(d.get("threshold", DEFAULT_THRESHOLD)),
                     int(d.get("min_note_steps", 1)))
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise PackError(f"{source}: music decoder settings are incomplete or malformed ({e})") from None
    if not (s.tracks and len(s.programs) == s.tracks == len(s.drums)):
        raise PackError(f"{source}: music decoder: track names, programs and drum flags differ in length")
    if not 1 <= s.steps_per_beat <= 96 or s.pitches < 1 or s.low < 0 or s.low + s.pitches > 128:
        raise PackError(f"{source}: music decoder: bad pitch range or steps per beat")
    if s.tracks > 16 or not 1 <= s.bars <= 4096 or not all(0 <= p <= 127 for p in s.programs):
        # MIDI has 16 channels and 128 programs; a hand-edited pack must not size buffers by whim
        raise PackError(f"{source}: music decoder: at most 16 tracks, 1-4096 bars and programs 0-127")
    if not 0 < s.threshold < 1 or not 1 <= s.min_note_steps <= 4 * 96:
        # hosts read both as they play (the MIDI bridge's first bars, the density control)
        raise PackError(f"{source}: music decoder: threshold must be in (0, 1) and min_note_steps in 1..384")
    return s


def pack_controls(meta: PackMeta) -> dict[str, Any]:
    """The controls' defaults the pack records (``decoder.controls``: key, scale, lowest,
    highest, density, temperature); an option given by the user wins over each."""
    d = meta.decoder.get("controls") or {}
    return dict(d) if isinstance(d, dict) else {}


def validate(meta: PackMeta, source: str = "pack") -> None:
    s = settings(meta, source)
    try:
        if not isinstance(meta.decoder.get("controls", {}), (dict, type(None))):
            raise GanforgeError("it is not an object")
        nc, _ = controls.from_options({}, pack_controls(meta))
        controls.check_range(nc, s.low, s.pitches, s.drums)
    except (GanforgeError, TypeError, ValueError) as e:
        raise PackError(f"{source}: music decoder controls: {e}") from None
    if "condition" not in {s.name for s in meta.inputs}:
        raise PackError(f"{source}: a music pack needs a 'condition' input (the previous bar)")


class Rolls(np.ndarray):
    """``(N, tracks, steps, pitches)`` uint8 velocities (0 = silent) with ``.settings``."""

    settings: Settings | None

    def __new__(cls, array: np.ndarray, settings: Settings) -> Rolls:
        obj = np.asarray(array, np.uint8).view(cls)
        obj.settings = settings
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.settings = getattr(obj, "settings", None)


# ---- dims ------------------------------------------------------------------------------------------
def resolve_dims(meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
    bars = options.get("bars") or settings(meta).bars
    if int(bars) < 1 or int(bars) > 4096:
        raise GanforgeError(f"--bars {bars}: must be in 1..4096")
    return {"bars": int(bars)}


def output_bytes(meta: PackMeta, dims: dict[str, int], count: int) -> int:
    s = settings(meta)
    return count * s.tracks * dims["bars"] * s.steps_per_bar * s.pitches * 4


# ---- options -> inputs ----------------------------------------------------------------------------
def scalars(meta: PackMeta, options: dict[str, Any]) -> dict[str, Any]:
    """Host-supplied inputs from the generate options: ``continue_from`` (a MIDI file) -> ``condition``."""
    path = options.get("continue_from")
    return {} if not path else {"condition": condition_from_midi(path, settings(meta))}


# ---- decoding --------------------------------------------------------------------------------------
def threshold_notes(prob: np.ndarray, threshold: float | np.ndarray = DEFAULT_THRESHOLD,
                    min_steps: int = 1) -> np.ndarray:
    """``(..., steps, pitches)`` probabilities -> bool sounding steps: hysteresis, one-step gaps
    filled, and unconfident notes shorter than ``min_steps`` (and one-step ones) dropped.
    ``threshold`` may be an array broadcasting to ``prob`` (a density target's per-bar thresholds)."""
    thr_arr = np.asarray(threshold, np.float32)
    if not (np.all(thr_arr > 0.0) and np.all(thr_arr < 1.0)):
        raise GanforgeError(f"threshold {float(np.min(thr_arr)):g}..{float(np.max(thr_arr)):g} must be in (0, 1)")
    p = np.moveaxis(np.asarray(prob, np.float32), -2, -1)  # (..., pitches, steps)
    thr = np.moveaxis(np.broadcast_to(thr_arr, np.shape(prob)), -2, -1) if thr_arr.ndim else thr_arr
    on = np.zeros(p.shape, bool)
    prev = np.zeros(p.shape[:-1], bool)
    for t in range(p.shape[-1]):
        th = thr[..., t] if thr.ndim else thr
        prev = (p[..., t] >= th) | (prev & (p[..., t] >= HOLD * th))
        on[..., t] = prev
    # one-step gaps inside a note whose probability did not collapse: keep the note whole
    gap_thr = thr[..., 1:-1] if thr.ndim else thr
    gap = ~on[..., 1:-1] & on[..., :-2] & on[..., 2:] & (p[..., 1:-1] >= HOLD * gap_thr / 2)
    on[..., 1:-1] |= gap
    # notes shorter than the data's shortest usual note (at least: one-step notes) that were never
    # confident are noise, not notes
    rows, prob_rows = on.reshape(-1, on.shape[-1]), p.reshape(-1, p.shape[-1])
    d = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts, ends = np.nonzero(d == 1), np.nonzero(d == -1)[1]
    shortest = max(int(min_steps), 2)
    for r, a, b in zip(starts[0], starts[1], ends, strict=True):
        if b - a < shortest and prob_rows[r, a:b].max() < BLIP_KEEP:
            rows[r, a:b] = False
    return np.moveaxis(rows.reshape(on.shape), -1, -2)


def velocities(prob: np.ndarray, on: np.ndarray) -> np.ndarray:
    """uint8 velocities (0 = silent): 40..120 from each step's probability."""
    return np.where(on, np.clip(40 + 80 * np.asarray(prob, np.float32), 1, 127), 0).astype(np.uint8)


def note_controls(meta: PackMeta, options: dict[str, Any]) -> controls.NoteControls | None:
    """The options' key/scale/register/density/temperature over the pack's defaults; None when
    none is active (the plain threshold decoder runs, bit for bit as before they existed)."""
    s = settings(meta)
    nc, _ = controls.from_options(options, pack_controls(meta))
    if not (nc.locked or nc.lowest is not None or nc.highest is not None or nc.density is not None
            or nc.temperature > 0):
        return None
    controls.check_range(nc, s.low, s.pitches, s.drums)
    return nc


def shape(prob: np.ndarray, nc: controls.NoteControls, s: Settings, threshold: float, min_steps: int,
          noise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One item's ``(tracks, steps, pitches)`` probabilities -> (sounding, velocities) under the
    controls (see :mod:`.controls`); the MIDI bridge calls it bar by bar."""
    return controls.shape_notes(prob, nc, low=s.low, drums=s.drums, steps_per_beat=s.steps_per_beat,
                                threshold=threshold, min_steps=min_steps, threshold_notes=threshold_notes,
                                velocities=velocities, noise=noise)


def decode(outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> Rolls:
    prob = outputs[0]
    s = settings(meta)
    if prob.ndim != 4 or prob.shape[1] != s.tracks or prob.shape[3] != s.pitches:
        raise PackError(f"music output has shape {prob.shape}; the decoder expects (N, {s.tracks}, steps, {s.pitches})")
    threshold = float(options.get("threshold") or DEFAULT_THRESHOLD)
    min_steps = int(options.get("min_steps") or s.min_note_steps)
    nc = note_controls(meta, options)
    if nc is None:
        on = threshold_notes(prob, threshold, min_steps)
        return Rolls(velocities(prob, on), s)
    # the temperature's noise is seeded per item by the generation seed (``feeds`` records them)
    seeds = list(options.get("noise_seeds") or range(prob.shape[0]))
    beats = -(-prob.shape[2] // s.steps_per_beat)
    out = np.zeros(prob.shape, np.uint8)
    for i in range(prob.shape[0]):
        noise = (controls.logistic_noise(seeds[i % len(seeds)], beats, s.tracks, s.pitches)
                 if nc.temperature > 0 else None)
        out[i] = shape(prob[i], nc, s, threshold, min_steps, noise)[1]
    return Rolls(out, s)


# ---- interpolation, variations, seeded sampling ------------------------------------------------------
def feeds(runtime: Any, seed: int, count: int, dims: dict[str, int], values: dict[str, Any],
          options: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """``variations``: N moved copies of the seed (:mod:`.variants`). With a temperature the
    seeds are recorded for ``decode`` (``options["noise_seeds"]``) and the batch runs whole, so
    item ``i`` draws its notes from seed ``seed + i`` however the runtime would have split it."""
    n = options.get("variations")
    if n:
        options["noise_seeds"] = [seed] * int(n)  # one noise for all: variations differ by latents only
        return variants.variation_feeds(runtime, seed, count, int(n), float(options.get("variation_amount") or 0.15),
                                        dims, values)
    nc = note_controls(runtime.meta, options)
    if nc is None or nc.temperature <= 0:
        return None
    options["noise_seeds"] = [seed + i for i in range(count)]
    runtime.schedule(count, dims)
    return runtime.draw_inputs(seed, count, dims, values)


def compose(runtime: Any, seed: int, count: int, dims: dict[str, int], values: dict[str, Any],
            options: dict[str, Any]) -> list[np.ndarray] | None:
    """``interpolate=(A, B)``: one piece played bar by bar from seed A's latents to seed B's."""
    pair = options.get("interpolate")
    if not pair:
        return None
    if options.get("variations"):
        raise GanforgeError("--interpolate and --variations: one at a time")
    seed_a, seed_b = (int(x) for x in pair)
    meta, s = runtime.meta, settings(runtime.meta)
    nc = note_controls(meta, options) or controls.NoteControls()
    threshold = float(options.get("threshold") or DEFAULT_THRESHOLD)
    min_steps = int(options.get("min_steps") or s.min_note_steps)
    options["noise_seeds"] = [seed_a]
    bars = dims["bars"]
    noise = controls.logistic_noise(seed_a, bars * 4, s.tracks, s.pitches) if nc.temperature > 0 else None

    def decode_bar(prob: np.ndarray, index: int) -> np.ndarray:
        part = None if noise is None else noise[index * 4:]
        return shape(prob[0], nc, s, threshold, min_steps, part)[0]

    return variants.interpolation_outputs(runtime, seed_a, seed_b, count, bars, values, decode_bar)


# ---- MIDI files (reading and writing them: midi_files.py) ------------------------------------------
def write(decoded: Rolls, out: Path, options: dict[str, Any]) -> list[Path]:
    """Type-1 MIDI files (``out`` a .mid file, with ``_000`` suffixes for several, or a folder);
    with ``preview`` a piano-roll PNG beside each, with ``audio`` a WAV (fluidsynth)."""
    s = getattr(decoded, "settings", None)
    if s is None:
        raise GanforgeError("music write needs decoded rolls from this codec (they carry the pack's settings)")
    out = Path(out)
    n = decoded.shape[0]
    if out.is_dir():
        targets = [out / f"music_{i:03d}.mid" for i in range(n)]
    else:
        if not out.parent.is_dir():
            raise GanforgeError(f"{out}: folder {out.parent} does not exist")
        if out.suffix.lower() not in (".mid", ".midi"):
            raise GanforgeError(f"{out}: music is written as .mid files")
        targets = [out] if n == 1 else [out.with_name(f"{out.stem}_{i:03d}{out.suffix}") for i in range(n)]
    audio = options.get("audio")
    if audio is not None:
        audio = Path(audio)
        if audio.suffix.lower() != ".wav":
            raise GanforgeError(f"--audio {audio}: give a .wav file name")
        render.find_soundfont()  # before writing anything: a missing synth leaves nothing behind
    bpm = float(options.get("bpm") or DEFAULT_BPM)
    written = []
    for i, target in enumerate(targets):
        mid = to_midi(np.asarray(decoded[i]), s, bpm)
        write_atomic(target, mid.save)
        written.append(target)
        if options.get("preview"):
            png = target.with_suffix(".png")
            render.save_pianoroll(np.asarray(decoded[i]), s, png)
            written.append(png)
        if audio is not None:
            wav = audio if n == 1 else audio.with_name(f"{audio.stem}_{i:03d}.wav")
            render.render_wav(target, wav)
            written.append(wav)
    if options.get("variations"):  # every variation's piano-roll on one sheet, top to bottom
        sheet = targets[0].with_name(f"{out.stem if not out.is_dir() else 'music'}_sheet.png")
        render.save_sheet([np.asarray(decoded[i]) for i in range(n)], s, sheet)
        written.append(sheet)
    return written


# ---- evaluation ------------------------------------------------------------------------------------
def load_reference(path: str | Path, meta: PackMeta) -> Any:
    """The real pieces to compare a pack with, read at the pack's resolution and track mode."""
    from . import corpus

    s = settings(meta)
    return corpus.load(path, {"steps_per_beat": s.steps_per_beat, "tracks": "single" if s.tracks == 1 else "tracks",
                              "max_tracks": max(s.tracks, 1)})


GENERATE_OPTIONS: list[click.Option] = [
    click.Option(["--bars"], type=click.IntRange(1, 4096), default=None, metavar="N",
                 help="Music: bars to generate (default: the pack's training length)."),
    click.Option(["--bpm"], type=click.FloatRange(20, 400), default=DEFAULT_BPM, show_default=True,
                 help="Music: tempo written into the MIDI file."),
    click.Option(["--threshold"], type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULT_THRESHOLD,
                 show_default=True, help="Music: note probability that starts a note (lower: denser)."),
    click.Option(["--continue", "continue_from"], type=click.Path(path_type=Path, dir_okay=False), default=None,
                 metavar="IN.mid", help="Music: continue the last bar of this MIDI file (the pack's condition)."),
    *controls.GENERATE_OPTIONS,
    # shared with image packs (the first registration's help is shown): same type, same meaning
    click.Option(["--interpolate"], type=click.IntRange(min=0), nargs=2, default=None, metavar="SEED_A SEED_B",
                 help="Music: one piece of --bars bars whose latents move from SEED_A's to SEED_B's (slerp), "
                      "bar by bar."),
    click.Option(["--variations"], type=click.IntRange(1, 256), default=None, metavar="N",
                 help="Music: N variations of --seed (small latent moves), one MIDI file each plus a "
                      "piano-roll sheet (<stem>_sheet.png)."),
    click.Option(["--variation-amount"], type=click.FloatRange(0, 1, min_open=True), default=0.15,
                 show_default=True, help="Music: how far each variation moves (fraction of the way to an "
                                         "unrelated draw)."),
    click.Option(["--preview/--no-preview"], default=False, help="Music: also write a piano-roll PNG per file."),
    click.Option(["--audio"], type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="OUT.wav",
                 help="Music: render a WAV with fluidsynth and a General-MIDI soundfont (if installed)."),
]

#: ``ganforge train music`` options; their values go to the run's data options (see
#: :mod:`.corpus`).
TRAIN_OPTIONS: list[click.Option] = [
    click.Option(["--steps-per-beat"], type=click.Choice(["1", "2", "4", "8"]), default=None,
                 callback=lambda ctx, param, v: None if v is None else int(v),
                 help="Grid resolution (default 4: sixteenth notes)."),
    click.Option(["--bars"], type=click.IntRange(1, 64), default=None, help="Bars per training sample (default 4)."),
    click.Option(["--tracks"], type=click.Choice(["tracks", "single"]), default=None,
                 help="'tracks' (default): one track per MIDI track, drums apart; 'single': one piano track."),
    click.Option(["--low"], type=click.IntRange(0, 127), default=None, help="Lowest MIDI pitch (default: from the data)."),
    click.Option(["--pitches"], type=click.IntRange(1, 128), default=None, help="Pitch count (default: from the data)."),
]


class MusicCodec(Codec, functions=globals()):
    """The music codec: this module's functions named like :class:`Codec`'s methods, and its
    ``GENERATE_OPTIONS`` and ``TRAIN_OPTIONS`` (``functions=globals()``), plus the note-level
    steps a live host (the MIDI bridge) runs bar by bar: ``settings``, ``threshold_notes``,
    ``velocities``, ``fold``, ``note_controls``, ``shape`` and the ``controls`` module, reached
    through ``runtime.codec``."""

    output_kind = "notes"

    settings = staticmethod(settings)
    note_controls = staticmethod(note_controls)
    shape = staticmethod(shape)
    controls = controls  # parsing, key estimation and the control messages' meaning, for hosts
    threshold_notes = staticmethod(threshold_notes)
    velocities = staticmethod(velocities)
    fold = staticmethod(fold)


__all__ = ["GENERATE_OPTIONS", "MusicCodec", "Rolls", "Settings", "TRAIN_OPTIONS", "compose", "condition_from_midi",
           "decode", "feeds", "fold", "load_reference", "note_controls", "notes", "output_bytes", "pack_controls",
           "resolve_dims", "scalars", "settings", "shape", "threshold_notes", "to_midi", "validate", "velocities",
           "write"]
