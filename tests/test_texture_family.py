"""The texture family's training-side parts: the statistics term and the sample sheet."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL
from PIL import Image

from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.modalities.texture.statistics import RandomFeatures, sliced_wasserstein_loss


def _family(**options) -> TextureFamily:
    return TextureFamily({**TINY_MODEL, **options}, {"channels": 3, "crop": 32})


def test_statistics_term_is_seeded_by_step_and_tells_flat_from_textured() -> None:
    fam = _family()
    torch.manual_seed(0)
    G = fam.build_generator()
    gen = torch.Generator().manual_seed(0)
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    fake = G(**inputs)
    real = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    a = fam.generator_penalty(G, fake, inputs, real=real, step=5)
    b = fam.generator_penalty(G, fake, inputs, real=real, step=5)
    assert torch.isfinite(a) and a.item() > 0 and torch.equal(a, b)  # resume recomputes it exactly
    assert not torch.equal(a, fam.generator_penalty(G, fake, inputs, real=real, step=6))
    a.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    # a flat image is far from a textured one; the real batch against itself is at zero
    feats = RandomFeatures(3)
    flat = torch.full_like(real, real.mean().item())
    assert sliced_wasserstein_loss(feats(real), feats(real), seed=0).item() == 0.0
    assert sliced_wasserstein_loss(feats(flat), feats(real), seed=0).item() > 0.01
    assert _family(stats_weight=0.0).generator_penalty(G, fake, inputs, real=real, step=0) is None


def test_discriminator_features_statistics_reach_g_but_not_d() -> None:
    fam = _family()
    assert fam.options["stats_features"] == "discriminator"  # the default
    torch.manual_seed(0)
    G, D = fam.build_generator(), fam.build_discriminator()
    gen = torch.Generator().manual_seed(1)
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    fake = G(**inputs)
    real = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    D.requires_grad_(False)  # as the trainer holds it during G's step
    a = fam.generator_penalty(G, fake, inputs, real=real, step=3, D=D)
    assert torch.isfinite(a) and a.item() > 0
    assert torch.equal(a, fam.generator_penalty(G, fake, inputs, real=real, step=3, D=D))
    a.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert all(p.grad is None for p in D.parameters())
    # the real batch against itself: nothing to match
    assert fam.generator_penalty(G, real, inputs, real=real, step=3, D=D).item() == 0.0
    # the features are each strided layer's activations
    assert [f.shape[-1] for f in D.features(real)] == [32 // 2 ** (i + 1) for i in range(fam.options["d_depth"])]


def test_noise_maps_ride_in_z_local_and_keep_exact_tiling() -> None:
    with_noise, without = _family(noise_dim=1), _family(noise_dim=0)
    # TINY: 4 latent channels, 2 stages -> noise maps at 2x (4 channels) and 4x (16 channels)
    assert (with_noise.z_channels, without.z_channels) == (24, 4)
    torch.manual_seed(0)
    G = with_noise.build_generator().eval()
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1, 24, 4, 4, generator=gen)
    g = torch.randn(1, 4, generator=gen)
    with torch.no_grad():
        base = G(z, g)
        finer = z.clone()
        finer[:, 20:] += 1.0  # only the finest noise map changes
        moved = G(finer, g)
        # a latent grid rolled by one cell rolls the output by one stride: seamless, noise included
        rolled = G(torch.roll(z, 1, dims=3), g)
    assert not torch.allclose(base, moved)
    assert torch.allclose(torch.roll(base, with_noise.stride, dims=3), rolled, atol=1e-5)


def test_sample_sheet_shows_real_crops_above_the_samples(tmp_path) -> None:
    fam = _family()
    torch.manual_seed(0)
    G = fam.build_generator().eval()
    real = torch.ones(32, 3, 32, 32)  # white: easy to find
    fam.write_samples(G, tmp_path / "with.png", seed=0, real=real)
    fam.write_samples(G, tmp_path / "without.png", seed=0)
    with_real = np.asarray(Image.open(tmp_path / "with.png"))
    without = np.asarray(Image.open(tmp_path / "without.png"))
    assert without.shape == (2 * 64, 4 * 64, 3)  # 4×2 samples, each tiled 2×2
    assert with_real.shape == (3 * 64 + 4, 4 * 64, 3)  # + a row of real crops and a gap
    assert (with_real[:64] == 255).all()
    assert np.array_equal(with_real[68:], without)


def test_pooled_colour_scales_see_what_a_colour_histogram_cannot() -> None:
    """Grain with the photo's colours and the photo's regions of those colours have the same
    pixel histogram: only the pooled copies (stats_scales > 1) tell them apart."""
    from ganforge.core.modalities.texture.statistics import pixel_scales

    gen = torch.Generator().manual_seed(0)
    regions = torch.where(torch.arange(32)[None, None, :, None] < 16, 1.0, -1.0).expand(4, 3, 32, 32)
    grain = regions.flatten(2)[:, :, torch.randperm(32 * 32, generator=gen)].reshape(4, 3, 32, 32)
    one = sliced_wasserstein_loss(pixel_scales(grain, 1), pixel_scales(regions, 1), seed=0)
    four = sliced_wasserstein_loss(pixel_scales(grain, 4), pixel_scales(regions, 4), seed=0)
    assert one.item() < 1e-6 < 0.1 < four.item()
    assert [x.shape[-1] for x in pixel_scales(regions, 4)] == [32, 16, 8, 4]
    fam, D = _family(stats_scales=4), _family().build_discriminator()
    G = fam.build_generator()
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    assert fam.generator_penalty(G, grain, inputs, real=regions, step=0, D=D) > \
        _family().generator_penalty(G, grain, inputs, real=regions, step=0, D=D)
    # noise strengths start at zero on request (StyleGAN's init) and at std 0.1 by default
    assert all((b.noise.weight == 0).all() for b in _family(noise_init=0.0).build_generator().blocks)
    assert all(b.noise.weight.std() > 0.01 for b in G.blocks)


def test_laplacian_bands_reconstruct_the_image_and_weigh_grain_on_a_smooth_photo() -> None:
    """The bands add back up to the image, and once each is normalised by the real spread, faint
    grain on a smooth photo costs far more than the same grain on a busy one."""
    import torch.nn.functional as F

    from ganforge.core.modalities.texture.statistics import normalise_bands, pixel_bands

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    bands = pixel_bands(x, 4)
    assert [b.shape[-1] for b in bands] == [32, 16, 8, 4]
    rebuilt = bands[-1]
    for band in reversed(bands[:-1]):
        rebuilt = band + F.interpolate(rebuilt, scale_factor=2.0, mode="nearest")
    assert torch.allclose(rebuilt, x, atol=1e-6)
    assert len(pixel_bands(x, 1)) == 1 and torch.equal(pixel_bands(x, 1)[0], x)

    ramp = torch.linspace(-0.5, 0.5, 32)[None, None, None, :].expand(4, 3, 32, 32)  # smooth
    busy = torch.rand(4, 3, 32, 32, generator=gen) - 0.5
    grain = 0.05 * torch.randn(4, 3, 32, 32, generator=gen)

    def cost(real: torch.Tensor) -> float:
        fake, ref = normalise_bands(pixel_bands(real + grain, 4), pixel_bands(real, 4))
        return sliced_wasserstein_loss(fake, ref, seed=0).item()

    assert cost(ramp) > 100 * cost(busy)
    fam = _family(stats_scales=4, stats_pyramid="laplacian")
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    G, D = fam.build_generator(), fam.build_discriminator()
    assert fam.generator_penalty(G, ramp + grain, inputs, real=ramp, step=0, D=D) > \
        _family(stats_scales=4).generator_penalty(G, ramp + grain, inputs, real=ramp, step=0, D=D)
    with pytest.raises(ValueError, match="stats_pyramid"):
        _family(stats_pyramid="steerable")


def test_patch_statistics_see_arrangement_that_single_colours_miss() -> None:
    """Stripes and the same pixels shuffled have one colour histogram; their 5×5 patches differ.
    ``stats_features=pixels`` compares the pixel scales alone and needs no discriminator."""
    from ganforge.core.modalities.texture.statistics import patches

    gen = torch.Generator().manual_seed(0)
    stripes = torch.where(torch.arange(32)[None, None, None, :] % 8 < 4, 1.0, -1.0).expand(4, 3, 32, 32)
    shuffled = stripes.flatten(2)[:, :, torch.randperm(32 * 32, generator=gen)].reshape(4, 3, 32, 32)
    assert patches(stripes, 5).shape == (4, 75, 28, 28) and patches(stripes, 1) is stripes
    single = sliced_wasserstein_loss([shuffled], [stripes], seed=0).item()
    patched = sliced_wasserstein_loss([patches(shuffled, 5)], [patches(stripes, 5)], seed=0).item()
    assert single < 1e-6 < 0.05 < patched
    fam = _family(stats_patch=5, stats_features="pixels")
    G = fam.build_generator()
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    assert fam.generator_penalty(G, stripes, inputs, real=stripes, step=0, D=None).item() < 1e-9
    assert fam.generator_penalty(G, shuffled, inputs, real=stripes, step=0, D=None).item() > 0.05


def test_noise_strengths_can_learn_faster_than_the_rest_of_the_generator() -> None:
    from types import SimpleNamespace

    cfg = SimpleNamespace(lr_g=2e-4, lr_d=2e-4, betas=(0.0, 0.99))
    fam = _family(noise_lr=10.0)
    G, D = fam.build_generator(), fam.build_discriminator()
    opt_g, _ = fam.optimizers(G, D, cfg)
    rest, noise = opt_g.param_groups
    assert noise["lr"] == pytest.approx(2e-3) and rest["lr"] == pytest.approx(2e-4)
    assert len(noise["params"]) == len(G.blocks) and \
        len(rest["params"]) + len(noise["params"]) == len(list(G.parameters()))
    assert len(_family().optimizers(G, D, cfg)[0].param_groups) == 1  # as runs saved before
    with pytest.raises(ValueError, match="noise_lr"):
        _family(noise_lr=0)


def test_textures_train_without_augmentation_unless_asked_and_old_runs_keep_theirs() -> None:
    assert _family().augment_ops == []
    assert _family(augment=["color", "cutout"]).augment_ops == ["color", "cutout"]
    # a run saved before the option existed has every older option but this one: the run's --augment
    from ganforge.core.modalities.texture.family import ADDED_LATER, DEFAULTS

    saved = {k: v for k, v in DEFAULTS.items() if k != "augment"}
    assert "augment" in ADDED_LATER and TextureFamily(saved, {"channels": 3, "crop": 64}).augment_ops is None
    with pytest.raises(ValueError, match="augment"):
        _family(augment="color")


def test_statistics_against_one_small_batch_prefer_a_middle_grey_a_large_reference_the_mixture() -> None:
    # A photo half black, half white, cut into crops that each fall in one half: a fake that is
    # black and white in equal parts is right; a flat middle grey is the collapse seen on coffee.
    fam = _family(stats_features="pixels")
    G = fam.build_generator()
    inputs = fam.sample_inputs(8, torch.Generator().manual_seed(0), torch.device("cpu"))
    black, white = torch.full((4, 3, 16, 16), -1.0), torch.full((4, 3, 16, 16), 1.0)
    mixture = torch.cat([black[:2], white[:2]]).repeat(2, 1, 1, 1)
    grey = torch.zeros(8, 3, 16, 16)

    def term(fake: torch.Tensor, references: list[torch.Tensor]) -> float:
        return sum(fam.generator_penalty(G, fake, inputs, real=r, step=0).item() for r in references) / len(references)

    # each step's D batch is a few crops, often all from one half: the average term is lower for grey
    assert term(grey, [black, white]) < term(mixture, [black, white])
    # a reference of many crops is the photo's distribution: the mixture wins, and the grey pays
    reference = torch.cat([black, white] * 4)
    assert term(mixture, [reference]) < 0.1 * term(grey, [reference])


def test_statistics_reference_tops_up_the_d_batch_from_the_data_stream(tiny_config) -> None:
    from ganforge.core.modalities.texture.data import build_dataset
    from ganforge.core.modalities.texture.family import ADDED_LATER, DEFAULTS
    from ganforge.core.training.trainer import Trainer

    cfg = tiny_config()
    dataset = build_dataset(cfg.data, cfg.crop)
    family = TextureFamily({**TINY_MODEL, "stats_reference": 12}, dataset.data_info)
    trainer = Trainer(family, dataset, cfg, torch.device("cpu"))
    real = trainer.real_batch()
    state = trainer.gens["data"].get_state()
    reference = trainer.penalty_real(real)
    assert reference.shape == (12, *real.shape[1:]) and torch.equal(reference[:4], real)
    trainer.gens["data"].set_state(state)  # the top-up is the data stream's next crops
    assert torch.equal(reference[4:], trainer.dataset.sample(8, trainer.gens["data"]))
    assert _family(stats_reference=12, stats_weight=0.0).penalty_reference == 0  # no term, no crops
    with pytest.raises(ValueError, match="stats_reference"):
        _family(stats_reference=-1)
    # runs saved before the option compared with the D batch alone
    saved = {k: v for k, v in DEFAULTS.items() if k != "stats_reference"}
    assert ADDED_LATER["stats_reference"] == 0 and \
        TextureFamily(saved, {"channels": 3, "crop": 64}).penalty_reference == 0


def test_pixel_reference_widens_the_pixel_levels_only() -> None:
    """``pixel_reference``: the pixel levels compare with every real crop given, the
    discriminator's features with the D batch alone (what they saw before the option)."""
    from ganforge.core.modalities.texture.family import ADDED_LATER
    from ganforge.core.modalities.texture.statistics import pixel_levels

    fam = _family(pixel_reference=12)
    assert fam.penalty_reference == 12 and _family(pixel_reference=12, stats_weight=0.0).penalty_reference == 0
    assert _family(pixel_reference=12, stats_reference=16).penalty_reference == 16
    assert ADDED_LATER["pixel_reference"] == 0
    with pytest.raises(ValueError, match="pixel_reference"):
        _family(pixel_reference=-1)
    torch.manual_seed(0)
    G, D = fam.build_generator(), fam.build_discriminator()
    D.requires_grad_(False)
    gen = torch.Generator().manual_seed(2)
    inputs = fam.sample_inputs(4, gen, torch.device("cpu"))
    fake = G(**inputs)
    batch = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    bright = torch.ones(8, 3, 32, 32)  # the photo's rare region: in the reference, not in the batch
    reference = torch.cat([batch, bright])
    term = fam.generator_penalty(G, fake, inputs, real=reference, step=7, D=D)
    fake_px, real_px = pixel_levels(fake, reference, 1)
    expected = sliced_wasserstein_loss(fake_px + D.features(fake), real_px + D.features(batch), seed=7)
    assert torch.allclose(term, expected)
    # the extra crops move the pixel term: the fakes are asked for the bright region too
    assert term.item() > fam.generator_penalty(G, fake, inputs, real=batch, step=7, D=D).item()
    # with random features, too, only the pixels see the reference
    rnd = _family(pixel_reference=12, stats_features="random", stats_redraw=False)
    feats = RandomFeatures(3)
    real_feats = feats(batch)
    real_feats[0] = reference
    assert torch.allclose(rnd.generator_penalty(G, fake, inputs, real=reference, step=7),
                          sliced_wasserstein_loss(feats(fake), real_feats, seed=7))


