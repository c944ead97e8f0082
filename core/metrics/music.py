"""Symbolic-music statistics of binary piano-rolls, from the MuseGAN paper's definitions (numpy).

Rolls are bool arrays ``(N, tracks, steps, pitches)`` whose pitch index 0 is MIDI pitch ``low``;
bars are ``steps_per_bar`` steps. Per track:

- **EB** empty-bar rate: share of bars with no note (in [0, 1]).
- **UPC** used pitch classes per bar: distinct pitch classes (0-12) in a bar, averaged over the
  *non-empty* bars (counting empty bars as 0 would mix EB into UPC, as MuseGAN's code does).
- **QN** qualified-note rate: share of notes lasting at least ``qn_beats`` beats (default 3/4
  of a beat: 3 steps at 4 steps per beat — the paper's "3 time steps" was at 24 steps per beat,
  i.e. a 32nd note; at 16th-note resolution 3 steps is the closest musically useful threshold).
  A note is a maximal run of sounding steps of one pitch (rolls have no onsets); a note that
  starts or ends at a bar line is not split there (splitting it would count fake short notes).
- **polyphony**: mean number of pitches sounding per step with at least one sounding, and
  **polyphony_rate**: share of those steps with two or more pitches.
- **scale consistency** (Mogren, C-RNN-GAN): per sample and track, the largest share of
  sounding steps whose pitch class lies in one major (equivalently, natural-minor) scale.
- **diversity** (not a MuseGAN statistic; a mode-collapse alarm): mean Jaccard distance between
  the sounding cells of consecutive samples (sample i against i+1): 0 when every sample is the
  same, near 1 for unrelated phrases. JSB 4-bar windows: ~0.95.
- **TD** tonal distance (Harte et al. 2006) between each pair of tracks: per bar, each track's
  chroma is normalised to sum 1 and mapped to the 6-D tonal centroid (fifths r=1, minor thirds
  r=1, major thirds r=0.5); TD is the Euclidean distance between the two centroids, averaged over
  bars where both tracks sound (an empty bar has no centroid; MuseGAN's code gives it one).

Drum tracks have no pitch classes: they get EB only.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
QN_BEATS = 0.75


def chroma(rolls: np.ndarray, low: int) -> np.ndarray:
    """``(..., steps, pitches)`` -> ``(..., steps, 12)`` counts per pitch class."""
    p = rolls.shape[-1]
    out = np.zeros((*rolls.shape[:-1], 12), np.float64)
    for k in range(12):
        idx = [i for i in range(p) if (low + i) % 12 == k]
        if idx:
            out[..., k] = rolls[..., idx].sum(axis=-1)
    return out


def bars_of(rolls: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """``(N, T, L, P)`` -> ``(N * bars, T, steps_per_bar, P)`` (a trailing partial bar is dropped)."""
    n, t, length, p = rolls.shape
    b = length // steps_per_bar
    x = rolls[:, :, :b * steps_per_bar].reshape(n, t, b, steps_per_bar, p)
    return x.transpose(0, 2, 1, 3, 4).reshape(n * b, t, steps_per_bar, p)


def note_lengths(rolls: np.ndarray) -> np.ndarray:
    """Lengths (steps) of every maximal run of a sounding pitch in ``(..., steps, pitches)``."""
    x = np.moveaxis(np.asarray(rolls, bool), -2, -1).reshape(-1, rolls.shape[-2]).astype(np.int8)
    padded = np.pad(x, ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    starts, ends = np.nonzero(d == 1), np.nonzero(d == -1)
    return ends[1] - starts[1]  # row-major order pairs each start with its end


def empty_bar_rate(bars: np.ndarray) -> np.ndarray:
    """``(n, T, S, P)`` -> per track share of empty bars."""
    return (~bars.any(axis=(2, 3))).mean(axis=0)


def used_pitch_classes(bars: np.ndarray, low: int) -> np.ndarray:
    """Per track: mean distinct pitch classes over its non-empty bars (nan if all are empty)."""
    used = (chroma(bars, low).sum(axis=2) > 0).sum(axis=2).astype(np.float64)  # (n, T)
    nonempty = bars.any(axis=(2, 3))
    with np.errstate(invalid="ignore"):
        return np.where(nonempty.any(0), (used * nonempty).sum(0) / np.maximum(nonempty.sum(0), 1), np.nan)


def qualified_note_rate(rolls: np.ndarray, min_steps: int) -> np.ndarray:
    """Per track: share of notes lasting at least ``min_steps`` (nan for a track without notes)."""
    out = []
    for t in range(rolls.shape[1]):
        lengths = note_lengths(rolls[:, t])
        out.append(float((lengths >= min_steps).mean()) if len(lengths) else np.nan)
    return np.array(out)


def polyphony(rolls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per track: (mean pitches per sounding step, share of sounding steps with >= 2 pitches)."""
    counts = rolls.sum(axis=-1)  # (N, T, L)
    mean, rate = [], []
    for t in range(rolls.shape[1]):
        c = counts[:, t][counts[:, t] > 0]
        mean.append(float(c.mean()) if len(c) else np.nan)
        rate.append(float((c >= 2).mean()) if len(c) else np.nan)
    return np.array(mean), np.array(rate)


