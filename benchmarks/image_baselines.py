"""The image benchmark's baselines, conditional like ganforge, each with its published recipe.

- **cDCGAN**: the pytorch/examples DCGAN (transposed convs + batch norm, tanh; D with strided
  convs + batch norm), made conditional the usual way: the one-hot label concatenated to ``z``
  in G, a projection head in D (Miyato & Koyama 2018: ``logit = ψ(h) + <embed(y), Σh>``).
  Published recipe: BCE, Adam 2e-4 (0.5, 0.999), batch 64, no augmentation, no EMA.
- **FastGAN-lite**: a compact reimplementation of Liu et al. 2021 ("Towards faster and
  stabilized GAN training for high-fidelity few-shot image synthesis"): G with GLU up-blocks and
  skip-layer excitation (a 4×4 map gates the channels of the map two octaves up); D with
  residual down-blocks to 8×8, a projection head, and self-supervision: two small decoders
  reconstruct the whole real image (from the 8×8 map) and a random quadrant (from that quadrant
  of the map) at 16×16. Published recipe: hinge loss, Adam 2e-4 (0.5, 0.999), batch 8,
  DiffAugment colour+translation+cutout, EMA of G (0.999). Differences, for CPU budgets and
  offline use: L1 reconstruction instead of LPIPS (LPIPS downloads VGG weights), no noise
  injection, narrow widths for 32-64 px on a CPU (256 channels at 4×4 halving to 16; the paper's
  stack targets 256-1024 px). The augmentation is
  ganforge's alpha-aware DiffAugment, so both models see the same transforms.

``train_baseline`` runs one recipe for a wall-clock budget and saves generator snapshots (the
EMA for FastGAN) at fixed intervals; the benchmark picks among them by the same rule as every
other model. Sampling (``sampler``) runs G in training mode (batch statistics, as the DCGAN
example samples) on batches of 64 with mixed labels, under ``no_grad`` on a copy.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.modalities.image.fastgan import DownBlock, rebuild_decoder

NZ = 100
RECIPES: dict[str, dict[str, Any]] = {
    "dcgan": {"batch": 64, "lr": 2e-4, "betas": (0.5, 0.999), "loss": "bce", "augment": [], "ema": None},
    "fastgan": {"batch": 8, "lr": 2e-4, "betas": (0.5, 0.999), "loss": "hinge",
                "augment": ["color", "translate", "cutout"], "ema": 0.999},
}


def _onehot(labels: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(labels.long(), k).float()


class Projection(nn.Module):
    """``logit = linear(h) + <embed(y), h>`` on pooled features ``h``."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.linear, self.embed = nn.Linear(c, 1), nn.Embedding(k, c)
        # initialised like the linear head beside it: nn.Embedding's default N(0, 1) made the
        # label term ~50x the rest of the logit at the start (session 12)
        nn.init.uniform_(self.embed.weight, -c ** -0.5, c ** -0.5)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.linear(h)[:, 0] + (self.embed(labels.long()) * h).sum(1)


# ---- conditional DCGAN -------------------------------------------------------------------------
class DCGenerator(nn.Module):
    def __init__(self, size: int, nc: int, k: int, ngf: int = 64) -> None:
        super().__init__()
        n = int(math.log2(size)) - 2  # upsampling stages after the 4x4 start
        chans = [ngf * 2 ** (n - 1 - i) for i in range(n)]
        layers: list[nn.Module] = [nn.ConvTranspose2d(NZ + k, chans[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.net, self.k = nn.Sequential(*layers), k

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, _onehot(labels, self.k)], 1)[:, :, None, None])


class DCDiscriminator(nn.Module):
    def __init__(self, size: int, nc: int, k: int, ndf: int = 64) -> None:
        super().__init__()
        n = int(math.log2(size)) - 2
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        c = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.net, self.head = nn.Sequential(*layers), nn.Conv2d(c, 1, 4, 1, 0, bias=False)
        self.proj = nn.Embedding(k, c)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        return self.head(h).flatten() + (self.proj(labels.long()) * h.sum((2, 3))).sum(1)


def _dcgan_init(m: nn.Module) -> None:
    """The example's weights_init, and its N(0, 0.02) for the projection's embedding too (left at
    nn.Embedding's N(0, 1), the label term swamped the logit: ±100 at the start against ±1 for
    the head, and 30 minutes at 2e-4 gave noise; session 12)."""
    name = type(m).__name__
    if "Conv" in name or "Embedding" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ---- FastGAN-lite ------------------------------------------------------------------------------
