"""Music benchmark: MuseGAN-paper statistics on JSB chorales (training data vs generated) and the
MIDI bridge's timing against a simulated DAW clock over a socket port.

Quality: trains the music model on ``../shared/data/music/JSB_Chorales.mat`` (88-key quarter-note
rolls, converted to the project's 16th-note grid by holding each quarter for 4 steps) with
``ganforge train music`` for ``--budget`` seconds (SIGTERM then: the engine saves a checkpoint),
exports the best checkpoint, generates ``--samples`` 4-bar phrases from silence and as
continuations of held-out bars, and tabulates EB, UPC, QN, polyphony and scale consistency for
the training data and for both (single track: no tonal distance).

Timing: ``ganforge midi play PACK --port socket://... --clock follow`` against
:class:`ganforge.plugins.midi.simdaw.SimulatedDaw` at 120 and 180 BPM for 64 bars; for each
note message, arrival time minus the send time of the clock that starts its step (p50/p99), and
the bridge's generation time per bar as a fraction of the bar.

    python benchmarks/bench_music.py                     # ~8 min training + ~4 min timing
    python benchmarks/bench_music.py --budget 60 --bars 8   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine  # noqa: E402

JSB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "music" / "JSB_Chorales.mat"
CLI = [sys.executable, "-m", "ganforge.core.cli"]
KEYS = ("EB", "UPC", "QN", "polyphony", "scale_consistency", "diversity")


TRAIN = {"batch": 16, "lr_g": 4e-4, "lr_d": 4e-4, "r1_gamma": 10.0, "r1_every": 4, "sample_every": 250,
         "checkpoint_every": 250, "log_every": 250, "device": "cpu"}
WORKER = """
import json, sys
from ganforge.core.commands.train import run_training
from ganforge.core.training.config import TrainConfig
run_training(TrainConfig(**json.loads(sys.argv[1])), resume=False, progress=False)
"""


def train(data: Path, out: Path, budget: float, lr: float | None) -> dict[str, Any]:
    """The engine through the library, stopped by SIGTERM after ``budget`` seconds: hinge + R1
    gamma 10 every 4 steps, lr 4e-4, the family's defaults otherwise. The same run from the CLI:
    ``ganforge train music --data JSB_Chorales.mat --loss hinge --r1-gamma 10 --r1-every 4
    --lr 4e-4 --sample-every 250 --checkpoint-every 250``."""
    cfg = {**TRAIN, "modality": "music", "family": "musegan", "data": str(data), "out": str(out), "steps": 1_000_000}
    if lr is not None:
        cfg.update(lr_g=lr, lr_d=lr)
    cmd = [sys.executable, "-c", WORKER, json.dumps(cfg)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the engine saves a checkpoint and exits cleanly
        proc.wait(timeout=120)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = max((r.get("step", 0) for r in log), default=0)
    return {"seconds": round(time.monotonic() - started, 1), "steps": steps,
            "config": cfg, "samples_log": [r for r in log if r.get("event") == "sample"][-3:]}


def export(run: Path, pack: Path) -> None:
    proc = subprocess.run(CLI + ["export", str(run), "-o", str(pack), "--checkpoint", "best"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)


def quality(pack: Path, count: int) -> dict[str, Any]:
    from ganforge.core import runtime
    from ganforge.core.metrics.music import mean_of, music_stats
    from ganforge.core.modalities.music import corpus

    rt = runtime.load(pack)
    s = rt.codec.settings(rt.meta)
    opts = {"steps_per_beat": s.steps_per_beat, "low": s.low, "pitches": s.pitches}
    train_set = corpus.load(JSB, {**opts, "split": "traindata"})
    test_set = corpus.load(JSB, {**opts, "split": "testdata"})

    def table(rolls: np.ndarray) -> dict[str, Any]:
        st = music_stats(rolls, s.low, s.steps_per_beat, s.drums)
        return {k: st[k] if k == "diversity" else mean_of(st[k]) for k in KEYS} | {"qn_min_steps": st["qn_min_steps"], "bars": st["bars"]}

    # real: whole pieces concatenated (notes are not cut at window edges) and 4-bar windows
    real = table(np.concatenate([r for r in train_set.rolls], axis=1)[None])
    bars = train_set.bars()  # (n, 1, S, P)
    n4 = len(bars) // 4 * 4
    real_windows = table(bars[:n4].reshape(-1, 4, *bars.shape[1:]).transpose(0, 2, 1, 3, 4).reshape(
        -1, bars.shape[1], 4 * bars.shape[2], bars.shape[3]))
    from ganforge.core.modalities.music.data import shortest_usual_note

    shortest = shortest_usual_note(train_set)
    t0 = time.perf_counter()
    free = np.asarray(rt.generate(0, count)) > 0  # the pack's own decoder settings
    gen_seconds = time.perf_counter() - t0
    raw = np.asarray(rt.generate(0, count, min_steps=1)) > 0  # only one-step blips dropped
    data_min = np.asarray(rt.generate(0, count, min_steps=shortest)) > 0
    # continuations: condition on held-out (test) bars, as the bridge does with --listen
    test_bars = test_set.bars().astype(np.float32)
    rng = np.random.default_rng(0)
    conds = test_bars[rng.integers(0, len(test_bars), count)]
    cont = np.concatenate([np.asarray(rt.codec.decode(rt.run({**rt.draw_inputs(10_000 + i, 1, {"bars": 4}),
                                                               "condition": conds[i:i + 1]}), rt.meta, {})) > 0
                           for i in range(count)])
    return {"real": real, "real_4bar_windows": real_windows, "generated": table(free),
            "generated_min1": table(raw), "generated_data_min": table(data_min), "data_min_note_steps": shortest,
            "pack_min_note_steps": int(rt.meta.decoder.get("min_note_steps", 1)),
            "continuations": table(cont), "samples": count, "generate_ms_per_sample": 1000 * gen_seconds / count,
            "pitch_low": s.low, "pitches": s.pitches}


def timing(pack: Path, bpm: float, bars: int) -> dict[str, Any]:
    from ganforge.plugins.midi.simdaw import SimulatedDaw

    daw = SimulatedDaw()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        proc = subprocess.Popen(CLI + ["midi", "play", str(pack), "--port", daw.address, "--clock", "follow",
                                       "--bars", str(bars), "--report", str(report)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if not daw.wait_connected(60):
                raise SystemExit("the bridge did not connect")
            time.sleep(1.0)
            run = daw.play(bpm, 4 * bars + 1, stop=False)
            proc.wait(timeout=60)
            stats = json.loads(report.read_text())
        finally:
            if proc.poll() is None:
                proc.kill()
            daw.close()
    clocks = np.array(run.clocks)
    lags = []
    for t, m in daw.received:
        if m.type not in ("note_on", "note_off"):
            continue
        k = int(np.searchsorted(clocks, t, side="right")) - 1
        lags.append(t - clocks[k - k % 6])  # the clock that starts the note's step
    lags_ms = np.array(lags) * 1000
    bar_s = 4 * 60.0 / bpm
    gen = stats["generate_ms_p50"] / 1000
    return {"bpm": bpm, "bars": stats["bars"], "messages": len(lags), "lag_ms_p50": float(np.percentile(lags_ms, 50)),
            "lag_ms_p99": float(np.percentile(lags_ms, 99)), "lag_ms_max": float(lags_ms.max()),
            "generate_ms_p50": stats["generate_ms_p50"], "generate_ms_max": stats["generate_ms_max"],
            "generate_fraction_of_bar": gen / bar_s, "underruns": stats["underruns"],
            "note_ons": stats["note_ons"], "note_offs": stats["note_offs"]}


def pianoroll_png(pack: Path, out: Path) -> None:
    proc = subprocess.run(CLI + ["generate", str(pack), "--seed", "7", "--bars", "8", "-o", str(out.with_suffix(".mid")),
                                 "--preview"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)


def fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def report(r: dict[str, Any]) -> str:
    q = r["quality"]
    lines = ["| | " + " | ".join(KEYS) + " |", "|---|" + "---|" * len(KEYS)]
    for name, label in (("real", "JSB train (whole pieces)"), ("real_4bar_windows", "JSB train (4-bar windows)"),
                        ("generated_min1", "generated, decoder drops one-step blips only"),
                        ("generated_data_min", f"generated, decoder drops blips < {q['data_min_note_steps']} steps"),
                        ("generated", "generated from silence (pack's decoder)"),
                        ("continuations", "continuations of test bars (pack's decoder)")):
        lines.append(f"| {label} | " + " | ".join(fmt(q[name][k]) for k in KEYS) + " |")
    lines += ["", "| BPM | bars | messages | lag p50 (ms) | lag p99 (ms) | max (ms) | generation / bar | underruns |",
              "|---|---|---|---|---|---|---|---|"]
    for t in r["timing"]:
        lines.append(f"| {t['bpm']:g} | {t['bars']} | {t['messages']} | {t['lag_ms_p50']:.2f} | {t['lag_ms_p99']:.2f} | "
                     f"{t['lag_ms_max']:.2f} | {100 * t['generate_fraction_of_bar']:.3f}% | {t['underruns']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=450, help="training seconds (at most ~8 minutes)")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--bars", type=int, default=64, help="bars per timing run")
    parser.add_argument("--pack", type=Path, default=None, help="skip training: measure this pack")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the engine's)")
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    if not JSB.is_file():
        raise SystemExit(f"{JSB}: not found (the benchmark needs ../shared/data)")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    RESULTS_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "data": str(JSB)}
    with tempfile.TemporaryDirectory() as tmp:
        pack = args.pack
        previous = RESULTS_DIR / "music.json"
        if pack is not None and pack.resolve() == (RESULTS_DIR / "music_jsb.onnx").resolve() and previous.is_file():
            # re-measuring the recorded pack: keep how it was trained
            results["training"] = json.loads(previous.read_text()).get("training")
        if pack is None:
            run = Path(tmp) / "run"
            results["training"] = train(JSB, run, args.budget, args.lr)
            pack = RESULTS_DIR / "music_jsb.onnx"
            export(run, pack)
        results["quality"] = quality(pack, args.samples)
        pianoroll_png(pack, RESULTS_DIR / "music_jsb_seed7")
        results["timing"] = [] if args.no_timing else [timing(pack, bpm, args.bars) for bpm in (120.0, 180.0)]
    (RESULTS_DIR / "music.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