def test_r1_contrast_lowers_gamma_for_a_low_contrast_photo_only(tmp_path) -> None:
    """The photos' contrast is recorded as ``ganforge eval`` measures it, and ``r1_contrast``
    scales γ by (std / reference)², never above 1; off by default and for older runs."""
    from ganforge.core.metrics.texture import pixel_std
    from ganforge.core.modalities.texture.data import build_dataset

    rng = np.random.default_rng(0)
    low = (128 + rng.normal(0, 10, (96, 80, 3))).clip(0, 255).astype(np.uint8)  # std ~0.04
    high = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # std ~0.29
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(low).save(folder / "low.png")
    Image.fromarray(high).save(folder / "high.png")
    Image.fromarray(high).save(tmp_path / "high.png")
    both = np.concatenate([low.reshape(-1, 3), high.reshape(-1, 3)]).astype(np.float64) / 255
    info = build_dataset(folder, 32).data_info
    assert info["pixel_std"] == pytest.approx(pixel_std(both[None, None]), rel=1e-9)  # pooled over photos

    def scale(photo, **options) -> float:
        return TextureFamily({**TINY_MODEL, **options}, build_dataset(photo, 32).data_info).r1_scale

    lone = build_dataset(folder / "low.png", 32).data_info["pixel_std"]
    assert 0.03 < lone < 0.05
    assert scale(folder / "low.png") == 1.0  # off by default
    assert scale(folder / "low.png", r1_contrast=0.2) == pytest.approx((lone / 0.2) ** 2)
    assert scale(tmp_path / "high.png", r1_contrast=0.2) == 1.0  # a contrasty photo keeps γ
    assert TextureFamily({**TINY_MODEL, "r1_contrast": 0.2}, {"channels": 3, "crop": 32}).r1_scale == 1.0
    with pytest.raises(ValueError, match="r1_contrast"):
        TextureFamily({**TINY_MODEL, "r1_contrast": -1}, {"channels": 3, "crop": 32})


