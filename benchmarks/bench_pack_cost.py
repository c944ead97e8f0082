"""What one texture pack costs against another at generation: drawing the inputs from a seed and
running the graph, timed separately, interleaved in one process (onnxruntime, float32, CPU).

Used to price a change to the texture family (e.g. the noise maps carried in ``z_local``):
export a run from before and one from after, then

    python benchmarks/bench_pack_cost.py BEFORE.onnx AFTER.onnx [--sizes 1024 2048] [--repeats 7]

Prints and writes ``results/pack_cost.json``: medians per size and the after/before ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "pack_cost.json")
    args = ap.parse_args()

    from ganforge.core.runtime import load

    packs = {"before": load(args.before, device="cpu", threads=args.threads),
             "after": load(args.after, device="cpu", threads=args.threads)}
    report = {"machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_avg_1min_before": round(os.getloadavg()[0], 2), "sizes": {}}
    for size in args.sizes:
        times: dict[str, dict[str, list[float]]] = {k: {"draw": [], "run": []} for k in packs}
        for i in range(args.repeats + 1):  # the first round warms up and is dropped
            for name, rt in packs.items():  # interleaved: noise hits both alike
                stride = int(rt.meta.decoder["stride"])
                dims = {"h": size // stride, "w": size // stride}
                t0 = time.perf_counter()
                feeds = rt.draw_inputs(i, 1, dims)
                t1 = time.perf_counter()
                rt.run(feeds)
                t2 = time.perf_counter()
                if i:
                    times[name]["draw"].append(t1 - t0)
                    times[name]["run"].append(t2 - t1)
        row = {name: {part: round(median(v) * 1000, 1) for part, v in parts.items()} for name, parts in times.items()}
        total = {name: row[name]["draw"] + row[name]["run"] for name in row}
        row["ratio_after_before"] = round(total["after"] / total["before"], 3)
        report["sizes"][str(size)] = row
        print(f"{size}²: before draw {row['before']['draw']} ms + run {row['before']['run']} ms | "
              f"after draw {row['after']['draw']} ms + run {row['after']['run']} ms | "
              f"after/before {row['ratio_after_before']}×", flush=True)
    report["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
