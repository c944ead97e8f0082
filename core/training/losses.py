"""GAN losses on discriminator logits (any shape: a patch D returns a map, averaged here).

- ``ns_r1``   non-saturating logistic loss + R1 penalty on reals (StyleGAN2)
- ``hinge``   hinge loss (SAGAN/BigGAN); R1 is applied too when ``r1_gamma > 0``
- ``wgan_gp`` Wasserstein loss + gradient penalty on interpolates + a small drift term (ProGAN)

and :func:`lecam_penalty`, a regulariser a family may add to any of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import LOSSES as LOSSES  # re-exported: the one list, torch-free for the CLI


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "ns_r1":
        return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind == "wgan_gp":
        # drift keeps the critic's output near zero so it cannot wander off (ProGAN's eps_drift)
        return fake_logits.mean() - real_logits.mean() + 1e-3 * real_logits.float().square().mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "ns_r1":
        return F.softplus(-fake_logits).mean()
    if kind in ("hinge", "wgan_gp"):
        return -fake_logits.mean()
    raise ValueError(f"unknown loss {kind!r}")


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||dD(x)/dx||² at real ``x`` (which must require grad).

    The graph is kept so the penalty back-propagates into D's weights (double backward).
    """
    # A patch discriminator's loss averages its logit map, so each image's score is that mean:
    # penalise the gradient of the mean. The gradient of the map's *sum* is (patches)x larger and
    # its square (patches)^2 larger: for texture's 8x8 map that was gamma x 4096, which held D at
    # chance for whole runs (benchmarks/RESULTS.md, "Why the texture discriminator sat idle").
    per_image = real_logits.float().reshape(real_logits.shape[0], -1).mean(dim=1)
    (grad,) = torch.autograd.grad(per_image.sum(), real, create_graph=True)
    return grad.float().square().sum(dim=tuple(range(1, grad.dim()))).mean()


def gradient_penalty(D: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||dD/dx|| - 1)² at random interpolates; the mixing weights come from ``gen``."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=gen).to(real.device, real.dtype)
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    norm = grad.float().flatten(1).norm(dim=1)
    return (norm - 1.0).square().mean()


class LeCamAnchors(nn.Module):
    """Moving averages of D's mean logit on real and on fake samples, for :func:`lecam_penalty`.

    Buffers, so they travel in D's state dict: a checkpoint saves them and a resumed run goes on
    from the same anchors (exact resume). Under DDP each rank's batch means are averaged over the
    ranks first, so the anchors stay identical everywhere."""

    def __init__(self, decay: float = 0.99) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("real", torch.zeros(()))
        self.register_buffer("fake", torch.zeros(()))

    @torch.no_grad()
    def update(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> None:
        means = torch.stack([real_logits.float().mean(), fake_logits.float().mean()])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(means)
            means /= torch.distributed.get_world_size()
        self.real.lerp_(means[0].to(self.real), 1 - self.decay)
        self.fake.lerp_(means[1].to(self.fake), 1 - self.decay)


def lecam_penalty(real_logits: torch.Tensor, fake_logits: torch.Tensor, anchors: LeCamAnchors) -> torch.Tensor:
    """LeCam regularisation (Tseng et al., CVPR 2021): real logits held below the fakes' moving
    average and fake logits above the reals', squared. It bounds how far D's verdicts on the two
    sides can run apart, which is how a discriminator on little data (one photo's crops) overfits
    and then drags the generator off what it had learned. Updates ``anchors`` with this batch
    first (as the reference implementation does)."""
    anchors.update(real_logits.detach(), fake_logits.detach())
    return (F.relu(real_logits.float() - anchors.fake).square().mean()
            + F.relu(anchors.real - fake_logits.float()).square().mean())
