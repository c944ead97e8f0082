"""A texture-statistics term for the generator: sliced Wasserstein distance between the feature
distributions of fakes and real crops. ``sliced_wasserstein_loss`` serves both feature sources
(the family's default compares the discriminator's own layers); ``RandomFeatures`` is the
*random* shallow CNN used with ``stats_features=random``.

Why: an adversarial signal alone starts from nothing. On a CPU budget of minutes the generator
first finds the mean colour and the discriminator takes hundreds of steps to say anything about
texture, so a short run ends flat. Matching the distribution of local features (Heitz et al.
2021, "A Sliced Wasserstein Loss for Neural Texture Synthesis") pulls colour and local structure
in from the first step; random, untrained filters are enough for texture statistics (Ustyuzhaninov
et al. 2017), so no weights are downloaded. The discriminator then refines what the statistics
cannot express (shapes, arrangement).

The filters come from ``FEATURE_SEED`` (the family draws them afresh each step from
``FEATURE_SEED + step``; never from the training RNGs), and the projection directions from a seed
derived from the step number, so a resumed run computes exactly the same term. This
network is deliberately unlike the evaluation's measures (Laplacian-pyramid pixel patches,
``core/metrics/swd.py``; the random CNN of ``core/metrics/features.py`` with its own seed): the
training signal is not the reported statistic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_SEED = 31_415  # not core/metrics/features.py's seed: train on one net, report on another
WIDTHS = (32, 64, 128)
DIRECTIONS = 64
POINTS = 4096  # feature vectors per layer and set: sorting every pixel costs 10x more, gains little


class RandomFeatures(nn.Module):
    """Fixed random 3×3 convs + ReLU, average-pooled by 2 between layers (circular padding, like
    the generator): the pixels and each layer's maps are the compared distributions."""

    def __init__(self, channels: int, widths: tuple[int, ...] = WIDTHS, seed: int = FEATURE_SEED) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        weights, cin = [], channels
        for cout in widths:
            weights.append(torch.randn(cout, cin, 3, 3, generator=gen) * (2.0 / (cin * 9)) ** 0.5)
            cin = cout
        for i, w in enumerate(weights):  # buffers: saved nowhere that matters, never trained
            self.register_buffer(f"w{i}", w, persistent=False)
        self.depth = len(widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [x]
        for i in range(self.depth):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), getattr(self, f"w{i}")))
            feats.append(x)
        return feats


def pixel_scales(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """``x`` and its 2×, 4×, ... average-pooled copies (``scales`` in all; fewer when the image
    is too small to pool further)."""
    out = [x]
    for _ in range(scales - 1):
        if min(x.shape[2:]) < 2:
            break
        x = F.avg_pool2d(x, 2)
        out.append(x)
    return out


def pixel_bands(x: torch.Tensor, scales: int) -> list[torch.Tensor]:
    """A Laplacian pyramid of ``x``: ``scales - 1`` band-pass levels (each scale minus its 2×
    average-pooled copy, upsampled back), then the coarsest low-pass (``[x]`` for one scale).

    Heeger & Bergen (1995) synthesised textures by matching the histograms of such subbands: a
    band's marginal says how much structure a photo has at that scale, so grain on a smooth
    photo shows in its finest band, where a colour histogram alone is met by scattered grain."""
    out = []
    for _ in range(scales - 1):
        if min(x.shape[2:]) < 2:
            break
        low = F.avg_pool2d(x, 2)
        out.append(x - F.interpolate(low, scale_factor=2.0, mode="nearest"))
        x = low
    out.append(x)
    return out


def patches(x: torch.Tensor, size: int) -> torch.Tensor:
    """Every ``size``×``size`` neighbourhood of ``x`` (B, C, H, W) as one vector: (B, C·size², H', W')
    (valid positions only; ``x`` itself for size 1)."""
    if size == 1 or min(x.shape[2:]) < size:
        return x
    b, c, h, w = x.shape
    return F.unfold(x, size).reshape(b, c * size * size, h - size + 1, w - size + 1)


def normalise_bands(fake: list[torch.Tensor], real: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each band of both sets divided by the real band's per-channel standard deviation, so a
    faint band (a smooth photo's finest) weighs as much as a strong one (the eval's SWD also
    normalises per level; here it is the marginals of single coefficients, not patches)."""
    scales = [r.detach().std(dim=(0, 2, 3), keepdim=True) + 1e-3 for r in real]
    return [f / s for f, s in zip(fake, scales, strict=True)], [r / s for r, s in zip(real, scales, strict=True)]


def pixel_levels(fake: torch.Tensor, real: torch.Tensor, scales: int, pyramid: str = "gaussian",
                 patch: int = 1) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The pixel part of the statistics term for both sets: ``scales`` levels of a Gaussian
    (:func:`pixel_scales`) or normalised Laplacian (:func:`pixel_bands`) pyramid, each level's
    ``patch``×``patch`` neighbourhoods as the compared vectors."""
    if pyramid == "laplacian":
        fakes, reals = normalise_bands(pixel_bands(fake, scales), pixel_bands(real, scales))
    else:
        fakes, reals = pixel_scales(fake, scales), pixel_scales(real, scales)
    return [patches(x, patch) for x in fakes], [patches(x, patch) for x in reals]


def sliced_wasserstein_loss(fake: list[torch.Tensor], real: list[torch.Tensor], seed: int,
                            directions: int = DIRECTIONS, points: int = POINTS) -> torch.Tensor:
    """Sum over layers of the mean squared difference of sorted projections (W2² per direction)
    of up to ``points`` feature vectors of each set; directions and subsets come from ``seed``."""
    from ...training.sliced import sliced_w2

    gen = torch.Generator().manual_seed(seed)
    total = fake[0].new_zeros(())
    for a, b in zip(fake, real, strict=True):
        c = a.shape[1]
        total = total + sliced_w2(a.permute(0, 2, 3, 1).reshape(-1, c), b.permute(0, 2, 3, 1).reshape(-1, c),
                                  gen, directions, points)
    return total
