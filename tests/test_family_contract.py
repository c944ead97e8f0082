"""The family's training contract (issue 17): what the engine asks of a family is declared on
:class:`Family` with defaults, and a family with its own step computes from a
:class:`StepContext` the engine builds — never from the trainer itself."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch import nn

from ganforge.core.errors import RunError
from ganforge.core.training import trainer as trainer_module
from ganforge.core.training.family import Family, StepContext
from ganforge.core.training.trainer import Trainer


class Toy(Family):
    """A 4-number 'image' family: enough for the engine's step, nothing to export."""

    def build_generator(self) -> nn.Module:
        return nn.Linear(2, 4)

    def build_discriminator(self) -> nn.Module:
        return nn.Linear(4, 1)

    def sample_inputs(self, batch: int, gen: torch.Generator, device: torch.device, **_: Any) -> dict[str, Any]:
        return {"input": torch.randn(batch, 2, generator=gen)}

    export_module = pack_inputs = pack_outputs = decoder_settings = example_inputs = None  # type: ignore[assignment]


class Data:
    def __init__(self, labels: bool = False) -> None:
        self.labels = labels

    def sample(self, batch: int, gen: torch.Generator) -> Any:
        x = torch.rand(batch, 4, generator=gen)
        return (x, torch.zeros(batch, dtype=torch.long)) if self.labels else x


class OwnStep(Toy):
    own_step = True
    use_ema = False

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[StepContext] = []

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        self.seen.append(ctx)
        real = ctx.real_batch()
        fake = ctx.G(torch.randn(ctx.batch, 2, generator=ctx.rngs["noise"]))
        loss = (fake - real).pow(2).mean()
        ctx.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        ctx.opt_g.step()
        return {"loss": loss.detach()}


def test_the_contract_is_declared_with_defaults(tiny_config) -> None:
    cfg = tiny_config(lr_g=0.001, lr_d=0.003)
    fam = Toy({}, {})
    assert (fam.augment_ops, fam.use_ema, fam.takes_labels, fam.own_step) == (None, True, False, False)
    opt_g, opt_d = fam.optimizers(fam.build_generator(), fam.build_discriminator(), cfg)
    assert opt_g.param_groups[0]["lr"] == 0.001 and opt_d.param_groups[0]["lr"] == 0.003
    assert tuple(opt_g.param_groups[0]["betas"]) == tuple(cfg.betas)
    t = Trainer(fam, Data(), cfg, torch.device("cpu"))
    assert set(t.step()) >= {"loss_d", "loss_g"} and t.step_count == 1
    # the engine reads declarations, it does not probe for optional names
    source = inspect.getsource(trainer_module)
    assert "getattr(family" not in source and "hasattr(family" not in source
    assert "getattr(self.family" not in source


def test_an_own_step_gets_a_context_and_the_engine_keeps_the_rest(tiny_config) -> None:
    cfg = tiny_config(steps=7)
    fam = OwnStep({}, {})
    t = Trainer(fam, Data(), cfg, torch.device("cpu"))
    for _ in range(3):
        assert "loss" in t.step()
    assert [c.step for c in fam.seen] == [0, 1, 2] and all(c.total == 7 for c in fam.seen)
    ctx = fam.seen[-1]
    assert isinstance(ctx, StepContext) and not isinstance(ctx, Trainer)
    assert ctx.G is t.G and ctx.opt_g is t.opt_g and ctx.batch == cfg.batch
    assert set(ctx.rngs) == {"data", "noise", "augment"}
    assert all(ctx.rngs[k] is t.gens[k] for k in ctx.rngs)  # the engine's streams: saved, restored
    with pytest.raises(Exception):  # noqa: B017 - frozen: a family cannot swap the engine's parts
        ctx.opt_g = None  # type: ignore[misc]
    assert t.step_count == 3
    # use_ema=False: the exported copy follows G exactly
    assert all(torch.equal(a, b) for a, b in zip(t.G.parameters(), t.G_ema.parameters(), strict=True))


def test_labels_from_data_need_a_family_that_takes_them(tiny_config) -> None:
    t = Trainer(Toy({}, {}), Data(labels=True), tiny_config(), torch.device("cpu"))
    with pytest.raises(RunError, match="takes no labels"):
        t.step()


def test_a_family_declaring_own_step_without_one_says_so(tiny_config) -> None:
    class Forgot(Toy):
        own_step = True

    t = Trainer(Forgot({}, {}), Data(), tiny_config(), torch.device("cpu"))
    with pytest.raises(NotImplementedError, match="no train_step"):
        t.step()
