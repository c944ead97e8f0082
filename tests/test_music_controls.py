"""A musician's controls in `ganforge generate` (key/scale lock, register, density, temperature,
interpolation, variations), checked on the MIDI files' bytes as mido reads them back.

The pack is an untrained (but really exported) music generator: its probabilities sit near 0.5
all over the keyboard, so every pitch class would sound without the lock, and a leak shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
from music_pack import LOW, PITCHES, music_pack

from ganforge.core.errors import GanforgeError
from ganforge.core.modalities.music import controls


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_pack(tmp_path_factory.mktemp("controls"))


@pytest.fixture(scope="module")
def rt(pack: Path) -> Any:
    from ganforge.core import runtime

    return runtime.load(pack, threads=1)


def midi_notes(path: Path) -> list[tuple[int, int, int]]:
    """(absolute tick, channel, pitch) of every note-on in a written file, from its bytes."""
    out = []
    for track in mido.MidiFile(str(path)).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                out.append((tick, msg.channel, msg.note))
    return out


def write_and_read(rt: Any, decoded: Any, out: Path, **options: Any) -> list[list[tuple[int, int, int]]]:
    return [midi_notes(p) for p in rt.write(decoded, out, **options) if p.suffix == ".mid"]


def test_key_lock_never_sounds_out_of_scale(rt: Any, tmp_path: Path) -> None:
    """Every scale, a key each, 12 seeds each, plain, dense and sampled: not one note outside."""
    for k, scale in enumerate(controls.SCALES):
        tonic = (5 * k) % 12
        allowed = {(tonic + i) % 12 for i in controls.SCALES[scale]}
        for extra in ({}, {"density": 10.0}, {"temperature": 1.5}):
            folder = tmp_path / f"{scale}_{len(extra)}_{sorted(extra)}"
            folder.mkdir()
            options = {"bars": 2, "key": controls.NOTE_NAMES[tonic], "scale": scale, **extra}
            files = write_and_read(rt, rt.generate(7 * k, 12, **options), folder, **options)
            melodic = [p for notes in files for _, ch, p in notes if ch != 9]
            assert melodic, (scale, extra)
            assert {p % 12 for p in melodic} <= allowed, (scale, extra, {p % 12 for p in melodic} - allowed)
    # without the lock the same pack plays (nearly) every pitch class: the lock is what keeps them out
    free = write_and_read(rt, rt.generate(0, 12, bars=2), tmp_path / "free.mid")
    assert len({p % 12 for notes in free for _, ch, p in notes if ch != 9}) >= 10


def test_lock_masks_before_decoding_so_in_scale_notes_replace_masked_ones(rt: Any) -> None:
    """With a density target the locked bar keeps its note count: the next-best in-scale
    pitches sound where out-of-scale ones were masked (a filter after decoding would thin it)."""
    free = rt.generate(3, 8, bars=2, density=8.0)
    locked = rt.generate(3, 8, bars=2, density=8.0, key="D", scale="minor-pentatonic")
    melodic_starts = [int((np.diff(np.pad(r[:, 0] > 0, ((0, 0), (1, 0), (0, 0))).astype(int), axis=1) == 1).sum())
                      for r in (free, locked)]
    assert melodic_starts[1] >= 0.8 * melodic_starts[0], melodic_starts
    # and the masked probabilities can never cross any threshold: no note of a masked pitch at all
    nc = controls.NoteControls(2, "minor-pentatonic")
    mask = controls.pitch_mask(nc, LOW, PITCHES, [False, True])
    assert not (locked[:, 0] > 0)[..., ~mask[0]].any()


def test_register_limits_melodic_tracks_only(rt: Any, tmp_path: Path) -> None:
    options = {"bars": 2, "lowest": "C4", "highest": 66}
    files = write_and_read(rt, rt.generate(1, 8, **options), tmp_path, **options)
    melodic = [p for notes in files for _, ch, p in notes if ch != 9]
    drums = [p for notes in files for _, ch, p in notes if ch == 9]
    assert melodic and min(melodic) >= 60 and max(melodic) <= 66
    assert drums and (min(drums) < 60 or max(drums) > 66)  # drum keys are instruments: untouched


def test_density_targets_notes_per_bar(rt: Any, tmp_path: Path) -> None:
    counts = {}
    for target in (2.0, 12.0):
        options = {"bars": 4, "density": target}
        files = write_and_read(rt, rt.generate(5, 6, **options), tmp_path / f"d{int(target)}", **options) \
            if (tmp_path / f"d{int(target)}").mkdir() is None else []
        counts[target] = np.mean([sum(ch == 0 for _, ch, _ in notes) / 4 for notes in files])
    assert counts[2.0] == pytest.approx(2.0, abs=1.5)
    assert counts[12.0] == pytest.approx(12.0, rel=0.35)
    assert counts[12.0] > 3 * counts[2.0]


def test_temperature_samples_reproducibly(rt: Any) -> None:
    plain = rt.generate(4, 4, bars=2)
    assert np.array_equal(rt.generate(4, 4, bars=2, temperature=0.0), plain)  # 0: the threshold, bit for bit
    hot = rt.generate(4, 4, bars=2, temperature=1.0)
    assert np.array_equal(rt.generate(4, 4, bars=2, temperature=1.0), hot)  # seeded by --seed
    assert np.array_equal(rt.generate(5, 1, bars=2, temperature=1.0)[0], hot[1])  # item i is seed + i
    changed = {t: float(np.mean((rt.generate(4, 4, bars=2, temperature=t) > 0) != (plain > 0))) for t in (0.3, 3.0)}
    assert 0 < changed[0.3] < changed[3.0]


def test_interpolation_ends_are_the_seeds(rt: Any, tmp_path: Path) -> None:
    from ganforge.core.modalities.music import codec, variants

    piece = rt.generate(0, 1, interpolate=(3, 9), bars=4)
    assert piece.shape[2] == 4 * 16
    # bar 0 is exactly seed 3's first bar (the probabilities; the notes too, but for the bar's
    # last step, where the decoder's gap filling sees the next bar)
    raw = rt.generate_raw(0, 1, interpolate=(3, 9), bars=4)[0]
    assert np.array_equal(raw[:, :, :16], rt.generate_raw(3, 1, bars=1)[0])
    assert np.array_equal(piece[0, :, :15], rt.generate(3, 1, bars=1)[0, :, :15])
    # the last bar runs on exactly seed 9's latents, continuing bar 2 as decoded
    seen: list[dict[str, np.ndarray]] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(rt, name)

        def run(self, feeds: dict[str, np.ndarray]) -> Any:
            seen.append(feeds)
            return rt.run(feeds)

    variants.interpolation_outputs(Spy(), 3, 9, 1, 4, {}, lambda p, i: codec.threshold_notes(p[0]))
    a, b = rt.draw_inputs(3, 1, {"bars": 1}), rt.draw_inputs(9, 1, {"bars": 1})
    for name in ("z", "z_tracks", "z_bars"):
        assert np.array_equal(seen[0][name], a[name]) and np.array_equal(seen[-1][name], b[name])
        assert not np.array_equal(seen[1][name], a[name])
    out = tmp_path / "interp.mid"
    proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(rt.path), "--interpolate",
                           "3", "9", "--bars", "4", "--key", "E", "-o", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {p % 12 for _, ch, p in midi_notes(out) if ch != 9} <= {(4 + i) % 12 for i in controls.SCALES["major"]}
    with pytest.raises(GanforgeError, match="--bars 2"):
        rt.generate(0, 1, interpolate=(3, 9), bars=1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 1.0 - (a & b).sum() / max((a | b).sum(), 1)


def test_variations_differ_but_stay_close(rt: Any, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(rt.path), "--seed", "6",
                           "--variations", "4", "--bars", "2", "-o", str(tmp_path / "v.mid")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["v_000.mid", "v_001.mid", "v_002.mid", "v_003.mid", "v_sheet.png"]
    from PIL import Image

    assert Image.open(tmp_path / "v_sheet.png").size[1] == 4 * PITCHES * 3 + 3 * 6  # four rolls, three gaps
    base = rt.generate(6, 1, bars=2)[0]
    var = rt.generate(6, 1, bars=2, variations=4)
    others = rt.generate(100, 8, bars=2)
    near = [jaccard(v, base) for v in var]
    far = np.median([jaccard(o, base) for o in others])
    assert all(d > 0 for d in near), near  # each variation differs from the seed ...
    assert max(near) < far, (near, far)  # ... and stays closer to it than other seeds are
    assert len({v.tobytes() for v in var}) == 4
    bytes_ = [(tmp_path / f"v_{i:03d}.mid").read_bytes() for i in range(4)]
    assert len(set(bytes_)) == 4


def test_bad_controls_are_one_line(pack: Path, tmp_path: Path) -> None:
    for args, text in ((["--scale", "minor"], "give the key too"), (["--key", "H"], "note name"),
                       (["--lowest", "70", "--highest", "60"], "above --highest"),
                       (["--lowest", "100"], "leave no pitch"), (["--key", "follow"], "--listen"),
                       (["--variations", "2", "--count", "2"], "--count")):
        proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(pack), *args,
                               "-o", str(tmp_path / "x.mid")], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and text in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_key_names_and_estimation() -> None:
    assert [controls.parse_key(k) for k in ("C", "c#", "Db", "Bb", "B#", "F#m")] == [0, 1, 1, 10, 0, 6]
    assert [controls.parse_pitch(p) for p in ("C4", "60", "Cb4", "A-1", "G9")] == [60, 60, 59, 9, 127]
    assert controls.from_program(14, controls.NoteControls()).scale == "minor"  # 12-23: minor keys
    assert controls.from_program(14, controls.NoteControls()).tonic == 2
    assert controls.tonic_from_cc(0) == 0 and controls.tonic_from_cc(127) == 11
    # Krumhansl-Schmuckler on scale-degree weights of D minor and E-flat major
    d_minor = np.zeros(12)
    d_minor[[2, 5, 9]] = 4
    d_minor[[4, 7, 10, 0]] = 1
    assert controls.estimate_key(d_minor)[:2] == (2, "minor")
    eb = np.zeros(12)
    eb[[3, 7, 10]] = 4
    eb[[5, 8, 0, 2]] = 1
    assert controls.estimate_key(eb)[:2] == (3, "major")
    assert controls.estimate_key(np.zeros(12)) is None
