"""Image features for FD and KID: a fixed-seed random CNN, in numpy.

Why a random network and not a trained one: ganforge downloads no weights, and a classifier
trained on the user's own categories would (a) need labels an unconditional dataset lacks, (b)
change with every dataset and training run, so numbers could not be compared across runs, and (c)
need torch, while ``ganforge eval`` must run where only onnxruntime and numpy are installed.
Randomly initialised convolutional features are a known, serviceable embedding for distribution
distances on small images (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
generative models", §5) — they respond to colour, edges and local structure at several scales,
not to ImageNet semantics. The weights are drawn from ``PCG64(FEATURE_SEED)``, so every machine
computes the same features; ``FEATURE_VERSION`` names them in reports.

Inputs are images (N, H, W, C) in [0, 1], C in {1, 3, 4} with straight (not premultiplied) alpha,
as the image codec returns and the data reader loads. They are brought to premultiplied RGBA
(so the colour of a transparent pixel cannot matter) at 32×32 by area averaging.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FEATURE_SEED = 20260
FEATURE_SIDE = 32
WIDTHS = (32, 64, 128)
FEATURE_VERSION = f"random-cnn-v1(seed={FEATURE_SEED}, widths={'-'.join(map(str, WIDTHS))}, side={FEATURE_SIDE})"


def premultiplied_rgba(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) straight-alpha images in [0, 1] -> (N, H, W, 4) premultiplied RGBA float32."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[3] not in (1, 3, 4):
        raise ValueError(f"images must be (N, H, W, 1|3|4), got {x.shape}")
    if x.shape[3] == 1:
        x = np.repeat(x, 3, axis=3)
    if x.shape[3] == 3:
        return np.concatenate([x, np.ones_like(x[..., :1])], axis=3)
    return np.concatenate([x[..., :3] * x[..., 3:], x[..., 3:]], axis=3)


def resize_area(x: np.ndarray, side: int) -> np.ndarray:
    """Square (N, S, S, C) -> (N, side, side, C): block means when S is a multiple of side,
    else the nearest pixel (upsampling)."""
    s = x.shape[1]
    if s == side:
        return x
    if s % side == 0:
        k = s // side
        return x.reshape(len(x), side, k, side, k, x.shape[3]).mean(axis=(2, 4))
    idx = (np.arange(side) * s) // side
    return x[:, idx][:, :, idx]


@lru_cache(maxsize=1)
def _weights() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.Generator(np.random.PCG64(FEATURE_SEED))
    layers, cin = [], 4
    for cout in WIDTHS:
        w = rng.standard_normal((cin, 3, 3, cout)).astype(np.float32) * np.float32(np.sqrt(2.0 / (cin * 9)))
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        layers.append((w, b))
        cin = cout
    return layers


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    win = sliding_window_view(p, (3, 3), axis=(1, 2))  # (N, H, W, C, 3, 3)
    return np.tensordot(win, w, axes=([3, 4, 5], [0, 1, 2])) + b


def random_cnn_features(images: np.ndarray, batch: int = 128) -> np.ndarray:
    """(N, D) float64 features: per layer the spatial mean of the ReLU maps, plus the spatial
    standard deviation of the last one (D = 32 + 64 + 128 + 128 = 352)."""
    x = resize_area(premultiplied_rgba(images), FEATURE_SIDE) * 2.0 - 1.0
    out = []
    for start in range(0, len(x), batch):
        h = x[start:start + batch].astype(np.float32)
        parts = []
        for k, (w, b) in enumerate(_weights()):
            h = np.maximum(_conv3x3(h, w, b), 0.0)
            parts.append(h.mean(axis=(1, 2)))
            if k == len(WIDTHS) - 1:
                parts.append(h.std(axis=(1, 2)))
            else:
                n, hh, ww, c = h.shape
                h = h.reshape(n, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out).astype(np.float64)
