"""Image codec: the runtime side of the image modality (numpy + Pillow, torch-free).

Decodes the generator's premultiplied NCHW output in [-1, 1] to **straight-alpha float images
(N, S, S, C) in [0, 1]** — C is the pack's: 1 (grey), 3 (RGB) or 4 (RGBA) — which hosts (Blender)
can use directly; writes PNGs (with alpha), a grid sheet, or an interpolation strip / GIF.

Generate options: ``category`` (a name from the pack's ``decoder.categories``), ``truncation``
(ψ), ``interpolate`` ((seed_a, seed_b)) with ``steps``, and ``grid``. They reach the graph through
:func:`scalars` (host-supplied inputs) and :func:`feeds` (custom inputs for interpolation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ...atomic import write_atomic
from ...codec import Codec
from ...errors import DataError, GanforgeError, PackError
from ...pack import PackMeta


# ---- pack settings ---------------------------------------------------------------------------
def settings(meta: PackMeta, source: str = "pack") -> tuple[int, int, list[str]]:
    """``(size, channels, categories)`` from the decoder metadata, validated."""
    d = meta.decoder
    size, channels, categories = d.get("size"), d.get("channels", 3), d.get("categories", [])
    if not isinstance(size, int) or isinstance(size, bool) or not 4 <= size <= 4096:
        raise PackError(f"{source}: image decoder 'size' must be an integer in 4..4096, got {size!r}")
    if channels not in (1, 3, 4):
        raise PackError(f"{source}: image decoder 'channels' must be 1, 3 or 4, got {channels!r}")
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise PackError(f"{source}: image decoder 'categories' must be a list of names")
    return size, channels, categories


def validate(meta: PackMeta, source: str = "pack") -> None:
    _, _, categories = settings(meta, source)
    names = {s.name for s in meta.inputs}
    if categories and "label" not in names:
        raise PackError(f"{source}: the pack lists categories but has no 'label' input")


def resolve_dims(meta: PackMeta, options: dict[str, Any]) -> dict[str, int]:
    """Images have a fixed size: no symbolic dims besides the batch."""
    return {}


def output_shape(meta: PackMeta, dims: dict[str, int], count: int) -> tuple[int, int, int, int]:
    size, channels, _ = settings(meta)
    return count, size, size, channels


def output_bytes(meta: PackMeta, dims: dict[str, int], count: int) -> int:
    n, h, w, c = output_shape(meta, dims, count)
    return n * h * w * c * 4


# ---- options -> inputs -------------------------------------------------------------------------
def category_index(meta: PackMeta, name: str | int | None) -> int | None:
    """The label for a category name (or index); one-line error listing the pack's categories."""
    if name is None:
        return None
    _, _, categories = settings(meta)
    if not categories:
        raise GanforgeError(f"this pack is unconditional: it has no categories (asked for {name!r})")
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if 0 <= name < len(categories):
            return int(name)
    elif name in categories:
        return categories.index(name)
    else:
        folded = [c for c in categories if c.casefold() == str(name).casefold()]
        if len(folded) == 1:
            return categories.index(folded[0])
    raise GanforgeError(f"unknown category {name!r}; this pack knows: {', '.join(categories)}")


def scalars(meta: PackMeta, options: dict[str, Any]) -> dict[str, Any]:
    """Host-supplied graph inputs from the generate options (``label``, ``truncation``)."""
    out: dict[str, Any] = {}
    label = category_index(meta, options.get("category"))
    if label is not None:
        out["label"] = label
    psi = options.get("truncation")
    if psi is not None:
        psi = float(psi)
        if not 0.0 <= psi <= 2.0:
            raise GanforgeError(f"truncation {psi:g} must be in [0, 2] (1: none, 0.5-0.8: typical)")
        out["truncation"] = psi
    return out


