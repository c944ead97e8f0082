"""Entry points: ``train(cfg)`` runs (or resumes) a run directory; ``load_for_export(run_dir)``
hands the exporter the EMA generator and the facts a pack records.

A run directory holds::

    config.json                       the TrainConfig (re-creates the run)
    log.jsonl                         one JSON object per log step (+ "event" lines)
    samples/step_000500.png           EMA samples, fixed seed
    checkpoints/step_000001000.safetensors   last K, atomic
    checkpoints/best.safetensors      best by the family's metric
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import core
from ..atomic import probe_writable, write_text_atomic
from ..components import resolve
from ..errors import GanforgeError, RunError
from . import checkpoint as ckpt
from . import distributed
from .config import RUNTIME_FIELDS, UNBOUNDED_STEPS, TrainConfig, resume_config
from .family import ENGINE_OPTIONS, Family
from .loop import fit
from .trainer import RNG_STREAMS, Trainer, stream_seed

FamilyFactory = Callable[[dict[str, Any], dict[str, Any]], Family]
#: ``(data, crop, options) -> dataset``; it may carry ``added_later``: {option: what a run saved
#: before the option existed had}, recognised by the option's key missing from its ``data_info``
DatasetFactory = Callable[[str, int, dict[str, Any]], Any]


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool
    #: stopped because the ``minutes`` budget ran out (a checkpoint was saved; resume to continue)
    out_of_time: bool = False
    #: wall-clock minutes this invocation trained
    minutes: float = 0.0


@dataclass
class ExportBundle:
    family: Family
    generator: nn.Module  # EMA weights, eval mode, float32, CPU
    config: TrainConfig
    facts: dict[str, Any]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def default_family_factory(modality: str, family: str) -> FamilyFactory:
    """The family class a plugin registered as ``modality/family`` (built-ins included)."""
    from .. import plugins

    try:
        return resolve(plugins.family(modality, family).factory)
    except RunError:
        raise
    except GanforgeError as e:  # callers catch RunError: a run that cannot be rebuilt
        raise RunError(str(e)) from None


def default_dataset_factory(modality: str) -> DatasetFactory:
    """The dataset builder of the registered modality ``modality``."""
    from .. import plugins

    registered = plugins.get_registry().modalities.get(modality)
    if registered is None or not registered.data:
        raise RunError(f"no dataset reader for modality {modality!r} (is its plugin installed?)")
    return resolve(registered.data)


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True,
          family_factory: FamilyFactory | None = None,
          dataset_factory: DatasetFactory | None = None,
          given: Iterable[str] | None = None, label: Callable[[str], str] | None = None) -> TrainResult:
    """Train a fresh run in ``cfg.out`` or, with ``resume``, continue it up to ``cfg.steps``.

    ``given``: the config fields the user set (the CLI: the flags typed; default: the engine
    options that differ from TrainConfig's defaults). A fresh run refuses one its family does
    not use, and unknown model options (:meth:`Family.check_config`); ``label`` names a field
    as the user wrote it (``--lr``)."""
    cfg.validate()
    run_dir = Path(cfg.out)
    device = distributed.select_device(cfg.device, distributed.Dist())
    dist = distributed.init(device)
    say = _stderr if dist.is_main else (lambda msg: None)
    try:
        loaded = None
        if resume:
            if not run_dir.is_dir():
                raise RunError(f"{run_dir}: cannot resume, no such run directory")
            loaded = ckpt.load_latest(run_dir, warn=say)
            path, tensors, meta = loaded
            # the CLI's rule: runtime fields from cfg, any other change refused (never ignored)
            cfg = resume_config(TrainConfig.from_dict(meta["config"]), cfg.to_dict(), run_dir)
            target = (f"for {cfg.minutes:g} more minutes" if cfg.minutes is not None else "") + (
                "" if cfg.steps >= UNBOUNDED_STEPS else
                f"{' or ' if cfg.minutes is not None else ''}to step {cfg.steps}")
            say(f"resuming {run_dir} from {path.name} (step {meta['step']}) {target}: the run's "
                f"saved config, with this command's {', '.join(RUNTIME_FIELDS)}")
        elif ckpt.has_checkpoints(run_dir):
            raise RunError(f"{run_dir}: this run directory already has checkpoints; pass --resume to "
                           "continue it, or choose another --out")

        factory = family_factory or default_family_factory(cfg.modality, cfg.family)
        check = getattr(factory, "check_config", None)
        if loaded is None and check is not None:  # a resumed run's options were checked when it began
            if given is None:
                plain = TrainConfig()
                given = [name for name in ENGINE_OPTIONS if getattr(cfg, name) != getattr(plain, name)]
            check(cfg, set(given), label)

        if dist.is_main and loaded is None:  # before any work, and leaving no empty run folder behind
            try:
                probe_writable(run_dir, what=str(run_dir))
            except GanforgeError as e:
                raise RunError(f"cannot create the run directory: {e}") from None
        build = dataset_factory or default_dataset_factory(cfg.modality)
        data_options = dict(cfg.data_options)
        if loaded is not None:  # a data option newer than the run: what the run was trained with
            for key, old in getattr(build, "added_later", {}).items():
                if key not in meta["data_info"] and key not in data_options:
                    data_options[key] = old
        dataset = build(cfg.data, cfg.crop, data_options)
        info = dataset.data_info
        if loaded is not None and meta["data_info"].get("channels") != info.get("channels"):
            raise RunError(f"{cfg.data}: has {info.get('channels')} channel(s) but the run in {run_dir} "
                           f"was trained on {meta['data_info'].get('channels')}")
        try:
            family = factory(cfg.model, info)
        except ValueError as e:  # a family refuses options it cannot build with (crop, sizes...)
            raise RunError(f"cannot build the {cfg.modality} model: {e}") from None
        trainer = Trainer(family, dataset, cfg, device, dist)
        best = None
        if loaded is not None:
            trainer.load_state(tensors, meta, path)
            _restore_rngs(trainer, tensors, cfg.seed, say)
            best = meta.get("best")

        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(run_dir / "config.json")
            if loaded is None:
                write_text_atomic(run_dir / "log.jsonl", "")  # a fresh run starts a fresh log
            else:
                _trim_log(run_dir / "log.jsonl", trainer.step_count)
            if info.get("skipped"):
                say(f"note: {len(info['skipped'])} unreadable file(s) skipped (listed in checkpoints and log.jsonl)")
        distributed.barrier(dist)
        static_meta = {
            "config": cfg.to_dict(), "data_info": info,
            "family_ref": f"{type(family).__module__}:{type(family).__qualname__}",
            "family_options": family.options, "loss": trainer.loss_kind,
            "ganforge_version": core.__version__, "torch_version": torch.__version__, "device": str(device),
        }
        if dist.is_main:
            with open(run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps({"event": "resume" if loaded else "start", "step": trainer.step_count,
                                    "device": str(device), "world_size": dist.world_size,
                                    "data": info, "config": cfg.to_dict()}) + "\n")
        if trainer.step_count >= cfg.steps:
            say(f"{run_dir}: already at step {trainer.step_count} (asked for {cfg.steps}); nothing to do")
            return TrainResult(run_dir, trainer.step_count, False)
        started = time.monotonic()
        step, interrupted, out_of_time = fit(trainer, cfg, run_dir, static_meta, best, progress, say)
        return TrainResult(run_dir, step, interrupted, out_of_time, (time.monotonic() - started) / 60)
    finally:
        distributed.shutdown(dist)


def _trim_log(path: Path, step: int) -> None:
    """Drop what the log says happened after the checkpoint we resume from (those steps will be
    redone) and any line a kill cut short, so the log tells one consistent story."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(line + "\n")
    write_text_atomic(path, "".join(kept))


def _restore_rngs(trainer: Trainer, tensors: dict[str, torch.Tensor], seed: int, say: Callable) -> None:
    rank = trainer.dist.rank
    keys = {name: f"rng.{name}.rank{rank}" for name in RNG_STREAMS}
    if all(k in tensors for k in keys.values()):
        trainer.set_rng_state({name: tensors[k] for name, k in keys.items()})
        return
    # More ranks than the run was saved with: the new ranks get fresh streams for this step.
    say(f"warning: no saved random state for rank {rank}; seeding it afresh (resume is not bit-exact)")
    for name, g in trainer.gens.items():
        g.manual_seed(stream_seed(seed + trainer.step_count, rank, name))


# ---- export side -----------------------------------------------------------------------------------
def _family_from_meta(meta: dict[str, Any], source: Path) -> FamilyFactory:
    # Looked up by the run's registered modality/family names, never imported from a module path
    # written in the file: a checkpoint is data, and a stranger's file must not choose what runs.
    config = meta.get("config", {})
    try:
        return default_family_factory(config.get("modality", ""), config.get("family", ""))
    except RunError as e:
        raise RunError(f"{source}: {e}") from None


def load_for_export(run_dir: str | Path, *, checkpoint: str = "last",
                    family_factory: FamilyFactory | None = None) -> ExportBundle:
    """The EMA generator of the newest (``checkpoint="last"``), the best (``"best"``) or a kept
    step's checkpoint (its number: ``"4000"``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    if str(checkpoint).isascii() and str(checkpoint).isdigit():
        kept = {ckpt.step_of(p): p for p in ckpt.list_checkpoints(run_dir)}
        path = kept.get(int(checkpoint))
        if path is None:
            have = ", ".join(str(s) for s in sorted(kept)) or "none"
            raise RunError(f"{run_dir}: no checkpoint of step {int(checkpoint)} (kept: {have}; "
                           "--keep-last decides how many are kept)")
        tensors, meta = ckpt.load(path)
    elif checkpoint == "best":
        path = ckpt.checkpoint_dir(run_dir) / ckpt.BEST
        if not path.is_file():
            raise RunError(f"{run_dir}: no best checkpoint (it is written when samples are evaluated)")
        tensors, meta = ckpt.load(path)
    elif checkpoint == "last":
        path, tensors, meta = ckpt.load_latest(run_dir, warn=_stderr)
    else:
        raise RunError(f"unknown checkpoint choice {checkpoint!r} (use last, best or a step number)")
    try:
        config = TrainConfig.from_dict(meta["config"])
        factory = family_factory or _family_from_meta(meta, path)
        family = factory(meta["family_options"], meta["data_info"])
    except (KeyError, TypeError) as e:
        raise RunError(f"{path}: checkpoint metadata is incomplete ({e})") from None
    G = family.build_generator()
    ckpt.load_module("G_ema", G, tensors, path)
    G = G.float().to("cpu", memory_format=torch.contiguous_format).eval().requires_grad_(False)
    info = meta["data_info"]
    facts = {
        "data": info.get("name"), "data_files": len(info.get("files", [])), "steps": meta["step"],
        "images_seen": meta.get("images_seen"), "seed": config.seed, "loss": meta.get("loss"),
        "best": meta.get("best"), "metrics": meta.get("metrics") or {},
        "ganforge_version": meta.get("ganforge_version"), "torch_version": meta.get("torch_version"),
        "date": meta.get("saved_at"), "device": meta.get("device"), "world_size": meta.get("world_size", 1),
        "checkpoint": path.name,
    }
    return ExportBundle(family, G, config, facts)
