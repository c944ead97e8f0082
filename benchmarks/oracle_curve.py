"""NLL-oracle of oracle RelGAN runs *while they train*: polls each run's newest checkpoint, scores
every one whose step is a multiple of ``--every`` (2,000 lines at T=1 and T=0.8, NLL-oracle and
the share of distinct lines), appends the figures to a JSON-lines file and plots NLL-oracle
against the adversarial step. ``bench_text.py`` scores only its staged packs; this shows the path
between them (checkpoints rotate, so it must run beside the training, one thread).

    python benchmarks/oracle_curve.py --log build/curve.jsonl \
        d5=build/bench_oracle_d5/runs/oracle-relgan paper=build/bench_oracle_paper/runs/oracle-relgan \
        --until 3000 --plot benchmarks/results/text_oracle_curve.png
    python benchmarks/oracle_curve.py --log build/curve.jsonl --plot PNG     # plot only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oracle import OracleLSTM, oracle_nll  # noqa: E402

TEMPERATURES = (1.0, 0.8)


def score(run: Path, orc: OracleLSTM) -> dict[str, Any]:
    from ganforge.core.metrics.text import distinct
    from ganforge.core.training.run import load_for_export

    bundle = load_for_export(run, checkpoint="last")
    out: dict[str, Any] = {}
    for temp in TEMPERATURES:
        lines = bundle.family.sample_lines(bundle.generator, 2000, 0, temperature=temp)
        out[f"nll_t{temp:g}"] = round(oracle_nll(orc, lines), 4)
        out[f"distinct_t{temp:g}"] = round(distinct(lines), 4)
    return out


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(s) for s in path.read_text().splitlines() if s.strip()] if path.is_file() else []


def plot(records: list[dict[str, Any]], path: Path, published: float = 6.68, real: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name in dict.fromkeys(r["name"] for r in records):
        rows = sorted((r for r in records if r["name"] == name), key=lambda r: r["step"])
        for temp, style in zip(TEMPERATURES, ("-o", "--s"), strict=True):
            ax.plot([r["step"] for r in rows], [r[f"nll_t{temp:g}"] for r in rows], style, ms=4,
                    label=f"{name}, T={temp:g}")
    ax.axhline(published, color="black", lw=0.8, ls=":", label=f"published RelGAN ({published})")
    if real is not None:
        ax.axhline(real, color="grey", lw=0.8, ls="-.", label=f"oracle's own samples ({real:.2f})")
    ax.set_xlabel("adversarial step")
    ax.set_ylabel("NLL-oracle (nats/token, lower = better)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", metavar="NAME=RUN_DIR")
    p.add_argument("--log", type=Path, required=True, help="JSON lines, appended (a rerun skips what it holds)")
    p.add_argument("--every", type=int, default=500, help="score checkpoints at multiples of this step")
    p.add_argument("--until", type=int, default=None, help="stop once every run has been scored at this step")
    p.add_argument("--poll", type=float, default=60.0, help="seconds between looks")
    p.add_argument("--plot", type=Path, default=None)
    args = p.parse_args()

    import torch

    from ganforge.core.training import checkpoint as ckpt

    torch.set_num_threads(1)
    orc = OracleLSTM(seed=0)
    runs = dict(item.split("=", 1) for item in args.runs)
    records = read_log(args.log)
    seen = {(r["name"], r["step"]) for r in records}
    while runs:
        for name, run in runs.items():
            if not ckpt.has_checkpoints(run):
                continue
            step = int(ckpt.load_latest(run, warn=lambda *a: None)[2]["step"])
            if step % args.every or (name, step) in seen:
                continue
            rec = {"name": name, "run": run, "step": step, "time": time.strftime("%H:%M:%S"), **score(Path(run), orc)}
            with args.log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            records.append(rec)
            seen.add((name, step))
            print(json.dumps(rec), flush=True)
        if args.until is None or all((n, args.until) in seen for n in runs):
            break
        time.sleep(args.poll)
    if args.plot:
        real = json.loads((Path(__file__).parent / "results" / "text.json").read_text()).get("oracle", {}).get("real")
        plot(records, args.plot, real=real)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
