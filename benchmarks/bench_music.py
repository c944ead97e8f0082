"""Music benchmark: MuseGAN-paper statistics on JSB chorales (training data vs generated) and the
MIDI bridge's timing against a simulated DAW clock over a socket port.

Quality: trains the music model on ``../shared/data/music/JSB_Chorales.mat``'s training split
(88-key quarter-note rolls, converted to the project's 16th-note grid by holding each quarter for
4 steps) with ``ganforge train music`` for ``--budget`` seconds (SIGTERM then: the engine saves a
checkpoint). The engine chooses its best checkpoint on the file's *validation* split (the
statistics gap of EMA samples continuing validation bars); the figures are on the *test* split,
which nothing chose: EB, UPC, QN, polyphony, scale consistency and diversity of ``--samples``
4-bar phrases from silence and as continuations of test bars, for the best checkpoint and for the
last, beside the test data's own; the validation gap of every evaluated checkpoint (its spread)
from the run's log; and the issue's targets checked against the test data.

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


def train(data: Path, out: Path, budget: float, lr: float | None,
          data_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The engine through the library, stopped by SIGTERM after ``budget`` seconds: hinge + R1
    gamma 10 every 4 steps, lr 4e-4, the family's defaults otherwise. The same run from the CLI:
    ``ganforge train music --data JSB_Chorales.mat --loss hinge --r1-gamma 10 --r1-every 4
    --lr 4e-4 --sample-every 250 --checkpoint-every 250``."""
    cfg = {**TRAIN, "modality": "music", "family": "musegan", "data": str(data), "out": str(out), "steps": 1_000_000,
           "data_options": data_options or {}}
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


def export(run: Path, pack: Path, checkpoint: str = "best") -> None:
    proc = subprocess.run(CLI + ["export", str(run), "-o", str(pack), "--checkpoint", checkpoint],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)


def splits(s: Any, folders: dict[str, Path] | None) -> tuple[Any, Any, Any]:
    """(train, valid, test) roll sets on the pack's grid and range ``s``: JSB's splits, or the
    folders of another corpus."""
    from ganforge.core.modalities.music import corpus

    opts = {"steps_per_beat": s.steps_per_beat, "low": s.low, "pitches": s.pitches}
    if folders is None:
        return tuple(corpus.load(JSB, {**opts, "split": k}) for k in ("traindata", "validdata", "testdata"))
    single = corpus.options_of({"tracks": "single", "steps_per_beat": s.steps_per_beat})
    train_set = corpus.load(folders["train"], {**single, **opts})
    valid_set, test_set = (corpus.load_valid(folders["train"], {**single, "valid": str(folders[k])}, train_set)
                           for k in ("valid", "test"))
    return train_set, valid_set, test_set


def baselines(pack: Path, count: int, folders: dict[str, Path] | None = None) -> dict[str, Any]:
    """Two references that need no model, scored like the samples: random notes at the training
    data's per-pitch rate (each step drawn alone) and 4-bar windows of four random training bars
    (what these statistics cannot tell from music: bar-level copies with no phrase)."""
    from ganforge.core import runtime
    from ganforge.core.metrics.music import mean_of, music_stats

    rt = runtime.load(pack)
    s = rt.codec.settings(rt.meta)
    train_bars = np.asarray(splits(s, folders)[0].bars()) > 0  # (n, T, S, P)
    rng = np.random.default_rng(1)
    n, tracks, steps, pitches = train_bars.shape
    shuffled = train_bars[rng.integers(0, n, (count, 4))].transpose(0, 2, 1, 3, 4).reshape(
        count, tracks, 4 * steps, pitches)
    rate = train_bars.mean(axis=(0, 2))  # (T, P): how often each pitch sounds in a step
    noise = rng.random((count, tracks, 4 * steps, pitches)) < rate[None, :, None, :]

    def table(rolls: np.ndarray) -> dict[str, Any]:
        st = music_stats(rolls, s.low, s.steps_per_beat, s.drums)
        return {k: st[k] if k == "diversity" else mean_of(st[k]) for k in KEYS}

    return {"random_notes": table(noise), "training_bar_shuffle": table(shuffled)}


