"""The built-in image modality: fixed-size sprites, decals and icons (RGBA, RGB or grey), optionally
conditioned on categories, with offline metrics (FD, KID, SWD, memorisation).

This module is the plugin: it registers through the same hooks a third-party package uses and
stays torch-free at import; the heavy parts are named as ``"module:attr"`` strings.
"""

from __future__ import annotations

from collections.abc import Callable

from ...components import Metric, Modality, ModelFamily
from ...hookspecs import hookimpl

NAME = "image"
_PKG = "ganforge.core.modalities.image"


@hookimpl
def ganforge_register_modalities(register: Callable[[Modality], None]) -> None:
    register(Modality(
        NAME,
        "Fixed-size images (sprites, icons, decals) with alpha, optionally by category",
        codec=f"{_PKG}.codec:ImageCodec",
        data=f"{_PKG}.data:build_dataset",
        data_help="a folder of images (one sub-folder per category for a conditional model) or an .npz "
                  "of images and labels; no built-in set",
        default_family="fastgan",
    ))


@hookimpl
def ganforge_register_families(register: Callable[[ModelFamily], None]) -> None:
    register(ModelFamily(
        "stylish", NAME, f"{_PKG}.family:ImageFamily",
        "style-based generator (mapping net, class embedding, modulated activations), residual "
        "projection discriminator, non-saturating loss + R1",
    ))
    register(ModelFamily(
        "fastgan", NAME, f"{_PKG}.fast_family:FastImageFamily",
        "FastGAN: skip-layer excitation generator, self-supervised discriminator that rebuilds real "
        "images, hinge loss; fast and varied at CPU budgets",
    ))


@hookimpl
def ganforge_register_metrics(register: Callable[[Metric], None]) -> None:
    register(Metric(NAME, "fd", f"{_PKG}.metrics:fd", "Fréchet distance on random-CNN features"))
    register(Metric(NAME, "kid", f"{_PKG}.metrics:kid", "kernel inception distance on random-CNN features"))
    register(Metric(NAME, "swd", f"{_PKG}.metrics:swd", "sliced Wasserstein distance on Laplacian patches"))
    register(Metric(NAME, "memorisation", f"{_PKG}.metrics:memorisation",
                    "share of samples closer to a training image than the closest training pairs"))
