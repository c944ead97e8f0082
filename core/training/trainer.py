"""The per-step machinery: networks, optimisers, EMA, augmentation, AMP and the engine's RNGs.

``Trainer.step()`` is one discriminator update followed by one generator update — the function a
benchmark times against a plain loop with the same networks. Everything it draws comes from three
CPU ``torch.Generator``s owned here (data, noise, augmentation), seeded per rank, and saved in
checkpoints, so a resumed run is bit-identical on CPU.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import RunError
from . import checkpoint as ckpt
from . import losses
from .augment import DiffAugment
from .config import TrainConfig
from .distributed import Dist, average_gradients, broadcast_module
from .ema import ema_beta, make_ema, update_ema
from .family import Family, StepContext

RNG_STREAMS = ("data", "noise", "augment")


def lr_factor(decay_steps: int, step: int) -> float:
    """The learning rates' multiplier at ``step``: 1 until ``decay_steps``, then
    sqrt(decay_steps / step), so step 4·decay_steps trains at half the rate (0: always 1)."""
    if decay_steps <= 0 or step <= decay_steps:
        return 1.0
    return (decay_steps / step) ** 0.5


def stream_seed(seed: int, rank: int, stream: str) -> int:
    """Independent 63-bit seeds per (run seed, rank, stream) via numpy's SeedSequence."""
    ss = np.random.SeedSequence([seed, rank, RNG_STREAMS.index(stream)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


class Trainer:
    def __init__(self, family: Family, dataset: Any, cfg: TrainConfig, device: torch.device,
                 dist: Dist | None = None) -> None:
        self.family, self.dataset, self.cfg, self.device = family, dataset, cfg, device
        self.dist = dist or Dist()
        self.loss_kind = cfg.loss or family.loss
        # A family with its own train_step (text) applies its own loss.
        if self.loss_kind not in losses.LOSSES and not family.own_step:
            raise ValueError(f"unknown loss {self.loss_kind!r}")
        self.batch = cfg.batch

        # Same initial weights on every rank (and broadcast anyway), without touching the
        # caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            G, D = family.build_generator(), family.build_discriminator()
        self.memory_format = torch.contiguous_format
        if device.type == "cpu":
            # x86 cores take ~100 cycles per operation on a denormal float. The text GAN's
            # Gumbel-softmax at a high inverse temperature is full of them: flushing them to zero
            # made its generator step 14x faster (3.6 s -> 0.25 s) and changes no value above 1e-38.
            torch.set_flush_denormal(True)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # shapes are fixed: pick the fastest kernels once
            if cfg.channels_last:
                self.memory_format = torch.channels_last  # faster convs with tensor cores
        self.G = G.to(device, memory_format=self.memory_format)
        self.D = D.to(device, memory_format=self.memory_format)
        broadcast_module(self.G, self.dist)
        broadcast_module(self.D, self.dist)
        self.G_ema = make_ema(self.G)

        self.opt_g, self.opt_d = family.optimizers(self.G, self.D, cfg)
        #: the schedule's factor the optimisers' rates carry now (``lr_decay_steps``); the rates
        #: are rescaled by ratios, so a family that sets its own (text's switch to ``lr_adv``)
        #: keeps it, decayed from then on
        self.lr_applied = 1.0

        # AMP only on CUDA: bf16 where supported (no loss scaling), else fp16 with GradScalers.
        self.amp_dtype: torch.dtype | None = None
        if device.type == "cuda" and cfg.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        use_scaler = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=use_scaler)

        self.gens = {s: torch.Generator().manual_seed(stream_seed(cfg.seed, self.dist.rank, s))
                     for s in RNG_STREAMS}
        ops = family.augment_ops
        self.augment = DiffAugment(cfg.augment if ops is None else ops, self.gens["augment"],
                                   **family.augment_options())
        #: class labels of the current real batch (conditional datasets), reused for the fakes
        self.labels: torch.Tensor | None = None
        self.step_count = 0
        self.images_seen = 0  # over all ranks

    # ---- one training step ---------------------------------------------------------------------
    def autocast(self, enabled: bool = True) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None or not enabled:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def real_batch(self) -> torch.Tensor:
        real = self.dataset.sample(self.batch, self.gens["data"])
        self.labels = None
        if isinstance(real, (tuple, list)):  # a conditional dataset: (images, class labels)
            if not self.family.takes_labels:  # D and G would silently ignore them
                raise RunError(f"the family {type(self.family).__name__} takes no labels but its data give them")
            real, labels = real
            self.labels = labels.to(self.device, non_blocking=True)
        return real.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def fake_batch(self) -> torch.Tensor:
        # Fakes take the real batch's labels, so both sides of D see the data's class mix.
        extra = {} if self.labels is None else {"labels": self.labels}
        inputs = self.family.sample_inputs(self.batch, self.gens["noise"], self.device, **extra)
        self.fake_inputs = inputs  # for the family's generator_penalty
        return self.family.generate(self.G, inputs)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return self.family.discriminate(self.D, x, self.labels)

    def step(self) -> dict[str, torch.Tensor]:
        """One D step then one G step, then the EMA update. Returns detached loss tensors
        (call ``.item()`` only when logging: it synchronises the GPU).

        A family with ``own_step`` (text: maximum-likelihood steps, Gumbel-softmax GAN steps)
        computes its own updates from a :class:`StepContext` holding this trainer's networks,
        optimisers and RNGs; the EMA update and the step count stay the engine's."""
        self.schedule_lr()
        if self.family.own_step:
            out = self.family.train_step(self.context())
            self.finish_step()
            return out
        cfg, G, D, aug, kind = self.cfg, self.G, self.D, self.augment, self.loss_kind
        out: dict[str, torch.Tensor] = {}

        # -- discriminator: real up, fake down (+ R1 every r1_every steps, scaled by r1_every) --
        real = self.real_batch()
        # One generator forward serves both steps (as in the textbook loop): D sees it detached,
        # G's step back-propagates through it. A second forward cost ~15% of a CPU step.
        with self.autocast():
            fake = self.fake_batch()
        do_r1 = (kind != "wgan_gp" and cfg.r1_gamma > 0 and "r1_gamma" in self.family.honours
                 and self.step_count % cfg.r1_every == 0)
        real.requires_grad_(do_r1)
        # fp16 input gradients can underflow, so the R1 forward runs in fp32 there
        with self.autocast(enabled=not (do_r1 and self.amp_dtype == torch.float16)):
            real_aug = aug(real)
            real_logits, d_term = self.family.discriminate_real(D, real_aug, self.labels, self.step_count)
        with self.autocast():
            fake_aug = aug(fake.detach())
            fake_logits = self.discriminate(fake_aug)
        loss_d = losses.d_loss(kind, real_logits.float(), fake_logits.float())
        out["loss_d"] = loss_d.detach()
        if d_term is not None:
            out["d_term"] = d_term.detach()
            loss_d = loss_d + d_term
        d_reg = self.family.discriminator_penalty(D, real_logits, fake_logits)
        if d_reg is not None:
            out["d_reg"] = d_reg.detach()
            loss_d = loss_d + d_reg
        if do_r1:
            # R1 shares the main pass's forward (one backward for both), computed on the plain
            # module on each rank; see distributed.py for why there is no DDP wrapper.
            r1 = losses.r1_penalty(real_logits, real)
            loss_d = loss_d + r1 * (cfg.r1_gamma * float(self.family.r1_scale) / 2 * cfg.r1_every)
            out["r1"] = r1.detach()
        if kind == "wgan_gp":
            with self.autocast(enabled=self.amp_dtype != torch.float16):
                gp = losses.gradient_penalty(self.discriminate, real_aug, fake_aug, self.gens["noise"])
            loss_d = loss_d + cfg.gp_weight * gp
            out["gp"] = gp.detach()
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss_d).backward()
        average_gradients(list(D.parameters()), self.dist)
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()

        # -- generator: fool the (frozen) discriminator through the same augmentation --
        D.requires_grad_(False)
        try:
            with self.autocast():
                fake_logits = self.discriminate(aug(fake))
            loss_g = losses.g_loss(kind, fake_logits.float())
            penalty = self.family.generator_penalty(G, fake, self.fake_inputs, real=self.penalty_real(real),
                                                    step=self.step_count, D=D)
            if penalty is not None:
                out["g_penalty"] = penalty.detach()
                loss_g = loss_g + penalty
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(loss_g).backward()
        finally:
            D.requires_grad_(True)
        average_gradients(list(G.parameters()), self.dist)
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        out["loss_g"] = loss_g.detach()
        self.finish_step()
        return out

    def schedule_lr(self) -> None:
        """Scale this step's learning rates (``lr_decay_steps``: constant, then ∝ 1/sqrt(step));
        off (0), the optimisers are left alone."""
        factor = lr_factor(int(self.cfg.lr_decay_steps), self.step_count)
        if factor == self.lr_applied:
            return
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] *= factor / self.lr_applied
        self.lr_applied = factor

    def penalty_real(self, real: torch.Tensor) -> torch.Tensor:
        """The real samples for the family's generator term: the D batch, topped up to the
        family's :attr:`~.family.Family.penalty_reference` from the data stream."""
        real = real.detach()
        extra = int(self.family.penalty_reference) - real.shape[0]
        if extra <= 0:
            return real
        more = self.dataset.sample(extra, self.gens["data"])
        if isinstance(more, (tuple, list)):  # a conditional dataset: the term compares images
            more = more[0]
        more = more.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return torch.cat([real, more])

    def context(self) -> StepContext:
        """This step's view of the engine for a family's own ``train_step``."""
        def real_batch() -> torch.Tensor:
            # not real_batch(): a family's own data need not be images (no channels-last layout)
            return self.dataset.sample(self.batch, self.gens["data"]).to(self.device, non_blocking=True)

        return StepContext(self.G, self.D, self.opt_g, self.opt_d, dict(self.gens), real_batch, self.device,
                           self.batch, self.step_count, self.cfg.steps)

    def finish_step(self) -> None:
        """EMA of G (the network that is sampled and exported) and the step count. A family
        with ``use_ema = False`` exports its raw G (the EMA copy just follows it)."""
        cfg = self.cfg
        step_images = self.batch * self.dist.world_size
        self.images_seen += step_images
        beta = ema_beta(step_images, self.images_seen, cfg.ema_half_life_images, cfg.ema_rampup)
        update_ema(self.G_ema, self.G, beta if self.family.use_ema else 0.0)
        self.step_count += 1

    # ---- state ---------------------------------------------------------------------------------
    def rng_state(self) -> dict[str, torch.Tensor]:
        """This rank's generator states (uint8 tensors)."""
        return {name: g.get_state() for name, g in self.gens.items()}

    def set_rng_state(self, states: dict[str, torch.Tensor]) -> None:
        for name, g in self.gens.items():
            g.set_state(states[name])

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Networks and optimisers as flat tensors + JSON (RNG states are added by the caller,
        which gathers them from every rank)."""
        tensors = {**ckpt.module_tensors("G", self.G), **ckpt.module_tensors("D", self.D),
                   **ckpt.module_tensors("G_ema", self.G_ema)}
        opt_g_t, opt_g_info = ckpt.optimizer_state("opt_g", self.opt_g)
        tensors.update(opt_g_t)
        opt_d_info = None  # a family without a discriminator (text: mle) has no D optimiser
        if self.opt_d is not None:
            opt_d_t, opt_d_info = ckpt.optimizer_state("opt_d", self.opt_d)
            tensors.update(opt_d_t)
        meta = {"step": self.step_count, "images_seen": self.images_seen,
                "opt_g": opt_g_info, "opt_d": opt_d_info,
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict()}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], source: Path) -> None:
        for name in ("G", "D", "G_ema"):
            ckpt.load_module(name, getattr(self, name), tensors, source)
        ckpt.load_optimizer("opt_g", self.opt_g, tensors, meta["opt_g"], source)
        if self.opt_d is not None:
            ckpt.load_optimizer("opt_d", self.opt_d, tensors, meta["opt_d"], source)
        if meta.get("scaler_g") and self.scaler_g.is_enabled():
            self.scaler_g.load_state_dict(meta["scaler_g"])
            self.scaler_d.load_state_dict(meta["scaler_d"])
        self.step_count, self.images_seen = int(meta["step"]), int(meta["images_seen"])
        # the saved rates carry the factor of the last step taken
        self.lr_applied = lr_factor(int(self.cfg.lr_decay_steps), max(self.step_count - 1, 0))
