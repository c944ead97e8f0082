"""Exponential moving average of the generator's weights (the network that gets exported)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    ema = copy.deepcopy(G).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_beta(batch_images: int, images_seen: int, half_life: float, rampup: float) -> float:
    """Decay per step for a half-life in images, capped early on (StyleGAN2-ADA's ema_rampup)."""
    if half_life <= 0:
        return 0.0
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch_images / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """``ema = beta * ema + (1 - beta) * G``; buffers are copied."""
    ema_p, g_p = list(ema.parameters()), [p.detach() for p in G.parameters()]
    if beta == 0.0:
        for e, g in zip(ema_p, g_p, strict=True):
            e.copy_(g)
    else:
        torch._foreach_lerp_(ema_p, g_p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
