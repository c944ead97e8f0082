"""What a model family supplies to the shared training loop and to the exporter.

A family owns its networks, its loss choice, how its generator's random inputs are drawn
during training, and the *export wrapper*: a pure ``nn.Module`` whose ``forward`` takes the
pack's inputs in pack order and returns the pack's outputs (no random ops, eval mode, spectral
norm removed). Everything else (optimisers, EMA, augmentation, checkpoints, DDP, logging) is
the engine's.

The training contract, all of it declared here with defaults (the engine probes nothing else):
:meth:`Family.optimizers` (Adam at the run's rates), :attr:`Family.augment_ops` (the run's
``--augment``), :attr:`Family.use_ema` (True), :attr:`Family.takes_labels` (False),
:attr:`Family.own_step` (False: the engine's D step then G step),
:attr:`Family.penalty_reference` (0: the generator term sees the step's D batch) and
:meth:`Family.discriminate_real` (plain logits: no extra D term) and
:meth:`Family.discriminator_penalty` (none). A family with its own step
(text: maximum likelihood, then a Gumbel-softmax GAN) gets a :class:`StepContext` the engine
builds each step — networks, optimisers, the named RNG streams, a real-batch function, the step
and the total — and computes with it; the optimisers and RNGs stay the engine's (it creates,
checkpoints and restores them), so resume is exact whatever the family does with them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import RunError
from ..pack import InputSpec, OutputSpec

#: Engine options (TrainConfig fields, set by ``train``'s shared flags) whose effect depends on
#: the family. A family lists in :attr:`Family.honours` those it uses; giving it another one is
#: refused, because an option that changes nothing would be a silent lie (and would be recorded
#: in the checkpoint and shown by ``ganforge info`` as if it had been used).
ENGINE_OPTIONS = ("crop", "lr_g", "lr_d", "loss", "r1_gamma", "r1_every")


@dataclass(frozen=True)
class StepContext:
    """What a family's own :meth:`Family.train_step` may use for one step (built by the engine)."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None  # None when the family makes none (text: mle)
    #: the run's CPU generators by name ("data", "noise", "augment"): draw only from these
    rngs: Mapping[str, torch.Generator]
    #: one batch of training data on ``device``, drawn from ``rngs["data"]``
    real_batch: Callable[[], torch.Tensor]
    device: torch.device
    batch: int
    step: int  # steps done before this one
    total: int  # the run's --steps


def _kind(value: Any) -> str:
    return "true/false" if isinstance(value, bool) else "a whole number" if isinstance(value, int) else (
        "a number" if isinstance(value, float) else "text" if isinstance(value, str) else type(value).__name__)


def _fits(value: Any, default: Any) -> bool:
    """Whether ``value`` has the type of ``default`` (an int where a float goes is fine)."""
    if default is None or isinstance(default, (list, dict)):
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


