"""``ganforge export``: a trained run directory -> a self-contained generator pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import GanforgeError, RunError


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              metavar="PACK.onnx", help="The pack file to write (written atomically).")
@click.option("--int8", is_flag=True, help="Texture packs: quantise to int8 (faster on CPUs; refused "
              "below 30 dB PSNR against the float32 pack). Other modalities: refused in one line.")
@click.option("--license", "license_", default="unspecified", show_default=True, metavar="TEXT",
              help="The license you declare for the generated outputs, stored in the pack.")
@click.option("--checkpoint", default="last", show_default=True, metavar="last|best|STEP",
              help="Export the newest checkpoint, the best one by the modality's sample metric "
                   "(textures: sliced Wasserstein distance to crops of the photos, or of their held-out band "
                   "with --data-option holdout), or the kept checkpoint of step STEP (e.g. 4000).")
@click.option("--exporter", default="onnx", show_default=True, metavar="NAME",
              help="Which registered exporter to use (`ganforge plugins` lists them).")
def export(run_dir: Path, out: Path, int8: bool, license_: str, checkpoint: str, exporter: str) -> None:
    """Export the trained run RUN_DIR to a generator pack.

    Uses the EMA generator of the run's latest (or --checkpoint best, or STEP) checkpoint, checks the
    exported graph against the PyTorch model, and embeds the pack metadata (inputs, draw order,
    decoder settings, training facts, license) in the file.

    \b
    Example:
      ganforge export runs/bricks -o bricks.onnx --license CC-BY-4.0
    """
    from .. import plugins
    from ..components import resolve

    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    if checkpoint not in ("last", "best") and not (checkpoint.isascii() and checkpoint.isdigit()):
        raise click.BadParameter(f"{checkpoint!r} is not last, best or a step number", param_hint="--checkpoint")
    registry = plugins.get_registry()
    if exporter not in registry.exporters:
        known = ", ".join(sorted(registry.exporters)) or "none"
        raise GanforgeError(f"unknown exporter {exporter!r} (registered: {known})")
    export_fn = resolve(registry.exporters[exporter].export)
    report = export_fn(run_dir, out, int8=int8, license=license_, checkpoint=checkpoint)
    click.echo(describe(report, out))


def describe(report: Any, out: Path) -> str:
    """One line about the written pack (exporters may return any report with ``to_json``)."""
    facts = report.to_json() if hasattr(report, "to_json") else {}
    parts = []
    if "bytes" in facts:
        parts.append(f"{facts['bytes'] / 1e6:.1f} MB")
    if "precision" in facts:
        parts.append(facts["precision"])
    if facts.get("parity_max_abs_err") is not None:
        parts.append(f"parity max |err| {facts['parity_max_abs_err']:.1e}")
    if facts.get("int8_psnr_db") is not None:
        parts.append(f"int8 PSNR {facts['int8_psnr_db']:.1f} dB")
    if "seconds" in facts:
        parts.append(f"{facts['seconds']:.1f} s")
    line = f"wrote {facts.get('path', out)}" + (f" ({', '.join(parts)})" if parts else "")
    return "\n".join([line, *(f"note: {n}" for n in facts.get("notes", []))])