def test_r1_contrast_reaches_the_discriminator_step(tiny_config, tmp_path) -> None:
    """One step with R1 due: a lowered γ changes D's update, the same γ reproduces it."""
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.run import train

    rng = np.random.default_rng(1)
    photo = tmp_path / "low.png"
    Image.fromarray((128 + rng.normal(0, 10, (64, 64, 3))).clip(0, 255).astype(np.uint8)).save(photo)

    def d_after_one_step(name: str, contrast: float) -> dict[str, torch.Tensor]:
        cfg = tiny_config(data=str(photo), out=str(tmp_path / name), steps=1, r1_every=1, augment=[],
                          model={**TINY_MODEL, "r1_contrast": contrast})
        tensors, _ = ckpt.load(ckpt.list_checkpoints(train(cfg, progress=False).run_dir)[-1])
        return {k: v for k, v in tensors.items() if k.startswith("D.")}

    off, again, low = d_after_one_step("off", 0.0), d_after_one_step("again", 0.0), d_after_one_step("low", 0.2)
    assert off and all(torch.equal(off[k], again[k]) for k in off)
    assert any(not torch.equal(off[k], low[k]) for k in off)


def test_minibatch_std_lets_d_see_a_batch_that_lacks_variety() -> None:
    """``d_mbstd``: D's last conv gets one channel, the spread of each group's features; a batch
    of copies has none. Off by default, and then D's layers and keys are as before."""
    from ganforge.core.modalities.texture.family import ADDED_LATER, DEFAULTS
    from ganforge.core.modalities.texture.model import MinibatchStd

    x = torch.randn(8, 5, 4, 4, generator=torch.Generator().manual_seed(0))
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], x)
    # groups are images b, b+2, b+4, b+6 (as ProGAN's reshape): check group 1 by hand
    by_hand = x[[1, 3, 5, 7]].var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    assert torch.allclose(out[3, 5], by_hand.expand(4, 4))
    copies = MinibatchStd(4)(x[:1].repeat(8, 1, 1, 1))
    assert copies[:, 5].max().item() < 1e-3 < out[:, 5].min().item()
    assert MinibatchStd(4)(x[:6]).shape == (6, 6, 4, 4)  # 6 images: groups of 3

    plain, with_std = _family().build_discriminator(), _family(d_mbstd=4).build_discriminator()
    assert DEFAULTS["d_mbstd"] == 0 and ADDED_LATER["d_mbstd"] == 0
    assert not any(isinstance(m, MinibatchStd) for m in plain.modules())
    real = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert with_std(real).shape == plain(real).shape
    assert [f.shape for f in with_std.features(real)] == [f.shape for f in plain.features(real)]
    # a different batch around one image changes that image's logits only through the spread
    others = torch.cat([real[:1], real[:1].repeat(7, 1, 1, 1)])
    assert not torch.allclose(with_std(real)[0], with_std(others)[0])
    assert torch.allclose(plain(real)[0], plain(others)[0])
    with pytest.raises(ValueError, match="d_mbstd"):
        _family(d_mbstd=-1)


