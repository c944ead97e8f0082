"""FastGAN's networks for sprites (Liu et al. 2021, "Towards faster and stabilized GAN training
for high-fidelity few-shot image synthesis"), conditional, sized for 32-128 px on a CPU.

- **Generator**: ``z`` and the category's one-hot through a 4×4 transposed conv, then up-blocks
  (nearest ×2, conv, batch norm, GLU, twice) and *skip-layer excitation*: the 4×4 map gates the
  channels of the 16×16 one, 8×8 those of 32×32, and so on, so coarse layout steers fine detail
  without a long gradient path. ``tanh`` output.
- **Discriminator**: residual down-blocks (a strided-conv path averaged with a pooled path) to
  8×8, then 4×4, a plain logit plus a projection head for the category (Miyato & Koyama 2018),
  and FastGAN's self-supervision: two small decoders rebuild the whole real image (from the 8×8
  map) and one quadrant of it (from that quadrant of the map) at 16×16, so D must keep features
  that describe the image rather than only those that separate it from today's fakes.

Batch norm in G makes a sample depend on its batch mates while training; sampling and export use
*standing statistics* instead (:func:`standing_statistics`, BigGAN's remedy): the mean and
variance of every BN layer over many fixed-seed batches, after which G runs in eval mode and each
sample depends on its own inputs alone — what a pack needs, since a host generates one sprite at
a time. Differences from the paper, for CPU budgets and offline use: L1 reconstruction instead of
LPIPS (LPIPS downloads VGG weights), no noise injection, widths ``width·64/r`` capped at 256.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .model import one_hot


def widths_for(size: int, width: int) -> dict[int, int]:
    """Channels per resolution 4..size: ``width·64 // r``, between 16 and 256."""
    return {r: max(16, min(256, width * 64 // r)) for r in (4 * 2 ** i for i in range(int(math.log2(size)) - 1))}


def _glu_conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout * 2, 3, 1, 1, bias=False), nn.BatchNorm2d(cout * 2), nn.GLU(1)]


class UpBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2.0, mode="nearest"), *_glu_conv(cin, cout), *_glu_conv(cout, cout))


