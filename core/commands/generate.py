"""``ganforge generate``: seeded generation from a pack, with onnxruntime and numpy only.

Each registered modality's codec contributes its own options (``Codec.generate_options``:
textures add ``--size`` and ``--tile-preview``), so the command is built once the plugins are
loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..errors import GanforgeError
from ..limits import DEVICES

_BASE = {"pack", "out", "seed", "count", "device", "threads"}


def codec_options() -> tuple[list[click.Option], dict[str, set[str]]]:
    """Every codec's generate options (first registration of a name wins) and, per option
    name, the modalities whose codec declares it."""
    from .. import plugins

    options: list[click.Option] = []
    owners: dict[str, set[str]] = {}
    for name in plugins.get_registry().modalities:
        try:
            codec = plugins.codec_for(name)
        except GanforgeError as e:  # one broken plugin codec must not break generation for all
            print(f"ganforge: {e}; its generate options are unavailable", file=sys.stderr)
            continue
        for option in codec.generate_options:
            if option.name in _BASE:
                continue  # a codec may not shadow the command's own options
            if option.name not in owners:
                options.append(option)
            owners.setdefault(option.name, set()).add(name)
    return options, owners


def _out_path(out: Path) -> Path:
    """A name with a suffix is a file; anything else is a folder, created if missing."""
    if out.suffix or out.is_file():
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanforgeError(f"{out}: cannot create the output folder ({e.strerror})") from None
    return out


def _probe_writable(out: Path) -> None:
    """Fail in one line *before* generating when OUT cannot be written: a file goes into an
    existing folder, a folder is created (later) under the nearest existing one."""
    from ..atomic import probe_writable

    is_file = bool(out.suffix) or out.is_file()
    if is_file and not out.parent.is_dir():
        raise GanforgeError(f"{out}: folder {out.parent} does not exist")
    probe_writable(out.parent if is_file else out, what=str(out))


def build() -> click.Command:
    options, owners = codec_options()

    def callback(pack: Path, out: Path | None, seed: int, count: int, device: str, threads: int | None,
                 **codec_params: Any) -> None:
        from .. import runtime

        rt = runtime.load(pack, device=device, threads=threads)
        ctx = click.get_current_context()
        modality = rt.meta.modality
        passed: dict[str, Any] = {}
        for name, value in codec_params.items():
            if modality in owners.get(name, ()):
                passed[name] = value
            elif ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
                option = next(o for o in options if o.name == name)
                raise GanforgeError(f"{option.opts[0]} does not apply to {modality} packs ({pack})")
        prints = rt.codec.provides("echo")
        if out is None and not prints:
            raise GanforgeError(f"-o/--out is required for {modality} packs ({pack})")
        if out is not None:
            _probe_writable(out)
        decoded = rt.generate(seed, count, **passed)  # before touching OUT: a bad option leaves nothing
        if out is None:  # a codec that prints (text: one line per item)
            rt.codec.echo(decoded)
            return
        for path in rt.write(decoded, _out_path(out), **passed):
            click.echo(str(path))

    params: list[click.Parameter] = [
        click.Argument(["pack"], type=click.Path(path_type=Path)),
        click.Option(["-o", "--out"], type=click.Path(path_type=Path), default=None,
                     help="Output file (e.g. brick.png), or a folder (created if missing). Text packs "
                          "print their lines to stdout without it; other packs require it."),
        click.Option(["--seed"], type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the first item; item i uses seed+i, so results are reproducible "
                          "one by one."),
        click.Option(["--count"], type=click.IntRange(min=1), default=1, show_default=True,
                     help="How many items to generate."),
        click.Option(["--device"], type=click.Choice(DEVICES), default="auto",
                     show_default=True, help="onnxruntime device: 'auto' uses CUDA when available."),
        click.Option(["--threads"], type=int, default=None,
                     help="CPU threads for onnxruntime, 1-256 (default: the CPUs available)."),
        *options,
    ]
    return click.Command("generate", callback=callback, params=params, help="""
        Generate from the generator pack PACK (.onnx) and print the files written.

        Runs with onnxruntime and numpy only: torch is not needed. The same --seed always gives
        the same result. Options after --threads come from the installed modalities' codecs
        (textures: --size WxH, a multiple of the pack's stride, default 512x512; --maps
        color,normal,height,roughness,ao and --orm for PBR maps).

        \b
        Example:
          ganforge generate bricks.onnx --seed 7 --count 4 --size 1024x1024 -o out/
          ganforge generate bricks.onnx --seed 7 --maps color,normal,height,roughness,ao --orm -o out/
        """, short_help="Generate textures (or other outputs) from a pack.")
