"""Music training data: windows of ``bars + 1`` bars from the piano-rolls of :mod:`.corpus`.

``sample(batch, gen)`` returns ``(bars, previous)`` in [-1, 1]: the target bars
``(B, tracks, bars * steps_per_bar, pitches)`` and the bar before them ``(B, tracks,
steps_per_bar, pitches)``, which the engine passes to the family as the "labels" of a conditional
set — the continuation condition. Each piece starts with a silent bar, so the model also learns
to begin from silence (what a host passes when it has nothing to answer).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from . import corpus


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _windows(rollset: corpus.RollSet, bars: int) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
    """Each piece with one silent bar in front, and the (piece, first bar) of every window of
    ``bars + 1`` bars whose last ``bars`` are not silent."""
    s = rollset.steps_per_bar
    pieces, starts = [], []
    for r in rollset.rolls:
        n_bars = -(-r.shape[1] // s) + 1  # one silent bar in front
        padded = np.zeros((r.shape[0], n_bars * s, r.shape[2]), bool)
        padded[:, s:s + r.shape[1]] = r
        index = len(pieces)
        pieces.append(torch.from_numpy(padded))
        for b in range(n_bars - bars):
            if padded[:, (b + 1) * s:(b + 1 + bars) * s].any():  # skip silent windows
                starts.append((index, b))
    return pieces, starts


class MusicDataset:
    def __init__(self, rollset: corpus.RollSet, bars: int, options: dict[str, Any],
                 valid: corpus.RollSet | None = None) -> None:
        s = rollset.steps_per_bar
        self.bars, self.steps_per_bar, self.options = bars, s, options
        pieces, starts = _windows(rollset, bars)
        if not starts:
            raise DataError(f"{rollset.name}: no piece is longer than {bars + 1} bars; lower the 'bars' option")
        self.pieces, self.starts = pieces, starts
        # Validation windows choose the best checkpoint (the engine's ``eval_sample``): a model
        # chosen on the batches it trained on is chosen for memory, and reported figures on the
        # statistic that chose it say nothing.
        self.valid_pieces, self.valid_starts = _windows(valid, bars) if valid is not None else ([], [])
        #: JSON-serialisable facts the family and the pack need
        self.data_info = {
            "name": rollset.name, "count": len(starts), "pieces": len(rollset.rolls), "tracks": len(rollset.names),
            "track_names": rollset.names, "programs": rollset.programs, "drums": rollset.drums,
            "low": rollset.low, "pitches": rollset.pitches, "steps_per_beat": rollset.steps_per_beat,
            "bars": bars, "files": rollset.files[:10_000], "skipped": rollset.skipped,
            "channels": len(rollset.names),  # the engine checks this on resume
            "min_note_steps": shortest_usual_note(rollset),
            "valid": {"name": valid.name, "pieces": len(valid.rolls), "windows": len(self.valid_starts)}
            if self.valid_starts and valid is not None else None,
        }

    def __len__(self) -> int:
        return len(self.starts)

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self._draw(self.pieces, self.starts, batch, gen)

    def eval_sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows of the validation pieces (training windows when there are none)."""
        if self.valid_starts:
            return self._draw(self.valid_pieces, self.valid_starts, batch, gen)
        return self.sample(batch, gen)

    def _draw(self, pieces: list[torch.Tensor], starts: list[tuple[int, int]], batch: int,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(starts), (batch,), generator=gen)
        s = self.steps_per_bar
        windows = []
        for i in idx.tolist():
            piece, b = starts[i]
            windows.append(pieces[piece][:, b * s:(b + 1 + self.bars) * s])
        x = torch.stack(windows).float().mul_(2).sub_(1)
        return x[:, :, s:].contiguous(), x[:, :, :s].contiguous()


def shortest_usual_note(rollset: corpus.RollSet, share: float = 0.05) -> int:
    """The note length (steps) that all but ``share`` of the melodic notes reach, at most a beat:
    the decoder drops unconfident notes shorter than that (JSB chorales: a quarter, since the set
    has no shorter notes; a set of 16th-note runs: 1)."""
    from ...metrics.music import note_lengths

    melodic = [t for t, d in enumerate(rollset.drums) if not d]
    lengths = np.concatenate([note_lengths(r[t]) for r in rollset.rolls for t in melodic] or [np.ones(1, int)])
    return int(np.clip(np.percentile(lengths, 100 * share), 1, rollset.steps_per_beat))


def build_dataset(path: str | Path, crop: int, options: dict[str, Any] | None = None,
                  warn: Callable[[str], None] = _stderr) -> MusicDataset:
    """The music dataset at ``path`` (a folder of MIDI files, ``builtin:bach`` or a .mat file).
    ``crop`` (an image option) is ignored; the sample length is the ``bars`` data option."""
    opts = corpus.options_of(options)
    rollset = corpus.load(path, opts, warn)
    return MusicDataset(rollset, int(opts["bars"]), opts, corpus.load_valid(path, opts, rollset, warn))