class Family(ABC):
    #: "ns_r1" (non-saturating + R1), "hinge" or "wgan_gp"
    loss: str = "ns_r1"
    #: real images the sample-time metric (:meth:`evaluate`) compares against
    eval_batch: int = 32
    #: whether ``export --int8`` applies: the int8 path quantises conv chains and is checked on
    #: convolutional image generators; a family opts in
    supports_int8: bool = False
    #: the :data:`ENGINE_OPTIONS` this family uses (the engine's own step uses them all; a
    #: family with its own optimisers and step, like text's, declares fewer)
    honours: tuple[str, ...] = ENGINE_OPTIONS
    #: why an engine option is not used and what to use instead, shown when it is refused
    instead: dict[str, str] = {}
    #: the family's own options (``--model-option KEY=VALUE``) with their defaults: a key not
    #: in here, or a value of another type, is refused. None: the family checks them itself.
    defaults: dict[str, Any] | None = None
    #: options added after runs were saved, each with what a saved run meant by its absence (a
    #: checkpoint stores the full option set, so one with every older key but not these was
    #: trained without them): :meth:`complete_options` gives those runs their old meaning
    added_later: dict[str, Any] = {}
    #: the DiffAugment ops applied to D's inputs; None: the run's ``--augment``. A family whose
    #: data are not images (music piano-rolls) lists the ops that make sense for it, often none
    augment_ops: list[str] | None = None
    #: whether the exported and sampled G is the EMA of G's weights (False: G as trained)
    use_ema: bool = True
    #: whether the family takes class labels (its dataset's ``sample`` returns ``(data, labels)``;
    #: :meth:`sample_inputs` gets ``labels=`` and :meth:`discriminate` the batch's labels)
    takes_labels: bool = False
    #: whether the family brings its own :meth:`train_step` instead of the engine's D and G steps
    own_step: bool = False
    #: real samples :meth:`generator_penalty` gets as ``real`` (0, or at most the batch: the
    #: step's D batch). A distribution-matching term against a small batch pulls G towards the
    #: batches' average rather than their mixture; more samples, drawn after the D batch from
    #: the same data stream (resume stays exact), make ``real`` the data's distribution
    penalty_reference: int = 0
    #: multiplier of the run's ``r1_gamma`` (1: as given). R1 penalises D's input gradient, whose
    #: size a given separation needs grows as the data's contrast falls, so a family may scale γ
    #: by what its data measured (the texture family's ``r1_contrast``)
    r1_scale: float = 1.0

    @classmethod
    def complete_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` over :attr:`defaults`; a saved, complete option set (every key older than
        :attr:`added_later`) gets those keys' old meaning instead of today's defaults."""
        defaults = cls.defaults or {}
        if cls.added_later and set(defaults) - set(cls.added_later) <= set(options):
            options = {**cls.added_later, **options}
        return {**defaults, **options}

    @classmethod
    def check_config(cls, cfg: Any, given: Iterable[str], label: Callable[[str], str] | None = None) -> None:
        """RunError (one line) when ``given`` (the TrainConfig fields the user set) holds an engine
        option this family does not use, or ``cfg.model`` an option it does not know or of the
        wrong type. Called before the data are read: a typo costs no time."""
        label = label or (lambda name: name)
        who = f"the {cfg.modality} family {cfg.family!r}"
        for name in ENGINE_OPTIONS:
            if name in given and name not in cls.honours:
                hint = cls.instead.get(name)
                raise RunError(f"{label(name)} does not apply to {who}" + (f" ({hint})" if hint else ""))
        if cls.defaults is None:
            return
        known = cls.defaults
        for key, value in (cfg.model or {}).items():
            if key not in known:
                raise RunError(f"unknown model option {key!r} for {who} (known: {', '.join(sorted(known))})")
            if not _fits(value, known[key]):
                raise RunError(f"model option {key}={value!r} of {who}: must be {_kind(known[key])} "
                               f"(default {known[key]!r})")

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        #: family options as saved in config.json (JSON-serialisable)
        self.options = options
        #: facts about the dataset the family needs (channels, crop, categories...)
        self.data_info = data_info

    @abstractmethod
    def build_generator(self) -> nn.Module: ...

    def optimizers(self, G: nn.Module, D: nn.Module, cfg: Any) -> tuple[torch.optim.Optimizer,
                                                                         torch.optim.Optimizer | None]:
        """G's and D's optimisers (D's may be None when nothing trains D). Default: Adam at the
        run's ``--lr`` and betas. The engine owns them once made: checkpoints, resume."""
        betas = (cfg.betas[0], cfg.betas[1])
        return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas),
                torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=betas))

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One training step of a family with :attr:`own_step`: updates through ``ctx``'s
        optimisers, random numbers from ``ctx.rngs`` only; returns detached tensors to log. The
        engine then updates the EMA and counts the step."""
        raise NotImplementedError(f"{type(self).__name__} sets own_step but defines no train_step")

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

    def discriminate_real(self, D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None,
                          step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits for the step's (augmented) real batch and an extra term for D's loss from
        the same forward pass (FastGAN's self-supervised reconstruction); None adds nothing. Random
        choices come from seeds derived from ``step`` only, so resume stays exact."""
        return self.discriminate(D, x, labels), None

    def discriminator_penalty(self, D: nn.Module, real_logits: torch.Tensor,
                              fake_logits: torch.Tensor) -> torch.Tensor | None:
        """A term added to D's loss from this step's logits on the (augmented) real and fake
        batches, e.g. :func:`~.losses.lecam_penalty` with anchors kept in ``D``'s buffers (so a
        checkpoint holds them); None adds nothing. Called once per step, after both forwards."""
        return None

    def augment_options(self) -> dict[str, Any]:
        """Keyword options for the engine's DiffAugment (e.g. ``alpha=True`` for RGBA data)."""
        return {}

    def generate(self, G: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the generator on inputs from :meth:`sample_inputs`."""
        return G(**inputs)

    def generator_penalty(self, G: nn.Module, fake: torch.Tensor, inputs: dict[str, torch.Tensor],
                          real: torch.Tensor | None = None, step: int = 0,
                          D: nn.Module | None = None) -> torch.Tensor | None:
        """An extra term for G's loss, from the batch's fakes, the inputs that made them, the
        step's real batch, the step number and the (frozen) discriminator (e.g. a mode-seeking
        term, a texture-statistics term; it may run ``G`` or ``D`` again, but must draw random
        numbers only from ``inputs`` or from seeds derived from ``step``: resume is exact);
        None (the default) adds nothing."""
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

    def calibrated_decoder(self, settings: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        """The decoder settings for one checkpoint: ``settings`` (from :meth:`decoder_settings`)
        adjusted by what that checkpoint's :meth:`evaluate` measured on held-out data
        (``metrics``, as saved with it). Unchanged by default; the music family records the note
        threshold its evaluation chose on the validation split."""
        return settings

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
