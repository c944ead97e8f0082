"""Training throughput: the engine's step against a plain DCGAN-style loop, same process.

The reference is the textbook loop — the same texture networks, the same batch and crops, Adam,
non-saturating loss, nothing else — with D frozen during the G step as the engine does (no
gradients for D's weights that G's step would only throw away), so the ratios compare like with
like; the textbook loop as written (D not frozen) is measured in a row of its own. The engine runs ``Trainer.step()`` with its extras (EMA,
DiffAugment, lazy R1) on, and then with one extra at a time, so the cost of each is visible.
The texture family's statistics term (a model choice, not engine overhead) is off in those
rows and measured in a row of its own: the family's default, everything on.
Variants are interleaved round by round so machine noise hits all of them alike; medians of
images/s are reported with the ratio to the reference (D frozen).

    python benchmarks/bench_training.py [--rounds 3] [--steps 16] [--batch 8] [--crop 64] [--no-save]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from common import median, save, table

from ganforge.core.modalities.texture.data import build_dataset
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.trainer import Trainer

REFERENCE = "reference DCGAN loop (D frozen in the G step, as the engine)"


class ReferenceLoop:
    """pytorch/examples' DCGAN loop shape, on the same networks and data; ``freeze_d``: D's
    weights need no gradients during the G step (what the engine does)."""

    def __init__(self, family: TextureFamily, dataset, batch: int, seed: int,
                 device: torch.device | str = "cpu", freeze_d: bool = True) -> None:
        torch.manual_seed(seed)
        self.family, self.dataset, self.batch, self.freeze_d = family, dataset, batch, freeze_d
        self.device = torch.device(device)
        self.G, self.D = family.build_generator().to(device), family.build_discriminator().to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-3, betas=(0.0, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-3, betas=(0.0, 0.99))
        self.gen = torch.Generator().manual_seed(seed)

    def step(self) -> None:
        real = self.dataset.sample(self.batch, self.gen).to(self.device, non_blocking=True)
        z = self.family.sample_inputs(self.batch, self.gen, self.device)
        fake = self.G(**z)
        loss_d = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake.detach())).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        self.D.requires_grad_(not self.freeze_d)
        loss_g = F.softplus(-self.D(fake)).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_g.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="steps per round (16 = one lazy-R1 period)")
    ap.add_argument("--batch", type=int, default=8, help="default: ganforge train texture's")
    ap.add_argument("--crop", type=int, default=64, help="default: ganforge train texture's")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-save", action="store_true", help="print only (a smoke run must not replace results/)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset = build_dataset("builtin:skimage", args.crop)
    base = TrainConfig(batch=args.batch, crop=args.crop, device="cpu")
    adversarial_only = {"stats_weight": 0.0}
    family = TextureFamily(adversarial_only, dataset.data_info)
    engine_default = replace(base)
    variants = {
        "engine: all extras (default)": engine_default,
        "engine: no extras": replace(base, augment=[], r1_gamma=0.0, ema_half_life_images=0.0),
        "engine: + EMA only": replace(base, augment=[], r1_gamma=0.0),
        "engine: + DiffAugment (color, cutout) only": replace(base, r1_gamma=0.0, ema_half_life_images=0.0),
        "engine: + lazy R1 (every 16) only": replace(base, augment=[], ema_half_life_images=0.0),
        "engine: R1 every step (no lazy)": replace(base, r1_every=1),
        "engine: + translate augmentation": replace(base, augment=["translate", "color", "cutout"]),
    }
    runners = {REFERENCE: ReferenceLoop(family, dataset, args.batch, 0),
               "reference, textbook (D not frozen in the G step)": ReferenceLoop(family, dataset, args.batch, 0,
                                                                                freeze_d=False)}
    for name, cfg in variants.items():
        runners[name] = Trainer(TextureFamily(adversarial_only, dataset.data_info), dataset, cfg, torch.device("cpu"))
    runners["engine: all extras + texture statistics term (family default)"] = Trainer(
        TextureFamily({}, dataset.data_info), dataset, engine_default, torch.device("cpu"))
    for r in runners.values():  # warm-up: allocator, first-call overheads, one R1 step
        r.step()

    samples: dict[str, list[float]] = {name: [] for name in runners}
    for rnd in range(args.rounds):
        for name, r in runners.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                r.step()
            samples[name].append(args.steps * args.batch / (time.perf_counter() - t0))
        print(f"round {rnd + 1}/{args.rounds} done", flush=True)

    ref = median(samples[REFERENCE])
    rows, out = [], {}
    for name, xs in samples.items():
        m = median(xs)
        overhead = ref / m - 1.0
        out[name] = {"images_per_s": xs, "median": m, "time_overhead_vs_reference": overhead}
        rows.append([name, f"{m:.1f}", f"{m / ref:.3f}", f"{overhead * 100:+.1f}%"])
    print(table(["loop", "images/s (median)", "ratio to reference", "time overhead"], rows))
    if not args.no_save:
        path = save("training", {"args": vars(args), "results": out, "torch_threads": torch.get_num_threads()})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
