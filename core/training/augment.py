"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for image batches in [-1, 1].

The same random transforms are applied to real and fake images, for both the D and the G step,
and are differentiable so G's gradient passes through them. Random parameters are drawn on the
engine's CPU ``torch.Generator`` (its state is checkpointed), then moved to the batch's device,
so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import torch

OPS = ("translate", "color", "cutout")


class DiffAugment:
    def __init__(self, ops: list[str], gen: torch.Generator, translate: float = 0.125,
                 cutout: float = 0.5, alpha: bool = False, wrap: bool = True) -> None:
        """``alpha``: the last channel is alpha and colour is premultiplied (RGBA images):
        colour ops leave alpha alone and transparent pixels transparent, translation and cutout
        uncover transparent pixels. ``wrap``: translation wraps around (textures); otherwise it
        uncovers a constant (transparent with ``alpha``, else 0)."""
        unknown = [o for o in ops if o not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r}")
        self.ops, self.gen = list(ops), gen
        self.translate_ratio, self.cutout_ratio = translate, cutout
        self.alpha, self.wrap = alpha, wrap

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # Fixed op order, whatever order the user listed them in: draws stay reproducible.
        if "color" in self.ops:
            x = self.color(x)
        if "translate" in self.ops:
            x = self.translate(x)
        if "cutout" in self.ops:
            x = self.cutout(x)
        return x

    def _rand(self, *shape: int, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen).to(like.device, like.dtype)

    def color(self, x: torch.Tensor) -> torch.Tensor:
        if self.alpha:
            return self.color_premultiplied(x)
        b = x.shape[0]
        x = x + (self._rand(b, 1, 1, 1, like=x) - 0.5)  # brightness
        if x.shape[1] > 1:  # saturation is meaningless for greyscale
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (self._rand(b, 1, 1, 1, like=x) * 2) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (self._rand(b, 1, 1, 1, like=x) + 0.5) + mean  # contrast

    def color_premultiplied(self, x: torch.Tensor) -> torch.Tensor:
        """The same brightness/saturation/contrast draws on premultiplied colour (in [-1, 1]):
        each change is scaled by the pixel's alpha, so a transparent pixel stays (0, 0, 0, 0)."""
        b = x.shape[0]
        rgb, a = (x[:, :-1] + 1) / 2, (x[:, -1:] + 1) / 2  # premultiplied colour and alpha in [0, 1]
        rgb = rgb + (self._rand(b, 1, 1, 1, like=x) - 0.5) / 2 * a  # brightness (same range as above)
        if rgb.shape[1] > 1:
            mean = rgb.mean(dim=1, keepdim=True)
            rgb = (rgb - mean) * (self._rand(b, 1, 1, 1, like=x) * 2) + mean
        # contrast around the alpha-weighted mean colour
        mean = rgb.sum(dim=(1, 2, 3), keepdim=True) / (a.sum(dim=(1, 2, 3), keepdim=True) * rgb.shape[1] + 1e-6)
        rgb = (rgb - mean * a) * (self._rand(b, 1, 1, 1, like=x) + 0.5) + mean * a
        return torch.cat([rgb * 2 - 1, x[:, -1:]], dim=1)

    def _fill(self) -> float:
        return -1.0 if self.alpha else 0.0  # transparent (premultiplied) or DiffAugment's zero

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample wrap-around shift (a batched ``torch.roll``): no padding border appears."""
        b, _, h, w = x.shape
        max_y, max_x = int(h * self.translate_ratio + 0.5), int(w * self.translate_ratio + 0.5)
        dy = torch.randint(-max_y, max_y + 1, (b, 1), generator=self.gen)
        dx = torch.randint(-max_x, max_x + 1, (b, 1), generator=self.gen)
        ry, rx = torch.arange(h)[None, :] - dy, torch.arange(w)[None, :] - dx
        iy, ix = (ry % h).to(x.device), (rx % w).to(x.device)  # (B, H), (B, W)
        x = torch.gather(x, 2, iy[:, None, :, None].expand(-1, x.shape[1], -1, w))
        x = torch.gather(x, 3, ix[:, None, None, :].expand(-1, x.shape[1], h, -1))
        if self.wrap:
            return x
        inside = (((ry >= 0) & (ry < h))[:, :, None] & ((rx >= 0) & (rx < w))[:, None, :])[:, None]
        inside = inside.to(x.device, x.dtype)
        return x * inside + self._fill() * (1 - inside)

    def cutout(self, x: torch.Tensor) -> torch.Tensor:
        """Zero one random rectangle (``cutout`` of each side) per sample; it may be clipped."""
        b, _, h, w = x.shape
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=self.gen)
        cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=self.gen)
        ys = torch.arange(h)[None, :, None]
        xs = torch.arange(w)[None, None, :]
        inside = ((ys - cy + ch // 2) >= 0) & ((ys - cy + ch // 2) < ch) & \
                 ((xs - cx + cw // 2) >= 0) & ((xs - cx + cw // 2) < cw)
        keep = (~inside)[:, None].to(x.device, x.dtype)
        return x * keep if not self.alpha else x * keep + self._fill() * (1 - keep)
