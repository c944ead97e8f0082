"""Music statistics on hand-made piano-rolls (values worked out by hand from the definitions),
and the codec's note decoding. Torch-free."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.core.metrics import music as M
from ganforge.core.modalities.music import codec

LOW = 48  # C3: pitch index 0 is a C
S = 16  # steps per bar at 4 steps per beat


def roll(tracks: int = 1, bars: int = 2, pitches: int = 24) -> np.ndarray:
    return np.zeros((1, tracks, bars * S, pitches), bool)


def test_empty_bars_and_used_pitch_classes() -> None:
    r = roll(bars=4)
    r[0, 0, 0:4, [0, 4, 7]] = True  # bar 0: C major triad -> 3 classes
    r[0, 0, 16:20, [0, 12]] = True  # bar 1: C3 and C4 -> 1 class
    # bars 2 and 3 empty
    stats = M.music_stats(r, LOW, 4)
    assert stats["EB"] == [0.5]
    assert stats["UPC"] == [2.0]  # over the non-empty bars only: (3 + 1) / 2


def test_qualified_notes_count_runs_not_steps() -> None:
    r = roll()
    r[0, 0, 0:4, 0] = True  # 4 steps: qualified
    r[0, 0, 6:8, 0] = True  # 2 steps: not
    r[0, 0, 10:13, 2] = True  # 3 steps: qualified (threshold 3 at 4 steps per beat)
    r[0, 0, 14:20, 5] = True  # held over the bar line: one 6-step note
    stats = M.music_stats(r, LOW, 4)
    assert stats["qn_min_steps"] == 3
    assert stats["QN"] == [0.75]
    assert sorted(M.note_lengths(r[0, 0]).tolist()) == [2, 3, 4, 6]


def test_qn_threshold_scales_with_resolution() -> None:
    r = np.zeros((1, 1, 8, 4), bool)
    r[0, 0, 0:1, 0] = True  # 1 step at 1 step/beat = a quarter: qualified
    assert M.music_stats(r, 60, 1)["qn_min_steps"] == 1
    assert M.music_stats(r, 60, 1)["QN"] == [1.0]


def test_polyphony() -> None:
    r = roll()
    r[0, 0, 0:2, [0, 4, 7]] = True  # two steps with 3 pitches
    r[0, 0, 2:4, 0] = True  # two steps with 1
    stats = M.music_stats(r, LOW, 4)
    assert stats["polyphony"] == [2.0]
    assert stats["polyphony_rate"] == [0.5]


def test_scale_consistency() -> None:
    r = roll()
    r[0, 0, 0:3, 0] = True  # C
    r[0, 0, 3:6, 1] = True  # C#: with C, in C# major (as B#)
    assert M.music_stats(r, LOW, 4)["scale_consistency"] == [1.0]
    r[0, 0, 6:9, 2] = True  # D: no major scale holds three semitones in a row
    assert M.music_stats(r, LOW, 4)["scale_consistency"] == [pytest.approx(2 / 3, abs=1e-4)]
    r[0, 0, 9:18, 4] = True  # E for 9 steps: C major (or D major) now holds 15 of 18
    assert M.music_stats(r, LOW, 4)["scale_consistency"] == [pytest.approx(15 / 18, abs=1e-4)]


def test_tonal_distance() -> None:
    r = roll(tracks=3)
    r[0, 0, 0:16, [0, 4, 7]] = True  # C major
    r[0, 1, 0:16, [0, 4, 7]] = True  # the same chord: distance 0
    r[0, 2, 0:16, 6] = True  # F#: a tritone away from C
    td = M.music_stats(r, LOW, 4)["TD"]
    assert td["0-1"] == pytest.approx(0.0, abs=1e-9)
    # by hand: centroid(C major) vs phi(F#), Harte's 6-D space
    k = np.arange(12)
    phi = np.stack([np.sin(k * 7 * np.pi / 6), np.cos(k * 7 * np.pi / 6), np.sin(k * 3 * np.pi / 2),
                    np.cos(k * 3 * np.pi / 2), 0.5 * np.sin(k * 2 * np.pi / 3), 0.5 * np.cos(k * 2 * np.pi / 3)], 1)
    c_major = phi[[0, 4, 7]].mean(0)
    assert td["0-2"] == pytest.approx(float(np.linalg.norm(c_major - phi[6])), abs=1e-3)
    # bar 1 is empty in every track: it has no centroid and does not count as distance 0
    assert td["1-2"] == td["0-2"]


def test_diversity_is_zero_for_a_collapsed_set_and_jaccard_otherwise() -> None:
    a = np.concatenate([roll(), roll(), roll()])
    a[:, 0, 0:4, [0, 4]] = True  # three identical samples: 8 cells each
    assert M.diversity(a) == 0.0 and M.music_stats(a, LOW, 4)["diversity"] == 0.0
    a[1, 0, 0:4, 4] = False  # sample 1 keeps 4 of the 8 cells: distance 1/2 to each neighbour
    a[2, 0, 8:12, 9] = True  # sample 2: the 8 cells plus 4 more: 1 - 4/12 from sample 1
    assert M.diversity(a) == pytest.approx((0.5 + (1 - 4 / 12)) / 2)
    assert M.diversity(roll()) != M.diversity(roll())  # NaN: one sample has no pairs
    assert M.diversity(np.concatenate([roll(), roll()])) == 0.0  # two silent samples are alike


def test_drum_tracks_only_get_empty_bars() -> None:
    r = roll(tracks=2)
    r[0, 0, 0:4, 0] = True
    r[0, 1, 0:1, 3] = True
    stats = M.music_stats(r, LOW, 4, drums=[False, True])
    assert stats["EB"] == [0.5, 0.5]
    assert stats["UPC"][1] is None and stats["QN"][1] is None
    assert stats["TD"] == {}


# ---- decoding --------------------------------------------------------------------------------------
def test_hysteresis_keeps_a_wavering_note_whole() -> None:
    p = np.zeros((1, 1, 16, 3), np.float32)
    p[0, 0, 0:8, 1] = [0.9, 0.6, 0.4, 0.7, 0.35, 0.8, 0.6, 0.55]  # dips, never below 0.6 * 0.5
    p[0, 0, 10, 2] = 0.55  # a lone unconfident step: noise
    p[0, 0, 13, 2] = 0.95  # a confident short note: kept
    on = codec.threshold_notes(p, 0.5)
    assert on[0, 0, 0:8, 1].all() and not on[0, 0, 8:, 1].any()
    assert not on[0, 0, 10, 2] and on[0, 0, 13, 2]
    naive = p >= 0.5  # per-step thresholding breaks the first note into three
    assert len(codec.notes(naive[0, 0])) > len(codec.notes(on[0, 0]))


def test_threshold_controls_density() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((1, 2, 64, 12)).astype(np.float32)
    dense, sparse = codec.threshold_notes(p, 0.3).sum(), codec.threshold_notes(p, 0.8).sum()
    assert dense > 2 * sparse > 0


def test_notes_and_velocities() -> None:
    on = np.zeros((8, 4), bool)
    on[1:4, 2] = True
    on[5:6, 0] = True
    prob = np.where(on, 0.75, 0.0).astype(np.float32)
    vel = codec.velocities(prob, on)
    assert codec.notes(vel) == [(2, 1, 4, 100), (0, 5, 6, 100)]


def test_notes_shorter_than_the_datas_shortest_are_dropped_unless_confident() -> None:
    p = np.zeros((1, 1, 16, 3), np.float32)
    p[0, 0, 0:2, 0] = 0.7  # a 2-step note, unconfident
    p[0, 0, 4:6, 1] = 0.9  # a 2-step note, confident
    p[0, 0, 8:12, 2] = 0.7  # a quarter note
    keep_all = codec.threshold_notes(p, 0.5, min_steps=1)
    assert keep_all[0, 0, 0:2, 0].all() and keep_all[0, 0, 4:6, 1].all()
    quarters = codec.threshold_notes(p, 0.5, min_steps=4)  # a set whose notes are at least quarters
    assert not quarters[0, 0, :, 0].any() and quarters[0, 0, 4:6, 1].all() and quarters[0, 0, 8:12, 2].all()