def test_multi_scale_discriminator_judges_the_pooled_crop_too() -> None:
    """``d_scales``: one patch D per scale (the crop, then 2×-pooled copies); the logits are one
    map per scale at the finest map's size, so each scale weighs the same in the loss. One scale
    (the default) is the plain patch D with the keys runs saved before the option have."""
    from ganforge.core.modalities.texture.family import ADDED_LATER, DEFAULTS
    from ganforge.core.modalities.texture.model import MultiScaleDiscriminator, PatchDiscriminator

    assert DEFAULTS["d_scales"] == 1 and ADDED_LATER["d_scales"] == 1
    plain = _family().build_discriminator()
    assert isinstance(plain, PatchDiscriminator)
    torch.manual_seed(0)
    two = _family(d_scales=2).build_discriminator()
    assert isinstance(two, MultiScaleDiscriminator) and len(two.scales) == 2
    gen = torch.Generator().manual_seed(2)
    real = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    logits = two(real)
    assert logits.shape == (4, 2) + plain(real).shape[-2:]
    plain.load_state_dict(two.scales[0].state_dict())
    assert torch.allclose(logits[:, :1], plain(real))  # the finest scale is the plain D
    # zero-mean detail inside every 2×2 block: the pooled copy, so the coarse D's logits, is the same
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(16, 16) * 0.3
    detailed = two(real + checker)
    assert torch.allclose(detailed[:, 1], logits[:, 1], atol=1e-5)
    assert not torch.allclose(detailed[:, 0], logits[:, 0], atol=1e-3)
    # the statistics term gets every scale's layers
    assert len(two.features(real)) == 2 * _family().options["d_depth"]
    assert two.features(real)[_family().options["d_depth"]].shape[-1] == 32 // 4
    # a crop too small to pool that often gets the scales it can: 32 px, 16 px (a depth-4 D needs 16)
    small = TextureFamily({**TINY_MODEL, "d_depth": 4, "d_scales": 3}, {"channels": 3, "crop": 32})
    assert small.d_scales == 2 and len(small.build_discriminator().scales) == 2
    assert TextureFamily({**TINY_MODEL, "d_depth": 4, "d_scales": 4}, {"channels": 3, "crop": 16}).d_scales == 1
    assert TextureFamily({**TINY_MODEL, "d_scales": 4}, {"channels": 3, "crop": 128}).d_scales == 4
    with pytest.raises(ValueError, match="d_scales must be a whole number from 1 to 4"):
        _family(d_scales=0)


