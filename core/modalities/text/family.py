"""Text model families: ``mle`` (the LSTM language model, the baseline every GAN claim is made
against) and ``relgan`` (MLE pre-training, then a Gumbel-softmax GAN with a multi-representation
discriminator, relativistic standard loss and exponential temperature annealing — Nie et al.,
ICLR 2019, with an LSTM generator).

Both bring their own steps (``own_step``: ``train_step`` on the engine's :class:`StepContext`) and
optimisers to the shared engine; checkpoints, resume, logging and export are the engine's. The pack samples by inverse CDF from one uniform
number per position and a user temperature (graph inputs; no random op in the graph), so a seed
gives the same line in every runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...atomic import write_text_atomic
from ...errors import RunError
from ...metrics.text import distinct
from ...pack import InputSpec, OutputSpec
from ...training.config import TrainConfig
from ...training.family import Family, StepContext
from .model import MultiRepDiscriminator, SequenceGenerator, TextGenerator, after_eos_mask
from .rmc import RelationalMemoryGenerator
from .vocab import EOS_ID, PAD_ID, Vocab

MLE_DEFAULTS: dict[str, Any] = {
    "emb": 64, "hidden": 256, "lr_mle": 1e-2, "clip": 5.0,
    # held-out lines whose NLL picks the best checkpoint (all of them, up to this many)
    "eval_samples": 512,
    # on the embeddings and LSTM outputs in MLE training: a small corpus is memorised without it
    "dropout": 0.0,
    # "lstm" (one layer of `hidden`), or "rmc": relational memory of `mem_slots` slots and
    # `heads` heads of `head_size` (the RelGAN paper's generator; its setting is 1, 2, 256)
    "generator": "lstm", "mem_slots": 1, "heads": 2, "head_size": 256,
    # a checkpoint whose generator initialises this one (e.g. a RelGAN started from an MLE run
    # with pretrain_steps=0, as the RelGAN authors start from a saved pre-trained generator)
    "init_from": None,
}
RELGAN_DEFAULTS: dict[str, Any] = {
    **MLE_DEFAULTS,
    "pretrain_steps": 1000,  # MLE steps before the adversarial phase
    "lr_adv": 1e-4,          # Adam for both networks in the GAN phase (RelGAN's)
    "beta_max": 100.0,       # inverse Gumbel-softmax temperature reached at the last step
    # the step beta_max is reached at (default: the run's --steps); fixed, a run resumed to more
    # steps keeps its schedule, so its stages are points on one run
    "anneal_steps": None,
    "d_emb": 64, "d_reps": 16, "d_channels": 64,
    # discriminator updates per generator update (the RelGAN authors' oracle runs use 5)
    "d_steps": 1,
}


class SamplerExport(nn.Module):
    """The pack's graph: (u (B, L) uniform, temperature (B,), prefix (B, L) ids, prefix_len (B,))
    -> ids (B, L), two ONNX Loops. ``prefix_len`` 0 (the runtime's default for an absent condition)
    is whole-line generation, identical to a pack exported before prefixes existed."""

    def __init__(self, G: SequenceGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, u: torch.Tensor, temperature: torch.Tensor, prefix: torch.Tensor,
                prefix_len: torch.Tensor) -> torch.Tensor:
        return self.G.sample(u, temperature, prefix, prefix_len)


class NoDiscriminator(nn.Module):
    """The MLE baseline trains no discriminator."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - never called
        raise RuntimeError("the mle family has no discriminator")


def masked_nll(G: SequenceGenerator, ids: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per line (nats, summed over tokens up to ``<eos>``)."""
    logits = G.teacher_forced(ids)
    nll = F.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
    return (nll * after_eos_mask(ids)).sum(1).mean()


class TextFamily(Family):
    """The MLE language model; :class:`RelGANFamily` adds the adversarial phase."""

    defaults = MLE_DEFAULTS
    use_ema = False  # a language model is exported as trained
    own_step = True  # maximum likelihood (and relgan's Gumbel-softmax GAN), not the engine's D/G step
    # Its own step and optimisers: the engine's learning rates, GAN loss and R1 never apply.
    honours = ("crop",)
    instead = {
        "lr_g": "text trains with its own rates: --model-option lr_mle=X (maximum likelihood), "
                "lr_adv=X (relgan's adversarial phase)",
        "lr_d": "text trains with its own rates: --model-option lr_adv=X (relgan's adversarial phase)",
        "loss": "mle minimises the likelihood; relgan uses the relativistic standard loss",
        "r1_gamma": "text discriminators take no R1 penalty",
        "r1_every": "text discriminators take no R1 penalty",
    }

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        super().__init__({**self.defaults, **options}, data_info)
        self.vocab = Vocab.from_json(data_info["vocab"])
        self.max_len = int(data_info["max_len"])
        self.length = self.max_len + 1  # the tokens and <eos>
        self.eval_batch = int(self.options["eval_samples"])

    # ---- networks ----------------------------------------------------------------------------
    def build_generator(self) -> SequenceGenerator:
        o = self.options
        if not 0.0 <= float(o["dropout"]) < 1.0:
            raise RunError(f"text model option dropout={o['dropout']!r}: must be in [0, 1)")
        if o["generator"] == "lstm":
            G: SequenceGenerator = TextGenerator(len(self.vocab), self.length, o["emb"], o["hidden"],
                                                 float(o["dropout"]))
        elif o["generator"] == "rmc":
            G = RelationalMemoryGenerator(len(self.vocab), self.length, o["emb"], int(o["mem_slots"]),
                                          int(o["heads"]), int(o["head_size"]), float(o["dropout"]))
        else:
            raise RunError(f"text model option generator={o['generator']!r}: choose lstm or rmc")
        if self.options.get("init_from"):
            from ...training import checkpoint as ckpt

            path = Path(self.options["init_from"])
            tensors, _ = ckpt.load(path)
            ckpt.load_module("G_ema", G, tensors, path)  # shapes must match: same data, same sizes
        return G

    def build_discriminator(self) -> nn.Module:
        return NoDiscriminator()

    def optimizers(self, G: nn.Module, D: nn.Module, cfg: TrainConfig) -> tuple[Any, Any]:
        # Texygen's MLE rate, set by the lr_mle option (--lr is refused for text: see honours)
        return torch.optim.Adam(G.parameters(), lr=self.options["lr_mle"]), None

    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device,
                      labels: Any = None) -> dict[str, torch.Tensor]:
        u = torch.rand(batch, self.length, generator=gen).to(device)
        return {"u": u, "temperature": torch.ones(batch, device=device)}

    def generate(self, G: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return G.sample(**inputs)

    def mle_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        G, opt = ctx.G, ctx.opt_g
        real = ctx.real_batch()
        loss = masked_nll(G, real)
        opt.zero_grad(set_to_none=True)
        (loss / self.length).backward()
        nn.utils.clip_grad_norm_(G.parameters(), self.options["clip"])
        opt.step()
        return {"nll": loss.detach()}

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        # Dropout draws from torch's global generator, which checkpoints do not hold; seeding it
        # each step from the run's (saved) "augment" stream, unused by text otherwise, keeps
        # resume exact and leaves the data and noise streams as they were.
        seed = int(torch.randint(0, 2**62, (1,), generator=ctx.rngs["augment"]))
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self.update(ctx)

    def update(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One training step (MLE here; RelGAN adds its adversarial phase)."""
        return self.mle_step(ctx)

    # ---- export -------------------------------------------------------------------------------
    def export_module(self, G: nn.Module) -> nn.Module:
        return SamplerExport(G).eval()

    def pack_inputs(self) -> list[InputSpec]:
        return [
            InputSpec("u", ["batch", self.length], "float32", "uniform",
                      "one uniform number per position: the token is the first whose cumulative "
                      "probability exceeds it (inverse CDF)"),
            InputSpec("temperature", ["batch"], "float32", "scalar",
                      "divides the logits before sampling (1: the model's distribution)", default=1.0),
            # Listed after the drawn inputs and never drawn themselves ("condition"), so a seed
            # draws the same u as in packs exported before prefixes: same seed, same line.
            InputSpec("prefix", ["batch", self.length], "int64", "condition",
                      "token ids the line must start with (the codec encodes --prefix with the "
                      "pack's vocabulary); positions from prefix_len on are ignored"),
            InputSpec("prefix_len", ["batch"], "int64", "condition",
                      "how many prefix ids each row emits before sampling on (0: a whole line)"),
        ]

    def pack_outputs(self) -> list[OutputSpec]:
        return [OutputSpec("ids", "NL", [0, len(self.vocab) - 1],
                           "token ids; the line ends at the first <eos> (decoder 'vocab')")]

    def decoder_settings(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_json(), "max_len": self.max_len, "length": self.length,
                "eos": EOS_ID, "pad": PAD_ID}

    def example_inputs(self, batch: int, dims: dict[str, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(seed)
        u, temperature = torch.rand(batch, self.length, generator=gen), 0.5 + torch.rand(batch, generator=gen)
        # Real token ids and lengths from 0 (whole line) to L - 1, so the parity check covers
        # forced, sampled and mixed rows; ids past the length are junk the graph must ignore.
        prefix = torch.randint(4, max(len(self.vocab), 5), (batch, self.length), generator=gen)
        prefix_len = torch.randint(0, self.length, (batch,), generator=gen)
        prefix_len[0] = 0 if batch > 1 else prefix_len[0]
        return u, temperature, prefix, prefix_len

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"u": {0: "batch"}, "temperature": {0: "batch"}, "prefix": {0: "batch"},
                "prefix_len": {0: "batch"}, "ids": {0: "batch"}}

    # ---- training-time quality -----------------------------------------------------------------
    @torch.no_grad()
    def sample_lines(self, G: nn.Module, count: int, seed: int, temperature: float = 1.0) -> list[str]:
        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        u = torch.rand(count, self.length, generator=gen).to(device)
        ids = G.sample(u, torch.full((count,), float(temperature), device=device))
        return [self.vocab.decode(row) for row in ids.cpu().tolist()]

    @torch.no_grad()
    def evaluate(self, G: nn.Module, real: torch.Tensor, seed: int) -> dict[str, float]:
        """NLL (nats per line) of the held-out lines (training lines where none are held out) —
        the metric the best checkpoint is kept by, so ``export --checkpoint best`` gives the
        early-stopped model — and the share of distinct lines among 256 samples (a collapse
        alarm). A GAN phase raises this NLL by design (it trades coverage for quality): for
        ``relgan`` the best checkpoint is the best language model, not the best GAN."""
        device = next(G.parameters()).device
        was = G.training
        G.eval()
        nll = float(masked_nll(G, real.to(device)))
        G.train(was)
        lines = self.sample_lines(G, 256, seed)
        return {"nll": nll, "distinct": distinct(lines)}

    def write_samples(self, G: nn.Module, path: Path, seed: int, real: torch.Tensor | None = None) -> None:
        """32 sampled lines at temperature 1, as ``step_N.txt``."""
        lines = self.sample_lines(G, 32, seed)
        write_text_atomic(path.with_suffix(".txt"), "".join(s + "\n" for s in lines))


class RelGANFamily(TextFamily):
    defaults = RELGAN_DEFAULTS
    loss = "rsgan"

    def __init__(self, options: dict[str, Any], data_info: dict[str, Any]) -> None:
        super().__init__(options, data_info)
        n = self.options["d_steps"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise RunError(f"text model option d_steps={n!r}: must be a whole number of at least 1")
        self.d_steps = n

    def build_discriminator(self) -> nn.Module:
        o = self.options
        return MultiRepDiscriminator(len(self.vocab), self.length, o["d_emb"], o["d_reps"],
                                     channels=o["d_channels"])

    def optimizers(self, G: nn.Module, D: nn.Module, cfg: TrainConfig) -> tuple[Any, Any]:
        opt_g, _ = super().optimizers(G, D, cfg)
        return opt_g, torch.optim.Adam(D.parameters(), lr=self.options["lr_adv"], betas=(0.9, 0.999))

    def beta(self, step: int, total: int) -> float:
        """Exponential annealing of the inverse temperature: 1 -> beta_max over the GAN phase."""
        pre = int(self.options["pretrain_steps"])
        total = int(self.options["anneal_steps"] or total)
        frac = min(max((step - pre) / max(total - pre, 1), 0.0), 1.0)
        return float(self.options["beta_max"]) ** frac

    def onehot_fake(self, soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
        """Relaxed one-hots up to the first sampled ``<eos>``, ``<pad>`` one-hots after it, as
        in the real data (the mask is built from the hard ids: no gradient through it)."""
        alive = after_eos_mask(hard)[..., None]
        out = soft * alive
        out[..., PAD_ID] += 1 - alive[..., 0]  # a pad one-hot where the line has ended
        return out

    def update(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        step, pre = ctx.step, int(self.options["pretrain_steps"])
        if step < pre:
            return self.mle_step(ctx)
        if step == pre:  # switch the generator's optimiser to the adversarial rate
            for group in ctx.opt_g.param_groups:
                group["lr"] = self.options["lr_adv"]
                group["betas"] = (0.9, 0.999)
        G, D, device, gen, opt_d = ctx.G, ctx.D, ctx.device, ctx.rngs["noise"], ctx.opt_d
        assert opt_d is not None  # made by optimizers() below
        beta = self.beta(step, ctx.total)

        for _ in range(self.d_steps):
            real = ctx.real_batch()  # D embeds ids directly: the same as their one-hots
            with torch.no_grad():
                soft, hard = G.gumbel_sample(ctx.batch, beta, gen, device)
            d_real, d_fake = D(real), D(self.onehot_fake(soft, hard))
            loss_d = F.softplus(-(d_real - d_fake)).mean()  # relativistic standard GAN
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            nn.utils.clip_grad_norm_(D.parameters(), self.options["clip"])
            opt_d.step()

        D.requires_grad_(False)
        try:
            soft, hard = G.gumbel_sample(ctx.batch, beta, gen, device)
            d_fake = D(self.onehot_fake(soft, hard))
            loss_g = F.softplus(-(d_fake - D(real).detach())).mean()
            ctx.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            D.requires_grad_(True)
        nn.utils.clip_grad_norm_(G.parameters(), self.options["clip"])
        ctx.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "beta": torch.tensor(beta)}
