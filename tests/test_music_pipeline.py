"""Music end to end: train (tiny) -> export -> `ganforge generate` a type-1 MIDI file read back by
pretty_midi and music21, a piano-roll PNG, a fluidsynth WAV that is not silent, `ganforge eval`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

TINY_MUSIC = {"z_dim": 8, "cond_dim": 8, "channels": 16, "d_channels": 16}


def _write_song(path: Path, bars: int, root: int) -> None:
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4)]))
    parts = {
        "melody": (0, 0, [(root + (i * 5) % 12, i * 96, 96) for i in range(bars * 4)]),  # quarters
        "bass": (1, 33, [(root - 24 + (i % 2) * 7, i * 384, 384) for i in range(bars)]),  # whole notes
        "drums": (9, 0, [(36 + (i % 2) * 2, i * 96, 48) for i in range(bars * 4)]),  # eighths on the beat
    }
    for name, (ch, program, notes) in parts.items():
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        if ch != 9:
            track.append(mido.Message("program_change", channel=ch, program=program))
        events = sorted([(s, 1, mido.Message("note_on", channel=ch, note=p, velocity=90)) for p, s, _ in notes]
                        + [(s + n, 0, mido.Message("note_off", channel=ch, note=p)) for p, s, n in notes],
                        key=lambda e: (e[0], e[1]))
        now = 0
        for at, _, msg in events:
            track.append(msg.copy(time=at - now))
            now = at
        mid.tracks.append(track)
    mid.save(path)


@pytest.fixture(scope="module")
def music_pack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model trained on three MIDI files, exported through the CLI."""
    from ganforge.core.commands.train import run_training
    from ganforge.core.training.config import TrainConfig

    root = tmp_path_factory.mktemp("music")
    data = root / "midi"
    data.mkdir()
    for i, key in enumerate((60, 62, 57)):
        _write_song(data / f"song{i}.mid", 6, key)
    cfg = TrainConfig(modality="music", family="musegan", data=str(data), out=str(root / "run"), steps=8, batch=4,
                      device="cpu", model=dict(TINY_MUSIC), sample_every=4, checkpoint_every=8, log_every=4,
                      augment=[], r1_every=4)
    run_training(cfg, resume=False, progress=False)
    pack = root / "music.onnx"
    proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "export", str(root / "run"), "-o", str(pack)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "data": data, "pack": pack, "run": root / "run"}


