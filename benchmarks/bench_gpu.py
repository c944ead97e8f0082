"""GPU benchmark, in one go where a CUDA GPU is available (skips itself elsewhere).

1. training throughput of the texture engine on CUDA: AMP + channels-last against fp32, and
   against the plain reference loop (same networks, same batch);
2. onnxruntime-gpu parity: the pack run by CUDAExecutionProvider against PyTorch on the GPU;
3. 2048² generation: onnxruntime-gpu against PyTorch CUDA eager.

Needs torch with CUDA and ``onnxruntime-gpu`` (``pip install -e '.[train,gpu]'``).

    python benchmarks/bench_gpu.py [--steps 50] [--batch 16] [--crop 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from bench_training import ReferenceLoop
from common import median, save, table

from ganforge.core.modalities.texture.data import build_dataset
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.runtime import load
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.trainer import Trainer
from ganforge.exporters.onnx.export import export_generator


def cuda_time(fn, repeats: int) -> list[float]:
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=128)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure")
        return 0
    dev = torch.device("cuda")
    gpu = torch.cuda.get_device_name(0)
    dataset = build_dataset("builtin:skimage", args.crop)
    base = TrainConfig(batch=args.batch, crop=args.crop, device="cuda")
    runners = {
        "reference loop fp32": ReferenceLoop(TextureFamily({}, dataset.data_info), dataset, args.batch, 0, dev),
        "engine fp32": Trainer(TextureFamily({}, dataset.data_info), dataset,
                               replace(base, amp=False, channels_last=False), dev),
        "engine AMP + channels-last": Trainer(TextureFamily({}, dataset.data_info), dataset, base, dev),
    }
    train_rows, train_res = [], {}
    for name, r in runners.items():
        ts = cuda_time(lambda r=r: [r.step() for _ in range(10)], max(1, args.steps // 10))
        ips = [10 * args.batch / t for t in ts]
        train_res[name] = ips
        train_rows.append([name, f"{median(ips):.0f}"])
    ref = median(train_res["reference loop fp32"])
    for row in train_rows:
        row.append(f"{float(row[1]) / ref:.2f}")
    print(table(["loop", "images/s", "ratio to reference"], train_rows))

    family = TextureFamily({}, dataset.data_info)
    G = runners["engine AMP + channels-last"].G_ema.float().cpu().to(memory_format=torch.contiguous_format)
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "gpu.onnx"
        export_generator(family, G, pack, facts={"note": "gpu benchmark"}, modality="texture", family_name="texture")
        rt = load(pack, device="cuda")
        providers = rt.providers
        dims = {"h": 2048 // family.stride, "w": 2048 // family.stride}
        feeds = rt.draw_inputs(0, 1, dims)
        G = G.to(dev)
        tin = tuple(torch.from_numpy(feeds[n]).to(dev) for n in rt.input_names)
        with torch.inference_mode():
            ref_out = G(*tin).float().cpu().numpy()
        ort_out = rt.run(feeds)[0]
        parity = float(np.abs(ort_out - ref_out).max())

        def eager() -> None:
            with torch.inference_mode():
                G(*tin)

        t_torch = cuda_time(eager, 10)
        t_ort = cuda_time(lambda: rt.run(feeds), 10)
    print(f"onnxruntime providers: {providers}; parity max abs err vs torch CUDA: {parity:.2e}")
    print(f"2048²: torch CUDA {median(t_torch) * 1000:.1f} ms, onnxruntime-gpu {median(t_ort) * 1000:.1f} ms "
          f"({median(t_torch) / median(t_ort):.2f}×)")
    save("gpu", {"gpu": gpu, "args": vars(args), "training_images_per_s": train_res,
                 "ort_providers": providers, "parity_max_abs_err": parity,
                 "gen2048_torch_s": t_torch, "gen2048_ort_s": t_ort})
    return 0


if __name__ == "__main__":
    sys.exit(main())
