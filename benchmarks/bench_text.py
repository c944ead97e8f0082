"""Text benchmark: MLE vs RelGAN on COCO captions (BLEU-2..5, Self-BLEU-2..5, temperature sweep,
next to the published rows and the real data), and the synthetic-oracle NLL (Texygen setting).

Protocol (fixed, stated in benchmarks/RESULTS.md): each model generates 10,000 lines (seed 0,
through the exported pack and onnxruntime, as a user would); BLEU-n is the mean NLTK sentence BLEU
(uniform weights, smoothing method 1) of a seeded random 1,000 of them against the whole test file;
Self-BLEU-n the same for a seeded random 1,000 against the other 9,999 generated lines. The real-data
row applies the same protocol to the 10,000 training lines.

Training: the MLE baseline trains with held-out early stopping (5% of the training lines held
out, evaluated every half epoch, ``--patience`` evaluations without a better held-out NLL end it;
``--mle-minutes`` caps the wall clock) and exports its best checkpoint. RelGAN starts from that
checkpoint (``init_from``, pretrain_steps=0), as the RelGAN authors start from a saved pre-trained
generator, and runs in stages (``--adv-steps 300 1000``): one run, resumed from stage to stage,
with beta annealed over the last stage's steps, a pack exported and swept at each. Every stage
leaves its result in ``--out``; rerunning skips finished stages and resumes runs, so the same
script runs a longer schedule (``--adv-steps 1000 5000 --device cuda``) on a GPU.

    python benchmarks/bench_text.py --skip-oracle            # COCO, ~40 min on 2 CPU cores
    python benchmarks/bench_text.py --skip-coco --oracle-model-option generator=rmc \
        --oracle-model-option head_size=64 --oracle-tag rmc      # the oracle with relational memory
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data" / "text"
PUBLISHED = {  # ../shared/data/README.md (Texygen; RelGAN paper)
    "MLE (Texygen)": [0.731, 0.497, 0.305, 0.189], "SeqGAN": [0.745, 0.498, 0.294, 0.180],
    "LeakGAN": [0.746, 0.528, 0.355, 0.230], "RelGAN(100)": [0.849, 0.687, 0.502, 0.331],
}
PUBLISHED_ORACLE = {"MLE": 9.038, "SeqGAN": 8.736, "RankGAN": 8.247, "LeakGAN": 7.038, "RelGAN": 6.680}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def save_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


# ---- training on a budget -------------------------------------------------------------------
def steps_per_s(log: Path, batch: int) -> float:
    """Training speed in the run's last logged window."""
    records = [json.loads(s) for s in log.read_text().splitlines() if s.strip()]
    return [r for r in records if "images_per_s" in r][-1]["images_per_s"] / batch


def train_for(cfg: Any, minutes: float, probe_steps: int = 20, steps: int | None = None) -> dict[str, Any]:
    """Train ``cfg`` for about ``minutes`` of wall clock (resumable): a probe run times a step,
    then a resume up to the steps that fit. With ``steps``, train exactly that many instead (a
    schedule, such as the RelGAN paper's, that must not depend on the machine). Returns steps
    and seconds."""
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.run import train

    run = Path(cfg.out)
    log = run / "log.jsonl"
    rate = None
    if steps is None:
        if not ckpt.has_checkpoints(run):
            cfg.steps = probe_steps
            if train(cfg, progress=False).interrupted:
                sys.exit("interrupted; rerun to resume")
        rate = steps_per_s(log, cfg.batch)
        steps = int(max(probe_steps, minutes * 60 * rate))
    cfg.steps = steps
    t = time.perf_counter()
    if train(cfg, resume=ckpt.has_checkpoints(run), progress=True).interrupted:
        sys.exit("interrupted; rerun to resume")
    rate = rate or steps_per_s(log, cfg.batch)
    return {"steps": steps, "steps_per_s": round(rate, 2), "resume_seconds": round(time.perf_counter() - t, 1)}


