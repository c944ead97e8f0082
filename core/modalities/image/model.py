"""Export-friendly style-based image GAN: mapping network + class embedding, modulated
activations, skip-to-RGB outputs; a residual discriminator with a projection head.

Everything lowers to plain ONNX ops with a dynamic batch: styles scale *activations* before a
shared convolution and the demodulation factor scales its output (StyleGAN2's non-fused path,
Karras et al. 2020, eq. 1-3), never grouped per-sample convolutions; no custom autograd.
Weights use the equalised learning rate (a constant scale in ``forward``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) integer labels -> (B, K) one-hot, as a comparison (exports to plain ONNX ops)."""
    return (labels.long()[:, None] == torch.arange(num_classes, device=labels.device)[None, :]).to(dtype)


def widths_for(resolutions: list[int], base: int, cap: int) -> dict[int, int]:
    """Channels per resolution: ``min(cap, base // r)``, at least 8."""
    return {r: max(8, min(cap, base // r)) for r in resolutions}


class EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul = lr_mul / math.sqrt(cin), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.pad = 1 / math.sqrt(cin * k * k), k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class ModConv(nn.Module):
    """Style-modulated convolution on activations: ``conv(x * s) * d``, ``d`` the demodulation."""

    def __init__(self, cin: int, cout: int, w_dim: int, k: int = 3, demod: bool = True, act: bool = True) -> None:
        super().__init__()
        self.affine = EqLinear(w_dim, cin, bias_init=1.0)
        self.conv = EqConv(cin, cout, k, bias=False)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.demod, self.act = demod, act

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, cin)
        x = self.conv(x * s[:, :, None, None])
        if self.demod:  # 1/||W·s|| per output channel: (s²) @ (Σ_k W²)ᵀ, a plain matmul
            wsq = (self.conv.weight * self.conv.scale).square().sum(dim=(2, 3))  # (cout, cin)
            x = x * torch.rsqrt(s.square() @ wsq.T + 1e-8)[:, :, None, None]
        x = x + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * SQRT2 if self.act else x


class Mapping(nn.Module):
    """z (and a class embedding) -> w. Both normalised first, so neither dominates."""

    def __init__(self, z_dim: int, w_dim: int, num_classes: int, layers: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embed = EqLinear(num_classes, w_dim) if num_classes else None  # one-hot @ W: an embedding
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.ModuleList(EqLinear(a, b, lr_mul=0.01) for a, b in zip(dims[:-1], dims[1:], strict=True))

    @staticmethod
    def _norm(x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self._norm(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            onehot = one_hot(labels, self.num_classes, z.dtype)
            x = torch.cat([x, self._norm(self.embed(onehot))], dim=1)
        for layer in self.net:
            x = F.leaky_relu(layer(x), 0.2) * SQRT2
        return x


class ImageGenerator(nn.Module):
    def __init__(self, size: int, channels: int, num_classes: int = 0, z_dim: int = 128, w_dim: int = 256,
                 mapping_layers: int = 2, channel_base: int = 1024, channel_max: int = 128) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"image size {size} must be a power of two, at least 8")
        self.size, self.channels, self.num_classes, self.z_dim, self.w_dim = size, channels, num_classes, z_dim, w_dim
        res = [4 * 2 ** i for i in range(int(math.log2(size)) - 1)]  # 4, 8, ..., size
        ch = widths_for(res, channel_base, channel_max)
        self.mapping = Mapping(z_dim, w_dim, num_classes, mapping_layers)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.res = res
        self.convs = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        for i, r in enumerate(res):
            if i == 0:
                self.convs.append(nn.ModuleList([ModConv(ch[r], ch[r], w_dim)]))
            else:
                self.convs.append(nn.ModuleList([ModConv(ch[res[i - 1]], ch[r], w_dim), ModConv(ch[r], ch[r], w_dim)]))
            self.to_rgb.append(ModConv(ch[r], channels, w_dim, k=1, demod=False, act=False))

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(w.shape[0], -1, -1, -1)
        img = None
        for i, (convs, to_rgb) in enumerate(zip(self.convs, self.to_rgb, strict=True)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                img = F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False)
            for conv in convs:
                x = conv(x, w)
            rgb = to_rgb(x, w)
            img = rgb if img is None else img + rgb
        return img

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, size, size), roughly in [-1, 1] (not clamped: clamping would stop
        gradients; the codec clips)."""
        return self.synthesis(self.mapping(z, labels))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = EqConv(cin, cin, 3), EqConv(cin, cout, 3)
        self.skip = EqConv(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2) * SQRT2
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2) * SQRT2, 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / SQRT2


class ImageDiscriminator(nn.Module):
    """Residual blocks down to 4×4, a minibatch-std channel, and a projection head for classes
    (Miyato & Koyama 2018): ``logit = ψ(h) + <embed(y), h>``."""

    def __init__(self, size: int, channels: int, num_classes: int = 0, channel_base: int = 1024,
                 channel_max: int = 128) -> None:
        super().__init__()
        res = [size // 2 ** i for i in range(int(math.log2(size)) - 1)]  # size, ..., 4
        ch = widths_for(res, channel_base, channel_max)
        self.from_rgb = EqConv(channels, ch[size], 1)
        self.blocks = nn.ModuleList(DBlock(ch[r], ch[r // 2]) for r in res[:-1])
        c4 = ch[4]
        self.conv = EqConv(c4 + 1, c4, 3)
        self.fc = EqLinear(c4 * 16, c4)
        self.out = EqLinear(c4, 1)
        self.embed = EqLinear(num_classes, c4) if num_classes else None
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = F.leaky_relu(self.from_rgb(x), 0.2) * SQRT2
        for block in self.blocks:
            x = block(x)
        std = torch.sqrt(x.var(dim=0, unbiased=False) + 1e-8).mean()  # how varied the batch is
        x = torch.cat([x, std.expand(x.shape[0], 1, 4, 4)], dim=1)
        x = F.leaky_relu(self.conv(x), 0.2) * SQRT2
        h = F.leaky_relu(self.fc(x.flatten(1)), 0.2) * SQRT2
        logit = self.out(h)[:, 0]
        if self.embed is not None and labels is not None:
            onehot = one_hot(labels, self.num_classes, h.dtype)
            logit = logit + (self.embed(onehot) * h).sum(dim=1) / math.sqrt(h.shape[1])
        return logit
