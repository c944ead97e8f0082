"""The ``fastgan`` image family: FastGAN's generator and self-supervised discriminator
(:mod:`.fastgan`) with FastGAN's recipe — hinge loss, Adam (0.5, 0.999), no R1 (the
reconstruction task keeps D from overfitting) — on the engine's EMA, DiffAugment, checkpoints and
resume. Everything else (data, metrics, best-checkpoint rule, previews, pack layout) is the image
modality's, shared with ``stylish`` (:class:`.family.ImageFamily`).

It is the modality's default because it measured best at CPU budgets: on twemoji at 32 px and 30
minutes it draws recognisable, varied sprites where ``stylish`` collapsed each category to one
blurred image (``benchmarks/RESULTS.md``, Image modality).

Pack inputs are ``stylish``'s: ``z``, ``class_u``, ``label``, ``truncation``. Truncation scales
``z`` toward 0, the centre of every category's latent distribution here (the category is a
separate one-hot input), BigGAN's truncation trick.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...pack import InputSpec
from .family import ImageFamily, chosen_category
from .fastgan import FastDiscriminator, FastGenerator, reconstruction_loss, standing_statistics

DEFAULTS: dict[str, Any] = {
    "z_dim": 128,
    #: channels at resolution r: width·64 // r, between 16 and 256 (G and D alike)
    "width": 16,
    "eval_samples": 256,
    #: weight of the discriminator's reconstruction loss (FastGAN: 1)
    "reconstruction": 1.0,
    #: MSGAN's mode-seeking term, as in ``stylish`` (0: off)
    "mode_seeking": 0.0,
}
CALIBRATION_SAMPLES = 1024  # fixed-seed draws behind the standing batch-norm statistics


class FastExport(nn.Module):
    """(z, class_u, label, truncation) -> premultiplied image in [-1, 1], NCHW (conditional)."""

    def __init__(self, G: FastGenerator) -> None:
        super().__init__()
        self.G, self.k = G, G.num_classes

    def forward(self, z: torch.Tensor, class_u: torch.Tensor, label: torch.Tensor,
                truncation: torch.Tensor) -> torch.Tensor:
        return self.G(z * truncation[:, None], chosen_category(class_u, label, self.k))


class UnconditionalFastExport(nn.Module):
    def __init__(self, G: FastGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.G(z * truncation[:, None])


class FastImageFamily(ImageFamily):
    loss = "hinge"
    defaults = DEFAULTS
    honours = ("crop", "lr_g", "lr_d", "loss")
    instead = {"r1_gamma": "its discriminator is held back by a reconstruction task, not by R1",
               "r1_every": "its discriminator is held back by a reconstruction task, not by R1"}

    def build_generator(self) -> FastGenerator:
        o = self.options
        return FastGenerator(self.size, self.channels, self.num_classes, o["z_dim"], o["width"])

    def build_discriminator(self) -> FastDiscriminator:
        return FastDiscriminator(self.size, self.channels, self.num_classes, self.options["width"])

    def optimizers(self, G: nn.Module, D: nn.Module, cfg: Any) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        # FastGAN's (and DCGAN's) betas: with batch norm everywhere, β1 = 0.5 is the tested pair
        return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999)),
                torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999)))

    def discriminate_real(self, D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None,
                          step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = float(self.options["reconstruction"])
        if weight <= 0:
            return self.discriminate(D, x, labels), None
        quadrant = int(torch.randint(0, 4, (1,), generator=torch.Generator().manual_seed(step)))
        logits, loss = reconstruction_loss(D, x, labels, quadrant)
        return logits, weight * loss

    # ---- sampling and export: standing batch-norm statistics ------------------------------------
    def calibrated(self, G: nn.Module) -> nn.Module:
        """``G`` with standing statistics (eval mode): each sample depends on its inputs alone.

        The calibration draws categories in the training data's mix, the mix G's batch norms
        saw in training: calibrated on a uniform mix instead, the 30-minute twemoji model's
        validation KID was 0.0080 against -0.0002 (session 13), since a category's features
        shift every layer's mean."""
        device = next(G.parameters()).device
        counts = self.data_info.get("category_counts")
        if not self.num_classes or not counts or len(counts) != self.num_classes:
            return standing_statistics(G, lambda n, gen: self.sample_inputs(n, gen, device), CALIBRATION_SAMPLES)
        weights = torch.tensor(counts, dtype=torch.float64)

        def draw(n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
            labels = torch.multinomial(weights, n, replacement=True, generator=gen)
            return self.sample_inputs(n, gen, device, labels)

        return standing_statistics(G, draw, CALIBRATION_SAMPLES)

    def sample_images(self, G: nn.Module, count: int, seed: int, labels: torch.Tensor | None = None,
                      chunk: int = 64) -> Any:
        return super().sample_images(self.calibrated(G), count, seed, labels, chunk)

    def export_module(self, G: nn.Module) -> nn.Module:
        g = self.calibrated(G)
        return (FastExport(g) if self.num_classes else UnconditionalFastExport(g)).eval()

    def pack_inputs(self) -> list[InputSpec]:
        specs = super().pack_inputs()
        specs[-1] = InputSpec("truncation", ["batch"], "float32", "scalar",
                              "truncation ψ: z is scaled by ψ toward 0, every category's centre (1: none)",
                              default=1.0)
        return specs

