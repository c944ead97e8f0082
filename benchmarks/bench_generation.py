"""Generation: onnxruntime (float32 and int8 packs) against PyTorch eager, same generator.

Also the cold start of a host (a new process: import the runtime, load the pack, make one
1024² texture) against the same through torch, and the peak memory of generating 4096² and
of training (batch 16, crop 128). Medians and ratios, measured side by side in one run.

    python benchmarks/bench_generation.py [--run RUN_DIR] [--sizes 512 1024 2048] [--repeats 5]

Without ``--run`` a short texture run is trained first (realistic weights matter for the int8
PSNR; speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import median, run_python, save, table, time_call

from ganforge.core.runtime import load
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.run import load_for_export, train
from ganforge.exporters.onnx.export import export_pack
from ganforge.exporters.onnx.quantize import psnr_db

COLD_ORT = """
import json, time, sys
t0 = time.perf_counter()
from ganforge.core.runtime import load
rt = load({pack!r}, device="cpu", threads={threads})
img = rt.generate(seed=0, size=(1024, 1024))
print(json.dumps({{"seconds": time.perf_counter() - t0, "torch_imported": "torch" in sys.modules}}))
"""

COLD_TORCH = """
import json, time
t0 = time.perf_counter()
import torch
torch.set_num_threads({threads})
from ganforge.core.training.run import load_for_export
b = load_for_export({run!r})
with torch.inference_mode():
    x = b.generator(*b.family.example_inputs(1, {{"h": 1024 // b.family.stride, "w": 1024 // b.family.stride}}))
img = ((x.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
print(json.dumps({{"seconds": time.perf_counter() - t0}}))
"""

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child started by a big
# parent would report the parent's peak.
HWM = """
def hwm_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
"""

PEAK_GENERATE = HWM + """
import json
from ganforge.core.runtime import load
rt = load({pack!r}, device="cpu", threads={threads})
base = hwm_mib()
img = rt.generate(seed=0, size=(4096, 4096))
print(json.dumps({{"peak_mib": hwm_mib(), "after_load_mib": base, "result_mib": img.nbytes / 2**20}}))
"""

PEAK_TRAIN = HWM + """
import json, torch
from ganforge.core.modalities.texture.data import build_dataset
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.trainer import Trainer
ds = build_dataset("builtin:skimage", 128)
base = hwm_mib()
t = Trainer(TextureFamily({{}}, ds.data_info), ds, TrainConfig(batch=16, crop=128, device="cpu", r1_every=1),
            torch.device("cpu"))
for _ in range(3):
    t.step()
print(json.dumps({{"peak_mib": hwm_mib(), "before_model_mib": base}}))
"""


def quick_run(workdir: Path) -> Path:
    cfg = TrainConfig(out=str(workdir / "run"), steps=300, batch=8, crop=64, device="cpu",
                      sample_every=10_000, log_every=100, checkpoint_every=10_000)
    return train(cfg, progress=True).run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, help="a texture run directory (default: train a short one)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cold-repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="ganforge-bench-") as tmp:
        work = Path(tmp)
        run_dir = args.run or quick_run(work)
        fp32, int8 = work / "fp32.onnx", work / "int8.onnx"
        export_pack(run_dir, fp32)
        q = export_pack(run_dir, int8, int8=True)
        bundle = load_for_export(run_dir)
        G, family = bundle.generator, bundle.family
        rt32 = load(fp32, device="cpu", threads=args.threads)
        rt8 = load(int8, device="cpu", threads=args.threads)

        rows, speed = [], {}
        for size in args.sizes:
            dims = {"h": size // family.stride, "w": size // family.stride}
            feeds = rt32.draw_inputs(0, 1, dims)
            torch_in = tuple(torch.from_numpy(feeds[n]) for n in rt32.input_names)
            reps = args.repeats if size <= 1024 else max(2, args.repeats // 2)

            def eager(torch_in=torch_in) -> None:
                with torch.inference_mode():
                    G(*torch_in)

            # Interleave the three so noise hits them alike.
            t_torch, t_32, t_8 = [], [], []
            for _ in range(reps):
                t_torch += time_call(eager, 1, warmup=0 if t_torch else 1)
                t_32 += time_call(lambda feeds=feeds: rt32.run(feeds), 1, warmup=0 if t_32 else 1)
                t_8 += time_call(lambda feeds=feeds: rt8.run(feeds), 1, warmup=0 if t_8 else 1)
            with torch.inference_mode():
                ref = G(*torch_in).numpy()
            out8 = rt8.run(feeds)[0]
            err32 = float(np.abs(rt32.run(feeds)[0] - ref).max())
            psnr = psnr_db(rt32.run(feeds)[0], out8, 2.0)
            mt, m32, m8 = median(t_torch), median(t_32), median(t_8)
            speed[size] = {"torch_s": t_torch, "ort_fp32_s": t_32, "ort_int8_s": t_8,
                           "fp32_speedup": mt / m32, "int8_speedup": mt / m8, "int8_psnr_db": psnr,
                           "fp32_max_abs_err": err32}
            rows.append([f"{size}²", f"{mt * 1000:.0f}", f"{m32 * 1000:.0f}", f"{m8 * 1000:.0f}",
                         f"{mt / m32:.2f}×", f"{mt / m8:.2f}×", f"{psnr:.1f}"])
            print(f"{size}² done", flush=True)
        print(table(["size", "torch eager ms", "ORT fp32 ms", "ORT int8 ms", "fp32 speed-up",
                     "int8 speed-up", "int8 PSNR dB"], rows))

        cold_ort, cold_ort8, cold_torch = [], [], []
        for _ in range(args.cold_repeats):
            for pack, out in ((fp32, cold_ort), (int8, cold_ort8)):
                r = run_python(COLD_ORT.format(pack=str(pack), threads=args.threads))
                assert not r["torch_imported"], "the runtime imported torch"
                out.append(r["seconds"])
            cold_torch.append(run_python(COLD_TORCH.format(run=str(run_dir), threads=args.threads))["seconds"])
        cold = {"ort_s": cold_ort, "ort_int8_s": cold_ort8, "torch_s": cold_torch,
                "speedup": median(cold_torch) / median(cold_ort), "int8_speedup": median(cold_torch) / median(cold_ort8)}
        print(f"cold start 1024²: onnxruntime {median(cold_ort):.2f} s (int8 pack {median(cold_ort8):.2f} s), "
              f"torch {median(cold_torch):.2f} s: {cold['speedup']:.2f}× faster (int8 pack {cold['int8_speedup']:.2f}×)")

        peak_gen = run_python(PEAK_GENERATE.format(pack=str(fp32), threads=args.threads))
        peak_train = run_python(PEAK_TRAIN.format())
        print(f"peak memory: generate 4096² {peak_gen['peak_mib']:.0f} MiB "
              f"(result {peak_gen['result_mib']:.0f} MiB); train batch 16 crop 128 {peak_train['peak_mib']:.0f} MiB")

        result = {"args": {k: str(v) for k, v in vars(args).items()}, "run": str(run_dir),
                  "run_steps": bundle.facts.get("steps"), "int8_export_psnr_db": q.int8_psnr_db,
                  "speed": speed, "cold_start_1024": cold, "peak_generate_4096": peak_gen,
                  "peak_train_b16_c128": peak_train}
        print(f"saved {save('generation', json.loads(json.dumps(result)))}")


if __name__ == "__main__":
    sys.exit(main())