def quality(pack: Path, count: int, folders: dict[str, Path] | None = None) -> dict[str, Any]:
    """Statistics of ``pack``'s samples and of the data's splits (test: the reference): JSB's,
    or the ``train``/``valid``/``test`` folders of another corpus (read on the pack's range)."""
    from ganforge.core import runtime
    from ganforge.core.metrics.music import mean_of, music_stats

    rt = runtime.load(pack)
    s = rt.codec.settings(rt.meta)
    train_set, valid_set, test_set = splits(s, folders)

    def table(rolls: np.ndarray) -> dict[str, Any]:
        st = music_stats(rolls, s.low, s.steps_per_beat, s.drums)
        return {k: st[k] if k == "diversity" else mean_of(st[k]) for k in KEYS} | {"qn_min_steps": st["qn_min_steps"], "bars": st["bars"]}

    def windows(rollset: Any) -> np.ndarray:  # consecutive 4-bar windows, as the samples are
        bars = rollset.bars()  # (n, 1, S, P)
        n4 = len(bars) // 4 * 4
        return bars[:n4].reshape(-1, 4, *bars.shape[1:]).transpose(0, 2, 1, 3, 4).reshape(
            -1, bars.shape[1], 4 * bars.shape[2], bars.shape[3])

    # real: whole pieces concatenated (notes are not cut at window edges) and 4-bar windows
    real = table(np.concatenate([r for r in train_set.rolls], axis=1)[None])
    real_windows = table(windows(train_set))
    test_windows, valid_windows = table(windows(test_set)), table(windows(valid_set))
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
    return {"real": real, "real_4bar_windows": real_windows, "test_4bar_windows": test_windows,
            "valid_4bar_windows": valid_windows, "pieces": {"train": len(train_set), "valid": len(valid_set),
                                                            "test": len(test_set)}, "generated": table(free),
            "generated_min1": table(raw), "generated_data_min": table(data_min), "data_min_note_steps": shortest,
            "pack_min_note_steps": int(rt.meta.decoder.get("min_note_steps", 1)),
            "continuations": table(cont), "samples": count, "generate_ms_per_sample": 1000 * gen_seconds / count,
            "pitch_low": s.low, "pitches": s.pitches}


def spread(run: Path) -> dict[str, Any]:
    """The validation evaluations of every checkpoint in the run's log: which step was best, and
    the range of the gap and of QN (at the decoder's length filter) over all of them."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in log if r.get("event") == "sample" and "stat_gap" in r]
    if not evals:
        return {}
    best = min(evals, key=lambda r: r["stat_gap"])

    def rng(key: str) -> list[float]:
        return [round(min(r[key] for r in evals), 4), round(float(np.median([r[key] for r in evals])), 4),
                round(max(r[key] for r in evals), 4)]

    return {"evaluations": len(evals), "best_step": best["step"], "last_step": evals[-1]["step"],
            "stat_gap_min_median_max": rng("stat_gap"), "QN_min_median_max": rng("QN"),
            "UPC_min_median_max": rng("UPC"), "diversity_min_median_max": rng("diversity")}


def targets(best: dict[str, Any], last: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's targets on the test split, for the checkpoint chosen on validation: QN >= 0.85
    with no length filter (the decoder drops only unconfident one-step blips), UPC and polyphony
    within 15% of the test windows', scale consistency within 0.03, diversity at least the data's,
    and the last checkpoint's QN within 5 points of the chosen one's."""
    data, gen = best["test_4bar_windows"], best["generated_min1"]

    def rel(k: str) -> float:
        return (gen[k] - data[k]) / data[k]

    out = {"QN_no_length_filter": [round(gen["QN"], 3), ">= 0.85", gen["QN"] >= 0.85],
           "UPC_vs_test": [round(rel("UPC"), 3), "|x| <= 0.15", abs(rel("UPC")) <= 0.15],
           "polyphony_vs_test": [round(rel("polyphony"), 3), "|x| <= 0.15", abs(rel("polyphony")) <= 0.15],
           "scale_consistency_minus_test": [round(gen["scale_consistency"] - data["scale_consistency"], 3),
                                            ">= -0.03", gen["scale_consistency"] - data["scale_consistency"] >= -0.03],
           "diversity_minus_test": [round(gen["diversity"] - data["diversity"], 3), ">= 0",
                                    gen["diversity"] >= data["diversity"]]}
    if last is not None:
        gap = last["generated_min1"]["QN"] - gen["QN"]
        out["QN_last_minus_best"] = [round(gap, 3), ">= -0.05", gap >= -0.05]
    return out


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
    rows = [("real", "data: train (whole pieces)"), ("real_4bar_windows", "data: train (4-bar windows)")]
    if "valid_4bar_windows" in q:
        rows += [("valid_4bar_windows", "data: validation (4-bar windows)"), ("test_4bar_windows", "data: test (4-bar windows)")]
    for name, label in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(q[name][k]) for k in KEYS) + " |")
    for name, label in (("random_notes", "baseline: random notes at the data's pitch rates"),
                        ("training_bar_shuffle", "baseline: four random training bars")):
        if name in r.get("baselines", {}):
            lines.append(f"| {label} | " + " | ".join(fmt(r["baselines"][name][k]) for k in KEYS) + " |")
    for tag, qq in (("best on validation", q), ("last", r.get("quality_last"))):
        if qq is None:
            continue
        for name, label in (("generated_min1", "no length filter (unconfident one-step blips dropped)"),
                            ("generated", f"pack's decoder (drops unconfident notes < {qq['pack_min_note_steps']} steps)"),
                            ("continuations", "continuations of test bars (pack's decoder)")):
            lines.append(f"| {tag}: {label} | " + " | ".join(fmt(qq[name][k]) for k in KEYS) + " |")
    if r.get("targets"):
        lines += ["", "| target (test split, best on validation) | value | wanted | met |", "|---|---|---|---|"]
        lines += [f"| {k} | {v[0]} | {v[1]} | {'yes' if v[2] else 'no'} |" for k, v in r["targets"].items()]
    if r.get("spread"):
        lines += ["", f"validation over all checkpoints: {json.dumps(r['spread'])}"]
    lines += ["", "| BPM | bars | messages | lag p50 (ms) | lag p99 (ms) | max (ms) | generation / bar | underruns |",
              "|---|---|---|---|---|---|---|---|"]
    for t in r["timing"]:
        lines.append(f"| {t['bpm']:g} | {t['bars']} | {t['messages']} | {t['lag_ms_p50']:.2f} | {t['lag_ms_p99']:.2f} | "
                     f"{t['lag_ms_max']:.2f} | {100 * t['generate_fraction_of_bar']:.3f}% | {t['underruns']} |")
    return "\n".join(lines)