def export(run: Path, pack: Path, checkpoint: str = "last", step: int | None = None) -> Path:
    """Export ``run``'s newest (or best) checkpoint once; with ``step``, the newest must be that
    step (a staged run exports each stage right after training it)."""
    from ganforge.exporters.onnx.export import export_pack

    if not pack.is_file():
        at = latest_step(run) if step is not None else None
        if at != step:
            sys.exit(f"{run} is at step {at}, not {step}: rerun with a fresh --out to export stage {step}")
        t = time.perf_counter()
        export_pack(run, pack, checkpoint=checkpoint)
        say(f"exported {pack.name} ({checkpoint} checkpoint) in {time.perf_counter() - t:.0f} s")
    return pack


def latest_step(run: Path) -> int:
    from ganforge.core.training import checkpoint as ckpt

    return int(ckpt.load_latest(run)[2]["step"])


def relgan_stages(run: Path, out: Path, model: dict[str, Any], common: dict[str, Any], stages: list[int],
                  timing: dict[str, Any], save: Any, pack_prefix: str, name_prefix: str = "",
                  after: Any = None, anneal: int | None = None) -> dict[str, Path]:
    """Train one RelGAN run to each step count in ``stages`` in turn (beta annealed over the last,
    or over ``anneal`` steps), exporting a pack after each; ``after(name, steps)`` runs while the
    run's newest checkpoint is that stage's. Returns ``{name: pack}``; finished stages are skipped
    on a rerun."""
    from ganforge.core.training.config import TrainConfig

    packs = {}
    for steps in stages:
        name = f"{name_prefix}relgan-{steps}"
        if name not in timing:
            cfg = TrainConfig(family="relgan", out=str(run), model={**model, "anneal_steps": anneal or max(stages)},
                              sample_every=10**9, **common)
            timing[name] = train_for(cfg, 0, steps=steps)
            save()
        say(f"{pack_prefix} {name} trained: {timing[name]}")
        packs[name] = export(run, out / f"{pack_prefix}-relgan-{steps}.onnx", "last", step=steps)
        if after is not None:
            after(name, steps)
    return packs


def early_stop_facts(run: Path, epoch: float) -> dict[str, Any]:
    """Where an early-stopped run's best checkpoint is, in steps and epochs, and its held-out NLL."""
    from ganforge.core.training import checkpoint as ckpt

    _, meta = ckpt.load(run / "checkpoints" / ckpt.BEST)
    best = meta["best"]
    _, _, last = ckpt.load_latest(run)
    return {"best_step": best["step"], "best_epochs": round(best["step"] / epoch, 2),
            "held_out_nll": round(best["value"], 3), "stopped_at": last["step"]}


# ---- COCO ------------------------------------------------------------------------------------
def score(lines: list[str], test: list[str], train_lines: list[str], seed: int = 0) -> dict[str, float]:
    from ganforge.core.metrics.text import bleu, novelty, self_bleu

    out = {**bleu(lines, test, seed=seed, level="word"), **self_bleu(lines, seed=seed, level="word")}
    out["novelty"] = novelty(lines, train_lines)
    return {k: round(v, 4) for k, v in out.items()}


