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


class MusicDataset:
    def __init__(self, rollset: corpus.RollSet, bars: int, options: dict[str, Any]) -> None:
        s = rollset.steps_per_bar
        self.bars, self.steps_per_bar, self.options = bars, s, options
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
        if not starts:
            raise DataError(f"{rollset.name}: no piece is longer than {bars + 1} bars; lower the 'bars' option")
        self.pieces, self.starts = pieces, starts
        #: JSON-serialisable facts the family and the pack need
        self.data_info = {
            "name": rollset.name, "count": len(starts), "pieces": len(rollset.rolls), "tracks": len(rollset.names),
            "track_names": rollset.names, "programs": rollset.programs, "drums": rollset.drums,
            "low": rollset.low, "pitches": rollset.pitches, "steps_per_beat": rollset.steps_per_beat,
            "bars": bars, "files": rollset.files[:10_000], "skipped": rollset.skipped,
            "channels": len(rollset.names),  # the engine checks this on resume
            "min_note_steps": shortest_usual_note(rollset),
        }

    def __len__(self) -> int:
        return len(self.starts)

    def sample(self, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(self.starts), (batch,), generator=gen)
        s = self.steps_per_bar
        windows = []
        for i in idx.tolist():
            piece, b = self.starts[i]
            windows.append(self.pieces[piece][:, b * s:(b + 1 + self.bars) * s])
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
    return MusicDataset(rollset, int(opts["bars"]), opts)
