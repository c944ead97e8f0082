"""``ganforge demo``: what ``make demo`` runs (see :mod:`ganforge.core.demo`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo import DATA, DEFAULT_MINUTES, DEFAULT_OUT
from ..limits import DEVICES


@click.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_OUT,
              show_default=True, help="Folder for the run, the pack and the images.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_MINUTES,
              show_default=True, help="Training time of this invocation; run again to train further.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Also stop at this total step count (whichever comes first).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for training and for the generated texture.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where to train and generate: 'auto' uses CUDA when available.")
@click.option("--progress/--no-progress", default=True, help="Show the training progress bar.")
def demo(out: Path, minutes: float, steps: int | None, seed: int, device: str, progress: bool) -> None:
    """Train, export and generate in one go, on a bundled colour photo.

    Trains a texture model for --minutes on scikit-image's public-domain immunohistochemistry
    micrograph (stained tissue: a colour texture every install has offline), exports it to
    OUT/texture.onnx, generates a 2048x2048 texture and a 2x2 tiled preview, and prints where
    they are. Running it again resumes the run in OUT/run and trains --minutes more.
    """
    from ..demo import run_demo

    result = run_demo(out, steps, minutes=minutes, seed=seed, device=device, progress=progress, say=lambda m: click.echo(m, err=True))
    if result.interrupted:
        click.echo(f"interrupted at step {result.step}; run `ganforge demo --out {out}` again to continue "
                   f"(trained on {DATA})", err=True)
        return
    click.echo(f"run:      {result.run_dir}")
    click.echo(f"pack:     {result.pack}")
    click.echo(f"texture:  {result.texture}")
    click.echo(f"preview:  {result.preview}  (2x2 tiled: seams would show at the crossings)")
    click.echo(f"done in {result.seconds:.0f} s; try: ganforge generate {result.pack} --seed 1 "
               f"--size 1024x1024 -o {out}/more.png")