def ganforge(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ganforge.core.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_training_writes_piano_roll_samples(music_pack: dict[str, Path]) -> None:
    from PIL import Image

    samples = sorted((music_pack["run"] / "samples").glob("step_*.png"))
    assert samples, "no piano-roll previews written during training"
    assert Image.open(samples[-1]).size[0] == 4 * 16 * 3  # 4 bars of 16 steps, 3 px per step
    log = [json.loads(line) for line in (music_pack["run"] / "log.jsonl").read_text().splitlines()]
    assert any("stat_gap" in r and "QN" in r for r in log)


def test_pack_declares_the_condition_and_decoder(music_pack: dict[str, Path]) -> None:
    from ganforge.core import runtime

    rt = runtime.load(music_pack["pack"])
    specs = {s.name: s for s in rt.meta.inputs}
    assert specs["condition"].draw == "condition" and specs["z_bars"].shape[1] == "bars"
    d = rt.meta.decoder
    assert d["track_names"] == ["melody", "bass", "drums"] and d["programs"][:2] == [0, 33]
    assert d["drums"] == [False, False, True] and d["steps_per_beat"] == 4
    # a condition changes the answer (the host passes it; zeros = start from silence)
    cond = np.zeros(specs["condition"].shape[1:], np.float32)
    cond[0, :, 24 - 0] = 1.0
    a = rt.generate_raw(5, 1, scalars={"condition": cond})[0]
    b = rt.generate_raw(5, 1)[0]
    assert a.shape == b.shape and not np.allclose(a, b)


def test_generate_midi_read_by_other_tools(music_pack: dict[str, Path], tmp_path: Path) -> None:
    pretty_midi = pytest.importorskip("pretty_midi")
    out = tmp_path / "out.mid"
    proc = ganforge("generate", str(music_pack["pack"]), "--seed", "3", "--bars", "8", "--bpm", "96",
                    "--threshold", "0.3", "-o", str(out), "--preview")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out), str(out.with_suffix(".png"))]
    mid = mido.MidiFile(out)
    assert mid.type == 1 and len(mid.tracks) == 4  # tempo track + one per voice
    pm = pretty_midi.PrettyMIDI(str(out))
    assert pm.get_tempo_changes()[1][0] == pytest.approx(96.0)
    names = {i.name: i for i in pm.instruments}
    assert set(names) <= {"melody", "bass", "drums"} and names, "no notes decoded"
    if "bass" in names:
        assert names["bass"].program == 33
    if "drums" in names:
        assert names["drums"].is_drum
    bar = 4 * 60 / 96
    assert pm.get_end_time() <= 8 * bar + 1e-6
    for inst in pm.instruments:
        assert all(n.end > n.start and 1 <= n.velocity <= 127 for n in inst.notes)
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse(str(out))
    assert len(score.parts) == len(pm.instruments)
    # the same seed gives the same file; another seed another one
    again = tmp_path / "again.mid"
    assert ganforge("generate", str(music_pack["pack"]), "--seed", "3", "--bars", "8", "--bpm", "96",
                    "--threshold", "0.3", "-o", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.required
def test_audio_preview_is_not_silent(music_pack: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (.ci/run installs it)")
    out, wav = tmp_path / "a.mid", tmp_path / "a.wav"
    proc = ganforge("generate", str(music_pack["pack"]), "--seed", "1", "--bars", "2", "--threshold", "0.2",
                    "-o", str(out), "--audio", str(wav))
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(wav)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
        assert w.getframerate() == 44100 and w.getnframes() > 44100  # at least a second of sound
    assert np.sqrt(np.mean(frames ** 2)) > 100  # not silence


def test_bad_output_is_one_line_and_leaves_nothing(music_pack: dict[str, Path], tmp_path: Path) -> None:
    proc = ganforge("generate", str(music_pack["pack"]), "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and ".mid" in proc.stderr
    env_path = tmp_path / "nosynth"
    env_path.mkdir()
    proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "generate", str(music_pack["pack"]),
                           "-o", str(tmp_path / "y.mid"), "--audio", str(tmp_path / "y.wav")],
                          capture_output=True, text=True, timeout=120, env={"PATH": str(env_path)})
    assert proc.returncode == 2 and "fluidsynth" in proc.stderr
    assert not list(tmp_path.glob("y.*")) and not list(tmp_path.glob(".y*"))
    proc = ganforge("generate", str(music_pack["pack"]), "-o", str(tmp_path / "z.mid"), "--size", "64x64")
    assert proc.returncode == 2 and "does not apply to music packs" in proc.stderr


def test_int8_export_is_one_line(music_pack: dict[str, Path], tmp_path: Path) -> None:
    """Issue 17: --int8 of a non-texture run ended in the quantiser's traceback."""
    proc = ganforge("export", str(music_pack["run"]), "-o", str(tmp_path / "q.onnx"), "--int8")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
    assert "--int8 is for texture packs; this is a music model" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_eval_json(music_pack: dict[str, Path]) -> None:
    proc = ganforge("eval", str(music_pack["pack"]), "--data", str(music_pack["data"]), "--samples", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in ("EB", "UPC", "QN", "polyphony", "scale_consistency", "TD", "diversity"):
        assert key in result
    assert 0 < result["diversity"] <= 1 and 0 < result["details"]["diversity"]["reference"] <= 1
    qn = result["details"]["QN"]
    assert qn["qn_min_steps"] == 3 and len(qn["per_track"]) == 3 and qn["per_track"][2] is None
    assert qn["reference"] == pytest.approx(1.0)  # every note in the songs lasts 3+ steps
    assert result["details"]["EB"]["reference_per_track"] == [0.0, 0.0, 0.0]


def test_continue_a_midi_file(music_pack: dict[str, Path], tmp_path: Path) -> None:
    from ganforge.core import runtime
    from ganforge.core.modalities.music import codec

    rt = runtime.load(music_pack["pack"])
    song = music_pack["data"] / "song0.mid"
    cond = codec.condition_from_midi(song, codec.settings(rt.meta))
    assert cond.shape == (3, 16, rt.meta.decoder["pitches"])
    assert cond[0].sum() == 16 and cond[1].sum() == 16  # four quarters of melody, a whole bass note
    assert cond[2].sum() == 4 * 2  # four eighth-note drum hits (2 steps each)
    plain = rt.generate_raw(4, 1)[0]
    answered = rt.generate_raw(4, 1, continue_from=str(song))[0]
    assert not np.allclose(plain, answered)
    out = tmp_path / "cont.mid"
    proc = ganforge("generate", str(music_pack["pack"]), "--continue", str(song), "-o", str(out))
    assert proc.returncode == 0 and out.is_file(), proc.stderr
    proc = ganforge("generate", str(music_pack["pack"]), "--continue", str(tmp_path / "nope.mid"), "-o", str(out))
    assert proc.returncode == 2 and "nope.mid" in proc.stderr


def test_train_cli_music_options(music_pack: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = ganforge("train", "music", "--data", str(music_pack["data"]), "--out", str(out), "--steps", "2",
                    "--batch", "2", "--device", "cpu", "--no-progress", "--tracks", "single", "--bars", "2",
                    "--steps-per-beat", "2", "--sample-every", "100", timeout=300)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data_options"] == {"tracks": "single", "bars": 2, "steps_per_beat": 2}
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["data"]["track_names"] == ["piano"] and start["data"]["steps_per_beat"] == 2


# ---- against mode collapse -----------------------------------------------------------------------
def _family(**options: object):
    from ganforge.core.modalities.music.family import MusicFamily

    info = {"tracks": 1, "pitches": 24, "low": 48, "steps_per_beat": 4, "bars": 2}
    return MusicFamily({**TINY_MUSIC, **options}, info)


def test_untrained_generator_follows_its_latents() -> None:
    """With PyTorch's default init the output barely moved with the latents (spread 0.006) and
    every run collapsed to one phrase; the generator's own init keeps the latents' variation."""
    import torch

    family = _family(channels=64, z_dim=32, cond_dim=64)
    torch.manual_seed(0)
    G = family.build_generator()
    with torch.no_grad():
        out = G(**family.sample_inputs(16, torch.Generator().manual_seed(1), torch.device("cpu")))
    assert out.std(dim=0).mean() > 0.1
    assert (out.abs() > 0.99).float().mean() < 0.05  # tanh not saturated


def test_mode_seeking_penalty_punishes_a_generator_that_ignores_its_latents() -> None:
    import torch

    family = _family()
    inputs = family.sample_inputs(8, torch.Generator().manual_seed(0), torch.device("cpu"),
                                  labels=-torch.ones(8, 1, 16, 24))
    G = family.build_generator()
    fake = G(**inputs)
    live = family.generator_penalty(G, fake, inputs)
    live.backward()
    assert live.isfinite() and any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())

    class Constant(torch.nn.Module):
        def forward(self, z, z_tracks, z_bars, condition):  # noqa: ANN001, ANN201
            return torch.zeros(z.shape[0], 1, 16 * z_bars.shape[1], 24) + 0 * z.sum()

    dead = family.generator_penalty(Constant(), Constant()(**inputs), inputs)
    assert dead > 100 * live.detach()
    assert _family(mode_seeking=0.0).generator_penalty(G, fake, inputs) is None


def test_music_training_resumes_exactly(tmp_path: Path) -> None:
    """The mode-seeking pass draws nothing of its own: N + resume + N equals 2N bit for bit."""
    import torch

    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    data = tmp_path / "midi"
    data.mkdir()
    for i, key in enumerate((60, 62)):
        _write_song(data / f"song{i}.mid", 6, key)

    def cfg(out: str, steps: int) -> TrainConfig:
        return TrainConfig(modality="music", family="musegan", data=str(data), out=str(tmp_path / out), steps=steps,
                           batch=4, device="cpu", model=dict(TINY_MUSIC), sample_every=100, checkpoint_every=100,
                           log_every=100, augment=[], r1_every=2)

    train(cfg("straight", 6), progress=False)
    train(cfg("halves", 3), progress=False)
    train(cfg("halves", 6), resume=True, progress=False)
    a = ckpt.load(ckpt.list_checkpoints(tmp_path / "straight")[-1])[0]
    b = ckpt.load(ckpt.list_checkpoints(tmp_path / "halves")[-1])[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_pack_records_the_threshold_its_checkpoint_chose(music_pack: dict[str, Path]) -> None:
    """Each evaluation picks the note threshold that matches the real batch's voices; the
    exported checkpoint's choice is the pack's decoder threshold (the last one here)."""
    from ganforge.core import runtime

    log = [json.loads(line) for line in (music_pack["run"] / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if r.get("event") == "sample"]
    assert evals and all(0.3 <= r["threshold"] <= 0.9 for r in evals)
    assert runtime.load(music_pack["pack"]).meta.decoder["threshold"] == round(evals[-1]["threshold"], 3)


@pytest.mark.parametrize(("voices", "lowest", "highest"), [(3, 0.36, 0.8), (6, 0.3, 0.35)])
def test_threshold_calibration_matches_the_voices(voices: int, lowest: float, highest: float) -> None:
    """Three pitches held at p=0.8 and three at p=0.35: asked for three voices the calibration
    drops the unsure three (a threshold above 0.35: a note starts at the threshold), asked for six it
    keeps them."""
    from ganforge.core.metrics.music import mean_of, polyphony
    from ganforge.core.modalities.music.family import MusicFamily

    family = MusicFamily(dict(TINY_MUSIC), {"tracks": 1, "pitches": 24, "low": 48, "steps_per_beat": 4, "bars": 1,
                                            "track_names": ["keys"], "programs": [0], "drums": [False]})
    prob = np.zeros((4, 1, 16, 24), np.float32)
    prob[..., [0, 4, 7]] = 0.8
    prob[..., [12, 16, 19]] = 0.35
    t, notes = family.calibrate_threshold(prob, float(voices))
    assert lowest <= t <= highest
    assert mean_of(polyphony(notes)[0]) == voices


def test_note_statistics_term_pulls_voices_and_pitch_classes() -> None:
    """note_stats > 0 adds a term that is zero for the real bars themselves, grows with extra
    voices and with notes outside the real bars' pitch classes, and reaches G's weights."""
    import torch

    from ganforge.core.modalities.music.family import MusicFamily

    info = {"tracks": 1, "pitches": 24, "low": 48, "steps_per_beat": 4, "bars": 1, "track_names": ["keys"],
            "programs": [0], "drums": [False]}
    family = MusicFamily({**TINY_MUSIC, "mode_seeking": 0.0, "note_stats": 1.0}, info)
    real = -torch.ones(8, 1, 16, 24)
    real[..., [0, 4, 7]] = 1.0  # C major triads
    more = real.clone()
    more[..., [12, 16]] = 1.0  # five voices, same pitch classes
    off = real.clone()
    off[..., [1]] = 1.0  # four voices, one a C sharp
    G = family.build_generator()
    inputs = family.sample_inputs(8, torch.Generator().manual_seed(0), torch.device("cpu"))

    def term(x: torch.Tensor) -> float:
        return float(family.generator_penalty(G, x, inputs, real=real, step=1))

    assert term(real) == 0.0 and term(more) > term(off) > 0.0
    fake = G(**inputs)
    family.generator_penalty(G, fake, inputs, real=real, step=1).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert MusicFamily(dict(TINY_MUSIC), info).generator_penalty(G, fake, inputs, real=real) is not None  # mode seeking


def test_a_run_saved_before_note_stats_keeps_its_meaning() -> None:
    from ganforge.core.modalities.music.family import DEFAULTS, MusicFamily

    info = {"tracks": 1, "pitches": 24, "low": 48, "steps_per_beat": 4, "bars": 1}
    saved = {k: v for k, v in DEFAULTS.items() if k != "note_stats"}  # a checkpoint's full option set then
    assert MusicFamily(saved, info).options["note_stats"] == 0.0
    assert MusicFamily({}, info).options["note_stats"] == 1.0  # a new run gets the term
