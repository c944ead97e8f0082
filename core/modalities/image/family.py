"""The image model family: style-based generator with class conditioning, residual projection
discriminator, non-saturating loss + R1, EMA (engine), best checkpoint by KID guarded against a
collapsed category (:meth:`ImageFamily.evaluate`).

Export: the pack's inputs are, in draw order, ``z`` (normal), ``class_u`` (uniform, conditional
packs only: picks the category when none is asked for), then the host-supplied ``label`` (int64,
-1 = let ``class_u`` choose) and ``truncation`` (ψ, default 1). Truncation happens inside the
graph, toward the average latent of the chosen category, which is measured at export and stored in
the pack as a constant: ``w = w_avg[k] + ψ (w - w_avg[k])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...atomic import write_atomic
from ...pack import InputSpec, OutputSpec
from ...training.family import Family
from .model import ImageDiscriminator, ImageGenerator

DEFAULTS: dict[str, Any] = {
    "z_dim": 128,
    "w_dim": 256,
    "mapping_layers": 2,
    "channel_base": 1024,  # channels at resolution r: min(channel_max, channel_base // r)
    "channel_max": 128,
    "d_channel_base": 1024,
    "d_channel_max": 128,
    "eval_samples": 256,
    #: weight of MSGAN's mode-seeking term (Mao et al. 2019): two latents of one category must
    #: give different images. 0: off. Tried against the within-category collapse measured in
    #: session 12: at 1 and at 0.1 the discriminator wins within minutes and training breaks
    #: (benchmarks/RESULTS.md, Image modality)
    "mode_seeking": 0.0,
}
W_AVG_SAMPLES = 4096  # latents per category averaged for the truncation centre


def to_unit_rgba(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Generator output (B, C, S, S) in [-1, 1], premultiplied -> (B, S, S, C) straight in [0, 1]."""
    from .io import unpremultiply

    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    a = np.clip((a.transpose(0, 2, 3, 1) + 1.0) / 2.0, 0.0, 1.0)
    return unpremultiply(a)


def chosen_category(class_u: torch.Tensor, label: torch.Tensor, k: int) -> torch.Tensor:
    """The pack's category rule, in the graph: ``label`` when given (>= 0), else floor(u·K)."""
    drawn = torch.clamp(torch.floor(class_u * k), 0, k - 1).to(torch.int64)
    return torch.where(label >= 0, torch.clamp(label, max=k - 1), drawn)


class ImageExport(nn.Module):
    """Pure export wrapper (conditional): (z, class_u, label, truncation) -> premultiplied image
    in [-1, 1], NCHW."""

    def __init__(self, G: ImageGenerator, w_avg: torch.Tensor) -> None:
        super().__init__()
        self.G = G
        self.register_buffer("w_avg", w_avg)  # (K, w_dim): the truncation centres
        self.k = G.num_classes

    def forward(self, z: torch.Tensor, class_u: torch.Tensor, label: torch.Tensor,
                truncation: torch.Tensor) -> torch.Tensor:
        k = chosen_category(class_u, label, self.k)
        w = self.G.mapping(z, k)
        centre = torch.index_select(self.w_avg, 0, k)
        return self.G.synthesis(centre + truncation[:, None] * (w - centre))


class UnconditionalImageExport(nn.Module):
    """Pure export wrapper (no categories): (z, truncation) -> image."""

    def __init__(self, G: ImageGenerator, w_avg: torch.Tensor) -> None:
        super().__init__()
        self.G = G
        self.register_buffer("w_avg", w_avg)  # (1, w_dim)

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        w = self.G.mapping(z)
        return self.G.synthesis(self.w_avg + truncation[:, None] * (w - self.w_avg))