def feeds(runtime: Any, seed: int, count: int, dims: dict[str, int], values: dict[str, Any],
          options: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """Custom inputs for ``interpolate=(seed_a, seed_b)``: ``steps`` items whose latents move
    along the great circle from seed A's to seed B's (the runtime's interpolation: the category
    draw stays seed A's unless a category is given); ``None`` for ordinary generation."""
    pair = options.get("interpolate")
    if not pair:
        return None
    seed_a, seed_b = (int(s) for s in pair)
    return runtime.interpolation_feeds(seed_a, seed_b, int(options.get("steps") or 8), dims, values)


# ---- decoding --------------------------------------------------------------------------------
def decode(outputs: list[np.ndarray], meta: PackMeta, options: dict[str, Any]) -> np.ndarray:
    """(N, S, S, C) float32 in [0, 1]; RGBA with straight alpha (colour un-premultiplied; a
    fully transparent pixel is (0, 0, 0, 0))."""
    x, spec = outputs[0], meta.outputs[0]
    if x.ndim != 4 or spec.layout != "NCHW":
        raise PackError(f"image output {spec.name!r} must be rank-4 NCHW, got rank {x.ndim} {spec.layout}")
    lo, hi = (float(v) for v in spec.range)
    x = np.clip((x.transpose(0, 2, 3, 1).astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
    if x.shape[3] == 4 and meta.decoder.get("premultiplied", True):
        a = x[..., 3:]
        rgb = np.where(a > 0, np.minimum(x[..., :3], a) / np.maximum(a, 1e-12), 0.0)
        x = np.concatenate([rgb, a], axis=3).astype(np.float32)
    return np.ascontiguousarray(x)


# ---- writing ---------------------------------------------------------------------------------
def _u8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _pil(image: np.ndarray) -> Any:
    from PIL import Image

    u8 = _u8(image)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[u8.shape[2]]
    return Image.fromarray(u8[..., 0] if mode == "L" else u8, mode)


def sheet(images: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
    """Images (N, S, S, C) laid out in a grid with transparent (or white) gaps."""
    n, s, _, c = images.shape
    rows = -(-n // columns)
    fill = 0.0 if c == 4 else 1.0
    out = np.full((rows * (s + pad) + pad, columns * (s + pad) + pad, c), fill, np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, columns)
        out[pad + r * (s + pad):pad + r * (s + pad) + s, pad + k * (s + pad):pad + k * (s + pad) + s] = img
    return out


def write(decoded: np.ndarray, out: Path, options: dict[str, Any]) -> list[Path]:
    """PNGs (alpha kept); ``grid=True`` or an interpolation: one sheet/strip, or a GIF when
    ``out`` ends in .gif. Several images go to ``out`` with an index suffix, or into ``out``
    when it is a folder (``image_000.png``)."""
    out = Path(out)
    n = decoded.shape[0]
    single = bool(options.get("grid") or options.get("interpolate"))
    if out.is_dir():
        stem = "interpolation" if options.get("interpolate") else "grid" if single else "image"
        targets = [out / f"{stem}.png"] if single else [out / f"image_{i:03d}.png" for i in range(n)]
        out = targets[0]
    else:
        if not out.parent.is_dir():
            raise GanforgeError(f"{out}: folder {out.parent} does not exist")
        suffix = out.suffix.lower() or ".png"
        if suffix not in (".png", ".gif") or (suffix == ".gif" and not options.get("interpolate")):
            raise GanforgeError(f"{out}: images are written as .png (interpolations also as .gif)")
        stem = out.stem if out.suffix else out.name
        targets = [out.with_name(stem + suffix)] if single or n == 1 else [
            out.with_name(f"{stem}_{i:03d}{suffix}") for i in range(n)]
    if out.suffix.lower() == ".gif":
        frames = [_pil(img).convert("RGBA") for img in decoded]
        frames += frames[-2:0:-1]  # ping-pong
        write_atomic(targets[0], lambda p: frames[0].save(p, format="GIF", save_all=True, append_images=frames[1:],
                                                          duration=80, loop=0, disposal=2))
        return targets[:1]
    if single:
        columns = n if options.get("interpolate") else int(np.ceil(np.sqrt(n)))
        write_atomic(targets[0], lambda p: _pil(sheet(decoded, columns)).save(p, format="PNG"))
        return targets[:1]
    for image, target in zip(decoded, targets, strict=True):
        write_atomic(target, lambda p, image=image: _pil(image).save(p, format="PNG"))
    return targets


# ---- evaluation --------------------------------------------------------------------------------
def load_reference(path: str | Path, meta: PackMeta) -> Any:
    """The real images to evaluate a pack against, at the pack's size and fit policy."""
    from .io import read_dataset

    size, _, categories = settings(meta)  # channel counts may differ: the metrics compare RGBA
    data = read_dataset(path, size, str(meta.decoder.get("fit", "pad")))
    if categories and data.labels is not None and data.categories != categories:
        raise DataError(f"{path}: its categories ({', '.join(data.categories)}) differ from the pack's "
                        f"({', '.join(categories)})")
    return data


class LabelledImages(np.ndarray):
    """Decoded samples that remember the category each was asked for (``labels``; None when
    the categories were left to the seed), so ``eval_report`` can score them per category."""

    labels: np.ndarray | None

    def __array_finalize__(self, obj: Any) -> None:
        self.labels = getattr(obj, "labels", None)


def category_mix(labels: np.ndarray, num_classes: int, count: int) -> np.ndarray:
    """How many of ``count`` samples each category gets: the labels' shares, rounded by the
    largest remainders so they sum to ``count``."""
    share = np.bincount(labels, minlength=num_classes) / len(labels)
    counts = np.floor(share * count).astype(int)
    counts[np.argsort(-(share * count - counts))[:count - counts.sum()]] += 1
    return counts


def eval_samples(runtime: Any, reference: Any, count: int, seed: int, **options: Any) -> np.ndarray:
    """``count`` samples whose category mix follows the reference's labels (when both the pack
    and the data are conditional), so FD/KID compare like with like; a :class:`LabelledImages`
    whose ``labels`` say which category each was asked for."""
    _, _, categories = settings(runtime.meta)
    labels = getattr(reference, "labels", None)
    asked = options.get("category")
    if not categories or labels is None or asked is not None:
        out = runtime.generate(seed, count, **options).view(LabelledImages)
        k = category_index(runtime.meta, asked) if categories and asked is not None else None
        out.labels = None if k is None else np.full(len(out), k, np.int64)
        return out
    parts, start, asked_labels = [], seed, []
    for k, n in enumerate(category_mix(labels, len(categories), count)):
        if n:
            parts.append(runtime.generate(start, int(n), category=categories[k], **options))
            asked_labels.append(np.full(int(n), k, np.int64))
            start += int(n)
    out = np.concatenate(parts).view(LabelledImages)
    out.labels = np.concatenate(asked_labels)
    return out


def eval_report(generated: Any, reference: Any, seed: int) -> dict[str, Any]:
    """What a user sees, each beside what held-out real images read (``floor``): balanced
    accuracy of a linear probe on the asked-for categories (``accuracy``, ``accuracy_ratio`` to
    real's), variety inside categories (mean and worst ratio; 1.0 = as varied as the data),
    density and coverage, and the memorisation share of fresh real data
    (:func:`.metrics.category_measures`). Unconditional samples get variety (one category) and
    density/coverage."""
    from .metrics import category_measures

    r = category_measures(generated, getattr(generated, "labels", None), reference, seed)
    names = r.get("categories") or ["all"]
    out: dict[str, Any] = {k: r[k] for k in HEADLINE if k in r}
    floor = r["floor"]
    out["floor"] = {k: floor[k] for k in (*HEADLINE, "memorisation", "memorisation_flagged") if k in floor}
    out["per_category"] = {
        name: {"accuracy": (r.get("accuracy_per_category") or [None] * len(names))[k],
               "accuracy_real": (floor.get("accuracy_per_category") or [None] * len(names))[k],
               "variety": r["variety_per_category"][k], "variety_real": floor["variety_per_category"][k]}
        for k, name in enumerate(names)}
    out["collapsed_categories"] = [names[k] for k in r["collapsed_categories"]]
    out["variety_worst_category"] = None if r["variety_worst_category"] is None else names[r["variety_worst_category"]]
    out["category_measures"] = {k: r[k] for k in ("fit_images", "held_out_images", "density_coverage_items",
                                                  "chance_accuracy")}
    return out


#: The report's headline numbers, each with its held-out real value under ``floor``.
HEADLINE = ("accuracy", "accuracy_ratio", "variety", "variety_worst", "density", "coverage")


# ---- CLI options -----------------------------------------------------------------------------
GENERATE_OPTIONS: list[click.Option] = [
    click.Option(["--category"], default=None, metavar="NAME",
                 help="Images: the category to generate (a conditional pack; default: chosen by the seed)."),
    click.Option(["--truncation"], type=float, default=None, metavar="PSI",
                 help="Images: truncation ψ in [0, 2]; below 1 trades variety for typicality (default 1)."),
    click.Option(["--interpolate"], type=click.IntRange(min=0), nargs=2, default=None, metavar="SEED_A SEED_B",
                 help="Images: a strip (or a GIF, with -o NAME.gif) morphing seed A into seed B."),
    click.Option(["--steps"], type=click.IntRange(min=2), default=8, show_default=True, metavar="K",
                 help="Images: frames of an --interpolate strip."),
    click.Option(["--grid/--no-grid"], default=False, help="Images: one sheet with all --count images."),
]


def image_size(meta: PackMeta, options: dict[str, Any]) -> tuple[int, int]:
    """``(size, size)``: images have the pack's fixed size."""
    size, _, _ = settings(meta)
    return size, size


def summary(meta: PackMeta) -> list[tuple[str, str]]:
    """Rows for a host's info panel: size, channels, categories."""
    d = meta.decoder
    size, channels = d.get("size", "?"), d.get("channels", 3)
    rows = [("Size", f"{size}x{size}"), ("Channels", {1: "grey", 3: "RGB", 4: "RGBA"}.get(channels, "?"))]
    if d.get("categories"):
        rows.append(("Categories", ", ".join(d["categories"])))
    return rows


#: ``ganforge train image``'s own default for the shared --batch: FastGAN's 8, the default
#: family's recipe (at 30 minutes on twemoji, batch 16 gave KID 0.0010 against 0.00055 at 8 and
#: a worst category's variety 0.68 against 0.80: fewer, larger steps; benchmarks/RESULTS.md)
TRAIN_OPTIONS: list[click.Option] = [
    click.Option(["--batch"], type=click.IntRange(min=1), default=8, show_default=True, help="Images per step."),
]


class ImageCodec(Codec, functions=globals()):
    """The image codec: this module's functions named like :class:`Codec`'s methods, and its
    ``GENERATE_OPTIONS`` and ``TRAIN_OPTIONS`` (``functions=globals()``)."""

    output_kind = "image"
    sized = False


__all__ = ["GENERATE_OPTIONS", "ImageCodec", "TRAIN_OPTIONS", "LabelledImages", "category_index", "category_mix", "decode",
           "eval_report", "eval_samples", "feeds", "image_size",
           "load_reference", "output_bytes", "output_shape", "resolve_dims", "scalars", "settings", "sheet",
           "summary", "validate", "write"]
