"""Shared fixtures. Kept torch-free at import: some tests check that torch is never loaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Tiny test networks run fastest on one thread, and OpenMP spin-waits collapse when several test
# processes share a small machine (a 6x slowdown measured on 2 cores). Subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: A generator/discriminator small enough that a 10-step CPU run takes about a second.
TINY_MODEL: dict[str, Any] = {"base": 16, "stages": 2, "local_dim": 4, "global_dim": 4, "min_width": 8,
                              "d_base": 8, "d_depth": 2}


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    """A smooth random image (width, height) in ``mode``, saved by extension."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.random((h // 4 + 2, w // 4 + 2, 4))
    img = Image.fromarray((base * 255).astype(np.uint8), "RGBA").resize((w, h), Image.BILINEAR)
    img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def train_texture_pack(root: Path, data: str, steps: int, log_every: int) -> tuple[Path, Any]:
    """Train the tiny texture model ``steps`` steps on ``data`` in ``root/run`` and export it with
    the registered ONNX exporter to ``root/bricks.onnx``: ``(run folder, export report)``."""
    from ganforge.core import plugins
    from ganforge.core.components import resolve
    from ganforge.core.training.config import TrainConfig
    from ganforge.core.training.run import train

    cfg = TrainConfig(out=str(root / "run"), data=data, steps=steps, crop=32, batch=4, seed=0,
                      device="cpu", model=dict(TINY_MODEL), sample_every=1000, log_every=log_every,
                      checkpoint_every=1000, r1_every=2)
    run_dir = train(cfg, progress=False).run_dir
    export = resolve(plugins.get_registry().exporters["onnx"].export)
    return run_dir, export(run_dir, root / "bricks.onnx", license="CC0-1.0")


@pytest.fixture
def texture_dir(tmp_path: Path) -> Path:
    """Two small RGB images and one greyscale: a 3-channel dataset."""
    d = tmp_path / "textures"
    write_image(d / "a.png", (48, 40), "RGB", 1)
    write_image(d / "b.jpg", (40, 56), "RGB", 2)
    write_image(d / "c.png", (64, 64), "L", 3)
    return d


@pytest.fixture
def tiny_config(tmp_path: Path) -> Callable[..., Any]:
    """``tiny_config(**overrides) -> TrainConfig`` for a fast run in ``tmp_path/run``."""
    from ganforge.core.training.config import TrainConfig

    def make(**overrides: Any) -> TrainConfig:
        options: dict[str, Any] = dict(
            out=str(tmp_path / "run"), data="builtin:skimage", steps=6, crop=32, batch=4, seed=0,
            device="cpu", model=dict(TINY_MODEL), sample_every=1000, log_every=2, checkpoint_every=1000,
            augment=["translate", "color", "cutout"], r1_every=2,
        )
        options.update(overrides)
        return TrainConfig(**options)

    return make