def split_corpus(name: str, root: Path) -> dict[str, Path]:
    """A music21 corpus folder split by sorted file name: every 7th file from the first to
    ``test``, from the second to ``valid``, the rest to ``train`` (copies under ``root``)."""
    import shutil

    import music21

    source = Path(music21.__file__).parent / "corpus" / name
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".mxl", ".xml", ".musicxml", ".mid"))
    folders = {k: root / k for k in ("train", "valid", "test")}
    for i, f in enumerate(files):
        dest = folders["test" if i % 7 == 0 else "valid" if i % 7 == 1 else "train"]
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest / f.name)
    return folders


def second_corpus(name: str, budget: float, samples: int) -> None:
    """The same protocol on a music21 corpus nobody tuned on, one piano track."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = split_corpus(name, Path(tmp) / "data")
        run = Path(tmp) / "run"
        results: dict[str, Any] = {"machine": machine(), "data": f"music21 corpus {name}",
                                   "files": {k: len(list(v.iterdir())) for k, v in folders.items()}}
        results["training"] = train(folders["train"], run, budget, None,
                                    {"tracks": "single", "valid": str(folders["valid"])})
        best, last = RESULTS_DIR / f"music_{name}.onnx", Path(tmp) / "last.onnx"
        export(run, best)
        export(run, last, "last")
        results["spread"] = spread(run)
        results["quality"] = quality(best, samples, folders)
        results["baselines"] = baselines(best, samples, folders)
        results["quality_last"] = quality(last, samples, folders)
        results["targets"] = targets(results["quality"], results["quality_last"])
        pianoroll_png(best, RESULTS_DIR / f"music_{name}_seed7")
    (RESULTS_DIR / f"music_{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report({**results, "timing": []}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=450, help="training seconds (at most ~8 minutes)")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--bars", type=int, default=64, help="bars per timing run")
    parser.add_argument("--pack", type=Path, default=None, help="skip training: measure this pack")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the engine's)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--corpus", help="instead of JSB: a music21 corpus folder nobody tuned on (e.g. monteverdi), "
                                         "split by file 5:1:1 into train/valid/test; quality only")
    args = parser.parse_args()
    if args.corpus:
        return second_corpus(args.corpus, args.budget, args.samples)
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
        last = None
        if pack is None:
            run = Path(tmp) / "run"
            results["training"] = train(JSB, run, args.budget, args.lr)
            pack = RESULTS_DIR / "music_jsb.onnx"
            export(run, pack)
            last = Path(tmp) / "last.onnx"
            export(run, last, "last")
            results["spread"] = spread(run)
        results["quality"] = quality(pack, args.samples)
        results["baselines"] = baselines(pack, args.samples)
        if last is not None:
            results["quality_last"] = quality(last, args.samples)
        results["targets"] = targets(results["quality"], results.get("quality_last"))
        pianoroll_png(pack, RESULTS_DIR / "music_jsb_seed7")
        if args.no_timing:  # keep the recorded timing, saying where it came from
            old = json.loads(previous.read_text()) if previous.is_file() else {}
            results["timing"] = old.get("timing", [])
            results["timing_measured_with"] = old.get("timing_measured_with") or "the previous run of this benchmark"
        else:
            results["timing"] = [timing(pack, bpm, args.bars) for bpm in (120.0, 180.0)]
    (RESULTS_DIR / "music.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
