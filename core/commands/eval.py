"""``ganforge eval PACK --data PATH``: offline quality metrics of a pack against real data.

Torch-free: samples come from the pack through onnxruntime, the reference from the modality's
codec (``load_reference``), and the numbers from the metrics the modality registered
(``ganforge_register_metrics``; images: ``fd``, ``kid``, ``swd``, ``memorisation``; textures:
``swd``, ``kid`` on 128-px crops). A codec may add to the report with ``eval_report(generated,
reference, seed)`` (textures: the photos' own baselines and pixel standard deviations) and set
its default sample count with ``eval_sample_count`` (see :class:`ganforge.core.codec.Codec`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from ..errors import GanforgeError
from ..limits import DEVICES

#: options only ``eval`` has, and the modalities whose ``eval_samples`` take them; the sample
#: options it shares with ``generate`` (--truncation, --temperature) belong to the codecs that
#: declare them in their ``generate_options``
EVAL_ONLY_OPTIONS: dict[str, tuple[str, ...]] = {"crops_per_texture": ("texture",)}


def _refuse_foreign_options(options: dict[str, Any], modality: str, pack: str | Path) -> None:
    """An option meant for another modality is a mistake, not a no-op: one line naming it."""
    given = [name for name, value in options.items() if value is not None]
    if not given:
        return
    from .generate import codec_options

    owners = {name: set(modalities) for name, modalities in EVAL_ONLY_OPTIONS.items()}
    for name, modalities in codec_options()[1].items():
        owners.setdefault(name, set()).update(modalities)
    for name in given:
        if name in owners and modality not in owners[name]:
            raise GanforgeError(f"--{name.replace('_', '-')} applies to {' and '.join(sorted(owners[name]))} "
                                f"packs; {pack} is a {modality} pack")


def evaluate_pack(pack: str | Path, data: str | Path, samples: int | None = None, seed: int = 0,
                  training: str | Path | None = None, device: str = "auto",
                  threads: int | None = None, **options: Any) -> dict[str, Any]:
    """Generate ``samples`` items from ``pack`` and score them against ``data`` with every metric
    registered for the pack's modality (``None``: the codec's ``eval_sample_count``).
    ``training``: the data the model was trained on, for the memorisation check (default:
    ``data``). Returns ``{metric: value, ..., "details": {...}}`` plus what the codec's
    ``eval_report`` adds."""
    from .. import plugins, runtime
    from ..components import resolve

    if samples is not None and samples < 2:
        raise GanforgeError(f"--samples {samples}: need at least 2")
    rt = runtime.load(pack, device=device, threads=threads)
    modality = rt.meta.modality
    _refuse_foreign_options(options, modality, pack)
    codec = rt.codec
    if samples is None:
        samples = int(codec.eval_sample_count)
    metrics = {m.name: m for m in plugins.get_registry().metrics.values() if m.modality == modality}
    if not metrics or not codec.provides("load_reference"):
        raise GanforgeError(f"{pack}: no offline metrics are registered for {modality!r} packs")
    started = time.perf_counter()
    reference = codec.load_reference(data, rt.meta)
    train_ref = codec.load_reference(training, rt.meta) if training else reference
    generated = codec.eval_samples(rt, reference, samples, seed, **options)
    result: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for name, metric in metrics.items():
        value = resolve(metric.fn)(generated, reference, seed=seed, training=train_ref)
        if isinstance(value, dict):
            details[name] = {k: v for k, v in value.items() if k != "value"}
            value = value["value"]
        result[name] = float(value)
    if "memorisation" in details and "flagged" in details["memorisation"]:
        result["memorisation_flagged"] = bool(details["memorisation"]["flagged"])
    result.update(samples=int(len(generated)), reference=int(len(getattr(reference, "images", reference))),
                  seed=seed, pack=str(pack), data=str(data), seconds=round(time.perf_counter() - started, 2),
                  details=details)
    result.update(codec.eval_report(generated, reference, seed))
    result["seconds"] = round(time.perf_counter() - started, 2)
    try:
        from ..metrics.features import FEATURE_VERSION

        result["features"] = FEATURE_VERSION
    except ImportError:  # pragma: no cover - metrics live in core
        pass
    return result


def sweep_pack(pack: str | Path, data: str | Path, png: Path, samples: int = 1000, seed: int = 0,
               training: str | Path | None = None, device: str = "auto") -> list[dict[str, Any]]:
    """The codec's sweep (text: temperatures 0.6-1.4, BLEU/Self-BLEU per point, a PNG plot)."""
    from .. import runtime

    rt = runtime.load(pack, device=device)
    if not rt.codec.provides("sweep"):
        raise GanforgeError(f"--sweep does not apply to {rt.meta.modality} packs ({pack})")
    reference = rt.codec.load_reference(data, rt.meta)
    train_ref = rt.codec.load_reference(training, rt.meta) if training else None
    return rt.codec.sweep(rt, reference, png, samples=samples, seed=seed, training=train_ref)


