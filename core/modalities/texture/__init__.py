"""The built-in texture modality: seamless, tileable textures learned from photos.

This module is the plugin: it registers through the same hooks a third-party package uses.
It must stay torch-free at import; the heavy parts are named as ``"module:attr"`` strings.
"""

from __future__ import annotations

from collections.abc import Callable

from ...components import Metric, Modality, ModelFamily
from ...hookspecs import hookimpl

NAME = "texture"


@hookimpl
def ganforge_register_modalities(register: Callable[[Modality], None]) -> None:
    register(Modality(
        NAME,
        "Seamless tileable textures from photos",
        codec="ganforge.core.modalities.texture.codec:TextureCodec",
        data="ganforge.core.modalities.texture.data:build_dataset",
        data_help="a photo or a folder of photos; builtin:skimage (scikit-image's CC0 brick, grass and "
                  "gravel photos) or builtin:ihc (its colour micrograph)",
        default_family=NAME,
    ))


@hookimpl
def ganforge_register_families(register: Callable[[ModelFamily], None]) -> None:
    register(ModelFamily(
        NAME,
        NAME,
        "ganforge.core.modalities.texture.family:TextureFamily",
        "circular-padded fully convolutional generator (local + global noise), patch "
        "discriminator, non-saturating loss + R1",
    ))


@hookimpl
def ganforge_register_metrics(register: Callable[[Metric], None]) -> None:
    metrics = "ganforge.core.modalities.texture.metrics"
    register(Metric(NAME, "swd", f"{metrics}:swd",
                    "sliced Wasserstein distance on Laplacian patches of 128-px crops vs the photos'"))
    register(Metric(NAME, "kid", f"{metrics}:kid", "kernel inception distance on random-CNN features of 128-px crops"))
