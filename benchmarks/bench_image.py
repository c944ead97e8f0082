"""Image modality benchmark: ganforge's image model vs a textbook DCGAN, same wall-clock budget.

Data: ``../shared/data/image/twemoji64.npz`` (3,786 RGBA emoji, 10 categories), downsampled to
32×32 with premultiplied alpha (both models get the same tensors). Two settings: all images, and
a seeded 10% subset (where augmentation should matter most).

- **ganforge**: ``ganforge.core.training.run.train`` (style-based conditional generator, residual
  projection D, NS + lazy R1, DiffAugment translate+colour+cutout, alpha-aware, EMA, best
  checkpoint by KID) in a child process that gets SIGTERM when the budget is spent (the engine
  finishes the step and saves); then the *best* checkpoint is exported to an ONNX pack and the
  samples for the metrics come from the pack through the torch-free runtime, with the data's
  category mix.
- **DCGAN**: the pytorch/examples architecture (transposed convs + batch norm, tanh; D with
  strided convs + batch norm, sigmoid/BCE), at 32×32 (its 64×64 stack minus one stage:
  nz→4·ngf→2·ngf→ngf→RGBA, ngf=ndf=64), Adam 2e-4 (0.5, 0.999), batch 64, no augmentation, no
  EMA, unconditional; sampled from its final weights, as in the example.

Metrics (``ganforge.core.metrics``): KID and FD on fixed-seed random-CNN features, SWD on
Laplacian-pyramid patches, each on ``--samples`` samples vs the full dataset; memorisation vs the
images that model trained on. Usage::

    python benchmarks/bench_image.py --budget 600           # both settings, ~2 x budget + eval
    python benchmarks/bench_image.py --budget 30 --samples 200 --settings full   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "image" / "twemoji64.npz"
SIZE = 32
SUBSET_SEED = 0  # the 10% subset: ImageDataset's seeded `limit`


# ---- data ----------------------------------------------------------------------------------------
def load(fraction: float) -> tuple[Any, Any]:
    """(full reference ImageSet, training subset as (images uint8 NHWC premultiplied, labels))."""
    from ganforge.core.modalities.image.io import read_dataset

    full = read_dataset(DATA, SIZE, "pad", warn=lambda m: None)
    if fraction >= 1:
        return full, (full.images, full.labels)
    n = int(round(len(full.images) * fraction))
    keep = np.sort(np.random.Generator(np.random.PCG64(SUBSET_SEED)).permutation(len(full.images))[:n])
    return full, (full.images[keep], full.labels[keep])


# ---- DCGAN (pytorch/examples, re-written for 32x32 RGBA) ------------------------------------------
def dcgan_nets(nc: int, nz: int = 100, ngf: int = 64, ndf: int = 64) -> tuple[Any, Any]:
    from torch import nn

    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def init(m: Any) -> None:  # the example's weights_init
        name = type(m).__name__
        if "Conv" in name:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif "BatchNorm" in name:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    G.apply(init)
    D.apply(init)
    return G, D


def train_dcgan(images: np.ndarray, budget: float, out: Path, seed: int = 0) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    started, cpu_started = time.monotonic(), time.process_time()
    data = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).float().div_(127.5).sub_(1)
    G, D = dcgan_nets(data.shape[1])
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    gen = torch.Generator().manual_seed(seed)
    steps, batch = 0, 64
    while time.monotonic() - started < budget:
        perm = torch.randperm(len(data), generator=gen)  # epochs, as the example's DataLoader
        for start in range(0, len(data) - batch + 1 if len(data) >= batch else 1, batch):
            real = data[perm[start:start + batch]]
            b = len(real)
            D.zero_grad()
            err_real = bce(D(real).view(-1), torch.ones(b))
            fake = G(torch.randn(b, 100, 1, 1, generator=gen))
            err_fake = bce(D(fake.detach()).view(-1), torch.zeros(b))
            (err_real + err_fake).backward()
            opt_d.step()
            G.zero_grad()
            bce(D(fake).view(-1), torch.ones(b)).backward()
            opt_g.step()
            steps += 1
            if time.monotonic() - started >= budget:
                break
    return {"steps": steps, "batch": batch, "images_seen": steps * batch,
            "seconds": round(time.monotonic() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu_started, 1), "G": G}


def dcgan_samples(G: Any, count: int, seed: int = 1) -> np.ndarray:
    import torch

    from ganforge.core.modalities.image.family import to_unit_rgba

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # train-mode batch norm, as the example samples
        return np.concatenate([to_unit_rgba(G(torch.randn(min(64, count - s), 100, 1, 1, generator=gen)))
                               for s in range(0, count, 64)])


# ---- ganforge ----------------------------------------------------------------------------------
def ganforge_config(data: Path, out: Path, limit: int | None) -> dict[str, Any]:
    return dict(modality="image", family="stylish", data=str(data), out=str(out), steps=10_000_000, crop=SIZE,
                batch=32, seed=0, device="cpu", lr_g=2e-3, lr_d=2e-3, r1_gamma=0.1, r1_every=16,
                augment=["translate", "color", "cutout"], sample_every=250, log_every=50,
                checkpoint_every=100_000, checkpoint_minutes=60.0,
                data_options={"limit": limit, "fit": "pad"}, model={"eval_samples": 256, "channel_base": 512, "channel_max": 128,
                       "d_channel_base": 512, "d_channel_max": 128})


def worker(config_json: str) -> None:
    """Child process: train until SIGTERM (the engine saves a checkpoint and returns)."""
    import torch

    from ganforge.core.modalities.image.data import build_dataset
    from ganforge.core.modalities.image.family import ImageFamily
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    torch.set_num_threads(1)
    cfg = TrainConfig(**json.loads(config_json))
    result = train(cfg, progress=False, family_factory=ImageFamily, dataset_factory=build_dataset)
    print(json.dumps({"step": result.step, "interrupted": result.interrupted}))


def start_ganforge(limit: int | None, out: Path) -> tuple[subprocess.Popen, dict[str, Any], float]:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    cfg = ganforge_config(DATA, out, limit)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, cfg, time.monotonic()


def finish_ganforge(proc: subprocess.Popen, cfg: dict[str, Any], started: float, budget: float,
                    out: Path) -> dict[str, Any]:
    import resource

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc.wait(timeout=max(budget - (time.monotonic() - started), 0.01))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # finish the step, save, exit
    stdout, _ = proc.communicate(timeout=600)
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = max((r.get("step", 0) for r in log), default=0)
    evals = [{"step": r["step"], "kid": round(r["kid"], 5)} for r in log if r.get("event") == "sample"]
    return {"steps": steps, "batch": cfg["batch"], "images_seen": steps * cfg["batch"], "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1), "sample_time_kid": evals, "config": cfg, "worker": stdout.strip()[-200:]}


def ganforge_samples(run: Path, pack: Path, reference: Any, count: int) -> tuple[np.ndarray, dict[str, Any]]:
    from ganforge.core import runtime
    from ganforge.exporters.onnx.export import export_pack

    report = export_pack(run, pack, checkpoint="best")
    rt = runtime.load(pack, device="cpu")
    return rt.codec.eval_samples(rt, reference, count, 1), {
        "pack_bytes": report.bytes, "parity_max_abs_err": report.parity_max_abs_err,
        "best": report.meta.train.get("best")}


# ---- scoring -------------------------------------------------------------------------------------
def score(samples: np.ndarray, reference: Any, training: np.ndarray) -> dict[str, Any]:
    from ganforge.core.modalities.image import metrics
    from ganforge.core.modalities.image.io import unpremultiply

    train_straight = unpremultiply(training.astype(np.float32) / 255.0)
    kid = metrics.kid(samples, reference)
    swd = metrics.swd(samples, reference)
    mem = metrics.memorisation(samples, reference, training=train_straight)
    return {"kid": kid["value"], "kid_std": kid["std"], "fd": metrics.fd(samples, reference),
            "swd": swd["value"], "memorisation": mem["value"], "memorisation_flagged": mem["flagged"],
            "memorisation_distance_ratio": mem["distance_ratio"]}


def real_floor(reference: Any) -> dict[str, Any]:
    """The metrics between two random halves of the real data: what "as good as the data" reads."""
    from ganforge.core.modalities.image import metrics

    real = reference.straight()
    perm = np.random.Generator(np.random.PCG64(1)).permutation(len(real))
    a, b = real[perm[:len(real) // 2]], real[perm[len(real) // 2:]]
    return {"real_half_vs_other_half": {"kid": metrics.kid(a, b)["value"], "fd": metrics.fd(a, b),
                                        "swd": metrics.swd(a, b)["value"]}}


def grid(samples: np.ndarray, path: Path) -> None:
    from ganforge.core.modalities.image.family import save_grid

    save_grid(samples[np.linspace(0, len(samples) - 1, 64).astype(int)], path, columns=8)


def report(results: dict[str, Any]) -> str:
    """The RESULTS.md table for a results file."""
    lines = ["| data | model | steps (batch) | CPU s | KID ↓ | FD ↓ | SWD ↓ | memorisation share (flag) |",
             "|---|---|---|---|---|---|---|---|"]
    for setting, row in results["settings"].items():
        for name in ("ganforge", "dcgan"):
            r = row[name]
            lines.append(f"| {setting} ({row['train_images']} img) | {name} | {r['steps']} ({r['batch']}) | "
                         f"{r.get('cpu_seconds', '?')} | {r['kid']:.4f} ± {r['kid_std']:.4f} | {r['fd']:.2f} | "
                         f"{r['swd']:.4f} | {r['memorisation']:.3f} ({'FLAGGED' if r['memorisation_flagged'] else 'no'}) |")
        if row.get("kid_reduction") is not None:
            lines.append(f"| {setting} | **KID reduction vs DCGAN** | | | **{row['kid_reduction']:.0%}** | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600, help="seconds of training per model and setting")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--settings", default="full,10pct")
    parser.add_argument("--report", action="store_true", help="print the RESULTS.md table of results/image.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.report:
        print(report(json.loads((RESULTS_DIR / "image.json").read_text())))
        return None
    import torch

    torch.set_num_threads(1)
    if not DATA.is_file():
        sys.exit(f"no benchmark data at {DATA}")
    work = Path(os.environ.get("GANFORGE_BENCH_DIR", "/tmp/ganforge-bench-image"))
    work.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "budget_s": args.budget, "samples": args.samples,
                               "size": SIZE, "data": str(DATA.name), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "note": "shared 2-core CPU: both models trained at the same time, one thread each, while other jobs ran",
                               "settings": {}}
    for setting in args.settings.split(","):
        fraction = 1.0 if setting == "full" else 0.1
        reference, (train_images, _) = load(fraction)
        limit = None if fraction >= 1 else len(train_images)
        row: dict[str, Any] = {"train_images": len(train_images)}
        # Both models train at the same time, one thread each, so they share whatever load the
        # machine has; each gets the same wall-clock budget (CPU seconds are reported too).
        proc, cfg, started = start_ganforge(limit, work / f"ganforge-{setting}")
        d = train_dcgan(train_images, args.budget, work / f"dcgan-{setting}")
        t = finish_ganforge(proc, cfg, started, args.budget, work / f"ganforge-{setting}")
        samples, pack_facts = ganforge_samples(work / f"ganforge-{setting}", work / f"ganforge-{setting}.onnx",
                                               reference, args.samples)
        row["ganforge"] = {**{k: v for k, v in t.items() if k != "config"}, **pack_facts,
                           **score(samples, reference, train_images)}
        grid(samples, RESULTS_DIR / f"image_ganforge_{setting}.png")
        print(setting, "ganforge", json.dumps({k: row["ganforge"][k] for k in ("steps", "kid", "fd", "swd", "memorisation")}), flush=True)
        samples = dcgan_samples(d.pop("G"), args.samples)
        row["dcgan"] = {**d, **score(samples, reference, train_images)}
        grid(samples, RESULTS_DIR / f"image_dcgan_{setting}.png")
        print(setting, "dcgan", json.dumps({k: row["dcgan"][k] for k in ("steps", "kid", "fd", "swd", "memorisation")}), flush=True)
        row["kid_reduction"] = 1 - row["ganforge"]["kid"] / row["dcgan"]["kid"] if row["dcgan"]["kid"] > 0 else None
        results["settings"][setting] = row
        results["config_ganforge"] = t["config"]
        (RESULTS_DIR / "image.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    results["real_data_floor"] = real_floor(reference)
    real = reference.straight()
    grid(real, RESULTS_DIR / "image_real.png")
    (RESULTS_DIR / "image.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(json.dumps({s: r.get("kid_reduction") for s, r in results["settings"].items()}))


if __name__ == "__main__":
    main()