def _up(cin: int, cout: int) -> nn.Sequential:
    """FastGAN's up-block (two conv + BN + GLU, nearest upsampling), without noise injection."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(cin, cout * 2, 3, 1, 1, bias=False), nn.BatchNorm2d(cout * 2), nn.GLU(1),
                         nn.Conv2d(cout, cout * 2, 3, 1, 1, bias=False), nn.BatchNorm2d(cout * 2), nn.GLU(1))


class SLE(nn.Module):
    """Skip-layer excitation: a small map's pooled content gates the big map's channels."""

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_small, c_big, 4, 1, 0, bias=False), nn.SiLU(),
                                 nn.Conv2d(c_big, c_big, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.net(small)


def _widths(size: int, base: int) -> dict[int, int]:
    return {r: max(16, min(256, base * 64 // r)) for r in (4 * 2 ** i for i in range(int(math.log2(size)) - 1))}


class FastGenerator(nn.Module):
    def __init__(self, size: int, nc: int, k: int, ngf: int = 16) -> None:
        super().__init__()
        self.ch, self.k = _widths(size, ngf), k
        res = sorted(self.ch)
        self.init = nn.Sequential(nn.ConvTranspose2d(NZ + k, self.ch[4] * 2, 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(self.ch[4] * 2), nn.GLU(1))
        self.ups = nn.ModuleDict({str(r): _up(self.ch[r // 2], self.ch[r]) for r in res[1:]})
        self.sles = nn.ModuleDict({str(r): SLE(self.ch[r // 4], self.ch[r]) for r in res if r >= 16})
        self.to_rgb = nn.Conv2d(self.ch[size], nc, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        feats = {4: self.init(torch.cat([z, _onehot(labels, self.k)], 1)[:, :, None, None])}
        for r in sorted(self.ch)[1:]:
            x = self.ups[str(r)](feats[r // 2])
            feats[r] = self.sles[str(r)](feats[r // 4], x) if str(r) in self.sles else x
        return torch.tanh(self.to_rgb(feats[max(feats)]))


# D's down-blocks and reconstruction decoders are the same layers, in the same order, as the
# ganforge family's (FastGAN's DownBlockComp and decoders), so they are shared rather than copied;
# what this baseline keeps its own is the recipe around them (loop, EMA, batch-statistics sampling).


class FastDiscriminator(nn.Module):
    def __init__(self, size: int, nc: int, k: int, ndf: int = 16) -> None:
        super().__init__()
        ch = _widths(size, ndf)
        self.stem = nn.Sequential(nn.Conv2d(nc, ch[size], 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.Sequential(*[DownBlock(ch[r], ch[r // 2]) for r in sorted(ch, reverse=True) if r > 8])
        c8 = ch[8]
        self.to4 = nn.Sequential(nn.Conv2d(c8, c8, 4, 2, 1, bias=False), nn.BatchNorm2d(c8), nn.LeakyReLU(0.2))
        self.head, self.proj = nn.Conv2d(c8, 1, 4, 1, 0), Projection(c8, k)
        self.dec_all, self.dec_part = rebuild_decoder(c8, nc, 1), rebuild_decoder(c8, nc, 2)  # 8x8 -> 16, 4x4 -> 16

    def forward(self, x: torch.Tensor, labels: torch.Tensor, quadrant: int | None = None) -> Any:
        h8 = self.downs(self.stem(x))
        h4 = self.to4(h8)
        logit = self.head(h4).flatten() + self.proj(h4.sum((2, 3)), labels)
        if quadrant is None:
            return logit
        qy, qx = divmod(quadrant, 2)
        return logit, self.dec_all(h8), self.dec_part(h8[:, :, qy * 4:qy * 4 + 4, qx * 4:qx * 4 + 4])


def build(kind: str, size: int, nc: int, k: int) -> tuple[nn.Module, nn.Module]:
    if kind == "dcgan":
        G, D = DCGenerator(size, nc, k), DCDiscriminator(size, nc, k)
        G.apply(_dcgan_init)
        D.apply(_dcgan_init)
        return G, D
    if kind == "fastgan":
        return FastGenerator(size, nc, k), FastDiscriminator(size, nc, k)
    raise ValueError(f"unknown baseline {kind!r}")


# ---- training ----------------------------------------------------------------------------------
def _d_loss(kind: str, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor,
            gen: torch.Generator) -> torch.Tensor:
    if kind == "dcgan":
        ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
        return (F.binary_cross_entropy_with_logits(D(real, labels), ones)
                + F.binary_cross_entropy_with_logits(D(fake, labels), zeros))
    q = int(torch.randint(0, 4, (1,), generator=gen))
    logit, rec_all, rec_part = D(real, labels, quadrant=q)
    s = real.shape[-1] // 2
    qy, qx = divmod(q, 2)
    target_all = F.interpolate(real, size=16, mode="area")
    target_part = F.interpolate(real[:, :, qy * s:qy * s + s, qx * s:qx * s + s], size=16, mode="area")
    rec = F.l1_loss(rec_all, target_all) + F.l1_loss(rec_part, target_part)
    return F.relu(1 - logit).mean() + rec + F.relu(1 + D(fake, labels)).mean()


def _g_loss(kind: str, D: nn.Module, fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if kind == "dcgan":
        return F.binary_cross_entropy_with_logits(D(fake, labels), torch.ones(len(fake)))
    return -D(fake, labels).mean()


def train_baseline(kind: str, lr: float, images: np.ndarray, labels: np.ndarray, k: int, budget_s: float,
                   out: Path, snapshot_s: float, seed: int = 0) -> dict[str, Any]:
    """Train ``kind`` on premultiplied uint8 NHWC ``images`` for ``budget_s`` wall seconds,
    saving ``out/snap_NNN.pt`` (generator weights, EMA when the recipe has one) every
    ``snapshot_s`` seconds and at the end."""
    from ganforge.core.training.augment import DiffAugment

    recipe = RECIPES[kind]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).float().div_(127.5).sub_(1)
    y = torch.from_numpy(labels.astype(np.int64))
    size, nc = data.shape[-1], data.shape[1]
    G, D = build(kind, size, nc, k)
    ema = copy.deepcopy(G).requires_grad_(False) if recipe["ema"] else None
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=recipe["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=recipe["betas"])
    aug = DiffAugment(recipe["augment"], gen, alpha=nc == 4, wrap=False) if recipe["augment"] else (lambda x: x)
    out.mkdir(parents=True, exist_ok=True)
    batch, steps, snaps = recipe["batch"], 0, 0
    started, cpu0 = time.monotonic(), time.process_time()

    last_step = -1

    def snapshot() -> None:
        nonlocal snaps, last_step
        last_step = steps
        torch.save({"kind": kind, "size": size, "nc": nc, "k": k, "step": steps,
                    "seconds": round(time.monotonic() - started, 1),
                    "G": (ema or G).state_dict()}, out / f"snap_{snaps:03d}.pt")
        snaps += 1

    next_snap = snapshot_s
    while time.monotonic() - started < budget_s:
        perm = torch.randperm(len(data), generator=gen)  # epochs, as the examples' DataLoaders
        for start in range(0, max(len(data) - batch + 1, 1), batch):
            idx = perm[start:start + batch]
            real, lab = data[idx], y[idx]
            if torch.rand(1, generator=gen).item() < 0.5:  # the same flips ganforge's data applies
                real = real.flip(3)
            fake = G(torch.randn(len(real), NZ, generator=gen), lab)
            opt_d.zero_grad(set_to_none=True)
            _d_loss(kind, D, aug(real), aug(fake.detach()), lab, gen).backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            _g_loss(kind, D, aug(fake), lab).backward()
            opt_g.step()
            if ema is not None:
                with torch.no_grad():
                    for pe, p in zip(ema.parameters(), G.parameters(), strict=True):
                        pe.lerp_(p, 1 - recipe["ema"])
                    for be, b in zip(ema.buffers(), G.buffers(), strict=True):
                        be.copy_(b)
            steps += 1
            elapsed = time.monotonic() - started
            if elapsed >= next_snap:
                snapshot()
                next_snap += snapshot_s
            if elapsed >= budget_s:
                break
    if snaps == 0 or last_step != steps:  # the budget's end, unless a snapshot was just taken
        snapshot()
    return {"steps": steps, "batch": batch, "images_seen": steps * batch, "snapshots": snaps,
            "wall_s": round(time.monotonic() - started, 1), "cpu_s": round(time.process_time() - cpu0, 1)}


def sampler(snapshot: Path) -> Callable[[np.ndarray, int], np.ndarray]:
    """``fn(labels, seed)`` -> straight-alpha (N, S, S, C) samples of a saved snapshot."""
    from ganforge.core.modalities.image.family import to_unit_rgba

    state = torch.load(snapshot, map_location="cpu", weights_only=True)
    G, _ = build(state["kind"], state["size"], state["nc"], state["k"])
    G.load_state_dict(state["G"])

    def sample(labels: np.ndarray, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed)
        g = copy.deepcopy(G).train()  # batch statistics; the copy keeps the snapshot's buffers
        y = torch.from_numpy(np.asarray(labels, np.int64))
        with torch.no_grad():
            return np.concatenate([to_unit_rgba(g(torch.randn(len(y[s:s + 64]), NZ, generator=gen), y[s:s + 64]))
                                   for s in range(0, len(y), 64)])

    return sample
