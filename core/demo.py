"""The demo behind ``make demo``: the whole pipeline in a few minutes on two CPU cores.

Trains a texture model for two minutes on scikit-image's bundled colour micrograph
(``builtin:ihc``: stained tissue, a texture through and through, in colour, offline), exports a
pack, generates a 2048×2048 texture with onnxruntime and writes a 2×2 tiled preview
(seams would show at the crossings). Running it again resumes the run in ``OUT/run`` (after a
Ctrl-C too) instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("demo-out")
#: Training time: users think in minutes, and CPUs differ 3x in steps per minute. Two minutes
#: plus ~15 s export and ~10 s generation keeps the demo inside three.
DEFAULT_MINUTES = 2.0
DATA = "builtin:ihc"
SIZE = 2048
LICENSE = "CC0-1.0"  # trained on a public-domain micrograph; the demo's outputs are declared CC0


def demo_config(out: Path, steps: int | None = None, minutes: float | None = DEFAULT_MINUTES,
                seed: int = 0, device: str = "auto") -> Any:
    """``steps`` and/or ``minutes``: whichever comes first ends this invocation."""
    from .training.config import UNBOUNDED_STEPS, TrainConfig

    return TrainConfig(
        modality="texture", family="texture", data=DATA, out=str(out / "run"),
        steps=steps or UNBOUNDED_STEPS, minutes=minutes, seed=seed, device=device, batch=8, crop=64,
        sample_every=100, checkpoint_every=500, log_every=10,
        # A latent cell per 16 px, not the default 8: in two minutes the coarser generator lays
        # out the tissue's membranes (session 9's demo) where stride 8 is still a sand-like mottle;
        # stride 8 wins from 8 minutes on (benchmarks/RESULTS.md, sessions 10-11). The global
        # latent's field keeps the default's 32-px cells (2 cells of 16 px)
        model={"stages": 4, "global_cell": 2},
    )


@dataclass
class DemoResult:
    run_dir: Path
    pack: Path | None = None
    texture: Path | None = None
    preview: Path | None = None
    interrupted: bool = False
    step: int = 0
    seconds: float = 0.0


def write_preview(image: Any, path: Path, size: int = SIZE) -> Path:
    """The texture tiled 2×2 and scaled back to ``size``² (so the file stays small), atomically."""
    import numpy as np
    from PIL import Image

    from .atomic import write_atomic

    tiled = np.tile(np.clip(image, 0.0, 1.0), (2, 2, 1))
    u8 = (tiled * 255.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(u8[..., 0], "L") if np.array_equal(u8[..., 0], u8[..., 2]) else Image.fromarray(u8)
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    write_atomic(path, lambda tmp: img.save(tmp, format="PNG"))
    return path


def run_demo(out: Path = DEFAULT_OUT, steps: int | None = None, *, minutes: float | None = DEFAULT_MINUTES,
             seed: int = 0, device: str = "auto", progress: bool = True,
             say: Callable[[str], None] = print) -> DemoResult:
    """Train (or resume), export, generate; returns where everything is."""
    from .training import checkpoint
    from .training.run import train

    start = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(out, steps, minutes, seed, device)
    resume = checkpoint.has_checkpoints(cfg.out)
    budget = " and ".join(filter(None, [f"{minutes:g} minutes" if minutes else "", f"{steps} steps" if steps else ""]))
    say(f"[1/3] training a texture model on scikit-image's colour micrograph ({DATA}) for {budget} "
        f"({'resuming' if resume else 'new run'} in {cfg.out}; Ctrl-C saves and stops)")
    trained = train(cfg, resume=resume, progress=progress)
    result = DemoResult(Path(trained.run_dir), step=trained.step, interrupted=trained.interrupted)
    if trained.interrupted:
        result.seconds = time.monotonic() - start
        return result

    from ganforge.exporters.onnx.export import export_pack

    result.pack = out / "texture.onnx"
    say(f"[2/3] exporting the run's best checkpoint to {result.pack} (checked against PyTorch)")
    # "best" by the sample metric: a short GAN run's last step is not reliably its best.
    export_pack(result.run_dir, result.pack, license=LICENSE, checkpoint="best")

    from . import runtime

    say(f"[3/3] generating a {SIZE}x{SIZE} texture with onnxruntime (no torch)")
    pack = runtime.load(result.pack, device=device)
    images = pack.generate(seed=seed, count=1, size=f"{SIZE}x{SIZE}")
    result.texture = pack.write(images, out / f"texture_{SIZE}.png")[0]
    result.preview = write_preview(images[0], out / f"texture_{SIZE}_tiled2x2.png")
    result.seconds = time.monotonic() - start
    return result