class Excitation(nn.Module):
    """Skip-layer excitation: the small map, pooled to 4×4, gates the big map's channels."""

    def __init__(self, c_small: int, c_big: int, small_res: int) -> None:
        super().__init__()
        self.pool = small_res // 4  # a plain average pool to 4×4 (static shapes export simply)
        self.net = nn.Sequential(nn.Conv2d(c_small, c_big, 4, 1, 0, bias=False), nn.SiLU(),
                                 nn.Conv2d(c_big, c_big, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            small = F.avg_pool2d(small, self.pool)
        return big * self.net(small)


class FastGenerator(nn.Module):
    def __init__(self, size: int, channels: int, num_classes: int = 0, z_dim: int = 128, width: int = 16) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"image size {size} must be a power of two, at least 8")
        self.size, self.channels, self.num_classes, self.z_dim = size, channels, num_classes, z_dim
        self.ch = ch = widths_for(size, width)
        self.res = sorted(ch)
        self.init = nn.Sequential(nn.ConvTranspose2d(z_dim + num_classes, ch[4] * 2, 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(ch[4] * 2), nn.GLU(1))
        self.ups = nn.ModuleList(UpBlock(ch[r // 2], ch[r]) for r in self.res[1:])
        self.excite = nn.ModuleDict({str(r): Excitation(ch[r // 4], ch[r], r // 4) for r in self.res if r >= 16})
        self.to_rgb = nn.Conv2d(ch[size], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, size, size) in [-1, 1]."""
        x = z
        if self.num_classes:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            x = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], dim=1)
        feats = {4: self.init(x[:, :, None, None])}
        for r, up in zip(self.res[1:], self.ups, strict=True):
            y = up(feats[r // 2])
            feats[r] = self.excite[str(r)](feats[r // 4], y) if str(r) in self.excite else y
        return torch.tanh(self.to_rgb(feats[self.size]))


class DownBlock(nn.Module):
    """A strided-conv path and an average-pool path, averaged (FastGAN's DownBlockComp)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                    nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


def rebuild_decoder(cin: int, channels: int, ups: int) -> nn.Sequential:
    """Upsampling GLU blocks to a ``channels``-image in [-1, 1] (the self-supervision's head)."""
    layers: list[nn.Module] = []
    c = cin
    for _ in range(ups):
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), *_glu_conv(c, max(c // 2, 16))]
        c = max(c // 2, 16)
    return nn.Sequential(*layers, nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh())


class FastDiscriminator(nn.Module):
    """``forward(x, labels)`` -> logits; :meth:`with_reconstruction` adds the two decoders' images."""

    RECON = 16  # the decoders' output side

    def __init__(self, size: int, channels: int, num_classes: int = 0, width: int = 16) -> None:
        super().__init__()
        ch = widths_for(size, width)
        self.stem = nn.Sequential(nn.Conv2d(channels, ch[size], 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.Sequential(*[DownBlock(ch[r], ch[r // 2]) for r in sorted(ch, reverse=True) if r > 8])
        c8 = ch[8]
        self.to4 = nn.Sequential(nn.Conv2d(c8, c8, 4, 2, 1, bias=False), nn.BatchNorm2d(c8), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(c8, 1, 4, 1, 0)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, c8) if num_classes else None
        if self.embed is not None:  # on the head's scale: N(0, 1) would swamp the logit
            nn.init.uniform_(self.embed.weight, -c8 ** -0.5, c8 ** -0.5)
        self.rebuild_all, self.rebuild_part = rebuild_decoder(c8, channels, 1), rebuild_decoder(c8, channels, 2)

    def _logits(self, h8: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h4 = self.to4(h8)
        logit = self.head(h4).flatten()
        if self.embed is not None and labels is not None:
            logit = logit + (self.embed(labels.long()) * h4.sum((2, 3))).sum(1)
        return logit

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(self.downs(self.stem(x)), labels)

    def with_reconstruction(self, x: torch.Tensor, labels: torch.Tensor | None,
                            quadrant: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, the whole image rebuilt from the 8×8 map and quadrant ``quadrant`` (0-3,
        row-major) rebuilt from its 4×4 part of the map, both 16×16."""
        h8 = self.downs(self.stem(x))
        qy, qx = divmod(quadrant, 2)
        return (self._logits(h8, labels), self.rebuild_all(h8),
                self.rebuild_part(h8[:, :, qy * 4:qy * 4 + 4, qx * 4:qx * 4 + 4]))


def reconstruction_loss(D: FastDiscriminator, real: torch.Tensor, labels: torch.Tensor | None,
                        quadrant: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on ``real`` and its L1 self-supervision loss (whole image + one quadrant)."""
    logits, whole, part = D.with_reconstruction(real, labels, quadrant)
    s = real.shape[-1] // 2
    qy, qx = divmod(quadrant, 2)
    target_whole = F.interpolate(real, size=D.RECON, mode="area")
    target_part = F.interpolate(real[:, :, qy * s:qy * s + s, qx * s:qx * s + s], size=D.RECON, mode="area")
    return logits, F.l1_loss(whole, target_whole) + F.l1_loss(part, target_part)


@torch.no_grad()
def standing_statistics(G: nn.Module, draw: Callable[[int, torch.Generator], dict[str, torch.Tensor]],
                        samples: int = 1024, batch: int = 64, seed: int = 0) -> nn.Module:
    """A copy of ``G`` in eval mode whose batch norms hold the mean and variance of their inputs
    over ``samples`` fixed-seed draws (``draw(n, gen)`` -> G's inputs), averaged over batches of
    ``batch``: each sample then depends only on its own inputs."""
    g = copy.deepcopy(G)
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calibration batches
    g.train()
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, samples, batch):
        g(**draw(min(batch, samples - start), gen))
    return g.eval().requires_grad_(False)

