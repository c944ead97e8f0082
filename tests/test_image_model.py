"""Image networks and alpha-aware augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.core.modalities.image.model import ImageDiscriminator, ImageGenerator, ModConv
from ganforge.core.training.augment import DiffAugment


def test_modulated_activations_equal_stylegan2_per_sample_weights():
    # The export-friendly form (scale activations, shared conv, scale outputs) must equal the
    # grouped-convolution form with per-sample modulated, demodulated weights.
    torch.manual_seed(0)
    layer = ModConv(6, 5, w_dim=8, act=False)
    with torch.no_grad():
        layer.bias.normal_()
    x, w = torch.randn(3, 6, 7, 7), torch.randn(3, 8)
    got = layer(x, w)
    s = layer.affine(w)
    weight = layer.conv.weight * layer.conv.scale  # (5, 6, 3, 3)
    per = weight[None] * s[:, None, :, None, None]  # (3, 5, 6, 3, 3)
    per = per * torch.rsqrt(per.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    ref = F.conv2d(x.reshape(1, 18, 7, 7), per.reshape(15, 6, 3, 3), padding=1, groups=3).reshape(3, 5, 7, 7)
    torch.testing.assert_close(got, ref + layer.bias[None, :, None, None], rtol=1e-4, atol=1e-5)


def test_generator_and_discriminator_shapes_and_conditioning():
    torch.manual_seed(0)
    G = ImageGenerator(16, 4, num_classes=3, z_dim=8, w_dim=16, channel_base=128, channel_max=16)
    D = ImageDiscriminator(16, 4, num_classes=3, channel_base=128, channel_max=16)
    z = torch.randn(2, 8)
    a, b = G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1]))
    assert a.shape == (2, 4, 16, 16) and not torch.allclose(a, b)  # the label steers the output
    logits = D(a, torch.tensor([0, 2]))
    assert logits.shape == (2,)
    assert not torch.allclose(logits, D(a, torch.tensor([1, 1])))  # the projection head sees labels
    unconditional = ImageGenerator(8, 3, z_dim=4, w_dim=8, channel_base=64, channel_max=8)
    assert unconditional(torch.randn(3, 4)).shape == (3, 3, 8, 8)


def rgba_batch() -> torch.Tensor:
    """Premultiplied RGBA in [-1, 1]: left half transparent (0,0,0,0 -> -1), right half opaque."""
    x = torch.rand(4, 4, 8, 8) * 2 - 1
    x[:, 3, :, 4:] = 1.0
    x[:, :, :, :4] = -1.0
    return x


def test_alpha_aware_colour_keeps_transparent_pixels_transparent():
    x = rgba_batch()
    aug = DiffAugment(["color"], torch.Generator().manual_seed(0), alpha=True)
    y = aug(x)
    assert torch.equal(y[:, 3], x[:, 3])  # alpha untouched
    assert torch.equal(y[:, :, :, :4], x[:, :, :, :4])  # transparent stays (0, 0, 0, 0)
    assert not torch.allclose(y[:, :3, :, 4:], x[:, :3, :, 4:])  # colour changed where visible
    plain = DiffAugment(["color"], torch.Generator().manual_seed(0))(x)
    assert not torch.equal(plain[:, :, :, :4], x[:, :, :, :4])  # the alpha-blind version would not


def test_translation_and_cutout_uncover_transparency_for_sprites():
    x = torch.ones(6, 4, 16, 16)  # fully opaque white
    gen = torch.Generator().manual_seed(1)
    moved = DiffAugment(["translate"], gen, alpha=True, wrap=False)(x)
    assert moved.min() == -1.0 and set(moved.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(moved[:, 3] == -1, moved[:, 0] == -1)  # uncovered = transparent in every channel
    cut = DiffAugment(["cutout"], torch.Generator().manual_seed(2), alpha=True)(x)
    assert set(cut.unique().tolist()) == {-1.0, 1.0}
    wrapped = DiffAugment(["translate"], torch.Generator().manual_seed(1))(x)
    assert torch.equal(wrapped, x)  # the texture default still wraps around


def test_generator_sizes_32_64_128():
    for size in (32, 64, 128):
        G = ImageGenerator(size, 3, z_dim=8, w_dim=8, channel_base=256, channel_max=16)
        D = ImageDiscriminator(size, 3, channel_base=256, channel_max=16)
        x = G(torch.randn(2, 8))
        assert x.shape == (2, 3, size, size) and D(x).shape == (2,)


def test_mode_seeking_term_rewards_latents_that_move_the_image():
    """``mode_seeking``: off gives no term; on, a positive term whose gradient reaches G, and a
    generator that ignores z pays far more than one that uses it."""
    from ganforge.core.modalities.image.family import ImageFamily

    info = {"channels": 4, "crop": 16, "categories": ["a", "b"]}
    assert ImageFamily({}, info).generator_penalty(None, torch.zeros(4, 4, 16, 16), {}) is None
    family = ImageFamily({"mode_seeking": 1.0, "channel_base": 64, "channel_max": 16, "z_dim": 8, "w_dim": 16},
                         info)
    torch.manual_seed(0)
    G = family.build_generator()
    inputs = family.sample_inputs(8, torch.Generator().manual_seed(1), torch.device("cpu"),
                                  labels=torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]))
    term = family.generator_penalty(G, G(**inputs), inputs)
    term.backward()
    assert term.item() > 0 and G.mapping.net[0].weight.grad.abs().sum() > 0

    class IgnoresZ(torch.nn.Module):
        def forward(self, z, labels):
            return labels[:, None, None, None].float().expand(-1, 4, 16, 16) + 0 * z.sum()

    flat = family.generator_penalty(IgnoresZ(), IgnoresZ()(**inputs), inputs)
    assert flat.item() > 100 * term.item()
