"""Texture networks: a fully convolutional generator with circular padding (seamless by
construction, any output size the stride allows) and a patch discriminator.

The generator takes a spatial local noise ``z_local`` (B, C_l, h, w) and a global latent
``z_global`` (B, C_g) broadcast over space: local noise gives variation, the global latent picks
a member of the texture family (PSGAN's local/global split; its periodic channels are left out
because only integer frequencies per latent cell would keep arbitrary sizes tileable).

Fine-scale randomness (where each grain, pore or nucleus falls) comes from per-pixel noise added
at every resolution, as StyleGAN's noise inputs do. Without it a convnet must hash a coarse latent
into fine detail, which it does badly: the result is smooth Turing-pattern blobs. The noise is not
a separate graph input: it is carried by extra ``z_local`` channels and moved to the finer grid by
depth-to-space (a pure rearrangement of independent normals), so the pack's inputs, seeds and
exact tiling stay as they are.

``z_global`` may also be a smooth field (B, C_g, h, w) on the latent grid (``core/fields.py``):
then the member changes slowly across the texture, and one texture holds several regions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def circular_conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    # padding_mode="circular" is used in training and export alike: the output wraps around.
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="circular")


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, noise_dim: int = 0, noise_init: float = 0.1) -> None:
        super().__init__()
        self.conv1 = circular_conv(cin, cout)
        self.conv2 = circular_conv(cout, cout)
        self.norm = PixelNorm()
        self.noise_dim = noise_dim
        if noise_dim:
            # learned per-channel strength of each noise map (1×1 conv, no bias). A zero start
            # (StyleGAN's) still gets a gradient (noise × upstream); the family's default draws
            # small strengths instead, which measured no worse (RESULTS.md).
            self.noise = nn.Conv2d(noise_dim, cout, 1, bias=False)
            if noise_init:
                nn.init.normal_(self.noise.weight, std=noise_init)
            else:
                nn.init.zeros_(self.noise.weight)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.conv1(x)
        if noise is not None:
            x = x + self.noise(noise)
        x = self.norm(F.leaky_relu(x, 0.2))
        return self.norm(F.leaky_relu(self.conv2(x), 0.2))


class TextureGenerator(nn.Module):
    def __init__(self, local_dim: int = 32, global_dim: int = 32, base: int = 128,
                 stages: int = 4, channels: int = 3, min_width: int = 16, noise_dim: int = 0,
                 noise_init: float = 0.1) -> None:
        super().__init__()
        self.local_dim, self.global_dim, self.stages = local_dim, global_dim, stages
        self.noise_dim = noise_dim
        self.stride = 2 ** stages
        self.inp = circular_conv(local_dim + global_dim, base)
        widths = [max(base // 2 ** i, min_width) for i in range(stages + 1)]
        self.blocks = nn.ModuleList(UpBlock(widths[i], widths[i + 1], noise_dim, noise_init) for i in range(stages))
        self.to_rgb = circular_conv(widths[-1], channels)
        self.norm = PixelNorm()

    @staticmethod
    def latent_channels(local_dim: int, stages: int, noise_dim: int) -> int:
        """Channels of ``z_local``: the coarse latent, then each stage's noise (stage k, at
        2^(k+1) times the latent's resolution, needs 4^(k+1) channels per noise map)."""
        return local_dim + sum(noise_dim * 4 ** (k + 1) for k in range(stages))

    def forward(self, z_local: torch.Tensor, z_global: torch.Tensor) -> torch.Tensor:
        # (B, C_g): one vector for the whole texture; (B, C_g, h, w): a field (core/fields.py)
        g = z_global if z_global.dim() == 4 else z_global[:, :, None, None].expand(
            -1, -1, z_local.shape[2], z_local.shape[3])
        x = self.norm(F.leaky_relu(self.inp(torch.cat([z_local[:, :self.local_dim], g], dim=1)), 0.2))
        start = self.local_dim
        for k, block in enumerate(self.blocks):
            noise = None
            if self.noise_dim:
                n = self.noise_dim * 4 ** (k + 1)
                noise = F.pixel_shuffle(z_local[:, start:start + n], 2 ** (k + 1))
                start += n
            x = block(x, noise)
        return torch.tanh(self.to_rgb(x))


class MinibatchStd(nn.Module):
    """Appends one channel: how much the images of each group of ``group`` differ (the std over
    the group of every feature, averaged; ProGAN, Karras et al. 2018). A patch discriminator
    otherwise judges each crop alone, so a generator that draws only one of the photo's regions
    (all crema, never the cup) passes every single comparison; the real batch's variety across
    crops is what this lets D see."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # the largest group size <= self.group that divides the batch (a batch of 1: no spread)
        g = next(k for k in range(min(self.group, n), 0, -1) if n % k == 0)
        y = x.float().reshape(g, n // g, c, h, w)
        spread = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        spread = spread.to(x.dtype).repeat(g)[:, None, None, None].expand(n, 1, h, w)
        return torch.cat([x, spread], dim=1)


class PatchDiscriminator(nn.Module):
    """Strided convs to a map of logits (one per receptive-field patch); with ``mbstd`` > 0 a
    :class:`MinibatchStd` channel before the last conv."""

    def __init__(self, channels: int = 3, base: int = 32, depth: int = 4, max_width: int = 256,
                 mbstd: int = 0) -> None:
        super().__init__()
        self.depth = depth
        layers: list[nn.Module] = []
        cin = channels
        for i in range(depth):
            cout = min(base * 2 ** i, max_width)
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = cout
        if mbstd:  # (inserted only when on: state dicts of runs without it keep their keys)
            layers.append(MinibatchStd(mbstd))
            cin += 1
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each strided layer's activations (after the nonlinearity), for the statistics term."""
        out = []
        for layer in self.net[:2 * self.depth]:  # (conv, LeakyReLU) pairs; the head is not needed
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                out.append(x)
        return out


class MultiScaleDiscriminator(nn.Module):
    """Patch discriminators on the crop and on 2×, 4×, ... average-pooled copies of it (pix2pixHD,
    Wang et al. 2018). A single patch D sees ~78 px of a 128-px crop and judges each window alone,
    so how the photo's regions are laid out at the crop's own scale is judged by nothing; the
    pooled copies' discriminators see the whole crop at the cost of a quarter of D's work each.

    The logits are one map per scale, each nearest-upsampled to the finest map's size and stacked
    as channels, so every scale weighs the same in the loss's mean and R1's per-image mean."""

    def __init__(self, scales: int, channels: int = 3, base: int = 32, depth: int = 4,
                 mbstd: int = 0) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(channels, base, depth, mbstd=mbstd) for _ in range(scales))

    def pooled(self, x: torch.Tensor) -> list[torch.Tensor]:
        copies = [x]
        for _ in range(len(self.scales) - 1):
            copies.append(F.avg_pool2d(copies[-1], 2))
        return copies

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [d(c) for d, c in zip(self.scales, self.pooled(x), strict=True)]
        size = maps[0].shape[-2:]
        return torch.cat([maps[0]] + [F.interpolate(m, size=size, mode="nearest") for m in maps[1:]], dim=1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every scale's :meth:`PatchDiscriminator.features`, finest scale first."""
        return [f for d, c in zip(self.scales, self.pooled(x), strict=True) for f in d.features(c)]
