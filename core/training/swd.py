"""Sliced Wasserstein distance between local patch statistics of two image batches.

A cheap training-time quality measure (ProGAN's SWD, simplified): at each level of a Gaussian
pyramid, random 7×7 patches are normalised per channel, projected on random unit directions, and
the sorted projections of the two sets compared. Lower is better; 0 for identical distributions.
Deterministic for a given ``seed``; it never touches the training RNGs.

Why a second SWD beside ``core/metrics/swd.py``: this one runs inside the training loop, in torch
on whatever device trains, on the batches already in memory (no copy to numpy every evaluation),
and it picks the "best" checkpoint and drives early stopping. The reported figures
(``ganforge eval``, ``benchmarks/``) use the numpy Laplacian-pyramid SWD on fresh crops with the
reference's normalisation: selection and report deliberately do not share a statistic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _patches(x: torch.Tensor, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    b, c, h, w = x.shape
    idx = torch.randint(0, b, (n,), generator=gen)
    ys = torch.randint(0, h - size + 1, (n,), generator=gen)
    xs = torch.randint(0, w - size + 1, (n,), generator=gen)
    off = torch.arange(size)
    rows, cols = (ys[:, None] + off)[:, :, None], (xs[:, None] + off)[:, None, :]
    out = x.permute(0, 2, 3, 1)[idx[:, None, None], rows, cols]  # (n, size, size, c)
    return out.permute(0, 3, 1, 2).reshape(n, c * size * size)


@torch.no_grad()
def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, seed: int = 0, levels: int = 3,
                       patches: int = 1024, directions: int = 128, patch: int = 7) -> float:
    """Mean SWD over pyramid levels between image batches ``a`` and ``b`` (B, C, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    c = a.shape[1]
    total, used = 0.0, 0
    for _ in range(levels):
        if min(a.shape[2:]) < patch or min(b.shape[2:]) < patch:
            break
        pa, pb = _patches(a, patches, patch, gen), _patches(b, patches, patch, gen)
        # normalise both with the real set's statistics, so a colour shift counts
        stats = pb.view(patches, c, -1)
        mean = stats.mean(dim=(0, 2), keepdim=True)
        std = stats.std(dim=(0, 2), keepdim=True) + 1e-8
        pa = ((pa.view(patches, c, -1) - mean) / std).flatten(1)
        pb = ((pb.view(patches, c, -1) - mean) / std).flatten(1)
        dirs = torch.randn(pa.shape[1], directions, generator=gen)
        dirs /= dirs.norm(dim=0, keepdim=True)
        # (directions, patches): sorting along the contiguous axis is several times faster
        proj_a, _ = torch.sort((pa @ dirs).T.contiguous(), dim=1)
        proj_b, _ = torch.sort((pb @ dirs).T.contiguous(), dim=1)
        total += (proj_a - proj_b).abs().mean().item()
        used += 1
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return total / max(used, 1)