class ImageFamily(Family):
    loss = "ns_r1"
    takes_labels = True  # a dataset of category folders gives (images, labels); one folder, none
    defaults = DEFAULTS

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        super().__init__({**(self.defaults or {}), **options}, data_info)
        self.channels = int(data_info.get("channels", 3))
        self.size = int(data_info.get("crop", 32))
        self.categories = list(data_info.get("categories") or [])
        self.num_classes = len(self.categories)
        self.eval_batch = int(self.options["eval_samples"])
        self._real_features: tuple[int, np.ndarray] | None = None

    # ---- networks --------------------------------------------------------------------------
    def build_generator(self) -> ImageGenerator:
        o = self.options
        return ImageGenerator(self.size, self.channels, self.num_classes, o["z_dim"], o["w_dim"],
                              o["mapping_layers"], o["channel_base"], o["channel_max"])

    def build_discriminator(self) -> ImageDiscriminator:
        o = self.options
        return ImageDiscriminator(self.size, self.channels, self.num_classes, o["d_channel_base"], o["d_channel_max"])

    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device,
                      labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = torch.randn(batch, self.options["z_dim"], generator=gen).to(device)
        if not self.num_classes:
            return {"z": z}
        if labels is None:  # sampling outside training: uniform over the categories
            labels = torch.randint(0, self.num_classes, (batch,), generator=gen)
        return {"z": z, "labels": labels.to(device)}

    def generator_penalty(self, G: nn.Module, fake: torch.Tensor, inputs: dict[str, torch.Tensor],
                          real: torch.Tensor | None = None, step: int = 0,
                          D: nn.Module | None = None) -> torch.Tensor | None:
        """MSGAN's term (``mode_seeking``): the first half of the batch again, with the second
        half's latents and the first half's labels; G pays the inverse of how far the images move
        per unit of latent distance. No new randomness is drawn, so a resume stays exact."""
        weight, b = float(self.options["mode_seeking"]), fake.shape[0]
        if weight <= 0 or b < 2:
            return None
        h = b // 2
        other = torch.arange(h, device=fake.device) + h
        again = G(**{k: v[other] if k == "z" else v[:h] for k, v in inputs.items()})
        apart = (fake[:h] - again).abs().mean(dim=(1, 2, 3))
        dz = (inputs["z"][:h] - inputs["z"][other]).abs().mean(dim=1)
        return weight / ((apart / dz).mean() + 1e-5)

    def augment_options(self) -> dict[str, Any]:
        # Sprites are not periodic: translation uncovers transparency (RGBA) or zeros, no wrap.
        return {"alpha": self.channels == 4, "wrap": False}

    # ---- export ----------------------------------------------------------------------------
    @torch.no_grad()
    def average_latents(self, G: ImageGenerator, samples: int = W_AVG_SAMPLES) -> torch.Tensor:
        """Mean mapping output per category (one row for an unconditional model), fixed seed."""
        gen = torch.Generator().manual_seed(0)
        device = next(G.parameters()).device
        z = torch.randn(samples, self.options["z_dim"], generator=gen).to(device)
        if not self.num_classes:
            return G.mapping(z).mean(0, keepdim=True)
        return torch.stack([G.mapping(z, torch.full((samples,), k, dtype=torch.int64, device=device)).mean(0)
                            for k in range(self.num_classes)])

    def export_module(self, G: nn.Module) -> nn.Module:
        cls = ImageExport if self.num_classes else UnconditionalImageExport
        return cls(G, self.average_latents(G)).eval()

    def pack_inputs(self) -> list[InputSpec]:
        specs = [InputSpec("z", ["batch", self.options["z_dim"]], "float32", "normal", "latent")]
        if self.num_classes:
            specs += [
                InputSpec("class_u", ["batch"], "float32", "uniform",
                          "picks the category floor(u·K) when no label is given"),
                InputSpec("label", ["batch"], "int64", "scalar",
                          "category index (decoder 'categories'); -1: chosen by class_u", default=-1),
            ]
        specs.append(InputSpec("truncation", ["batch"], "float32", "scalar",
                               "truncation ψ toward the category's average latent (1: none)", default=1.0))
        return specs

    def pack_outputs(self) -> list[OutputSpec]:
        meaning = {1: "grey", 3: "RGB", 4: "RGBA, colour premultiplied by alpha"}[self.channels]
        return [OutputSpec("image", "NCHW", [-1.0, 1.0], meaning)]

    def decoder_settings(self) -> dict[str, Any]:
        return {"size": self.size, "channels": self.channels, "categories": self.categories,
                "premultiplied": self.channels == 4, "fit": self.data_info.get("fit", "pad")}

    def example_inputs(self, batch: int, dims: dict[str, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(batch, self.options["z_dim"], generator=gen)
        psi = 0.5 + torch.rand(batch, generator=gen)
        if not self.num_classes:
            return z, psi
        u = torch.rand(batch, generator=gen)
        label = torch.arange(batch, dtype=torch.int64) % (self.num_classes + 1) - 1  # -1 (drawn) and given
        return z, u, label, psi

    def parity_dims(self) -> list[dict[str, int]]:
        return [{}]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        names = [s.name for s in self.pack_inputs()] + ["image"]
        return {n: {0: "batch"} for n in names}

    # ---- training-time quality ---------------------------------------------------------------
    @torch.no_grad()
    def sample_images(self, G: nn.Module, count: int, seed: int, labels: torch.Tensor | None = None,
                      chunk: int = 64) -> np.ndarray:
        """``count`` samples as (N, S, S, C) straight-alpha float in [0, 1]."""
        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        out = []
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            lab = None if labels is None else labels[start:start + n]
            out.append(to_unit_rgba(G(**self.sample_inputs(n, gen, device, lab))))
        return np.concatenate(out)

    def evaluate(self, G: nn.Module, real: Any, seed: int) -> dict[str, float]:
        """The best-checkpoint score first, then KID and FD (random-CNN features,
        :mod:`ganforge.core.metrics.features`) of EMA samples against a fixed real batch; fakes
        take the real batch's labels. ``kid_guarded`` = KID + 2 · max(0, 0.5 − the worst
        category's variety ratio) (:func:`ganforge.core.metrics.categories.guarded_kid`, which
        the benchmark's model selection uses too): KID alone is happy with a model that draws
        one good image per category, so a checkpoint that collapses a category pays more than
        the whole KID of unstructured noise and cannot be "best" over one that keeps every
        category varied. Unconditional models are judged as one category."""
        from ...metrics.categories import guarded_kid
        from ...metrics.features import random_cnn_features
        from ...metrics.frechet import frechet_distance

        images, labels = real if isinstance(real, (tuple, list)) else (real, None)
        key = id(images)
        if self._real_features is None or self._real_features[0] != key:
            self._real_features = (key, random_cnn_features(to_unit_rgba(images)))
        fake = random_cnn_features(self.sample_images(G, len(images), seed, labels))
        real_f = self._real_features[1]
        lab = None if labels is None else labels.cpu().numpy()
        scores = guarded_kid(fake, lab, real_f, lab, self.num_classes, seed)
        return {**scores, "fd": frechet_distance(fake, real_f)}

    def write_samples(self, G: nn.Module, path: Path, seed: int, real: torch.Tensor | None = None) -> None:
        """An 8×8 grid (one row per category, cycling, for a conditional model), alpha shown
        over a checkerboard."""
        labels = None
        if self.num_classes:
            labels = torch.arange(64) // 8 % self.num_classes
        save_grid(self.sample_images(G, 64, seed, labels), path, columns=8)


def checkerboard(h: int, w: int, cell: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.where((yy // cell + xx // cell) % 2 == 0, 0.8, 0.6).astype(np.float32)[..., None]


def save_grid(images: np.ndarray, path: Path, columns: int = 8, pad: int = 2) -> None:
    """(N, S, S, C) straight-alpha floats in [0, 1] -> one PNG sheet (alpha over a checkerboard)."""
    from PIL import Image

    n, s, _, c = images.shape
    if c == 1:
        images = np.repeat(images, 3, axis=3)
    elif c == 4:
        a = images[..., 3:]
        images = images[..., :3] * a + checkerboard(s, s) * (1 - a)
    rows = -(-n // columns)
    sheet = np.ones((rows * (s + pad) + pad, columns * (s + pad) + pad, 3), np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        sheet[pad + r * (s + pad):pad + r * (s + pad) + s, pad + col * (s + pad):pad + col * (s + pad) + s] = img
    write_atomic(path, Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)).save)
