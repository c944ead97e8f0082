"""Texture codec: the runtime side of the texture modality (numpy + Pillow, torch-free).

It turns what the user asks for (``--size 1024x512``) into the pack's symbolic dims, tells the
runtime how big the output will be before anything is allocated, maps the generator's NCHW
output to float RGB images and writes PNGs atomically.

The pack's ``ganforge.decoder`` for textures holds ``stride`` (output pixels per noise cell),
``channels`` (1, 3 or 4), ``default_size`` ([W, H]), ``tileable`` and ``halo`` (latent cells of
context a tile needs on each side, measured at export; packs without it are generated untiled).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from ...atomic import write_atomic
from ...codec import Codec
from ...errors import GanforgeError, PackError
from ...limits import MAX_SIDE
from ...pack import PackMeta
from ...tiling import TilePlan, square_tiles
from . import maps as pbr_maps

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


# ---- pack settings ---------------------------------------------------------------------------
def settings(meta: PackMeta, source: str = "pack") -> tuple[int, int, tuple[int, int]]:
    """``(stride, channels, default (W, H))`` from the decoder metadata, validated."""
    d = meta.decoder
    stride, channels, default = d.get("stride"), d.get("channels", 3), d.get("default_size", [512, 512])
    if not isinstance(stride, int) or isinstance(stride, bool) or not 1 <= stride <= 1024:
        raise PackError(f"{source}: texture decoder 'stride' must be an integer in 1..1024, got {stride!r}")
    if channels not in (1, 3, 4):
        raise PackError(f"{source}: texture decoder 'channels' must be 1, 3 or 4, got {channels!r}")
    if (not isinstance(default, list) or len(default) != 2
            or not all(isinstance(v, int) and 0 < v <= MAX_SIDE and v % stride == 0 for v in default)):
        raise PackError(f"{source}: texture decoder 'default_size' {default!r} is not a valid [W, H] "
                        f"for stride {stride}")
    return stride, channels, (default[0], default[1])


def halo(meta: PackMeta, source: str = "pack") -> int | None:
    """Latent cells of context a tile needs on each side (``None``: an older pack, no tiling)."""
    value = meta.decoder.get("halo")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 4096):
        raise PackError(f"{source}: texture decoder 'halo' must be an integer in 0..4096, got {value!r}")
    return value


def validate(meta: PackMeta, source: str = "pack") -> None:
    """Refuse a pack whose texture settings are absurd (called by the runtime on open)."""
    settings(meta, source)
    halo(meta, source)


def parse_size(size: Any) -> tuple[int, int]:
    """``"WxH"``, ``"N"``, ``N`` or ``(W, H)`` -> ``(W, H)`` (not yet checked against the stride)."""
    if isinstance(size, str):
        m = _SIZE_RE.match(size)
        if m:
            return int(m.group(1)), int(m.group(2))
        if size.strip().isdigit():
            return int(size), int(size)
        raise GanforgeError(f"size {size!r} is not WIDTHxHEIGHT (e.g. 512x512)")
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return int(size[0]), int(size[1])
    raise GanforgeError(f"size {size!r} is not WIDTHxHEIGHT (e.g. 512x512)")


def _nearest(v: int, stride: int) -> list[int]:
    if v % stride == 0:
        return [v]  # this side is fine: suggest changing only the other
    low = (v // stride) * stride
    return [n for n in (low, low + stride) if 0 < n <= MAX_SIDE] or [stride]


def resolve_dims(meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
    """The pack's symbolic input dims (``h``, ``w``: noise cells) for ``options["size"]``."""
    stride, _, default = settings(meta)
    pbr_maps.requested(options)  # a bad --maps or map option fails here, before generating
    size = options.get("size")
    width, height = default if size is None else parse_size(size)
    if width <= 0 or height <= 0:
        raise GanforgeError(f"size {width}x{height} must be positive")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise GanforgeError(f"size {width}x{height} exceeds the largest supported side {MAX_SIDE}")
    if width % stride or height % stride:
        options_ = [f"{w}x{h}" for w in _nearest(width, stride) for h in _nearest(height, stride)]
        if width == height:  # keep square sizes square in the suggestion
            options_ = [f"{n}x{n}" for n in _nearest(width, stride)]
        raise GanforgeError(f"size {width}x{height} is not a multiple of the pack's stride {stride}; "
                            f"nearest valid: {' or '.join(options_)}")
    return {"h": height // stride, "w": width // stride}


def output_shape(meta: PackMeta, dims: dict[str, int], count: int) -> tuple[int, int, int, int]:
    """Shape of :func:`decode`'s result: ``(count, H, W, 3)``."""
    stride, _, _ = settings(meta)
    return count, dims["h"] * stride, dims["w"] * stride, 3


def output_bytes(meta: PackMeta, dims: dict[str, int], count: int) -> int:
    """Bytes of the decoded result (float32 RGB), for the runtime's memory guard."""
    n, h, w, c = output_shape(meta, dims, count)
    return n * h * w * c * 4


def graph_output_bytes(meta: PackMeta, dims: dict[str, int], count: int) -> int:
    """Bytes of the graph's float32 output (``channels`` planes, before decoding to RGB)."""
    n, h, w, _ = output_shape(meta, dims, count)
    return n * h * w * settings(meta)[1] * 4


def tile_plan(meta: PackMeta, dims: dict[str, int], budget_bytes: int,
              work_bytes: Callable[[dict[str, int]], int]) -> TilePlan | None:
    """Square tiles of latent cells whose working memory (``work_bytes(window dims)``) fits
    ``budget_bytes``; ``None`` when the pack cannot be tiled (no measured ``halo``)."""
    cells = halo(meta)
    if cells is None or len(meta.outputs) != 1 or meta.outputs[0].layout not in ("NCHW", "NHWC"):
        return None
    stride, _, _ = settings(meta)
    tile, pad = square_tiles(dims, ["h", "w"], cells, lambda d: work_bytes(d) <= budget_bytes)
    inputs = {spec.name: {axis: d for axis, d in enumerate(spec.shape) if d in ("h", "w")}
              for spec in meta.inputs if "h" in spec.shape or "w" in spec.shape}
    first = 2 if meta.outputs[0].layout == "NCHW" else 1
    return TilePlan(dims=dict(dims), tile=tile, halo=pad, inputs=inputs,
                    outputs=[{first: ("h", stride), first + 1: ("w", stride)}],
                    decoded={1: ("h", stride), 2: ("w", stride)})  # decode is per pixel


# ---- decoding --------------------------------------------------------------------------------
def to_unit(outputs: list[np.ndarray], meta: PackMeta) -> np.ndarray:
    """The raw channels, channels-last, mapped from the output's range to [0, 1]: (N, H, W, C)."""
    x = outputs[0]
    spec = meta.outputs[0]
    lo, hi = (float(v) for v in spec.range)
    if x.ndim != 4:
        raise PackError(f"texture output {spec.name!r} has rank {x.ndim}, expected 4 ({spec.layout})")
    if spec.layout == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    elif spec.layout != "NHWC":
        raise PackError(f"texture output {spec.name!r} has unsupported layout {spec.layout!r}")
    x = (x.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(1.0 / (hi - lo))  # a new array
    return np.clip(x, 0.0, 1.0, out=x)


def decode(outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> np.ndarray:
    """Float32 RGB images in [0, 1], (N, H, W, 3): grey is repeated, alpha is dropped."""
    x = to_unit(outputs, meta)
    if x.shape[3] == 1:
        return np.repeat(x, 3, axis=3)
    if x.shape[3] >= 3:
        return np.ascontiguousarray(x[..., :3])
    raise PackError(f"texture output has {x.shape[3]} channels; expected 1, 3 or 4")


# ---- writing ---------------------------------------------------------------------------------
def _to_pil(image: np.ndarray) -> Any:
    from PIL import Image

    u8 = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if u8.shape[2] == 3 and np.array_equal(u8[..., 0], u8[..., 1]) and np.array_equal(u8[..., 0], u8[..., 2]):
        return Image.fromarray(u8[..., 0], "L")  # a greyscale pack: one channel on disk
    return Image.fromarray(u8, "RGB")


def _save_atomic(image: Any, path: Path) -> None:
    write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


def write(decoded: np.ndarray, out: Path, options: dict[str, Any]) -> list[Path]:
    """Write 8-bit PNGs; returns the paths written.

    One image goes to ``out``; several go to ``out`` with an index suffix (``name_000.png``), or
    into ``out`` when it is an existing directory (``texture_000.png``). ``tile_preview=True``
    also writes ``<name>_tiled2x2.png`` next to each image, so seams would show. ``maps`` and
    ``orm`` write PBR maps instead, ``<name>_<map>.png`` (see :mod:`.maps`).
    """
    out = Path(out)
    n = decoded.shape[0]
    if out.is_dir():
        targets = [out / f"texture_{i:03d}.png" for i in range(n)]
    else:
        if not out.parent.is_dir():
            raise GanforgeError(f"{out}: folder {out.parent} does not exist")
        stem, suffix = (out.stem, out.suffix) if out.suffix else (out.name, ".png")
        if suffix.lower() != ".png":
            raise GanforgeError(f"{out}: textures are written as PNG; use a .png name")
        targets = [out.with_name(stem + suffix)] if n == 1 else [
            out.with_name(f"{stem}_{i:03d}{suffix}") for i in range(n)]
    written: list[Path] = []
    if any(pbr_maps.requested(options)):
        for image, target in zip(decoded, targets, strict=True):
            written += pbr_maps.write_maps(image, target, options)
        return written
    for image, target in zip(decoded, targets, strict=True):
        _save_atomic(_to_pil(image), target)
        written.append(target)
        if options.get("tile_preview"):
            preview = target.with_name(f"{target.stem}_tiled2x2.png")
            _save_atomic(_to_pil(np.tile(image, (2, 2, 1))), preview)
            written.append(preview)
    return written


# ---- evaluation (``ganforge eval``; the work is in .metrics) -------------------------------------
#: crops ``ganforge eval`` scores when --samples is not given
EVAL_SAMPLES = 128


def load_reference(path: str | Path, meta: PackMeta) -> Any:
    """The photos to score against (a file, a folder or ``builtin:skimage``), torch-free."""
    from .metrics import load_reference as load

    return load(path, meta)


def eval_samples(runtime: Any, reference: Any, count: int, seed: int, **options: Any) -> np.ndarray:
    """``count`` random 128-px crops of a few generated textures (see .metrics)."""
    from .metrics import eval_samples as make

    return make(runtime, reference, count, seed, **options)


def eval_report(generated: np.ndarray, reference: Any, seed: int) -> dict[str, Any]:
    """The photos' baselines and the pixel standard deviations, for the eval report."""
    from .metrics import eval_report as report

    return report(generated, reference, seed)


# ---- CLI options -----------------------------------------------------------------------------
#: Options the ``generate`` command adds for textures: a list of ``click.Option`` objects, passed
#: to the codec functions as ``options["size"]`` (str or None), ``options["tile_preview"]`` and
#: the PBR map options (``maps``, ``orm``, ...: see :mod:`.maps`).
GENERATE_OPTIONS: list[click.Option] = [
    click.Option(["--size"], default=None, metavar="WxH",
                 help="Texture size in pixels, a multiple of the pack's stride (default: the pack's)."),
    click.Option(["--tile-preview/--no-tile-preview"], default=False,
                 help="Also write NAME_tiled2x2.png, the texture tiled 2x2, to check seams."),
    *pbr_maps.OPTIONS,
]


__all__: list[str] = [
    "EVAL_SAMPLES", "GENERATE_OPTIONS", "MAX_SIDE", "TextureCodec", "decode", "eval_report", "eval_samples",
    "graph_output_bytes", "halo", "image_size", "load_reference", "output_bytes", "output_shape", "parse_size", "resolve_dims",
    "TRAIN_OPTIONS", "settings", "summary", "tile_plan", "to_unit", "validate", "write",
]


#: ``ganforge train texture``'s own defaults for the shared --crop and --batch (see
#: :mod:`ganforge.core.commands.train`): 64-px crops in batches of 8 give ~3x more updates per
#: minute on a CPU than 128 × 16, and the fully convolutional generator still renders any size.
TRAIN_OPTIONS: list[click.Option] = [
    click.Option(["--crop", "--size"], type=click.IntRange(min=8), default=64, show_default=True,
                 help="Training crop side in pixels, a multiple of the generator stride (8; 2^stages "
                      "with --model-option stages=N). Larger crops let the discriminator judge larger structures, at ~4x the cost per step."),
    click.Option(["--batch"], type=click.IntRange(min=1), default=8, show_default=True,
                 help="Crops per step."),
]


def image_size(meta: PackMeta, options: dict[str, Any]) -> tuple[int, int]:
    """``(width, height)`` of each texture for these options (no ``size``: the pack's default)."""
    _, _, default = settings(meta)
    size = options.get("size")
    return default if size is None else parse_size(size)


def summary(meta: PackMeta) -> list[tuple[str, str]]:
    """Rows for a host's info panel: default size, the size step (stride), tileable."""
    d = meta.decoder
    w, h = d.get("default_size", ["?", "?"])
    return [("Default size", f"{w}x{h}"), ("Size step", f"{d.get('stride', '?')} px"),
            ("Tileable", "yes" if d.get("tileable", True) else "no")]


class TextureCodec(Codec, functions=globals()):
    """The texture codec: this module's functions named like :class:`Codec`'s methods, and its
    ``GENERATE_OPTIONS``, ``TRAIN_OPTIONS`` and ``EVAL_SAMPLES`` (``functions=globals()``). They
    stay importable one by one: training, tests and benchmarks use them."""

    output_kind = "image"
    sized = True