def _straight_and_resumed(tiny_config, tmp_path, model: dict) -> tuple[dict, dict]:
    """The last checkpoints of a 6-step run and of one stopped at 3 and resumed to 6."""
    from ganforge.core.training import checkpoint as ckpt
    from ganforge.core.training.run import train

    train(tiny_config(out=str(tmp_path / "straight"), steps=6, model=model), progress=False)
    train(tiny_config(out=str(tmp_path / "halves"), steps=3, model=model), progress=False)
    train(tiny_config(out=str(tmp_path / "halves"), steps=6, model=model), resume=True, progress=False)
    a, _ = ckpt.load(ckpt.list_checkpoints(tmp_path / "straight")[-1])
    b, _ = ckpt.load(ckpt.list_checkpoints(tmp_path / "halves")[-1])
    return a, b


def test_a_multi_scale_run_resumes_exactly(tiny_config, tmp_path) -> None:
    a, b = _straight_and_resumed(tiny_config, tmp_path, {**TINY_MODEL, "d_scales": 2})
    assert any(k.startswith("D.scales.1.") for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lecam_holds_d_logits_within_each_others_moving_averages() -> None:
    """``lecam``: D's loss gains the LeCam term (real logits above the fakes' moving average and
    fake logits below the reals', squared), with anchors kept in D's buffers. Off by default,
    and then D has no buffers and the family adds nothing to D's loss."""
    from ganforge.core.modalities.texture.family import ADDED_LATER, DEFAULTS
    from ganforge.core.training.losses import LeCamAnchors, lecam_penalty

    anchors = LeCamAnchors(decay=0.5)
    real, fake = torch.full((4, 1, 2, 2), 3.0), torch.full((4, 1, 2, 2), -1.0)
    term = lecam_penalty(real, fake, anchors)
    # anchors move halfway from 0 to the batch means first: real 1.5, fake -0.5
    assert anchors.real.item() == 1.5 and anchors.fake.item() == -0.5
    assert term.item() == pytest.approx((3.0 + 0.5) ** 2 + (1.5 + 1.0) ** 2)
    # logits already inside the anchors cost nothing: real under the fakes' average and so on
    assert lecam_penalty(torch.full((2, 1), -5.0), torch.full((2, 1), 5.0), LeCamAnchors()).item() == 0.0

    plain, reg = _family().build_discriminator(), _family(lecam=0.1).build_discriminator()
    assert DEFAULTS["lecam"] == 0.0 and ADDED_LATER["lecam"] == 0.0
    assert set(reg.state_dict()) - set(plain.state_dict()) == {"lecam.real", "lecam.fake"}
    assert _family().discriminator_penalty(plain, real, fake) is None
    logits = torch.tensor([2.0, 2.0], requires_grad=True)
    penalty = _family(lecam=0.1).discriminator_penalty(reg, logits, torch.tensor([-2.0, -2.0]))
    penalty.backward()
    assert penalty.item() > 0 and (logits.grad > 0).all()  # pushes the real logits down
    with pytest.raises(ValueError, match="lecam"):
        _family(lecam=-1)


def test_a_lecam_run_resumes_exactly(tiny_config, tmp_path) -> None:
    """The anchors are state: a run stopped and resumed ends with the same D, anchors included."""
    a, b = _straight_and_resumed(tiny_config, tmp_path, {**TINY_MODEL, "lecam": 0.5})
    assert a["D.lecam.real"].item() != 0.0 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
