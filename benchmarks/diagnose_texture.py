"""Why the texture discriminator sat at chance (loss_d = ln 4): measure, don't guess.

Trains the texture family for a few hundred steps from the same seed under several settings and
reports, for each, what the discriminator can tell: its accuracy on fresh real vs fake batches,
the gap and spread of its logits, the R1 term, and the gradient norms of D's first and last
layers; plus, once, the activation scale through D at initialisation. The texture-statistics
term is off here (``stats_weight=0``) so only the adversarial game is measured.

"before" reproduces the old R1: the gradient of the *sum* of D's 8×8 logit map, while the loss
averages that map. Run: ``python benchmarks/diagnose_texture.py [--steps 300] [--photo PATH]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ganforge.core.modalities.texture.data import build_dataset
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.training import losses
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.trainer import Trainer


def r1_on_map_sum(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The R1 the engine used before: gradient of the logit map's sum."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return grad.float().square().sum(dim=tuple(range(1, grad.dim()))).mean()


def d_report(tr: Trainer, batches: int = 4) -> dict[str, float]:
    acc, gap, spread = [], [], []
    with torch.no_grad():
        for _ in range(batches):
            real, fake = tr.real_batch(), tr.fake_batch()
            lr_, lf = tr.discriminate(real), tr.discriminate(fake)
            acc.append(((lr_ > 0).float().mean() + (lf < 0).float().mean()).item() / 2)
            gap.append((lr_.mean() - lf.mean()).item())
            spread.append(torch.cat([lr_.flatten(), lf.flatten()]).std().item())
    return {"d_accuracy": float(np.mean(acc)), "logit_gap": float(np.mean(gap)),
            "logit_std": float(np.mean(spread))}


def grad_norms(tr: Trainer) -> dict[str, float]:
    real, fake = tr.real_batch(), tr.fake_batch().detach()
    loss = losses.d_loss("ns_r1", tr.discriminate(real), tr.discriminate(fake))
    tr.D.zero_grad()
    loss.backward()
    convs = [m for m in tr.D.modules() if isinstance(m, torch.nn.Conv2d)]
    out = {"grad_first": convs[0].weight.grad.norm().item(), "grad_last": convs[-1].weight.grad.norm().item()}
    tr.D.zero_grad()
    return out


def run(ds, name: str, steps: int, cfg_kw: dict, old_r1: bool) -> dict:
    cfg = TrainConfig(**{"crop": 64, "batch": 8, **cfg_kw})
    fam = TextureFamily({"stats_weight": 0.0}, ds.data_info)
    tr = Trainer(fam, ds, cfg, torch.device("cpu"))
    saved = losses.r1_penalty
    if old_r1:
        losses.r1_penalty = r1_on_map_sum
    t0, curve, r1 = time.perf_counter(), [], []
    try:
        while tr.step_count < steps:
            out = tr.step()
            if "r1" in out:
                r1.append(out["r1"].item())
            if tr.step_count % max(1, steps // 6) == 0:
                curve.append({"step": tr.step_count, "loss_d": round(out["loss_d"].item(), 4),
                              **{k: round(v, 3) for k, v in d_report(tr, 1).items()}})
    finally:
        losses.r1_penalty = saved
    return {"setting": name, "steps": steps, "seconds": round(time.perf_counter() - t0, 1),
            **d_report(tr), **grad_norms(tr), "r1_last": r1[-1] if r1 else 0.0, "curve": curve}


def init_scale(ds) -> list[float]:
    fam = TextureFamily({}, ds.data_info)
    torch.manual_seed(0)
    D = fam.build_discriminator()
    x, out = ds.sample(8, torch.Generator().manual_seed(0)), []
    for m in D.net:
        x = m(x)
        if isinstance(m, torch.nn.Conv2d):
            out.append(round(x.std().item(), 5))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--photo", default=None, help="default: scikit-image's chelsea (colour)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "texture_diagnosis.json")
    args = ap.parse_args()
    if args.photo is None:
        from PIL import Image
        from skimage import data as skdata

        args.photo = "/tmp/ganforge-diagnose-chelsea.png"
        Image.fromarray(skdata.chelsea()).save(args.photo)
    ds = build_dataset(args.photo, 64)
    torch.set_flush_denormal(True)
    print("D activation std per conv at init (real crops):", init_scale(ds))
    settings = [
        ("before: R1 on logit-map sum (gamma 1, every 16)", {}, True),
        ("before, R1 off", {"r1_gamma": 0.0}, True),
        ("before, no augmentation", {"augment": []}, True),
        ("now: R1 on per-image mean logit", {}, False),
    ]
    rows = [run(ds, name, args.steps, kw, old) for name, kw, old in settings]
    print("\n| setting | D accuracy | logit gap | logit std | R1 | |grad| first / last layer |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['d_accuracy']:.3f} | {r['logit_gap']:.3f} | {r['logit_std']:.4f} | "
              f"{r['r1_last']:.2e} | {r['grad_first']:.2e} / {r['grad_last']:.2e} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"photo": args.photo, "init_activation_std": init_scale(ds),
                                     "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