def coco(args: argparse.Namespace, out: Path, results: dict[str, Any]) -> None:
    from ganforge.core import runtime
    from ganforge.core.metrics.text import plot_quality_diversity
    from ganforge.core.modalities.text.data import read_lines
    from ganforge.core.training.config import TrainConfig

    train_path, test_path = SHARED / "coco_train.txt", SHARED / "coco_test.txt"
    train_lines, test = read_lines(train_path)[0], read_lines(test_path)[0]
    if "real" not in results.get("coco", {}):
        t = time.perf_counter()
        results.setdefault("coco", {})["real"] = {**score(train_lines, test, train_lines),
                                                  "seconds": round(time.perf_counter() - t, 1)}
        save_json(out / "text.json", results)
    say(f"real data: {results['coco']['real']}")
    max_len = max(len(s.split()) for s in train_lines)
    epoch = len(train_lines) * 0.95 / args.batch  # steps per epoch over the lines not held out
    common = dict(modality="text", data=str(train_path), crop=max_len, batch=args.batch, seed=0, device=args.device,
                  data_options={"level": "word"}, checkpoint_every=500, log_every=20, checkpoint_minutes=5.0)
    mle_run, rel_run = out / "runs" / "coco-mle", out / "runs" / "coco-relgan"
    timing = results.setdefault("coco_training", {})
    if "mle" not in timing:
        cfg = TrainConfig(family="mle", out=str(mle_run), model={"hidden": args.hidden, "emb": 64, "dropout": args.dropout},
                          sample_every=max(1, int(epoch / 2)), patience=args.patience, **common)
        timing["mle"] = {**train_for(cfg, args.mle_minutes), **early_stop_facts(mle_run, epoch)}
        save_json(out / "text.json", results)
    say(f"mle trained: {timing['mle']}")
    packs = {"mle": export(mle_run, out / "coco-mle.onnx", "best")}
    model = {"hidden": args.hidden, "emb": 64, "init_from": str(mle_run / "checkpoints" / "best.safetensors"),
             "pretrain_steps": 0, "d_emb": 32, "d_reps": args.d_reps, "d_channels": 32, "beta_max": 100.0}
    packs.update(relgan_stages(rel_run, out, model, common, args.adv_steps, timing,
                               lambda: save_json(out / "text.json", results), "coco"))

    sweep = results["coco"].setdefault("sweep", {})
    for name, pack in packs.items():
        rt = runtime.load(pack)
        for temp in args.temperatures:
            key = f"{temp:g}"
            if key in sweep.get(name, {}):
                continue
            t = time.perf_counter()
            lines = list(rt.generate(0, args.samples, temperature=temp))
            gen_s = time.perf_counter() - t
            row = {**score(lines, test, train_lines), "temperature": temp, "generate_seconds": round(gen_s, 1)}
            sweep.setdefault(name, {})[key] = row
            (out / f"coco-{name}-t{key}.txt").write_text("".join(s + "\n" for s in lines[:50]), encoding="utf-8")
            save_json(out / "text.json", results)
            say(f"{name} T={key}: {row}")
    curves = {name: [sweep[name][k] for k in sorted(sweep[name], key=float)] for name in sweep}
    real = results["coco"]["real"]
    plot_quality_diversity(curves, HERE / "results" / "text_quality_diversity.png",
                           {"real data (training lines)": real})


