"""What a model family supplies to the shared training loop and to the exporter.

A family owns its networks, its loss choice, how its generator's random inputs are drawn
during training, and the *export wrapper*: a pure ``nn.Module`` whose ``forward`` takes the
pack's inputs in pack order and returns the pack's outputs (no random ops, eval mode, spectral
norm removed). Everything else (optimisers, EMA, augmentation, checkpoints, DDP, logging) is
the engine's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..pack import InputSpec, OutputSpec


class Family(ABC):
    #: "ns_r1" (non-saturating + R1), "hinge" or "wgan_gp"
    loss: str = "ns_r1"
    #: real images the sample-time metric (:meth:`evaluate`) compares against
    eval_batch: int = 32
    #: whether ``export --int8`` applies: the int8 path quantises conv chains and is checked on
    #: convolutional image generators; a family opts in
    supports_int8: bool = False

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        #: family options as saved in config.json (JSON-serialisable)
        self.options = options
        #: facts about the dataset the family needs (channels, crop, categories...)
        self.data_info = data_info

    @abstractmethod
    def build_generator(self) -> nn.Module: ...

    @abstractmethod
    def build_discriminator(self) -> nn.Module: ...

    @abstractmethod
    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        """Random generator inputs for one training batch, drawn from ``gen`` (a CPU generator,
        so that resume is exact on every device)."""

    def discriminate(self, D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D's logits for ``x``. ``labels``: the batch's class labels when the dataset is
        conditional (its ``sample`` returns ``(images, labels)``; ``sample_inputs`` then receives
        ``labels=`` too), else None."""
        return D(x) if labels is None else D(x, labels)

    def augment_options(self) -> dict[str, Any]:
        """Keyword options for the engine's DiffAugment (e.g. ``alpha=True`` for RGBA data)."""
        return {}

    def generate(self, G: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the generator on inputs from :meth:`sample_inputs`."""
        return G(**inputs)

    def generator_penalty(self, G: nn.Module, fake: torch.Tensor, inputs: dict[str, torch.Tensor],
                          real: torch.Tensor | None = None, step: int = 0) -> torch.Tensor | None:
        """An extra term for G's loss, from the batch's fakes, the inputs that made them, the
        step's real batch and the step number (e.g. a mode-seeking term, a texture-statistics
        term; it may run ``G`` again, but must draw random numbers only from ``inputs`` or from
        seeds derived from ``step``: resume is exact); None (the default) adds nothing."""
        return None

    # ---- export contract -----------------------------------------------------------------
    @abstractmethod
    def export_module(self, G: nn.Module) -> nn.Module:
        """A pure module: ``forward(*pack_inputs) -> output`` (one tensor or a tuple)."""

    @abstractmethod
    def pack_inputs(self) -> list[InputSpec]: ...

    @abstractmethod
    def pack_outputs(self) -> list[OutputSpec]: ...

    @abstractmethod
    def decoder_settings(self) -> dict[str, Any]:
        """The pack's ``ganforge.decoder`` object (stride, channels, ...)."""

    @abstractmethod
    def example_inputs(self, batch: int, dims: dict[str, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Inputs for export tracing and parity checks; ``dims`` resolves symbolic shape names."""

    def parity_dims(self) -> list[dict[str, int]]:
        """Symbolic-dimension settings for the exporter's parity check (two shapes other than
        the export example)."""
        return [{}]

    def export_dims(self) -> dict[str, int]:
        return {}

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``{input_or_output_name: {axis: symbolic_name}}`` for the ONNX export."""
        return {}

    def write_samples(self, G: nn.Module, path: Path, seed: int, real: torch.Tensor | None = None) -> None:
        """Write a preview image of the generator's output (a grid, a tiled preview...);
        ``real``: the loop's fixed batch of training data, to show beside it (optional)."""
        return None  # optional: a family without a preview writes nothing

    # ---- training-time quality ------------------------------------------------------------
    def evaluate(self, G: nn.Module, real: torch.Tensor, seed: int) -> dict[str, float]:
        """Cheap quality measures of ``G`` against a batch of real training data, computed at
        sample time. The first key is the one the engine keeps the best checkpoint by (lower is
        better). Must draw only from ``seed``, never from the training generators."""
        return {}
