"""The RESULTS.md tables of an image benchmark results file (``bench_image.py --report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from common import side_by_side


def _f(v: Any, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt)


def report(results: dict[str, Any]) -> str:
    rules = results.get("rules", {})
    lines = [f"Budget {results['budget_s']:g} s per model, {results['size']} px, {rules.get('parallel')} runs side by "
             f"side, {rules.get('threads_per_model')} thread each; selection: {rules.get('selection')}.", ""]
    for setting, row in results["settings"].items():
        lines += [f"**{setting}** ({row['train_images']} training images; validation {row['val_images']}, "
                  f"test {row['test_images']})", "",
                  "| model | lr | steps (batch) | CPU s / wall s | chosen | KID ↓ | FD ↓ | accuracy (ratio) | "
                  "variety (worst) | density | coverage | memorisation (flag) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        floor = None
        for name, r in row["runs"].items():
            floor = r["test_real_floor"]
            lines.append(
                f"| {name}{' (session ' + str(r['session']) + ')' if r.get('session') else ''} | {r['lr']:g} ({r['lr_rule']}) | {r['steps']} ({r['batch']}) | {_f(r['cpu_s'], '.0f')} / {r['wall_s']} | "
                f"{r['chosen']} | {r['kid']:.4f} ± {r['kid_std']:.4f} | {r['fd']:.2f} | {_f(r.get('accuracy'))} "
                f"({_f(r.get('accuracy_ratio'), '.2f')}) | {_f(r['variety'], '.2f')} ({_f(r['variety_worst'], '.2f')}"
                f"{', ' + r['variety_worst_category'] if r.get('variety_worst_category') else ''}) | "
                f"{r['density']:.2f} | {r['coverage']:.2f} | {r['memorisation']:.3f} "
                f"({'FLAGGED' if r['memorisation_flagged'] else 'no'}) |")
        f = row["real_floor_val_vs_test"]
        if floor is not None:
            fresh = next(iter(row["runs"].values()))["memorisation_floor_fresh_real"]
            lines.append(f"| test real images (floor) | | | | | {f['kid']:.4f} (val vs test) | {f['fd']:.2f} | "
                         f"{_f(floor.get('accuracy'))} (1.00) | {_f(floor['variety'], '.2f')} "
                         f"({_f(floor['variety_worst'], '.2f')}) | {floor['density']:.2f} | {floor['coverage']:.2f} | "
                         f"{fresh:.3f} (fresh real) |")
        lines.append("")
        for i, w in enumerate(row["waves"]):
            lines.append(f"- wave {i + 1} ({', '.join(w['runs'])}): {w['wall_s']} s wall, load average "
                         f"{w['loadavg_before'][0]} before, {w['loadavg_1min_mean_during']} during, "
                         f"{w['loadavg_after'][0]} after on {w['cores']} cores; the machine was busy "
                         f"{w['machine_busy_cpu_s']} CPU-s, {w['runs_cpu_s']} of them these runs' "
                         f"({w['other_processes_cpu_s']} other processes')")
        lines.append("")
    return "\n".join(lines)


def compare(grids: list[Path], out: Path, gap: int = 8) -> None:
    """Grid PNGs (real images first, then each model's) side by side on white, one sheet: the
    picture RESULTS.md shows per budget and setting."""
    from PIL import Image

    sheets = [np.asarray(Image.open(p).convert("RGB")) for p in grids]
    Image.fromarray(side_by_side(sheets, gap)).save(out)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Put image-benchmark grids side by side.")
    parser.add_argument("out", type=Path, help="the sheet to write (.png)")
    parser.add_argument("grids", type=Path, nargs="+", help="grid PNGs, left to right")
    args = parser.parse_args()
    compare(args.grids, args.out)
