"""Reading music data: MIDI folders (tracks, drums, bad files skipped with reasons), the music21
Bach chorales, the roll cache, the dataset's windows."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from ganforge.core.errors import DataError
from ganforge.core.modalities.music import corpus


def write_midi(path: Path, tracks: list[list[tuple[int, int, int, int]]], *, tpb: int = 96,
               meter: tuple[int, int] = (4, 4), programs: list[int] | None = None) -> Path:
    """``tracks``: per track, notes ``(channel, pitch, start_beat16, length16)`` in 16ths."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    head = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1])])
    mid.tracks.append(head)
    for i, notes in enumerate(tracks):
        events = []
        for ch, pitch, start, length in notes:
            events.append((start * tpb // 4, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=90)))
            events.append(((start + length) * tpb // 4, 0, mido.Message("note_off", channel=ch, note=pitch)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=f"voice{i}")])
        if programs and not any(ch == 9 for ch, *_ in notes):
            track.append(mido.Message("program_change", channel=notes[0][0], program=programs[i]))
        now = 0
        for at, _, msg in events:
            track.append(msg.copy(time=at - now))
            now = at
        mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(path)
    return path


def song(bars: int = 6, root: int = 60) -> list[list[tuple[int, int, int, int]]]:
    melody = [(0, root + (i * 5) % 12, i * 4, 4) for i in range(bars * 4)]
    bass = [(1, root - 24 + (i % 2) * 7, i * 16, 16) for i in range(bars)]
    drums = [(9, 36 + (i % 2) * 2, i * 4, 1) for i in range(bars * 4)]
    return [melody, bass, drums]


@pytest.fixture
def midi_dir(tmp_path: Path) -> Path:
    d = tmp_path / "midi"
    write_midi(d / "a.mid", song(6, 60), programs=[0, 33, 0])
    write_midi(d / "b.midi", song(5, 62), programs=[0, 33, 0])
    write_midi(d / "waltz.mid", song(4), meter=(3, 4))
    write_midi(d / "silent.mid", [[]])
    (d / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00")  # truncated header
    return d


def test_midi_folder_tracks_drums_and_skips(midi_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    rs = corpus.load(midi_dir)
    assert rs.names == ["voice0", "voice1", "drums"] and rs.drums == [False, False, True]
    assert rs.programs[:2] == [0, 33]
    reasons = {Path(s["file"]).name: s["reason"] for s in rs.skipped}
    assert set(reasons) == {"waltz.mid", "silent.mid", "broken.mid"}
    assert "3/4" in reasons["waltz.mid"] and reasons["silent.mid"] == "no notes"
    assert "unreadable" in reasons["broken.mid"]
    err = capsys.readouterr().err
    assert "3 of 5 file(s) skipped" in err
    # pitch range detected from the melodic tracks (36..73: bass from 36, melody up to 73)
    assert rs.low == 36 and rs.low + rs.pitches - 1 == 62 + 11
    a = rs.rolls[rs.files.index("a.mid")]
    assert a.shape == (3, 6 * 16, rs.pitches)
    assert a[0, 0:4, 60 - rs.low].all() and not a[0, 4, 60 - rs.low]  # one quarter note
    assert a[2, 0, 36 - rs.low] and a[2].sum() == 6 * 4  # drum hits of one step each
    # the second load comes from the cache (and is the same)
    again = corpus.load(midi_dir)
    assert len(list((tmp_path / "cache" / "music").glob("*.npz"))) == 1
    assert all(np.array_equal(x, y) for x, y in zip(rs.rolls, again.rolls, strict=True))


def test_single_track_and_given_range(midi_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    rs = corpus.load(midi_dir, {"tracks": "single", "low": 24, "pitches": 72})
    assert rs.names == ["piano"] and rs.low == 24 and rs.pitches == 72
    with pytest.raises(DataError, match="does not hold"):
        corpus.load(midi_dir, {"low": 48, "pitches": 12})


def test_unusable_data_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad"
    write_midi(bad / "waltz.mid", song(4), meter=(3, 4))
    with pytest.raises(DataError, match=r"bad: none of its 1 file\(s\) is usable \(meter 3/4"):
        corpus.load(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .mid"):
        corpus.load(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown music data option"):
        corpus.load(bad, {"colour": 1})


def test_dataset_windows_condition_on_the_previous_bar(midi_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from ganforge.core.modalities.music.data import build_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    ds = build_dataset(midi_dir, 0, {"bars": 2})
    x, prev = ds.sample(32, torch.Generator().manual_seed(0))
    assert x.shape == (32, 3, 32, ds.data_info["pitches"]) and prev.shape == (32, 3, 16, ds.data_info["pitches"])
    assert set(torch.unique(x).tolist()) <= {-1.0, 1.0}
    # some windows start a piece: their condition is the silent bar in front
    assert (prev.amax(dim=(1, 2, 3)) < 0).any() and (prev.amax(dim=(1, 2, 3)) > 0).any()
    info = ds.data_info
    assert info["track_names"] == ["voice0", "voice1", "drums"] and info["bars"] == 2
    assert info["min_note_steps"] == 4  # the melody moves in quarters: the decoder drops shorter blips


def test_builtin_bach_chorales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("music21")
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    rs = corpus.load("builtin:bach", {"limit": 4})
    assert 1 <= len(rs.rolls) and len(rs.rolls) + len(rs.skipped) == 4
    assert len(rs.names) == 4  # SATB (a fifth instrumental part folds into the last)
    upc = rs.bars()
    assert upc.any() and 30 <= rs.low <= 45


def test_a_tiny_file_with_a_four_million_step_note_is_skipped_not_allocated(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """ticks_per_beat=1 and one note 4.2M ticks long: 37 bytes that once became a 4.4 GB roll."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "bomb"
    folder.mkdir()
    mid = mido.MidiFile(type=0, ticks_per_beat=1)
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0),
                                      mido.Message("note_off", note=60, time=4_200_000)]))
    mid.save(str(folder / "bomb.mid"))
    assert (folder / "bomb.mid").stat().st_size < 64
    from memory_limit import under_memory_limit

    kind, message = under_memory_limit(corpus.load, folder, extra_mb=1024)  # a regression: MemoryError
    assert kind == "DataError" and "note lasts 16,800,000 steps" in message and "bomb" in message
    assert "\n" not in message


def _jsb_like_mat(path: Path, train_pitch: int, valid_pitches: list[int]) -> Path:
    """A .mat file shaped like JSB_Chorales.mat: cells of (quarters, 88) 0/1 rolls per split."""
    from scipy.io import savemat

    def piece(pitches: list[int], quarters: int = 24) -> np.ndarray:
        q = np.zeros((quarters, 88))
        for p in pitches:
            q[:, p - 21] = 1
        return q

    cells = {name: np.empty(2, dtype=object) for name in ("traindata", "validdata", "testdata")}
    for i in range(2):
        cells["traindata"][i] = piece([train_pitch, train_pitch + 4])
        cells["validdata"][i] = piece(valid_pitches)
        cells["testdata"][i] = piece([train_pitch])
    savemat(path, cells)
    return path


def test_validation_pieces_choose_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 midi_dir: Path) -> None:
    """A .mat file's "validdata" feeds the engine's eval_sample (which picks the best checkpoint);
    training windows never come from it; a validation note outside the training range is
    dropped; valid=none and an explicit folder work too."""
    torch = pytest.importorskip("torch")
    from ganforge.core.modalities.music.data import build_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    mat = _jsb_like_mat(tmp_path / "set.mat", 60, [62, 100])  # 100 lies outside the training range
    ds = build_dataset(mat, 0, {"bars": 1})
    low, gen = ds.data_info["low"], torch.Generator().manual_seed(0)
    assert ds.data_info["valid"] == {"name": "set.mat (validation)", "pieces": 2, "windows": 12}
    x, _ = ds.sample(64, gen)
    v, v_prev = ds.eval_sample(64, gen)
    assert v.shape == x.shape and v_prev.shape[1:] == (1, 16, ds.data_info["pitches"])
    notes = lambda t: set((t > 0).nonzero()[:, 3].add(low).tolist())  # noqa: E731
    assert notes(x) == {60, 64} and notes(v) == {62}
    none = build_dataset(mat, 0, {"bars": 1, "valid": "none"})
    assert none.data_info["valid"] is None and notes(none.eval_sample(64, gen)[0]) == {60, 64}
    # an explicit validation folder must have the training data's tracks
    with pytest.raises(DataError, match="3 track"):
        build_dataset(mat, 0, {"bars": 1, "valid": str(midi_dir)})
    with pytest.raises(DataError, match="no such file"):
        build_dataset(mat, 0, {"bars": 1, "valid": str(tmp_path / "missing")})
    folder = build_dataset(midi_dir, 0, {"bars": 1, "valid": str(midi_dir)})
    assert folder.data_info["valid"]["pieces"] == 2
    # a .mat file without a validation split trains as before under "auto"; asked for, it is an error
    from scipy.io import loadmat, savemat

    only_train = tmp_path / "train_only.mat"
    savemat(only_train, {"traindata": loadmat(mat)["traindata"]})
    assert build_dataset(only_train, 0, {"bars": 1}).data_info["valid"] is None
    with pytest.raises(DataError, match="no 'validdata'"):
        build_dataset(mat, 0, {"bars": 1, "valid": str(only_train)})