@click.command("eval")
@click.argument("pack", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path), metavar="PATH",
              help="Real data to compare with, read like training data (images: a folder or .npz; "
                   "textures: a photo or a folder of photos, each at least 128 px on a side; music: a "
                   "folder of MIDI files or builtin:bach; text: a text file or builtin:names).")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="How many items to generate (default 1000; textures: 128 crops of 128 px).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the first sample.")
@click.option("--training", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="The data the model was trained on, for the memorisation check (default: --data).")
@click.option("--truncation", type=float, default=None, metavar="PSI", help="Images: truncation ψ of the samples.")
@click.option("--temperature", type=float, default=None, metavar="T", help="Text: sampling temperature of the samples.")
@click.option("--crops-per-texture", type=click.IntRange(min=1), default=None, metavar="N",
              help="Textures: how many of the scored crops are cut from each generated texture (default "
                   "16: a few textures, each with its own global latent; 1: every crop from its own "
                   "texture, which scores the pack's family of textures rather than a few of them).")
@click.option("--sweep", type=click.Path(path_type=Path), default=None, metavar="PNG",
              help="Text: also score a temperature sweep and plot BLEU-5 against Self-BLEU-5 (the "
                   "quality-diversity curve) to this PNG.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (keys fd, kid, swd, memorisation, ...; textures: swd, kid, "
                   "baselines, pixel_std, reference_pixel_std).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="CPU threads for onnxruntime, 1-256 (default: the CPUs available).")
def eval_(pack: Path, data: Path, samples: int | None, seed: int, training: Path | None, truncation: float | None,
          temperature: float | None, crops_per_texture: int | None, sweep: Path | None, as_json: bool, device: str,
          threads: int | None) -> None:
    """Score the pack PACK against real data, offline (no weight downloads, no torch).

    Images: Fréchet distance and KID on the features of a fixed-seed random CNN (see
    ganforge.core.metrics.features for why), sliced Wasserstein distance on Laplacian-pyramid
    patches, and a nearest-neighbour memorisation check. Lower is better for all; FD depends on
    --samples (compare runs at the same count), KID does not. Then what a user sees, each
    beside held-out real images' value (the floor; see ganforge.core.metrics.categories):
    accuracy (a linear probe fitted on real images, balanced over the categories asked for)
    and its ratio to real's; variety inside categories (1.0 = as varied as the data; the worst
    category shows a collapse); density and coverage (Naeem et al. 2020).

    Textures: SWD and KID of --samples random 128-px crops of a few generated 256-px (or
    larger) textures against as many random crops of the photos. The same scores are shown for
    the photos' own baselines against the same crops: real (other crops of the photos: the
    floor), shuffle64/32/16 (crops tiled from random 64/32/16-px patches: right texture, lost
    layout), noise (Gaussian with the photos' colour statistics) and flat (their mean colour).
    A pack that learned the texture sits near real; one that collapsed sits near flat, and its
    pixel standard deviation falls below half the photos' (pixel_std vs reference_pixel_std).

    Music: the MuseGAN statistics of the generated piano-rolls beside the real pieces' (empty
    bars, used pitch classes, qualified notes, polyphony, scale consistency, tonal distance) and
    the diversity between samples. Text: BLEU-2..5 against the reference lines, Self-BLEU-2..5
    among the samples (lower: more diverse) and novelty (lines not in --training); --sweep
    adds the quality-diversity curve over temperatures. `ganforge plugins` lists every
    registered metric.

    \b
    Examples:
      ganforge eval emoji.onnx --data emoji/ --samples 2000 --json
      ganforge eval bricks.onnx --data photos/
      ganforge eval chorales.onnx --data builtin:bach --json
      ganforge eval names.onnx --data names.txt --sweep names_sweep.png
    """
    given = {"truncation": truncation, "temperature": temperature, "crops_per_texture": crops_per_texture}
    options = {name: value for name, value in given.items() if value is not None}
    result = evaluate_pack(pack, data, samples, seed, training, device, threads, **options)
    if sweep is not None:
        result["sweep"] = sweep_pack(pack, data, sweep, samples, seed, training, device)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    names = [k for k in ("fd", "kid", "swd", "memorisation") if k in result]
    names += [k for k, v in result.items() if isinstance(v, float) and k not in names and k not in _SHOWN_APART]
    floor = result.get("floor") or {}  # images: what held-out real data reads, beside each number
    for name in names:
        beside = f"   (held-out real: {floor[name]:.4g})" if isinstance(floor.get(name), float) else ""
        click.echo(f"{name:14s} {result[name]:.6g}{beside}")
    if result.get("collapsed_categories"):
        click.echo(f"{'':14s} COLLAPSED categories (variety under half the data's): "
                   f"{', '.join(result['collapsed_categories'])}")
    if "baselines" in result:
        _echo_baselines(result)
    if "memorisation_flagged" in result:
        m = result["details"]["memorisation"]
        click.echo(f"{'':14s} {'FLAGGED: samples copy training images' if result['memorisation_flagged'] else 'not flagged'}"
                   f" (expected share {m['expected']:.2f}, distance ratio {m['distance_ratio']:.2f}"
                   + (f"; fresh real data reads {floor['memorisation']:.3f}" if "memorisation" in floor else "") + ")")
    click.echo(f"{result['samples']} samples vs {result['reference']} reference items, {result['seconds']} s")


#: Report numbers printed by :func:`_echo_baselines` rather than in the list of metrics.
_SHOWN_APART = ("seconds", "pixel_std", "reference_pixel_std", "pixel_std_ratio")


def _echo_baselines(result: dict[str, Any]) -> None:
    """The pack among the photos' baselines, best (real) first, by SWD."""
    pack_levels = result.get("details", {}).get("swd", {})
    levels = sorted((k for k in pack_levels if k.startswith("swd_")), key=lambda k: -int(k[4:]))  # finest first
    rows = list(result["baselines"].items())
    rows.append(("> this pack", {"swd": result["swd"], "kid": result["kid"], **pack_levels}))
    rows.sort(key=lambda r: r[1]["swd"])
    crop = result.get("crop", 128)
    click.echo(f"\nthe photos' baselines on the same {crop}-px reference crops (lower is better; "
               "real is the floor):")
    head = "".join(f"{k[4:] + ' px':>9s}" for k in levels)
    click.echo(f"  {'':14s} {'swd':>10s} {'kid':>10s}   {head}")
    for name, v in rows:
        by_level = "".join(f"{v[k]:9.3f}" if k in v else f"{'–':>9s}" for k in levels)
        click.echo(f"  {name:14s} {v['swd']:10.4f} {v['kid']:10.4f}   {by_level}")
    if levels:
        click.echo(f"  (the last columns: swd at each Laplacian level of the crops, from {levels[0][4:]} px, the "
                   f"finest, to {levels[-1][4:]} px, the coarsest; a high coarse value means the large-scale "
                   "layout or the proportions of colours differ)")
    if "pixel_std" in result:
        ratio = result.get("pixel_std_ratio", float("nan"))
        verdict = "ok" if ratio >= 0.5 else "below half: collapsing"
        click.echo(f"pixel std      {result['pixel_std']:.4f} vs the photos' {result['reference_pixel_std']:.4f} "
                   f"({ratio:.2f}x; {verdict})")