def scale_consistency(rolls: np.ndarray, low: int) -> np.ndarray:
    """Per track: mean over samples of the best major-scale share of sounding pitch-class steps."""
    pcs = chroma(rolls, low).sum(axis=2)  # (N, T, 12)
    masks = np.zeros((12, 12))
    for key in range(12):
        masks[key, (MAJOR + key) % 12] = 1
    total = pcs.sum(axis=-1)
    best = (pcs @ masks.T).max(axis=-1) / np.maximum(total, 1)
    with np.errstate(invalid="ignore"):
        return np.where((total > 0).any(0), (best * (total > 0)).sum(0) / np.maximum((total > 0).sum(0), 1), np.nan)


def tonal_centroids(chroma_vectors: np.ndarray) -> np.ndarray:
    """``(..., 12)`` chroma -> ``(..., 6)`` Harte tonal centroids (zero chroma -> nan)."""
    k = np.arange(12)
    phi = np.stack([np.sin(k * 7 * np.pi / 6), np.cos(k * 7 * np.pi / 6),
                    np.sin(k * 3 * np.pi / 2), np.cos(k * 3 * np.pi / 2),
                    0.5 * np.sin(k * 2 * np.pi / 3), 0.5 * np.cos(k * 2 * np.pi / 3)], axis=1)  # (12, 6)
    total = chroma_vectors.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (chroma_vectors / np.where(total > 0, total, np.nan)) @ phi


def tonal_distance(bars: np.ndarray, low: int, melodic: list[int]) -> dict[str, float]:
    """Mean tonal distance per pair of melodic tracks, over bars where both sound."""
    centroids = tonal_centroids(chroma(bars, low).sum(axis=2))  # (n, T, 6)
    out = {}
    for a, b in combinations(melodic, 2):
        d = np.linalg.norm(centroids[:, a] - centroids[:, b], axis=-1)
        d = d[~np.isnan(d)]
        out[f"{a}-{b}"] = float(d.mean()) if len(d) else float("nan")
    return out


def diversity(rolls: np.ndarray) -> float:
    """Mean Jaccard distance between the sounding cells of consecutive samples of ``(N, ...)``
    bool rolls (pairs with no sounding cell at all count as identical); NaN for N < 2."""
    x = np.asarray(rolls, bool).reshape(len(rolls), -1)
    if len(x) < 2:
        return float("nan")
    a, b = x[:-1], x[1:]
    union = (a | b).sum(axis=1)
    inter = (a & b).sum(axis=1)
    dist = np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)
    return float(dist.mean())


def music_stats(rolls: np.ndarray, low: int, steps_per_beat: int, drums: list[bool] | None = None,
                qn_beats: float = QN_BEATS) -> dict[str, Any]:
    """Every statistic above, per track, for ``(N, T, L, P)`` bool rolls."""
    rolls = np.asarray(rolls, bool)
    t = rolls.shape[1]
    drums = list(drums) if drums is not None else [False] * t
    melodic = [i for i in range(t) if not drums[i]]
    bars = bars_of(rolls, 4 * steps_per_beat)
    min_steps = max(1, int(np.ceil(qn_beats * steps_per_beat - 1e-9)))
    poly, poly_rate = polyphony(rolls)

    def tracks(values: np.ndarray) -> list[float | None]:
        return [None if drums[i] or np.isnan(values[i]) else round(float(values[i]), 4) for i in range(t)]

    return {
        "EB": [round(float(v), 4) for v in empty_bar_rate(bars)],
        "UPC": tracks(used_pitch_classes(bars, low)),
        "QN": tracks(qualified_note_rate(rolls, min_steps)),
        "polyphony": tracks(poly),
        "polyphony_rate": tracks(poly_rate),
        "scale_consistency": tracks(scale_consistency(rolls, low)),
        "TD": {k: round(v, 4) for k, v in tonal_distance(bars, low, melodic).items()},
        "diversity": round(diversity(rolls), 4),
        "qn_min_steps": min_steps,
        "bars": int(len(bars)),
    }


def mean_of(values: list[float | None] | dict[str, float]) -> float:
    """Mean over tracks (or pairs), skipping tracks without a value."""
    vals = list(values.values()) if isinstance(values, dict) else list(values)
    vals = [v for v in vals if v is not None and not np.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")
