"""The texture model family: circular-padded generator with per-pixel noise maps + patch
discriminator, NS loss + R1, and a texture-statistics term (sliced Wasserstein on the pixels and
the discriminator's features, ``statistics.py``) that gives the generator a signal from the
first step."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...pack import InputSpec, OutputSpec
from ...training.augment import OPS
from ...training.family import Family
from ...training.losses import LeCamAnchors, lecam_penalty
from .model import MultiScaleDiscriminator, PatchDiscriminator, TextureGenerator
from .options import ADDED_LATER, CHOICES, DEFAULTS, NUMBER_LIMITS, SIZE_LIMITS
from .statistics import pixel_levels

__all__ = ["ADDED_LATER", "CHOICES", "DEFAULTS", "NUMBER_LIMITS", "SIZE_LIMITS", "TextureExport", "TextureFamily"]


class TextureExport(nn.Module):
    """Pure export wrapper: (z_local, z_global) -> image in [-1, 1], NCHW."""

    def __init__(self, G: TextureGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z_local: torch.Tensor, z_global: torch.Tensor) -> torch.Tensor:
        return self.G(z_local, z_global)


class TextureFamily(Family):
    loss = "ns_r1"
    supports_int8 = True
    #: declared, so the engine's check_config refuses a typo or a wrong type before the data load
    defaults = DEFAULTS
    added_later = ADDED_LATER

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:  # a typo must not be silently ignored
            raise ValueError(f"unknown texture model option(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
        super().__init__(self.complete_options(options), data_info)
        for name, (low, high) in SIZE_LIMITS.items():
            value = self.options[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high} (got {value!r})")
        for name, allowed in CHOICES.items():
            if self.options[name] not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)} (got {self.options[name]!r})")
        for name, (low, high, low_open) in NUMBER_LIMITS.items():
            value = self.options[name]
            inside = (isinstance(value, (int, float)) and math.isfinite(value)
                      and (low < value if low_open else low <= value) and value <= high)
            if isinstance(value, bool) or not inside:
                most = "" if math.isinf(high) else f", at most {high:g}"
                raise ValueError(f"{name} must be a finite number {'above' if low_open else 'from'} {low:g}{most} "
                                 f"(got {value!r})")
        if not isinstance(self.options["stats_redraw"], bool):
            raise ValueError(f"stats_redraw must be true or false (got {self.options['stats_redraw']!r})")
        augment = self.options["augment"]
        if augment is not None and (not isinstance(augment, list) or not set(augment) <= set(OPS)):
            raise ValueError(f"augment must be a list of {', '.join(OPS)} (got {augment!r})")
        self.channels = int(data_info.get("channels", 3))
        self.crop = int(data_info.get("crop", 128))
        self.stride = 2 ** int(self.options["stages"])
        if self.crop % self.stride:
            raise ValueError(f"crop {self.crop} is not a multiple of the generator stride {self.stride}")
        #: discriminator scales used: ``d_scales``, or fewer where pooling the crop further would
        #: leave less than a d_depth-layer discriminator takes (a fact of the config, so a resumed
        #: run builds the same D)
        self.d_scales = 1
        while (self.d_scales < int(self.options["d_scales"])
               and self.crop >> self.d_scales >= 2 ** int(self.options["d_depth"])):
            self.d_scales += 1

    def build_generator(self) -> TextureGenerator:
        o = self.options
        return TextureGenerator(o["local_dim"], o["global_dim"], o["base"], o["stages"], self.channels,
                                o["min_width"], o["noise_dim"], float(o["noise_init"]))

    @property
    def r1_scale(self) -> float:  # type: ignore[override]
        """``r1_contrast``'s multiplier of γ (1 when off, or for a run saved before the photos'
        contrast was recorded)."""
        reference, std = float(self.options["r1_contrast"]), self.data_info.get("pixel_std")
        if not reference or not std:
            return 1.0
        return min(1.0, (float(std) / reference) ** 2)

    @property
    def penalty_reference(self) -> int:  # type: ignore[override]
        """Real crops for the statistics term (the larger of ``stats_reference`` and
        ``pixel_reference``; none without the term)."""
        o = self.options
        return max(int(o["stats_reference"]), int(o["pixel_reference"])) if float(o["stats_weight"]) else 0

    @property
    def augment_ops(self) -> list[str] | None:  # type: ignore[override]
        """The ``augment`` option; ``None`` (a run saved before it existed): the run's ``--augment``."""
        return self.options["augment"]

    def optimizers(self, G: nn.Module, D: nn.Module, cfg: Any) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """Adam as every family; with ``noise_lr`` != 1 the noise strengths get their own group."""
        opt_g, opt_d = super().optimizers(G, D, cfg)
        mult = float(self.options["noise_lr"])
        if mult == 1.0:  # one group, as runs saved before the option had
            return opt_g, opt_d
        noise = [p for name, p in G.named_parameters() if name.endswith("noise.weight")]
        ids = {id(p) for p in noise}
        rest = [p for p in G.parameters() if id(p) not in ids]
        betas = (cfg.betas[0], cfg.betas[1])
        return torch.optim.Adam([{"params": rest}, {"params": noise, "lr": cfg.lr_g * mult}],
                                lr=cfg.lr_g, betas=betas), opt_d

    @property
    def z_channels(self) -> int:
        """Channels of the ``z_local`` input: the coarse latent plus the carried noise maps."""
        o = self.options
        return TextureGenerator.latent_channels(o["local_dim"], o["stages"], o["noise_dim"])

    def generator_penalty(self, G: nn.Module, fake: torch.Tensor, inputs: dict[str, torch.Tensor],
                          real: torch.Tensor | None = None, step: int = 0,
                          D: nn.Module | None = None) -> torch.Tensor | None:
        """The texture-statistics term: the distributions of fakes' pixels and features against
        the real batch's (sliced Wasserstein), with projections seeded by the step (a resume
        computes the same term). Beside the pixel levels (:func:`~.statistics.pixel_levels`), the
        features are the frozen discriminator's layers, a random CNN's, or none
        (``stats_features``)."""
        weight = float(self.options["stats_weight"])
        if weight == 0 or real is None:
            return None
        from .statistics import FEATURE_SEED, RandomFeatures, sliced_wasserstein_loss

        o = self.options
        features = o["stats_features"]
        # the pixel levels see every real crop given; learned or random features the first
        # max(D batch, stats_reference) of them (all of them when pixel_reference is off)
        feature_real = real[:max(fake.shape[0], int(o["stats_reference"]))]
        if features == "pixels" or (features == "discriminator" and D is not None):
            fake_px, real_px = pixel_levels(fake.float(), real.float(), int(o["stats_scales"]),
                                            o["stats_pyramid"], int(o["stats_patch"]))
            if features == "pixels":
                return weight * sliced_wasserstein_loss(fake_px, real_px, seed=step)
            with torch.no_grad():
                real_feats = real_px + D.features(feature_real.float())
            fake_feats = fake_px + D.features(fake.float())
            return weight * sliced_wasserstein_loss(fake_feats, real_feats, seed=step)
        if self.options["stats_redraw"]:
            feats = RandomFeatures(self.channels, seed=FEATURE_SEED + step).to(fake.device)
        else:
            if getattr(self, "_features", None) is None or self._features.w0.device != fake.device:
                self._features = RandomFeatures(self.channels).to(fake.device)
            feats = self._features
        real_feats = feats(feature_real.float())
        real_feats[0] = real.float()  # the random CNN's first "layer" is the pixels themselves
        return weight * sliced_wasserstein_loss(feats(fake.float()), real_feats, seed=step)

    def build_discriminator(self) -> PatchDiscriminator | MultiScaleDiscriminator:
        o = self.options
        if self.d_scales > 1:
            D = MultiScaleDiscriminator(self.d_scales, self.channels, o["d_base"], o["d_depth"], mbstd=o["d_mbstd"])
        else:  # one scale: the plain module, so runs saved before the option keep their state-dict keys
            D = PatchDiscriminator(self.channels, o["d_base"], o["d_depth"], mbstd=o["d_mbstd"])
        if float(o["lecam"]):  # only when on: state dicts of runs without it keep their keys
            D.lecam = LeCamAnchors()
        return D

    def discriminator_penalty(self, D: nn.Module, real_logits: torch.Tensor,
                              fake_logits: torch.Tensor) -> torch.Tensor | None:
        """``lecam`` × the LeCam term, against the anchors ``D`` carries (none when off)."""
        weight = float(self.options["lecam"])
        if not weight:
            return None
        return weight * lecam_penalty(real_logits, fake_logits, D.lecam)

    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        h = w = self.crop // self.stride
        z_local = torch.randn(batch, self.z_channels, h, w, generator=gen)
        cell = int(self.options["global_cell"])
        z_global = self.field_window(batch, h, cell, gen) if cell else self._global_input(batch, h, w, gen)
        return {"z_local": z_local.to(device), "z_global": z_global.to(device)}

    def field_window(self, batch: int, n: int, cell: int, gen: torch.Generator) -> torch.Tensor:
        """(batch, global_dim, n, n): each item an n×n window, at a random offset, of a periodic
        field one coarse vector per ``cell`` cells, with more vectors than a window touches: no
        vector repeats inside a crop, which reads as a piece of an endless field (a real crop has
        no wrap-around either)."""
        from ...fields import blend_weights

        coarse = n // cell + 2  # a window touches at most n // cell + 2 coarse points
        grid = torch.randn(batch, self.options["global_dim"], coarse, coarse, generator=gen)
        offsets = torch.rand(batch, 2, generator=gen, dtype=torch.float64) * (coarse * cell)
        a, b = (torch.stack([torch.from_numpy(blend_weights(n, coarse, coarse * cell, float(o))) for o in axis]).float()
                for axis in offsets.T)
        return torch.einsum("bij,bcjk,blk->bcil", a, grid, b)

    # ---- export ---------------------------------------------------------------------------
    def export_module(self, G: nn.Module) -> nn.Module:
        return TextureExport(G).eval()

    def pack_inputs(self) -> list[InputSpec]:
        return [
            InputSpec("z_local", ["batch", self.z_channels, "h", "w"], "float32", "normal",
                      "spatial noise, one cell per stride×stride output pixels (coarse latent, then "
                      "finer noise maps stored depth-to-space)"),
            self._global_spec(),
        ]

    def _global_spec(self) -> InputSpec:
        cell = int(self.options["global_cell"])
        if cell:
            return InputSpec("z_global", ["batch", self.options["global_dim"], "h", "w"], "float32", "field",
                             f"global latent as a smooth field, one vector per {cell}×{cell} cells: which "
                             "member of the texture family, changing slowly across the texture", cell)
        return InputSpec("z_global", ["batch", self.options["global_dim"]], "float32", "normal",
                         "global latent: which member of the texture family")

    def _global_input(self, batch: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
        """A whole texture's ``z_global`` (the runtime's draw, from a torch generator)."""
        cell = int(self.options["global_cell"])
        if not cell:
            return torch.randn(batch, self.options["global_dim"], generator=gen)
        from ...fields import coarse_cells, periodic_field

        grid = torch.randn(batch, self.options["global_dim"], coarse_cells(h, cell), coarse_cells(w, cell),
                           generator=gen)
        return torch.from_numpy(periodic_field(grid.numpy(), h, w))

    def pack_outputs(self) -> list[OutputSpec]:
        return [OutputSpec("image", "NCHW", [-1.0, 1.0], "tileable texture")]

    def decoder_settings(self) -> dict[str, Any]:
        settings = {"stride": self.stride, "channels": self.channels, "train_crop": self.crop,
                    "default_size": [512, 512], "tileable": True}
        reach = self.receptive_radius()
        if reach is not None:  # the runtime's tiled generation needs this much context per tile
            settings["halo"] = reach + 1  # one cell of margin
        return settings

    def receptive_radius(self, G: nn.Module | None = None, max_cells: int = 65) -> int | None:
        """Latent cells, on each side, that one output cell depends on; measured, not derived.

        Runs ``G`` (default: a freshly built generator: the reach is a property of the
        architecture, and fresh weights keep tanh away from saturation, where gradients vanish)
        on a random latent grid and takes the gradient of one centre cell's output pixels,
        weighted randomly so nothing cancels, w.r.t. ``z_local``; its nonzero extent is the
        reach. The grid grows until the reach stays clear of its edges (circular padding would
        wrap it around); ``None`` when it never does (a non-local layer): no exact tiling.
        """
        import copy

        with torch.random.fork_rng(devices=[]):  # building G must not move the caller's RNG
            torch.manual_seed(0)
            G = copy.deepcopy(G) if G is not None else self.build_generator()
        G = G.cpu().float().eval()
        gen = torch.Generator().manual_seed(0)
        n, s = 9, self.stride
        while n <= max_cells:
            z = torch.randn(1, self.z_channels, n, n, generator=gen, requires_grad=True)
            g = self._global_input(1, n, n, gen)
            c = n // 2
            block = G(z, g)[:, :, c * s:(c + 1) * s, c * s:(c + 1) * s]
            (block * torch.rand(block.shape, generator=gen)).sum().backward()
            rows, cols = (z.grad.abs().sum(dim=(0, 1)) > 0).nonzero(as_tuple=True)
            reach = int(max((rows - c).abs().max(), (cols - c).abs().max()))
            if reach < c:  # clear of the edges: nothing wrapped around
                return reach
            n = 2 * n + 1
        return None

    def example_inputs(self, batch: int, dims: dict[str, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(seed)
        h, w = dims.get("h", self.crop // self.stride), dims.get("w", self.crop // self.stride)
        return (torch.randn(batch, self.z_channels, h, w, generator=gen), self._global_input(batch, h, w, gen))

    def export_dims(self) -> dict[str, int]:
        return {"h": 4, "w": 4}

    def parity_dims(self) -> list[dict[str, int]]:
        # Sizes never seen in training and non-square, so wrap padding is checked on both axes.
        return [{"h": 3, "w": 5}, {"h": 9, "w": 6}]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        field = {2: "h", 3: "w"} if self.options["global_cell"] else {}
        return {"z_local": {0: "batch", 2: "h", 3: "w"}, "z_global": {0: "batch", **field},
                "image": {0: "batch", 2: "H", 3: "W"}}

    def evaluate(self, G: nn.Module, real: torch.Tensor, seed: int) -> dict[str, float]:
        """Sliced Wasserstein distance between patch statistics of G's samples and real crops."""
        from ...training.swd import sliced_wasserstein

        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        fakes = []
        with torch.no_grad():
            for start in range(0, real.shape[0], 16):  # small chunks keep peak memory low
                n = min(16, real.shape[0] - start)
                fakes.append(G(**self.sample_inputs(n, gen, device)).float().cpu())
        return {"swd": sliced_wasserstein(torch.cat(fakes), real, seed=seed)}

    def write_samples(self, G: nn.Module, path: Path, seed: int, real: torch.Tensor | None = None) -> None:
        """Real crops above generated ones, at the same scale, so a user sees at once whether the
        model is learning: a first row of real crops (2×2 per cell, when ``real`` is given), then
        a 4×2 grid of samples, each shown 2×2 tiled so seams would be visible."""
        import numpy as np
        from PIL import Image

        def u8(x: torch.Tensor) -> np.ndarray:
            return ((x.float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()

        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        with torch.no_grad():
            x = u8(G(**self.sample_inputs(8, gen, device)))  # (8, C, s, s)
        cells = [np.tile(img, (1, 2, 2)) for img in x]
        rows = [np.concatenate(cells[i:i + 4], axis=2) for i in (0, 4)]
        if real is not None and len(real) and real.shape[1:] == x.shape[1:]:  # crops at the training size
            r = u8(real[torch.arange(16) % len(real)])  # 16 crops (repeated if fewer): four 2×2 mosaics
            c, s = r.shape[1], r.shape[2]
            mosaics = r.reshape(4, 2, 2, c, s, s).transpose(0, 3, 1, 4, 2, 5).reshape(4, c, 2 * s, 2 * s)
            gap = np.full((c, 4, rows[0].shape[2]), 255, np.uint8)
            rows = [np.concatenate(list(mosaics), axis=2), gap] + rows
        grid = np.concatenate(rows, axis=1).transpose(1, 2, 0)
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(path)
