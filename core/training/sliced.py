"""Sliced 2-Wasserstein distance between two point sets, the training-time distribution match that
families use inside their generator terms (textures: pixels and discriminator features; music:
voices and pitch classes per step). Differentiable in the first set; projections and subsets come
from the caller's generator, so a resumed run recomputes the same term."""

from __future__ import annotations

import torch


def sliced_w2(a: torch.Tensor, b: torch.Tensor, gen: torch.Generator, directions: int = 64,
              points: int = 4096) -> torch.Tensor:
    """Mean squared difference of the sorted projections of ``a`` (N, C) and ``b`` (M, C) on
    ``directions`` random unit directions, after drawing up to ``points`` rows of each."""
    b = b.detach()
    n = min(points, a.shape[0], b.shape[0])
    ia = torch.randperm(a.shape[0], generator=gen)[:n].to(a.device)
    ib = torch.randperm(b.shape[0], generator=gen)[:n].to(b.device)
    d = torch.randn(a.shape[1], directions, generator=gen).to(a.device, a.dtype)
    d = d / d.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a[ia] @ d, dim=0)
    pb, _ = torch.sort(b[ib] @ d, dim=0)
    return (pa - pb).square().mean()
