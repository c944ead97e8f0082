"""A tiny music pack for the MIDI and music tests: an untrained (but really exported) two-track
generator (keys on channel 1, drums on 10) whose note probabilities sit near 0.5; and the check
that a bridge left nothing sounding."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

LOW, PITCHES = 48, 24


def music_pack(folder: Path) -> Path:
    """Export the untrained two-track pack (keys and drums) to ``folder/music.onnx``."""
    torch = pytest.importorskip("torch")
    from ganforge.core.modalities.music.family import MusicFamily
    from ganforge.exporters.onnx.export import export_generator

    info = {"tracks": 2, "pitches": PITCHES, "low": LOW, "steps_per_beat": 4, "bars": 2,
            "track_names": ["keys", "drums"], "programs": [0, 0], "drums": [False, True]}
    family = MusicFamily({"z_dim": 8, "cond_dim": 8, "channels": 16, "d_channels": 16}, info)
    torch.manual_seed(0)
    path = folder / "music.onnx"
    export_generator(family, family.build_generator(), path, facts={}, modality="music", family_name="musegan")
    return path


def assert_nothing_left_sounding(msgs: Iterable[Any]) -> None:
    """Notes were played, and a note-off or an All Notes Off (CC 123) on its channel ended each
    one; All Notes Off went to both of the pack's channels (1 and 10)."""
    msgs = list(msgs)
    sounding: set[tuple[int, int]] = set()
    for m in msgs:
        if m.type == "note_on" and m.velocity > 0:
            sounding.add((m.channel, m.note))
        elif m.type in ("note_off", "note_on"):
            sounding.discard((m.channel, m.note))
        elif m.type == "control_change" and m.control == 123:
            sounding = {k for k in sounding if k[0] != m.channel}
    assert any(m.type == "note_on" for m in msgs) and not sounding
    assert {m.channel for m in msgs if m.type == "control_change" and m.control == 123} == {0, 9}