# ---- synthetic oracle ------------------------------------------------------------------------------
def oracle(args: argparse.Namespace, out: Path, results: dict[str, Any]) -> None:
    from oracle import OracleLSTM, oracle_nll, write_oracle_corpus

    from ganforge.core import runtime
    from ganforge.core.commands.train import parse_data_options
    from ganforge.core.metrics.text import distinct, novelty
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.config import TrainConfig

    data = out / "oracle_train.txt"
    orc = OracleLSTM(seed=0)
    if not data.is_file():
        write_oracle_corpus(orc, data, 10_000)
    res = results.setdefault("oracle", {})
    if "real" not in res:
        res["real"] = round(oracle_nll(orc, data.read_text().splitlines()[:2000]), 4)
    epoch = 10_000 * 0.95 / 64
    common = dict(modality="text", data=str(data), crop=20, batch=64, seed=0, device=args.device,
                  data_options={"level": "word"}, checkpoint_every=500, log_every=20)
    size = {"hidden": args.oracle_hidden, "emb": args.oracle_emb,
            **parse_data_options(args.oracle_model_option, "--oracle-model-option")}
    tag = f"{args.oracle_tag}-" if args.oracle_tag else ""
    mle_run, rel_run = out / "runs" / "oracle-mle", out / "runs" / "oracle-relgan"
    timing = results.setdefault("oracle_training", {})
    if args.oracle_init is not None:
        mle_run = args.oracle_init.resolve()
        timing[f"{tag}mle"] = {"reused": str(mle_run), **early_stop_facts(mle_run, epoch)}
    # --oracle-mle-epochs: a fixed schedule (the RelGAN authors pre-train 150 epochs) whose last
    # weights RelGAN starts from; otherwise early stopping on held-out lines picks them
    fixed = args.oracle_mle_epochs is not None
    if f"{tag}mle" not in timing:
        cfg = TrainConfig(family="mle", out=str(mle_run), model={**size, "dropout": args.oracle_dropout},
                          sample_every=max(1, int(epoch / 2)), patience=0 if fixed else args.patience,
                          **common)
        steps = round(args.oracle_mle_epochs * epoch) if fixed else None
        timing[f"{tag}mle"] = {**train_for(cfg, args.oracle_mle_minutes, steps=steps),
                               **early_stop_facts(mle_run, epoch)}
        save_json(out / "text.json", results)
    start = "last" if fixed else "best"
    start_file = ckpt.load_latest(mle_run)[0] if fixed else mle_run / "checkpoints" / ckpt.BEST
    say(f"oracle mle trained: {timing[f'{tag}mle']}")
    held_out = [" ".join(f"w{int(t)}" for t in row) for row in orc.sample(2000, seed=2)]
    test = results.setdefault("oracle_nll_test", {})
    def save() -> None:
        save_json(out / "text.json", results)

    def take_nll_test(name: str, run: Path, checkpoint: str) -> None:
        for temp in args.oracle_temperatures:
            if f"{name}_t{temp:g}" not in test:
                test[f"{name}_t{temp:g}"] = round(nll_test(run, held_out, temp, checkpoint), 4)
                save()

    def stage_nll_test(name: str, steps: int) -> None:
        # NLL-test needs this stage's weights, which the next stage replaces: take it now
        if latest_step(rel_run) == steps:
            take_nll_test(name, rel_run, "last")
        else:
            say(f"{rel_run} has moved past step {steps}: no NLL-test for {name}")

    packs = {f"{tag}mle": export(mle_run, out / "oracle-mle.onnx", start)}
    take_nll_test(f"{tag}mle", mle_run, start)
    model = {**size, "init_from": str(start_file),
             "pretrain_steps": 0, "d_emb": 32, "d_reps": args.d_reps, "d_channels": 32,
             **parse_data_options(args.oracle_relgan_option, "--oracle-relgan-option")}
    packs.update(relgan_stages(rel_run, out, model, common, args.oracle_adv_steps, timing, save, "oracle", tag,
                               after=stage_nll_test, anneal=args.oracle_anneal_steps))
    novel = results.setdefault("oracle_novelty", {})
    distinct_share = results.setdefault("oracle_distinct", {})
    train_lines = set(data.read_text().splitlines())
    for name, pack in packs.items():
        rt = runtime.load(pack)
        for temp in args.oracle_temperatures:
            key = f"{name}_t{temp:g}"
            if key not in res or key not in distinct_share:
                lines = list(rt.generate(0, 2000, temperature=temp))
                res[key] = round(oracle_nll(orc, lines), 4)
                # NLL-oracle is lowest for a model that replays its training lines, or one line:
                # say how many lines are new, and how many differ from each other
                novel[key] = round(novelty(lines, train_lines), 4)
                distinct_share[key] = round(distinct(lines), 4)
                save()
            say(f"oracle {key}: NLL-oracle {res[key]}, NLL-test {test.get(key)}, novelty {novel[key]}, "
                f"distinct {distinct_share[key]}")


