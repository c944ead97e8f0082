"""The engine's parts in isolation: augmentation, losses, EMA, SWD, checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganforge.core.errors import RunError
from ganforge.core.training import checkpoint as ckpt
from ganforge.core.training import losses
from ganforge.core.training.augment import DiffAugment
from ganforge.core.training.ema import ema_beta, make_ema, update_ema
from ganforge.core.training.swd import sliced_wasserstein


def batch(seed: int = 0, c: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(4, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translate_is_a_per_sample_wraparound_roll() -> None:
    x = batch()
    aug = DiffAugment(["translate"], torch.Generator().manual_seed(1), translate=0.25)
    y = aug(x)
    for i in range(x.shape[0]):  # each sample equals some roll of itself: nothing lost, no border
        rolls = [torch.roll(x[i], (dy, dx), (1, 2)) for dy in range(-4, 5) for dx in range(-4, 5)]
        assert any(torch.equal(y[i], r) for r in rolls)
    assert not torch.equal(y, x)


def test_augment_is_differentiable_reproducible_and_grey_safe() -> None:
    x = batch(c=1).requires_grad_(True)
    y1 = DiffAugment(["color", "translate", "cutout"], torch.Generator().manual_seed(2))(x)
    y2 = DiffAugment(["cutout", "color", "translate"], torch.Generator().manual_seed(2))(x)
    assert torch.equal(y1, y2)  # op order is fixed, draws reproducible
    y1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    cut = DiffAugment(["cutout"], torch.Generator().manual_seed(3))(torch.ones(4, 3, 16, 16))
    zeros = (cut == 0).float().mean(dim=(1, 2, 3))
    assert ((zeros > 0) & (zeros <= 0.25 + 1e-6)).all()  # a half-size square, maybe clipped
    with pytest.raises(ValueError):
        DiffAugment(["blur"], torch.Generator())


def test_losses_point_the_right_way() -> None:
    hi, lo = torch.full((4, 1, 3, 3), 3.0), torch.full((4, 1, 3, 3), -3.0)
    for kind in losses.LOSSES:
        # D wants real high, fake low; G wants fake high
        assert losses.d_loss(kind, hi, lo) < losses.d_loss(kind, lo, hi)
        assert losses.g_loss(kind, hi) < losses.g_loss(kind, lo)


def test_r1_and_gradient_penalty_match_closed_forms() -> None:
    w = torch.tensor(2.0, requires_grad=True)
    x = batch().requires_grad_(True)
    r1 = losses.r1_penalty((w * x).sum(dim=(1, 2, 3)), x)
    assert torch.allclose(r1, torch.tensor(4.0 * 3 * 16 * 16))  # ||w||² per pixel, summed
    r1.backward()
    assert w.grad is not None and w.grad > 0  # double backward reaches the weights
    gp = losses.gradient_penalty(lambda t: 0.5 * t.sum(dim=(1, 2, 3)), batch(1), batch(2), torch.Generator())
    expected = (0.5 * (3 * 16 * 16) ** 0.5 - 1) ** 2
    assert torch.allclose(gp, torch.tensor(expected))


def test_r1_of_a_logit_map_is_r1_of_its_per_image_mean() -> None:
    # A patch discriminator's loss averages its map; R1 must not grow with the map's size (it
    # once penalised the map's sum: 4096x too strong for an 8x8 map, and D never learned).
    x = batch().requires_grad_(True)
    logit_map = (2.0 * x).mean(dim=1, keepdim=True)  # (B, 1, 16, 16): one logit per pixel
    per_image = logit_map.mean(dim=(1, 2, 3))
    assert torch.allclose(losses.r1_penalty(logit_map, x), losses.r1_penalty(per_image, x))
    assert torch.allclose(losses.r1_penalty(per_image, x), torch.tensor(4.0 / (3 * 16 * 16)))


def test_ema_half_life_and_rampup() -> None:
    assert ema_beta(32, 10**9, 10_000, 0.05) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(32, 64, 10_000, 0.05) == pytest.approx(0.5 ** (32 / 3.2))  # early: short memory
    assert ema_beta(32, 64, 0, 0.05) == 0.0
    G = torch.nn.Linear(2, 2)
    E = make_ema(G)
    with torch.no_grad():
        G.weight.add_(1.0)
    before = E.weight.clone()
    update_ema(E, G, 0.75)
    assert torch.allclose(E.weight, 0.75 * before + 0.25 * G.weight)
    update_ema(E, G, 0.0)
    assert torch.equal(E.weight, G.weight) and not E.weight.requires_grad


def test_swd_ranks_closer_distributions_lower() -> None:
    real = batch(0, size=32)
    same = batch(1, size=32)
    darker = same * 0.3 - 0.5
    noise_floor = sliced_wasserstein(same, real, seed=0)
    assert noise_floor < sliced_wasserstein(darker, real, seed=0)
    assert sliced_wasserstein(same, real, seed=5) == sliced_wasserstein(same, real, seed=5)


def test_checkpoint_file_round_trip_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "step_000000003.safetensors"
    t = {"a": torch.arange(6.0).view(2, 3), "s": torch.tensor(7.0)}
    # what a SIGKILL mid-write leaves: our temp file and the one safetensors writes through
    path.parent.mkdir(parents=True)
    for leftover in (".step_000000002.safetensors.x1y2.tmp.safetensors", ".tmp-x1y2.safetensors", ".tmpsrCj8e"):
        (path.parent / leftover).write_bytes(b"partial")
    ckpt.save(path, t, {"step": 3})
    tensors, meta = ckpt.load(path)
    assert torch.equal(tensors["a"], t["a"]) and meta["step"] == 3
    assert sorted(path.parent.iterdir()) == [path]
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(foreign))
    with pytest.raises(RunError, match="not a ganforge checkpoint"):
        ckpt.load(foreign)
    pickled = tmp_path / "pickle.safetensors"
    torch.save({"x": 1}, pickled)
    with pytest.raises(RunError, match="unreadable checkpoint"):
        ckpt.load(pickled)


def test_optimizer_state_round_trip_is_exact() -> None:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 3)).square().sum().backward()
        opt.step()
    tensors, info = ckpt.optimizer_state("opt", opt)
    import json

    info = json.loads(json.dumps(info))
    opt2 = torch.optim.Adam(net.parameters(), lr=1.0)
    ckpt.load_optimizer("opt", opt2, tensors, info, Path("x"))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        for k in a["state"][i]:
            assert torch.equal(a["state"][i][k], b["state"][i][k])
