"""``ganforge midi play`` with hand-edited music packs (issue 18): every pack the bridge cannot
play is one ``error:`` line and exit 2 before a note is sent, and a pack that fails mid-song
stops the bridge with nothing left sounding, one ``error:`` line and exit 2 — never a traceback
(StopIteration, ValueError, TypeError, modulo by zero) nor silence with exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from music_pack import assert_nothing_left_sounding, music_pack

from ganforge.plugins.midi.simdaw import SimulatedDaw

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, really exported two-track music pack (keys and drums)."""
    return music_pack(tmp_path_factory.mktemp("midibad"))


def edited(pack: Path, out: Path, decoder: Callable[[dict[str, Any]], None] | None = None,
           model: Callable[[Any], None] | None = None) -> Path:
    m = onnx.load(str(pack))
    for prop in m.metadata_props:
        if prop.key == "ganforge.decoder" and decoder is not None:
            d = json.loads(prop.value)
            decoder(d)
            prop.value = json.dumps(d)
    if model is not None:
        model(m)
    onnx.save(m, str(out))
    return out


def play(pack: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    """Run the bridge against a scripted DAW (internal clock, fast); returns what the DAW got."""
    daw = SimulatedDaw()
    try:
        proc = subprocess.run([sys.executable, "-m", "ganforge.core.cli", "midi", "play", str(pack), "--port",
                               daw.address, "--bpm", "400", *[a.replace("DAW", daw.address) for a in args]],
                              capture_output=True, text=True, timeout=90)
        return proc, [m for _, m in daw.received]
    finally:
        daw.close()


def one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert all(n in errors[0] for n in needles), errors[0]
    return errors[0]


def _symbolic_z_of_a_trillion(m: Any) -> None:
    next(i for i in m.graph.input if i.name == "z").type.tensor_type.shape.dim[1].dim_param = "zd"
    for prop in m.metadata_props:
        if prop.key == "ganforge.inputs":
            inputs = json.loads(prop.value)
            next(s for s in inputs if s["name"] == "z")["shape"][1] = 10**12
            prop.value = json.dumps(inputs)


SIXTEEN = {"track_names": [f"t{i}" for i in range(16)], "programs": [0] * 16, "drums": [False] * 16}
CASES: dict[str, tuple[Callable[[dict[str, Any]], None] | None, Callable[[Any], None] | None, tuple[str, ...]]] = {
    # was StopIteration: 16 melodic tracks and channels 1-16 less the drums' 10
    "sixteen_melodic_tracks": (lambda d: d.update(SIXTEEN), None, ("melodic tracks", "--channel-map")),
    # was ValueError / TypeError in int() and float() as the bridge started
    "min_note_steps_not_a_number": (lambda d: d.update(min_note_steps="x"), None, ("malformed",)),
    "min_note_steps_negative": (lambda d: d.update(min_note_steps=-5), None, ("min_note_steps",)),
    "threshold_not_a_number": (lambda d: d.update(threshold="x"), None, ("malformed",)),
    "threshold_a_list": (lambda d: d.update(threshold=[1]), None, ("malformed",)),
    "threshold_nan": (lambda d: d.update(threshold=float("nan")), None, ("threshold",)),
    # was "integer modulo by zero" once per clock tick
    "zero_steps_per_beat": (lambda d: d.update(steps_per_beat=0), None, ("steps per beat",)),
    "no_decoder_settings": (lambda d: d.clear(), None, ("malformed",)),
    # settings that disagree with the graph: refused at the first bar, before the clock starts
    "pitches_unlike_the_graph": (lambda d: d.update(pitches=30), None, ("generation failed",)),
    "tracks_unlike_the_graph": (lambda d: d.update(track_names=["a"], programs=[0], drums=[False]), None,
                                ("generation failed",)),
    # was MemoryError: an input declared a trillion wide
    "input_a_trillion_wide": (None, _symbolic_z_of_a_trillion, ("'z'", "shape")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_pack_the_bridge_cannot_play_is_one_line_and_silent(pack: Path, tmp_path: Path, case: str) -> None:
    decoder, model, needles = CASES[case]
    bad = edited(pack, tmp_path / f"{case}.onnx", decoder, model)
    proc, received = play(bad, "--bars", "2")
    one_error_line(proc, *needles)
    assert not [m for m in received if m.type == "note_on" and m.velocity > 0], received


def _nan_once_notes_were_played(m: Any) -> None:
    """roll + 0 * log(1 - max(condition)): fine while the previous bar is empty (the first bar),
    NaN from the first bar that follows notes on."""
    from onnx import TensorProto, helper

    out = m.graph.output[0].name
    producer = next(n for n in m.graph.node if out in n.output)
    producer.output[list(producer.output).index(out)] = "roll_raw"
    m.graph.initializer.extend([helper.make_tensor("one_f", TensorProto.FLOAT, [], [1.0]),
                                helper.make_tensor("zero_f", TensorProto.FLOAT, [], [0.0])])
    m.graph.node.extend([helper.make_node("ReduceMax", ["condition"], ["cmax"], keepdims=1),
                         helper.make_node("Sub", ["one_f", "cmax"], ["free"]),
                         helper.make_node("Log", ["free"], ["log_free"]),
                         helper.make_node("Mul", ["log_free", "zero_f"], ["nan_when_played"]),
                         helper.make_node("Add", ["roll_raw", "nan_when_played"], [out])])


def test_a_pack_failing_mid_song_panics_and_exits_non_zero(pack: Path, tmp_path: Path) -> None:
    bad = edited(pack, tmp_path / "midsong.onnx", model=_nan_once_notes_were_played)
    # --listen makes one bar at a time, so the second bar is made while the first plays
    proc, received = play(bad, "--listen", "DAW", "--threshold", "0.4")
    one_error_line(proc, "while playing", "non-finite")
    assert "playing midsong.onnx" in proc.stderr  # it did start
    assert_nothing_left_sounding(received)