def nll_test(run: Path, lines: list[str], temperature: float, checkpoint: str = "last") -> float:
    """NLL-test: the model's own per-token NLL (nats, ``<eos>`` included) of held-out oracle
    lines, with its logits divided by ``temperature`` as the pack samples them. NLL-oracle
    rewards a model that says only likely things; NLL-test rises when it stops covering the
    data, so the pair shows what a lower temperature or a GAN buys and what it costs."""
    import torch
    import torch.nn.functional as F

    from ganforge.core.modalities.text.data import encode_lines
    from ganforge.core.modalities.text.model import after_eos_mask
    from ganforge.core.training.run import load_for_export

    bundle = load_for_export(run, checkpoint=checkpoint)
    G, family = bundle.generator, bundle.family
    ids = torch.tensor(encode_lines(lines, family.vocab, family.max_len)[0], dtype=torch.int64)
    with torch.no_grad():
        logits = G.teacher_forced(ids) / temperature
        nll = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
        mask = after_eos_mask(ids)
    return float((nll * mask).sum() / mask.sum())


def report(results: dict[str, Any]) -> str:
    """The markdown tables of benchmarks/RESULTS.md's Text section, from text.json."""
    def row(name: str, r: dict[str, Any], extra: str = "") -> str:
        b = " | ".join(f"{r[f'bleu{k}']:.3f}" for k in (2, 3, 4, 5))
        sb = " | ".join(f"{r[f'self_bleu{k}']:.3f}" for k in (2, 3, 4, 5)) if "self_bleu2" in r else "– | – | – | –"
        return f"| {name} | {b} | {sb} | {extra} |"

    coco = results.get("coco", {})
    lines = ["| model | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | Self-BLEU-2 | Self-BLEU-3 | Self-BLEU-4 | Self-BLEU-5 | novelty |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    if "real" in coco:
        lines.append(row("real data (training lines)", coco["real"], "0 (by definition)"))
    for name, sweep in coco.get("sweep", {}).items():
        for key in sorted(sweep, key=float):
            r = sweep[key]
            lines.append(row(f"ganforge {name}, T={key}", r, f"{r['novelty']:.3f}"))
    for name, b in PUBLISHED.items():
        lines.append(row(f"published {name}", {f"bleu{k}": v for k, v in zip((2, 3, 4, 5), b, strict=True)}))
    out = "\n".join(lines)
    training = results.get("coco_training", {})
    if training:
        out += "\n\nTraining: " + "; ".join(f"{k}: {v['steps']} steps at {v['steps_per_s']} steps/s"
                                          for k, v in training.items())
    orc = results.get("oracle", {})
    if orc:
        test, novel = results.get("oracle_nll_test", {}), results.get("oracle_novelty", {})
        distinct = results.get("oracle_distinct", {})
        out += ("\n\n| run | T | NLL-oracle | NLL-test | novelty | distinct |\n|---|---|---|---|---|---|\n"
                f"| real data (oracle samples) | 1 | {orc['real']:.3f} | | | |\n")

        def fmt(v: float | None, spec: str) -> str:
            return "" if v is None else format(v, spec)

        for key in (k for k in orc if k != "real"):
            name, temp = key.rsplit("_t", 1)
            out += (f"| {name} | {temp} | {orc[key]:.3f} | {fmt(test.get(key), '.2f')} | "
                    f"{fmt(novel.get(key), '.3f')} | {fmt(distinct.get(key), '.3f')} |\n")
        out += "\n".join(f"| published {k} | 1 | {v:.3f} | | | |" for k, v in PUBLISHED_ORACLE.items())
        ot = results.get("oracle_training", {})
        if ot:
            out += "\n\nOracle training: " + "; ".join(f"{k}: {v['steps']} steps" for k, v in ot.items())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE.parent / "build" / "bench_text")
    p.add_argument("--device", default="auto")
    p.add_argument("--mle-minutes", type=float, default=20.0,
                   help="wall-clock cap of the COCO MLE run (early stopping usually ends it first)")
    p.add_argument("--adv-steps", type=int, nargs="+", default=[300, 1000],
                   help="COCO RelGAN stages: one run from the best MLE checkpoint, a pack exported and swept at each")
    p.add_argument("--dropout", type=float, default=0.3, help="COCO MLE dropout")
    p.add_argument("--patience", type=int, default=4,
                   help="MLE early stopping: half-epoch evaluations of held-out NLL without improvement")
    p.add_argument("--oracle-mle-minutes", type=float, default=20.0)
    p.add_argument("--oracle-mle-epochs", type=float, default=None,
                   help="pre-train exactly this many epochs, no early stopping, and start RelGAN from the "
                        "last weights (the RelGAN authors: 150)")
    p.add_argument("--oracle-anneal-steps", type=int, default=None,
                   help="steps over which beta reaches beta_max (default: the last stage; the RelGAN authors "
                        "anneal over 5,000 and stop at 3,000)")
    p.add_argument("--oracle-adv-steps", type=int, nargs="+", default=[1000, 5000],
                   help="oracle RelGAN stages (the RelGAN paper runs 5,000 adversarial steps)")
    p.add_argument("--oracle-hidden", type=int, default=32, help="oracle generator LSTM size (Texygen's: 32)")
    p.add_argument("--oracle-emb", type=int, default=32)
    p.add_argument("--oracle-dropout", type=float, default=0.0)
    p.add_argument("--oracle-model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a text model option for both oracle runs, e.g. generator=rmc head_size=64")
    p.add_argument("--oracle-relgan-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option for the oracle RelGAN run only, e.g. d_steps=5")
    p.add_argument("--oracle-tag", default="", help="prefix of this oracle run's result keys (beside others)")
    p.add_argument("--oracle-init", type=Path, default=None,
                   help="reuse this finished oracle MLE run (e.g. of an earlier --out) instead of training one")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=32, help="COCO batch (64 on a GPU)")
    p.add_argument("--d-reps", type=int, default=8)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.9, 1.0, 1.1, 1.2])
    p.add_argument("--oracle-temperatures", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.5],
                   help="sampling temperatures for NLL-oracle (lower: better NLL-oracle, less diversity)")
    p.add_argument("--skip-oracle", action="store_true")
    p.add_argument("--skip-coco", action="store_true",
                   help="oracle only; benchmarks/results/text.json keeps its COCO figures")
    p.add_argument("--report", action="store_true", help="print the markdown tables of the last results and exit")
    args = p.parse_args()
    if args.report:
        print(report(load_json(HERE / "results" / "text.json") or load_json(args.out / "text.json") or {}))
        return
    if not (SHARED / "coco_train.txt").is_file():
        sys.exit(f"bench_text: {SHARED} is missing (the COCO captions come from ../shared)")
    args.out.mkdir(parents=True, exist_ok=True)
    results = load_json(args.out / "text.json") or {}
    results["machine"] = machine()
    results["protocol"] = ("10,000 generated lines (seed 0); BLEU-n: mean NLTK sentence BLEU (smoothing 1) of a "
                           "seeded random 1,000 against the whole test file; Self-BLEU-n: a seeded random 1,000 "
                           "against the other generated lines; word tokens")
    t0 = time.perf_counter()
    if not args.skip_coco:
        coco(args, args.out, results)
    if not args.skip_oracle:
        oracle(args, args.out, results)
    results["published"] = {"coco_bleu2_5": PUBLISHED, "oracle_nll": PUBLISHED_ORACLE}
    results["wall_seconds_this_run"] = round(time.perf_counter() - t0, 1)
    save_json(args.out / "text.json", results)
    # A run of one part keeps the other part's recorded figures.
    recorded = load_json(HERE / "results" / "text.json") or {}
    for k, v in results.items():
        if (args.skip_coco and k.startswith("coco")) or (args.skip_oracle and k.startswith("oracle")):
            continue
        # a tagged oracle run adds its keys beside the other runs' figures
        tagged = args.oracle_tag and k.startswith("oracle") and isinstance(recorded.get(k), dict)
        recorded[k] = {**recorded[k], **v} if tagged else v
    save_json(HERE / "results" / "text.json", recorded)
    say(f"done in {results['wall_seconds_this_run']:.0f} s; results in benchmarks/results/text.json")


if __name__ == "__main__":
    main()
